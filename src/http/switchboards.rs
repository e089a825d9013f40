//! The switchboard's three tags. Switchboards: CreateSwitchboard, ListSwitchboards,
//! UpdateSwitchboard, DeleteSwitchboard. Switchboard Integrations: Create, List, Update,
//! Delete (account and app scope, as the spec says: integrations cannot reconfigure the
//! switchboard). Switchboard Actions: PassControl, OfferControl, AcceptControl,
//! ReleaseControl (integration scope too; an integration is refused what only the one in
//! control, or the one offered control, may do).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{patch, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::apps::authorize;
use super::error::ApiResult;
use super::extract::{Caller, JsonBody};
use super::AppState;
use crate::domain::auth::{ACCOUNT_APP, ACCOUNT_APP_INTEGRATION};
use crate::domain::switchboard::{parse_control, parse_new_switchboard_integration, parse_switchboard_integration_update, parse_switchboard_update, ActionKind};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v2/apps/{app_id}/switchboards", post(create_switchboard).get(list_switchboards))
        .route("/v2/apps/{app_id}/switchboards/{switchboard_id}", patch(update_switchboard).delete(delete_switchboard))
        .route("/v2/apps/{app_id}/switchboards/{switchboard_id}/switchboardIntegrations", post(create_integration).get(list_integrations))
        .route("/v2/apps/{app_id}/switchboards/{switchboard_id}/switchboardIntegrations/{switchboard_integration_id}", patch(update_integration).delete(delete_integration))
        .route("/v2/apps/{app_id}/conversations/{conversation_id}/passControl", post(pass_control))
        .route("/v2/apps/{app_id}/conversations/{conversation_id}/offerControl", post(offer_control))
        .route("/v2/apps/{app_id}/conversations/{conversation_id}/acceptControl", post(accept_control))
        .route("/v2/apps/{app_id}/conversations/{conversation_id}/releaseControl", post(release_control))
}

// ---- switchboards ----

/// CreateSwitchboard takes no body; whatever is sent is ignored.
async fn create_switchboard(State(s): State<AppState>, Caller(caller): Caller, Path(app_id): Path<String>) -> ApiResult<(StatusCode, Json<Value>)> {
    authorize(&s, &caller, &app_id, ACCOUNT_APP).await?;
    let switchboard = s.store.create_switchboard(&app_id).await?;
    Ok((StatusCode::CREATED, Json(json!({ "switchboard": switchboard }))))
}

async fn list_switchboards(State(s): State<AppState>, Caller(caller): Caller, Path(app_id): Path<String>) -> ApiResult<Json<Value>> {
    authorize(&s, &caller, &app_id, ACCOUNT_APP).await?;
    Ok(Json(json!({ "switchboards": s.store.list_switchboards(&app_id).await? })))
}

async fn update_switchboard(
    State(s): State<AppState>,
    Caller(caller): Caller,
    Path((app_id, switchboard_id)): Path<(String, String)>,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    authorize(&s, &caller, &app_id, ACCOUNT_APP).await?;
    let patch = parse_switchboard_update(body)?;
    Ok(Json(json!({ "switchboard": s.store.update_switchboard(&app_id, &switchboard_id, patch).await? })))
}

async fn delete_switchboard(State(s): State<AppState>, Caller(caller): Caller, Path((app_id, switchboard_id)): Path<(String, String)>) -> ApiResult<Json<Value>> {
    authorize(&s, &caller, &app_id, ACCOUNT_APP).await?;
    s.store.delete_switchboard(&app_id, &switchboard_id).await?;
    Ok(Json(json!({})))
}

// ---- switchboard integrations ----

async fn create_integration(
    State(s): State<AppState>,
    Caller(caller): Caller,
    Path((app_id, switchboard_id)): Path<(String, String)>,
    JsonBody(body): JsonBody,
) -> ApiResult<(StatusCode, Json<Value>)> {
    authorize(&s, &caller, &app_id, ACCOUNT_APP).await?;
    let new = parse_new_switchboard_integration(body)?;
    let created = s.store.create_switchboard_integration(&app_id, &switchboard_id, new).await?;
    Ok((StatusCode::CREATED, Json(json!({ "switchboardIntegration": created }))))
}

async fn list_integrations(State(s): State<AppState>, Caller(caller): Caller, Path((app_id, switchboard_id)): Path<(String, String)>) -> ApiResult<Json<Value>> {
    authorize(&s, &caller, &app_id, ACCOUNT_APP).await?;
    Ok(Json(json!({ "switchboardIntegrations": s.store.list_switchboard_integrations(&app_id, &switchboard_id).await? })))
}

async fn update_integration(
    State(s): State<AppState>,
    Caller(caller): Caller,
    Path((app_id, switchboard_id, id)): Path<(String, String, String)>,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    authorize(&s, &caller, &app_id, ACCOUNT_APP).await?;
    let patch = parse_switchboard_integration_update(body)?;
    let updated = s.store.update_switchboard_integration(&app_id, &switchboard_id, &id, patch).await?;
    Ok(Json(json!({ "switchboardIntegration": updated })))
}

async fn delete_integration(State(s): State<AppState>, Caller(caller): Caller, Path((app_id, switchboard_id, id)): Path<(String, String, String)>) -> ApiResult<Json<Value>> {
    authorize(&s, &caller, &app_id, ACCOUNT_APP).await?;
    s.store.delete_switchboard_integration(&app_id, &switchboard_id, &id).await?;
    Ok(Json(json!({})))
}

// ---- actions ----

async fn control(s: AppState, caller: crate::domain::auth::Principal, app_id: String, conversation_id: String, kind: ActionKind, body: Value) -> ApiResult<Json<Value>> {
    authorize(&s, &caller, &app_id, ACCOUNT_APP_INTEGRATION).await?;
    let request = parse_control(kind, body)?;
    s.store.control_conversation(&app_id, &conversation_id, request, caller.integration_id().map(str::to_string)).await?;
    Ok(Json(json!({})))
}

async fn pass_control(State(s): State<AppState>, Caller(caller): Caller, Path((app_id, id)): Path<(String, String)>, JsonBody(body): JsonBody) -> ApiResult<Json<Value>> {
    control(s, caller, app_id, id, ActionKind::Pass, body).await
}

async fn offer_control(State(s): State<AppState>, Caller(caller): Caller, Path((app_id, id)): Path<(String, String)>, JsonBody(body): JsonBody) -> ApiResult<Json<Value>> {
    control(s, caller, app_id, id, ActionKind::Offer, body).await
}

async fn accept_control(State(s): State<AppState>, Caller(caller): Caller, Path((app_id, id)): Path<(String, String)>, JsonBody(body): JsonBody) -> ApiResult<Json<Value>> {
    control(s, caller, app_id, id, ActionKind::Accept, body).await
}

async fn release_control(State(s): State<AppState>, Caller(caller): Caller, Path((app_id, id)): Path<(String, String)>, JsonBody(body): JsonBody) -> ApiResult<Json<Value>> {
    control(s, caller, app_id, id, ActionKind::Release, body).await
}
