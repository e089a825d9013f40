//! Clients and Devices: CreateClient, ListClients, RemoveClient, ListDevices, GetDevice.
//! Paths take the user's `id` or its `externalId`; `brandId` is accepted and, with no
//! brand separation here, changes nothing.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::apps::authorize;
use super::error::ApiResult;
use super::extract::{Caller, JsonBody, QueryMap};
use super::paging::{base_url, carried_query, list_body};
use super::AppState;
use crate::domain::auth::{Principal, ACCOUNT_APP_INTEGRATION};
use crate::domain::client::{device, parse_client_create, ClientRecord};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v2/apps/{app_id}/users/{user}/clients", get(list_clients).post(create_client))
        .route("/v2/apps/{app_id}/users/{user}/clients/{client_id}", delete(remove_client))
        .route("/v2/apps/{app_id}/users/{user}/devices", get(list_devices))
        .route("/v2/apps/{app_id}/users/{user}/devices/{device_id}", get(get_device))
}

/// The `source` of events caused through the API.
pub(super) fn api_source(caller: &Principal) -> Value {
    let mut source = json!({ "type": "api:conversations" });
    if let Some(i) = caller.integration_id() {
        source["integrationId"] = json!(i);
    }
    source
}

async fn create_client(
    State(s): State<AppState>,
    Caller(caller): Caller,
    Path((app_id, user)): Path<(String, String)>,
    JsonBody(body): JsonBody,
) -> ApiResult<(StatusCode, Json<Value>)> {
    authorize(&s, &caller, &app_id, ACCOUNT_APP_INTEGRATION).await?;
    let new = parse_client_create(&body)?;
    let client = s.store.create_channel_client(&app_id, &user, new, api_source(&caller)).await?;
    Ok((StatusCode::CREATED, Json(json!({ "client": client.to_v2() }))))
}

async fn list_clients(State(s): State<AppState>, Caller(caller): Caller, Path((app_id, user)): Path<(String, String)>, q: QueryMap, headers: HeaderMap) -> ApiResult<Json<Value>> {
    authorize(&s, &caller, &app_id, ACCOUNT_APP_INTEGRATION).await?;
    let page = s.store.list_clients(&app_id, &user, &q.page()?).await?;
    let path = format!("/v2/apps/{app_id}/users/{user}/clients");
    Ok(Json(list_body("clients", page, |c: ClientRecord| c.to_v2(), &base_url(&s, &headers), &path, &carried_query("", &q))))
}

async fn remove_client(State(s): State<AppState>, Caller(caller): Caller, Path((app_id, user, client_id)): Path<(String, String, String)>) -> ApiResult<Json<Value>> {
    authorize(&s, &caller, &app_id, ACCOUNT_APP_INTEGRATION).await?;
    s.store.remove_client(&app_id, &user, &client_id, api_source(&caller)).await?;
    Ok(Json(json!({})))
}

async fn list_devices(State(s): State<AppState>, Caller(caller): Caller, Path((app_id, user)): Path<(String, String)>) -> ApiResult<Json<Value>> {
    authorize(&s, &caller, &app_id, ACCOUNT_APP_INTEGRATION).await?;
    let devices: Vec<Value> = s.store.list_devices(&app_id, &user).await?.iter().map(device).collect();
    Ok(Json(json!({ "devices": devices })))
}

async fn get_device(State(s): State<AppState>, Caller(caller): Caller, Path((app_id, user, device_id)): Path<(String, String, String)>) -> ApiResult<Json<Value>> {
    authorize(&s, &caller, &app_id, ACCOUNT_APP_INTEGRATION).await?;
    Ok(Json(json!({ "device": device(&s.store.get_device(&app_id, &user, &device_id).await?) })))
}
