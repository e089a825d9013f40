//! Activities: PostActivity (read receipts, typing).

use axum::extract::{Path, State};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::apps::authorize;
use super::error::ApiResult;
use super::extract::{Caller, JsonBody};
use super::AppState;
use crate::domain::auth::ACCOUNT_APP_INTEGRATION;
use crate::domain::message::parse_activity_post;

pub fn router() -> Router<AppState> {
    Router::new().route("/v2/apps/{app_id}/conversations/{conversation_id}/activity", post(post_activity))
}

async fn post_activity(State(s): State<AppState>, Caller(caller): Caller, Path((app_id, id)): Path<(String, String)>, JsonBody(body): JsonBody) -> ApiResult<Json<Value>> {
    authorize(&s, &caller, &app_id, ACCOUNT_APP_INTEGRATION).await?;
    s.store.post_activity(&app_id, &id, parse_activity_post(body)?).await?;
    Ok(Json(json!({})))
}
