//! `sunbeam bench`: drives real servers over loopback HTTP and prints throughput and
//! latency, each Sunbeam figure beside the machine's floor measured in the same run.
//!
//! Every server is a separate process: Sunbeam (`sunbeam serve`, one or more nodes on one
//! store) and the floor probes (`sunbeam bench-floor`, see `bench::floor`). The load comes
//! from this process over keep-alive connections (`bench::load`), so the server's RSS is
//! its own and its CPU is not shared with the generator's threads — but on a small machine
//! generator and server share the cores, equally for Sunbeam and for the floor, which is
//! why the ratios are the figures to compare across machines.
//!
//! Scenario groups (`--scenarios`, all by default, in this order):
//! - `floor`: the write probe (group-committed durable inserts) and the read probe (100
//!   stored JSON documents by primary-key range, concatenated);
//! - `messages`: PostMessage to one and to many conversations (server RSS sampled);
//! - `history`: ListMessages pages of 100 (server RSS sampled);
//! - `flat`: the store grown by `--preload` messages (bulk-loaded, server stopped), then
//!   the same posting and paging again, and the worst write latency during a WAL
//!   checkpoint (SQLite);
//! - `webhooks`: a receiver in this process and a webhook on `conversation:message`
//!   pointing at it; (a) end-to-end latency from each PostMessage 2xx to the arrival of
//!   the event carrying that message, at a paced (open-loop) rate; (b) deliveries per
//!   second while a burst is posted as fast as possible; (c) how fast a backlog of the
//!   same size drains once the receiver, which held its requests, lets them through.
//!   Every phase checks that each message arrived exactly once.
//! The summary table at the end prints each figure as a ratio to the floor.

mod floor;
mod load;

pub use floor::serve as serve_floor;

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use clap::Args;
use serde_json::{json, Value};

use crate::domain::event::Trigger;
use load::{expect, Figures};

#[derive(Debug, Clone, Args)]
pub struct BenchConfig {
    /// Store for the benchmark's servers (default: a fresh temporary SQLite file). A
    /// PostgreSQL URL should name an empty database.
    #[arg(long)]
    pub database_url: Option<String>,
    /// Sunbeam nodes to run on the one store (more than one needs PostgreSQL); the load
    /// is spread over them.
    #[arg(long, default_value_t = 1)]
    pub nodes: usize,
    /// Messages posted per scenario and concurrency level.
    #[arg(long, default_value_t = 20_000)]
    pub messages: usize,
    /// Concurrency levels to run, comma separated.
    #[arg(long, default_value = "1,16,64", value_delimiter = ',')]
    pub concurrency: Vec<usize>,
    /// Conversations used by the "many conversations" and webhook scenarios.
    #[arg(long, default_value_t = 256)]
    pub conversations: usize,
    /// Scenario groups to run, comma separated: floor, messages, history, flat, webhooks.
    #[arg(long, default_value = "floor,messages,history,flat,webhooks", value_delimiter = ',')]
    pub scenarios: Vec<String>,
    /// Messages bulk-loaded before the `flat` scenario repeats posting and paging.
    #[arg(long, default_value_t = 1_000_000)]
    pub preload: usize,
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

const SCENARIOS: [&str; 5] = ["floor", "messages", "history", "flat", "webhooks"];

/// A server process of the benchmark's own; stopped (SIGTERM, then SIGKILL) when dropped.
struct Process {
    child: Child,
    addr: SocketAddr,
}

impl Process {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn stop(&mut self) {
        // SAFETY: kill(2) on our own child's pid; no memory is touched.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.stop();
        }
    }
}

fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

/// What the Sunbeam nodes are started with.
struct Cluster {
    url: String,
    dir: std::path::PathBuf,
    key_id: String,
    key_secret: String,
}

impl Cluster {
    /// Starts `n` nodes and waits until each answers.
    async fn start(&self, n: usize) -> Result<Vec<Process>, String> {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let mut nodes = Vec::new();
        for _ in 0..n.max(1) {
            let port = free_port()?;
            let child = Command::new(&exe)
                .arg("serve")
                .env("SUNBEAM_LISTEN", format!("127.0.0.1:{port}"))
                .env("SUNBEAM_DATABASE_URL", &self.url)
                .env("SUNBEAM_DATA_DIR", &self.dir)
                .env("SUNBEAM_ACCOUNT_KEY_ID", &self.key_id)
                .env("SUNBEAM_ACCOUNT_KEY_SECRET", &self.key_secret)
                // The webhook backlog scenario holds the receiver's answers while it posts;
                // a target that answers within 5 minutes is not a failure here.
                .env("SUNBEAM_WEBHOOK_TIMEOUT_MS", "300000")
                // One key posts tens of thousands of requests a second here: the bench
                // measures the store, not the per-key rate limit a deployment sets.
                .env("SUNBEAM_RATE_LIMITS", "off")
                .env("SUNBEAM_LOG", std::env::var("SUNBEAM_LOG").unwrap_or_else(|_| "warn".into()))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .spawn()
                .map_err(|e| format!("cannot start {}: {e}", exe.display()))?;
            nodes.push(Process { child, addr: SocketAddr::from(([127, 0, 0, 1], port)) });
            // One at a time: the first node migrates the store.
            self.wait_ready(nodes.last_mut().ok_or("no node")?).await?;
        }
        Ok(nodes)
    }

    async fn wait_ready(&self, node: &mut Process) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(120);
        let auth = self.auth();
        loop {
            if let Ok(Some(status)) = node.child.try_wait() {
                return Err(format!("the server exited during start-up ({status})"));
            }
            let mut conn = load::Conn::new(node.addr);
            if let Ok(a) = conn.request("GET", "/v2/apps?page[size]=1", &auth, None).await {
                if a.status == 200 {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                return Err("the server did not answer within 120 s".into());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn auth(&self) -> String {
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", self.key_id, self.key_secret)))
    }
}

/// Samples the resident set of some processes every 50 ms; keeps the largest total.
struct RssProbe {
    max_kib: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok()).unwrap_or(0)
}

impl RssProbe {
    fn start(pids: Vec<u32>) -> RssProbe {
        let (max_kib, stop) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicBool::new(false)));
        let (m, s) = (max_kib.clone(), stop.clone());
        let task = tokio::spawn(async move {
            while !s.load(Ordering::Relaxed) {
                let total: u64 = pids.iter().map(|p| rss_kib(*p)).sum();
                m.fetch_max(total, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
        RssProbe { max_kib, stop, task }
    }

    /// The largest RSS seen, MiB.
    async fn finish(self) -> f64 {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.task.await;
        self.max_kib.load(Ordering::Relaxed) as f64 / 1024.0
    }
}

/// CPU time (ns) the server processes' threads have used so far, by role: the async
/// runtime's workers (HTTP, JSON, auth, the outbox readers' tasks), the SQLite writer,
/// the SQLite reader threads, the checkpointer, anything else. Thread names are the
/// store's (`sqlite-writer`, `sqlite-reader-N`, `sqlite-ckpt`) and tokio's.
fn cpu_by_role(pids: &[u32]) -> [u64; 5] {
    let mut out = [0u64; 5];
    for pid in pids {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { continue };
        for t in tasks.flatten() {
            let path = t.path();
            let comm = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
            let ns = std::fs::read_to_string(path.join("schedstat"))
                .ok()
                .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse::<u64>().ok()))
                .unwrap_or_else(|| {
                    // utime + stime in clock ticks (assumed 100 Hz) when schedstat is missing.
                    let stat = std::fs::read_to_string(path.join("stat")).unwrap_or_default();
                    let after = stat.rsplit_once(')').map(|(_, a)| a).unwrap_or("");
                    let f: Vec<&str> = after.split_whitespace().collect();
                    let ticks = f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0) + f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
                    ticks * 10_000_000
                });
            let role = match comm.trim() {
                c if c.starts_with("tokio-rt-worker") => 0,
                "sqlite-writer" => 1,
                c if c.starts_with("sqlite-reader") => 2,
                "sqlite-ckpt" => 3,
                _ => 4,
            };
            out[role] += ns;
        }
    }
    out
}

/// Server CPU per request over a run (µs), by role, from two `cpu_by_role` readings.
#[derive(Debug, Clone, Copy, Default)]
struct CpuShare([f64; 5]);

impl CpuShare {
    fn between(before: [u64; 5], after: [u64; 5], requests: usize) -> CpuShare {
        let mut out = [0.0; 5];
        for i in 0..5 {
            out[i] = after[i].saturating_sub(before[i]) as f64 / 1000.0 / requests.max(1) as f64;
        }
        CpuShare(out)
    }

    fn total(&self) -> f64 {
        self.0.iter().sum()
    }

    fn show(&self) -> String {
        let [a, w, r, c, o] = self.0;
        format!("async workers {a:.0} µs, SQLite writer {w:.0} µs, readers {r:.0} µs, checkpointer {c:.0} µs, other {o:.0} µs (total {:.0} µs)", self.total())
    }
}

/// The figures the summary compares.
#[derive(Default)]
struct Results {
    floor_write: Vec<(usize, Figures)>,
    floor_read: Vec<(usize, Figures)>,
    post_many: Vec<(usize, Figures)>,
    history: Vec<(usize, Figures)>,
    flat_post: Option<Figures>,
    flat_history: Option<Figures>,
    checkpoint: Option<(usize, f64, f64)>,
    rss_write_mib: Option<f64>,
    rss_history_mib: Option<f64>,
    cpu_post: Option<CpuShare>,
    cpu_history: Option<CpuShare>,
    nodes: usize,
}

fn at(list: &[(usize, Figures)], c: usize) -> Option<Figures> {
    list.iter().find(|(k, _)| *k == c).map(|(_, f)| *f)
}

/// A setup call (JSON in and out) over a fresh connection.
async fn call(addr: SocketAddr, auth: &str, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
    let mut conn = load::Conn::new(addr);
    let bytes = body.map(|b| b.to_string().into_bytes());
    let a = conn.request(method, path, auth, bytes.as_deref()).await?;
    let v: Value = serde_json::from_slice(&a.body).map_err(|e| format!("{method} {path}: {e}"))?;
    if (200..300).contains(&a.status) { Ok(v) } else { Err(format!("{method} {path}: {} {v}", a.status)) }
}

fn message(i: usize) -> Vec<u8> {
    json!({"author": {"type": "business", "displayName": "Bench"}, "content": {"type": "text", "text": format!("message {i}")}}).to_string().into_bytes()
}

pub async fn run(config: BenchConfig) -> Result<(), String> {
    if let Some(bad) = config.scenarios.iter().find(|s| !SCENARIOS.contains(&s.as_str())) {
        return Err(format!("unknown scenario {bad:?} (known: {})", SCENARIOS.join(", ")));
    }
    let dir = std::env::temp_dir().join(format!("sunbeam-bench-{}", crate::domain::ids::new_id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let url = config.database_url.clone().unwrap_or_else(|| format!("sqlite://{}/bench.db", dir.display()));
    if config.nodes > 1 && url.starts_with("sqlite") {
        return Err("several nodes need a PostgreSQL store (--database-url postgres://…)".into());
    }
    let wants = |s: &str| config.scenarios.iter().any(|x| x == s);
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    println!("sunbeam bench: store {url}, {} node(s), {cores} cores; load from this process over keep-alive connections", config.nodes);
    let mut results = Results { nodes: config.nodes, ..Results::default() };

    if wants("floor") {
        floor_scenarios(&config, &dir, &mut results).await?;
    }
    let cluster = Cluster { url: url.clone(), dir: dir.clone(), key_id: format!("act_{}", crate::domain::ids::new_id()), key_secret: crate::domain::ids::new_secret() };
    if ["messages", "history", "flat", "webhooks"].iter().any(|s| wants(s)) {
        let mut nodes = cluster.start(config.nodes).await?;
        let addrs: Vec<SocketAddr> = nodes.iter().map(|n| n.addr).collect();
        println!("sunbeam: {}", addrs.iter().map(|a| format!("http://{a}")).collect::<Vec<_>>().join(", "));
        let auth = cluster.auth();
        let app = call(addrs[0], &auth, "POST", "/v2/apps", Some(json!({"displayName": "bench"}))).await?;
        let app_id = app["app"]["id"].as_str().unwrap_or_default().to_string();
        let user = call(addrs[0], &auth, "POST", &format!("/v2/apps/{app_id}/users"), Some(json!({"externalId": "bench-user"}))).await?;
        let user_id = user["user"]["id"].as_str().unwrap_or_default().to_string();
        let ctx = Ctx { addrs: addrs.clone(), pids: nodes.iter().map(Process::pid).collect(), auth: auth.clone(), app_id, user_id };
        let one = ctx.new_conversation().await?;
        let many = ctx.new_conversations(config.conversations.max(1)).await?;
        if wants("messages") || wants("history") || wants("flat") {
            let pids: Vec<u32> = nodes.iter().map(Process::pid).collect();
            let rss = RssProbe::start(pids.clone());
            let hi = *config.concurrency.iter().max().unwrap_or(&64);
            let mut cpus = Vec::new();
            let posted = post_scenarios(&config, &ctx, &one, &many, "", &mut cpus).await?;
            results.cpu_post = cpus.iter().find(|(c, _)| *c == hi).map(|(_, s)| *s);
            results.post_many = posted;
            results.rss_write_mib = Some(rss.finish().await);
            let rss = RssProbe::start(pids);
            let mut cpus = Vec::new();
            results.history = history_scenarios(&config, &ctx, &one, "", &mut cpus).await?;
            results.cpu_history = cpus.iter().find(|(c, _)| *c == hi).map(|(_, s)| *s);
            results.rss_history_mib = Some(rss.finish().await);
        }
        if wants("flat") {
            nodes = flat_scenario(&config, &cluster, nodes, &ctx, &one, &mut results).await?;
        }
        if wants("webhooks") {
            let target = Target { base: format!("http://{}", addrs[0]), auth: auth.clone(), app_id: String::new(), http: reqwest::Client::builder().pool_max_idle_per_host(256).build().map_err(|e| e.to_string())? };
            webhooks::run(&config, &target).await?;
        }
        for n in &mut nodes {
            n.stop();
        }
    }
    summary(&config, &results);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// The measured API: where to send, as whom, in which app.
struct Ctx {
    addrs: Vec<SocketAddr>,
    /// The server processes (for their CPU time).
    pids: Vec<u32>,
    auth: String,
    app_id: String,
    user_id: String,
}

impl Ctx {
    async fn new_conversation(&self) -> Result<String, String> {
        let body = call(self.addrs[0], &self.auth, "POST", &format!("/v2/apps/{}/conversations", self.app_id), Some(json!({"type": "sdkGroup", "participants": [{"userId": self.user_id}]}))).await?;
        Ok(body["conversation"]["id"].as_str().unwrap_or_default().to_string())
    }

    async fn new_conversations(&self, n: usize) -> Result<Vec<String>, String> {
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(self.new_conversation().await?);
        }
        Ok(out)
    }

    fn messages_path(&self, conversation: &str) -> String {
        format!("/v2/apps/{}/conversations/{conversation}/messages", self.app_id)
    }
}

/// The floor probes, in a process of their own.
async fn floor_scenarios(config: &BenchConfig, dir: &std::path::Path, results: &mut Results) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut child = Command::new(&exe)
        .arg("bench-floor")
        .arg("--dir")
        .arg(dir.join("floor"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start the floor probes: {e}"))?;
    let stdout = child.stdout.take().ok_or("no stdout from the floor probes")?;
    let line = tokio::task::spawn_blocking(move || {
        use std::io::BufRead;
        let mut line = String::new();
        std::io::BufReader::new(stdout).read_line(&mut line).map(|_| line)
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| e.to_string())?;
    let addr: SocketAddr = line.trim().parse().map_err(|_| format!("the floor probes said {line:?}, not an address"))?;
    let mut probe = Process { child, addr };
    let addrs = [addr];
    let convs = config.conversations.max(1);
    for &c in &config.concurrency {
        let stats = load::drive(&addrs, config.messages, c, move |i, conn| async move {
            let body = message(i);
            let (conn, r) = expect(conn, "POST", &format!("/floor/k{}", i % convs), "", Some(&body), 201).await;
            (conn, r.map(|_| ()))
        })
        .await;
        let f = stats.report(&format!("FLOOR write, {convs} keys, concurrency {c}"), "rows");
        results.floor_write.push((c, f));
    }
    // The read probe pages the newest 100 of a key that holds more.
    let fill = load::drive(&addrs, 1_000, 16, |i, conn| async move {
        let body = message(i);
        let (conn, r) = expect(conn, "POST", "/floor/page", "", Some(&body), 201).await;
        (conn, r.map(|_| ()))
    })
    .await;
    if fill.errors > 0 {
        return Err("the floor read probe could not be filled".into());
    }
    let pages = (config.messages / 100).max(1) * 4;
    for &c in &config.concurrency {
        let stats = load::drive(&addrs, pages, c, |_, conn| async move {
            let (conn, r) = expect(conn, "GET", "/floor/page", "", None, 200).await;
            (conn, r.and_then(|a| if a.body.len() > 2 { Ok(()) } else { Err("empty page".into()) }))
        })
        .await;
        let f = stats.report(&format!("FLOOR read, 100 stored docs, concurrency {c}"), "pages");
        results.floor_read.push((c, f));
    }
    probe.stop();
    Ok(())
}

/// Posts `total` bench messages at concurrency `c`, round robin over `paths`, each
/// answered 201.
async fn post_messages(addrs: &[SocketAddr], auth: &Arc<str>, paths: Vec<String>, total: usize, c: usize) -> load::Stats {
    let (paths, auth) = (Arc::new(paths), auth.clone());
    load::drive(addrs, total, c, move |i, conn| {
        let (paths, auth) = (paths.clone(), auth.clone());
        async move {
            let body = message(i);
            let (conn, r) = expect(conn, "POST", &paths[i % paths.len()], &auth, Some(&body), 201).await;
            (conn, r.map(|_| ()))
        }
    })
    .await
}

/// PostMessage to one conversation, then over many; answers the "many" figures.
async fn post_scenarios(config: &BenchConfig, ctx: &Ctx, one: &str, many: &[String], tag: &str, cpus: &mut Vec<(usize, CpuShare)>) -> Result<Vec<(usize, Figures)>, String> {
    let auth: Arc<str> = Arc::from(ctx.auth.as_str());
    if tag.is_empty() {
        for &c in &config.concurrency {
            let stats = post_messages(&ctx.addrs, &auth, vec![ctx.messages_path(one)], config.messages / 4, c).await;
            stats.report(&format!("post, one conversation, concurrency {c}"), "msgs");
        }
    }
    let mut out = Vec::new();
    for &c in &config.concurrency {
        let cpu_before = cpu_by_role(&ctx.pids);
        let stats = post_messages(&ctx.addrs, &auth, many.iter().map(|id| ctx.messages_path(id)).collect(), config.messages, c).await;
        out.push((c, stats.report(&format!("post, {} conversations, concurrency {c}{tag}", many.len()), "msgs")));
        let cpu = CpuShare::between(cpu_before, cpu_by_role(&ctx.pids), stats.latencies_us.len());
        println!("  server CPU per message: {}", cpu.show());
        cpus.push((c, cpu));
    }
    Ok(out)
}

/// History: pages of 100 back through `conversation`, every page in turn.
async fn history_scenarios(config: &BenchConfig, ctx: &Ctx, conversation: &str, tag: &str, cpus: &mut Vec<(usize, CpuShare)>) -> Result<Vec<(usize, Figures)>, String> {
    let path = ctx.messages_path(conversation);
    let mut cursors = vec![String::new()];
    let mut next = call(ctx.addrs[0], &ctx.auth, "GET", &path, None).await?;
    while let Some(before) = next["meta"]["beforeCursor"].as_str() {
        cursors.push(before.to_string());
        next = call(ctx.addrs[0], &ctx.auth, "GET", &format!("{path}?page[before]={before}"), None).await?;
    }
    let urls: Arc<Vec<String>> = Arc::new(cursors.iter().map(|c| if c.is_empty() { path.clone() } else { format!("{path}?page[before]={c}") }).collect());
    let auth: Arc<str> = Arc::from(ctx.auth.as_str());
    let pages = (config.messages / 100).max(1) * 4;
    let mut out = Vec::new();
    for &c in &config.concurrency {
        let total = pages.max(urls.len());
        let (urls, auth) = (urls.clone(), auth.clone());
        let cpu_before = cpu_by_role(&ctx.pids);
        let stats = load::drive(&ctx.addrs, total, c, move |i, conn| {
            let (urls, auth) = (urls.clone(), auth.clone());
            async move {
                let (conn, r) = expect(conn, "GET", &urls[i % urls.len()], &auth, None, 200).await;
                (conn, r.and_then(|a| if a.body.len() > 200 { Ok(()) } else { Err("empty page".into()) }))
            }
        })
        .await;
        out.push((c, stats.report(&format!("history pages of 100, {} cursors, concurrency {c}{tag}", cursors.len()), "pages")));
        let cpu = CpuShare::between(cpu_before, cpu_by_role(&ctx.pids), stats.latencies_us.len());
        println!("  server CPU per page: {}", cpu.show());
        cpus.push((c, cpu));
    }
    Ok(out)
}

/// Flat cost: the nodes are stopped, `--preload` messages are bulk-loaded into
/// conversations of their own (1,000 each), the nodes restarted, and the posting and
/// paging of the empty store run again. Meanwhile, on SQLite, the WAL is checkpointed
/// from this process every 200 ms and the worst latency of a write in flight during a
/// checkpoint is kept.
async fn flat_scenario(config: &BenchConfig, cluster: &Cluster, mut nodes: Vec<Process>, ctx: &Ctx, one: &str, results: &mut Results) -> Result<Vec<Process>, String> {
    const PER_CONVERSATION: usize = 1_000;
    let n_convs = config.preload.div_ceil(PER_CONVERSATION).max(1);
    let started = Instant::now();
    let convs = ctx.new_conversations(n_convs).await?;
    let template = call(ctx.addrs[0], &ctx.auth, "POST", &ctx.messages_path(&convs[0]), Some(serde_json::from_slice(&message(0)).unwrap_or_default())).await?;
    let doc = template["messages"][0].clone();
    for n in &mut nodes {
        n.stop();
    }
    let store = crate::server::open_store(&crate::config::ServeConfig::for_database(&cluster.url, cluster.dir.clone())).await?;
    let loaded = store.bulk_load_messages(&ctx.app_id, &convs, PER_CONVERSATION.min(config.preload), &doc).await.map_err(|e| e.to_string())?;
    store.checkpoint().await.map_err(|e| e.to_string())?;
    store.close().await;
    let disk = dir_size(&cluster.dir);
    println!(
        "flat: {loaded} messages bulk-loaded into {n_convs} conversations in {:.1} s; store files now {:.0} MiB",
        started.elapsed().as_secs_f64(),
        disk as f64 / (1024.0 * 1024.0)
    );
    let nodes = cluster.start(nodes.len()).await?;
    let addrs: Vec<SocketAddr> = nodes.iter().map(|n| n.addr).collect();
    let ctx = Ctx { addrs, pids: nodes.iter().map(Process::pid).collect(), auth: ctx.auth.clone(), app_id: ctx.app_id.clone(), user_id: ctx.user_id.clone() };
    let many = ctx.new_conversations(config.conversations.max(1)).await?;
    // The checkpoint watcher: runs while the posting below does.
    let checker = crate::server::open_store(&crate::config::ServeConfig::for_database(&cluster.url, cluster.dir.clone())).await?;
    let windows = Arc::new(std::sync::Mutex::new(Vec::<(Instant, Instant)>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (windows, stop, checker) = (windows.clone(), stop.clone(), checker.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(200)).await;
                let t0 = Instant::now();
                if let Ok(Some((_, copied))) = checker.checkpoint().await {
                    if copied > 0 {
                        windows.lock().unwrap_or_else(|e| e.into_inner()).push((t0, Instant::now()));
                    }
                }
            }
        })
    };
    let c = *config.concurrency.iter().max().unwrap_or(&64);
    let flat_config = BenchConfig { concurrency: vec![c], ..config.clone() };
    let run_started = Instant::now();
    let stats = post_messages(&ctx.addrs, &Arc::from(ctx.auth.as_str()), many.iter().map(|id| ctx.messages_path(id)).collect(), config.messages, c).await;
    stop.store(true, Ordering::Relaxed);
    let _ = watcher.await;
    checker.close().await;
    results.flat_post = Some(stats.report(&format!("post, {} conversations, concurrency {c}, +{loaded} stored", many.len()), "msgs"));
    let windows = windows.lock().unwrap_or_else(|e| e.into_inner()).clone();
    if !windows.is_empty() {
        let base = stats.started.unwrap_or(run_started);
        let offset = |t: Instant| t.saturating_duration_since(base).as_micros() as u64;
        let spans: Vec<(u64, u64)> = windows.iter().map(|(a, b)| (offset(*a), offset(*b))).collect();
        let worst = stats
            .spans_us
            .iter()
            .filter(|(s, e)| spans.iter().any(|(a, b)| s < b && e > a))
            .map(|(s, e)| e - s)
            .max()
            .unwrap_or(0) as f64
            / 1000.0;
        let longest = spans.iter().map(|(a, b)| b - a).max().unwrap_or(0) as f64 / 1000.0;
        println!("  {} WAL checkpoints during it (longest {longest:.1} ms); worst write latency overlapping one: {worst:.2} ms", windows.len());
        results.checkpoint = Some((windows.len(), longest, worst));
    }
    let history = history_scenarios(&flat_config, &ctx, one, &format!(", +{loaded} stored"), &mut Vec::new()).await?;
    results.flat_history = history.first().map(|(_, f)| *f);
    Ok(nodes)
}

fn dir_size(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir).map(|d| d.flatten().filter_map(|e| e.metadata().ok()).filter(|m| m.is_file()).map(|m| m.len()).sum()).unwrap_or(0)
}

fn summary(config: &BenchConfig, r: &Results) {
    let hi = *config.concurrency.iter().max().unwrap_or(&64);
    let mid = if config.concurrency.contains(&16) { 16 } else { hi };
    let ratio = |a: f64, b: f64| if b > 0.0 { format!("{:.2}", a / b) } else { "-".into() };
    let node = if r.nodes > 1 { format!(", {} nodes", r.nodes) } else { String::new() };
    println!();
    println!("| what | Sunbeam{node} | the floor, same run | ratio |");
    println!("|---|---|---|---|");
    if let (Some(s), Some(f)) = (at(&r.post_many, hi), at(&r.floor_write, hi)) {
        println!("| PostMessage, C={hi}, {} conversations | {:.0} msgs/s | {:.0} durable inserts/s | {} |", config.conversations, s.rate, f.rate, ratio(s.rate, f.rate));
    }
    if let (Some(s), Some(f)) = (at(&r.post_many, mid), at(&r.floor_write, mid)) {
        println!("| PostMessage p99, C={mid} | {:.2} ms | {:.2} ms | |", s.p99_ms, f.p99_ms);
    }
    if let (Some(s), Some(f)) = (at(&r.history, hi), at(&r.floor_read, hi)) {
        println!("| ListMessages, page of 100, C={hi} | {:.0} pages/s, p50 {:.2} ms, p99 {:.2} ms | {:.0} pages/s, p99 {:.2} ms | {} |", s.rate, s.p50_ms, s.p99_ms, f.rate, f.p99_ms, ratio(s.rate, f.rate));
    }
    if let (Some(e), Some(g)) = (at(&r.post_many, hi), r.flat_post) {
        println!("| PostMessage C={hi} p50 / p99, empty → +{} stored | {:.2} / {:.2} ms → {:.2} / {:.2} ms | | {} / {} |", config.preload, e.p50_ms, e.p99_ms, g.p50_ms, g.p99_ms, ratio(g.p50_ms, e.p50_ms), ratio(g.p99_ms, e.p99_ms));
    }
    if let (Some(e), Some(g)) = (at(&r.history, hi), r.flat_history) {
        println!("| ListMessages C={hi} p50 / p99, empty → +{} stored | {:.2} / {:.2} ms → {:.2} / {:.2} ms | | {} / {} |", config.preload, e.p50_ms, e.p99_ms, g.p50_ms, g.p99_ms, ratio(g.p50_ms, e.p50_ms), ratio(g.p99_ms, e.p99_ms));
    }
    if let Some((n, longest, worst)) = r.checkpoint {
        println!("| worst write latency during a WAL checkpoint ({n} checkpoints, longest {longest:.1} ms) | {worst:.2} ms | | |");
    }
    if let Some(c) = r.cpu_post {
        println!("| server CPU per message, C={hi} | {} | | |", c.show());
    }
    if let Some(c) = r.cpu_history {
        println!("| server CPU per page, C={hi} | {} | | |", c.show());
    }
    if let (Some(w), Some(h)) = (r.rss_write_mib, r.rss_history_mib) {
        println!("| server RSS (peak), posting / history | {w:.0} MiB / {h:.0} MiB | | |");
    }
}

/// A reqwest client for the webhook scenarios (setup calls, the posting of each phase).
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
            "{label:<48} {rate:>9.0} {unit}/s   p50 {:>6.2} ms   p99 {:>6.2} ms   max {:>7.2} ms   errors {}",
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

/// Runs `total` requests with `concurrency` workers; `request(i)` performs the i-th
/// (the webhook scenarios' reqwest posting).
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
