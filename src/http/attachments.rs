//! Attachments: UploadAttachment (`POST /v2/apps/{appId}/attachments`), DeleteAttachment
//! (`POST …/attachments/remove`), the SDK's file upload (`POST
//! /sdk/v2/apps/{appId}/conversations/{conversationId}/files`, which posts an `image` or
//! `file` message as the appUser), and serving the files (`GET /attachments/{id}/{name}`,
//! public: the spec only knows `access=public`) with ranges and validators.
//!
//! The `source` part streams into storage as it arrives (`crate::attachments`). Uploads
//! that are refused early (credentials, query, origin, size) are answered only after the
//! rest of their body has been read and dropped ([`drain_refused_uploads`]): a client
//! still sending would otherwise see its connection reset instead of the answer.

use std::future::Future;
use std::time::Duration;

use axum::body::Body;
use axum::extract::multipart::{Field, Multipart, MultipartRejection};
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use futures::StreamExt;
use serde_json::{json, Map, Value};

use super::apps::authorize;
use super::error::{ApiError, ApiResult};
use super::extract::{Caller, JsonBody, QueryMap};
use super::paging::{base_url, BASE_PREFIX_HEADER};
use super::sdk::{post_user_message, preflight, sdk_cors, Sdk, SdkError};
use super::{AppState, ZENDESK_PREFIX};
use crate::attachments::{AttachmentError, Upload};
use crate::domain::attachment::{is_image, parse_media_url, parse_upload_query, resolve_range, Attachment, RangeAnswer, UploadRequest, MAX_ATTACHMENT_BYTES};
use crate::domain::auth::ACCOUNT_APP_INTEGRATION;
use crate::domain::message::NewMessage;

/// Room for the multipart framing and the small parts around a 50 MB file.
const MAX_MULTIPART_BODY: usize = MAX_ATTACHMENT_BYTES as usize + 1024 * 1024;
/// The other parts (the SDK's `author`, `message`).
const MAX_SMALL_PART: usize = 100 * 1024;
/// How much of a refused upload's body is read and dropped before answering; past it
/// the connection is closed.
const MAX_DRAIN: u64 = MAX_MULTIPART_BODY as u64 + 1024 * 1024;
/// How long a refused upload's body is read for at most.
const DRAIN_TIME: Duration = Duration::from_secs(60);

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

// ---- draining refused uploads ----

fn is_upload_path(path: &str) -> bool {
    // Into an array, not a `Vec`: every POST asks (PostMessage among them).
    let mut segments = [""; 8];
    let mut count = 0;
    for segment in path.trim_end_matches('/').split('/') {
        let Some(slot) = segments.get_mut(count) else { return false };
        *slot = segment;
        count += 1;
    }
    matches!(&segments[..count], ["", "v2", "apps", _, "attachments"] | ["", "sdk", "v2", "apps", _, "conversations", _, "files"])
}

/// On the upload routes, hands the handler (`next`) a body that is fed from the
/// connection by a pump; once the answer is ready, the pump reads and drops what is left
/// of the body (at most [`MAX_DRAIN`] bytes, [`DRAIN_TIME`]) before the answer goes out.
pub(super) async fn drain_refused_uploads<Fut: Future<Output = Response>>(req: Request, next: impl FnOnce(Request) -> Fut) -> Response {
    if req.method() != Method::POST || !is_upload_path(req.uri().path()) {
        return next(req).await;
    }
    let (parts, body) = req.into_parts();
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, axum::Error>>(4);
    let mut pump = tokio::spawn(async move {
        let mut body = body.into_data_stream();
        let (mut seen, mut forwarding) = (0u64, true);
        while let Some(chunk) = body.next().await {
            match chunk {
                Ok(bytes) => {
                    seen += bytes.len() as u64;
                    if forwarding && tx.send(Ok(bytes)).await.is_err() {
                        forwarding = false;
                    }
                }
                Err(e) => {
                    if forwarding {
                        let _ = tx.send(Err(e)).await;
                    }
                    return;
                }
            }
            if !forwarding && seen > MAX_DRAIN {
                return;
            }
        }
    });
    let fed = futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|chunk| (chunk, rx)) });
    let res = next(Request::from_parts(parts, Body::from_stream(fed))).await;
    // The handler is done with the body (its receiver is dropped): the pump now drains.
    if tokio::time::timeout(DRAIN_TIME, &mut pump).await.is_err() {
        pump.abort();
    }
    res
}

// ---- multipart ----

fn too_large() -> ApiError {
    ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", format!("The file is larger than the limit of {} MB", MAX_ATTACHMENT_BYTES / (1024 * 1024)))
}

fn multipart_error(e: axum::extract::multipart::MultipartError) -> AttachmentError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        AttachmentError::TooLarge
    } else {
        AttachmentError::Client(e.body_text())
    }
}

fn api_error(e: AttachmentError) -> ApiError {
    match e {
        AttachmentError::TooLarge => too_large(),
        AttachmentError::Client(why) => ApiError::bad_request(format!("Invalid multipart body: {why}")),
        AttachmentError::Store(e) => e.into(),
        AttachmentError::Storage(why) => {
            tracing::error!(error = %why, "attachment storage failed");
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", "The file could not be stored")
        }
    }
}

fn open_multipart(mp: Result<Multipart, MultipartRejection>) -> ApiResult<Multipart> {
    mp.map_err(|e| match e {
        MultipartRejection::InvalidBoundary(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "An upload must be sent with content-type: multipart/form-data (and its boundary)",
        ),
        e => ApiError::bad_request(format!("Expected a multipart/form-data body: {}", e.body_text())),
    })
}

async fn next_field(mp: &mut Multipart) -> ApiResult<Option<Field<'_>>> {
    mp.next_field().await.map_err(|e| api_error(multipart_error(e)))
}

fn field_chunks(field: Field<'_>) -> Upload<'_> {
    futures::stream::try_unfold(field, |mut f| async move {
        match f.chunk().await {
            Ok(Some(chunk)) => Ok(Some((chunk, f))),
            Ok(None) => Ok(None),
            Err(e) => Err(multipart_error(e)),
        }
    })
    .boxed()
}

/// A small part, in memory (at most [`MAX_SMALL_PART`]).
async fn small_part(mut field: Field<'_>) -> ApiResult<Vec<u8>> {
    let name = field.name().unwrap_or("").to_string();
    let mut bytes = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(|e| api_error(multipart_error(e)))? {
        if bytes.len() + chunk.len() > MAX_SMALL_PART {
            return Err(ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", format!("The part {name} is larger than the limit")));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// Reads the whole body: the first `source` part streams into storage, the parts named
/// in `keep` are kept (small), the others are read and dropped. An attachment stored
/// before a later part fails is deleted again.
async fn read_upload(s: &AppState, app_id: &str, request: &UploadRequest, mut mp: Multipart, keep: &[&str]) -> ApiResult<(Option<Attachment>, Map<String, Value>)> {
    let mut stored: Option<Attachment> = None;
    let mut kept = Map::new();
    let outcome: ApiResult<()> = async {
        while let Some(field) = next_field(&mut mp).await? {
            let name = field.name().unwrap_or("").to_string();
            if name == "source" && stored.is_none() {
                let file_name = field.file_name().map(str::to_string);
                let content_type = field.content_type().map(str::to_string);
                let a = s.attachments.upload(app_id, request, file_name.as_deref(), content_type.as_deref(), field_chunks(field)).await.map_err(api_error)?;
                stored = Some(a);
            } else {
                let bytes = small_part(field).await?;
                if keep.contains(&name.as_str()) && !kept.contains_key(&name) {
                    kept.insert(name, Value::String(String::from_utf8_lossy(&bytes).into_owned()));
                }
            }
        }
        Ok(())
    }
    .await;
    if let Err(e) = outcome {
        if let Some(a) = &stored {
            forget(s, a).await;
        }
        return Err(e);
    }
    Ok((stored, kept))
}

async fn forget(s: &AppState, a: &Attachment) {
    if let Err(e) = s.attachments.delete(&a.app_id, &a.id, &a.name).await {
        tracing::warn!(error = %e, attachment = %a.id, "could not delete an attachment whose request failed");
    }
}

/// The URLs this server is reached at, as a request sees them: with and without `/sc`.
fn our_bases(s: &AppState, headers: &HeaderMap) -> Vec<String> {
    let base = base_url(s, headers);
    let plain = match headers.get(BASE_PREFIX_HEADER) {
        Some(_) => base.strip_suffix(ZENDESK_PREFIX).unwrap_or(&base).to_string(),
        None => base.clone(),
    };
    let mut bases = vec![format!("{plain}{ZENDESK_PREFIX}"), plain.clone()];
    if let Some(rest) = plain.strip_prefix("http://") {
        bases.push(format!("https://{rest}{ZENDESK_PREFIX}"));
        bases.push(format!("https://{rest}"));
    }
    bases
}

fn media_url(s: &AppState, headers: &HeaderMap, a: &Attachment) -> String {
    format!("{}{}", base_url(s, headers), a.url_path())
}

/// An `image` or `file` message whose `mediaUrl` is one of this app's attachments gets
/// its `mediaType` and `mediaSize`; an attachment uploaded `for=message` and not yet
/// referenced is linked to the message (and deleted with it).
pub(super) async fn describe_media(s: &AppState, headers: &HeaderMap, app_id: &str, new: &mut NewMessage) -> ApiResult<()> {
    if !matches!(new.content.get("type").and_then(Value::as_str), Some("image" | "file")) {
        return Ok(());
    }
    let Some(url) = new.content.get("mediaUrl").and_then(Value::as_str).map(str::to_string) else { return Ok(()) };
    let bases = our_bases(s, headers);
    let Some((id, name)) = parse_media_url(&url, &bases) else { return Ok(()) };
    let Some(a) = s.attachments.find(id, name).await.map_err(api_error)?.filter(|a| a.app_id == app_id) else { return Ok(()) };
    if let Some(content) = new.content.as_object_mut() {
        content.insert("mediaType".into(), json!(a.media_type));
        content.insert("mediaSize".into(), json!(a.size));
    }
    if a.for_message && a.message_id.is_none() {
        new.attachment = Some(a.id);
    }
    Ok(())
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
    let request = parse_upload_query(q.get("access"), q.get("for"), q.get("conversationId")).map_err(ApiError::bad_request)?;
    let (stored, _) = read_upload(&s, &app_id, &request, open_multipart(mp)?, &[]).await?;
    let a = stored.ok_or_else(|| ApiError::bad_request("source is required"))?;
    Ok((StatusCode::CREATED, Json(json!({ "attachment": { "mediaUrl": media_url(&s, &headers, &a), "mediaType": a.media_type } }))))
}

/// DeleteAttachment: by the `mediaUrl` UploadAttachment answered.
async fn remove(State(s): State<AppState>, Caller(caller): Caller, Path(app_id): Path<String>, headers: HeaderMap, JsonBody(body): JsonBody) -> ApiResult<Json<Value>> {
    authorize(&s, &caller, &app_id, ACCOUNT_APP_INTEGRATION).await?;
    let url = match body.get("mediaUrl") {
        Some(Value::String(u)) => u.clone(),
        Some(_) => return Err(ApiError::bad_request("mediaUrl must be a string")),
        None => return Err(ApiError::bad_request("mediaUrl is required")),
    };
    let Some((id, name)) = parse_media_url(&url, &our_bases(&s, &headers)) else {
        return Err(ApiError::bad_request(format!("Unsupported media URL for attachment deletion: {url}")));
    };
    if s.attachments.delete(&app_id, id, name).await.map_err(api_error)? {
        Ok(Json(json!({})))
    } else {
        Err(ApiError::not_found("Attachment not found"))
    }
}

// ---- SDK ----

fn json_part(kept: &Map<String, Value>, name: &str) -> Result<Map<String, Value>, SdkError> {
    let Some(text) = kept.get(name).and_then(Value::as_str) else { return Ok(Map::new()) };
    if text.trim().is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_str::<Value>(text) {
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
    let (_, conversation) = sdk.conversation(&s, &app_id, &conversation_id).await?;
    let request = UploadRequest { for_message: true, conversation_id: Some(conversation.id.clone()) };
    let (stored, kept) = read_upload(&s, &app_id, &request, open_multipart(mp)?, &["author", "message"]).await?;
    let checked = (|| {
        let author = json_part(&kept, "author")?;
        let message = json_part(&kept, "message")?;
        Ok::<_, SdkError>((author, message))
    })();
    let Some(a) = stored else {
        checked?;
        return Err(ApiError::bad_request("source is required").into());
    };
    let (author, mut message) = match checked {
        Ok(parts) => parts,
        Err(e) => {
            forget(&s, &a).await;
            return Err(e);
        }
    };
    message.insert("type".into(), json!(if is_image(&a.media_type) { "image" } else { "file" }));
    message.insert("mediaUrl".into(), json!(media_url(&s, &headers, &a)));
    message.retain(|k, _| !matches!(k.as_str(), "actions" | "items" | "fields" | "mediaType" | "mediaSize"));
    let mut body = json!({ "message": message });
    if !author.is_empty() {
        body["author"] = Value::Object(author);
    }
    let posted = post_user_message(&s, &sdk, &app_id, &conversation_id, &headers, body).await;
    if posted.is_err() {
        forget(&s, &a).await;
    }
    posted
}

// ---- serving ----

fn matches_etag(header: Option<&HeaderValue>, etag: &str) -> bool {
    let Some(v) = header.and_then(|h| h.to_str().ok()) else { return false };
    v.split(',').map(str::trim).any(|t| t == "*" || t.strip_prefix("W/").unwrap_or(t) == etag)
}

async fn serve(State(s): State<AppState>, Path((id, name)): Path<(String, String)>, headers: HeaderMap) -> Response {
    let a = match s.attachments.find(&id, &name).await {
        Ok(Some(a)) => a,
        Ok(None) => return ApiError::not_found("Attachment not found").into_response(),
        Err(e) => {
            tracing::error!(error = %e, "attachment lookup failed");
            return ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", "The file could not be read").into_response();
        }
    };
    let etag = a.etag();
    let mut common = HeaderMap::new();
    common.insert(header::ETAG, HeaderValue::from_str(&etag).unwrap_or(HeaderValue::from_static("\"\"")));
    // Immutable: a new upload is a new id.
    common.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=31536000, immutable"));
    common.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    common.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    if matches_etag(headers.get(header::IF_NONE_MATCH), &etag) {
        return (StatusCode::NOT_MODIFIED, common).into_response();
    }
    common.insert(header::CONTENT_TYPE, HeaderValue::from_str(&a.media_type).unwrap_or(HeaderValue::from_static("application/octet-stream")));
    common.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // Uploaded content is untrusted: never let it run as a page of this origin.
    common.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; sandbox"));
    // A Range with an If-Range that names another version gets the whole file.
    let if_range_ok = headers.get(header::IF_RANGE).is_none_or(|v| v.to_str().ok() == Some(etag.as_str()));
    let range = if if_range_ok { headers.get(header::RANGE).and_then(|v| v.to_str().ok()) } else { None };
    let (status, start, end) = match resolve_range(range, a.size) {
        RangeAnswer::Whole => (StatusCode::OK, 0, a.size),
        RangeAnswer::Part { start, end } => {
            let value = format!("bytes {start}-{}/{}", end - 1, a.size);
            common.insert(header::CONTENT_RANGE, HeaderValue::from_str(&value).unwrap_or(HeaderValue::from_static("bytes */0")));
            (StatusCode::PARTIAL_CONTENT, start, end)
        }
        RangeAnswer::Unsatisfiable => {
            common.insert(header::CONTENT_RANGE, HeaderValue::from_str(&format!("bytes */{}", a.size)).unwrap_or(HeaderValue::from_static("bytes */0")));
            common.remove(header::CONTENT_TYPE);
            let mut res = ApiError::new(StatusCode::RANGE_NOT_SATISFIABLE, "range_not_satisfiable", "The range is outside the file").into_response();
            res.headers_mut().extend(common);
            return res;
        }
    };
    let body = match s.attachments.read(&a, start, end).await {
        Ok(stream) => Body::from_stream(stream),
        Err(e) => {
            tracing::error!(error = %e, attachment = %a.id, "attachment read failed");
            return ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", "The file could not be read").into_response();
        }
    };
    common.insert(header::CONTENT_LENGTH, HeaderValue::from(end - start));
    (status, common, body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_paths() {
        assert!(is_upload_path("/v2/apps/5e4af71a81966cfff3ef6550/attachments"));
        assert!(is_upload_path("/sdk/v2/apps/a/conversations/c/files"));
        assert!(!is_upload_path("/v2/apps/a/attachments/remove"));
        assert!(!is_upload_path("/v2/apps/a/conversations"));
        assert!(is_upload_path("/v2/apps/a/attachments/"), "a trailing slash");
        assert!(!is_upload_path("/sdk/v2/apps/a/conversations/c/files/x/y"), "longer than any upload path");
    }

    #[test]
    fn etags_match_strong_weak_and_star() {
        let v = |s: &'static str| HeaderValue::from_static(s);
        assert!(matches_etag(Some(&v("\"abc\"")), "\"abc\""));
        assert!(matches_etag(Some(&v("\"x\", W/\"abc\"")), "\"abc\""));
        assert!(matches_etag(Some(&v("*")), "\"abc\""));
        assert!(!matches_etag(Some(&v("\"x\"")), "\"abc\""));
        assert!(!matches_etag(None, "\"abc\""));
    }
}
