//! Users: CreateUser, ListUsers, GetUser, UpdateUser, DeleteUser,
//! DeleteUserPersonalInformation. Paths take the user's `id` or its `externalId`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::apps::authorize;
use super::error::{ApiError, ApiResult};
use super::extract::{Caller, JsonBody, QueryMap};
use super::AppState;
use crate::domain::auth::ACCOUNT_APP_INTEGRATION;
use crate::domain::ids::new_id;
use crate::domain::time::now_ms;
use crate::domain::user::{new_user, UserPatch};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v2/apps/{app_id}/users", get(list_users).post(create_user))
        .route("/v2/apps/{app_id}/users/{user}", get(get_user).patch(patch_user).delete(delete_user))
        .route("/v2/apps/{app_id}/users/{user}/personalinformation", delete(delete_personal_information))
}

async fn create_user(State(s): State<AppState>, Caller(caller): Caller, Path(app_id): Path<String>, JsonBody(body): JsonBody) -> ApiResult<(StatusCode, Json<Value>)> {
    let app = authorize(&s, &caller, &app_id, ACCOUNT_APP_INTEGRATION).await?;
    let user = new_user(new_id(), now_ms(), body, app.settings.use_animal_names)?;
    let user = s.store.create_user(&app_id, user).await?;
    Ok((StatusCode::CREATED, Json(json!({ "user": user }))))
}

async fn list_users(State(s): State<AppState>, Caller(caller): Caller, Path(app_id): Path<String>, q: QueryMap) -> ApiResult<Json<Value>> {
    authorize(&s, &caller, &app_id, ACCOUNT_APP_INTEGRATION).await?;
    let email = q.get("filter[identities.email]").filter(|e| !e.is_empty()).ok_or_else(|| ApiError::bad_request("filter[identities.email] is required"))?;
    Ok(Json(json!({ "users": s.store.users_by_email(&app_id, email).await? })))
}

async fn get_user(State(s): State<AppState>, Caller(caller): Caller, Path((app_id, user)): Path<(String, String)>) -> ApiResult<Json<Value>> {
    authorize(&s, &caller, &app_id, ACCOUNT_APP_INTEGRATION).await?;
    Ok(Json(json!({ "user": s.store.get_user(&app_id, &user).await? })))
}

async fn patch_user(State(s): State<AppState>, Caller(caller): Caller, Path((app_id, user)): Path<(String, String)>, JsonBody(body): JsonBody) -> ApiResult<Json<Value>> {
    authorize(&s, &caller, &app_id, ACCOUNT_APP_INTEGRATION).await?;
    let patch = UserPatch::parse(body)?;
    Ok(Json(json!({ "user": s.store.update_user(&app_id, &user, move |current| Ok(patch.apply(current))).await? })))
}

async fn delete_user(State(s): State<AppState>, Caller(caller): Caller, Path((app_id, user)): Path<(String, String)>) -> ApiResult<Json<Value>> {
    authorize(&s, &caller, &app_id, ACCOUNT_APP_INTEGRATION).await?;
    s.store.delete_user(&app_id, &user).await?;
    Ok(Json(json!({})))
}

async fn delete_personal_information(State(s): State<AppState>, Caller(caller): Caller, Path((app_id, user)): Path<(String, String)>) -> ApiResult<Json<Value>> {
    authorize(&s, &caller, &app_id, ACCOUNT_APP_INTEGRATION).await?;
    Ok(Json(json!({ "user": s.store.delete_personal_information(&app_id, &user).await? })))
}
