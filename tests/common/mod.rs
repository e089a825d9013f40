//! Shared by the test binaries: a real server on a loopback port, over a fresh store.
#![allow(dead_code)]

use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};
use sunbeam::config::ServeConfig;
use sunbeam::server::{bootstrap, Bootstrap, Server};
use sunbeam::store::webhooks::WebhookStatus;
use sunbeam::store::{SecretBox, Store, StoreLimits};

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// A fresh, uniquely named PostgreSQL database, when one is reachable
/// (`SUNBEAM_TEST_POSTGRES_URL`, else the local server). Under CI its absence fails; elsewhere
/// the test says on the terminal that its PostgreSQL part is skipped (see [`report_skipped`]).
pub async fn fresh_postgres_url() -> Option<String> {
    use sqlx::Connection;
    let admin = std::env::var("SUNBEAM_TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    sqlx::any::install_default_drivers();
    let mut conn = match sqlx::AnyConnection::connect(&admin).await {
        Ok(c) => c,
        Err(e) => {
            if std::env::var("CI").is_ok() {
                panic!("PostgreSQL is required under CI but {} is not reachable: {e}", without_password(&admin));
            }
            report_skipped(&format!("unreachable at {}: {e}", without_password(&admin)));
            return None;
        }
    };
    drop_stale_test_databases(&mut conn).await;
    let name = format!("sunbeam_test_{}", sunbeam::domain::ids::new_id());
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await.expect("create test database");
    let base = admin.rsplit_once('/').map(|(b, _)| b.to_string()).unwrap_or(admin.clone());
    Some(format!("{base}/{name}"))
}

/// The harness has no "skipped" outcome: a test that cannot run its PostgreSQL part
/// returns and is counted as passed. So it says so itself, as a line of the harness's own
/// shape, `test <name> ... SKIPPED on PostgreSQL (<why>)`, written to stderr directly: the
/// harness captures only the `print!` family, so this line shows in a normal `cargo test`
/// run (tests run on threads named after them).
pub fn report_skipped(why: &str) {
    let name = std::thread::current().name().filter(|n| *n != "main").map(str::to_string).unwrap_or_else(|| "(this test)".into());
    let _ = writeln!(std::io::stderr(), "test {name} ... SKIPPED on PostgreSQL ({why})");
}

/// A database URL fit for a log line.
fn without_password(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

/// How long a test waits for a condition before it fails.
pub const WAIT: Duration = Duration::from_secs(20);

/// Polls `probe` every 10 ms until it answers `Ok`, and returns that; fails the test after
/// [`WAIT`], naming `what` and the last `Err` (the state seen).
pub async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let start = Instant::now();
    loop {
        match probe().await {
            Ok(v) => return v,
            Err(seen) if start.elapsed() >= WAIT => panic!("timed out after {WAIT:?} waiting for {what}; last seen: {seen}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

/// Waits until the store's webhook work is drained: every outbox event routed and no
/// delivery of any webhook pending (neither in flight nor waiting for a retry); returns
/// every webhook's status then.
///
/// From that point no webhook request is under way or can still come (until something
/// new is committed): a delivery stops being pending only when its attempt is recorded,
/// after the target answered, and a target records what it got before it answers. So a
/// receiver's count read after this is final, and a test may assert it exactly.
pub async fn webhooks_drained(store: &Store) -> Vec<WebhookStatus> {
    eventually("the webhook queue to drain (all events routed, nothing pending)", move || async move {
        let unrouted = store.unrouted_events().await.map_err(|e| e.to_string())?;
        let statuses = store.webhook_statuses(None).await.map_err(|e| e.to_string())?;
        if unrouted == 0 && statuses.iter().all(|s| s.pending == 0) {
            Ok(statuses)
        } else {
            Err(format!("{unrouted} unrouted events; {statuses:?}"))
        }
    })
    .await
}

/// Test databases are never dropped by the run that made them (it may still be using
/// them); each run drops those more than an hour old. Their names carry a time-ordered id
/// whose first 12 hex digits are the creation time in milliseconds.
async fn drop_stale_test_databases(conn: &mut sqlx::AnyConnection) {
    let Ok(names) = sqlx::query_as::<_, (String,)>("SELECT datname::TEXT FROM pg_database WHERE datname LIKE 'sunbeam_test_%'").fetch_all(&mut *conn).await else {
        return;
    };
    let now = sunbeam::domain::time::now_ms();
    for (name,) in names {
        let created = name.strip_prefix("sunbeam_test_").and_then(|id| id.get(..12)).and_then(|h| i64::from_str_radix(h, 16).ok());
        if created.is_some_and(|ms| now - ms > 3_600_000) {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut *conn).await;
        }
    }
}

pub struct TestStore {
    pub store: Store,
    pub url: String,
    _dir: tempfile::TempDir,
}

/// Opens a fresh store of the given kind (None when PostgreSQL is unavailable).
pub async fn fresh_store(db: Db, limits: StoreLimits) -> Option<TestStore> {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = match db {
        Db::Sqlite => format!("sqlite://{}/sunbeam.db", dir.path().display()),
        Db::Postgres => fresh_postgres_url().await?,
    };
    let store = Store::open(&url, SecretBox::new([42; 32]), limits).await.expect("open store");
    Some(TestStore { store, url, _dir: dir })
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub base: String,
    pub http: reqwest::Client,
    pub account_id: String,
    pub account_secret: String,
    pub store: Store,
    /// The database this node serves (another node may join it: [`TestApp::another_node`]).
    pub database_url: String,
    _dir: tempfile::TempDir,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

pub struct Spawn {
    pub db: Db,
    pub limits: StoreLimits,
    /// Attachment storage other than the local folder (the S3 tests).
    pub attachments: Option<sunbeam::config::AttachmentsConfig>,
    /// Overload protection; `None` keeps `ServeConfig::for_database`'s (rate limits off).
    pub guard: Option<sunbeam::config::LimitsConfig>,
}

impl Default for Spawn {
    fn default() -> Self {
        Spawn { db: Db::Sqlite, limits: StoreLimits::default(), attachments: None, guard: None }
    }
}

impl TestApp {
    /// The real server on 127.0.0.1:0 over a fresh SQLite store.
    pub async fn spawn() -> TestApp {
        Self::spawn_with(Spawn::default()).await.expect("sqlite is always available")
    }

    pub async fn spawn_with(spawn: Spawn) -> Option<TestApp> {
        let TestStore { store, _dir, url } = fresh_store(spawn.db, spawn.limits).await?;
        let mut config = ServeConfig::for_database("unused://", _dir.path().to_path_buf());
        if let Some(attachments) = spawn.attachments {
            config.attachments = attachments;
        }
        if let Some(guard) = spawn.guard {
            config.limits = guard;
        }
        let Bootstrap::Created { id, secret } = bootstrap(&store, &config).await.expect("bootstrap") else {
            panic!("a fresh store must bootstrap a new account key")
        };
        Some(Self::serve(&config, store, url, _dir, (id, secret)).await)
    }

    async fn serve(config: &ServeConfig, store: Store, database_url: String, dir: tempfile::TempDir, (account_id, account_secret): (String, String)) -> TestApp {
        let server = Server::with_store(config, store.clone()).await.expect("bind");
        let addr = server.local_addr();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(server.run(async move {
            let _ = rx.await;
        }));
        TestApp { addr, base: format!("http://{addr}"), http: reqwest::Client::new(), account_id, account_secret, store, database_url, _dir: dir, shutdown: Some(tx) }
    }

    /// A second server over this one's database (a cluster node, on PostgreSQL), with the
    /// same master key and account key; `tune` adjusts its configuration.
    pub async fn another_node(&self, tune: impl FnOnce(&mut ServeConfig)) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(&self.database_url, SecretBox::new([42; 32]), StoreLimits::default()).await.expect("open store");
        let mut config = ServeConfig::for_database("unused://", dir.path().to_path_buf());
        tune(&mut config);
        Self::serve(&config, store, self.database_url.clone(), dir, (self.account_id.clone(), self.account_secret.clone())).await
    }

    /// The server's DATA_DIR (attachments are under `attachments/`).
    pub fn data_dir(&self) -> &std::path::Path {
        self._dir.path()
    }

    /// See [`webhooks_drained`].
    pub async fn webhooks_drained(&self) -> Vec<WebhookStatus> {
        webhooks_drained(&self.store).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn basic(id: &str, secret: &str) -> String {
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}")))
    }

    pub fn account_auth(&self) -> String {
        Self::basic(&self.account_id, &self.account_secret)
    }

    /// Sends a request with the given Authorization (None for none) and JSON body.
    pub async fn call(&self, method: &str, path: &str, auth: Option<&str>, body: Option<Value>) -> (u16, Value) {
        let mut req = self.http.request(method.parse().unwrap(), self.url(path));
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("request");
        let status = res.status().as_u16();
        let text = res.text().await.expect("body");
        let value = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
        (status, value)
    }

    /// As the account key.
    pub async fn account(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.call(method, path, Some(&self.account_auth()), body).await
    }

    /// Creates an app and returns its id.
    pub async fn create_app(&self, name: &str) -> String {
        let (status, body) = self.account("POST", "/v2/apps", Some(json!({ "displayName": name }))).await;
        assert_eq!(status, 201, "{body}");
        body["app"]["id"].as_str().unwrap().to_string()
    }

    /// Creates an app key and returns (id, secret).
    pub async fn create_app_key(&self, app_id: &str) -> (String, String) {
        let (status, body) = self.account("POST", &format!("/v2/apps/{app_id}/keys"), Some(json!({ "displayName": "test" }))).await;
        assert_eq!(status, 201, "{body}");
        (body["key"]["id"].as_str().unwrap().to_string(), body["key"]["secret"].as_str().unwrap().to_string())
    }

    /// Creates a user (optionally identified) and returns its id.
    pub async fn create_user(&self, app_id: &str, external_id: Option<&str>) -> String {
        let body = match external_id {
            Some(e) => json!({ "externalId": e }),
            None => json!({}),
        };
        let (status, body) = self.account("POST", &format!("/v2/apps/{app_id}/users"), Some(body)).await;
        assert_eq!(status, 201, "{body}");
        body["user"]["id"].as_str().unwrap().to_string()
    }
}

/// Asserts the spec's error envelope with the given status and code.
pub fn assert_error(status: u16, body: &Value, want_status: u16, want_code: &str) {
    assert_eq!(status, want_status, "unexpected status; body: {body}");
    let errors = body["errors"].as_array().unwrap_or_else(|| panic!("no errors array in {body}"));
    assert!(!errors.is_empty(), "empty errors in {body}");
    assert_eq!(errors[0]["code"], want_code, "{body}");
    assert!(errors[0]["title"].as_str().is_some_and(|t| !t.is_empty()), "{body}");
}

// ---- Helpers for the Foundation API and store suites (appended) ----

impl TestApp {
    /// Sends raw bytes with an optional content-type (malformed JSON, wrong media types, huge bodies).
    pub async fn raw(&self, method: &str, path: &str, auth: Option<&str>, content_type: Option<&str>, body: Vec<u8>) -> (u16, Value) {
        let mut req = self.http.request(method.parse().unwrap(), self.url(path));
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        let res = req.body(body).send().await.expect("request");
        let status = res.status().as_u16();
        let text = res.text().await.expect("body");
        let value = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
        (status, value)
    }

    /// GETs an absolute URL (e.g. a `links.next` the server handed out).
    pub async fn get_absolute(&self, url: &str, auth: &str) -> (u16, Value) {
        let res = self.http.get(url).header("authorization", auth).send().await.expect("request");
        let status = res.status().as_u16();
        let text = res.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }
}

/// An HS256 JWT with `kid`, signed with `secret`.
pub fn hs256_jwt(kid: &str, secret: &str, claims: Value) -> String {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some(kid.to_string());
    jsonwebtoken::encode(&header, &claims, &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes())).expect("encode jwt")
}

/// A token assembled by hand from a header and claims (unsigned or with a fake signature).
pub fn handmade_jwt(header: Value, claims: Value, signature: &str) -> String {
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    format!("{}.{}.{}", b64(&header), b64(&claims), signature)
}

pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// 24 lowercase hex characters.
pub fn is_hex_id(s: &str) -> bool {
    s.len() == 24 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// `YYYY-MM-DDThh:mm:ss.SSSZ` exactly.
pub fn is_ms_datetime(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 24
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'.',
            23 => *c == b'Z',
            _ => c.is_ascii_digit(),
        })
}
