//! The HTTP layer: routes, extractors, and the wire shapes of responses. One module per
//! tag of the spec; each owns its `router()`.

/// Activities: read receipts and typing.
mod activities;
/// Apps (account scope).
mod apps;
/// Attachments: uploads (business API and SDK) and serving the files.
mod attachments;
/// Channel-only operations (Apple, Meta, Zendesk), refused as for users without them.
mod channels;
/// Clients and devices of a user.
mod clients;
/// Conversations.
mod conversations;
/// Realtime delivery's `/faye` endpoint: WebSocket, long-polling, JSONP callback-polling.
mod faye;
/// The error envelope, mapped once.
pub mod error;
/// Body, query and credential extractors.
mod extract;
/// Integrations and their API keys.
mod integrations;
/// App keys (account scope).
mod keys;
/// Messages.
mod messages;
/// `originWhitelist` on the SDK API.
mod origin;
/// Page links and meta.
mod paging;
/// OAuth for partners, and tokenInfo.
mod oauth;
/// Participants: join, leave, list.
mod participants;
/// The end-user SDK API (`/sdk/v2/…`): its own auth, error shape and CORS.
mod sdk;
/// Switchboards, switchboard integrations, and the control actions on conversations.
mod switchboards;
/// Users.
mod users;
/// Webhooks (app/integration scope) and the operators' delivery status.
mod webhooks;
/// The web messenger bundle (`/web/messenger.js`) and its demo page (`/web/demo`).
mod web;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use tower_http::catch_panic::CatchPanicLayer;

use crate::store::Store;
use error::ApiError;

/// JSON bodies larger than this are refused with 413 (the spec's limit).
pub const MAX_JSON_BODY: usize = 100 * 1024;

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    /// Base of absolute links (`links.next`…); when unset, taken from the Host header.
    pub public_url: Option<Arc<str>>,
    /// Live delivery to the SDKs (`/faye`).
    pub realtime: crate::realtime::Realtime,
    /// Where the built web messenger lives (`SUNBEAM_WEB_DIR`).
    pub web_dir: Arc<std::path::Path>,
    /// Uploaded files, under `DATA_DIR/attachments/`.
    pub attachments: crate::attachments::Attachments,
}

pub fn router(state: AppState) -> Router {
    let v2 = Router::new()
        .merge(apps::router())
        .merge(keys::router())
        .merge(users::router())
        .merge(clients::router())
        .merge(conversations::router())
        .merge(participants::router())
        .merge(messages::router())
        .merge(activities::router())
        .merge(integrations::router())
        .merge(webhooks::router())
        .merge(switchboards::router())
        .merge(oauth::router())
        .merge(channels::router());
    Router::new()
        .route("/health", get(health))
        .merge(v2)
        .merge(sdk::router())
        .merge(attachments::router())
        .merge(faye::router())
        .merge(web::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(state.clone(), origin::guard))
        .layer(DefaultBodyLimit::max(MAX_JSON_BODY))
        .layer(axum::middleware::map_response(error::envelope_plain_errors))
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", "Something went wrong on our end").into_response()
        }))
        .with_state(state)
}

async fn health(State(state): State<AppState>) -> impl IntoResponse {
    match tokio::time::timeout(Duration::from_secs(2), state.store.ping()).await {
        Ok(Ok(())) => (StatusCode::OK, Json(json!({"status": "ok"}))).into_response(),
        _ => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "service_unavailable", "The store is not reachable").into_response(),
    }
}

/// What the fallback says, so that no route reads differently from a missing resource
/// (`not_found` with "… not found" titles).
pub const NO_ROUTE: &str = "no such route";

async fn not_found(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::not_found(format!("Resource not found ({NO_ROUTE}: {method} {})", uri.path()))
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "Method not allowed")
}
