//! Extractors: the request body, the query string and the caller, each refusing bad
//! input with the spec's envelope instead of axum's plain-text rejections.

use std::collections::HashMap;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use bytes::Bytes;
use serde_json::Value;

use super::error::ApiError;
use super::AppState;
use crate::domain::auth::{authenticate, Credentials, Principal};
use crate::domain::error::DomainError;
use crate::domain::pagination::PageRequest;

/// A JSON request body, parsed to a `serde_json::Value`; the domain types it.
/// An empty body reads as `{}` (some operations take an optional body).
pub struct JsonBody(pub Value);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_ascii_lowercase);
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "The request body is larger than 100kb")
            } else {
                ApiError::bad_request("The request body could not be read")
            }
        })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(JsonBody(Value::Object(Default::default())));
        }
        match content_type {
            Some(ct) if ct.starts_with("application/json") || ct.contains("+json") => {}
            _ => {
                return Err(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    "Requests must send content-type: application/json",
                ))
            }
        }
        let value: Value = serde_json::from_slice(&bytes).map_err(|e| ApiError::bad_request(format!("Invalid JSON in request body: {e}")))?;
        if !value.is_object() {
            return Err(ApiError::bad_request("The request body must be a JSON object"));
        }
        Ok(JsonBody(value))
    }
}

/// The query string as a map of its (decoded) parameters.
pub struct QueryMap(pub HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for QueryMap {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let q = parts.uri.query().unwrap_or("");
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(q).map_err(|_| ApiError::bad_request("Invalid query parameters"))?;
        Ok(QueryMap(pairs.into_iter().collect()))
    }
}

impl QueryMap {
    pub fn get(&self, k: &str) -> Option<&str> {
        self.0.get(k).map(String::as_str)
    }

    pub fn page(&self) -> Result<PageRequest, ApiError> {
        Ok(PageRequest::parse(self.get("page[after]"), self.get("page[before]"), self.get("page[size]"))?)
    }
}

/// The authenticated business-API caller.
pub struct Caller(pub Principal);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or_else(|| ApiError::unauthorized("Authorization is required"))?
            .to_str()
            .map_err(|_| ApiError::unauthorized("Invalid authorization header"))?;
        let credentials = Credentials::parse(header)?;
        let grant = state
            .store
            .find_key_grant(credentials.key_id())
            .await?
            .ok_or_else(|| DomainError::Unauthorized("Invalid credentials".into()))?;
        Ok(Caller(authenticate(&credentials, &grant)?))
    }
}
