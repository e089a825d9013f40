//! Extractors: the request body, the query string and the caller, each refusing bad
//! input with the spec's envelope instead of axum's plain-text rejections.

use std::collections::HashMap;
use std::future::Future;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::Value;

use super::error::ApiError;
use super::AppState;
use crate::domain::auth::{authenticate, Credentials, Principal};
use crate::domain::error::DomainError;
use crate::domain::pagination::PageRequest;
use crate::domain::validate::{refuse_nul, refuse_nul_in_json};

/// A JSON request body, parsed to a `serde_json::Value`; the domain types it.
/// An empty body reads as `{}` (some operations take an optional body).
pub struct JsonBody(pub Value);

/// Whether a JSON text may hold a NUL in a string or name: only as the escape `\u0000`
/// (a raw control character is not JSON), so a body without one needs no walk of its
/// parsed tree. A `\\u0000` (an escaped backslash) is a false alarm: the walk then
/// finds nothing.
fn may_escape_nul(body: &[u8]) -> bool {
    body.iter().enumerate().any(|(i, &b)| b == b'\\' && body[i..].starts_with(br"\u0000"))
}

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
            Some(ct) => {
                return Err(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    format!("Content-Type {ct} is not accepted here: send the body as JSON with content-type: application/json"),
                ))
            }
            None => {
                return Err(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    "The request has a body but no Content-Type: send it as JSON with content-type: application/json",
                ))
            }
        }
        let value: Value = serde_json::from_slice(&bytes).map_err(|e| ApiError::bad_request(format!("Invalid JSON in request body: {e}")))?;
        if !value.is_object() {
            return Err(ApiError::bad_request("The request body must be a JSON object"));
        }
        if may_escape_nul(&bytes) {
            refuse_nul_in_json(&value)?;
        }
        Ok(JsonBody(value))
    }
}

/// The query string as a map of its (decoded) parameters. Object-valued parameters (the
/// spec's `style: deepObject`: `filter`, `page`) arrive in either encoding the official
/// clients use and are read as one: `filter[userId]=…` (JavaScript client) or
/// `filter={"userId":"…"}` (Python client, JSON) both become the key `filter[userId]`.
pub struct QueryMap(pub HashMap<String, String>);

/// The spec's object-valued query parameters.
const OBJECT_PARAMS: &[&str] = &["filter", "page"];

impl<S: Send + Sync> FromRequestParts<S> for QueryMap {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        QueryMap::parse(parts.uri.query().unwrap_or("")).map(QueryMap)
    }
}

impl QueryMap {
    /// Decodes a query string, flattening JSON-encoded object parameters into `name[key]`.
    pub fn parse(query: &str) -> Result<HashMap<String, String>, ApiError> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).map_err(|_| ApiError::bad_request("Invalid query parameters"))?;
        let mut map = HashMap::new();
        for (key, value) in pairs {
            refuse_nul("A query parameter name", &key)?;
            refuse_nul(&format!("Query parameter {key}"), &value)?;
            if !OBJECT_PARAMS.contains(&key.as_str()) {
                map.insert(key, value);
                continue;
            }
            let not_object = || {
                ApiError::bad_request(format!(
                    "Query parameter {key} must be an object: {key}[name]=value, or JSON such as {key}={{\"name\":\"value\"}}"
                ))
            };
            let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(&value) else { return Err(not_object()) };
            for (name, v) in fields {
                let v = match v {
                    Value::String(s) => s,
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    Value::Null => continue,
                    _ => return Err(ApiError::bad_request(format!("Query parameter {key}[{name}] must be a string, a number or a boolean"))),
                };
                map.insert(format!("{key}[{name}]"), v);
            }
        }
        Ok(map)
    }

    pub fn get(&self, k: &str) -> Option<&str> {
        self.0.get(k).map(String::as_str)
    }

    pub fn page(&self) -> Result<PageRequest, ApiError> {
        Ok(PageRequest::parse(self.get("page[after]"), self.get("page[before]"), self.get("page[size]"))?)
    }
}

const PAGE: [&str; 3] = ["page[after]", "page[before]", "page[size]"];

/// The query parameters each business-API operation takes (the spec's, by route as this
/// server spells it, plus the operators' routes). Anything else is refused with a 400 that
/// names it, so a typo (`filter[userID]`) is not silently ignored.
fn accepted_query(method: &Method, route: &str) -> Vec<&'static str> {
    let get = *method == Method::GET;
    match route {
        "/v2/apps" if get => [&PAGE[..], &["filter[serviceAccountId]"]].concat(),
        "/v2/apps/{app_id}/conversations" if get => [&PAGE[..], &["filter[userId]", "filter[userExternalId]"]].concat(),
        "/v2/apps/{app_id}/conversations/{conversation_id}/participants" | "/v2/apps/{app_id}/conversations/{conversation_id}/messages" if get => PAGE.to_vec(),
        "/v2/apps/{app_id}/integrations" if get => [&PAGE[..], &["filter[types]"]].concat(),
        "/v2/apps/{app_id}/users" if get => vec!["filter[identities.email]", "brandId"],
        // Brands are a Zendesk notion Sunbeam does not have; accepted, and ignored.
        "/v2/apps/{app_id}/users/{user}/clients" if get => [&PAGE[..], &["brandId"]].concat(),
        "/v2/apps/{app_id}/users/{user}"
        | "/v2/apps/{app_id}/users/{user}/personalinformation"
        | "/v2/apps/{app_id}/users/{user}/clients"
        | "/v2/apps/{app_id}/users/{user}/clients/{client_id}"
        | "/v2/apps/{app_id}/users/{user}/devices"
        | "/v2/apps/{app_id}/users/{user}/devices/{device_id}" => vec!["brandId"],
        "/v2/apps/{app_id}/attachments" if *method == Method::POST => vec!["access", "for", "conversationId"],
        "/admin/webhooks" if get => vec!["appId"],
        "/admin/webhooks/{webhook_id}/attempts" if get => vec!["limit"],
        _ => vec![],
    }
}

/// The refusal of query parameters the matched business-API route (its template `route`)
/// does not take, if it has any. Other routes (the SDK API, the widget, attachments, faye)
/// are not checked.
pub fn unknown_query_refusal(route: &str, req: &Request) -> Option<Response> {
    if !(route.starts_with("/v2/") || route.starts_with("/admin/")) {
        return None;
    }
    let params = match QueryMap::parse(req.uri().query().unwrap_or("")) {
        Ok(p) => p,
        Err(e) => return Some(e.into_response()),
    };
    let accepted = accepted_query(req.method(), route);
    let mut unknown: Vec<&String> = params.keys().filter(|k| !accepted.contains(&k.as_str())).collect();
    if unknown.is_empty() {
        return None;
    }
    unknown.sort();
    let operation = format!("{} {}", req.method(), req.uri().path());
    let takes = if accepted.is_empty() { "takes no query parameters".to_string() } else { format!("takes {}", accepted.join(", ")) };
    Some(
        ApiError::many(
            StatusCode::BAD_REQUEST,
            unknown.into_iter().map(|k| ("bad_request".to_string(), format!("Unsupported query parameter {k}: {operation} {takes}"))).collect(),
        )
        .into_response(),
    )
}

/// Refuses a request whose path or query string decodes to text holding NUL (`%00`),
/// whatever the route, before any handler or store sees it (see
/// [`crate::domain::validate::NUL_TEXT`]); passes the others to `next`. The SDK API
/// answers in its own error shape.
pub async fn refuse_nul_in_uri<Fut: Future<Output = Response>>(req: Request, next: impl FnOnce(Request) -> Fut) -> Response {
    let path = req.uri().path();
    let checked = (|| -> Result<(), ApiError> {
        let decoded = percent_decode(path);
        refuse_nul("The request path", &decoded)?;
        QueryMap::parse(req.uri().query().unwrap_or("")).map(drop)
    })();
    match checked {
        Ok(()) => next(req).await,
        // Only a NUL is refused here; other query problems are each route's to name.
        Err(e) if !e.errors.iter().any(|(_, t)| t.contains(crate::domain::validate::NUL_TEXT)) => next(req).await,
        Err(e) if path.starts_with("/sdk/") => super::sdk::SdkError::from(e).into_response(),
        Err(e) => e.into_response(),
    }
}

/// `%XX` decoding of a path, lossy for bytes that are not UTF-8 (routing refuses those).
fn percent_decode(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.contains('%') {
        return std::borrow::Cow::Borrowed(s);
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    let digit = |at: usize| bytes.get(at).and_then(|b| (*b as char).to_digit(16));
    while i < bytes.len() {
        if bytes[i] == b'%' {
            if let (Some(high), Some(low)) = (digit(i + 1), digit(i + 2)) {
                out.push((high * 16 + low) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    std::borrow::Cow::Owned(String::from_utf8_lossy(&out).into_owned())
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
        let principal = authenticate(&credentials, &grant)?;
        state.guard.rates.check_key(&principal.key_id, super::limits::app_of_path(parts.uri.path()))?;
        Ok(Caller(principal))
    }
}

#[cfg(test)]
mod tests {
    use super::{may_escape_nul, percent_decode};

    #[test]
    fn percent_decode_reads_escapes_and_leaves_the_rest() {
        assert!(matches!(percent_decode("/v2/apps/a"), std::borrow::Cow::Borrowed("/v2/apps/a")));
        assert_eq!(percent_decode("/a%00b/%41%2f"), "/a\0b/A/");
        assert_eq!(percent_decode("/100%/%4/%zz%"), "/100%/%4/%zz%");
        assert_eq!(percent_decode("/%C3%A9%FF"), "/é\u{FFFD}");
    }

    #[test]
    fn only_a_body_with_the_nul_escape_is_walked() {
        assert!(may_escape_nul(br#"{"text":"a\u0000b"}"#));
        assert!(may_escape_nul(br#"{"a\u0000":1}"#));
        assert!(may_escape_nul(br#"{"text":"\\u0000"}"#), "a false alarm is allowed; the walk finds nothing");
        assert!(!may_escape_nul(br#"{"text":"a\u0001 \n \\ u0000"}"#));
        assert!(!may_escape_nul(b"{}"));
        assert!(!may_escape_nul(br"\u000"), "cut short at the end");
    }
}
