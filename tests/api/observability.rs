//! What operators see: `x-request-id` on every answer, `GET /metrics` in the Prometheus
//! text format, and a Grafana dashboard (deploy/grafana/sunbeam.json) whose every query
//! names metrics a live server exports.

use std::collections::BTreeSet;

use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};

use crate::common::{hs256_jwt, TestApp};
use crate::realtime::Ws;

async fn scrape(app: &TestApp) -> String {
    let res = app.http.get(app.url("/metrics")).send().await.expect("request");
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/plain"), "{:?}", res.headers());
    res.text().await.unwrap()
}

/// Sample names in an exposition (`name{labels} value` or `name value`).
fn exported(text: &str) -> BTreeSet<String> {
    text.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()).filter_map(|l| l.split(|c| c == '{' || c == ' ').next()).map(str::to_string).collect()
}

#[tokio::test]
async fn every_answer_carries_a_request_id_and_a_sane_one_is_kept() {
    let app = TestApp::spawn().await;
    let res = app.http.get(app.url("/health")).send().await.unwrap();
    let id = res.headers()["x-request-id"].to_str().unwrap().to_string();
    assert!(crate::common::is_hex_id(&id), "{id}");
    let res = app.http.get(app.url("/v2/apps/nope")).header("x-request-id", "lb-1234").send().await.unwrap();
    assert_eq!(res.headers()["x-request-id"], "lb-1234");
    let res = app.http.get(app.url("/health")).header("x-request-id", "x".repeat(200)).send().await.unwrap();
    assert_ne!(res.headers()["x-request-id"].to_str().unwrap(), "x".repeat(200), "an oversized id is replaced");
}

#[tokio::test]
async fn metrics_count_requests_by_route_template_and_the_dashboard_queries_only_exported_names() {
    let app = TestApp::spawn().await;
    // Traffic for every family: requests and store writes, a webhook attempt, a realtime client.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook_url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, Router::new().route("/hook", post(|| async { "ok" }))).await.unwrap() });
    let app_id = app.create_app("Metrics").await;
    let (kid, secret) = app.create_app_key(&app_id).await;
    let (status, w) = app.account("POST", &format!("/v2/apps/{app_id}/integrations"), Some(json!({"type": "custom", "displayName": "hook", "webhooks": [{"target": hook_url, "triggers": ["conversation:message"]}]}))).await;
    assert_eq!(status, 201, "{w}");
    let ann = app.create_user(&app_id, Some("ann")).await;
    let (_, c) = app.account("POST", &format!("/v2/apps/{app_id}/conversations"), Some(json!({"type": "personal", "participants": [{"userId": ann}]}))).await;
    let conversation = format!("/v2/apps/{app_id}/conversations/{}", c["conversation"]["id"].as_str().unwrap());
    let mut ws = Ws::connect(app.addr).await;
    let jwt = hs256_jwt(&kid, &secret, json!({"scope": "user", "external_id": "ann"}));
    let (_, r) = ws.subscribe(&format!("/sdk/apps/{app_id}/appusers/{ann}"), json!({"jwt": jwt}), &mut Vec::new()).await;
    assert_eq!(r["successful"], true, "{r}");
    let (status, _) = app.account("POST", &format!("{conversation}/messages"), Some(json!({"author": {"type": "business"}, "content": {"type": "text", "text": "hi"}}))).await;
    assert_eq!(status, 201);
    app.webhooks_drained().await;

    let text = scrape(&app).await;
    let names = exported(&text);
    let line = text
        .lines()
        .find(|l| l.starts_with("sunbeam_http_requests_total{") && l.contains("route=\"/v2/apps/{app_id}/conversations/{conversation_id}/messages\"") && l.contains("status=\"201\""))
        .unwrap_or_else(|| panic!("no counter for PostMessage by its route template in:\n{text}"));
    assert!(line.contains("method=\"POST\""), "{line}");
    assert!(!text.contains(&app_id), "raw ids never become labels");
    assert!(text.contains("sunbeam_webhook_attempts_total{outcome=\"delivered\",reason=\"2xx\"}") || text.contains("sunbeam_webhook_attempts_total{reason=\"2xx\",outcome=\"delivered\"}"), "{text}");

    let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/grafana/sunbeam.json")).unwrap()).unwrap();
    let mut queried = BTreeSet::new();
    let mut exprs = 0;
    for panel in dashboard["panels"].as_array().unwrap() {
        for t in panel["targets"].as_array().unwrap() {
            let expr = t["expr"].as_str().unwrap();
            exprs += 1;
            let mut rest = expr;
            while let Some(at) = rest.find("sunbeam_") {
                let name: String = rest[at..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                rest = &rest[at + name.len()..];
                queried.insert(name);
            }
        }
    }
    assert!(exprs >= 10 && queried.len() >= 10, "{queried:?}");
    let missing: Vec<&String> = queried.iter().filter(|n| !names.contains(*n)).collect();
    assert!(missing.is_empty(), "the dashboard queries metrics the server does not export: {missing:?}\nexported: {names:?}");
}
