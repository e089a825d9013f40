//! Participants: JoinConversation, LeaveConversation, ListParticipants.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::apps::authorize;
use super::error::ApiResult;
use super::extract::{Caller, JsonBody, QueryMap};
use super::paging::{base_url, carried_query, list_body};
use super::AppState;
use crate::domain::auth::ACCOUNT_APP_INTEGRATION;
use crate::domain::client::associations;
use crate::domain::conversation::{parse_join, parse_leave, Participant};
use crate::domain::pagination::Page;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v2/apps/{app_id}/conversations/{conversation_id}/join", post(join))
        .route("/v2/apps/{app_id}/conversations/{conversation_id}/leave", post(leave))
        .route("/v2/apps/{app_id}/conversations/{conversation_id}/participants", get(list))
}

async fn join(State(s): State<AppState>, Caller(caller): Caller, Path((app_id, id)): Path<(String, String)>, JsonBody(body): JsonBody) -> ApiResult<(StatusCode, Json<Value>)> {
    authorize(&s, &caller, &app_id, ACCOUNT_APP_INTEGRATION).await?;
    let (participant, _) = s.store.join_conversation(&app_id, &id, parse_join(body)?).await?;
    let shown = with_associations(&s, vec![participant]).await?.pop().unwrap_or_default();
    Ok((StatusCode::CREATED, Json(json!({ "participant": shown }))))
}

async fn leave(State(s): State<AppState>, Caller(caller): Caller, Path((app_id, id)): Path<(String, String)>, JsonBody(body): JsonBody) -> ApiResult<Json<Value>> {
    authorize(&s, &caller, &app_id, ACCOUNT_APP_INTEGRATION).await?;
    s.store.leave_conversation(&app_id, &id, parse_leave(body)?).await?;
    Ok(Json(json!({})))
}

async fn list(State(s): State<AppState>, Caller(caller): Caller, Path((app_id, id)): Path<(String, String)>, q: QueryMap, headers: HeaderMap) -> ApiResult<Json<Value>> {
    authorize(&s, &caller, &app_id, ACCOUNT_APP_INTEGRATION).await?;
    let mut page = s.store.list_participants(&app_id, &id, &q.page()?).await?;
    let participants = with_associations(&s, std::mem::take(&mut page.items)).await?;
    let path = format!("/v2/apps/{app_id}/conversations/{id}/participants");
    let page = Page { items: participants, has_more: page.has_more, after_cursor: page.after_cursor, before_cursor: page.before_cursor };
    Ok(Json(list_body("participants", page, |p| p, &base_url(&s, &headers), &path, &carried_query("", &q))))
}

/// Participants as shown, each with its `clientAssociations` (primary first).
async fn with_associations(s: &AppState, participants: Vec<Participant>) -> ApiResult<Vec<Value>> {
    let users: Vec<String> = participants.iter().map(|p| p.user_id.clone()).collect();
    let clients = s.store.sdk_clients_of(&users).await?;
    Ok(participants
        .iter()
        .map(|p| {
            let mut v = p.to_json();
            v["clientAssociations"] = json!(associations(clients.get(&p.user_id).map(Vec::as_slice).unwrap_or_default()));
            v
        })
        .collect())
}
