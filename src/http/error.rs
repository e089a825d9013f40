//! The one mapping from errors to the spec's envelope: `{"errors":[{"code","title"}]}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::domain::error::{DomainError, Resource};
use crate::store::StoreError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub errors: Vec<(String, String)>,
    /// Seconds for a `Retry-After` header (429 and 503 answers).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &str, title: impl Into<String>) -> Self {
        Self::many(status, vec![(code.to_string(), title.into())])
    }
    /// Several `(code, title)` errors under one status.
    pub fn many(status: StatusCode, errors: Vec<(String, String)>) -> Self {
        ApiError { status, errors, retry_after: None }
    }
    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }
    pub fn bad_request(title: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", title)
    }
    pub fn unauthorized(title: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", title)
    }
    pub fn not_found(title: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", title)
    }
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::Invalid(titles) => {
                ApiError::many(StatusCode::BAD_REQUEST, titles.into_iter().map(|t| ("bad_request".to_string(), t)).collect())
            }
            DomainError::Rule(t) => ApiError::bad_request(t),
            DomainError::Coded(code, t) => ApiError::new(StatusCode::BAD_REQUEST, code, t),
            DomainError::NotFound(resource, title) => {
                let code = match resource {
                    Resource::App => "app_not_found",
                    Resource::User => "user_not_found",
                    Resource::Conversation => "conversation_not_found",
                    Resource::Integration => "integration_not_found",
                    Resource::Client => "client_not_found",
                    Resource::Switchboard => "switchboard_not_found",
                    Resource::SwitchboardIntegration => "switchboard_integration_not_found",
                    Resource::Device => "device_not_found",
                    Resource::Key | Resource::Participant | Resource::Message | Resource::Webhook | Resource::Generic => "not_found",
                };
                ApiError::new(StatusCode::NOT_FOUND, code, title)
            }
            DomainError::Conflict(t) => ApiError::new(StatusCode::CONFLICT, "conflict", t),
            DomainError::Forbidden(t) => ApiError::new(StatusCode::FORBIDDEN, "forbidden", t),
            DomainError::Unauthorized(t) => ApiError::unauthorized(t),
            DomainError::Locked(t) => ApiError::new(StatusCode::LOCKED, "locked", t),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        // Internals are logged, never shown: what failed inside is the operator's to read.
        let internal = |kind: &str, e: &StoreError| {
            tracing::error!(error = %e, kind, "store failure");
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", "Something went wrong on our end")
        };
        // Shed load and a database that is away are the client's to retry, not failures.
        let unavailable = |title: &str, e: &StoreError| {
            tracing::warn!(error = %e, "store unavailable: answering 503");
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "service_unavailable", title).retry_after(1)
        };
        match e {
            StoreError::Domain(d) => d.into(),
            StoreError::Closed => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "service_unavailable", "The server is shutting down").retry_after(1),
            StoreError::Busy(_) => unavailable("The server is busy: retry shortly", &e),
            StoreError::Database(_) if e.is_unavailable() => unavailable("The database is unavailable: retry shortly", &e),
            StoreError::Database(_) | StoreError::Sqlite(_) => internal("database", &e),
            StoreError::Commit(_) => internal("commit", &e),
            StoreError::Corrupt(_) => internal("corrupt data", &e),
            // Only at start-up, before any request; mapped all the same.
            StoreError::Config(_) => internal("configuration", &e),
            StoreError::Startup(_) => internal("start-up", &e),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let errors: Vec<_> = self.errors.iter().map(|(code, title)| json!({"code": code, "title": title})).collect();
        let mut res = (self.status, axum::Json(json!({ "errors": errors }))).into_response();
        if let Some(seconds) = self.retry_after {
            res.headers_mut().insert(axum::http::header::RETRY_AFTER, seconds.into());
        }
        res
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// Puts the error responses that axum itself produces (a path segment that is not valid
/// UTF-8, a rejected extractor) into the spec's envelope, so that no route answers an
/// error as plain text. JSON errors (ours, and the SDK's own shape) and the HTML pages
/// of the OAuth consent flow pass through.
pub async fn envelope_plain_errors(res: Response) -> Response {
    let status = res.status();
    let is_json = res
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.contains("json") || ct.contains("javascript") || ct.starts_with("text/html"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return res;
    }
    let text = axum::body::to_bytes(res.into_body(), 4096).await.map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
    let code = match status {
        StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY => "bad_request",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        s if s.is_server_error() => "internal_error",
        _ => "bad_request",
    };
    // 422 is axum's answer to a body it could not type; the spec only knows 400.
    let status = if status == StatusCode::UNPROCESSABLE_ENTITY { StatusCode::BAD_REQUEST } else { status };
    let title = if text.trim().is_empty() { status.canonical_reason().unwrap_or("Error").to_string() } else { text.trim().to_string() };
    ApiError::new(status, code, title).into_response()
}
