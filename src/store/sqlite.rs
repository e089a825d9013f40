//! SQLite: one writer connection that group-commits, plus a pool of readers (WAL).

use std::time::Duration;

use async_trait::async_trait;
use sqlx::any::AnyPoolOptions;
use sqlx::{AnyConnection, Connection, Executor};
use tokio::sync::{mpsc, oneshot, Mutex};

use super::backend::{Backend, Dialect, PendingWrite};
use super::{StoreError, StoreResult};

/// How many queued writes one transaction takes at most.
const MAX_BATCH: usize = 1024;

const PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;";

pub struct SqliteBackend {
    queue: mpsc::Sender<Box<dyn PendingWrite>>,
    reader: sqlx::AnyPool,
    /// Tells the writer thread to stop, and hears when it has.
    stop: Mutex<Option<(oneshot::Sender<()>, oneshot::Receiver<()>)>>,
}

/// Turns `sqlite://path` into a URL that creates the file, and makes its folder.
fn normalise(url: &str) -> StoreResult<String> {
    let path = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
    let (file, query) = path.split_once('?').unwrap_or((path, ""));
    if file != ":memory:" {
        if let Some(parent) = std::path::Path::new(file).parent() {
            if !parent.as_os_str().is_empty() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| StoreError::Corrupt(format!("cannot create {}: {e}", parent.display())))?;
            }
        }
    }
    let mut params: Vec<&str> = query.split('&').filter(|p| !p.is_empty() && !p.starts_with("mode=")).collect();
    params.push("mode=rwc");
    Ok(format!("sqlite://{file}?{}", params.join("&")))
}

impl SqliteBackend {
    pub async fn open(url: &str) -> StoreResult<Self> {
        let url = normalise(url)?;
        let reader = AnyPoolOptions::new()
            .max_connections(8)
            .min_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute("PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;").await?;
                    Ok(())
                })
            })
            .connect(&url)
            .await?;
        let (queue, rx) = mpsc::channel(16 * 1024);
        let (stop_tx, stop_rx) = oneshot::channel();
        let (done_tx, done_rx) = oneshot::channel();
        let (ready_tx, ready_rx) = oneshot::channel();
        // The writer gets a thread and a runtime of its own: each statement is a round trip
        // to SQLite's worker thread, and on the shared runtime every one of those waited in
        // line behind HTTP tasks. Alone, the writer turns around at once.
        std::thread::Builder::new()
            .name("sunbeam-sqlite-writer".into())
            .spawn(move || {
                raise_priority();
                let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    Ok(r) => r,
                    Err(e) => {
                        let _ = ready_tx.send(Err(StoreError::Corrupt(format!("cannot start the writer runtime: {e}"))));
                        return;
                    }
                };
                runtime.block_on(async move {
                    let writer = match AnyConnection::connect(&url).await {
                        Ok(mut c) => match c.execute(PRAGMAS).await {
                            Ok(_) => c,
                            Err(e) => {
                                let _ = ready_tx.send(Err(e.into()));
                                return;
                            }
                        },
                        Err(e) => {
                            let _ = ready_tx.send(Err(e.into()));
                            return;
                        }
                    };
                    let _ = ready_tx.send(Ok(()));
                    write_loop(writer, rx, stop_rx).await;
                });
                let _ = done_tx.send(());
            })
            .map_err(|e| StoreError::Corrupt(format!("cannot start the writer thread: {e}")))?;
        ready_rx.await.map_err(|_| StoreError::Closed)??;
        Ok(SqliteBackend { queue, reader, stop: Mutex::new(Some((stop_tx, done_rx))) })
    }
}

/// Every statement of a write is a hand-off between this thread and SQLite's worker
/// thread (which inherits this priority). When HTTP work keeps both cores busy, each
/// hand-off would otherwise wait for a time slice; a higher priority lets the writer run
/// as soon as it is woken. Without the privilege to do so this is a no-op.
fn raise_priority() {
    #[cfg(target_os = "linux")]
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, -10);
    }
}

/// The single writer: take everything queued, run each in its own savepoint inside one
/// transaction, commit once, then tell every caller.
async fn write_loop(mut conn: AnyConnection, mut rx: mpsc::Receiver<Box<dyn PendingWrite>>, mut stop: oneshot::Receiver<()>) {
    let mut batch: Vec<Box<dyn PendingWrite>> = Vec::with_capacity(MAX_BATCH);
    loop {
        let first = tokio::select! {
            biased;
            w = rx.recv() => match w { Some(w) => w, None => break },
            _ = &mut stop => break,
        };
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(w) => batch.push(w),
                Err(_) => break,
            }
        }
        let outcome = run_batch(&mut conn, &mut batch).await;
        let failed = outcome.as_ref().err().map(|e| e.to_string());
        if failed.is_some() {
            let _ = conn.execute("ROLLBACK").await;
        }
        for w in batch.drain(..) {
            let commit = match &failed {
                None => Ok(()),
                Some(msg) => Err(StoreError::Corrupt(format!("commit failed: {msg}"))),
            };
            w.finish(commit);
        }
    }
    let _ = conn.close().await;
}

async fn run_batch(conn: &mut AnyConnection, batch: &mut [Box<dyn PendingWrite>]) -> Result<(), sqlx::Error> {
    if let [w] = batch {
        // A lone write needs no savepoint: on failure the whole transaction is undone.
        conn.execute("BEGIN IMMEDIATE").await?;
        if w.run(conn).await {
            conn.execute("COMMIT").await?;
        } else {
            conn.execute("ROLLBACK").await?;
        }
        return Ok(());
    }
    // Each statement is a round trip to SQLite's thread, so the savepoint bookkeeping
    // between two writes travels as one: release the last write's savepoint and open the
    // next one together. A failed write is rolled back to its savepoint, which stays open
    // for the next write.
    conn.execute("BEGIN IMMEDIATE; SAVEPOINT w").await?;
    for w in batch.iter_mut() {
        if w.run(conn).await {
            conn.execute("RELEASE w; SAVEPOINT w").await?;
        } else {
            conn.execute("ROLLBACK TO w").await?;
        }
    }
    conn.execute("RELEASE w; COMMIT").await?;
    Ok(())
}

#[async_trait]
impl Backend for SqliteBackend {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn reader(&self) -> &sqlx::AnyPool {
        &self.reader
    }

    async fn submit(&self, write: Box<dyn PendingWrite>) -> StoreResult<()> {
        self.queue.send(write).await.map_err(|_| StoreError::Closed)
    }

    async fn migrate(&self, version: i64, sql: &str) -> StoreResult<()> {
        let sql = sql.to_string();
        let (w, rx) = super::backend::pending(move |c: &mut AnyConnection| {
            Box::pin(async move {
                c.execute(sql.as_str()).await?;
                sqlx::query("INSERT INTO sunbeam_migrations (version) VALUES ($1)").bind(version).execute(&mut *c).await?;
                Ok(())
            })
        });
        self.submit(w).await?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    async fn applied_migrations(&self) -> StoreResult<Vec<i64>> {
        let (w, rx) = super::backend::pending(move |c: &mut AnyConnection| {
            Box::pin(async move {
                c.execute("CREATE TABLE IF NOT EXISTS sunbeam_migrations (version BIGINT PRIMARY KEY)").await?;
                let rows: Vec<(i64,)> = sqlx::query_as("SELECT version FROM sunbeam_migrations ORDER BY version").fetch_all(&mut *c).await?;
                Ok(rows.into_iter().map(|r| r.0).collect())
            })
        });
        self.submit(w).await?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    async fn close(&self) {
        self.reader.close().await;
        if let Some((stop, done)) = self.stop.lock().await.take() {
            let _ = stop.send(());
            let _ = done.await;
        }
    }
}
