//! The Bayeux endpoint `/faye` on its three transports, over the transport-agnostic
//! protocol core in `realtime::bayeux` (which this module only feeds and drains):
//!
//! - `POST` long-polling: a JSON array body (`application/json`), or a `message=` form
//!   body (faye's cross-origin XHR transport);
//! - `GET ?message=…&jsonp=…` callback-polling (JSONP: what the faye browser client
//!   handshakes with from a page of another origin), answered as `/**/cb([…]);`;
//! - `GET` with `Upgrade: websocket`: one JSON array of messages per text frame, both ways.
//!
//! Browsers get CORS headers (the origin echoed, credentials allowed) and preflights.
//! Heartbeats are the held `/meta/connect` replies (every `timeout`); a socket that sends
//! nothing for the client ttl is closed, and a socket that cannot take a write within
//! [`WRITE_TIMEOUT`] is closed and its client dropped as a slow consumer.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::Value;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::AppState;
use crate::realtime::auth::stamp_origin;
use crate::realtime::bayeux::{json_array, Bayeux, Client, Gone, Held, Taken, Transport};

/// The path the SDKs' `settings.realtime.baseUrl` should point at.
pub const PATH: &str = "/faye";

/// A WebSocket write that takes longer than this means the peer does not read.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Per-socket buffers are what 50k idle connections cost: keep them small.
const WS_READ_BUFFER: usize = 1024;
const WS_MAX_WRITE_BUFFER: usize = 256 * 1024;
const WS_MAX_MESSAGE: usize = 64 * 1024;

const DEFAULT_JSONP: &str = "jsonpcallback";

pub fn router() -> Router<AppState> {
    Router::new().route(PATH, get(get_faye).post(post_faye).options(preflight))
}

fn bayeux(state: &AppState) -> Arc<Bayeux> {
    state.realtime.bayeux().clone()
}

fn text(status: StatusCode, body: &str) -> Response {
    (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body.to_string()).into_response()
}

/// CORS for browsers, as faye's own server answers: the origin echoed with credentials.
fn cors(request: &HeaderMap, response: &mut HeaderMap) {
    if let Some(origin) = request.get(header::ORIGIN) {
        response.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        response.insert(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, HeaderValue::from_static("true"));
        response.insert(header::VARY, HeaderValue::from_static("Origin"));
    }
}

async fn preflight(headers: HeaderMap) -> Response {
    let mut res = StatusCode::OK.into_response();
    let h = res.headers_mut();
    let origin = headers.get(header::ORIGIN).cloned().unwrap_or(HeaderValue::from_static("*"));
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    h.insert(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, HeaderValue::from_static("true"));
    h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("POST, GET, OPTIONS"));
    let allow = headers
        .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .cloned()
        .unwrap_or(HeaderValue::from_static("Accept, Authorization, Content-Type, Pragma, X-Requested-With"));
    h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, allow);
    h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("86400"));
    h.insert(header::VARY, HeaderValue::from_static("Origin"));
    res
}

/// Runs a polling request: the immediate replies, then a held connect's reply and
/// whatever it collected.
async fn poll(bayeux: &Bayeux, messages: Value, transport: Transport) -> String {
    let outcome = bayeux.process(messages, transport).await;
    let mut out = outcome.replies;
    if let Some(held) = outcome.connect {
        out.extend(bayeux.wait(held).await);
    }
    json_array(&out)
}

/// Bayeux messages, or None when `raw` is not; text holding NUL is not (see
/// `domain::validate::NUL_TEXT`).
fn parse_messages(raw: &str) -> Option<Value> {
    match serde_json::from_str::<Value>(raw) {
        Ok(v @ (Value::Array(_) | Value::Object(_))) if crate::domain::validate::refuse_nul_in_json(&v).is_ok() => Some(v),
        _ => None,
    }
}

fn no_cache(h: &mut HeaderMap) {
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache, no-store"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
}

async fn post_faye(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case("application/json"))
        .unwrap_or(false);
    let Ok(body) = std::str::from_utf8(&body) else { return text(StatusCode::BAD_REQUEST, "Bad request") };
    let raw = if is_json {
        Some(body.to_string())
    } else {
        serde_urlencoded::from_str::<HashMap<String, String>>(body).ok().and_then(|mut f| f.remove("message"))
    };
    let Some(mut messages) = raw.as_deref().and_then(parse_messages) else {
        return text(StatusCode::BAD_REQUEST, "Bad request: expected Bayeux messages");
    };
    stamp_origin(&mut messages, origin_of(&headers).as_deref());
    let body = poll(&bayeux(&state), messages, Transport::LongPolling).await;
    let mut res = (StatusCode::OK, [(header::CONTENT_TYPE, "application/json; charset=utf-8")], body).into_response();
    no_cache(res.headers_mut());
    cors(&headers, res.headers_mut());
    res
}

fn origin_of(headers: &HeaderMap) -> Option<String> {
    headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()).map(str::to_string)
}

fn is_websocket_upgrade(headers: &HeaderMap) -> bool {
    headers.get(header::UPGRADE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// A JSONP callback name as faye accepts it: dotted identifiers.
fn valid_callback(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name.split('.').all(|part| {
            let mut chars = part.chars();
            matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == '$')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
        })
}

async fn get_faye(State(state): State<AppState>, request: Request) -> Response {
    let (mut parts, _) = request.into_parts();
    if is_websocket_upgrade(&parts.headers) {
        return match WebSocketUpgrade::from_request_parts(&mut parts, &state).await {
            Ok(upgrade) => {
                let bayeux = bayeux(&state);
                let origin = origin_of(&parts.headers);
                upgrade
                    .read_buffer_size(WS_READ_BUFFER)
                    .write_buffer_size(0)
                    .max_write_buffer_size(WS_MAX_WRITE_BUFFER)
                    .max_message_size(WS_MAX_MESSAGE)
                    .max_frame_size(WS_MAX_MESSAGE)
                    .on_upgrade(move |socket| websocket(bayeux, socket, origin))
            }
            Err(rejection) => rejection.into_response(),
        };
    }
    let query: HashMap<String, String> = serde_urlencoded::from_str(parts.uri.query().unwrap_or("")).unwrap_or_default();
    let Some(mut messages) = query.get("message").and_then(|m| parse_messages(m)) else {
        return text(StatusCode::BAD_REQUEST, "Bad request: expected Bayeux messages");
    };
    stamp_origin(&mut messages, origin_of(&parts.headers).as_deref());
    let callback = query.get("jsonp").map(String::as_str).unwrap_or(DEFAULT_JSONP);
    if !valid_callback(callback) {
        return text(StatusCode::BAD_REQUEST, "Bad request: invalid JSONP callback");
    }
    let body = poll(&bayeux(&state), messages, Transport::CallbackPolling).await;
    // U+2028/2029 are valid in JSON but end a line in older JavaScript.
    let body = body.replace('\u{2028}', "\\u2028").replace('\u{2029}', "\\u2029");
    let script = format!("/**/{callback}({body});");
    let mut res = (StatusCode::OK, [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], script).into_response();
    let h = res.headers_mut();
    no_cache(h);
    h.insert(header::CONTENT_DISPOSITION, HeaderValue::from_static("attachment; filename=f.txt"));
    cors(&parts.headers, h);
    res
}

/// Sends one frame, or says the socket is done for.
async fn send(socket: &mut WebSocket, text: String) -> Result<(), SendError> {
    match tokio::time::timeout(WRITE_TIMEOUT, socket.send(Message::Text(text.into()))).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(SendError::Closed),
        Err(_) => Err(SendError::Slow),
    }
}

enum SendError {
    Closed,
    Slow,
}

/// One WebSocket: messages in, replies and published messages out. The socket attaches
/// to the client its messages name (as faye does): that client's messages are pushed as
/// they are published, without waiting for a connect.
async fn websocket(bayeux: Arc<Bayeux>, mut socket: WebSocket, origin: Option<String>) {
    let _open = crate::http::observe::OpenSocket::new();
    let idle = bayeux.settings().client_ttl();
    let never = Notify::new();
    let mut attached: Option<Arc<Client>> = None;
    let mut held: Option<Held> = None;
    let mut last_in = Instant::now();
    let result: Result<(), SendError> = 'conn: loop {
        let client = attached.clone();
        let published = match &client {
            Some(c) => c.notified(),
            None => never.notified(),
        };
        let closing = bayeux.closing();
        tokio::pin!(published, closing);
        published.as_mut().enable();
        closing.as_mut().enable();

        if bayeux.is_closing() {
            if let Some(h) = held.take() {
                let _ = send(&mut socket, json_array(&[h.gone_reply(Gone::Shutdown, bayeux.settings())])).await;
            }
            break Ok(());
        }
        if let Some(c) = &client {
            match c.take() {
                Taken::Gone(g) => {
                    if let Some(h) = held.take() {
                        let _ = send(&mut socket, json_array(&[h.gone_reply(g, bayeux.settings())])).await;
                    }
                    break Ok(());
                }
                Taken::Messages(m) if !m.is_empty() => {
                    if let Err(e) = send(&mut socket, json_array(&m)).await {
                        break Err(e);
                    }
                    continue;
                }
                Taken::Messages(_) => {}
            }
        }
        if held.as_ref().is_some_and(Held::superseded) {
            let h = held.take().expect("checked");
            if let Err(e) = send(&mut socket, json_array(&[h.reply()])).await {
                break Err(e);
            }
        }
        let idle_at = last_in + idle;
        let deadline = held.as_ref().map_or(idle_at, |h| h.deadline.min(idle_at));
        tokio::select! {
            _ = &mut published => {}
            _ = &mut closing => {}
            _ = tokio::time::sleep_until(deadline) => {
                let now = Instant::now();
                if held.as_ref().is_some_and(|h| now >= h.deadline) {
                    let h = held.take().expect("checked");
                    if let Err(e) = send(&mut socket, json_array(&[h.reply()])).await {
                        break Err(e);
                    }
                }
                if now >= last_in + idle {
                    break Ok(());
                }
            }
            frame = socket.recv() => {
                let text = match frame {
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {
                        last_in = Instant::now();
                        continue;
                    }
                    // Bayeux is text; anything else ends the conversation.
                    _ => break Ok(()),
                };
                last_in = Instant::now();
                let Some(mut messages) = parse_messages(text.as_str()) else { continue };
                stamp_origin(&mut messages, origin.as_deref());
                let outcome = bayeux.process(messages, Transport::WebSocket).await;
                if let Some(cid) = outcome.client_ids.last() {
                    if attached.as_ref().is_none_or(|c| c.id() != cid) {
                        attached = bayeux.client(cid);
                    }
                }
                let mut replies = outcome.replies;
                if let Some(new) = outcome.connect {
                    if let Some(old) = held.replace(new) {
                        replies.insert(0, old.reply());
                    }
                }
                if !replies.is_empty() {
                    if let Err(e) = send(&mut socket, json_array(&replies)).await {
                        break 'conn Err(e);
                    }
                }
            }
        }
    };
    if let Err(SendError::Slow) = result {
        if let Some(c) = &attached {
            tracing::info!(client = c.id(), "realtime: dropping a WebSocket client that does not read");
            bayeux.drop_client(c.id(), Gone::SlowConsumer);
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), socket.send(Message::Close(None))).await;
}

#[cfg(test)]
mod tests {
    use super::valid_callback;

    #[test]
    fn jsonp_callbacks_are_identifiers() {
        for ok in ["__jsonp1__", "jsonpcallback", "a.b.c", "$x", "_"] {
            assert!(valid_callback(ok), "{ok}");
        }
        for bad in ["", "1a", "a..b", "alert(1)", "a;b", "a b", ".a", "a."] {
            assert!(!valid_callback(bad), "{bad}");
        }
    }
}
