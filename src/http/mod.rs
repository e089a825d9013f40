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
/// Request ids, request metrics and logs, `GET /metrics`.
pub mod observe;
/// `originWhitelist` on the SDK API.
mod origin;
/// Overload protection: rate limits, header size and time limits.
pub mod limits;
/// The accept loop (hyper's HTTP/1 builder: header read timeout, bounded read buffer).
pub mod serve;
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

use axum::extract::{DefaultBodyLimit, OriginalUri, State};
use axum::http::{Method, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;

use crate::store::Store;
use error::ApiError;

/// JSON bodies larger than this are refused with 413 (the spec's limit).
pub const MAX_JSON_BODY: usize = 100 * 1024;


/// What every handler reads. axum clones the state for each request and each extractor
/// that takes it, so it is one `Arc`.
#[derive(Clone)]
pub struct AppState(Arc<Services>);

impl AppState {
    pub fn new(services: Services) -> Self {
        AppState(Arc::new(services))
    }
}

impl std::ops::Deref for AppState {
    type Target = Services;
    fn deref(&self) -> &Services {
        &self.0
    }
}

pub struct Services {
    pub store: Store,
    /// Base of absolute links (`links.next`…); when unset, taken from the Host header.
    pub public_url: Option<Arc<str>>,
    /// Live delivery to the SDKs (`/faye`).
    pub realtime: crate::realtime::Realtime,
    /// A folder that overrides the compiled-in web messenger (`SUNBEAM_WEB_DIR`).
    pub web_dir: Option<Arc<std::path::Path>>,
    /// Uploaded files, under `DATA_DIR/attachments/`.
    pub attachments: crate::attachments::Attachments,
    /// Rate limits and request limits (`limits.rs`).
    pub guard: limits::Guard,
}

pub fn router(state: AppState) -> Router {
    let guard = state.guard.clone();
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
    let app = Router::new()
        .route("/health", get(health))
        .route("/metrics", get(observe::metrics))
        .merge(v2)
        .merge(sdk::router())
        .merge(attachments::router())
        .merge(faye::router())
        .merge(web::router())
        // Few layers, in one `ServiceBuilder` (outermost first): every `Router::layer` boxes
        // what it wraps, and a middleware clones the service inside it and boxes its future
        // on every request (a dozen layers were a fifth of the async workers' time on
        // PostMessage). So the steps of a stack are functions around a continuation, called
        // by one middleware (`edge`, `request_checks`, `route_checks`), not a layer each.
        .route_layer(axum::middleware::from_fn(route_checks))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(
            ServiceBuilder::new()
                .layer(CatchPanicLayer::custom(|_| {
                    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", "Something went wrong on our end").into_response()
                }))
                .layer(DefaultBodyLimit::max(MAX_JSON_BODY))
                .layer(axum::middleware::from_fn_with_state(state.clone(), request_checks)),
        )
        .with_state(state);
    // Outside the routing above, so that it can rewrite the path the routes see.
    Router::new().fallback_service(app).layer(axum::middleware::from_fn_with_state(guard, edge))
}

/// Outside routing, outermost first: the request's observation ([`observe::observe`]),
/// the edge's limits ([`limits::edge`]), the base paths ([`base_paths`]). One middleware
/// for the three: each layer clones the service inside it and boxes its future on every
/// request.
async fn edge(State(guard): State<limits::Guard>, req: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    observe::observe(req, |req| limits::edge(&guard, req, |req| base_paths(req, |req| next.run(req)))).await
}

/// Around routing, outermost first: axum's own plain-text errors put in the spec's
/// envelope ([`error::envelope_plain_errors`]), a refused upload's body drained before
/// its answer ([`attachments::drain_refused_uploads`]), the SDK's `originWhitelist`
/// ([`origin::guard`]), a NUL in the path or query ([`extract::refuse_nul_in_uri`]). One
/// middleware for the four: each layer clones the service inside it and boxes its future
/// on every request.
async fn request_checks(State(state): State<AppState>, req: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    let res = attachments::drain_refused_uploads(req, |req| origin::guard(&state, req, |req| extract::refuse_nul_in_uri(req, |req| next.run(req)))).await;
    error::envelope_plain_errors(res).await
}

/// The route layer: what needs the matched route's template — the query parameters the
/// route takes ([`extract::unknown_query_refusal`]) and, on every answer, the template for
/// the request's metrics ([`observe::remember_route`]). One middleware for both: each layer
/// clones the route inside it and boxes its future on every request.
async fn route_checks(matched: axum::extract::MatchedPath, req: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    let mut res = match extract::unknown_query_refusal(matched.as_str(), &req) {
        Some(refused) => refused,
        None => next.run(req).await,
    };
    observe::remember_route(&mut res, matched.as_str());
    res
}

/// The prefix of the hosted service's base URL, `https://{subdomain}.zendesk.com/sc` (the
/// spec's first server): everything Sunbeam serves is also served under it (`/sc/v2/…`,
/// `/sc/sdk/v2/…`, `/sc/faye`, `/sc/attachments/…`), so moving a client over is a change
/// of host only.
pub const ZENDESK_PREFIX: &str = "/sc";

/// Serves `/sc/…` as `/…`, telling the handlers (through [`paging::BASE_PREFIX_HEADER`],
/// which a client cannot set) so that the links they write keep the prefix. Also names
/// the allowed methods in a 405's title, from the `Allow` header routing just set.
async fn base_paths<Fut: std::future::Future<Output = axum::response::Response>>(mut req: axum::extract::Request, next: impl FnOnce(axum::extract::Request) -> Fut) -> axum::response::Response {
    req.headers_mut().remove(paging::BASE_PREFIX_HEADER);
    if req.extensions().get::<OriginalUri>().is_none() {
        let original = OriginalUri(req.uri().clone());
        req.extensions_mut().insert(original);
    }
    let path = req.uri().path();
    if let Some(rest) = path.strip_prefix(ZENDESK_PREFIX).filter(|r| r.is_empty() || r.starts_with('/')) {
        let rest = if rest.is_empty() { "/" } else { rest };
        let path_and_query = match req.uri().query() {
            Some(q) => format!("{rest}?{q}"),
            None => rest.to_string(),
        };
        let mut parts = req.uri().clone().into_parts();
        if let Ok(pq) = path_and_query.parse() {
            parts.path_and_query = Some(pq);
            if let Ok(uri) = axum::http::Uri::from_parts(parts) {
                *req.uri_mut() = uri;
                req.headers_mut().insert(paging::BASE_PREFIX_HEADER, axum::http::HeaderValue::from_static(ZENDESK_PREFIX));
            }
        }
    }
    let method = req.method().clone();
    // The path as asked, for a 405's title: a clone of the URI shares its bytes.
    let asked = req.extensions().get::<OriginalUri>().map(|u| u.0.clone());
    let res = next(req).await;
    if res.status() != StatusCode::METHOD_NOT_ALLOWED {
        return res;
    }
    let shown = asked.as_ref().map(|u| u.path()).unwrap_or_default();
    let Some(allow) = res.headers().get(axum::http::header::ALLOW).cloned() else { return res };
    let allowed = allow.to_str().unwrap_or_default().replace(',', ", ");
    let title = format!("{method} is not allowed on {shown}: it accepts {allowed}");
    let mut res = ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", title).into_response();
    res.headers_mut().insert(axum::http::header::ALLOW, allow);
    res
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

async fn not_found(method: Method, OriginalUri(uri): OriginalUri) -> ApiError {
    ApiError::not_found(format!(
        "Resource not found ({NO_ROUTE}: {method} {}): the business API is under /v2/apps (or /sc/v2/apps), the SDK API under /sdk/v2",
        uri.path()
    ))
}

/// Routing sets `Allow`; [`base_paths`] names the allowed methods in the title.
async fn method_not_allowed(method: Method, OriginalUri(uri): OriginalUri) -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", format!("{method} is not allowed on {}", uri.path()))
}
