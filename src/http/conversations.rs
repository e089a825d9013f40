//! Conversations: CreateConversation, ListConversations, GetConversation,
//! UpdateConversation, DeleteConversation.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::apps::authorize;
use super::error::{ApiError, ApiResult};
use super::extract::{Caller, JsonBody, QueryMap};
use super::paging::{base_url, carried_query, list_body};
use super::AppState;
use crate::domain::auth::ACCOUNT_APP_INTEGRATION;
use crate::domain::conversation::{parse_new_conversation, ConversationPatch, UserRef};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v2/apps/{app_id}/conversations", get(list_conversations).post(create_conversation))
        .route("/v2/apps/{app_id}/conversations/{conversation_id}", get(get_conversation).patch(patch_conversation).delete(delete_conversation))
}

async fn create_conversation(State(s): State<AppState>, Caller(caller): Caller, Path(app_id): Path<String>, JsonBody(body): JsonBody) -> ApiResult<(StatusCode, Json<Value>)> {
    authorize(&s, &caller, &app_id, ACCOUNT_APP_INTEGRATION).await?;
    let new = parse_new_conversation(body, s.store.limits.max_participants as usize)?;
    let (conversation, _) = s.store.create_conversation(&app_id, new).await?;
    Ok((StatusCode::CREATED, Json(json!({ "conversation": conversation.to_json() }))))
}

async fn list_conversations(State(s): State<AppState>, Caller(caller): Caller, Path(app_id): Path<String>, q: QueryMap, headers: HeaderMap) -> ApiResult<Json<Value>> {
    authorize(&s, &caller, &app_id, ACCOUNT_APP_INTEGRATION).await?;
    let (user, filter) = match (q.get("filter[userId]"), q.get("filter[userExternalId]")) {
        (Some(id), None) if !id.is_empty() => (UserRef::Id(id.to_string()), format!("filter[userId]={}", urlencode(id))),
        (None, Some(e)) if !e.is_empty() => (UserRef::ExternalId(e.to_string()), format!("filter[userExternalId]={}", urlencode(e))),
        _ => return Err(ApiError::bad_request("Exactly one of filter[userId] or filter[userExternalId] is required")),
    };
    let page = s.store.list_user_conversations(&app_id, &user, &q.page()?).await?;
    let path = format!("/v2/apps/{app_id}/conversations");
    Ok(Json(list_body("conversations", page, |c| c.to_json(), &base_url(&s, &headers), &path, &carried_query(&filter, &q))))
}

pub(super) fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

async fn get_conversation(State(s): State<AppState>, Caller(caller): Caller, Path((app_id, id)): Path<(String, String)>) -> ApiResult<Json<Value>> {
    authorize(&s, &caller, &app_id, ACCOUNT_APP_INTEGRATION).await?;
    Ok(Json(json!({ "conversation": s.store.get_conversation(&app_id, &id).await?.to_json() })))
}

async fn patch_conversation(State(s): State<AppState>, Caller(caller): Caller, Path((app_id, id)): Path<(String, String)>, JsonBody(body): JsonBody) -> ApiResult<Json<Value>> {
    authorize(&s, &caller, &app_id, ACCOUNT_APP_INTEGRATION).await?;
    let patch = ConversationPatch::parse(body)?;
    let conversation = s.store.patch_conversation(&app_id, &id, move |current| Ok(patch.apply(current))).await?;
    Ok(Json(json!({ "conversation": conversation.to_json() })))
}

async fn delete_conversation(State(s): State<AppState>, Caller(caller): Caller, Path((app_id, id)): Path<(String, String)>) -> ApiResult<Json<Value>> {
    authorize(&s, &caller, &app_id, ACCOUNT_APP_INTEGRATION).await?;
    s.store.delete_conversation(&app_id, &id).await?;
    Ok(Json(json!({})))
}
