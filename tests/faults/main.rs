//! Fault tests: things break on purpose, on loopback only, each bounded in time.
//!
//! - `kill -9` of the server process (the built binary) while 16 clients post messages
//!   with a webhook subscribed: after a restart every acknowledged message is listed, in
//!   each client's order, and its `conversation:message` event reaches the receiver.
//! - Webhook targets that hang, answer 500 forever, or answer a 100 MB body: a healthy
//!   target of the same app gets every event all the same.
//! - PostgreSQL connections killed (`pg_terminate_backend`) and a throwaway PostgreSQL of
//!   the test's own briefly stopped (`postgres.rs` here): 503 while it is gone, recovery
//!   without a restart, nothing acknowledged lost.

#[path = "../common/mod.rs"]
mod common;

mod postgres;

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use base64::Engine;
use serde_json::{json, Value};

use common::eventually;

pub const ACCOUNT_ID: &str = "act_0000000000000000000fa017";
pub const ACCOUNT_SECRET: &str = "fault-tests-account-secret";

pub fn account_auth() -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{ACCOUNT_ID}:{ACCOUNT_SECRET}")))
}

/// The built binary serving `database_url`, with its data in `dir`; stdout is read until it
/// says where it listens. Killed (SIGKILL) when dropped.
pub struct Process {
    child: Child,
    pub base: String,
}

impl Process {
    pub fn start(dir: &Path, database_url: &str) -> Process {
        let mut child = Command::new(env!("CARGO_BIN_EXE_sunbeam"))
            .arg("serve")
            .current_dir(dir)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("SUNBEAM_LISTEN", "127.0.0.1:0")
            .env("SUNBEAM_DATABASE_URL", database_url)
            .env("SUNBEAM_DATA_DIR", dir)
            .env("SUNBEAM_ACCOUNT_KEY_ID", ACCOUNT_ID)
            .env("SUNBEAM_ACCOUNT_KEY_SECRET", ACCOUNT_SECRET)
            .env("SUNBEAM_RATE_LIMITS", "off")
            .env("SUNBEAM_WEBHOOK_RETRY_DELAYS_MS", "100,200,400,800,1600")
            .env("SUNBEAM_DB_ACQUIRE_TIMEOUT_MS", "1000")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the sunbeam binary");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("Sunbeam listening on ").nth(1) {
                    let _ = tx.send(rest.split_whitespace().next().unwrap_or("").trim_end_matches('/').to_string());
                }
            }
        });
        let base = rx.recv_timeout(common::WAIT).expect("the server says where it listens");
        Process { child, base }
    }

    /// `kill -9`.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A client of one server.
#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub http: reqwest::Client,
}

impl Api {
    pub fn new(base: &str) -> Api {
        Api { base: base.to_string(), http: reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap() }
    }

    /// Sends as the account key; `Err` when no answer came (connection refused, reset).
    pub async fn try_call(&self, method: &str, path: &str, body: Option<Value>) -> Result<(u16, Value, Option<String>), String> {
        let mut req = self.http.request(method.parse().unwrap(), format!("{}{path}", self.base)).header("authorization", account_auth());
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.map_err(|e| e.to_string())?;
        let status = res.status().as_u16();
        let retry_after = res.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_string);
        let text = res.text().await.map_err(|e| e.to_string())?;
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::String(text)), retry_after))
    }

    pub async fn ok(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, body, _) = self.try_call(method, path, body).await.expect("an answer");
        assert!((200..300).contains(&status), "{method} {path}: {status} {body}");
        body
    }

    /// An app, a user, a conversation, and a custom integration whose webhook (one per
    /// target) gets `conversation:message`: (app id, conversation id).
    pub async fn fixture(&self, targets: &[&str]) -> (String, String) {
        let app = self.ok("POST", "/v2/apps", Some(json!({"displayName": "Faults"}))).await["app"]["id"].as_str().unwrap().to_string();
        for (i, target) in targets.iter().enumerate() {
            self.ok(
                "POST",
                &format!("/v2/apps/{app}/integrations"),
                Some(json!({"type": "custom", "displayName": format!("hook {i}"), "webhooks": [{"target": target, "triggers": ["conversation:message"]}]})),
            )
            .await;
        }
        let user = self.ok("POST", &format!("/v2/apps/{app}/users"), Some(json!({"externalId": "fault-user"}))).await["user"]["id"].as_str().unwrap().to_string();
        let conv = self.ok("POST", &format!("/v2/apps/{app}/conversations"), Some(json!({"type": "personal", "participants": [{"userId": user}]}))).await["conversation"]["id"]
            .as_str()
            .unwrap()
            .to_string();
        (app, conv)
    }

    pub async fn post(&self, app: &str, conv: &str, text: &str) -> Result<(u16, Value, Option<String>), String> {
        self.try_call("POST", &format!("/v2/apps/{app}/conversations/{conv}/messages"), Some(json!({"author": {"type": "business"}, "content": {"type": "text", "text": text}})))
            .await
    }

    /// Every message of a conversation, oldest first (paging back from the newest).
    pub async fn all_messages(&self, app: &str, conv: &str) -> Vec<Value> {
        let mut pages: Vec<Vec<Value>> = vec![];
        let mut before: Option<String> = None;
        loop {
            let q = before.as_ref().map(|b| format!("?page[before]={b}")).unwrap_or_default();
            let body = self.ok("GET", &format!("/v2/apps/{app}/conversations/{conv}/messages{q}"), None).await;
            let page = body["messages"].as_array().cloned().unwrap_or_default();
            if page.is_empty() {
                break;
            }
            before = page[0]["id"].as_str().map(str::to_string);
            let more = body["meta"]["hasMore"].as_bool().unwrap_or(false);
            pages.push(page);
            if !more {
                break;
            }
        }
        pages.into_iter().rev().flatten().collect()
    }
}

/// A webhook target recording the message ids of the events it gets, answering as told.
#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    pub ids: Arc<Mutex<Vec<String>>>,
}

#[derive(Clone, Copy)]
pub enum Behaviour {
    Ok,
    Hang,
    Fail,
    HugeBody,
}

async fn receive(State((r, behaviour)): State<(Receiver, Behaviour)>, body: String) -> axum::response::Response {
    use axum::response::IntoResponse;
    let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    for e in body["events"].as_array().into_iter().flatten() {
        if let Some(id) = e["payload"]["message"]["id"].as_str() {
            r.ids.lock().unwrap().push(id.to_string());
        }
    }
    match behaviour {
        Behaviour::Ok => StatusCode::OK.into_response(),
        Behaviour::Fail => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        Behaviour::Hang => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            StatusCode::OK.into_response()
        }
        Behaviour::HugeBody => {
            // 100 MB, streamed: the sender reads a bounded amount and moves on.
            let chunk = bytes::Bytes::from(vec![b'x'; 1024 * 1024]);
            let stream = futures::stream::iter((0..100).map(move |_| Ok::<_, std::io::Error>(chunk.clone())));
            (StatusCode::OK, axum::body::Body::from_stream(stream)).into_response()
        }
    }
}

impl Receiver {
    pub async fn start(behaviour: Behaviour) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let r = Receiver { url: format!("http://{}/hook", listener.local_addr().unwrap()), ids: Default::default() };
        let app = Router::new().route("/hook", post(receive)).with_state((r.clone(), behaviour));
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        r
    }

    pub fn ids(&self) -> HashSet<String> {
        self.ids.lock().unwrap().iter().cloned().collect()
    }

    /// Waits until every id in `want` has arrived (at least once).
    pub async fn wait_for_all(&self, want: &[String]) {
        eventually("every acknowledged message at the webhook receiver", || async {
            let got = self.ids();
            let missing = want.iter().filter(|id| !got.contains(*id)).count();
            if missing == 0 {
                Ok(())
            } else {
                Err(format!("{missing} of {} not received yet", want.len()))
            }
        })
        .await
    }
}

/// Checks that every acknowledged message is listed, each client's in the order it posted
/// them: `acked[client]` holds (n, message id) in posting order.
pub fn assert_listed_in_order(listed: &[Value], acked: &[Vec<(usize, String)>]) {
    let position: HashMap<&str, usize> = listed.iter().enumerate().filter_map(|(i, m)| Some((m["id"].as_str()?, i))).collect();
    for (client, msgs) in acked.iter().enumerate() {
        let mut last = None;
        for (n, id) in msgs {
            let at = *position.get(id.as_str()).unwrap_or_else(|| panic!("client {client}'s acknowledged message {n} ({id}) is not listed"));
            assert!(last.is_none_or(|l| l < at), "client {client}'s message {n} is listed before its previous one");
            assert_eq!(listed[at]["content"]["text"], format!("c{client}-{n}"));
            last = Some(at);
        }
    }
}

/// 16 clients posting as fast as they can until `stop`; what each got acknowledged.
pub fn posters(api: &Api, app: &str, conv: &str, stop: Arc<AtomicBool>) -> Vec<tokio::task::JoinHandle<Vec<(usize, String)>>> {
    (0..16)
        .map(|client| {
            let (api, app, conv, stop) = (api.clone(), app.to_string(), conv.to_string(), stop.clone());
            tokio::spawn(async move {
                let mut acked = vec![];
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    match api.post(&app, &conv, &format!("c{client}-{n}")).await {
                        Ok((201, body, _)) => acked.push((n, body["messages"][0]["id"].as_str().unwrap().to_string())),
                        // Refused cleanly or unanswered: the message may or may not be
                        // stored; it was not acknowledged. The next one gets a new number.
                        Ok((503, _, Some(_))) | Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                        Ok(other) => panic!("client {client}: only 201 or 503 with Retry-After, got {other:?}"),
                    }
                    n += 1;
                }
                acked
            })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_while_16_clients_post_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/sunbeam.db", dir.path().display());
    let receiver = Receiver::start(Behaviour::Ok).await;
    let server = Process::start(dir.path(), &url);
    let api = Api::new(&server.base);
    let (app, conv) = api.fixture(&[&receiver.url]).await;

    let stop = Arc::new(AtomicBool::new(false));
    let tasks = posters(&api, &app, &conv, stop.clone());
    // Kill it in the middle of the stream: once a good number are acknowledged.
    eventually("200 messages acknowledged before the kill", || async {
        let got = receiver.ids().len();
        let listed = api.try_call("GET", &format!("/v2/apps/{app}/conversations/{conv}/messages"), None).await.map(|r| r.1["messages"].as_array().map_or(0, Vec::len));
        match listed {
            Ok(n) if n >= 100 => Ok(()),
            other => Err(format!("{other:?} listed, {got} delivered")),
        }
    })
    .await;
    server.kill();
    stop.store(true, Ordering::Relaxed);
    let mut acked = vec![];
    for t in tasks {
        acked.push(t.await.unwrap());
    }
    let total: usize = acked.iter().map(Vec::len).sum();
    assert!(total >= 100, "{total} acknowledged");

    let server = Process::start(dir.path(), &url);
    let api = Api::new(&server.base);
    let listed = api.all_messages(&app, &conv).await;
    assert_listed_in_order(&listed, &acked);
    let want: Vec<String> = acked.iter().flatten().map(|(_, id)| id.clone()).collect();
    receiver.wait_for_all(&want).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hanging_failing_and_huge_webhook_targets_do_not_delay_a_healthy_one() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/sunbeam.db", dir.path().display());
    let healthy = Receiver::start(Behaviour::Ok).await;
    let hang = Receiver::start(Behaviour::Hang).await;
    let fail = Receiver::start(Behaviour::Fail).await;
    let huge = Receiver::start(Behaviour::HugeBody).await;
    let server = Process::start(dir.path(), &url);
    let api = Api::new(&server.base);
    let (app, conv) = api.fixture(&[&hang.url, &fail.url, &huge.url, &healthy.url]).await;
    let mut ids = vec![];
    for n in 0..30 {
        let (status, body, _) = api.post(&app, &conv, &format!("m{n}")).await.unwrap();
        assert_eq!(status, 201, "{body}");
        ids.push(body["messages"][0]["id"].as_str().unwrap().to_string());
    }
    // The healthy target gets all 30 while the others hang (the server's timeout is the
    // default 20 s, longer than the wait here would allow for serialised delivery),
    // fail, or stream 100 MB.
    healthy.wait_for_all(&ids).await;
    assert!(!hang.ids().is_empty() && !fail.ids().is_empty() && !huge.ids().is_empty(), "every target was tried");
    let (status, _, _) = api.try_call("GET", "/health", None).await.unwrap();
    assert_eq!(status, 200);
}
