//! The floor: the two simplest programs that do what PostMessage and ListMessages must
//! do at least, on the same machine, stack and database settings. Sunbeam's figures are
//! printed as ratios to them, so a user on any machine sees how close to the hardware it
//! runs. `sunbeam bench` starts this server as a separate process (`sunbeam bench-floor`).
//!
//! - `POST /floor/{key}`: an axum handler parses the JSON body, sends the row to one
//!   writer thread, which inserts everything queued (up to 1024) in one transaction
//!   (WAL, `synchronous = FULL`) and answers each request after COMMIT.
//! - `GET /floor/{key}`: reads the newest 100 stored JSON documents of `key` by primary
//!   key range on one of a fixed set of reader threads (two per core, each with its own
//!   connection, as Sunbeam's) and concatenates them into the response body. Not tokio's
//!   blocking pool: it starts a thread (and a cold connection) per concurrent read and
//!   made this probe vary 3x from run to run.

use std::collections::HashMap;
use std::sync::Arc;
use std::path::PathBuf;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use tokio::sync::{mpsc, oneshot};

type Row = (String, String, oneshot::Sender<bool>);
type Read = (String, oneshot::Sender<Option<String>>);

#[derive(Clone)]
struct Probe {
    writes: mpsc::Sender<Row>,
    reads: mpsc::Sender<Read>,
}

/// Runs the probe server on `listen` with its database in `dir`; prints the bound address
/// on the first line of stdout.
pub async fn serve(listen: &str, dir: PathBuf) -> Result<(), String> {
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let file = dir.join("floor.db");
    let conn = rusqlite::Connection::open(&file).map_err(|e| e.to_string())?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
         CREATE TABLE IF NOT EXISTS docs (key TEXT NOT NULL, seq BIGINT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (key, seq));",
    )
    .map_err(|e| e.to_string())?;
    let (writes, rx) = mpsc::channel::<Row>(16 * 1024);
    std::thread::Builder::new().name("floor-writer".into()).spawn(move || writer(conn, rx)).map_err(|e| e.to_string())?;
    let (reads, read_rx) = mpsc::channel::<Read>(16 * 1024);
    let read_rx = Arc::new(std::sync::Mutex::new(read_rx));
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    for i in 0..2 * cores {
        let conn = rusqlite::Connection::open(&file).map_err(|e| e.to_string())?;
        let rx = read_rx.clone();
        std::thread::Builder::new().name(format!("floor-reader-{i}")).spawn(move || reader(conn, rx)).map_err(|e| e.to_string())?;
    }
    let app = Router::new().route("/floor/{key}", post(write).get(read)).with_state(Probe { writes, reads });
    let listener = tokio::net::TcpListener::bind(listen).await.map_err(|e| e.to_string())?;
    println!("{}", listener.local_addr().map_err(|e| e.to_string())?);
    use std::io::Write;
    let _ = std::io::stdout().flush();
    axum::serve(listener, app).await.map_err(|e| e.to_string())
}

async fn write(State(p): State<Probe>, Path(key): Path<String>, body: Bytes) -> Response {
    let Ok(doc) = serde_json::from_slice::<serde_json::Value>(&body) else { return StatusCode::BAD_REQUEST.into_response() };
    let (tx, rx) = oneshot::channel();
    if p.writes.send((key, doc.to_string(), tx)).await.is_err() {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    match rx.await {
        Ok(true) => (StatusCode::CREATED, [(header::CONTENT_TYPE, "application/json")], "{}").into_response(),
        _ => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// Group commit: everything queued, one transaction, one fsync, then every answer.
fn writer(mut conn: rusqlite::Connection, mut rx: mpsc::Receiver<Row>) {
    let mut next: HashMap<String, i64> = HashMap::new();
    let mut batch = Vec::with_capacity(1024);
    while let Some(first) = rx.blocking_recv() {
        batch.push(first);
        while batch.len() < 1024 {
            match rx.try_recv() {
                Ok(r) => batch.push(r),
                Err(_) => break,
            }
        }
        let ok = (|| -> rusqlite::Result<()> {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            {
                let mut insert = tx.prepare_cached("INSERT INTO docs (key, seq, body) VALUES (?1, ?2, ?3)")?;
                for (key, body, _) in &batch {
                    let seq = next.entry(key.clone()).or_insert(0);
                    *seq += 1;
                    insert.execute(rusqlite::params![key, *seq, body])?;
                }
            }
            tx.commit()
        })()
        .is_ok();
        for (_, _, reply) in batch.drain(..) {
            let _ = reply.send(ok);
        }
    }
}

fn reader(conn: rusqlite::Connection, jobs: Arc<std::sync::Mutex<mpsc::Receiver<Read>>>) {
    loop {
        let job = jobs.lock().unwrap_or_else(|e| e.into_inner()).blocking_recv();
        let Some((key, reply)) = job else { break };
        let _ = reply.send(newest_page(&conn, &key).ok());
    }
}

fn newest_page(conn: &rusqlite::Connection, key: &str) -> rusqlite::Result<String> {
    let mut q = conn.prepare_cached("SELECT body FROM docs WHERE key = ?1 ORDER BY seq DESC LIMIT 100")?;
    let mut rows = q.query([key])?;
    let mut out = String::from("[");
    while let Some(row) = rows.next()? {
        if out.len() > 1 {
            out.push(',');
        }
        out.push_str(row.get_ref(0)?.as_str().map_err(|_| rusqlite::Error::InvalidQuery)?);
    }
    out.push(']');
    Ok(out)
}

async fn read(State(p): State<Probe>, Path(key): Path<String>) -> Response {
    let (tx, rx) = oneshot::channel();
    if p.reads.send((key, tx)).await.is_err() {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    match rx.await {
        Ok(Some(body)) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        _ => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}
