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
use crate::domain::conversation::{parse_join, parse_leave};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v2/apps/{app_id}/conversations/{conversation_id}/join", post(join))
        .route("/v2/apps/{app_id}/conversations/{conversation_id}/leave", post(leave))
        .route("/v2/apps/{app_id}/conversations/{conversation_id}/participants", get(list))
}

async fn join(State(s): State<AppState>, Caller(caller): Caller, Path((app_id, id)): Path<(String, String)>, JsonBody(body): JsonBody) -> ApiResult<(StatusCode, Json<Value>)> {
    authorize(&s, &caller, &app_id, ACCOUNT_APP_INTEGRATION).await?;
    let (participant, _) = s.store.join_conversation(&app_id, &id, parse_join(body)?).await?;
    Ok((StatusCode::CREATED, Json(json!({ "participant": participant.to_json() }))))
}

async fn leave(State(s): State<AppState>, Caller(caller): Caller, Path((app_id, id)): Path<(String, String)>, JsonBody(body): JsonBody) -> ApiResult<Json<Value>> {
    authorize(&s, &caller, &app_id, ACCOUNT_APP_INTEGRATION).await?;
    s.store.leave_conversation(&app_id, &id, parse_leave(body)?).await?;
    Ok(Json(json!({})))
}

async fn list(State(s): State<AppState>, Caller(caller): Caller, Path((app_id, id)): Path<(String, String)>, q: QueryMap, headers: HeaderMap) -> ApiResult<Json<Value>> {
    authorize(&s, &caller, &app_id, ACCOUNT_APP_INTEGRATION).await?;
    let page = s.store.list_participants(&app_id, &id, &q.page()?).await?;
    let path = format!("/v2/apps/{app_id}/conversations/{id}/participants");
    Ok(Json(list_body("participants", page, |p| p.to_json(), &base_url(&s, &headers), &path, &carried_query("", &q))))
}
