//! The Bayeux protocol core: what the `faye` client speaks, independent of transport.
//!
//! A transport (HTTP long-polling, JSONP callback-polling, WebSocket: see `http.rs`) hands
//! each request's messages to [`Bayeux::process`] and writes back what it answers. Clients
//! live in memory on the node that handshook them: a client id, its subscriptions and a
//! **bounded** queue of messages waiting for its next `/meta/connect` (or for its attached
//! WebSocket). [`Bayeux::publish`] pushes into those queues; a client whose queue would
//! overflow is dropped (the next connect answers `401:<id>:Unknown client` with advice to
//! handshake again, after which the SDK re-subscribes and refetches), so a slow consumer
//! never makes the server's memory grow.
//!
//! Who may subscribe to what is not decided here: the caller supplies an [`Authorizer`].
//! Clients may not publish (the server alone publishes), and `/service/**` is refused.
//!
//! Liveness: a `/meta/connect` is held up to `timeout` (its reply is the heartbeat), the
//! client must send the next one within `interval`, and a client not heard from for
//! `timeout + interval + grace` is dropped by [`Bayeux::sweep`].

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};
use tokio::sync::Notify;

/// The protocol version we speak.
pub const BAYEUX_VERSION: &str = "1.0";

/// What we offer in a handshake reply. `cross-origin-long-polling` is the faye browser
/// client's CORS XHR transport (POST with a `message=` form body).
pub const CONNECTION_TYPES: &[&str] = &["websocket", "long-polling", "cross-origin-long-polling", "callback-polling"];

pub const HANDSHAKE: &str = "/meta/handshake";
pub const CONNECT: &str = "/meta/connect";
pub const SUBSCRIBE: &str = "/meta/subscribe";
pub const UNSUBSCRIBE: &str = "/meta/unsubscribe";
pub const DISCONNECT: &str = "/meta/disconnect";

/// Bayeux error strings: `code:args:message` (the faye client parses them this way).
pub mod errors {
    pub fn version_mismatch(v: &str) -> String {
        format!("300:{v}:Version mismatch")
    }
    pub fn conntype_mismatch(types: &[String]) -> String {
        format!("301:{}:Connection types not supported", types.join(","))
    }
    pub fn bad_request(what: &str) -> String {
        format!("400:{what}:Bad request")
    }
    /// The exact string the SDKs look for to re-handshake (`401:<clientId>:Unknown client`).
    pub fn client_unknown(client_id: &str) -> String {
        format!("401:{client_id}:Unknown client")
    }
    /// Subscription credentials missing, unreadable or invalid.
    pub const UNAUTHORIZED: &str = "401::Unauthorized";
    pub fn parameter_missing(name: &str) -> String {
        format!("402:{name}:Missing required parameter")
    }
    pub fn channel_forbidden(channel: &str) -> String {
        format!("403:{channel}:Forbidden channel")
    }
    pub fn channel_invalid(channel: &str) -> String {
        format!("405:{channel}:Invalid channel")
    }
    pub fn server_error() -> String {
        "500::Internal server error".to_string()
    }
    pub fn too_many(what: &str) -> String {
        format!("503:{what}:Too many")
    }
}

/// Decides who may subscribe to a channel. The realtime module's implementation checks
/// `ext` credentials against `/sdk/apps/{appId}/appusers/{appUserId}`; tests use others.
#[async_trait::async_trait]
pub trait Authorizer: Send + Sync + 'static {
    /// May the bearer of `ext` subscribe to `channel`? `Err` is the Bayeux error string to
    /// answer (e.g. [`errors::UNAUTHORIZED`]).
    async fn authorize_subscribe(&self, channel: &str, ext: Option<&Value>) -> Result<(), String>;
}

/// How long (ms) a client we turn away is advised to wait: after this node shuts down
/// (at least; `interval` when longer), after a refused handshake, and when the node is full.
const RETRY_AFTER_SHUTDOWN_MS: u64 = 1000;
const RETRY_AFTER_BAD_HANDSHAKE_MS: u64 = 1000;
const RETRY_WHEN_FULL_MS: u64 = 5000;

/// Tunables. `Default` is what the server runs with.
#[derive(Debug, Clone)]
pub struct Settings {
    /// How long a `/meta/connect` is held when nothing is queued (`advice.timeout`).
    pub timeout: Duration,
    /// How long a client waits between connects (`advice.interval`).
    pub interval: Duration,
    /// A client not heard from for `timeout + interval + grace` is dropped.
    pub grace: Duration,
    /// A client whose queue would hold more messages than this is dropped…
    pub max_queue_messages: usize,
    /// …or more bytes than this.
    pub max_queue_bytes: usize,
    /// Channels one client may subscribe to.
    pub max_subscriptions: usize,
    /// Messages in one request.
    pub max_batch: usize,
    /// Clients on this node.
    pub max_clients: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            timeout: Duration::from_secs(30),
            interval: Duration::ZERO,
            grace: Duration::from_secs(30),
            max_queue_messages: 256,
            max_queue_bytes: 512 * 1024,
            max_subscriptions: 16,
            max_batch: 64,
            max_clients: 250_000,
        }
    }
}

impl Settings {
    /// How long a client may stay silent before it is dropped.
    pub fn client_ttl(&self) -> Duration {
        self.timeout + self.interval + self.grace
    }

    fn advice(&self) -> Value {
        json!({ "reconnect": "retry", "interval": self.interval.as_millis() as u64, "timeout": self.timeout.as_millis() as u64 })
    }

    fn handshake_advice(&self) -> Value {
        json!({ "reconnect": "handshake", "interval": self.interval.as_millis() as u64 })
    }
}

/// How the protocol is carried; only informational for the core.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    WebSocket,
    LongPolling,
    CallbackPolling,
}

/// Why a client was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gone {
    /// It sent `/meta/disconnect`.
    Disconnected,
    /// Not heard from within the client ttl.
    Idle,
    /// Its queue overflowed: it did not read fast enough.
    SlowConsumer,
    /// A channel it was subscribed to was closed (its user was deleted).
    ChannelClosed,
    /// The server is stopping.
    Shutdown,
}

/// One Bayeux client (one browser tab, one SDK instance).
pub struct Client {
    id: Arc<str>,
    state: Mutex<ClientState>,
    wake: Notify,
}

struct ClientState {
    queue: VecDeque<Arc<str>>,
    queued_bytes: usize,
    channels: Vec<Arc<str>>,
    last_seen: Instant,
    /// Bumped by every `/meta/connect`: an older held connect answers at once.
    connect_gen: u64,
    gone: Option<Gone>,
}

/// What a transport gets from [`Client::take`].
#[derive(Debug)]
pub enum Taken {
    Messages(Vec<Arc<str>>),
    Gone(Gone),
}

impl Client {
    pub fn id(&self) -> &str {
        &self.id
    }

    fn lock(&self) -> MutexGuard<'_, ClientState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Resolves when something may have changed (a message queued, the client dropped, a
    /// newer connect). Create it and `enable()` it *before* looking at the state.
    pub fn notified(&self) -> tokio::sync::futures::Notified<'_> {
        self.wake.notified()
    }

    /// Takes every queued message (empty when none), or says why the client is gone.
    pub fn take(&self) -> Taken {
        let mut st = self.lock();
        if let Some(g) = st.gone {
            return Taken::Gone(g);
        }
        st.queued_bytes = 0;
        Taken::Messages(st.queue.drain(..).collect())
    }

    pub fn gone(&self) -> Option<Gone> {
        self.lock().gone
    }

    pub fn subscriptions(&self) -> Vec<String> {
        self.lock().channels.iter().map(|c| c.to_string()).collect()
    }

    fn touch(&self, now: Instant) {
        self.lock().last_seen = now;
    }
}

/// A `/meta/connect` waiting for messages or its timeout.
pub struct Held {
    pub client: Arc<Client>,
    reply: Value,
    generation: u64,
    pub deadline: tokio::time::Instant,
}

impl Held {
    /// The connect's reply, serialised (sent alone when it times out on a WebSocket).
    pub fn reply(&self) -> String {
        self.reply.to_string()
    }

    /// Has a newer connect of the same client replaced this one?
    pub fn superseded(&self) -> bool {
        self.client.lock().connect_gen != self.generation
    }

    /// The reply to send once the client turns out to be gone.
    pub fn gone_reply(&self, gone: Gone, settings: &Settings) -> String {
        gone_reply(&self.reply, &self.client.id, gone, settings)
    }
}

fn gone_reply(reply: &Value, client_id: &str, gone: Gone, settings: &Settings) -> String {
    let mut r = reply.clone();
    if gone == Gone::Shutdown {
        // Come back (to another node, or this one restarted) without losing the client's
        // state on its side: it will find its client unknown and handshake then.
        r["advice"] = json!({ "reconnect": "retry", "interval": RETRY_AFTER_SHUTDOWN_MS.max(settings.interval.as_millis() as u64), "timeout": settings.timeout.as_millis() as u64 });
        return r.to_string();
    }
    r["successful"] = Value::Bool(false);
    r["error"] = Value::String(errors::client_unknown(client_id));
    r["advice"] = settings.handshake_advice();
    r.to_string()
}

/// What [`Bayeux::process`] answers for one request.
pub struct Outcome {
    /// Replies to send now, serialised JSON objects in order.
    pub replies: Vec<String>,
    /// A `/meta/connect` to hold; its reply (with any queued messages) follows `replies`.
    pub connect: Option<Held>,
    /// Client ids named by the request's messages that exist after it (a WebSocket
    /// attaches to these, like faye does).
    pub client_ids: Vec<String>,
}

/// Counters for logs and benchmarks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub clients: usize,
    pub channels: usize,
    pub handshakes: u64,
    pub published: u64,
    pub dropped_slow: u64,
    pub dropped_idle: u64,
}

/// The Bayeux server state of one node.
pub struct Bayeux {
    settings: Settings,
    authorizer: Arc<dyn Authorizer>,
    clients: Mutex<HashMap<Arc<str>, Arc<Client>>>,
    /// channel → subscribed clients. Lock order: `channels` before a client's state.
    channels: Mutex<ChannelIndex>,
    closing: AtomicBool,
    shutdown: Notify,
    handshakes: AtomicU64,
    published: AtomicU64,
    dropped_slow: AtomicU64,
    dropped_idle: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn is_segment_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-_!~()$@".contains(c)
}

/// A channel name as the Bayeux grammar (and faye) allow: `/seg/seg…`, optionally ending in
/// a `/*` or `/**` wildcard.
pub fn is_valid_channel(name: &str) -> bool {
    let Some(rest) = name.strip_prefix('/') else { return false };
    let segments: Vec<&str> = rest.split('/').collect();
    let (last, init) = segments.split_last().expect("split yields at least one piece");
    let plain = |s: &&str| !s.is_empty() && s.chars().all(is_segment_char);
    if *last == "*" || *last == "**" {
        return init.iter().all(plain);
    }
    segments.iter().all(plain)
}

pub fn is_meta(channel: &str) -> bool {
    channel == "/meta" || channel.starts_with("/meta/")
}

pub fn is_service(channel: &str) -> bool {
    channel == "/service" || channel.starts_with("/service/")
}

fn new_client_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// The start of every reply: the message's `id`, `clientId`, `channel`.
fn reply_to(msg: &Map<String, Value>, channel: &str) -> Map<String, Value> {
    let mut r = Map::new();
    if let Some(id) = msg.get("id").filter(|v| !v.is_null()) {
        r.insert("id".into(), id.clone());
    }
    if let Some(c) = msg.get("clientId").filter(|v| v.is_string()) {
        r.insert("clientId".into(), c.clone());
    }
    r.insert("channel".into(), Value::String(channel.to_string()));
    r.insert("successful".into(), Value::Bool(true));
    r
}

fn fail(mut r: Map<String, Value>, error: String) -> Map<String, Value> {
    r.insert("successful".into(), Value::Bool(false));
    r.insert("error".into(), Value::String(error));
    r
}

/// `subscription` as a list: a string or an array of strings.
fn subscription_list(v: Option<&Value>) -> Option<Vec<String>> {
    match v? {
        Value::String(s) => Some(vec![s.clone()]),
        Value::Array(a) => a.iter().map(|x| x.as_str().map(str::to_string)).collect(),
        _ => None,
    }
}

impl Bayeux {
    pub fn new(settings: Settings, authorizer: Arc<dyn Authorizer>) -> Bayeux {
        Bayeux {
            settings,
            authorizer,
            clients: Mutex::new(HashMap::new()),
            channels: Mutex::new(ChannelIndex::default()),
            closing: AtomicBool::new(false),
            shutdown: Notify::new(),
            handshakes: AtomicU64::new(0),
            published: AtomicU64::new(0),
            dropped_slow: AtomicU64::new(0),
            dropped_idle: AtomicU64::new(0),
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn client(&self, id: &str) -> Option<Arc<Client>> {
        lock(&self.clients).get(id).cloned()
    }

    pub fn stats(&self) -> Stats {
        Stats {
            clients: lock(&self.clients).len(),
            channels: lock(&self.channels).len(),
            handshakes: self.handshakes.load(Ordering::Relaxed),
            published: self.published.load(Ordering::Relaxed),
            dropped_slow: self.dropped_slow.load(Ordering::Relaxed),
            dropped_idle: self.dropped_idle.load(Ordering::Relaxed),
        }
    }

    /// Is any SDK user subscribed on this node?
    pub fn has_user_channels(&self) -> bool {
        !lock(&self.channels).user_channels_per_app.is_empty()
    }

    /// Is any SDK user of `app_id` subscribed on this node?
    pub fn has_app_subscribers(&self, app_id: &str) -> bool {
        lock(&self.channels).user_channels_per_app.contains_key(app_id)
    }

    pub fn is_closing(&self) -> bool {
        self.closing.load(Ordering::Relaxed)
    }

    /// Resolves when [`Bayeux::close_all`] is called (enable it before checking
    /// [`Bayeux::is_closing`]).
    pub fn closing(&self) -> tokio::sync::futures::Notified<'_> {
        self.shutdown.notified()
    }

    /// Handles one request's messages (a JSON array, or one object).
    pub async fn process(&self, messages: Value, _transport: Transport) -> Outcome {
        let messages = match messages {
            Value::Array(a) => a,
            other => vec![other],
        };
        let mut out = Outcome { replies: Vec::new(), connect: None, client_ids: Vec::new() };
        if messages.len() > self.settings.max_batch {
            let r = fail(Map::new(), errors::bad_request("batch"));
            out.replies.push(Value::Object(r).to_string());
            return out;
        }
        for msg in messages {
            let Value::Object(msg) = msg else {
                out.replies.push(Value::Object(fail(Map::new(), errors::bad_request("message"))).to_string());
                continue;
            };
            self.handle(msg, &mut out).await;
        }
        out
    }

    async fn handle(&self, msg: Map<String, Value>, out: &mut Outcome) {
        let Some(channel) = msg.get("channel").and_then(Value::as_str).map(str::to_string) else {
            let r = fail(reply_to(&msg, ""), errors::parameter_missing("channel"));
            out.replies.push(Value::Object(r).to_string());
            return;
        };
        let now = Instant::now();
        if let Some(cid) = msg.get("clientId").and_then(Value::as_str) {
            if let Some(c) = self.client(cid) {
                c.touch(now);
            }
        }
        let reply = match channel.as_str() {
            HANDSHAKE => Some(self.handshake(&msg)),
            CONNECT => match self.connect(&msg) {
                Ok(held) => {
                    if let Some(previous) = out.connect.replace(held) {
                        out.replies.push(previous.reply());
                    }
                    None
                }
                Err(r) => Some(r),
            },
            SUBSCRIBE => Some(self.subscribe(&msg).await),
            UNSUBSCRIBE => Some(self.unsubscribe(&msg)),
            DISCONNECT => Some(self.disconnect(&msg)),
            other => {
                // Meta channels we do not know, services and publishing are not offered.
                Some(fail(reply_to(&msg, other), errors::channel_forbidden(other)))
            }
        };
        if let Some(r) = reply {
            if let Some(cid) = r.get("clientId").and_then(Value::as_str) {
                if self.client(cid).is_some() && !out.client_ids.iter().any(|c| c == cid) {
                    out.client_ids.push(cid.to_string());
                }
            }
            out.replies.push(Value::Object(r).to_string());
        } else if let Some(cid) = msg.get("clientId").and_then(Value::as_str) {
            if !out.client_ids.iter().any(|c| c == cid) {
                out.client_ids.push(cid.to_string());
            }
        }
    }

    fn handshake(&self, msg: &Map<String, Value>) -> Map<String, Value> {
        let mut r = reply_to(msg, HANDSHAKE);
        r.remove("clientId");
        r.insert("version".into(), BAYEUX_VERSION.into());
        r.insert("supportedConnectionTypes".into(), json!(CONNECTION_TYPES));
        let error = if msg.get("version").and_then(Value::as_str).is_none() {
            Some(errors::parameter_missing("version"))
        } else {
            match subscription_list(msg.get("supportedConnectionTypes")) {
                None => Some(errors::parameter_missing("supportedConnectionTypes")),
                Some(types) if !types.iter().any(|t| CONNECTION_TYPES.contains(&t.as_str())) => Some(errors::conntype_mismatch(&types)),
                Some(_) => None,
            }
        };
        if let Some(e) = error {
            let mut r = fail(r, e);
            r.insert("advice".into(), json!({ "reconnect": "handshake", "interval": RETRY_AFTER_BAD_HANDSHAKE_MS }));
            return r;
        }
        let id = new_client_id();
        {
            let mut clients = lock(&self.clients);
            if clients.len() >= self.settings.max_clients || self.is_closing() {
                drop(clients);
                let mut r = fail(r, errors::too_many("clients"));
                r.insert("advice".into(), json!({ "reconnect": "handshake", "interval": RETRY_WHEN_FULL_MS }));
                return r;
            }
            let client = Client {
                id: Arc::from(id.as_str()),
                state: Mutex::new(ClientState {
                    queue: VecDeque::new(),
                    queued_bytes: 0,
                    channels: Vec::new(),
                    last_seen: Instant::now(),
                    connect_gen: 0,
                    gone: None,
                }),
                wake: Notify::new(),
            };
            clients.insert(client.id.clone(), Arc::new(client));
        }
        self.handshakes.fetch_add(1, Ordering::Relaxed);
        r.insert("clientId".into(), Value::String(id));
        r.insert("advice".into(), self.settings.advice());
        r
    }

    /// The client a message names, or the error reply.
    fn known_client(&self, msg: &Map<String, Value>, r: &Map<String, Value>) -> Result<Arc<Client>, Map<String, Value>> {
        let Some(cid) = msg.get("clientId").and_then(Value::as_str) else {
            return Err(fail(r.clone(), errors::parameter_missing("clientId")));
        };
        match self.client(cid) {
            Some(c) => Ok(c),
            None => {
                let mut e = fail(r.clone(), errors::client_unknown(cid));
                e.insert("advice".into(), self.settings.handshake_advice());
                Err(e)
            }
        }
    }

    fn connect(&self, msg: &Map<String, Value>) -> Result<Held, Map<String, Value>> {
        let r = reply_to(msg, CONNECT);
        let client = self.known_client(msg, &r)?;
        match msg.get("connectionType").and_then(Value::as_str) {
            None => return Err(fail(r, errors::parameter_missing("connectionType"))),
            Some(t) if !CONNECTION_TYPES.contains(&t) => return Err(fail(r, errors::conntype_mismatch(&[t.to_string()]))),
            Some(_) => {}
        }
        // The client may ask for a shorter hold (faye sends `advice.timeout: 0` when it
        // batches a connect with other messages); never a longer one.
        let asked = msg.get("advice").and_then(|a| a.get("timeout")).and_then(Value::as_f64).filter(|t| t.is_finite() && *t >= 0.0);
        let hold = match asked {
            Some(ms) => self.settings.timeout.min(Duration::from_millis(ms as u64)),
            None => self.settings.timeout,
        };
        let generation = {
            let mut st = client.lock();
            st.connect_gen += 1;
            st.connect_gen
        };
        // A connect held for the same client elsewhere answers now.
        client.wake.notify_waiters();
        let mut r = r;
        r.insert("advice".into(), self.settings.advice());
        Ok(Held { client, reply: Value::Object(r), generation, deadline: tokio::time::Instant::now() + hold })
    }

    async fn subscribe(&self, msg: &Map<String, Value>) -> Map<String, Value> {
        let mut r = reply_to(msg, SUBSCRIBE);
        r.insert("subscription".into(), msg.get("subscription").cloned().unwrap_or(json!([])));
        let client = match self.known_client(msg, &r) {
            Ok(c) => c,
            Err(e) => return e,
        };
        let Some(channels) = subscription_list(msg.get("subscription")).filter(|l| !l.is_empty()) else {
            return fail(r, errors::parameter_missing("subscription"));
        };
        for c in &channels {
            if !is_valid_channel(c) {
                return fail(r, errors::channel_invalid(c));
            }
            if is_meta(c) || is_service(c) {
                return fail(r, errors::channel_forbidden(c));
            }
        }
        // All or nothing: authorise every channel before subscribing to any.
        for c in &channels {
            if let Err(e) = self.authorizer.authorize_subscribe(c, msg.get("ext")).await {
                return fail(r, e);
            }
        }
        let mut index = lock(&self.channels);
        let mut st = client.lock();
        if st.gone.is_some() {
            // Dropped while its credentials were being checked.
            let mut e = fail(r, errors::client_unknown(&client.id));
            e.insert("advice".into(), self.settings.handshake_advice());
            return e;
        }
        let new: Vec<&String> = channels.iter().filter(|c| !st.channels.iter().any(|s| &**s == c.as_str())).collect();
        if st.channels.len() + new.len() > self.settings.max_subscriptions {
            return fail(r, errors::too_many("subscriptions"));
        }
        for c in new {
            let name: Arc<str> = index.name(c.as_str()).unwrap_or_else(|| Arc::from(c.as_str()));
            st.channels.push(name.clone());
            index.add(name, client.clone());
        }
        r
    }

    fn unsubscribe(&self, msg: &Map<String, Value>) -> Map<String, Value> {
        let mut r = reply_to(msg, UNSUBSCRIBE);
        r.insert("subscription".into(), msg.get("subscription").cloned().unwrap_or(json!([])));
        let client = match self.known_client(msg, &r) {
            Ok(c) => c,
            Err(e) => return e,
        };
        let Some(channels) = subscription_list(msg.get("subscription")).filter(|l| !l.is_empty()) else {
            return fail(r, errors::parameter_missing("subscription"));
        };
        for c in &channels {
            if !is_valid_channel(c) {
                return fail(r, errors::channel_invalid(c));
            }
        }
        let mut index = lock(&self.channels);
        let mut st = client.lock();
        for c in &channels {
            st.channels.retain(|s| &**s != c.as_str());
            index.remove(c, &client);
        }
        r
    }

    fn disconnect(&self, msg: &Map<String, Value>) -> Map<String, Value> {
        let r = reply_to(msg, DISCONNECT);
        match self.known_client(msg, &r) {
            Ok(c) => {
                self.drop_client(&c.id, Gone::Disconnected);
                r
            }
            Err(e) => e,
        }
    }

    /// Removes a client: out of the registry and every channel, its queue freed, anyone
    /// waiting on it woken.
    pub fn drop_client(&self, id: &str, why: Gone) -> bool {
        let Some(client) = lock(&self.clients).remove(id) else { return false };
        let mut index = lock(&self.channels);
        let mut st = client.lock();
        if st.gone.is_none() {
            st.gone = Some(why);
        }
        st.queue = VecDeque::new();
        st.queued_bytes = 0;
        for c in std::mem::take(&mut st.channels) {
            index.remove(&c, &client);
        }
        drop(st);
        drop(index);
        match why {
            Gone::SlowConsumer => self.dropped_slow.fetch_add(1, Ordering::Relaxed),
            Gone::Idle => self.dropped_idle.fetch_add(1, Ordering::Relaxed),
            _ => 0,
        };
        client.wake.notify_waiters();
        true
    }

    /// Queues `data` for every client subscribed to `channel` (exact name; the server only
    /// publishes to concrete user channels). Returns how many clients got it. Clients whose
    /// queue would overflow are dropped instead.
    pub fn publish(&self, channel: &str, id: &str, data: &Value) -> usize {
        let mut delivered = 0;
        let mut overflowing = Vec::new();
        {
            let index = lock(&self.channels);
            let Some(subscribers) = index.get(channel) else { return 0 };
            let message: Arc<str> = Arc::from(json!({ "channel": channel, "data": data, "id": id }).to_string());
            for client in subscribers {
                let mut st = client.lock();
                if st.gone.is_some() {
                    continue;
                }
                if st.queue.len() + 1 > self.settings.max_queue_messages || st.queued_bytes + message.len() > self.settings.max_queue_bytes {
                    overflowing.push(client.id.clone());
                    continue;
                }
                st.queued_bytes += message.len();
                st.queue.push_back(message.clone());
                drop(st);
                client.wake.notify_waiters();
                delivered += 1;
            }
        }
        for id in overflowing {
            tracing::info!(client = %id, channel, "realtime: dropping a client that does not keep up");
            self.drop_client(&id, Gone::SlowConsumer);
        }
        self.published.fetch_add(1, Ordering::Relaxed);
        delivered
    }

    /// Drops every client subscribed to `channel` (e.g. its user was deleted).
    pub fn close_channel(&self, channel: &str) -> usize {
        let ids: Vec<Arc<str>> = lock(&self.channels).get(channel).map(|v| v.iter().map(|c| c.id.clone()).collect()).unwrap_or_default();
        for id in &ids {
            self.drop_client(id, Gone::ChannelClosed);
        }
        ids.len()
    }

    /// Drops clients not heard from within the ttl. Returns how many.
    pub fn sweep(&self, now: Instant) -> usize {
        let ttl = self.settings.client_ttl();
        let idle: Vec<Arc<str>> = lock(&self.clients)
            .values()
            .filter(|c| now.saturating_duration_since(c.lock().last_seen) > ttl)
            .map(|c| c.id.clone())
            .collect();
        for id in &idle {
            self.drop_client(id, Gone::Idle);
        }
        idle.len()
    }

    /// Waits for a held connect to be answered: at once when messages are queued, else
    /// when one is published, a newer connect replaces it, or its deadline passes. Returns
    /// the reply followed by the messages, serialised.
    pub async fn wait(&self, held: Held) -> Vec<String> {
        let client = held.client.clone();
        let out = loop {
            let notified = client.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.is_closing() {
                break vec![gone_reply(&held.reply, &client.id, Gone::Shutdown, &self.settings)];
            }
            match client.take() {
                Taken::Gone(g) => break vec![held.gone_reply(g, &self.settings)],
                Taken::Messages(m) if !m.is_empty() => {
                    let mut out = Vec::with_capacity(m.len() + 1);
                    out.push(held.reply());
                    out.extend(m.iter().map(|s| s.to_string()));
                    break out;
                }
                Taken::Messages(_) => {}
            }
            if held.superseded() || tokio::time::Instant::now() >= held.deadline {
                break vec![held.reply()];
            }
            tokio::select! {
                _ = &mut notified => {}
                _ = tokio::time::sleep_until(held.deadline) => {}
            }
        };
        client.touch(Instant::now());
        out
    }

    /// Stops: held connects answer (advice: retry later) and attached sockets close.
    pub fn close_all(&self) {
        self.closing.store(true, Ordering::Relaxed);
        self.shutdown.notify_waiters();
        let clients: Vec<Arc<Client>> = lock(&self.clients).values().cloned().collect();
        for c in clients {
            c.wake.notify_waiters();
        }
    }
}

/// Who is subscribed where, and how many SDK user channels each app has on this node (the
/// hub skips the events of an app nobody here listens to without building them).
#[derive(Default)]
struct ChannelIndex {
    subscribers: HashMap<Arc<str>, Vec<Arc<Client>>>,
    user_channels_per_app: HashMap<String, usize>,
}

impl ChannelIndex {
    fn get(&self, channel: &str) -> Option<&Vec<Arc<Client>>> {
        self.subscribers.get(channel)
    }

    fn name(&self, channel: &str) -> Option<Arc<str>> {
        self.subscribers.get_key_value(channel).map(|(k, _)| k.clone())
    }

    fn len(&self) -> usize {
        self.subscribers.len()
    }

    fn add(&mut self, channel: Arc<str>, client: Arc<Client>) {
        let list = self.subscribers.entry(channel.clone()).or_default();
        if list.is_empty() {
            if let Some((app, _)) = super::sdk::parse_user_channel(&channel) {
                *self.user_channels_per_app.entry(app.to_string()).or_default() += 1;
            }
        }
        list.push(client);
    }

    fn remove(&mut self, channel: &str, client: &Arc<Client>) {
        let Some(list) = self.subscribers.get_mut(channel) else { return };
        list.retain(|c| !Arc::ptr_eq(c, client));
        if !list.is_empty() {
            return;
        }
        self.subscribers.remove(channel);
        if let Some((app, _)) = super::sdk::parse_user_channel(channel) {
            if let Some(n) = self.user_channels_per_app.get_mut(app) {
                *n -= 1;
                if *n == 0 {
                    self.user_channels_per_app.remove(app);
                }
            }
        }
    }
}

/// Serialised messages as one JSON array (the body of every Bayeux response).
pub fn json_array<S: AsRef<str>>(parts: &[S]) -> String {
    let mut s = String::with_capacity(2 + parts.iter().map(|p| p.as_ref().len() + 1).sum::<usize>());
    s.push('[');
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(p.as_ref());
    }
    s.push(']');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    struct OnlyMine;

    #[async_trait::async_trait]
    impl Authorizer for OnlyMine {
        async fn authorize_subscribe(&self, channel: &str, ext: Option<&Value>) -> Result<(), String> {
            match ext.and_then(|e| e.get("token")).and_then(Value::as_str) {
                None => Err(errors::UNAUTHORIZED.into()),
                Some(t) if channel == format!("/users/{t}") => Ok(()),
                Some(_) => Err(errors::channel_forbidden(channel)),
            }
        }
    }

    fn bayeux_with(settings: Settings) -> Bayeux {
        Bayeux::new(settings, Arc::new(OnlyMine))
    }

    fn bayeux() -> Bayeux {
        bayeux_with(Settings::default())
    }

    fn parse(s: &str) -> Value {
        serde_json::from_str(s).unwrap()
    }

    async fn one(b: &Bayeux, msg: Value) -> Value {
        let out = b.process(msg, Transport::LongPolling).await;
        assert!(out.connect.is_none());
        assert_eq!(out.replies.len(), 1, "{:?}", out.replies);
        parse(&out.replies[0])
    }

    async fn handshake(b: &Bayeux) -> String {
        let r = one(b, json!([{"channel": "/meta/handshake", "version": "1.0", "supportedConnectionTypes": ["long-polling", "callback-polling"], "id": "1"}])).await;
        assert_eq!(r["successful"], true, "{r}");
        r["clientId"].as_str().unwrap().to_string()
    }

    async fn subscribe(b: &Bayeux, cid: &str, user: &str) -> Value {
        one(b, json!({"channel": "/meta/subscribe", "clientId": cid, "subscription": format!("/users/{user}"), "ext": {"token": user}, "id": "s"})).await
    }

    async fn connect(b: &Bayeux, cid: &str, timeout_ms: Option<u64>) -> Vec<Value> {
        let mut m = json!({"channel": "/meta/connect", "clientId": cid, "connectionType": "long-polling", "id": "c"});
        if let Some(t) = timeout_ms {
            m["advice"] = json!({"timeout": t});
        }
        let out = b.process(json!([m]), Transport::LongPolling).await;
        let mut replies: Vec<Value> = out.replies.iter().map(|s| parse(s)).collect();
        if let Some(held) = out.connect {
            replies.extend(b.wait(held).await.iter().map(|s| parse(s)));
        }
        replies
    }

    #[tokio::test]
    async fn handshake_offers_our_transports_and_a_fresh_client_id() {
        let b = bayeux();
        let r = one(&b, json!({"channel": "/meta/handshake", "version": "1.0", "supportedConnectionTypes": ["websocket"], "id": "7"})).await;
        assert_eq!(r["channel"], "/meta/handshake");
        assert_eq!(r["successful"], true);
        assert_eq!(r["id"], "7");
        assert_eq!(r["version"], "1.0");
        assert_eq!(r["supportedConnectionTypes"], json!(["websocket", "long-polling", "cross-origin-long-polling", "callback-polling"]));
        assert_eq!(r["advice"], json!({"reconnect": "retry", "interval": 0, "timeout": 30000}));
        let id = r["clientId"].as_str().unwrap();
        assert_eq!(id.len(), 32);
        assert!(b.client(id).is_some());
        let other = handshake(&b).await;
        assert_ne!(other, id);
        assert_eq!(b.stats().clients, 2);
    }

    #[tokio::test]
    async fn handshake_errors_use_bayeux_error_strings() {
        let b = bayeux();
        let r = one(&b, json!({"channel": "/meta/handshake", "supportedConnectionTypes": ["long-polling"]})).await;
        assert_eq!(r["successful"], false);
        assert_eq!(r["error"], "402:version:Missing required parameter");
        let r = one(&b, json!({"channel": "/meta/handshake", "version": "1.0"})).await;
        assert_eq!(r["error"], "402:supportedConnectionTypes:Missing required parameter");
        let r = one(&b, json!({"channel": "/meta/handshake", "version": "1.0", "supportedConnectionTypes": ["iframe", "flash"]})).await;
        assert_eq!(r["error"], "301:iframe,flash:Connection types not supported");
        assert!(r.get("clientId").is_none());
        assert_eq!(b.stats().clients, 0);
    }

    #[tokio::test]
    async fn knows_which_apps_have_a_user_subscribed() {
        struct Any;
        #[async_trait::async_trait]
        impl Authorizer for Any {
            async fn authorize_subscribe(&self, _: &str, _: Option<&Value>) -> Result<(), String> {
                Ok(())
            }
        }
        let b = Bayeux::new(Settings::default(), Arc::new(Any));
        assert!(!b.has_user_channels());
        let (ann, bob) = (handshake(&b).await, handshake(&b).await);
        for cid in [&ann, &bob] {
            let r = one(&b, json!({"channel": "/meta/subscribe", "clientId": cid, "subscription": "/sdk/apps/a1/appusers/u1"})).await;
            assert_eq!(r["successful"], true, "{r}");
        }
        let r = one(&b, json!({"channel": "/meta/subscribe", "clientId": ann, "subscription": "/users/ann"})).await;
        assert_eq!(r["successful"], true, "{r}");
        assert!(b.has_user_channels());
        assert!(b.has_app_subscribers("a1"));
        assert!(!b.has_app_subscribers("a2"), "only the app subscribed to");
        let r = one(&b, json!({"channel": "/meta/unsubscribe", "clientId": ann, "subscription": "/sdk/apps/a1/appusers/u1"})).await;
        assert_eq!(r["successful"], true, "{r}");
        assert!(b.has_app_subscribers("a1"), "bob still listens");
        b.drop_client(&bob, Gone::Disconnected);
        assert!(!b.has_app_subscribers("a1"));
        assert!(!b.has_user_channels(), "a channel outside the SDK's is not a user's");
    }

    #[tokio::test]
    async fn too_many_clients_are_refused() {
        let b = bayeux_with(Settings { max_clients: 1, ..Settings::default() });
        handshake(&b).await;
        let r = one(&b, json!({"channel": "/meta/handshake", "version": "1.0", "supportedConnectionTypes": ["long-polling"]})).await;
        assert_eq!(r["successful"], false);
        assert!(r["error"].as_str().unwrap().starts_with("503:"));
    }

    #[tokio::test]
    async fn unknown_clients_are_told_to_handshake_again() {
        let b = bayeux();
        for channel in ["/meta/connect", "/meta/subscribe", "/meta/unsubscribe", "/meta/disconnect"] {
            let r = one(&b, json!({"channel": channel, "clientId": "nope", "connectionType": "long-polling", "subscription": "/users/a"})).await;
            assert_eq!(r["successful"], false, "{channel}");
            assert_eq!(r["error"], "401:nope:Unknown client", "{channel}");
            assert_eq!(r["advice"]["reconnect"], "handshake", "{channel}");
        }
        let r = one(&b, json!({"channel": "/meta/connect", "connectionType": "long-polling"})).await;
        assert_eq!(r["error"], "402:clientId:Missing required parameter");
        let r = one(&b, json!({"id": "x"})).await;
        assert_eq!(r["error"], "402:channel:Missing required parameter");
        assert_eq!(r["id"], "x");
    }

    #[tokio::test]
    async fn connect_checks_its_connection_type() {
        let b = bayeux();
        let cid = handshake(&b).await;
        let r = one(&b, json!({"channel": "/meta/connect", "clientId": cid})).await;
        assert_eq!(r["error"], "402:connectionType:Missing required parameter");
        let r = one(&b, json!({"channel": "/meta/connect", "clientId": cid, "connectionType": "flash"})).await;
        assert_eq!(r["error"], "301:flash:Connection types not supported");
    }

    #[tokio::test]
    async fn subscribe_is_authorised_by_the_callers_rules() {
        let b = bayeux();
        let cid = handshake(&b).await;
        let r = subscribe(&b, &cid, "ann").await;
        assert_eq!(r["successful"], true, "{r}");
        assert_eq!(r["subscription"], "/users/ann");
        assert_eq!(r["clientId"], cid.as_str());
        assert_eq!(r["id"], "s");
        // Someone else's channel.
        let r = one(&b, json!({"channel": "/meta/subscribe", "clientId": cid, "subscription": "/users/bob", "ext": {"token": "ann"}})).await;
        assert_eq!(r["successful"], false);
        assert_eq!(r["error"], "403:/users/bob:Forbidden channel");
        // No credentials.
        let r = one(&b, json!({"channel": "/meta/subscribe", "clientId": cid, "subscription": "/users/bob"})).await;
        assert_eq!(r["error"], "401::Unauthorized");
        assert_eq!(b.client(&cid).unwrap().subscriptions(), vec!["/users/ann".to_string()]);
    }

    #[tokio::test]
    async fn subscribe_is_all_or_nothing_and_validates_names() {
        let b = bayeux();
        let cid = handshake(&b).await;
        let r = one(&b, json!({"channel": "/meta/subscribe", "clientId": cid, "subscription": ["/users/ann", "/users/bob"], "ext": {"token": "ann"}})).await;
        assert_eq!(r["successful"], false);
        assert!(b.client(&cid).unwrap().subscriptions().is_empty());
        for (channel, error) in [
            ("/meta/connect", "403:/meta/connect:Forbidden channel"),
            ("/service/x", "403:/service/x:Forbidden channel"),
            ("users/ann", "405:users/ann:Invalid channel"),
            ("/users//ann", "405:/users//ann:Invalid channel"),
            ("/users/a b", "405:/users/a b:Invalid channel"),
        ] {
            let r = one(&b, json!({"channel": "/meta/subscribe", "clientId": cid, "subscription": channel, "ext": {"token": "ann"}})).await;
            assert_eq!(r["error"], error);
        }
        let r = one(&b, json!({"channel": "/meta/subscribe", "clientId": cid})).await;
        assert_eq!(r["error"], "402:subscription:Missing required parameter");
    }

    #[tokio::test]
    async fn subscriptions_per_client_are_bounded() {
        struct Any;
        #[async_trait::async_trait]
        impl Authorizer for Any {
            async fn authorize_subscribe(&self, _: &str, _: Option<&Value>) -> Result<(), String> {
                Ok(())
            }
        }
        let b = Bayeux::new(Settings { max_subscriptions: 2, ..Settings::default() }, Arc::new(Any));
        let cid = handshake(&b).await;
        let r = one(&b, json!({"channel": "/meta/subscribe", "clientId": cid, "subscription": ["/a", "/b"]})).await;
        assert_eq!(r["successful"], true);
        // Subscribing again to the same channel is not a new subscription.
        let r = one(&b, json!({"channel": "/meta/subscribe", "clientId": cid, "subscription": "/a"})).await;
        assert_eq!(r["successful"], true);
        let r = one(&b, json!({"channel": "/meta/subscribe", "clientId": cid, "subscription": "/c"})).await;
        assert_eq!(r["successful"], false);
    }

    #[test]
    fn channel_grammar() {
        for ok in ["/a", "/sdk/apps/5f1/appusers/abc", "/a/*", "/a/**", "/x-y_z!~()$@"] {
            assert!(is_valid_channel(ok), "{ok}");
        }
        for bad in ["", "/", "a", "/a/", "//a", "/a/*/b", "/a b", "/a.b", "/a/***"] {
            assert!(!is_valid_channel(bad), "{bad}");
        }
        assert!(is_meta("/meta/connect"));
        assert!(!is_meta("/metadata"));
        assert!(is_service("/service/x"));
    }

    #[tokio::test]
    async fn publishing_by_clients_is_forbidden() {
        let b = bayeux();
        let cid = handshake(&b).await;
        let r = one(&b, json!({"channel": "/users/ann", "clientId": cid, "data": {"x": 1}, "id": "p"})).await;
        assert_eq!(r["successful"], false);
        assert_eq!(r["error"], "403:/users/ann:Forbidden channel");
        assert_eq!(r["id"], "p");
        let r = one(&b, json!({"channel": "/meta/whatever", "clientId": cid})).await;
        assert_eq!(r["error"], "403:/meta/whatever:Forbidden channel");
    }

    #[tokio::test]
    async fn connect_returns_queued_messages_after_its_reply() {
        let b = bayeux();
        let cid = handshake(&b).await;
        subscribe(&b, &cid, "ann").await;
        assert_eq!(b.publish("/users/ann", "e1", &json!({"events": [1]})), 1);
        assert_eq!(b.publish("/users/ann", "e2", &json!({"events": [2]})), 1);
        assert_eq!(b.publish("/users/bob", "e3", &json!({"events": [3]})), 0);
        let replies = connect(&b, &cid, None).await;
        assert_eq!(replies.len(), 3, "{replies:?}");
        assert_eq!(replies[0]["channel"], "/meta/connect");
        assert_eq!(replies[0]["successful"], true);
        assert_eq!(replies[0]["advice"]["reconnect"], "retry");
        assert_eq!(replies[1], json!({"channel": "/users/ann", "data": {"events": [1]}, "id": "e1"}));
        assert_eq!(replies[2]["id"], "e2");
    }

    /// Short holds, so tests run in real time.
    fn quick() -> Settings {
        Settings { timeout: Duration::from_millis(300), ..Settings::default() }
    }

    #[tokio::test]
    async fn connect_is_held_until_a_message_arrives() {
        let b = Arc::new(bayeux_with(Settings { timeout: Duration::from_secs(30), ..Settings::default() }));
        let cid = handshake(&b).await;
        subscribe(&b, &cid, "ann").await;
        let (b2, cid2) = (b.clone(), cid.clone());
        let start = Instant::now();
        let task = tokio::spawn(async move { connect(&b2, &cid2, None).await });
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!task.is_finished());
        b.publish("/users/ann", "e1", &json!({"events": []}));
        let replies = task.await.unwrap();
        assert!(start.elapsed() < Duration::from_secs(5));
        assert_eq!(replies.len(), 2);
        assert_eq!(replies[1]["id"], "e1");
    }

    #[tokio::test]
    async fn connect_times_out_with_an_empty_reply() {
        let b = bayeux_with(quick());
        let cid = handshake(&b).await;
        let start = Instant::now();
        let replies = connect(&b, &cid, None).await;
        assert_eq!(replies.len(), 1);
        assert_eq!(replies[0]["successful"], true);
        assert_eq!(replies[0]["advice"], json!({"reconnect": "retry", "interval": 0, "timeout": 300}));
        assert!(start.elapsed() >= Duration::from_millis(300));
        // A client asking for a shorter hold (faye does when batching) gets it.
        let start = Instant::now();
        connect(&b, &cid, Some(0)).await;
        assert!(start.elapsed() < Duration::from_millis(200));
        // …but never a longer one.
        let start = Instant::now();
        connect(&b, &cid, Some(3_600_000)).await;
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(300) && took < Duration::from_secs(5), "{took:?}");
    }

    #[tokio::test]
    async fn a_newer_connect_answers_the_held_one() {
        let b = Arc::new(bayeux_with(Settings { timeout: Duration::from_secs(30), ..Settings::default() }));
        let cid = handshake(&b).await;
        let (b2, cid2) = (b.clone(), cid.clone());
        let first = tokio::spawn(async move { connect(&b2, &cid2, None).await });
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!first.is_finished());
        let (b3, cid3) = (b.clone(), cid.clone());
        let second = tokio::spawn(async move { connect(&b3, &cid3, None).await });
        let first = tokio::time::timeout(Duration::from_secs(5), first).await.expect("answered at once").unwrap();
        assert_eq!(first.len(), 1);
        assert_eq!(first[0]["successful"], true);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!second.is_finished());
        // Shutting down answers held connects with advice to come back later.
        b.close_all();
        let r = tokio::time::timeout(Duration::from_secs(5), second).await.expect("answered at once").unwrap();
        assert_eq!(r[0]["successful"], true);
        assert_eq!(r[0]["advice"]["reconnect"], "retry");
    }

    #[tokio::test]
    async fn a_slow_consumer_is_dropped_not_buffered() {
        let b = bayeux_with(Settings { max_queue_messages: 3, ..Settings::default() });
        let slow = handshake(&b).await;
        let fast = handshake(&b).await;
        subscribe(&b, &slow, "ann").await;
        subscribe(&b, &fast, "ann").await;
        for i in 0..3 {
            assert_eq!(b.publish("/users/ann", &format!("e{i}"), &json!({})), 2);
            // The fast one reads everything as it comes.
            assert_eq!(connect(&b, &fast, Some(0)).await.len(), 2);
        }
        assert_eq!(b.publish("/users/ann", "e3", &json!({})), 1);
        assert!(b.client(&slow).is_none());
        assert_eq!(b.stats().dropped_slow, 1);
        let r = connect(&b, &slow, None).await;
        assert_eq!(r[0]["error"], format!("401:{slow}:Unknown client"));
        assert_eq!(r[0]["advice"]["reconnect"], "handshake");
        assert_eq!(connect(&b, &fast, Some(0)).await.len(), 2);
    }

    #[tokio::test]
    async fn the_queue_is_bounded_in_bytes_too() {
        let b = bayeux_with(Settings { max_queue_bytes: 300, ..Settings::default() });
        let cid = handshake(&b).await;
        subscribe(&b, &cid, "ann").await;
        let big = json!({"text": "x".repeat(200)});
        assert_eq!(b.publish("/users/ann", "1", &big), 1);
        assert_eq!(b.publish("/users/ann", "2", &big), 0);
        assert!(b.client(&cid).is_none());
    }

    #[tokio::test]
    async fn a_held_connect_learns_its_client_was_dropped() {
        let b = Arc::new(bayeux_with(Settings { max_queue_messages: 1, ..Settings::default() }));
        let cid = handshake(&b).await;
        subscribe(&b, &cid, "ann").await;
        let out = b.process(json!({"channel": "/meta/connect", "clientId": cid, "connectionType": "long-polling"}), Transport::LongPolling).await;
        let held = out.connect.unwrap();
        b.drop_client(&cid, Gone::SlowConsumer);
        let r = b.wait(held).await;
        assert_eq!(parse(&r[0])["error"], format!("401:{cid}:Unknown client"));
    }

    #[tokio::test]
    async fn idle_clients_are_swept() {
        let b = bayeux();
        let idle = handshake(&b).await;
        let busy = handshake(&b).await;
        subscribe(&b, &idle, "ann").await;
        let ttl = b.settings().client_ttl();
        assert_eq!(ttl, Duration::from_secs(60));
        assert_eq!(b.sweep(Instant::now()), 0);
        let later = Instant::now() + ttl + Duration::from_secs(1);
        b.client(&busy).unwrap().touch(later);
        assert_eq!(b.sweep(later), 1);
        assert!(b.client(&idle).is_none());
        assert!(b.client(&busy).is_some());
        assert_eq!(b.publish("/users/ann", "e", &json!({})), 0);
        assert_eq!(b.stats().channels, 0);
        assert_eq!(b.stats().dropped_idle, 1);
    }

    #[tokio::test]
    async fn unsubscribe_and_disconnect() {
        let b = bayeux();
        let cid = handshake(&b).await;
        subscribe(&b, &cid, "ann").await;
        let r = one(&b, json!({"channel": "/meta/unsubscribe", "clientId": cid, "subscription": "/users/ann"})).await;
        assert_eq!(r["successful"], true);
        assert_eq!(b.publish("/users/ann", "e", &json!({})), 0);
        subscribe(&b, &cid, "ann").await;
        let r = one(&b, json!({"channel": "/meta/disconnect", "clientId": cid, "id": "d"})).await;
        assert_eq!(r["successful"], true);
        assert_eq!(r["id"], "d");
        assert!(b.client(&cid).is_none());
        assert_eq!(b.publish("/users/ann", "e", &json!({})), 0);
        assert_eq!(b.stats().channels, 0);
    }

    #[tokio::test]
    async fn closing_a_channel_drops_its_subscribers() {
        let b = bayeux();
        let a1 = handshake(&b).await;
        let a2 = handshake(&b).await;
        let other = handshake(&b).await;
        subscribe(&b, &a1, "ann").await;
        subscribe(&b, &a2, "ann").await;
        subscribe(&b, &other, "bob").await;
        assert_eq!(b.close_channel("/users/ann"), 2);
        assert!(b.client(&a1).is_none() && b.client(&a2).is_none());
        assert!(b.client(&other).is_some());
    }

    #[tokio::test]
    async fn a_batch_is_answered_in_order_with_the_connect_last() {
        let b = bayeux();
        let cid = handshake(&b).await;
        let out = b
            .process(
                json!([
                    {"channel": "/meta/connect", "clientId": cid, "connectionType": "long-polling", "advice": {"timeout": 0}, "id": "1"},
                    {"channel": "/meta/subscribe", "clientId": cid, "subscription": "/users/ann", "ext": {"token": "ann"}, "id": "2"}
                ]),
                Transport::LongPolling,
            )
            .await;
        assert_eq!(out.replies.len(), 1);
        assert_eq!(parse(&out.replies[0])["id"], "2");
        assert_eq!(out.client_ids, vec![cid.clone()]);
        let held = out.connect.unwrap();
        let r = b.wait(held).await;
        assert_eq!(parse(&r[0])["id"], "1");
        let out = b.process(json!("not an object"), Transport::LongPolling).await;
        assert_eq!(parse(&out.replies[0])["error"], "400:message:Bad request");
        let many: Vec<Value> = (0..100).map(|_| json!({"channel": "/meta/handshake"})).collect();
        let out = b.process(Value::Array(many), Transport::LongPolling).await;
        assert_eq!(out.replies.len(), 1);
        assert_eq!(b.stats().clients, 1);
    }

    #[test]
    fn json_arrays_join_serialised_messages() {
        assert_eq!(json_array::<&str>(&[]), "[]");
        assert_eq!(json_array(&["{\"a\":1}", "{}"]), "[{\"a\":1},{}]");
    }
}
