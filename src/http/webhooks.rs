//! Webhooks: CreateWebhook, ListWebhooks, GetWebhook, UpdateWebhook, DeleteWebhook.
//!
//! The spec accepts app and integration scope here, not account. An integration-scoped
//! caller names its own integration (or the literal `me`) and never sees another's
//! webhooks (403).
//!
//! Also the operators' view of delivery (account scope, outside the spec):
//! `GET /admin/webhooks` and `GET /admin/webhooks/{webhookId}/attempts`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::apps::authorize;
use super::error::ApiResult;
use super::extract::{Caller, JsonBody, QueryMap};
use super::AppState;
use crate::domain::auth::{Principal, APP_INTEGRATION};
use crate::domain::error::{DomainError, Resource};
use crate::domain::ids::new_id;
use crate::domain::webhook::{new_webhook, WebhookPatch};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v2/apps/{app_id}/integrations/{integration_id}/webhooks", get(list_webhooks).post(create_webhook))
        .route("/v2/apps/{app_id}/integrations/{integration_id}/webhooks/{webhook_id}", get(get_webhook).patch(patch_webhook).delete(delete_webhook))
        .route("/admin/webhooks", get(delivery_status))
        .route("/admin/webhooks/{webhook_id}/attempts", get(delivery_attempts))
}

/// Checks access to the app and resolves the integration of the path (`me` included).
async fn integration_of(s: &AppState, caller: &Principal, app_id: &str, path_id: &str) -> ApiResult<String> {
    authorize(s, caller, app_id, APP_INTEGRATION).await?;
    match caller.integration_id() {
        Some(own) if path_id == "me" || path_id == own => Ok(own.to_string()),
        Some(_) => Err(DomainError::Forbidden("An integration can only see and modify its own webhooks".into()).into()),
        None if path_id == "me" => Err(DomainError::not_found(Resource::Integration).into()),
        None => Ok(path_id.to_string()),
    }
}

async fn create_webhook(
    State(s): State<AppState>,
    Caller(caller): Caller,
    Path((app_id, integration_id)): Path<(String, String)>,
    JsonBody(body): JsonBody,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let integration_id = integration_of(&s, &caller, &app_id, &integration_id).await?;
    let webhook = new_webhook(new_id(), body)?;
    let webhook = s.store.create_webhook(&app_id, &integration_id, webhook).await?;
    Ok((StatusCode::CREATED, Json(json!({ "webhook": webhook }))))
}

async fn list_webhooks(State(s): State<AppState>, Caller(caller): Caller, Path((app_id, integration_id)): Path<(String, String)>) -> ApiResult<Json<Value>> {
    let integration_id = integration_of(&s, &caller, &app_id, &integration_id).await?;
    Ok(Json(json!({ "webhooks": s.store.list_webhooks(&app_id, &integration_id).await? })))
}

async fn get_webhook(State(s): State<AppState>, Caller(caller): Caller, Path((app_id, integration_id, webhook_id)): Path<(String, String, String)>) -> ApiResult<Json<Value>> {
    let integration_id = integration_of(&s, &caller, &app_id, &integration_id).await?;
    Ok(Json(json!({ "webhook": s.store.get_webhook(&app_id, &integration_id, &webhook_id).await? })))
}

async fn patch_webhook(
    State(s): State<AppState>,
    Caller(caller): Caller,
    Path((app_id, integration_id, webhook_id)): Path<(String, String, String)>,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    let integration_id = integration_of(&s, &caller, &app_id, &integration_id).await?;
    let patch = WebhookPatch::parse(body)?;
    let webhook = s.store.update_webhook(&app_id, &integration_id, &webhook_id, move |current| Ok(patch.apply(current))).await?;
    Ok(Json(json!({ "webhook": webhook })))
}

async fn delete_webhook(State(s): State<AppState>, Caller(caller): Caller, Path((app_id, integration_id, webhook_id)): Path<(String, String, String)>) -> ApiResult<Json<Value>> {
    let integration_id = integration_of(&s, &caller, &app_id, &integration_id).await?;
    s.store.delete_webhook(&app_id, &integration_id, &webhook_id).await?;
    Ok(Json(json!({})))
}

// ---- operators ----

/// Per webhook: pending/delivered/failed counts, the circuit, the last error; plus the
/// router's backlog. `?appId=` narrows to one app.
async fn delivery_status(State(s): State<AppState>, Caller(caller): Caller, q: QueryMap) -> ApiResult<Json<Value>> {
    caller.authorize_account()?;
    let statuses = s.store.webhook_statuses(q.get("appId")).await?;
    Ok(Json(json!({ "unroutedEvents": s.store.unrouted_events().await?, "webhooks": statuses })))
}

/// The latest attempts (up to `?limit=`, default 50, at most 500), newest first.
async fn delivery_attempts(State(s): State<AppState>, Caller(caller): Caller, Path(webhook_id): Path<String>, q: QueryMap) -> ApiResult<Json<Value>> {
    caller.authorize_account()?;
    let limit = q.get("limit").and_then(|l| l.parse::<i64>().ok()).unwrap_or(50).clamp(1, 500);
    Ok(Json(json!({ "attempts": s.store.webhook_attempts(&webhook_id, limit).await? })))
}
