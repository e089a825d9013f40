//! Attachments: UploadAttachment (`POST /v2/apps/{appId}/attachments`), the SDK's file
//! upload (`POST /sdk/v2/apps/{appId}/conversations/{conversationId}/files`, which posts an
//! `image` or `file` message as the appUser), and serving the files
//! (`GET /attachments/{id}/{name}`, public: the spec only knows `access=public`).

use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Map, Value};

use super::apps::authorize;
use super::error::{ApiError, ApiResult};
use super::extract::{Caller, JsonBody, QueryMap};
use super::paging::base_url;
use super::sdk::{post_user_message, preflight, sdk_cors, Sdk, SdkError};
use super::AppState;
use crate::attachments::{AttachmentError, Stored, MAX_ATTACHMENT_BYTES};
use crate::domain::auth::ACCOUNT_APP_INTEGRATION;

/// Room for the multipart framing and the small JSON parts around a 50 MB file.
const MAX_MULTIPART_BODY: usize = MAX_ATTACHMENT_BYTES + 1024 * 1024;
/// The JSON parts (`author`, `message`) of the SDK upload.
const MAX_JSON_PART: usize = 100 * 1024;

pub fn router() -> Router<AppState> {
    let cors = sdk_cors();
    let sdk = Router::new()
        .route("/sdk/v2/apps/{app_id}/conversations/{conversation_id}/files", post(sdk_upload).options(preflight))
        .layer(cors);
    Router::new()
        .route("/v2/apps/{app_id}/attachments", post(upload))
        .route("/v2/apps/{app_id}/attachments/remove", post(remove))
        .merge(sdk)
        .layer(DefaultBodyLimit::max(MAX_MULTIPART_BODY))
        .route("/attachments/{id}/{name}", get(serve))
}

// ---- multipart ----

struct Part {
    name: String,
    file_name: Option<String>,
    content_type: Option<String>,
    bytes: Vec<u8>,
}

fn too_large(what: &str) -> ApiError {
    ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", format!("{what} is larger than the limit"))
}

/// Reads every part: `source` up to 50 MB, any other part up to 100 KB.
async fn read_parts(mp: Result<Multipart, MultipartRejection>) -> ApiResult<Vec<Part>> {
    let mut mp = mp.map_err(|e| match e {
        MultipartRejection::InvalidBoundary(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "An upload must be sent with content-type: multipart/form-data (and its boundary)",
        ),
        e => ApiError::bad_request(format!("Expected a multipart/form-data body: {}", e.body_text())),
    })?;
    let mut parts = Vec::new();
    loop {
        let field = match mp.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => return Err(too_large("The request body")),
            Err(e) => return Err(ApiError::bad_request(format!("Invalid multipart body: {}", e.body_text()))),
        };
        let name = field.name().unwrap_or("").to_string();
        let file_name = field.file_name().map(str::to_string);
        let content_type = field.content_type().map(str::to_string);
        let limit = if name == "source" { MAX_ATTACHMENT_BYTES } else { MAX_JSON_PART };
        let mut field = field;
        let mut bytes = Vec::new();
        loop {
            match field.chunk().await {
                Ok(Some(chunk)) => {
                    if bytes.len() + chunk.len() > limit {
                        return Err(too_large(&format!("The part {name}")));
                    }
                    bytes.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => return Err(too_large("The request body")),
                Err(e) => return Err(ApiError::bad_request(format!("Invalid multipart body: {}", e.body_text()))),
            }
        }
        parts.push(Part { name, file_name, content_type, bytes });
    }
    Ok(parts)
}

fn take(parts: &mut Vec<Part>, name: &str) -> Option<Part> {
    let i = parts.iter().position(|p| p.name == name)?;
    Some(parts.swap_remove(i))
}

async fn store_source(s: &AppState, app_id: &str, source: Part) -> ApiResult<Stored> {
    s.attachments.save(app_id, source.file_name.as_deref(), source.content_type.as_deref(), &source.bytes).await.map_err(|e| match e {
        AttachmentError::TooLarge => too_large("The file"),
        AttachmentError::Io(e) => {
            tracing::error!(error = %e, "attachment write failed");
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", "The file could not be stored")
        }
    })
}

fn media_url(s: &AppState, headers: &HeaderMap, stored: &Stored) -> String {
    format!("{}{}", base_url(s, headers), stored.url_path())
}

// ---- business API ----

async fn upload(
    State(s): State<AppState>,
    Caller(caller): Caller,
    Path(app_id): Path<String>,
    q: QueryMap,
    headers: HeaderMap,
    mp: Result<Multipart, MultipartRejection>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    authorize(&s, &caller, &app_id, ACCOUNT_APP_INTEGRATION).await?;
    match q.get("access") {
        Some("public") => {}
        Some(_) => return Err(ApiError::bad_request("access must be public")),
        None => return Err(ApiError::bad_request("access is required")),
    }
    if let Some(f) = q.get("for") {
        if f != "message" {
            return Err(ApiError::bad_request("for must be message"));
        }
    }
    let mut parts = read_parts(mp).await?;
    let source = take(&mut parts, "source").ok_or_else(|| ApiError::bad_request("source is required"))?;
    let stored = store_source(&s, &app_id, source).await?;
    let url = media_url(&s, &headers, &stored);
    Ok((StatusCode::CREATED, Json(json!({ "attachment": { "mediaUrl": url, "mediaType": stored.media_type } }))))
}

/// DeleteAttachment: by the `mediaUrl` UploadAttachment answered.
async fn remove(State(s): State<AppState>, Caller(caller): Caller, Path(app_id): Path<String>, headers: HeaderMap, JsonBody(body): JsonBody) -> ApiResult<Json<Value>> {
    authorize(&s, &caller, &app_id, ACCOUNT_APP_INTEGRATION).await?;
    let url = match body.get("mediaUrl") {
        Some(Value::String(u)) => u.clone(),
        Some(_) => return Err(ApiError::bad_request("mediaUrl must be a string")),
        None => return Err(ApiError::bad_request("mediaUrl is required")),
    };
    let ours = format!("{}/attachments/", base_url(&s, &headers));
    let Some((id, name)) = url.strip_prefix(&ours).and_then(|rest| rest.split_once('/')).filter(|(_, name)| !name.contains('/')) else {
        return Err(ApiError::bad_request(format!("Unsupported media URL for attachment deletion: {url}")));
    };
    match s.attachments.delete(&app_id, id, name).await {
        Ok(true) => Ok(Json(json!({}))),
        Ok(false) => Err(ApiError::not_found("Attachment not found")),
        Err(e) => {
            tracing::error!(error = %e, "attachment delete failed");
            Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", "The file could not be deleted"))
        }
    }
}

// ---- SDK ----

fn json_part(part: Option<Part>, name: &str) -> Result<Map<String, Value>, SdkError> {
    let Some(part) = part else { return Ok(Map::new()) };
    if part.bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(&part.bytes) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(ApiError::bad_request(format!("{name} must be a JSON object")).into()),
    }
}

async fn sdk_upload(
    State(s): State<AppState>,
    sdk: Sdk,
    Path((app_id, conversation_id)): Path<(String, String)>,
    headers: HeaderMap,
    mp: Result<Multipart, MultipartRejection>,
) -> Result<(StatusCode, Json<Value>), SdkError> {
    // Check the credentials before storing anything.
    sdk.conversation(&s, &app_id, &conversation_id).await?;
    let mut parts = read_parts(mp).await?;
    let author = json_part(take(&mut parts, "author"), "author")?;
    let mut message = json_part(take(&mut parts, "message"), "message")?;
    let source = take(&mut parts, "source").ok_or_else(|| SdkError::from(ApiError::bad_request("source is required")))?;
    let stored = store_source(&s, &app_id, source).await?;
    let kind = if stored.media_type.starts_with("image/") { "image" } else { "file" };
    message.insert("type".into(), json!(kind));
    message.insert("mediaUrl".into(), json!(media_url(&s, &headers, &stored)));
    message.retain(|k, _| !matches!(k.as_str(), "actions" | "items" | "fields" | "mediaType" | "mediaSize"));
    let mut body = json!({ "message": message });
    if !author.is_empty() {
        body["author"] = Value::Object(author);
    }
    post_user_message(&s, &sdk, &app_id, &conversation_id, body).await
}

// ---- serving ----

async fn serve(State(s): State<AppState>, Path((id, name)): Path<(String, String)>) -> Response {
    match s.attachments.open(&id, &name).await {
        Ok(Some((stored, bytes))) => {
            let content_type = HeaderValue::from_str(&stored.media_type).unwrap_or(HeaderValue::from_static("application/octet-stream"));
            (
                [
                    (header::CONTENT_TYPE, content_type),
                    (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
                    // Uploaded content is untrusted: never let it run as a page of this origin.
                    (header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; sandbox")),
                    (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=31536000, immutable")),
                    (header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*")),
                ],
                bytes,
            )
                .into_response()
        }
        Ok(None) => ApiError::not_found("Attachment not found").into_response(),
        Err(e) => {
            tracing::error!(error = %e, "attachment read failed");
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", "The file could not be read").into_response()
        }
    }
}
