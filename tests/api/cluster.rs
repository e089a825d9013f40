//! Two nodes on one fresh PostgreSQL database are one system: what is written through one
//! is read through the other, a realtime client on one hears what is committed through
//! the other (woken by LISTEN/NOTIFY, in commit order), and a webhook is delivered once.
//! Prints SKIPPED without PostgreSQL (outside CI).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};

use crate::common::{eventually, hs256_jwt, webhooks_drained, Db, Spawn, TestApp};
use crate::realtime::Ws;

/// Records every event id a webhook receives, with how often.
#[derive(Clone, Default)]
struct Receiver {
    seen: Arc<Mutex<Vec<(String, String)>>>,
}

async fn receive(State(r): State<Receiver>, body: String) -> &'static str {
    let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    for e in body["events"].as_array().into_iter().flatten() {
        r.seen.lock().unwrap().push((e["id"].as_str().unwrap_or("").to_string(), e["type"].as_str().unwrap_or("").to_string()));
    }
    "ok"
}

async fn receiver() -> (Receiver, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let r = Receiver::default();
    let app = Router::new().route("/hook", post(receive)).with_state(r.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (r, url)
}

#[tokio::test]
async fn two_nodes_on_one_postgres_are_one_system() {
    let Some(a) = TestApp::spawn_with(Spawn { db: Db::Postgres, ..Spawn::default() }).await else { return };
    // Node B's hub never polls (an hour): whatever it delivers, a NOTIFY from A woke it.
    let b = a.another_node(|c| c.realtime_poll_ms = 3_600_000).await;

    // Reads: what is written through one node is there through the other.
    let app_id = a.create_app("Cluster").await;
    let (status, got) = b.account("GET", &format!("/v2/apps/{app_id}"), None).await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["app"]["displayName"], "Cluster");
    let ann = b.create_user(&app_id, Some("ann")).await;
    let (status, got) = a.account("GET", &format!("/v2/apps/{app_id}/users/{ann}"), None).await;
    assert_eq!((status, got["user"]["externalId"].as_str()), (200, Some("ann")), "{got}");
    let (key_id, key_secret) = a.create_app_key(&app_id).await;
    let (status, c) = a.account("POST", &format!("/v2/apps/{app_id}/conversations"), Some(json!({"type": "sdkGroup", "participants": [{"userId": ann}]}))).await;
    assert_eq!(status, 201, "{c}");
    let conversation = format!("/v2/apps/{app_id}/conversations/{}", c["conversation"]["id"].as_str().unwrap());

    // A webhook made through B.
    let (hook, hook_url) = receiver().await;
    let (status, w) = b
        .account("POST", &format!("/v2/apps/{app_id}/integrations"), Some(json!({"type": "custom", "displayName": "hook", "webhooks": [{"target": hook_url, "triggers": ["conversation:message"]}]})))
        .await;
    assert_eq!(status, 201, "{w}");

    // Realtime: Ann's SDK on B (handshake, subscribe, a held connect over a WebSocket).
    let mut ws = Ws::connect(b.addr).await;
    let mut pushed = Vec::new();
    let jwt = hs256_jwt(&key_id, &key_secret, json!({"scope": "user", "external_id": "ann"}));
    let channel = format!("/sdk/apps/{app_id}/appusers/{ann}");
    let (client_id, r) = ws.subscribe(&channel, json!({"jwt": jwt}), &mut pushed).await;
    assert_eq!(r["successful"], true, "{r}");
    let connect = ws.hold_connect(&client_id).await;

    // Messages posted through A, concurrently (on PostgreSQL they commit out of `seq`
    // order, which the hub's late-commit window absorbs).
    let a = Arc::new(a);
    let total = 20;
    let posts: Vec<_> = (0..total)
        .map(|i| {
            let (a, path) = (a.clone(), format!("{conversation}/messages"));
            tokio::spawn(async move {
                let (status, body) = a.account("POST", &path, Some(json!({"author": {"type": "business"}, "content": {"type": "text", "text": format!("m{i}")}}))).await;
                assert_eq!(status, 201, "{body}");
            })
        })
        .collect();
    for p in posts {
        p.await.unwrap();
    }

    // B's client hears every one, in the order of the history.
    let mut live: Vec<String> = Vec::new();
    let collect = |batch: &[Value], live: &mut Vec<String>| {
        for m in batch.iter().filter(|m| m["channel"] == channel.as_str()) {
            for e in m["data"]["events"].as_array().into_iter().flatten().filter(|e| e["type"] == "message") {
                live.push(e["message"]["_id"].as_str().unwrap().to_string());
            }
        }
    };
    collect(&pushed, &mut live);
    while live.len() < total {
        let batch = tokio::time::timeout(crate::common::WAIT, ws.recv()).await.expect("pushes from node B").expect("socket open");
        let batch = batch.as_array().unwrap().clone();
        if batch.iter().any(|m| m["channel"] == "/meta/connect") {
            ws.send(&connect).await;
        }
        collect(&batch, &mut live);
    }
    let (_, history) = b.account("GET", &format!("{conversation}/messages"), None).await;
    let committed: Vec<String> = history["messages"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap().to_string()).collect();
    assert_eq!(committed.len(), total);
    assert_eq!(live, committed, "node B's client hears node A's commits in commit order");

    // Webhooks: each message once, whichever node sent it.
    webhooks_drained(&a.store).await;
    let seen = eventually("every message event at the webhook", || async {
        let seen = hook.seen.lock().unwrap().clone();
        if seen.len() >= total { Ok(seen) } else { Err(format!("{seen:?}")) }
    })
    .await;
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for (id, kind) in &seen {
        assert_eq!(kind, "conversation:message");
        *counts.entry(id).or_default() += 1;
    }
    assert_eq!((seen.len(), counts.len()), (total, total), "each event delivered once: {seen:?}");
}

// ---- Benchmark: realtime latency across nodes ----

/// Two nodes on one PostgreSQL (in this process); Ann's SDK client is on node B over a
/// WebSocket; messages are posted through node A, 4 at a time. Prints, per message, the
/// time from A's answer to the POST until B's client has the message (p50/p99/max).
/// `SUNBEAM_BENCH_MESSAGES` sets how many (default 1,000).
#[tokio::test(flavor = "multi_thread")]
#[ignore = "benchmark: run with --ignored --nocapture"]
async fn realtime_latency_across_nodes() {
    use std::time::Instant;
    let Some(a) = TestApp::spawn_with(Spawn { db: Db::Postgres, ..Spawn::default() }).await else { return };
    let b = a.another_node(|_| {}).await;
    let total: usize = std::env::var("SUNBEAM_BENCH_MESSAGES").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000);
    let app_id = a.create_app("Latency").await;
    let ann = a.create_user(&app_id, Some("ann")).await;
    let (key_id, key_secret) = a.create_app_key(&app_id).await;
    let (status, c) = a.account("POST", &format!("/v2/apps/{app_id}/conversations"), Some(json!({"type": "sdkGroup", "participants": [{"userId": ann}]}))).await;
    assert_eq!(status, 201, "{c}");
    let path = format!("/v2/apps/{app_id}/conversations/{}/messages", c["conversation"]["id"].as_str().unwrap());

    let mut ws = Ws::connect(b.addr).await;
    let mut pushed = Vec::new();
    let jwt = hs256_jwt(&key_id, &key_secret, json!({"scope": "user", "external_id": "ann"}));
    let channel = format!("/sdk/apps/{app_id}/appusers/{ann}");
    let (client_id, r) = ws.subscribe(&channel, json!({"jwt": jwt}), &mut pushed).await;
    assert_eq!(r["successful"], true, "{r}");
    let connect = ws.hold_connect(&client_id).await;

    // B's client, on its own task: when each message arrived.
    let arrived: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let reader = {
        let (arrived, channel) = (arrived.clone(), channel.clone());
        tokio::spawn(async move {
            while let Some(batch) = ws.recv().await {
                let now = Instant::now();
                let batch = batch.as_array().cloned().unwrap_or_default();
                if batch.iter().any(|m| m["channel"] == "/meta/connect") {
                    ws.send(&connect).await;
                }
                let mut arrived = arrived.lock().unwrap();
                for m in batch.iter().filter(|m| m["channel"] == channel.as_str()) {
                    for e in m["data"]["events"].as_array().into_iter().flatten().filter(|e| e["type"] == "message") {
                        arrived.entry(e["message"]["_id"].as_str().unwrap_or_default().to_string()).or_insert(now);
                    }
                }
            }
        })
    };

    // Posts through A, 4 at a time: when each was answered.
    let a = Arc::new(a);
    let answered: Arc<Mutex<Vec<(String, Instant)>>> = Arc::default();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let posters: Vec<_> = (0..4)
        .map(|_| {
            let (a, path, answered, next) = (a.clone(), path.clone(), answered.clone(), next.clone());
            tokio::spawn(async move {
                while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < total {
                    let (status, body) = a.account("POST", &path, Some(json!({"author": {"type": "business"}, "content": {"type": "text", "text": "latency"}}))).await;
                    let at = Instant::now();
                    assert_eq!(status, 201, "{body}");
                    answered.lock().unwrap().push((body["messages"][0]["id"].as_str().unwrap().to_string(), at));
                }
            })
        })
        .collect();
    for p in posters {
        p.await.unwrap();
    }
    eventually("every message at node B's client", || async {
        let n = arrived.lock().unwrap().len();
        if n >= total { Ok(()) } else { Err(format!("{n} of {total}")) }
    })
    .await;
    reader.abort();

    let arrived = arrived.lock().unwrap().clone();
    let mut early = 0;
    let mut ms: Vec<f64> = answered
        .lock()
        .unwrap()
        .iter()
        .map(|(id, at)| {
            let got = arrived[id];
            if got < *at {
                early += 1;
                0.0
            } else {
                (got - *at).as_secs_f64() * 1000.0
            }
        })
        .collect();
    ms.sort_by(|x, y| x.total_cmp(y));
    let pick = |q: f64| ms[((ms.len() as f64 - 1.0) * q).round() as usize];
    println!(
        "realtime across nodes (PostgreSQL, post via A, WebSocket client on B, {total} messages, 4 posters): POST answered -> client has it: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({early} arrived before the POST's answer was read)",
        pick(0.5),
        pick(0.99),
        pick(1.0)
    );
}

// ---- Benchmark: idle realtime connections across nodes ----

/// A `sunbeam serve` process (so its RSS is its alone), killed on drop.
struct NodeProcess {
    child: std::process::Child,
    addr: std::net::SocketAddr,
    _dir: tempfile::TempDir,
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const BENCH_ACCOUNT: (&str, &str) = ("act_benchbenchbenchbench02", "bench-secret-bench-secret");
const BENCH_MASTER_KEY: &str = "0101010101010101010101010101010101010101010101010101010101010101";

fn start_node(url: &str) -> NodeProcess {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_sunbeam"))
        .arg("serve")
        .env("SUNBEAM_LISTEN", "127.0.0.1:0")
        .env("SUNBEAM_DATABASE_URL", url)
        .env("SUNBEAM_DATA_DIR", dir.path())
        .env("SUNBEAM_MASTER_KEY", BENCH_MASTER_KEY)
        .env("SUNBEAM_ACCOUNT_KEY_ID", BENCH_ACCOUNT.0)
        .env("SUNBEAM_ACCOUNT_KEY_SECRET", BENCH_ACCOUNT.1)
        .env("SUNBEAM_LOG", "sunbeam=info,warn")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start sunbeam serve");
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().expect("the server printed its address").unwrap();
        if let Some(rest) = line.split("listening on http://").nth(1) {
            break rest.split_whitespace().next().unwrap().parse().unwrap();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    NodeProcess { child, addr, _dir: dir }
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)).and_then(|n| n.parse().ok()).unwrap_or(0)
}

fn now_us() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_micros()
}

/// Holds `SUNBEAM_BENCH_NODES` (default 5) × `SUNBEAM_BENCH_PER_NODE` (default 19,800: this
/// machine allows 20,000 descriptors per process) idle WebSocket SDK clients (handshake,
/// subscribe with a user JWT, a held connect) on as many `sunbeam serve` processes over one
/// fresh PostgreSQL database, from client processes of their own (this test binary again,
/// as `cluster::bench_client`), and reports the nodes' RSS per connection and the time for
/// one message to reach every client of one user, across all nodes.
/// `cargo test --release --test api cluster::idle_connections_across_nodes -- --ignored --nocapture`
#[tokio::test(flavor = "multi_thread")]
#[ignore = "benchmark: run with --ignored --nocapture"]
async fn idle_connections_across_nodes() {
    let Some(url) = crate::common::fresh_postgres_url().await else { return };
    let env = |k: &str, d: usize| std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(d);
    let nodes_n = env("SUNBEAM_BENCH_NODES", 5);
    let per_node = env("SUNBEAM_BENCH_PER_NODE", 19_800);
    let per_client = env("SUNBEAM_BENCH_PER_CLIENT", 19_000);
    let total = nodes_n * per_node;
    let users = 500usize;
    let nodes: Vec<NodeProcess> = (0..nodes_n).map(|_| start_node(&url)).collect();
    let addrs: Vec<String> = nodes.iter().map(|n| n.addr.to_string()).collect();
    let http = reqwest::Client::new();
    let auth = TestApp::basic(BENCH_ACCOUNT.0, BENCH_ACCOUNT.1);
    let call = |node: usize, path: String, body: Value| {
        let req = http.post(format!("http://{}{path}", addrs[node])).header("authorization", auth.clone()).json(&body);
        async move {
            let res = req.send().await.expect("request");
            assert!(res.status().is_success(), "{}", res.status());
            res.json::<Value>().await.expect("json")
        }
    };
    let app = call(0, "/v2/apps".into(), json!({"displayName": "bench"})).await;
    let app_id = app["app"]["id"].as_str().unwrap().to_string();
    let key = call(0, format!("/v2/apps/{app_id}/keys"), json!({"displayName": "bench"})).await;
    let (kid, secret) = (key["key"]["id"].as_str().unwrap().to_string(), key["key"]["secret"].as_str().unwrap().to_string());
    let mut user_ids = Vec::with_capacity(users);
    for chunk in (0..users).collect::<Vec<_>>().chunks(32) {
        let made = futures::future::join_all(chunk.iter().map(|i| call(i % nodes_n, format!("/v2/apps/{app_id}/users"), json!({"externalId": format!("u{i}")})))).await;
        user_ids.extend(made.iter().map(|u| u["user"]["id"].as_str().unwrap().to_string()));
    }
    let conversation = call(0, format!("/v2/apps/{app_id}/conversations"), json!({"type": "personal", "participants": [{"userId": user_ids[0]}]})).await;
    let conversation_id = conversation["conversation"]["id"].as_str().unwrap().to_string();
    let baseline: Vec<u64> = nodes.iter().map(|n| rss_kib(n.child.id())).collect();

    // Client processes, each with its own loopback source address (its own port range).
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(usize, String)>();
    let mut clients = Vec::new();
    let started = std::time::Instant::now();
    for (c, from) in (0..total).step_by(per_client).enumerate() {
        let count = per_client.min(total - from);
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["cluster::bench_client", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
            .env("SUNBEAM_BENCH_CLIENT", "1")
            .env("BENCH_ADDRS", addrs.join(","))
            .env("BENCH_APP", &app_id)
            .env("BENCH_KID", &kid)
            .env("BENCH_SECRET", &secret)
            .env("BENCH_USERS", user_ids.join(","))
            .env("BENCH_FROM", from.to_string())
            .env("BENCH_COUNT", count.to_string())
            .env("BENCH_SOURCE", format!("127.0.{}.1", 10 + c))
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("start a client process");
        let stdout = child.stdout.take().unwrap();
        let tx = tx.clone();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
                // (The harness may print `test … ... ` before a line of the test's own.)
                if let Some(at) = line.find("bench ") {
                    let _ = tx.send((c, line[at..].to_string()));
                }
            }
        });
        clients.push(KillOnDrop(child));
    }
    let mut ready = 0;
    while ready < total {
        let (_, line) = tokio::time::timeout(std::time::Duration::from_secs(600), rx.recv()).await.expect("clients connect").expect("clients running");
        if let Some(n) = line.strip_prefix("bench ready ") {
            ready += n.parse::<usize>().unwrap();
        } else if line.starts_with("bench failed") {
            panic!("{line}");
        }
    }
    let connect_time = started.elapsed();
    // Not a synchronisation: memory is measured at rest, after the last connects are read.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let rss: Vec<u64> = nodes.iter().map(|n| rss_kib(n.child.id())).collect();

    // One message to user 0, whose clients are spread over every node.
    let expected = (0..total).filter(|g| g % users == 0).count();
    let sent = now_us();
    call(0, format!("/v2/apps/{app_id}/conversations/{conversation_id}/messages"), json!({"author": {"type": "business"}, "content": {"type": "text", "text": "to every u0"}})).await;
    let answered = now_us();
    let mut got = 0;
    let mut last = 0u128;
    while got < expected {
        let (_, line) = tokio::time::timeout(std::time::Duration::from_secs(60), rx.recv()).await.expect("deliveries").expect("clients running");
        if let Some(t) = line.strip_prefix("bench recv ") {
            got += 1;
            last = last.max(t.parse().unwrap());
        }
    }
    let grown: u64 = rss.iter().zip(&baseline).map(|(r, b)| r.saturating_sub(*b)).sum();
    println!(
        "cluster idle bench: {total} WebSocket clients on {nodes_n} nodes (one PostgreSQL), from {} client processes, connected in {:.1}s; \
         node RSS {:?} MiB (before {:?} MiB) = {:.1} KiB per connection; one message reached all {expected} clients of one user across the nodes \
         {:.1} ms after the POST was sent ({:.1} ms after it was answered)",
        clients.len(),
        connect_time.as_secs_f64(),
        rss.iter().map(|k| k / 1024).collect::<Vec<_>>(),
        baseline.iter().map(|k| k / 1024).collect::<Vec<_>>(),
        grown as f64 / total as f64,
        (last.saturating_sub(sent)) as f64 / 1000.0,
        (last.saturating_sub(answered)) as f64 / 1000.0,
    );
}

struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The client side of [`idle_connections_across_nodes`], in its own process: does nothing
/// unless started by it.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "started by idle_connections_across_nodes"]
async fn bench_client() {
    if std::env::var("SUNBEAM_BENCH_CLIENT").is_err() {
        return;
    }
    let var = |k: &str| std::env::var(k).unwrap();
    let addrs: Vec<std::net::SocketAddr> = var("BENCH_ADDRS").split(',').map(|a| a.parse().unwrap()).collect();
    let users: Vec<String> = var("BENCH_USERS").split(',').map(str::to_string).collect();
    let (app_id, kid, secret) = (var("BENCH_APP"), var("BENCH_KID"), var("BENCH_SECRET"));
    let from: usize = var("BENCH_FROM").parse().unwrap();
    let count: usize = var("BENCH_COUNT").parse().unwrap();
    let source: std::net::IpAddr = var("BENCH_SOURCE").parse().unwrap();
    // Few at a time: each node's handshakes and subscribes read from a pool, and the
    // nodes together must stay under PostgreSQL's connection limit (100 by default).
    let gate = Arc::new(tokio::sync::Semaphore::new(8));
    let ready = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::with_capacity(count);
    for g in from..from + count {
        let (gate, ready) = (gate.clone(), ready.clone());
        let addr = addrs[g % addrs.len()];
        let u = g % users.len();
        let channel = format!("/sdk/apps/{app_id}/appusers/{}", users[u]);
        let jwt = hs256_jwt(&kid, &secret, json!({"scope": "user", "external_id": format!("u{u}")}));
        tasks.push(tokio::spawn(async move {
            let permit = gate.acquire_owned().await.unwrap();
            let socket = tokio::net::TcpSocket::new_v4().unwrap();
            socket.bind(std::net::SocketAddr::new(source, 0)).unwrap();
            let stream = match socket.connect(addr).await {
                Ok(s) => s,
                Err(e) => {
                    println!("bench failed connect {g}: {e}");
                    return;
                }
            };
            let mut ws = Ws::over(stream, addr).await;
            let (cid, r) = ws.subscribe(&channel, json!({"jwt": jwt}), &mut Vec::new()).await;
            if r["successful"] != true {
                println!("bench failed subscribe {g}: {r}");
                return;
            }
            let connect = ws.hold_connect(&cid).await;
            ready.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            drop(permit);
            while let Some(batch) = ws.recv().await {
                for m in batch.as_array().into_iter().flatten() {
                    if m["channel"] == "/meta/connect" {
                        ws.send(&connect).await;
                    } else if m["channel"].as_str().is_some_and(|c| c.starts_with("/sdk/")) {
                        println!("bench recv {}", now_us());
                    }
                }
            }
        }));
    }
    // Report readiness in steps, then hold the connections until killed.
    let mut told = 0;
    loop {
        let now = ready.load(std::sync::atomic::Ordering::Relaxed);
        if now > told {
            println!("bench ready {}", now - told);
            told = now;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}
