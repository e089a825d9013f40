//! What operators see of the HTTP layer: every request gets an id (the caller's
//! `x-request-id` when it sent a sane one, else a new one), returned in `x-request-id` and
//! carried by every log line of the request (a `request` span); each answer is counted
//! and timed by route template (`/v2/apps/{appId}`, never the raw path, whose ids would
//! make a series per resource) and status. `GET /metrics` renders `crate::metrics`.

use std::future::Future;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tracing::Instrument;

use super::AppState;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The route template a response was routed by (set inside routing, read outside it).
#[derive(Clone)]
struct Route(String);

/// Inside routing: remembers the matched route's template on the response (read by
/// [`observe`] for the request's metrics).
pub fn remember_route(res: &mut Response, template: &str) {
    res.extensions_mut().insert(Route(template.to_string()));
}

/// A request id from the caller is kept if it is short printable ASCII (a proxy's, so
/// that one id follows the request through both logs).
fn caller_id(v: &HeaderValue) -> Option<String> {
    let s = v.to_str().ok()?;
    (!s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_graphic())).then(|| s.to_string())
}

/// Outermost (in `http::edge`): id, span, timing, metrics, access log, around `next`.
pub async fn observe<Fut: Future<Output = Response>>(mut req: Request, next: impl FnOnce(Request) -> Fut) -> Response {
    let started = Instant::now();
    let id = req.headers().get(&REQUEST_ID).and_then(caller_id).unwrap_or_else(crate::domain::ids::new_id);
    let value = HeaderValue::from_str(&id).expect("printable ASCII");
    req.headers_mut().insert(REQUEST_ID, value.clone());
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let span = tracing::info_span!("request", id = %id, method = %method);
    let mut res = next(req).instrument(span.clone()).await;
    res.headers_mut().insert(REQUEST_ID, value);
    let route = res.extensions().get::<Route>().map(|r| r.0.clone()).unwrap_or_else(|| "unmatched".into());
    let status = res.status().as_u16();
    let elapsed = started.elapsed();
    crate::metrics::http_request(&route, method.as_str(), status, elapsed);
    let _in = span.enter();
    let ms = elapsed.as_secs_f64() * 1000.0;
    if status >= 500 {
        tracing::warn!(target: "sunbeam::access", %route, %path, status, ms, "request failed");
    } else {
        tracing::debug!(target: "sunbeam::access", %route, %path, status, ms, "request");
    }
    res
}

/// Open WebSockets of this process (a guard per socket).
static OPEN_SOCKETS: AtomicI64 = AtomicI64::new(0);

pub struct OpenSocket;

impl OpenSocket {
    pub fn new() -> OpenSocket {
        OPEN_SOCKETS.fetch_add(1, Ordering::Relaxed);
        OpenSocket
    }
}

impl Default for OpenSocket {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for OpenSocket {
    fn drop(&mut self) {
        OPEN_SOCKETS.fetch_sub(1, Ordering::Relaxed);
    }
}

/// `GET /metrics`: the Prometheus text format. Gauges that are state rather than events
/// (queue depth, connections) are read now.
pub async fn metrics(State(state): State<AppState>) -> Response {
    if let Some(n) = crate::os::open_files_limit() {
        crate::metrics::open_files_limit(n);
    }
    let stats = state.realtime.bayeux().stats();
    crate::metrics::realtime_state(OPEN_SOCKETS.load(Ordering::Relaxed).max(0) as usize, &stats);
    match tokio::time::timeout(Duration::from_secs(2), state.store.pending_deliveries()).await {
        Ok(Ok(n)) => crate::metrics::webhook_queue(n),
        Ok(Err(e)) => tracing::warn!(error = %e, "metrics: cannot count pending webhook deliveries"),
        Err(_) => tracing::warn!("metrics: counting pending webhook deliveries timed out"),
    }
    let body = crate::metrics::render();
    (StatusCode::OK, [(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body).into_response()
}
