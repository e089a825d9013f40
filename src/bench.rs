//! `sunbeam bench`: drives a real server over loopback HTTP and prints throughput and
//! latency. It starts its own server on a fresh store (a temporary SQLite file by
//! default, or `--database-url`).
//!
//! Scenario groups (`--scenarios`, all by default, in this order):
//! - `messages`: PostMessage to one and to many conversations, then history pages;
//! - `webhooks`: a receiver in this process and a webhook on `conversation:message`
//!   pointing at it; (a) end-to-end latency from each PostMessage 2xx to the arrival of
//!   the event carrying that message, at a paced (open-loop) rate; (b) deliveries per
//!   second while a burst is posted as fast as possible; (c) how fast a backlog of the
//!   same size drains once the receiver, which held its requests, lets them through.
//!   Every phase checks that each message arrived exactly once.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use clap::Args;
use serde_json::{json, Value};

use crate::config::ServeConfig;
use crate::domain::event::Trigger;
use crate::server::{bootstrap, Bootstrap, Server};

#[derive(Debug, Clone, Args)]
pub struct BenchConfig {
    /// Store for the benchmark's own server (default: a fresh temporary SQLite file).
    #[arg(long)]
    pub database_url: Option<String>,
    /// Messages posted per scenario and concurrency level.
    #[arg(long, default_value_t = 20_000)]
    pub messages: usize,
    /// Concurrency levels to run, comma separated.
    #[arg(long, default_value = "1,16,64", value_delimiter = ',')]
    pub concurrency: Vec<usize>,
    /// Conversations used by the "many conversations" and webhook scenarios.
    #[arg(long, default_value_t = 256)]
    pub conversations: usize,
    /// Scenario groups to run, comma separated: `messages` (posting, history) and
    /// `webhooks` (end-to-end delivery latency and throughput to a local receiver).
    #[arg(long, default_value = "messages,webhooks", value_delimiter = ',')]
    pub scenarios: Vec<String>,
    /// PostMessage rate (open loop) of the webhook latency scenario, per second.
    #[arg(long, default_value_t = 1_000)]
    pub webhook_rate: u64,
    /// How long the webhook latency scenario posts, in seconds.
    #[arg(long, default_value_t = 10)]
    pub webhook_seconds: u64,
    /// Messages posted by each webhook throughput scenario.
    #[arg(long, default_value_t = 20_000)]
    pub webhook_messages: usize,
}

struct Target {
    base: String,
    auth: String,
    app_id: String,
    http: reqwest::Client,
}

#[derive(Default)]
struct Stats {
    latencies_us: Vec<u64>,
    errors: usize,
    elapsed: Duration,
}

impl Stats {
    fn report(&mut self, label: &str, unit: &str) {
        self.latencies_us.sort_unstable();
        let n = self.latencies_us.len();
        let pct = |p: f64| if n == 0 { 0.0 } else { self.latencies_us[((n as f64 * p) as usize).min(n - 1)] as f64 / 1000.0 };
        let rate = n as f64 / self.elapsed.as_secs_f64();
        println!(
            "{label:<44} {rate:>9.0} {unit}/s   p50 {:>6.2} ms   p99 {:>6.2} ms   max {:>7.2} ms   errors {}",
            pct(0.50),
            pct(0.99),
            pct(1.0),
            self.errors
        );
    }
}

impl Target {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Result<Value, String> {
        let mut req = self.http.request(method, format!("{}{}", self.base, path)).header("authorization", &self.auth);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.map_err(|e| e.to_string())?;
        let status = res.status();
        let body: Value = res.json().await.map_err(|e| e.to_string())?;
        if status.is_success() { Ok(body) } else { Err(format!("{status}: {body}")) }
    }

    async fn new_conversation(&self, user: &str) -> Result<String, String> {
        let body = self
            .call(reqwest::Method::POST, &format!("/v2/apps/{}/conversations", self.app_id), Some(json!({"type": "sdkGroup", "participants": [{"userId": user}]})))
            .await?;
        Ok(body["conversation"]["id"].as_str().unwrap_or_default().to_string())
    }
}

/// Runs `total` requests with `concurrency` workers; `request(i)` performs the i-th.
async fn drive<F, Fut>(total: usize, concurrency: usize, request: F) -> Stats
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<(), String>> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let request = Arc::new(request);
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (next, request) = (next.clone(), request.clone());
        workers.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    break;
                }
                let t = Instant::now();
                match request(i).await {
                    Ok(()) => lat.push(t.elapsed().as_micros() as u64),
                    Err(e) => {
                        if errors == 0 {
                            eprintln!("request failed: {e}");
                        }
                        errors += 1;
                    }
                }
            }
            (lat, errors)
        }));
    }
    let mut stats = Stats::default();
    for w in workers {
        if let Ok((lat, errors)) = w.await {
            stats.latencies_us.extend(lat);
            stats.errors += errors;
        }
    }
    stats.elapsed = started.elapsed();
    stats
}

pub async fn run(config: BenchConfig) -> Result<(), String> {
    if let Some(bad) = config.scenarios.iter().find(|s| !["messages", "webhooks"].contains(&s.as_str())) {
        return Err(format!("unknown scenario {bad:?} (known: messages, webhooks)"));
    }
    let dir = std::env::temp_dir().join(format!("sunbeam-bench-{}", crate::domain::ids::new_id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let url = config.database_url.clone().unwrap_or_else(|| format!("sqlite://{}/bench.db", dir.display()));
    let mut serve = ServeConfig::for_database(&url, dir.clone());
    // The webhook backlog scenario holds the receiver's answers while it posts; a target
    // that answers within 5 minutes is not a failure here.
    serve.webhook_timeout_ms = 300_000;
    let server = Server::build(&serve).await?;
    let Bootstrap::Created { id, secret } = bootstrap(&server.store, &serve).await? else {
        return Err("the benchmark needs an empty store".into());
    };
    let addr = server.local_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(server.run(async move {
        let _ = stopped.await;
    }));
    println!("sunbeam bench: server on http://{addr}, store {url}, {} cores", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));

    let http = reqwest::Client::builder().pool_max_idle_per_host(256).build().map_err(|e| e.to_string())?;
    let auth = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}")));
    let mut target = Target { base: format!("http://{addr}"), auth, app_id: String::new(), http };
    let app = target.call(reqwest::Method::POST, "/v2/apps", Some(json!({"displayName": "bench"}))).await?;
    target.app_id = app["app"]["id"].as_str().unwrap_or_default().to_string();
    let user = target.call(reqwest::Method::POST, &format!("/v2/apps/{}/users", target.app_id), Some(json!({"externalId": "bench-user"}))).await?;
    let user_id = user["user"]["id"].as_str().unwrap_or_default().to_string();
    let target = Arc::new(target);

    if config.scenarios.iter().any(|s| s == "messages") {
        message_scenarios(&config, &target, &user_id).await?;
    }
    if config.scenarios.iter().any(|s| s == "webhooks") {
        webhooks::run(&config, &target).await?;
    }
    let _ = stop.send(());
    let _ = handle.await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// Posting (one and many conversations) and history paging.
async fn message_scenarios(config: &BenchConfig, target: &Arc<Target>, user_id: &str) -> Result<(), String> {

    let message = |text: String| json!({"author": {"type": "business", "displayName": "Bench"}, "content": {"type": "text", "text": text}});
    for &c in &config.concurrency {
        let conversation = target.new_conversation(user_id).await?;
        let t = target.clone();
        let path = format!("/v2/apps/{}/conversations/{conversation}/messages", t.app_id);
        let mut stats = drive(config.messages, c, move |i| {
            let (t, path) = (t.clone(), path.clone());
            async move { t.call(reqwest::Method::POST, &path, Some(message(format!("message {i}")))).await.map(|_| ()) }
        })
        .await;
        stats.report(&format!("post, one conversation, concurrency {c}"), "msgs");
    }
    for &c in &config.concurrency {
        let mut conversations = Vec::new();
        for _ in 0..config.conversations {
            conversations.push(target.new_conversation(user_id).await?);
        }
        let paths: Arc<Vec<String>> = Arc::new(conversations.iter().map(|id| format!("/v2/apps/{}/conversations/{id}/messages", target.app_id)).collect());
        let t = target.clone();
        let mut stats = drive(config.messages, c, move |i| {
            let (t, paths) = (t.clone(), paths.clone());
            async move { t.call(reqwest::Method::POST, &paths[i % paths.len()], Some(message(format!("message {i}")))).await.map(|_| ()) }
        })
        .await;
        stats.report(&format!("post, {} conversations, concurrency {c}", config.conversations), "msgs");
    }
    // History: page back through the first conversation (which now holds `messages`).
    let conversation = {
        let list = target.call(reqwest::Method::GET, &format!("/v2/apps/{}/conversations?filter[userId]={user_id}&page[size]=1", target.app_id), None).await?;
        list["conversations"][0]["id"].as_str().unwrap_or_default().to_string()
    };
    let list_path = format!("/v2/apps/{}/conversations/{conversation}/messages", target.app_id);
    let pages = (config.messages / 100).max(1);
    let cursors: Arc<Vec<String>> = {
        let mut cursors = vec![String::new()];
        let mut next = target.call(reqwest::Method::GET, &list_path, None).await?;
        while let Some(before) = next["meta"]["beforeCursor"].as_str() {
            cursors.push(before.to_string());
            next = target.call(reqwest::Method::GET, &format!("{list_path}?page[before]={before}"), None).await?;
        }
        Arc::new(cursors)
    };
    for &c in &config.concurrency {
        let (t, path, cursors) = (target.clone(), list_path.clone(), cursors.clone());
        let mut stats = drive(pages.max(cursors.len()) * 4, c, move |i| {
            let (t, path, cursors) = (t.clone(), path.clone(), cursors.clone());
            async move {
                let cursor = &cursors[i % cursors.len()];
                let url = if cursor.is_empty() { path } else { format!("{path}?page[before]={cursor}") };
                let page = t.call(reqwest::Method::GET, &url, None).await?;
                if page["messages"].as_array().map_or(0, Vec::len) == 0 {
                    return Err("empty page".into());
                }
                Ok(())
            }
        })
        .await;
        stats.report(&format!("history pages of 100, concurrency {c}"), "pages");
    }
    Ok(())
}

/// Webhook scenarios: a receiver in this process, a custom integration whose webhook
/// (`conversation:message`) points at it, and messages posted over many conversations.
/// Each event is matched to its message by `payload.message.id`.
mod webhooks {
    use std::collections::HashMap;
    use std::sync::Mutex;

    use axum::body::Bytes;
    use axum::extract::State;
    use axum::http::StatusCode;
    use axum::routing::post;
    use axum::Router;
    use tokio::sync::watch;

    use super::*;

    /// What the receiver saw during one phase.
    #[derive(Default)]
    struct Seen {
        /// message id → (first arrival, times received).
        arrivals: HashMap<String, (Instant, u32)>,
        requests: usize,
        events: usize,
        /// Events in requests that arrived while the gate was closed.
        held_events: usize,
        max_batch: usize,
        /// Events without a message id.
        odd: usize,
        last: Option<Instant>,
    }

    #[derive(Clone)]
    struct Receiver {
        seen: Arc<Mutex<Seen>>,
        /// `true`: hold every request until it turns `false`.
        gate: watch::Receiver<bool>,
    }

    async fn receive(State(r): State<Receiver>, body: Bytes) -> StatusCode {
        let mut gate = r.gate.clone();
        let held = *gate.borrow_and_update();
        if held {
            let _ = gate.wait_for(|hold| !*hold).await;
        }
        let at = Instant::now();
        let Ok(envelope) = serde_json::from_slice::<Value>(&body) else {
            eprintln!("receiver: unreadable webhook body");
            return StatusCode::OK;
        };
        let events = envelope["events"].as_array().map(Vec::as_slice).unwrap_or_default();
        let mut seen = r.seen.lock().unwrap();
        seen.requests += 1;
        seen.events += events.len();
        seen.max_batch = seen.max_batch.max(events.len());
        if held {
            seen.held_events += events.len();
        }
        seen.last = Some(at);
        for e in events {
            match e["payload"]["message"]["id"].as_str() {
                Some(id) => seen.arrivals.entry(id.to_string()).or_insert((at, 0)).1 += 1,
                None => seen.odd += 1,
            }
        }
        StatusCode::OK
    }

    /// What one phase posted: message id and when its 2xx came back.
    #[derive(Default)]
    struct Posted {
        ok: Vec<(String, Instant)>,
        stats: Stats,
    }

    /// Reconciles a phase: waits until every posted message has arrived (or `patience`
    /// passes), then a little longer for duplicates.
    struct Outcome {
        /// End-to-end latencies (µs), 2xx → arrival; 0 when the webhook came first.
        e2e_us: Vec<u64>,
        missing: usize,
        duplicates: usize,
        /// Events for messages this phase did not post (or without a message id).
        strays: usize,
        /// Webhooks that arrived before their PostMessage answer was read.
        early: usize,
        requests: usize,
        events: usize,
        held_events: usize,
        max_batch: usize,
        last: Option<Instant>,
    }

    struct Bench {
        target: Target,
        seen: Arc<Mutex<Seen>>,
        hold: watch::Sender<bool>,
        paths: Arc<Vec<String>>,
    }

    fn message_id(body: &Value) -> Option<String> {
        body["messages"][0]["id"].as_str().map(str::to_string)
    }

    fn text(i: usize) -> Value {
        json!({"author": {"type": "business", "displayName": "Bench"}, "content": {"type": "text", "text": format!("webhook {i}")}})
    }

    impl Bench {
        fn reset(&self) {
            *self.seen.lock().unwrap() = Seen::default();
        }

        async fn post(&self, i: usize) -> Result<(String, Instant), String> {
            let body = self.target.call(reqwest::Method::POST, &self.paths[i % self.paths.len()], Some(text(i))).await?;
            let at = Instant::now();
            message_id(&body).map(|id| (id, at)).ok_or_else(|| format!("no message id in {body}"))
        }

        async fn settle(&self, posted: &Posted, patience: Duration) -> Outcome {
            let want = posted.ok.len();
            let deadline = Instant::now() + patience;
            loop {
                // Cheap first (this runs while deliveries arrive): enough distinct ids?
                let (distinct, last) = {
                    let seen = self.seen.lock().unwrap();
                    (seen.arrivals.len(), seen.last)
                };
                if distinct >= want {
                    let seen = self.seen.lock().unwrap();
                    if posted.ok.iter().all(|(id, _)| seen.arrivals.contains_key(id)) {
                        break;
                    }
                }
                // Give up once nothing has come for a while.
                let quiet = last.is_none_or(|l| l.elapsed() > Duration::from_secs(5));
                if Instant::now() >= deadline || (quiet && Instant::now() >= deadline - patience + Duration::from_secs(5)) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            let last = self.seen.lock().unwrap().last;
            // Anything sent twice would follow closely (or after a lease, much later).
            tokio::time::sleep(Duration::from_millis(300)).await;
            let seen = self.seen.lock().unwrap();
            let mut out = Outcome {
                e2e_us: Vec::with_capacity(want),
                missing: 0,
                duplicates: 0,
                strays: 0,
                early: 0,
                requests: seen.requests,
                events: seen.events,
                held_events: seen.held_events,
                max_batch: seen.max_batch,
                last,
            };
            for (id, ok_at) in &posted.ok {
                match seen.arrivals.get(id) {
                    None => out.missing += 1,
                    Some((at, times)) => {
                        out.duplicates += (*times as usize).saturating_sub(1);
                        if at < ok_at {
                            out.early += 1;
                        }
                        out.e2e_us.push(at.saturating_duration_since(*ok_at).as_micros() as u64);
                    }
                }
            }
            // Messages this phase did not see answered (a post that failed on the way back,
            // or a late one from an earlier phase) count as strays; their repeats too.
            let ours: std::collections::HashSet<&str> = posted.ok.iter().map(|(id, _)| id.as_str()).collect();
            for (id, (_, times)) in &seen.arrivals {
                if !ours.contains(id.as_str()) {
                    out.strays += 1;
                    out.duplicates += (*times as usize).saturating_sub(1);
                }
            }
            out.strays += seen.odd;
            out
        }

        /// Posts `total` messages at `rate` per second, open loop: each request starts on
        /// its schedule whether or not earlier ones have answered.
        async fn paced(self: &Arc<Self>, total: usize, rate: u64) -> Posted {
            let started = Instant::now();
            let posted = Arc::new(Mutex::new(Posted::default()));
            let mut tasks = tokio::task::JoinSet::new();
            for i in 0..total {
                let due = started + Duration::from_nanos(i as u64 * 1_000_000_000 / rate.max(1));
                tokio::time::sleep_until(due.into()).await;
                let (b, posted) = (self.clone(), posted.clone());
                tasks.spawn(async move {
                    let t = Instant::now();
                    let r = b.post(i).await;
                    let mut p = posted.lock().unwrap();
                    match r {
                        Ok((id, at)) => {
                            p.stats.latencies_us.push(at.duration_since(t).as_micros() as u64);
                            p.ok.push((id, at));
                        }
                        Err(e) => {
                            if p.stats.errors == 0 {
                                eprintln!("request failed: {e}");
                            }
                            p.stats.errors += 1;
                        }
                    }
                });
            }
            while tasks.join_next().await.is_some() {}
            let mut p = std::mem::take(&mut *posted.lock().unwrap());
            p.stats.elapsed = started.elapsed();
            p
        }

        /// Posts `total` messages as fast as `concurrency` workers can.
        async fn burst(self: &Arc<Self>, total: usize, concurrency: usize) -> Posted {
            let ok = Arc::new(Mutex::new(Vec::with_capacity(total)));
            let (b, sink) = (self.clone(), ok.clone());
            let stats = drive(total, concurrency, move |i| {
                let (b, sink) = (b.clone(), sink.clone());
                async move {
                    let posted = b.post(i).await?;
                    sink.lock().unwrap().push(posted);
                    Ok(())
                }
            })
            .await;
            let ok = std::mem::take(&mut *ok.lock().unwrap());
            Posted { ok, stats }
        }
    }

    fn percentiles(us: &mut [u64]) -> (f64, f64, f64) {
        us.sort_unstable();
        let n = us.len();
        let pct = |p: f64| if n == 0 { 0.0 } else { us[((n as f64 * p) as usize).min(n - 1)] as f64 / 1000.0 };
        (pct(0.50), pct(0.99), pct(1.0))
    }

    fn check(o: &Outcome) -> String {
        let strays = if o.strays > 0 { format!("   strays {}", o.strays) } else { String::new() };
        format!("missing {}   duplicates {}{strays}", o.missing, o.duplicates)
    }

    fn batching(o: &Outcome) -> String {
        let avg = if o.requests == 0 { 0.0 } else { o.events as f64 / o.requests as f64 };
        format!("{} requests, {avg:.1} events/request (max {})", o.requests, o.max_batch)
    }

    pub(super) async fn run(config: &BenchConfig, main: &Target) -> Result<(), String> {
        // The receiver.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(|e| e.to_string())?;
        let hook_url = format!("http://{}/hook", listener.local_addr().map_err(|e| e.to_string())?);
        let (hold, gate) = watch::channel(false);
        let seen = Arc::new(Mutex::new(Seen::default()));
        let app = Router::new().route("/hook", post(receive)).with_state(Receiver { seen: seen.clone(), gate });
        let (stop_rx, stopped) = tokio::sync::oneshot::channel::<()>();
        let receiver = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await;
        });

        // An app of its own, with the webhook and the conversations.
        let mut target = Target { base: main.base.clone(), auth: main.auth.clone(), app_id: String::new(), http: main.http.clone() };
        let app = target.call(reqwest::Method::POST, "/v2/apps", Some(json!({"displayName": "bench webhooks"}))).await?;
        target.app_id = app["app"]["id"].as_str().unwrap_or_default().to_string();
        target
            .call(
                reqwest::Method::POST,
                &format!("/v2/apps/{}/integrations", target.app_id),
                Some(json!({"type": "custom", "webhooks": [{"target": hook_url, "triggers": [Trigger::ConversationMessage.as_str()]}]})),
            )
            .await?;
        let user = target.call(reqwest::Method::POST, &format!("/v2/apps/{}/users", target.app_id), Some(json!({"externalId": "bench-webhooks"}))).await?;
        let user_id = user["user"]["id"].as_str().unwrap_or_default().to_string();
        let conversations = config.conversations.max(1);
        let mut paths = Vec::with_capacity(conversations);
        for _ in 0..conversations {
            let id = target.new_conversation(&user_id).await?;
            paths.push(format!("/v2/apps/{}/conversations/{id}/messages", target.app_id));
        }
        let b = Arc::new(Bench { target, seen, hold, paths: Arc::new(paths) });
        let patience = Duration::from_secs(60);

        // Warm-up (connections, caches), not reported.
        b.reset();
        let warm = b.paced((config.webhook_rate as usize / 2).max(1), config.webhook_rate).await;
        b.settle(&warm, patience).await;

        // (a) End-to-end latency at a paced rate.
        b.reset();
        let total = (config.webhook_rate * config.webhook_seconds).max(1) as usize;
        let mut posted = b.paced(total, config.webhook_rate).await;
        let mut o = b.settle(&posted, patience).await;
        let (p50, p99, max) = percentiles(&mut o.e2e_us);
        let rate = o.e2e_us.len() as f64 / posted.stats.elapsed.as_secs_f64();
        let label = format!("webhook e2e, {} msgs/s paced, {conversations} convs", config.webhook_rate);
        println!("{label:<44} {rate:>9.0} dlvs/s   p50 {p50:>6.2} ms   p99 {p99:>6.2} ms   max {max:>7.2} ms   {}", check(&o));
        posted.stats.report(&format!("  its PostMessage calls ({} s, open loop)", config.webhook_seconds), "msgs");
        println!("  receiver: {}; {} webhooks came before their 2xx (counted as 0 ms)", batching(&o), o.early);

        // (b) Sustained: a burst posted as fast as possible, delivered meanwhile.
        b.reset();
        let n = config.webhook_messages.max(1);
        let started = Instant::now();
        let mut posted = b.burst(n, 64).await;
        let posting = started.elapsed();
        let o = b.settle(&posted, patience).await;
        let span = o.last.map(|l| l.duration_since(started)).unwrap_or(posting);
        let rate = (n - o.missing) as f64 / span.as_secs_f64();
        let after = span.saturating_sub(posting).as_secs_f64() * 1000.0;
        let label = format!("webhook burst of {n}, {conversations} convs, c 64");
        println!("{label:<44} {rate:>9.0} dlvs/s   last one {after:>6.0} ms after the last post   {}", check(&o));
        posted.stats.report("  its PostMessage calls", "msgs");
        println!("  receiver: {}", batching(&o));

        // (c) Capacity: the same burst held back at the receiver, then released; the rate
        // at which the backlog drains.
        b.reset();
        let _ = b.hold.send(true);
        let mut posted = b.burst(n, 64).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        let released = Instant::now();
        let _ = b.hold.send(false);
        let o = b.settle(&posted, patience).await;
        let span = o.last.map(|l| l.duration_since(released)).unwrap_or_default();
        let drained = n.saturating_sub(o.missing + o.held_events);
        let rate = drained as f64 / span.as_secs_f64().max(1e-9);
        let label = format!("webhook backlog of {n} drained, {conversations} convs");
        println!(
            "{label:<44} {rate:>9.0} dlvs/s   in {:>6.0} ms ({} were in flight at release)   {}",
            span.as_secs_f64() * 1000.0,
            o.held_events,
            check(&o)
        );
        posted.stats.report("  its PostMessage calls (receiver held)", "msgs");
        println!("  receiver: {}", batching(&o));

        let _ = stop_rx.send(());
        let _ = receiver.await;
        Ok(())
    }
}
