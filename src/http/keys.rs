//! App keys: CreateAppKey, ListAppKeys, GetAppKey, DeleteAppKey (account scope).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::apps::authorize;
use super::error::ApiResult;
use super::extract::{Caller, JsonBody};
use super::AppState;
use crate::domain::app::key_display_name;
use crate::domain::auth::ACCOUNT;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v2/apps/{app_id}/keys", get(list_keys).post(create_key))
        .route("/v2/apps/{app_id}/keys/{key_id}", get(get_key).delete(delete_key))
}

async fn create_key(State(s): State<AppState>, Caller(caller): Caller, Path(app_id): Path<String>, JsonBody(body): JsonBody) -> ApiResult<(StatusCode, Json<Value>)> {
    authorize(&s, &caller, &app_id, ACCOUNT).await?;
    let key = s.store.create_app_key(&app_id, &key_display_name(body)?).await?;
    Ok((StatusCode::CREATED, Json(json!({ "key": key }))))
}

async fn list_keys(State(s): State<AppState>, Caller(caller): Caller, Path(app_id): Path<String>) -> ApiResult<Json<Value>> {
    authorize(&s, &caller, &app_id, ACCOUNT).await?;
    Ok(Json(json!({ "keys": s.store.list_app_keys(&app_id).await? })))
}

async fn get_key(State(s): State<AppState>, Caller(caller): Caller, Path((app_id, key_id)): Path<(String, String)>) -> ApiResult<Json<Value>> {
    authorize(&s, &caller, &app_id, ACCOUNT).await?;
    Ok(Json(json!({ "key": s.store.get_app_key(&app_id, &key_id).await? })))
}

async fn delete_key(State(s): State<AppState>, Caller(caller): Caller, Path((app_id, key_id)): Path<(String, String)>) -> ApiResult<Json<Value>> {
    authorize(&s, &caller, &app_id, ACCOUNT).await?;
    s.store.delete_app_key(&app_id, &key_id).await?;
    Ok(Json(json!({})))
}
