//! Integrations (CreateIntegration, ListIntegrations, GetIntegration, UpdateIntegration,
//! DeleteIntegration) and Custom Integration API Keys (Create/List/Get/Delete). All take
//! account or app scope.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::apps::authorize;
use super::error::ApiResult;
use super::extract::{Caller, JsonBody, QueryMap};
use super::paging::{base_url, list_body};
use super::AppState;
use crate::domain::app::key_display_name;
use crate::domain::auth::ACCOUNT_APP;
use crate::domain::ids::new_id;
use crate::domain::integration::{new_integration, parse_type_filter, Integration, IntegrationPatch};
use crate::domain::webhook::Webhook;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v2/apps/{app_id}/integrations", get(list_integrations).post(create_integration))
        .route("/v2/apps/{app_id}/integrations/{integration_id}", get(get_integration).patch(patch_integration).delete(delete_integration))
        .route("/v2/apps/{app_id}/integrations/{integration_id}/keys", get(list_keys).post(create_key))
        .route("/v2/apps/{app_id}/integrations/{integration_id}/keys/{key_id}", get(get_key).delete(delete_key))
}

/// An integration as shown; `custom` ones carry their webhooks.
async fn show(s: &AppState, app_id: &str, integration: &Integration) -> ApiResult<Value> {
    if !integration.is_custom() {
        return Ok(integration.to_wire(None));
    }
    let hooks: Vec<Webhook> = s.store.webhooks_of_app(app_id).await?.into_iter().filter(|(i, _)| *i == integration.id).map(|(_, w)| w).collect();
    Ok(integration.to_wire(Some(&hooks)))
}

async fn create_integration(State(s): State<AppState>, Caller(caller): Caller, Path(app_id): Path<String>, JsonBody(body): JsonBody) -> ApiResult<(StatusCode, Json<Value>)> {
    authorize(&s, &caller, &app_id, ACCOUNT_APP).await?;
    let (integration, webhook) = new_integration(new_id(), new_id(), body)?;
    let integration = s.store.create_integration(&app_id, integration, webhook.clone()).await?;
    let shown = match webhook {
        Some(w) => integration.to_wire(Some(&[w])),
        None => integration.to_wire(None),
    };
    Ok((StatusCode::CREATED, Json(json!({ "integration": shown }))))
}

async fn list_integrations(State(s): State<AppState>, Caller(caller): Caller, Path(app_id): Path<String>, q: QueryMap, headers: HeaderMap) -> ApiResult<Json<Value>> {
    authorize(&s, &caller, &app_id, ACCOUNT_APP).await?;
    let types = match q.get("filter[types]") {
        Some(raw) => parse_type_filter(raw)?,
        None => Vec::new(),
    };
    let page = s.store.list_integrations(&app_id, &types, &q.page()?).await?;
    let mut hooks: HashMap<String, Vec<Webhook>> = HashMap::new();
    if page.items.iter().any(Integration::is_custom) {
        for (integration_id, w) in s.store.webhooks_of_app(&app_id).await? {
            hooks.entry(integration_id).or_default().push(w);
        }
    }
    let extra = if types.is_empty() { String::new() } else { format!("filter[types]={}", types.join(",")) };
    let path = format!("/v2/apps/{app_id}/integrations");
    let show = |i: Integration| {
        if i.is_custom() {
            let own = hooks.get(&i.id).cloned().unwrap_or_default();
            i.to_wire(Some(&own))
        } else {
            i.to_wire(None)
        }
    };
    Ok(Json(list_body("integrations", page, show, &base_url(&s, &headers), &path, &extra)))
}

async fn get_integration(State(s): State<AppState>, Caller(caller): Caller, Path((app_id, integration_id)): Path<(String, String)>) -> ApiResult<Json<Value>> {
    authorize(&s, &caller, &app_id, ACCOUNT_APP).await?;
    let integration = s.store.get_integration(&app_id, &integration_id).await?;
    Ok(Json(json!({ "integration": show(&s, &app_id, &integration).await? })))
}

async fn patch_integration(
    State(s): State<AppState>,
    Caller(caller): Caller,
    Path((app_id, integration_id)): Path<(String, String)>,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    authorize(&s, &caller, &app_id, ACCOUNT_APP).await?;
    let patch = IntegrationPatch::parse(body)?;
    let integration = s.store.update_integration(&app_id, &integration_id, move |current| patch.apply(current)).await?;
    Ok(Json(json!({ "integration": show(&s, &app_id, &integration).await? })))
}

async fn delete_integration(State(s): State<AppState>, Caller(caller): Caller, Path((app_id, integration_id)): Path<(String, String)>) -> ApiResult<Json<Value>> {
    authorize(&s, &caller, &app_id, ACCOUNT_APP).await?;
    s.store.delete_integration(&app_id, &integration_id).await?;
    Ok(Json(json!({})))
}

// ---- Custom Integration API Keys ----

async fn create_key(
    State(s): State<AppState>,
    Caller(caller): Caller,
    Path((app_id, integration_id)): Path<(String, String)>,
    JsonBody(body): JsonBody,
) -> ApiResult<(StatusCode, Json<Value>)> {
    authorize(&s, &caller, &app_id, ACCOUNT_APP).await?;
    let name = key_display_name(body)?;
    let key = s.store.create_integration_key(&app_id, &integration_id, &name).await?;
    Ok((StatusCode::CREATED, Json(json!({ "key": key }))))
}

async fn list_keys(State(s): State<AppState>, Caller(caller): Caller, Path((app_id, integration_id)): Path<(String, String)>) -> ApiResult<Json<Value>> {
    authorize(&s, &caller, &app_id, ACCOUNT_APP).await?;
    Ok(Json(json!({ "keys": s.store.list_integration_keys(&app_id, &integration_id).await? })))
}

async fn get_key(State(s): State<AppState>, Caller(caller): Caller, Path((app_id, integration_id, key_id)): Path<(String, String, String)>) -> ApiResult<Json<Value>> {
    authorize(&s, &caller, &app_id, ACCOUNT_APP).await?;
    Ok(Json(json!({ "key": s.store.get_integration_key(&app_id, &integration_id, &key_id).await? })))
}

async fn delete_key(State(s): State<AppState>, Caller(caller): Caller, Path((app_id, integration_id, key_id)): Path<(String, String, String)>) -> ApiResult<Json<Value>> {
    authorize(&s, &caller, &app_id, ACCOUNT_APP).await?;
    s.store.delete_integration_key(&app_id, &integration_id, &key_id).await?;
    Ok(Json(json!({})))
}
