//! Messages: PostMessage, ListMessages, DeleteAllMessages, DeleteMessage.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::apps::authorize;
use super::error::{ApiError, ApiResult};
use super::extract::{Caller, JsonBody, QueryMap};
use super::paging::{base_url, list_body_text};
use super::AppState;
use crate::domain::auth::ACCOUNT_APP_INTEGRATION;
use crate::domain::ids::is_id;
use crate::domain::message::parse_message_post;
use crate::domain::pagination::Page;
use crate::store::messages::MessageCursor;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v2/apps/{app_id}/conversations/{conversation_id}/messages", get(list_messages).post(post_message).delete(delete_all))
        .route("/v2/apps/{app_id}/conversations/{conversation_id}/messages/{message_id}", delete(delete_one))
}

async fn post_message(
    State(s): State<AppState>,
    Caller(caller): Caller,
    Path((app_id, id)): Path<(String, String)>,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let app = authorize(&s, &caller, &app_id, ACCOUNT_APP_INTEGRATION).await?;
    let mut new = parse_message_post(body, &app.settings)?;
    super::attachments::describe_media(&s, &headers, &app_id, &mut new).await?;
    if let Some(destination) = &new.destination {
        // Only a user with a client on the integration can be sent to through it.
        s.store.check_destination(&app_id, &id, destination).await?;
    }
    let mut source = json!({ "type": "api:conversations" });
    if let Some(integration_id) = caller.integration_id() {
        source["integrationId"] = json!(integration_id);
    }
    // The stored text is the wire form: the response is written around it.
    let message = s.store.post_message_text(&app_id, &id, new, source).await?;
    let body = [r#"{"messages":["#, &message, "]}"].concat();
    Ok((StatusCode::CREATED, [(header::CONTENT_TYPE, "application/json")], body).into_response())
}

async fn list_messages(State(s): State<AppState>, Caller(caller): Caller, Path((app_id, id)): Path<(String, String)>, q: QueryMap, headers: HeaderMap) -> ApiResult<Response> {
    authorize(&s, &caller, &app_id, ACCOUNT_APP_INTEGRATION).await?;
    let invalid = || ApiError::bad_request("Invalid page query parameters");
    let cursor = match (q.get("page[after]"), q.get("page[before]")) {
        (Some(_), Some(_)) => return Err(invalid()),
        (Some(a), None) if is_id(a) => MessageCursor::After(a.to_string()),
        (None, Some(b)) if is_id(b) => MessageCursor::Before(b.to_string()),
        (None, None) => MessageCursor::Newest,
        _ => return Err(invalid()),
    };
    // page[size] does not apply to ListMessages (fixed at 100); a malformed one is still refused.
    if let Some(size) = q.get("page[size]") {
        if !size.parse::<i64>().is_ok_and(|n| (1..=100).contains(&n)) {
            return Err(invalid());
        }
    }
    // The stored documents are the wire form: the page is written around their text.
    let page = s.store.list_message_texts(&app_id, &id, &cursor).await?;
    let texts = Page { items: page.items.iter().map(|m| m.body.as_str()).collect(), has_more: page.has_more, after_cursor: page.after_cursor, before_cursor: page.before_cursor };
    let path = format!("/v2/apps/{app_id}/conversations/{id}/messages");
    let body = list_body_text("messages", &texts, &base_url(&s, &headers), &path, "");
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

async fn delete_all(State(s): State<AppState>, Caller(caller): Caller, Path((app_id, id)): Path<(String, String)>) -> ApiResult<Json<Value>> {
    authorize(&s, &caller, &app_id, ACCOUNT_APP_INTEGRATION).await?;
    s.store.delete_all_messages(&app_id, &id).await?;
    Ok(Json(json!({})))
}

async fn delete_one(State(s): State<AppState>, Caller(caller): Caller, Path((app_id, id, message_id)): Path<(String, String, String)>) -> ApiResult<Json<Value>> {
    authorize(&s, &caller, &app_id, ACCOUNT_APP_INTEGRATION).await?;
    s.store.delete_message(&app_id, &id, &message_id).await?;
    Ok(Json(json!({})))
}
