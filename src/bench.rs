//! `sunbeam bench`: drives a real server over loopback HTTP and prints throughput and
//! latency. It starts its own server on a fresh store (a temporary SQLite file by
//! default, or `--database-url`) unless `--target` points at a running one.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use clap::Args;
use serde_json::{json, Value};

use crate::config::ServeConfig;
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
    /// Conversations used by the "many conversations" scenario.
    #[arg(long, default_value_t = 256)]
    pub conversations: usize,
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
    let dir = std::env::temp_dir().join(format!("sunbeam-bench-{}", crate::domain::ids::new_id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let url = config.database_url.clone().unwrap_or_else(|| format!("sqlite://{}/bench.db", dir.display()));
    let serve = ServeConfig::for_database(&url, dir.clone());
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

    let message = |text: String| json!({"author": {"type": "business", "displayName": "Bench"}, "content": {"type": "text", "text": text}});
    for &c in &config.concurrency {
        let conversation = target.new_conversation(&user_id).await?;
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
            conversations.push(target.new_conversation(&user_id).await?);
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
    let _ = stop.send(());
    let _ = handle.await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
