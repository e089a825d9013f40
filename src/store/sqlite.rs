//! SQLite, called directly (rusqlite): one writer connection that group-commits on its
//! own thread, plus read connections used inline (WAL).


use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot, Mutex};

use super::backend::{Backend, Dialect, PendingWrite};
use super::sql::{self, LiteReaders, Reader, Tx};
use super::{StoreError, StoreResult};

/// How many queued writes one transaction takes at most.
const MAX_BATCH: usize = 1024;

/// `temp_store = MEMORY` keeps the statement journal of savepoints in memory: on a file it
/// spills past 64 KiB, and a batch of savepoints then pays a `write()` per page journaled.
/// `cache_size`: 64 MiB of pages for the writer (the default 2 MiB misses on the leaf
/// pages of a few hundred active conversations; readers' caches are dropped whenever the
/// WAL moves on, so theirs stay small).
/// `wal_autocheckpoint = 0`: the writer never checkpoints (an automatic checkpoint runs
/// inside the COMMIT that crosses 1000 WAL pages and stalls every write queued behind
/// it); the checkpointer thread does, PASSIVE, on its own connection.
const PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000; PRAGMA temp_store = MEMORY; PRAGMA wal_autocheckpoint = 0; PRAGMA cache_size = -65536;";

/// How often the checkpointer copies the WAL back into the database file.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

pub struct SqliteBackend {
    queue: mpsc::Sender<Box<dyn PendingWrite>>,
    reader: LiteReaders,
    /// Tells the writer thread to stop, and hears when it has.
    stop: Mutex<Option<(oneshot::Sender<()>, oneshot::Receiver<()>)>>,
    /// Dropped to stop the checkpointer.
    checkpointer: std::sync::Mutex<Option<std::sync::mpsc::Sender<()>>>,
    file: String,
}

/// A PASSIVE checkpoint on `conn`: copies what it can of the WAL into the database file
/// without blocking the writer or readers (it takes neither's lock). Answers (WAL frames,
/// frames checkpointed).
fn checkpoint(conn: &rusqlite::Connection) -> StoreResult<(i64, i64)> {
    Ok(conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| Ok((r.get::<_, i64>(1)?, r.get::<_, i64>(2)?)))?)
}

/// WAL frames (pages) past which the writer finishes a checkpoint itself (~64 MiB of WAL).
/// Each of those pauses the writer for 3–9 ms (the frames committed while the checkpointer
/// ran, and an fsync of the database file): at 2,000 frames it came every 250 ms under load
/// and was what the C=16 p99 latency measured; at 16,000 it comes every ~2 s.
const WAL_RESTART_FRAMES: i64 = 16_000;

/// The checkpointer: every `CHECKPOINT_EVERY`, a PASSIVE checkpoint, which copies the bulk
/// of the WAL into the database file off the writer's thread. But the WAL only starts over
/// from the top (instead of growing for ever) after a checkpoint that copied *all* of it,
/// and under steady writes a checkpoint beside the writer never does: frames arrive while
/// it runs. So when the WAL is past `WAL_RESTART_FRAMES` it raises `due`, and the writer,
/// between two batches, runs a PASSIVE checkpoint of its own: it copies only the few frames
/// committed since, completes, and the writer's next transaction restarts the WAL.
fn start_checkpointer(file: &str, due: Arc<AtomicBool>) -> StoreResult<std::sync::mpsc::Sender<()>> {
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let file = file.to_string();
    std::thread::Builder::new()
        .name("sqlite-ckpt".into())
        .spawn(move || {
            let mut conn = None;
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(CHECKPOINT_EVERY) {
                if conn.is_none() {
                    conn = rusqlite::Connection::open(&file).and_then(|c| c.execute_batch("PRAGMA busy_timeout = 10000;").map(|_| c)).ok();
                }
                if let Some(c) = &conn {
                    match checkpoint(c) {
                        Ok((frames, _)) if frames > WAL_RESTART_FRAMES => due.store(true, Ordering::Relaxed),
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "WAL checkpoint failed; retrying"),
                    }
                }
            }
        })
        .map_err(|e| StoreError::Startup(format!("cannot start the checkpointer thread: {e}")))?;
    Ok(tx)
}

/// The file path of a `sqlite://PATH` URL (query parameters are ignored); makes its
/// folder so that the file can be created.
fn file_of(url: &str) -> StoreResult<String> {
    let path = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
    let file = path.split_once('?').map_or(path, |(f, _)| f);
    if file.is_empty() || file == ":memory:" {
        return Err(StoreError::Config("SQLite needs a file path (sqlite://PATH); in-memory databases are not supported".into()));
    }
    if let Some(parent) = std::path::Path::new(file).parent() {
        if !parent.as_os_str().is_empty() {
            std::fs::create_dir_all(parent).map_err(|e| StoreError::Config(format!("cannot create {}: {e}", parent.display())))?;
        }
    }
    Ok(file.to_string())
}

impl SqliteBackend {
    pub async fn open(url: &str) -> StoreResult<Self> {
        let file = file_of(url)?;
        // Reads are CPU work from the page cache, or a wait on the disk: a thread per core
        // and as many again to overlap disk waits (see `LiteReaders`).
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        let reader = LiteReaders::new(&file, (2 * cores).clamp(2, 16));
        // The writer opens (and creates) the file first, so readers find it in WAL mode.
        let (ready_tx, ready_rx) = oneshot::channel();
        let (queue, rx) = mpsc::channel(16 * 1024);
        let (stop_tx, stop_rx) = oneshot::channel();
        let (done_tx, done_rx) = oneshot::channel();
        let due = Arc::new(AtomicBool::new(false));
        let writer_due = due.clone();
        // The writer owns a thread: it calls SQLite directly (a blocking call per
        // statement, microseconds each, and an fsync per batch), which must not stall the
        // async runtime's workers. Its small runtime only drives the write closures.
        let writer_file = file.clone();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    Ok(r) => r,
                    Err(e) => {
                        let _ = ready_tx.send(Err(StoreError::Startup(format!("cannot start the writer runtime: {e}"))));
                        return;
                    }
                };
                let writer = match rusqlite::Connection::open(&writer_file).and_then(|c| c.execute_batch(PRAGMAS).map(|_| c)) {
                    Ok(c) => c,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e.into()));
                        return;
                    }
                };
                writer.set_prepared_statement_cache_capacity(256);
                let _ = ready_tx.send(Ok(()));
                runtime.block_on(write_loop(writer, rx, stop_rx, writer_due));
                let _ = done_tx.send(());
            })
            .map_err(|e| StoreError::Startup(format!("cannot start the writer thread: {e}")))?;
        ready_rx.await.map_err(|_| StoreError::Startup("the writer thread stopped before it was ready".into()))??;
        let checkpointer = std::sync::Mutex::new(Some(start_checkpointer(&file, due)?));
        Ok(SqliteBackend { queue, reader, stop: Mutex::new(Some((stop_tx, done_rx))), checkpointer, file })
    }
}

/// The single writer: take everything queued, run each in its own savepoint inside one
/// transaction, commit once, then tell every caller.
async fn write_loop(mut conn: rusqlite::Connection, mut rx: mpsc::Receiver<Box<dyn PendingWrite>>, mut stop: oneshot::Receiver<()>, checkpoint_due: Arc<AtomicBool>) {
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
        let started = std::time::Instant::now();
        let outcome = run_batch(&mut conn, &mut batch).await;
        crate::metrics::store_batch(batch.len(), started.elapsed());
        let failed = outcome.as_ref().err().map(|e| e.to_string());
        if failed.is_some() && !conn.is_autocommit() {
            let _ = control(&conn, "ROLLBACK");
        }
        for w in batch.drain(..) {
            let commit = match &failed {
                None => Ok(()),
                Some(msg) => Err(StoreError::Commit(msg.clone())),
            };
            w.finish(commit);
        }
        // After the answers: the tail of a checkpoint the checkpointer began (see there).
        if checkpoint_due.swap(false, Ordering::Relaxed) {
            if let Err(e) = checkpoint(&conn) {
                tracing::warn!(error = %e, "WAL checkpoint on the writer failed");
            }
        }
    }
    let _ = conn.close();
}

/// Runs a transaction-control statement from the connection's statement cache (parsing
/// `SAVEPOINT`/`RELEASE` text per write was a tenth of the writer's time).
fn control(conn: &rusqlite::Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.raw_execute().map(|_| ())
}

async fn run_batch(conn: &mut rusqlite::Connection, batch: &mut [Box<dyn PendingWrite>]) -> Result<(), StoreError> {
    if let [w] = batch {
        // A lone write needs no savepoint: on failure the whole transaction is undone.
        control(conn, "BEGIN IMMEDIATE")?;
        if w.run(&mut Tx::lite(conn)).await {
            control(conn, "COMMIT")?;
        } else {
            control(conn, "ROLLBACK")?;
        }
        return Ok(());
    }
    control(conn, "BEGIN IMMEDIATE")?;
    for w in batch.iter_mut() {
        if w.checks_before_changing() {
            // It promised to fail only before its first change, so there is nothing to
            // undo when it fails. Verified, not trusted: a failure after a change spoils
            // the batch (rolled back whole, every caller told), never commits half a write.
            let before = conn.total_changes();
            if !w.run(&mut Tx::lite(conn)).await && conn.total_changes() != before {
                tracing::error!("a write that promised to check before changing failed after a change; its batch is rolled back");
                return Err(StoreError::Commit("a write failed after changing rows; its batch was rolled back".into()));
            }
            continue;
        }
        // Each other write gets a savepoint, so a failed one is undone alone.
        control(conn, "SAVEPOINT w")?;
        if !w.run(&mut Tx::lite(conn)).await {
            control(conn, "ROLLBACK TO w")?;
        }
        control(conn, "RELEASE w")?;
    }
    control(conn, "COMMIT")?;
    Ok(())
}

#[async_trait]
impl Backend for SqliteBackend {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn reader(&self) -> Reader<'_> {
        Reader::Lite(&self.reader)
    }

    async fn submit(&self, write: Box<dyn PendingWrite>) -> StoreResult<()> {
        // Bounded: a full queue sheds the write (503) rather than queueing without bound.
        self.queue.try_send(write).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => StoreError::Busy("the write queue is full"),
            mpsc::error::TrySendError::Closed(_) => StoreError::Closed,
        })
    }

    async fn migrate(&self, version: i64, sql: &str) -> StoreResult<()> {
        let sql = sql.to_string();
        let (w, rx) = super::backend::pending(move |c: &mut Tx<'_>| {
            Box::pin(async move {
                c.execute_batch(&sql).await?;
                sql::query("INSERT INTO sunbeam_migrations (version) VALUES ($1)").bind(version).execute(&mut *c).await?;
                Ok(())
            })
        });
        self.submit(w).await?;
        rx.await.map_err(|_| StoreError::Closed)?.0
    }

    async fn applied_migrations(&self) -> StoreResult<Vec<i64>> {
        let (w, rx) = super::backend::pending(move |c: &mut Tx<'_>| {
            Box::pin(async move {
                c.execute_batch("CREATE TABLE IF NOT EXISTS sunbeam_migrations (version BIGINT PRIMARY KEY)").await?;
                let rows: Vec<(i64,)> = sql::query_as("SELECT version FROM sunbeam_migrations ORDER BY version").fetch_all(&mut *c).await?;
                Ok(rows.into_iter().map(|r| r.0).collect())
            })
        });
        self.submit(w).await?;
        rx.await.map_err(|_| StoreError::Closed)?.0
    }

    async fn checkpoint(&self) -> StoreResult<Option<(i64, i64)>> {
        let file = self.file.clone();
        let done = tokio::task::spawn_blocking(move || checkpoint(&rusqlite::Connection::open(&file)?)).await;
        done.map_err(|e| StoreError::Startup(e.to_string()))?.map(Some)
    }

    async fn close(&self) {
        self.checkpointer.lock().unwrap_or_else(|e| e.into_inner()).take();
        self.reader.close();
        if let Some((stop, done)) = self.stop.lock().await.take() {
            let _ = stop.send(());
            let _ = done.await;
        }
    }
}
