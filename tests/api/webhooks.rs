//! Webhooks over HTTP: CRUD and scopes, and delivery to a real receiver on 127.0.0.1
//! (envelope, triggers, retries, order, restarts). Delivery runs with a millisecond
//! schedule; the tests assert counts and order, never timings. "Nothing more arrived" is
//! asserted only once the store's queue is drained (`common::webhooks_drained`), after
//! which no request can still come. The retry schedule and the circuit are driven by
//! `sunbeam::events::step` at chosen clock readings, without a running dispatcher.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};
use sunbeam::config::ServeConfig;
use sunbeam::domain::time::{now_ms, parse_iso};
use sunbeam::events::{step, Answer, DeliverySettings, StepReport};
use sunbeam::server::{bootstrap, Server};
use sunbeam::store::webhooks::{Verdict, WebhookStatus};
use sunbeam::store::{SecretBox, Store, StoreLimits};
use tokio::sync::Semaphore;

use crate::common::{assert_error, eventually, webhooks_drained, TestApp};

// ---- a receiver: a tiny axum server that records what it gets ----

#[derive(Debug, Clone)]
enum Reply {
    Status(u16),
    /// Wait this long, then answer 200 (the sender will have given up by then).
    Hang(Duration),
    /// Answer 200 once the test adds a permit (`Semaphore::add_permits`).
    HoldUntil(Arc<Semaphore>),
}

/// One event as received: a request carries one or more (the envelope's `events`), and
/// each becomes a hit, in the order of the array.
#[derive(Debug, Clone)]
struct Hit {
    api_key: Option<String>,
    content_type: Option<String>,
    /// The whole envelope of the request.
    body: Value,
    /// Which request (0, 1, … in order of arrival) and where in its `events`.
    request: usize,
    index: usize,
    /// What the receiver answered (0 while hanging).
    answered: u16,
}

impl Hit {
    fn event(&self) -> &Value {
        &self.body["events"][self.index]
    }
    fn event_id(&self) -> String {
        self.event()["id"].as_str().unwrap().to_string()
    }
}

#[derive(Clone, Default)]
struct Receiver {
    hits: Arc<Mutex<Vec<Hit>>>,
    requests: Arc<Mutex<usize>>,
    script: Arc<Mutex<VecDeque<Reply>>>,
    jitter_ms: u64,
    url: String,
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: String) -> StatusCode {
    let reply = r.script.lock().unwrap().pop_front().unwrap_or(Reply::Status(200));
    let header = |k: &str| headers.get(k).and_then(|v| v.to_str().ok()).map(str::to_string);
    let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let events = body["events"].as_array().map_or(0, Vec::len).max(1);
    let (request, first) = {
        // One lock for both, so hits stay grouped by request in arrival order.
        let mut requests = r.requests.lock().unwrap();
        let mut hits = r.hits.lock().unwrap();
        let request = *requests;
        *requests += 1;
        let first = hits.len();
        for index in 0..events {
            hits.push(Hit { api_key: header("x-api-key"), content_type: header("content-type"), body: body.clone(), request, index, answered: 0 });
        }
        (request, first)
    };
    if r.jitter_ms > 0 {
        let ms = rand::random::<u64>() % r.jitter_ms;
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    let status = match reply {
        Reply::Status(s) => s,
        Reply::Hang(d) => {
            tokio::time::sleep(d).await;
            200
        }
        Reply::HoldUntil(gate) => {
            gate.acquire().await.expect("the gate stays open").forget();
            200
        }
    };
    for hit in &mut r.hits.lock().unwrap()[first..first + events] {
        debug_assert_eq!(hit.request, request);
        hit.answered = status;
    }
    StatusCode::from_u16(status).unwrap()
}

impl Receiver {
    async fn start(script: Vec<Reply>, jitter_ms: u64) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let r = Receiver { hits: Default::default(), requests: Default::default(), script: Arc::new(Mutex::new(script.into())), jitter_ms, url };
        let app = Router::new().route("/hook", post(receive)).with_state(r.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        r
    }

    /// Every event received, grouped by request in order of arrival.
    fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }

    /// How many requests came.
    fn requests(&self) -> usize {
        *self.requests.lock().unwrap()
    }

    /// Waits until `pred` holds for the hits so far (fails after `common::WAIT`).
    async fn wait_until(&self, what: &str, pred: impl Fn(&[Hit]) -> bool) -> Vec<Hit> {
        let pred = &pred;
        eventually(what, move || async move {
            let hits = self.hits();
            if pred(&hits) { Ok(hits) } else { Err(format!("{hits:#?}")) }
        })
        .await
    }

    /// Waits until `n` events (over however many requests) have come.
    async fn wait_for(&self, n: usize) -> Vec<Hit> {
        self.wait_until(&format!("{n} events"), |h| h.len() >= n).await
    }

    /// Per request, in order of arrival: (what was answered, how many events it carried).
    fn requests_seen(&self) -> Vec<(u16, usize)> {
        requests_of(&self.hits()).into_iter().map(|(_, answered, ids)| (answered, ids.len())).collect()
    }
}

// ---- a node: the real server over a store we keep, so it can be restarted ----

const ACCOUNT_ID: &str = "act_0123456789abcdef01234567";
const ACCOUNT_SECRET: &str = "a-test-account-secret-of-some-length";

struct Node {
    base: String,
    http: reqwest::Client,
    store: Store,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    done: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

fn config(url: &str, dir: &Path) -> ServeConfig {
    let mut c = ServeConfig::for_database(url, dir.to_path_buf());
    c.account_key_id = Some(ACCOUNT_ID.into());
    c.account_key_secret = Some(ACCOUNT_SECRET.into());
    c.webhook_retry_delays_ms = vec![20, 20, 20, 20];
    c.webhook_timeout_ms = 2_000;
    c
}

async fn open(url: &str) -> Store {
    Store::open(url, SecretBox::new([42; 32]), StoreLimits::default()).await.expect("open store")
}

impl Node {
    async fn start(url: &str, dir: &Path, tune: impl FnOnce(&mut ServeConfig)) -> Node {
        Self::start_tuned(url, dir, tune, |_| {}).await
    }

    async fn start_tuned(url: &str, dir: &Path, tune: impl FnOnce(&mut ServeConfig), tune_delivery: impl FnOnce(&mut DeliverySettings)) -> Node {
        let mut c = config(url, dir);
        tune(&mut c);
        let store = open(url).await;
        bootstrap(&store, &c).await.expect("bootstrap");
        let mut server = Server::with_store(&c, store.clone()).await.expect("bind");
        tune_delivery(&mut server.delivery);
        let base = format!("http://{}", server.local_addr());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let done = tokio::spawn(server.run(async move {
            let _ = rx.await;
        }));
        Node { base, http: reqwest::Client::new(), store, shutdown: Some(tx), done: Some(done) }
    }

    /// Stops the server (and its dispatcher) and waits until the store is closed.
    async fn stop(mut self) {
        let _ = self.shutdown.take().unwrap().send(());
        self.done.take().unwrap().await.unwrap().unwrap();
    }

    async fn call_as(&self, auth: &str, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self.http.request(method.parse().unwrap(), format!("{}{path}", self.base)).header("authorization", auth);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        (status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap() })
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.call_as(&TestApp::basic(ACCOUNT_ID, ACCOUNT_SECRET), method, path, body).await
    }

    async fn ok(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, out) = self.call(method, path, body).await;
        assert!(status == 200 || status == 201, "{method} {path}: {status} {out}");
        out
    }

    async fn app(&self) -> String {
        self.ok("POST", "/v2/apps", Some(json!({"displayName": "Shop"}))).await["app"]["id"].as_str().unwrap().to_string()
    }

    /// A custom integration whose webhook posts `triggers` to `target`; returns
    /// (integration id, webhook).
    async fn hook(&self, app_id: &str, target: &str, triggers: &[&str], options: Value) -> (String, Value) {
        let mut webhook = json!({"target": target, "triggers": triggers});
        webhook.as_object_mut().unwrap().extend(options.as_object().cloned().unwrap_or_default());
        let out = self.ok("POST", &format!("/v2/apps/{app_id}/integrations"), Some(json!({"type": "custom", "webhooks": [webhook]}))).await;
        (out["integration"]["id"].as_str().unwrap().to_string(), out["integration"]["webhooks"][0].clone())
    }

    async fn user(&self, app_id: &str, body: Value) -> String {
        self.ok("POST", &format!("/v2/apps/{app_id}/users"), Some(body)).await["user"]["id"].as_str().unwrap().to_string()
    }

    async fn delete_user(&self, app_id: &str, user_id: &str) {
        self.ok("DELETE", &format!("/v2/apps/{app_id}/users/{user_id}"), None).await;
    }

    async fn status(&self, webhook_id: &str) -> Value {
        let out = self.ok("GET", "/admin/webhooks", None).await;
        out["webhooks"].as_array().unwrap().iter().find(|w| w["webhookId"] == webhook_id).cloned().unwrap_or_else(|| panic!("{out}"))
    }

    /// Waits until the store's webhook work is drained (everything routed, nothing
    /// pending: no request can still come), then returns the webhook's status as
    /// operators see it.
    async fn drained(&self, webhook_id: &str) -> Value {
        webhooks_drained(&self.store).await;
        self.status(webhook_id).await
    }
}

struct Fresh {
    url: String,
    dir: tempfile::TempDir,
}

fn fresh() -> Fresh {
    let dir = tempfile::tempdir().unwrap();
    Fresh { url: format!("sqlite://{}/sunbeam.db", dir.path().display()), dir }
}

/// SQLite always; PostgreSQL too when one is reachable (required under CI).
async fn backends() -> Vec<Fresh> {
    let mut out = vec![fresh()];
    if let Some(url) = crate::common::fresh_postgres_url().await {
        out.push(Fresh { url, dir: tempfile::tempdir().unwrap() });
    }
    out
}

async fn node() -> (Node, Fresh) {
    let f = fresh();
    (Node::start(&f.url, f.dir.path(), |_| {}).await, f)
}

// ---- CRUD and scopes ----

#[tokio::test]
async fn webhook_crud_validation_and_the_per_app_limit() {
    let (n, _f) = node().await;
    let app_id = n.app().await;
    let key = n.ok("POST", &format!("/v2/apps/{app_id}/keys"), Some(json!({"displayName": "k"}))).await["key"].clone();
    let auth = TestApp::basic(key["id"].as_str().unwrap(), key["secret"].as_str().unwrap());
    let (integration, first) = n.hook(&app_id, "https://example.com/a", &["user:remove"], json!({})).await;
    let base = format!("/v2/apps/{app_id}/integrations/{integration}/webhooks");

    let (status, created) = n
        .call_as(&auth, "POST", &base, Some(json!({"target": "http://10.0.0.5:8080/b", "triggers": ["conversation:message", "conversation:read"], "includeFullUser": true})))
        .await;
    assert_eq!(status, 201, "{created}");
    let w = created["webhook"].clone();
    assert_eq!((w["version"].as_str(), w["includeFullUser"].as_bool(), w["includeFullSource"].as_bool()), (Some("v2"), Some(true), Some(false)));
    assert_eq!(w["secret"].as_str().unwrap().len(), 32);
    let wid = w["id"].as_str().unwrap();

    let (_, listed) = n.call_as(&auth, "GET", &base, None).await;
    assert_eq!(listed["webhooks"], json!([first, w]));
    let (status, got) = n.call_as(&auth, "GET", &format!("{base}/{wid}"), None).await;
    assert_eq!((status, &got["webhook"]), (200, &w));
    let (status, patched) = n.call_as(&auth, "PATCH", &format!("{base}/{wid}"), Some(json!({"triggers": ["user:remove"], "includeFullSource": true}))).await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["webhook"]["triggers"], json!(["user:remove"]));
    assert_eq!((patched["webhook"]["includeFullSource"].as_bool(), patched["webhook"]["target"].as_str()), (Some(true), w["target"].as_str()));
    assert_eq!(patched["webhook"]["secret"], w["secret"]);

    for body in [
        json!({"triggers": ["user:remove"]}),
        json!({"target": "https://e.com"}),
        json!({"target": "not a url", "triggers": ["user:remove"]}),
        json!({"target": "ftp://e.com/x", "triggers": ["user:remove"]}),
        json!({"target": "https://e.com", "triggers": ["*"]}),
        json!({"target": "https://e.com", "triggers": ["conversation:Message"]}),
        json!({"target": "https://e.com", "triggers": "user:remove"}),
        json!({"target": "https://e.com", "triggers": ["user:remove"], "includeFullUser": "true"}),
    ] {
        let (status, out) = n.call_as(&auth, "POST", &base, Some(body.clone())).await;
        assert_error(status, &out, 400, "bad_request");
    }
    let (status, out) = n.call_as(&auth, "PATCH", &format!("{base}/{wid}"), Some(json!({"target": "gopher://x"}))).await;
    assert_error(status, &out, 400, "bad_request");

    // Account scope is not among the spec's scopes for webhooks.
    let (status, out) = n.call("GET", &base, None).await;
    assert_error(status, &out, 403, "forbidden");
    // Only custom integrations take webhooks; unknown ones are 404.
    let web = n.ok("POST", &format!("/v2/apps/{app_id}/integrations"), Some(json!({"type": "web"}))).await["integration"]["id"].as_str().unwrap().to_string();
    let (status, out) = n.call_as(&auth, "POST", &format!("/v2/apps/{app_id}/integrations/{web}/webhooks"), Some(json!({"target": "https://e.com", "triggers": ["user:remove"]}))).await;
    assert_error(status, &out, 400, "bad_request");
    let (status, out) = n.call_as(&auth, "GET", &format!("/v2/apps/{app_id}/integrations/000000000000000000000000/webhooks"), None).await;
    assert_error(status, &out, 404, "integration_not_found");
    let (status, out) = n.call_as(&auth, "GET", &format!("/v2/apps/{app_id}/integrations/me/webhooks"), None).await;
    assert_error(status, &out, 404, "integration_not_found");
    let (status, out) = n.call_as(&auth, "GET", &format!("{base}/000000000000000000000000"), None).await;
    assert_error(status, &out, 404, "not_found");

    // Ten webhooks per app, counted across its integrations.
    for i in 2..10 {
        let (status, out) = n.call_as(&auth, "POST", &base, Some(json!({"target": format!("https://e.com/{i}"), "triggers": ["user:remove"]}))).await;
        assert_eq!(status, 201, "{out}");
    }
    let (status, out) = n.call_as(&auth, "POST", &base, Some(json!({"target": "https://e.com/11", "triggers": ["user:remove"]}))).await;
    assert_error(status, &out, 400, "bad_request");
    let (status, out) = n
        .call("POST", &format!("/v2/apps/{app_id}/integrations"), Some(json!({"type": "custom", "webhooks": [{"target": "https://e.com/x", "triggers": ["user:remove"]}]})))
        .await;
    assert_error(status, &out, 400, "bad_request");

    let (status, out) = n.call_as(&auth, "DELETE", &format!("{base}/{wid}"), None).await;
    assert_eq!((status, out), (200, json!({})));
    let (status, out) = n.call_as(&auth, "GET", &format!("{base}/{wid}"), None).await;
    assert_error(status, &out, 404, "not_found");
    let (status, out) = n.call_as(&auth, "DELETE", &format!("{base}/{wid}"), None).await;
    assert_error(status, &out, 404, "not_found");
}

#[tokio::test]
async fn an_integration_key_sees_only_its_own_webhooks() {
    let (n, _f) = node().await;
    let app_id = n.app().await;
    let other_app = n.app().await;
    let (mine, my_hook) = n.hook(&app_id, "https://example.com/mine", &["user:remove"], json!({})).await;
    let (theirs, their_hook) = n.hook(&app_id, "https://example.com/theirs", &["user:remove"], json!({})).await;
    let key = n.ok("POST", &format!("/v2/apps/{app_id}/integrations/{mine}/keys"), Some(json!({"displayName": "bot"}))).await["key"].clone();
    let auth = TestApp::basic(key["id"].as_str().unwrap(), key["secret"].as_str().unwrap());
    let root = format!("/v2/apps/{app_id}/integrations");

    let (status, out) = n.call_as(&auth, "GET", &format!("{root}/me/webhooks"), None).await;
    assert_eq!((status, &out["webhooks"]), (200, &json!([my_hook])));
    let (status, out) = n.call_as(&auth, "GET", &format!("{root}/{mine}/webhooks"), None).await;
    assert_eq!((status, &out["webhooks"]), (200, &json!([my_hook])));
    let (status, created) = n.call_as(&auth, "POST", &format!("{root}/me/webhooks"), Some(json!({"target": "https://example.com/more", "triggers": ["conversation:message"]}))).await;
    assert_eq!(status, 201, "{created}");
    let (_, out) = n.call_as(&auth, "GET", &format!("{root}/me/webhooks"), None).await;
    assert_eq!(out["webhooks"].as_array().unwrap().len(), 2);

    let their_id = their_hook["id"].as_str().unwrap();
    for (method, path, body) in [
        ("GET", format!("{root}/{theirs}/webhooks"), None),
        ("POST", format!("{root}/{theirs}/webhooks"), Some(json!({"target": "https://e.com", "triggers": ["user:remove"]}))),
        ("GET", format!("{root}/{theirs}/webhooks/{their_id}"), None),
        ("PATCH", format!("{root}/{theirs}/webhooks/{their_id}"), Some(json!({"target": "https://evil.example"}))),
        ("DELETE", format!("{root}/{theirs}/webhooks/{their_id}"), None),
    ] {
        let (status, out) = n.call_as(&auth, method, &path, body).await;
        assert_error(status, &out, 403, "forbidden");
    }
    // Its own integration's id with another's webhook id finds nothing.
    let (status, out) = n.call_as(&auth, "GET", &format!("{root}/me/webhooks/{their_id}"), None).await;
    assert_error(status, &out, 404, "not_found");
    let (status, out) = n.call_as(&auth, "GET", &format!("/v2/apps/{other_app}/integrations/me/webhooks"), None).await;
    assert_error(status, &out, 403, "forbidden");
    // The other integration's webhook is untouched.
    let (_, out) = n.call("GET", &format!("{root}/{theirs}"), None).await;
    assert_eq!(out["integration"]["webhooks"], json!([their_hook]));
}

// ---- delivery ----

#[tokio::test]
async fn delivers_the_envelope_with_the_secret_in_x_api_key() {
    for f in backends().await {
        delivers_the_envelope_with_the_secret_in_x_api_key_on(f).await;
    }
}

async fn delivers_the_envelope_with_the_secret_in_x_api_key_on(f: Fresh) {
    let n = Node::start(&f.url, f.dir.path(), |_| {}).await;
    let rx = Receiver::start(vec![], 0).await;
    let app_id = n.app().await;
    let (_, hook) = n.hook(&app_id, &rx.url, &["user:remove"], json!({})).await;
    let user = n.user(&app_id, json!({"externalId": "ann"})).await;
    n.delete_user(&app_id, &user).await;

    let hits = rx.wait_for(1).await;
    let hit = &hits[0];
    assert_eq!(hit.api_key.as_deref(), hook["secret"].as_str());
    assert_eq!(hit.content_type.as_deref(), Some("application/json"));
    assert_eq!(hit.body["app"], json!({"id": app_id}));
    assert_eq!(hit.body["webhook"], json!({"id": hook["id"], "version": "v2"}));
    let events = hit.body["events"].as_array().unwrap();
    assert_eq!(events.len(), 1);
    let e = &events[0];
    assert_eq!(e["type"], "user:remove");
    assert_eq!(e["id"].as_str().unwrap().len(), 24);
    let created = e["createdAt"].as_str().unwrap();
    assert!(created.len() == 24 && created.ends_with('Z'), "{created}");
    assert_eq!(e["payload"]["user"]["id"], user.as_str());
    assert_eq!(e["payload"]["user"]["externalId"], "ann");

    let s = n.drained(hook["id"].as_str().unwrap()).await;
    assert_eq!((s["delivered"].as_i64(), s["failed"].as_i64()), (Some(1), Some(0)));
    assert!(s["lastSuccessAt"].is_string());
    assert_eq!(rx.hits().len(), 1);
}

#[tokio::test]
async fn only_subscribed_triggers_are_delivered() {
    let (n, _f) = node().await;
    let (users_rx, convs_rx) = (Receiver::start(vec![], 0).await, Receiver::start(vec![], 0).await);
    let app_id = n.app().await;
    n.hook(&app_id, &users_rx.url, &["user:remove"], json!({})).await;
    n.hook(&app_id, &convs_rx.url, &["conversation:create", "conversation:message"], json!({})).await;
    let ann = n.user(&app_id, json!({"externalId": "ann"})).await;
    let bob = n.user(&app_id, json!({"externalId": "bob"})).await;
    let conv = n.ok("POST", &format!("/v2/apps/{app_id}/conversations"), Some(json!({"type": "personal", "participants": [{"userId": bob}]}))).await;
    let conv_id = conv["conversation"]["id"].as_str().unwrap();
    n.ok("POST", &format!("/v2/apps/{app_id}/conversations/{conv_id}/messages"), Some(json!({"author": {"type": "business"}, "content": {"type": "text", "text": "hi"}})))
        .await;
    n.delete_user(&app_id, &ann).await;

    webhooks_drained(&n.store).await;
    let users = users_rx.hits();
    let convs = convs_rx.hits();
    assert_eq!(users.iter().map(|h| h.event()["type"].as_str().unwrap()).collect::<Vec<_>>(), ["user:remove"]);
    let mut kinds: Vec<&str> = convs.iter().map(|h| h.event()["type"].as_str().unwrap()).collect();
    kinds.sort();
    assert_eq!(kinds, ["conversation:create", "conversation:message"]);
    let message = convs.iter().find(|h| h.event()["type"] == "conversation:message").unwrap();
    assert_eq!(message.event()["payload"]["conversation"]["id"], conv_id);
    assert_eq!(message.event()["payload"]["message"]["content"]["text"], "hi");
}

#[tokio::test]
async fn a_5xx_is_retried_with_the_same_event_id_until_delivered() {
    for f in backends().await {
        a_5xx_is_retried_with_the_same_event_id_until_delivered_on(f).await;
    }
}

async fn a_5xx_is_retried_with_the_same_event_id_until_delivered_on(f: Fresh) {
    let n = Node::start(&f.url, f.dir.path(), |_| {}).await;
    let rx = Receiver::start(vec![Reply::Status(500), Reply::Status(503), Reply::Status(200)], 0).await;
    let app_id = n.app().await;
    let (_, hook) = n.hook(&app_id, &rx.url, &["user:remove"], json!({})).await;
    let user = n.user(&app_id, json!({})).await;
    n.delete_user(&app_id, &user).await;

    let hits = rx.wait_for(3).await;
    assert!(hits.iter().all(|h| h.event_id() == hits[0].event_id()), "{hits:#?}");
    let webhook_id = hook["id"].as_str().unwrap();
    let s = n.drained(webhook_id).await;
    assert_eq!((s["delivered"].as_i64(), s["failed"].as_i64(), s["consecutiveFailures"].as_i64()), (Some(1), Some(0), Some(0)));
    assert_eq!(rx.hits().len(), 3);
    let attempts = n.ok("GET", &format!("/admin/webhooks/{webhook_id}/attempts"), None).await;
    let statuses: Vec<i64> = attempts["attempts"].as_array().unwrap().iter().map(|a| a["status"].as_i64().unwrap()).collect();
    assert_eq!(statuses, [200, 503, 500], "newest first");
}

#[tokio::test]
async fn a_failing_target_gets_five_attempts_then_the_delivery_fails() {
    let (n, _f) = node().await;
    let rx = Receiver::start(vec![Reply::Status(500); 20], 0).await;
    let app_id = n.app().await;
    let (_, hook) = n.hook(&app_id, &rx.url, &["user:remove"], json!({})).await;
    let user = n.user(&app_id, json!({})).await;
    n.delete_user(&app_id, &user).await;

    rx.wait_for(5).await;
    let s = n.drained(hook["id"].as_str().unwrap()).await;
    assert_eq!((s["delivered"].as_i64(), s["failed"].as_i64()), (Some(0), Some(1)));
    assert_eq!(s["lastError"], "HTTP 500");
    assert_eq!(s["consecutiveFailures"], 5);
    let hits = rx.hits();
    assert_eq!(hits.len(), 5, "exactly five attempts");
    assert!(hits.iter().all(|h| h.event_id() == hits[0].event_id()));
}

#[tokio::test]
async fn a_timeout_is_retried() {
    let f = fresh();
    let n = Node::start(&f.url, f.dir.path(), |c| c.webhook_timeout_ms = 300).await;
    let rx = Receiver::start(vec![Reply::Hang(Duration::from_secs(3)), Reply::Status(200)], 0).await;
    let app_id = n.app().await;
    let (_, hook) = n.hook(&app_id, &rx.url, &["user:remove"], json!({})).await;
    let user = n.user(&app_id, json!({})).await;
    n.delete_user(&app_id, &user).await;

    let hits = rx.wait_until("a delivered retry", |h| h.len() >= 2 && h[1].answered == 200).await;
    assert_eq!(hits.len(), 2);
    assert_eq!(hits[0].event_id(), hits[1].event_id());
    let s = n.drained(hook["id"].as_str().unwrap()).await;
    assert_eq!((s["delivered"].as_i64(), s["failed"].as_i64()), (Some(1), Some(0)));
    let attempts = n.ok("GET", &format!("/admin/webhooks/{}/attempts", hook["id"].as_str().unwrap()), None).await;
    let first = &attempts["attempts"][1];
    assert!(first["status"].is_null() && first["error"].as_str().unwrap().contains("no response"), "{attempts}");
}

#[tokio::test]
async fn non_recoverable_statuses_are_not_retried() {
    let (n, _f) = node().await;
    let codes = [400u16, 401, 403, 404, 406];
    let rx = Receiver::start(codes.iter().map(|c| Reply::Status(*c)).collect(), 0).await;
    let app_id = n.app().await;
    let (_, hook) = n.hook(&app_id, &rx.url, &["user:remove"], json!({})).await;
    // One at a time, so each event gets a request (and a scripted answer) of its own.
    for i in 0..codes.len() {
        let user = n.user(&app_id, json!({})).await;
        n.delete_user(&app_id, &user).await;
        rx.wait_until("its answer", |h| h.len() > i && h[i].answered != 0).await;
    }
    let s = n.drained(hook["id"].as_str().unwrap()).await;
    assert_eq!((s["delivered"].as_i64(), s["failed"].as_i64()), (Some(0), Some(5)));
    let hits = rx.hits();
    assert_eq!(hits.len(), 5, "one attempt each: {hits:#?}");
    let mut answered: Vec<u16> = hits.iter().map(|h| h.answered).collect();
    answered.sort();
    assert_eq!(answered, codes);
    let mut ids: Vec<String> = hits.iter().map(Hit::event_id).collect();
    ids.dedup();
    assert_eq!(ids.len(), 5, "five distinct events");
    // A refusal says nothing about the target's health: the circuit stays closed.
    assert_eq!(s["consecutiveFailures"], 0);
}

#[tokio::test]
async fn events_of_a_conversation_arrive_in_order_even_through_retries() {
    for f in backends().await {
        events_of_a_conversation_arrive_in_order_even_through_retries_on(f).await;
    }
}

async fn events_of_a_conversation_arrive_in_order_even_through_retries_on(f: Fresh) {
    let n = Node::start(&f.url, f.dir.path(), |_| {}).await;
    // Some failures early on force retries; replies take a random while.
    let script = vec![Reply::Status(500), Reply::Status(200), Reply::Status(502), Reply::Status(500)];
    let rx = Receiver::start(script, 15).await;
    let app_id = n.app().await;
    let (_, hook) = n.hook(&app_id, &rx.url, &["conversation:message"], json!({})).await;
    let mut convs = Vec::new();
    for name in ["ann", "bob", "cat"] {
        let user = n.user(&app_id, json!({"externalId": name})).await;
        let c = n.ok("POST", &format!("/v2/apps/{app_id}/conversations"), Some(json!({"type": "personal", "participants": [{"userId": user}]}))).await;
        convs.push(c["conversation"]["id"].as_str().unwrap().to_string());
    }
    let per_conv = 8;
    for i in 0..per_conv {
        for c in &convs {
            let body = json!({"author": {"type": "business"}, "content": {"type": "text", "text": format!("{i}")}});
            n.ok("POST", &format!("/v2/apps/{app_id}/conversations/{c}/messages"), Some(body)).await;
        }
    }
    let total = per_conv * convs.len();
    let hits = rx.wait_until("every message delivered", |h| h.iter().filter(|x| x.answered == 200).count() >= total).await;
    n.drained(hook["id"].as_str().unwrap()).await;
    for c in &convs {
        let of = |h: &&Hit| h.event()["payload"]["conversation"]["id"] == c.as_str();
        let text = |h: &Hit| h.event()["payload"]["message"]["content"]["text"].as_str().unwrap().parse::<usize>().unwrap();
        let delivered: Vec<usize> = hits.iter().filter(of).filter(|h| h.answered == 200).map(text).collect();
        assert_eq!(delivered, (0..per_conv).collect::<Vec<_>>(), "conversation {c}");
        // Every request, retries included, carries the conversation's events in order from
        // the first one not yet accepted: it never skips ahead nor goes back further.
        let mut accepted = 0;
        let mut requests: Vec<(usize, u16, Vec<usize>)> = Vec::new();
        for h in hits.iter().filter(of) {
            match requests.last_mut() {
                Some((r, _, texts)) if *r == h.request => texts.push(text(h)),
                _ => requests.push((h.request, h.answered, vec![text(h)])),
            }
        }
        for (_, answered, texts) in &requests {
            assert_eq!(*texts, (accepted..accepted + texts.len()).collect::<Vec<_>>(), "conversation {c}: {requests:?}");
            if *answered == 200 {
                accepted += texts.len();
            }
        }
    }
}

#[tokio::test]
async fn include_full_user_widens_the_user_and_others_stay_truncated() {
    let (n, _f) = node().await;
    let (full_rx, plain_rx) = (Receiver::start(vec![], 0).await, Receiver::start(vec![], 0).await);
    let app_id = n.app().await;
    n.hook(&app_id, &full_rx.url, &["conversation:create"], json!({"includeFullUser": true})).await;
    n.hook(&app_id, &plain_rx.url, &["conversation:create"], json!({})).await;
    let user = n.user(&app_id, json!({"externalId": "ann", "profile": {"givenName": "Ann", "email": "ann@example.com"}, "metadata": {"tier": "gold"}})).await;
    n.ok("POST", &format!("/v2/apps/{app_id}/conversations"), Some(json!({"type": "personal", "participants": [{"userId": user}]}))).await;

    let full = full_rx.wait_for(1).await[0].event()["payload"]["user"].clone();
    let plain = plain_rx.wait_for(1).await[0].event()["payload"]["user"].clone();
    assert_eq!(full["id"], user.as_str());
    assert_eq!(full["profile"]["givenName"], "Ann");
    assert_eq!(full["metadata"]["tier"], "gold");
    assert_eq!(plain["id"], user.as_str());
    assert!(plain.get("profile").is_none(), "{plain}");
}

#[tokio::test]
async fn a_slow_target_does_not_hold_up_another() {
    let f = fresh();
    let n = Node::start(&f.url, f.dir.path(), |c| c.webhook_timeout_ms = 10_000).await;
    let slow = Receiver::start(vec![Reply::Hang(Duration::from_secs(8)); 50], 0).await;
    let fast = Receiver::start(vec![], 0).await;
    let app_id = n.app().await;
    n.hook(&app_id, &slow.url, &["user:remove"], json!({})).await;
    n.hook(&app_id, &fast.url, &["user:remove"], json!({})).await;
    for _ in 0..8 {
        let user = n.user(&app_id, json!({})).await;
        n.delete_user(&app_id, &user).await;
    }
    fast.wait_for(8).await;
    // The slow one holds at most its per-target share of requests and nothing it sent has
    // come back.
    assert!(slow.requests() <= 4, "{}", slow.requests());
    assert!(slow.hits().iter().all(|h| h.answered == 0));
}

#[tokio::test]
async fn an_event_committed_while_the_server_was_down_is_delivered_after_restart() {
    for f in backends().await {
        an_event_committed_while_the_server_was_down_is_delivered_after_restart_on(f).await;
    }
}

async fn an_event_committed_while_the_server_was_down_is_delivered_after_restart_on(f: Fresh) {
    let rx = Receiver::start(vec![], 0).await;
    let n = Node::start(&f.url, f.dir.path(), |_| {}).await;
    let app_id = n.app().await;
    let (_, hook) = n.hook(&app_id, &rx.url, &["user:remove"], json!({})).await;
    let user = n.user(&app_id, json!({"externalId": "ann"})).await;
    n.stop().await;

    // No server, no dispatcher: the change and its event commit together, and that is all.
    let store = open(&f.url).await;
    store.delete_user(&app_id, &user).await.unwrap();
    store.close().await;
    assert!(rx.hits().is_empty(), "nothing can have sent it: no dispatcher was running");

    let n = Node::start(&f.url, f.dir.path(), |_| {}).await;
    let hits = rx.wait_for(1).await;
    assert_eq!(hits[0].event()["type"], "user:remove");
    assert_eq!(hits[0].event()["payload"]["user"]["id"], user.as_str());
    assert_eq!(hits[0].api_key.as_deref(), hook["secret"].as_str());
    n.drained(hook["id"].as_str().unwrap()).await;
    assert_eq!(rx.hits().len(), 1);
    n.stop().await;
}

#[tokio::test]
async fn a_delivery_in_flight_at_shutdown_is_sent_again_after_restart() {
    let f = fresh();
    let rx = Receiver::start(vec![Reply::Hang(Duration::from_secs(6)), Reply::Status(200)], 0).await;
    let n = Node::start(&f.url, f.dir.path(), |c| c.webhook_timeout_ms = 30_000).await;
    let app_id = n.app().await;
    let (_, hook) = n.hook(&app_id, &rx.url, &["user:remove"], json!({})).await;
    let user = n.user(&app_id, json!({})).await;
    n.delete_user(&app_id, &user).await;
    rx.wait_for(1).await;
    // Stops while the target still has not answered: the attempt is never recorded.
    n.stop().await;

    let n = Node::start(&f.url, f.dir.path(), |_| {}).await;
    let hits = rx.wait_until("the redelivery", |h| h.len() >= 2 && h[1].answered == 200).await;
    assert_eq!(hits[0].event_id(), hits[1].event_id(), "the same event, so the receiver can dedupe");
    let s = n.drained(hook["id"].as_str().unwrap()).await;
    assert_eq!(s["delivered"], 1);
    n.stop().await;
}

#[tokio::test]
async fn public_only_mode_refuses_loopback_targets() {
    let f = fresh();
    let n = Node::start(&f.url, f.dir.path(), |c| c.webhook_public_only = true).await;
    let rx = Receiver::start(vec![], 0).await;
    let app_id = n.app().await;
    let (_, hook) = n.hook(&app_id, &rx.url, &["user:remove"], json!({})).await;
    let user = n.user(&app_id, json!({})).await;
    n.delete_user(&app_id, &user).await;
    let s = n.drained(hook["id"].as_str().unwrap()).await;
    assert_eq!(s["failed"], 1);
    assert!(s["lastError"].as_str().unwrap().contains("not public"), "{s}");
    assert!(rx.hits().is_empty());
}

#[tokio::test]
async fn operators_status_needs_account_scope() {
    let (n, _f) = node().await;
    let app_id = n.app().await;
    let key = n.ok("POST", &format!("/v2/apps/{app_id}/keys"), Some(json!({"displayName": "k"}))).await["key"].clone();
    let auth = TestApp::basic(key["id"].as_str().unwrap(), key["secret"].as_str().unwrap());
    let (status, out) = n.call_as(&auth, "GET", "/admin/webhooks", None).await;
    assert_error(status, &out, 403, "forbidden");
    let out = n.ok("GET", "/admin/webhooks", None).await;
    assert_eq!(out["unroutedEvents"].as_i64().map(|n| n >= 0), Some(true));
}

#[tokio::test]
async fn two_nodes_on_one_postgres_send_each_event_once() {
    let Some(url) = crate::common::fresh_postgres_url().await else { return };
    let dir = tempfile::tempdir().unwrap();
    let a = Node::start(&url, dir.path(), |_| {}).await;
    let b = Node::start(&url, dir.path(), |_| {}).await;
    let rx = Receiver::start(vec![], 5).await;
    let app_id = a.app().await;
    let (_, hook) = a.hook(&app_id, &rx.url, &["user:remove"], json!({})).await;
    let total = 30;
    for i in 0..total {
        // Changes land through both nodes; both dispatchers compete for the work.
        let n = if i % 2 == 0 { &a } else { &b };
        let user = n.user(&app_id, json!({})).await;
        n.delete_user(&app_id, &user).await;
    }
    rx.wait_for(total).await;
    a.drained(hook["id"].as_str().unwrap()).await;
    let hits = rx.hits();
    let mut ids: Vec<String> = hits.iter().map(Hit::event_id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!((hits.len(), ids.len()), (total, total), "each event exactly once");
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn a_failing_target_is_parked_then_probed_back() {
    // The running dispatcher, end to end: three failures park the webhook, and the probe
    // waits for the park to end. (The circuit step by step: `the_circuit_parks_…` below.)
    let park = Duration::from_millis(1500);
    let f = fresh();
    let n = Node::start_tuned(&f.url, f.dir.path(), |_| {}, |d| {
        d.circuit_threshold = 3;
        d.circuit_park = park;
        d.circuit_max_park = park;
    })
    .await;
    let rx = Receiver::start(vec![Reply::Status(500), Reply::Status(500), Reply::Status(500), Reply::Status(200)], 0).await;
    let app_id = n.app().await;
    let (_, hook) = n.hook(&app_id, &rx.url, &["user:remove"], json!({})).await;
    let webhook_id = hook["id"].as_str().unwrap();
    let user = n.user(&app_id, json!({})).await;
    n.delete_user(&app_id, &user).await;

    let s = n.drained(webhook_id).await;
    assert_eq!((s["delivered"].as_i64(), s["consecutiveFailures"].as_i64()), (Some(1), Some(0)), "the probe's success closes the circuit: {s}");
    assert!(s["parkedUntil"].is_null());
    assert_eq!(rx.requests_seen(), [(500, 1), (500, 1), (500, 1), (200, 1)]);
    // Retries come 20 ms apart; the probe came only after the park. A lower bound on
    // elapsed time: a slow machine can only widen the gap.
    let attempts = n.ok("GET", &format!("/admin/webhooks/{webhook_id}/attempts"), None).await;
    let attempts = attempts["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 4, "{attempts:?}");
    let (probe, third) = (&attempts[0], &attempts[1]);
    let third_answered = parse_iso(third["startedAt"].as_str().unwrap()).unwrap() + third["durationMs"].as_i64().unwrap();
    let probe_started = parse_iso(probe["startedAt"].as_str().unwrap()).unwrap();
    assert!(probe_started - third_answered >= park.as_millis() as i64 - 5, "the probe came {} ms after the third failure", probe_started - third_answered);
}

#[tokio::test]
async fn finished_deliveries_are_forgotten_after_the_retention() {
    let f = fresh();
    let n = Node::start_tuned(&f.url, f.dir.path(), |_| {}, |d| {
        d.retention = Duration::from_millis(300);
        d.prune_interval = Duration::from_millis(50);
        d.poll_interval = Duration::from_millis(50);
    })
    .await;
    let rx = Receiver::start(vec![Reply::Status(500)], 0).await;
    let app_id = n.app().await;
    let (_, hook) = n.hook(&app_id, &rx.url, &["user:remove"], json!({})).await;
    let webhook_id = hook["id"].as_str().unwrap();
    let user = n.user(&app_id, json!({})).await;
    n.delete_user(&app_id, &user).await;
    // Once the retry has been answered, the delivery row exists until retention drops it.
    rx.wait_until("the retry answered", |h| h.len() >= 2 && h[1].answered == 200).await;
    let node = &n;
    let s = eventually("the delivered row to be forgotten", move || async move {
        // Pending until the retry's answer is recorded, then delivered until forgotten.
        let s = node.status(webhook_id).await;
        if s["delivered"] == 0 && s["pending"] == 0 { Ok(s) } else { Err(s.to_string()) }
    })
    .await;
    let attempts = n.ok("GET", &format!("/admin/webhooks/{webhook_id}/attempts"), None).await;
    assert_eq!(attempts["attempts"], json!([]));
    // The webhook's health (last success) outlives the rows.
    assert!(s["lastSuccessAt"].is_string());
}

#[tokio::test]
async fn connection_errors_are_retried_then_fail() {
    let (n, _f) = node().await;
    // A port nobody listens on.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let app_id = n.app().await;
    let (_, hook) = n.hook(&app_id, &format!("http://{closed}/hook"), &["user:remove"], json!({})).await;
    let webhook_id = hook["id"].as_str().unwrap();
    let user = n.user(&app_id, json!({})).await;
    n.delete_user(&app_id, &user).await;
    let s = n.drained(webhook_id).await;
    assert_eq!((s["failed"].as_i64(), s["consecutiveFailures"].as_i64()), (Some(1), Some(5)));
    assert!(s["lastError"].as_str().unwrap().starts_with("connection failed"), "{s}");
    let attempts = n.ok("GET", &format!("/admin/webhooks/{webhook_id}/attempts"), None).await;
    assert_eq!(attempts["attempts"].as_array().unwrap().len(), 5);
}

// ---- batches: due events of one webhook share a request ----

/// A webhook on `conversation:message` and `conversations` conversations, then the node
/// stops; `per_conversation` messages per conversation are committed (interleaved) while it
/// is down, so they are all due at once when it starts again (tuned by `tune_delivery`).
/// Returns the running node, the webhook, and the conversation ids.
async fn backlog_of_messages(f: &Fresh, rx: &Receiver, conversations: usize, per_conversation: usize, tune_delivery: impl FnOnce(&mut DeliverySettings)) -> (Node, Value, Vec<String>) {
    let n = Node::start(&f.url, f.dir.path(), |_| {}).await;
    let app_id = n.app().await;
    let (_, hook) = n.hook(&app_id, &rx.url, &["conversation:message"], json!({})).await;
    let mut convs = Vec::new();
    for i in 0..conversations {
        let user = n.user(&app_id, json!({"externalId": format!("u{i}")})).await;
        let c = n.ok("POST", &format!("/v2/apps/{app_id}/conversations"), Some(json!({"type": "personal", "participants": [{"userId": user}]}))).await;
        convs.push(c["conversation"]["id"].as_str().unwrap().to_string());
    }
    n.stop().await;

    let store = open(&f.url).await;
    let settings = store.get_app(&app_id).await.unwrap().settings;
    for i in 0..per_conversation {
        for c in &convs {
            let body = json!({"author": {"type": "business"}, "content": {"type": "text", "text": format!("{i}")}});
            let new = sunbeam::domain::message::parse_message_post(body, &settings).unwrap();
            store.post_message(&app_id, c, new, json!({"type": "api:conversations"})).await.unwrap();
        }
    }
    store.close().await;
    assert!(rx.hits().is_empty());
    let n = Node::start_tuned(&f.url, f.dir.path(), |_| {}, tune_delivery).await;
    (n, hook, convs)
}

fn conversation_of(h: &Hit) -> String {
    h.event()["payload"]["conversation"]["id"].as_str().unwrap().to_string()
}

fn text_of(h: &Hit) -> usize {
    h.event()["payload"]["message"]["content"]["text"].as_str().unwrap().parse().unwrap()
}

/// Per request: (request number, what was answered, the events' ids).
fn requests_of(hits: &[Hit]) -> Vec<(usize, u16, Vec<String>)> {
    let mut out: Vec<(usize, u16, Vec<String>)> = Vec::new();
    for h in hits {
        match out.last_mut() {
            Some((r, _, ids)) if *r == h.request => ids.push(h.event_id()),
            _ => out.push((h.request, h.answered, vec![h.event_id()])),
        }
    }
    out
}

#[tokio::test]
async fn due_events_travel_in_batches_in_order_and_each_arrives_once() {
    for f in backends().await {
        due_events_travel_in_batches_in_order_and_each_arrives_once_on(f).await;
    }
}

async fn due_events_travel_in_batches_in_order_and_each_arrives_once_on(f: Fresh) {
    let rx = Receiver::start(vec![], 0).await;
    let (per_conv, cap) = (10, 4);
    let (n, hook, convs) = backlog_of_messages(&f, &rx, 3, per_conv, |d| d.max_batch = cap).await;
    let total = per_conv * convs.len();
    rx.wait_for(total).await;
    let s = n.drained(hook["id"].as_str().unwrap()).await;
    assert_eq!((s["delivered"].as_i64(), s["failed"].as_i64()), (Some(total as i64), Some(0)));
    let hits = rx.hits();

    // Exactly once each.
    let mut ids: Vec<String> = hits.iter().map(Hit::event_id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!((hits.len(), ids.len()), (total, total), "each event exactly once");
    // In batches, none larger than the cap, every one of them accepted.
    let requests = requests_of(&hits);
    assert!(requests.iter().all(|(_, answered, ids)| *answered == 200 && ids.len() <= cap), "{requests:?}");
    assert!(requests.len() < total, "due events share requests: {} requests for {total} events", requests.len());
    assert!(requests.iter().any(|(_, _, ids)| ids.len() == cap), "a full batch: {requests:?}");
    // Each conversation's events in its order, across and within requests.
    for c in &convs {
        let texts: Vec<usize> = hits.iter().filter(|h| conversation_of(h) == *c).map(text_of).collect();
        assert_eq!(texts, (0..per_conv).collect::<Vec<_>>(), "conversation {c}");
    }
    // An attempt is recorded per delivery.
    let attempts = n.ok("GET", &format!("/admin/webhooks/{}/attempts?limit=100", hook["id"].as_str().unwrap()), None).await;
    let attempts = attempts["attempts"].as_array().unwrap();
    assert!(attempts.iter().all(|a| a["status"] == 200 && a["attempt"] == 1), "{attempts:?}");
    n.stop().await;
}

#[tokio::test]
async fn a_failed_batch_is_retried_whole_in_the_same_order() {
    for f in backends().await {
        a_failed_batch_is_retried_whole_in_the_same_order_on(f).await;
    }
}

async fn a_failed_batch_is_retried_whole_in_the_same_order_on(f: Fresh) {
    let rx = Receiver::start(vec![Reply::Status(503)], 0).await;
    let per_conv = 4;
    let (n, hook, convs) = backlog_of_messages(&f, &rx, 3, per_conv, |_| {}).await;
    let total = per_conv * convs.len();
    let webhook_id = hook["id"].as_str().unwrap();
    rx.wait_until("a retry accepted", |h| h.iter().filter(|x| x.answered == 200).count() >= total).await;
    let s = n.drained(webhook_id).await;
    assert_eq!((s["delivered"].as_i64(), s["failed"].as_i64(), s["consecutiveFailures"].as_i64()), (Some(total as i64), Some(0), Some(0)));
    let hits = rx.hits();
    // Everything due went in one request; the 503 sent all of it back, and the retry
    // carried the same events (same ids) in the same order.
    let requests = requests_of(&hits);
    assert_eq!(requests.len(), 2, "{requests:?}");
    let ((_, first, a), (_, second, b)) = (&requests[0], &requests[1]);
    assert_eq!((*first, *second, a.len()), (503, 200, total));
    assert_eq!(a, b);
    for c in &convs {
        let texts: Vec<usize> = hits.iter().filter(|h| h.answered == 200 && conversation_of(h) == *c).map(text_of).collect();
        assert_eq!(texts, (0..per_conv).collect::<Vec<_>>(), "conversation {c}");
    }
    // Two attempts recorded per delivery: the 503, then the 200.
    let attempts = n.ok("GET", &format!("/admin/webhooks/{webhook_id}/attempts?limit=100"), None).await;
    let attempts = attempts["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2 * total);
    assert_eq!(attempts.iter().filter(|a| a["status"] == 503 && a["attempt"] == 1).count(), total);
    assert_eq!(attempts.iter().filter(|a| a["status"] == 200 && a["attempt"] == 2).count(), total);
    n.stop().await;
}

#[tokio::test]
async fn expiry_never_overtakes_a_delivery_in_flight() {
    let f = fresh();
    // Retries far off, so a pending delivery fails only by expiry.
    let n = Node::start_tuned(&f.url, f.dir.path(), |c| {
        c.webhook_timeout_ms = 10_000;
        c.webhook_retry_delays_ms = vec![600_000; 4];
    }, |d| {
        d.max_pending_age = Duration::from_millis(300);
        d.prune_interval = Duration::from_millis(50);
        d.poll_interval = Duration::from_millis(50);
    })
    .await;
    let gate = Arc::new(Semaphore::new(0));
    let rx = Receiver::start(vec![Reply::HoldUntil(gate.clone())], 0).await;
    let app_id = n.app().await;
    let (_, hook) = n.hook(&app_id, &rx.url, &["conversation:message"], json!({})).await;
    let webhook_id = hook["id"].as_str().unwrap();
    // A witness: a webhook nobody answers, whose one delivery waits for a retry.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let (_, witness) = n.hook(&app_id, &format!("http://{closed}/hook"), &["user:remove"], json!({})).await;
    let witness_id = witness["id"].as_str().unwrap();
    let user = n.user(&app_id, json!({})).await;
    let c = n.ok("POST", &format!("/v2/apps/{app_id}/conversations"), Some(json!({"type": "personal", "participants": [{"userId": user}]}))).await;
    let path = format!("/v2/apps/{app_id}/conversations/{}/messages", c["conversation"]["id"].as_str().unwrap());
    let post = |i: usize| n.ok("POST", &path, Some(json!({"author": {"type": "business"}, "content": {"type": "text", "text": format!("{i}")}})));
    post(0).await;
    rx.wait_for(1).await;
    post(1).await;
    post(2).await;
    let other = n.user(&app_id, json!({})).await;
    n.delete_user(&app_id, &other).await;

    // The witness was routed after the two messages, so the retention run that expired it
    // had them in view too: they were just as old.
    let node = &n;
    eventually("the witness to expire", move || async move {
        let s = node.status(witness_id).await;
        if s["failed"] == 1 { Ok(()) } else { Err(s.to_string()) }
    })
    .await;
    let attempts = n.ok("GET", &format!("/admin/webhooks/{witness_id}/attempts"), None).await;
    assert_eq!(attempts["attempts"].as_array().unwrap().len(), 1, "it failed by expiry, not by running out of attempts: {attempts}");
    // Yet the two behind the one in flight are still pending: a line's finished
    // deliveries stay a prefix of it.
    let s = n.status(webhook_id).await;
    assert_eq!((s["pending"].as_i64(), s["failed"].as_i64()), (Some(3), Some(0)), "{s}");

    // Whatever becomes of them once the first is answered, none reached the target before.
    gate.add_permits(1);
    let s = n.drained(webhook_id).await;
    assert_eq!(s["delivered"].as_i64().unwrap() + s["failed"].as_i64().unwrap(), 3);
    let hits = rx.hits();
    assert_eq!(text_of(&hits[0]), 0);
    assert!(hits[1..].iter().all(|h| h.request > 0 && text_of(h) > 0), "{hits:#?}");
}

// ---- the schedule and the circuit, step by step (no dispatcher; `events::step`) ----

/// A store with no server over it (so nothing sends but `step`), and an app whose custom
/// integration's webhook posts `triggers` to `target`. Returns (store, app, webhook id).
async fn stepped(f: &Fresh, target: &str, triggers: &[&str]) -> (Store, String, String) {
    let store = open(&f.url).await;
    let app = store.create_app(sunbeam::domain::app::new_app(sunbeam::domain::ids::new_id(), json!({"displayName": "Shop"})).unwrap()).await.unwrap();
    let (integration, webhook) = sunbeam::domain::integration::new_integration(
        sunbeam::domain::ids::new_id(),
        sunbeam::domain::ids::new_id(),
        json!({"type": "custom", "webhooks": [{"target": target, "triggers": triggers}]}),
    )
    .unwrap();
    let webhook_id = webhook.as_ref().unwrap().id.clone();
    store.create_integration(&app.id, integration, webhook).await.unwrap();
    (store, app.id, webhook_id)
}

/// Commits one `user:remove` event (a user created and deleted).
async fn remove_a_user(store: &Store, app_id: &str) {
    let user = sunbeam::domain::user::new_user(sunbeam::domain::ids::new_id(), now_ms(), json!({}), false).unwrap();
    let user = store.create_user(app_id, user).await.unwrap();
    store.delete_user(app_id, &user.id).await.unwrap();
}

/// A clock reading for a first step: a little ahead of the wall clock, since routing
/// stamps new deliveries due at the store's (wall) clock.
fn step_clock() -> i64 {
    now_ms() + 1_000
}

async fn stepped_status(store: &Store, webhook_id: &str) -> WebhookStatus {
    store.webhook_statuses(None).await.unwrap().into_iter().find(|s| s.webhook_id == webhook_id).unwrap()
}

/// The one request a step sent, with its one outcome: (answer, verdict, attempt number).
fn only_attempt(r: &StepReport) -> (Answer, Verdict, i64) {
    assert_eq!(r.sent(), 1, "{r:?}");
    let a = &r.attempts[0];
    assert_eq!(a.outcomes.len(), 1, "{r:?}");
    (a.answer.clone(), a.outcomes[0].verdict, a.outcomes[0].attempt)
}

#[tokio::test]
async fn a_5xx_is_retried_on_the_schedule_and_the_fifth_failure_is_final() {
    for f in backends().await {
        a_5xx_is_retried_on_the_schedule_and_the_fifth_failure_is_final_on(f).await;
    }
}

async fn a_5xx_is_retried_on_the_schedule_and_the_fifth_failure_is_final_on(f: Fresh) {
    let answers = [500u16, 502, 503, 504, 500];
    let rx = Receiver::start(answers.iter().map(|s| Reply::Status(*s)).collect(), 0).await;
    let (store, app_id, webhook_id) = stepped(&f, &rx.url, &["user:remove"]).await;
    // The spec's schedule: 5 attempts, waits of 1, 2, 4 and 8 minutes ± 20 %.
    let settings = DeliverySettings::default();
    remove_a_user(&store, &app_id).await;

    let mut now = step_clock();
    let first = step(&store, &settings, now).await.unwrap();
    assert_eq!(first.routed, 1);
    let (mut answer, mut verdict, mut attempt) = only_attempt(&first);
    let delivery = first.attempts[0].deliveries.clone();
    for (made, status) in answers.iter().enumerate().map(|(i, s)| (i as i64 + 1, *s)) {
        assert_eq!((&answer, attempt), (&Answer::Status(status), made));
        if made == 5 {
            assert_eq!(verdict, Verdict::Failed, "the fifth attempt is the last");
            break;
        }
        let Verdict::Retry { at } = verdict else { panic!("attempt {made}: {verdict:?}") };
        let wait = settings.retry_delays[made as usize - 1].as_millis() as i64;
        assert!((wait * 8 / 10 - 1..=wait * 12 / 10 + 1).contains(&(at - now)), "attempt {made}: retry in {} ms, the wait is {wait} ms ± 20 %", at - now);
        // Not a millisecond early…
        let early = step(&store, &settings, at - 1).await.unwrap();
        assert_eq!(early.sent(), 0, "before its time: {early:?}");
        // …and then the same delivery again.
        now = at;
        let next = step(&store, &settings, now).await.unwrap();
        assert_eq!(next.attempts.first().map(|a| &a.deliveries), Some(&delivery), "{next:?}");
        (answer, verdict, attempt) = only_attempt(&next);
    }
    // A failed delivery is never tried again.
    assert_eq!(step(&store, &settings, now + 86_400_000).await.unwrap().sent(), 0);

    let hits = rx.hits();
    assert_eq!(hits.iter().map(|h| h.answered).collect::<Vec<_>>(), answers, "exactly five requests");
    assert!(hits.iter().all(|h| h.event_id() == hits[0].event_id()), "the same event each time");
    let s = stepped_status(&store, &webhook_id).await;
    assert_eq!((s.pending, s.delivered, s.failed, s.consecutive_failures), (0, 0, 1, 5), "{s:?}");
    assert_eq!(s.last_error.as_deref(), Some("HTTP 500"));
    let attempts = store.webhook_attempts(&webhook_id, 10).await.unwrap();
    assert_eq!(attempts.iter().map(|a| (a.attempt, a.status)).collect::<Vec<_>>(), [(5, Some(500)), (4, Some(504)), (3, Some(503)), (2, Some(502)), (1, Some(500))]);
    assert!(attempts.iter().all(|a| a.state == "failed"));
    store.close().await;
}

#[tokio::test]
async fn the_non_recoverable_statuses_are_not_retried_and_others_are() {
    for f in backends().await {
        the_non_recoverable_statuses_are_not_retried_and_others_are_on(f).await;
    }
}

async fn the_non_recoverable_statuses_are_not_retried_and_others_are_on(f: Fresh) {
    let refusals = [400u16, 401, 403, 404, 406];
    // Then a 4xx that is not among them (410), retried and accepted.
    let script = refusals.iter().chain(&[410, 200]).map(|s| Reply::Status(*s)).collect();
    let rx = Receiver::start(script, 0).await;
    let (store, app_id, webhook_id) = stepped(&f, &rx.url, &["user:remove"]).await;
    let settings = DeliverySettings::default();
    let later = 86_400_000;
    for code in refusals {
        // One event per step, so each gets a request (and a scripted answer) of its own.
        remove_a_user(&store, &app_id).await;
        let now = step_clock();
        let r = step(&store, &settings, now).await.unwrap();
        assert_eq!(only_attempt(&r), (Answer::Status(code), Verdict::Failed, 1), "{code}");
        assert_eq!(step(&store, &settings, now + later).await.unwrap().sent(), 0, "{code} is not retried");
    }
    let s = stepped_status(&store, &webhook_id).await;
    assert_eq!((s.pending, s.delivered, s.failed), (0, 0, 5), "{s:?}");
    // A refusal says nothing about the target's health: the circuit stays closed.
    assert_eq!((s.consecutive_failures, s.parked_until.as_deref()), (0, None));

    remove_a_user(&store, &app_id).await;
    let now = step_clock();
    let r = step(&store, &settings, now).await.unwrap();
    let (answer, verdict, _) = only_attempt(&r);
    assert_eq!(answer, Answer::Status(410));
    let Verdict::Retry { at } = verdict else { panic!("410 is retried: {verdict:?}") };
    let r = step(&store, &settings, at).await.unwrap();
    assert_eq!(only_attempt(&r), (Answer::Status(200), Verdict::Delivered, 2));

    assert_eq!(rx.requests_seen(), [(400, 1), (401, 1), (403, 1), (404, 1), (406, 1), (410, 1), (200, 1)]);
    let s = stepped_status(&store, &webhook_id).await;
    assert_eq!((s.pending, s.delivered, s.failed, s.consecutive_failures), (0, 1, 5, 0), "{s:?}");
    store.close().await;
}

#[tokio::test]
async fn the_circuit_parks_a_failing_target_then_probes_it_with_one_delivery() {
    for f in backends().await {
        the_circuit_parks_a_failing_target_then_probes_it_with_one_delivery_on(f).await;
    }
}

async fn the_circuit_parks_a_failing_target_then_probes_it_with_one_delivery_on(f: Fresh) {
    let script = [500u16, 500, 500, 500, 200, 200].iter().map(|s| Reply::Status(*s)).collect();
    let rx = Receiver::start(script, 0).await;
    let (store, app_id, webhook_id) = stepped(&f, &rx.url, &["user:remove"]).await;
    let park = Duration::from_secs(60);
    let settings = DeliverySettings {
        // Retries due at once, so only the circuit holds anything back.
        retry_delays: vec![Duration::from_millis(1); 4],
        jitter: 0.0,
        circuit_threshold: 3,
        circuit_park: park,
        circuit_max_park: Duration::from_secs(900),
        ..DeliverySettings::default()
    };
    // Three events (three users: three lines), due together: one request each time.
    for _ in 0..3 {
        remove_a_user(&store, &app_id).await;
    }
    let mut now = step_clock();
    let mut all = Vec::new();
    let mut wall = 0;
    for failure in 1..=3 {
        wall = now_ms();
        let r = step(&store, &settings, now).await.unwrap();
        assert_eq!((r.sent(), &r.attempts[0].answer), (1, &Answer::Status(500)), "{r:?}");
        all = r.attempts[0].deliveries.clone();
        assert_eq!(all.len(), 3, "{r:?}");
        let s = stepped_status(&store, &webhook_id).await;
        assert_eq!((s.consecutive_failures, s.parked_until.is_some()), (failure, failure == 3), "{s:?}");
        now += 1;
    }
    let (a, b, c) = (all[0], all[1], all[2]);

    // Parked: although all three are due, nothing goes until the park ends. The park is
    // timed by the store's clock; the next wake-up says when.
    let park_ms = park.as_millis() as i64;
    let park_end = store.next_delivery_wake(now).await.unwrap().expect("a parked webhook wakes");
    assert!((wall + park_ms..=now_ms() + park_ms).contains(&park_end), "parked for the circuit's park from the third failure: until {park_end}");
    assert_eq!(step(&store, &settings, park_end - 1).await.unwrap().sent(), 0, "parked");
    // Then one probe of one delivery (the oldest); it fails, and the park doubles.
    let wall = now_ms();
    let r = step(&store, &settings, park_end).await.unwrap();
    assert_eq!((r.sent(), &r.attempts[0].answer, &r.attempts[0].deliveries), (1, &Answer::Status(500), &vec![a]), "{r:?}");
    let s = stepped_status(&store, &webhook_id).await;
    assert_eq!(s.consecutive_failures, 4);
    let second_end = store.next_delivery_wake(park_end + 1).await.unwrap().expect("parked again");
    assert!((wall + 2 * park_ms..=now_ms() + 2 * park_ms).contains(&second_end), "parked twice as long after the failed probe: until {second_end}");
    assert_eq!(step(&store, &settings, second_end - 1).await.unwrap().sent(), 0, "parked again");
    // The next probe (the next oldest) succeeds and closes the circuit…
    let r = step(&store, &settings, second_end).await.unwrap();
    assert_eq!((r.sent(), &r.attempts[0].answer, &r.attempts[0].deliveries), (1, &Answer::Status(200), &vec![b]), "{r:?}");
    let s = stepped_status(&store, &webhook_id).await;
    assert_eq!((s.consecutive_failures, s.parked_until.as_deref()), (0, None), "{s:?}");
    // …and the rest go together again.
    let r = step(&store, &settings, second_end).await.unwrap();
    assert_eq!((r.sent(), &r.attempts[0].answer, &r.attempts[0].deliveries), (1, &Answer::Status(200), &vec![a, c]), "{r:?}");

    assert_eq!(rx.requests_seen(), [(500, 3), (500, 3), (500, 3), (500, 1), (200, 1), (200, 2)]);
    let s = stepped_status(&store, &webhook_id).await;
    assert_eq!((s.pending, s.delivered, s.failed), (0, 3, 0), "{s:?}");
    store.close().await;
}
