//! `originWhitelist` on the SDK API: a browser request (it carries `Origin`) to
//! `/sdk/…` from an origin none of the app's web integrations allows is refused with 403
//! in the SDK's error shape, preflights included, so it never gets CORS headers either.
//! Requests without `Origin` (servers, native SDKs) are not browsers' and pass.
//! `/faye` checks the origin at subscribe time, when the app is known
//! (`realtime::auth`).

use std::future::Future;

use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::AppState;

/// What an SDK path names: an app (`/sdk/v2/apps/{appId}/…`) or an integration
/// (`/sdk/v2/integrations/{integrationId}/config`).
enum Target<'a> {
    App(&'a str),
    Integration(&'a str),
}

fn target(path: &str) -> Option<Target<'_>> {
    let mut parts = path.strip_prefix("/sdk/v2/")?.split('/');
    match (parts.next(), parts.next()) {
        (Some("apps"), Some(id)) => Some(Target::App(id)),
        (Some("integrations"), Some(id)) => Some(Target::Integration(id)),
        _ => None,
    }
}

pub async fn guard<Fut: Future<Output = Response>>(s: &AppState, req: Request, next: impl FnOnce(Request) -> Fut) -> Response {
    let origin = req.headers().get(header::ORIGIN).and_then(|v| v.to_str().ok()).map(str::to_string);
    let (Some(origin), Some(target)) = (origin, target(req.uri().path())) else { return next(req).await };
    let allowed = match target {
        Target::App(id) => s.store.app_allows_origin(id, &origin).await,
        Target::Integration(id) => s.store.integration_allows_origin(id, &origin).await,
    };
    match allowed {
        Ok(true) => next(req).await,
        Ok(false) => {
            let description = format!("The origin {origin} is not in the originWhitelist of this app's web integrations");
            (StatusCode::FORBIDDEN, Json(json!({ "error": { "code": "forbidden", "description": description } }))).into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "origin check failed");
            (StatusCode::INTERNAL_SERVER_ERROR, Json(json!({ "error": { "code": "internal_error", "description": "Something went wrong on our end" } }))).into_response()
        }
    }
}
