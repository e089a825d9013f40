//! Overload protection over HTTP: rate limits per key, per end user and per address
//! answer 429 in the caller's envelope with `Retry-After`, and one caller's burst never
//! throttles another.

use serde_json::json;
use sunbeam::config::LimitsConfig;

use crate::common::{assert_error, Spawn, TestApp};

/// Rates so low that a test's few requests cross them, and no refill during the test.
fn tight(key_burst: u32) -> LimitsConfig {
    LimitsConfig {
        rate_limits: true,
        rate_limit_key_per_second: 1,
        rate_limit_key_burst: key_burst,
        rate_limit_user_per_second: 1,
        rate_limit_user_burst: 3,
        ..LimitsConfig::default()
    }
}

#[tokio::test]
async fn a_burst_from_one_key_does_not_throttle_another() {
    // Each key may make 5 requests (the account key's 3 set-up calls fit in its own 5).
    let app = TestApp::spawn_with(Spawn { guard: Some(tight(5)), ..Spawn::default() }).await.unwrap();
    let app_id = app.create_app("Limits").await;
    let (k1b, s1b) = app.create_app_key(&app_id).await;
    let (k2b, s2b) = app.create_app_key(&app_id).await;
    let path = format!("/v2/apps/{app_id}");
    let one = TestApp::basic(&k1b, &s1b);
    let other = TestApp::basic(&k2b, &s2b);
    let mut answers = vec![];
    for _ in 0..8 {
        answers.push(app.http.get(app.url(&path)).header("authorization", &one).send().await.unwrap());
    }
    let statuses: Vec<u16> = answers.iter().map(|r| r.status().as_u16()).collect();
    assert_eq!(&statuses[..5], &[200; 5], "the burst allowance: {statuses:?}");
    assert!(statuses[5..].iter().all(|s| *s == 429), "then refused: {statuses:?}");
    let refused = answers.pop().unwrap();
    let retry_after: u64 = refused.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry_after >= 1, "{retry_after}");
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_error(429, &body, 429, "too_many_requests");

    // The other key of the same app, and a forged use of the throttled key's id, are
    // unaffected: the budget is spent only by verified requests of that key.
    for _ in 0..5 {
        let (status, body) = app.call("GET", &path, Some(&other), None).await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, body) = app.call("GET", &path, Some(&TestApp::basic(&k1b, "wrong")), None).await;
    assert_error(status, &body, 401, "unauthorized");
}

#[tokio::test]
async fn an_sdk_user_over_its_rate_gets_429_in_the_sdk_shape() {
    let app = TestApp::spawn_with(Spawn { guard: Some(tight(1000)), ..Spawn::default() }).await.unwrap();
    let app_id = app.create_app("Limits").await;
    let mut users = vec![];
    for client in ["b1", "b2"] {
        let (status, body) = app.call("POST", &format!("/sdk/v2/apps/{app_id}/appusers"), None, Some(json!({"client": {"id": client, "platform": "web"}}))).await;
        assert_eq!(status, 201, "{body}");
        users.push((body["appUser"]["_id"].as_str().unwrap().to_string(), TestApp::basic(body["appUser"]["_id"].as_str().unwrap(), body["sessionToken"].as_str().unwrap())));
    }
    let (ann, ann_auth) = &users[0];
    let (bob, bob_auth) = &users[1];
    let mut statuses = vec![];
    for _ in 0..5 {
        let res = app.http.get(app.url(&format!("/sdk/v2/apps/{app_id}/appusers/{ann}"))).header("authorization", ann_auth).send().await.unwrap();
        statuses.push(res.status().as_u16());
        if res.status() == 429 {
            assert!(res.headers().contains_key("retry-after"));
            let body: serde_json::Value = res.json().await.unwrap();
            assert_eq!(body["error"]["code"], "too_many_requests", "{body}");
        }
    }
    assert_eq!(statuses, vec![200, 200, 200, 429, 429]);
    let (status, body) = app.call("GET", &format!("/sdk/v2/apps/{app_id}/appusers/{bob}"), Some(bob_auth), None).await;
    assert_eq!(status, 200, "another user of the same app is not throttled: {body}");
}

#[tokio::test]
async fn the_per_address_limit_refuses_before_authentication() {
    let guard = LimitsConfig { rate_limits: true, rate_limit_ip_per_second: 1, rate_limit_ip_burst: 3, ..LimitsConfig::default() };
    let app = TestApp::spawn_with(Spawn { guard: Some(guard), ..Spawn::default() }).await.unwrap();
    let mut statuses = vec![];
    for _ in 0..5 {
        statuses.push(app.call("GET", "/v2/apps", None, None).await.0);
    }
    assert_eq!(statuses, vec![401, 401, 401, 429, 429]);
}

/// GET /v2/apps without credentials (401 until the per-IP budget is spent) with the given
/// `X-Forwarded-For`; the status.
async fn anonymous_get_forwarded_for(app: &TestApp, forwarded_for: &str) -> u16 {
    reqwest::Client::new().get(app.url("/v2/apps")).header("x-forwarded-for", forwarded_for).send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_budget() {
    let guard = LimitsConfig {
        rate_limits: true,
        rate_limit_ip_per_second: 1,
        rate_limit_ip_burst: 2,
        trusted_proxies: vec![sunbeam::config::ProxyNet::parse("127.0.0.0/8").unwrap()],
        ..LimitsConfig::default()
    };
    let app = TestApp::spawn_with(Spawn { guard: Some(guard), ..Spawn::default() }).await.unwrap();
    let mut first = vec![];
    for _ in 0..3 {
        first.push(anonymous_get_forwarded_for(&app, "203.0.113.1").await);
    }
    assert_eq!(first, vec![401, 401, 429]);
    // A hop the client wrote itself, left of what the proxy appended, changes nothing.
    assert_eq!(anonymous_get_forwarded_for(&app, "198.51.100.9, 203.0.113.1").await, 429);
    // Another client behind the same proxy is not throttled, nor is the proxy itself.
    assert_eq!(anonymous_get_forwarded_for(&app, "203.0.113.2").await, 401);
    // Proxies chained inside the trusted network are skipped to reach the client.
    assert_eq!(anonymous_get_forwarded_for(&app, "203.0.113.1, 127.0.0.9").await, 429);
    assert_eq!(app.call("GET", "/v2/apps", None, None).await.0, 401);
}

#[tokio::test]
async fn without_trusted_proxies_a_forwarded_for_header_is_ignored() {
    let guard = LimitsConfig { rate_limits: true, rate_limit_ip_per_second: 1, rate_limit_ip_burst: 2, ..LimitsConfig::default() };
    let app = TestApp::spawn_with(Spawn { guard: Some(guard), ..Spawn::default() }).await.unwrap();
    let mut statuses = vec![];
    for client in ["203.0.113.1", "203.0.113.2", "203.0.113.3"] {
        statuses.push(anonymous_get_forwarded_for(&app, client).await);
    }
    assert_eq!(statuses, vec![401, 401, 429], "a client naming a new address each time is still one peer");
}

#[tokio::test]
async fn a_client_trickling_its_headers_is_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let guard = LimitsConfig { header_read_timeout_ms: 200, ..LimitsConfig::default() };
    let app = TestApp::spawn_with(Spawn { guard: Some(guard), ..Spawn::default() }).await.unwrap();
    let mut slow = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    slow.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    // The rest of the head never comes: the server closes the connection (after answering
    // 408 or not), rather than holding it open.
    let mut rest = vec![];
    let read = tokio::time::timeout(crate::common::WAIT, slow.read_to_end(&mut rest)).await;
    assert!(read.is_ok(), "the connection was still open after {:?}", crate::common::WAIT);
    // Meanwhile, and afterwards, others are served.
    let (status, _) = app.call("GET", "/health", None, None).await;
    assert_eq!(status, 200);
}
