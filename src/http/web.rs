//! The web messenger: `GET /web/messenger.js` serves the widget bundle, and
//! `GET /web/demo?integrationId=…` a page that embeds it. The demo holds no keys: it only
//! names a web integration, whose config the widget fetches like any embedding page.
//!
//! The bundle is compiled into the binary from `web/bundle/` (committed, built from `web/src`
//! by `npm run build`; `scripts/test` proves it is byte-identical to a rebuild), so the
//! binary serves it from any working directory with no Node.js anywhere. `SUNBEAM_WEB_DIR`
//! points at a folder that overrides it while developing the widget, file by file.

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;

use super::paging::base_url;
use super::AppState;
use crate::domain::ids::is_id;
use crate::domain::integration::is_sdk;

/// The demo page template (committed source, compiled in).
const DEMO_TEMPLATE: &str = include_str!("../../web/demo.html");
/// The committed bundle and its source map, compiled in.
const MESSENGER_JS: &[u8] = include_bytes!("../../web/bundle/messenger.js");
const MESSENGER_MAP: &[u8] = include_bytes!("../../web/bundle/messenger.js.map");

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/web/messenger.js", get(messenger_js))
        .route("/web/messenger.js.map", get(messenger_map))
        .route("/web/demo", get(demo))
}

async fn messenger_js(State(s): State<AppState>) -> Response {
    bundle_file(&s, "messenger.js", MESSENGER_JS, "application/javascript; charset=utf-8").await
}

async fn messenger_map(State(s): State<AppState>) -> Response {
    bundle_file(&s, "messenger.js.map", MESSENGER_MAP, "application/json").await
}

/// One fixed file name of the bundle (no path from the request): from `SUNBEAM_WEB_DIR`
/// when it is set and holds the file, else the compiled-in copy.
async fn bundle_file(s: &AppState, name: &str, embedded: &'static [u8], content_type: &'static str) -> Response {
    let from_dir = match &s.web_dir {
        Some(dir) => tokio::fs::read(dir.join(name)).await.ok(),
        None => None,
    };
    let (body, source) = match from_dir {
        Some(bytes) => (axum::body::Body::from(bytes), "dir"),
        None => (axum::body::Body::from(embedded), "embedded"),
    };
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*")),
            (header::HeaderName::from_static("x-sunbeam-bundle"), HeaderValue::from_static(source)),
        ],
        body,
    )
        .into_response()
}

#[derive(Deserialize)]
struct DemoQuery {
    #[serde(rename = "integrationId")]
    integration_id: Option<String>,
}

async fn demo(State(s): State<AppState>, headers: HeaderMap, Query(q): Query<DemoQuery>) -> Response {
    let id = q.integration_id.map(|i| i.trim().to_string()).filter(|i| !i.is_empty());
    let Some(id) = id else { return Html(form_page(None)).into_response() };
    if !is_id(&id) || !is_web_integration(&s, &id).await {
        // 200 with the form again (an error status would be rewritten into the JSON envelope).
        return Html(form_page(Some("No web integration has that id."))).into_response();
    }
    let origin = escape(&base_url(&s, &headers));
    Html(DEMO_TEMPLATE.replace("{{INTEGRATION_ID}}", &id).replace("{{ORIGIN}}", &origin)).into_response()
}

async fn is_web_integration(s: &AppState, id: &str) -> bool {
    let Ok(app_id) = s.store.integration_app(id).await else { return false };
    matches!(s.store.get_integration(&app_id, id).await, Ok(i) if is_sdk(&i.kind))
}

fn form_page(error: Option<&str>) -> String {
    let error = error.map(|e| format!("<p role=\"alert\" style=\"color:#d1242f\">{}</p>", escape(e))).unwrap_or_default();
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sunbeam web messenger demo</title>
<style>body{{font-family:system-ui,sans-serif;max-width:680px;margin:40px auto;padding:0 16px;line-height:1.5}}code,pre{{background:#f6f8fa}}input{{width:100%;padding:6px 8px;font:inherit}}button{{margin-top:8px;padding:6px 14px;font:inherit}}</style>
</head><body><main>
<h1>Sunbeam web messenger demo</h1>
{error}
<p>Create an app and a web integration with an account key (see README, "Web messenger"), then paste the integration id:</p>
<form method="get" action="/web/demo">
<label for="integration-id">Web integration id</label>
<input id="integration-id" name="integrationId" required pattern="[0-9a-f]{{24}}" autocomplete="off">
<button type="submit">Open the demo</button>
</form>
</main></body></html>
"#
    )
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}
