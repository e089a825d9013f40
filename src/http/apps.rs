//! Apps: CreateApp, ListApps, GetApp, UpdateApp, DeleteApp.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::error::ApiResult;
use super::extract::{Caller, JsonBody, QueryMap};
use super::paging::{base_url, carried_query, list_body};
use super::AppState;
use crate::domain::app::{new_app, AppPatch};
use crate::domain::auth::ACCOUNT_APP;
use crate::domain::ids::new_id;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v2/apps", get(list_apps).post(create_app))
        .route("/v2/apps/{app_id}", get(get_app).patch(patch_app).delete(delete_app))
}

async fn create_app(State(s): State<AppState>, Caller(caller): Caller, JsonBody(body): JsonBody) -> ApiResult<(StatusCode, Json<Value>)> {
    caller.authorize_account()?;
    let app = s.store.create_app(new_app(new_id(), body)?).await?;
    Ok((StatusCode::CREATED, Json(json!({ "app": app }))))
}

async fn list_apps(State(s): State<AppState>, Caller(caller): Caller, q: QueryMap, headers: HeaderMap) -> ApiResult<Json<Value>> {
    caller.authorize_account()?;
    if q.get("filter[serviceAccountId]").is_some() {
        // Sunbeam has no service accounts, so no key can match one.
        return Err(crate::domain::error::DomainError::Forbidden("The serviceAccountId provided does not match supplied credentials".into()).into());
    }
    let request = q.page()?;
    let page = s.store.list_apps(&request).await?;
    Ok(Json(list_body("apps", page, |a| json!(a), &base_url(&s, &headers), "/v2/apps", &carried_query("", &q))))
}

/// Checks access and existence of the app in the path; used by every app-scoped route.
pub async fn authorize(s: &AppState, caller: &crate::domain::auth::Principal, app_id: &str, scopes: &[crate::domain::auth::Scope]) -> ApiResult<crate::domain::app::App> {
    caller.authorize_app(app_id, scopes)?;
    Ok(s.store.get_app(app_id).await?)
}

async fn get_app(State(s): State<AppState>, Caller(caller): Caller, Path(app_id): Path<String>) -> ApiResult<Json<Value>> {
    let app = authorize(&s, &caller, &app_id, ACCOUNT_APP).await?;
    // The spec's GetApp adds `subdomain` (a string: the Zendesk account's). A self-hosted app
    // has none, so it is left out (the field is optional) rather than sent as null.
    Ok(Json(json!({ "app": app })))
}

async fn patch_app(State(s): State<AppState>, Caller(caller): Caller, Path(app_id): Path<String>, JsonBody(body): JsonBody) -> ApiResult<Json<Value>> {
    authorize(&s, &caller, &app_id, ACCOUNT_APP).await?;
    let patch = AppPatch::parse(body)?;
    let app = s.store.update_app(&app_id, move |current| patch.apply(current)).await?;
    Ok(Json(json!({ "app": app })))
}

async fn delete_app(State(s): State<AppState>, Caller(caller): Caller, Path(app_id): Path<String>) -> ApiResult<Json<Value>> {
    caller.authorize_account()?;
    s.store.delete_app(&app_id).await?;
    Ok(Json(json!({})))
}
