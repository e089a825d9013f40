//! Persistence. Nothing outside this module speaks SQL.
//!
//! Every operation is written once, in portable SQL through the small API of [`sql`],
//! and runs on either backend. What differs between SQLite and PostgreSQL is *how a write reaches disk*,
//! and that is the [`Backend`] trait:
//! - [`sqlite::SqliteBackend`] funnels every write through one connection that
//!   group-commits whatever is queued (one fsync for many requests, each request in its
//!   own savepoint so one failure never spoils its neighbours);
//! - [`postgres::PostgresBackend`] runs each write in its own transaction from a pool and
//!   lets PostgreSQL group-commit across connections.
//! Either way a write's caller hears back only after the commit is durable.

mod backend;
pub mod bulk;
mod cache;
pub mod clients;
pub mod cluster;
pub mod conversations;
pub mod keys;
mod migrations;
mod paging;
pub mod apps;
pub mod attachments;
pub mod events;
pub mod integrations;
pub mod messages;
mod message_batch;
pub mod oauth;
pub mod origins;
pub mod postgres;
pub mod retention;
pub mod rows;
pub mod sdk;
mod secrets;
pub mod sql;
pub mod sqlite;
pub mod switchboards;
pub mod users;
pub mod webhooks;

use std::sync::Arc;

use futures::future::BoxFuture;
use tokio::sync::Notify;

pub use backend::{Backend, Dialect, PendingWrite};
pub use keys::KeyCache;
pub use secrets::SecretBox;

use crate::domain::error::{DomainError, Resource};

/// The store's one error type.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A rule checked inside the transaction failed (not found, conflict, limit…).
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A transaction that ran could not be committed; every write in it is undone.
    #[error("commit failed: {0}")]
    Commit(String),
    /// Data read back is not what was written: a row or document we cannot decode.
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// The store cannot be opened as configured (database URL, data directory).
    #[error("store configuration: {0}")]
    Config(String),
    /// A thread or runtime the store needs could not be started.
    #[error("store start-up: {0}")]
    Startup(String),
    #[error("the store is shutting down")]
    Closed,
    /// Too much work queued already (the SQLite writer's queue is full, or no PostgreSQL
    /// connection came free in time): shed, not queued without bound. Retry shortly.
    #[error("the store is busy: {0}")]
    Busy(&'static str),
}

impl StoreError {
    /// The database cannot be reached at the moment (connection refused or lost, the
    /// server shutting down or restarting): a retry may succeed without any change.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Busy(_) => true,
            StoreError::Database(e) => match e {
                sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed | sqlx::Error::Tls(_) => true,
                // Class 08 (connection exception), 57P01-57P03 (admin shutdown, crash
                // shutdown, cannot connect now) and 53300 (too many connections).
                sqlx::Error::Database(d) => d.code().is_some_and(|c| c.starts_with("08") || c.starts_with("57P") || c == "53300"),
                _ => false,
            },
            _ => false,
        }
    }
}

impl StoreError {
    pub fn not_found(resource: Resource) -> Self {
        StoreError::Domain(DomainError::not_found(resource))
    }
    pub fn conflict(msg: impl Into<String>) -> Self {
        StoreError::Domain(DomainError::Conflict(msg.into()))
    }
    pub fn rule(msg: impl Into<String>) -> Self {
        StoreError::Domain(DomainError::Rule(msg.into()))
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Is this a unique-constraint violation (either backend)?
pub(crate) fn is_unique_violation(e: &StoreError) -> bool {
    match e {
        // PostgreSQL reports SQLSTATE 23505.
        StoreError::Database(sqlx::Error::Database(db)) => db.code().as_deref() == Some("23505") || db.message().contains("UNIQUE constraint failed"),
        StoreError::Sqlite(rusqlite::Error::SqliteFailure(f, _)) => {
            f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
        }
        _ => false,
    }
}

/// Tunables of the store that tests and operators may lower or raise.
#[derive(Debug, Clone)]
pub struct StoreLimits {
    pub max_messages_per_conversation: i64,
    pub max_app_keys: i64,
    pub max_participants: i64,
    /// PostgreSQL: connections in this node's pool.
    pub pool_max_connections: u32,
    /// PostgreSQL: how long a request waits for a free connection (or a new one to the
    /// database) before it is answered 503.
    pub pool_acquire_timeout: std::time::Duration,
}

impl Default for StoreLimits {
    fn default() -> Self {
        StoreLimits {
            max_messages_per_conversation: 30_000,
            max_app_keys: 10,
            max_participants: 10,
            pool_max_connections: 32,
            pool_acquire_timeout: std::time::Duration::from_secs(5),
        }
    }
}

/// The handle every layer above uses. Cheap to clone: one `Arc` (every request clones
/// it, and a handle of many `Arc`s bounced their counters between the cores).
#[derive(Clone)]
pub struct Store(Arc<StoreParts>);

/// What a [`Store`] shares.
pub struct StoreParts {
    backend: Arc<dyn Backend>,
    secrets: Arc<SecretBox>,
    pub(crate) keys: Arc<KeyCache>,
    /// Apps are read by every request (scope check, settings); see `TtlCache`.
    pub(crate) apps: Arc<cache::TtlCache<crate::domain::app::App>>,
    pub limits: Arc<StoreLimits>,
    /// Poked after each commit that appended events (on this node, or on another one of
    /// the cluster: see `cluster`), so deliverers wake without polling.
    events_committed: Arc<Notify>,
    /// Poked after each commit on this node that appended events: `cluster` tells the
    /// other nodes.
    local_commits: Arc<Notify>,
    /// Every event up to this seq is committed (0: not known), where the writer learns
    /// it (SQLite: see `Tx::note_event`); never set on PostgreSQL.
    visible_event_head: std::sync::atomic::AtomicI64,
    /// The database URL (the cluster signal opens its own listening connection).
    url: Arc<str>,
    /// This process's name among the nodes (the payload of its notifications).
    pub node: Arc<str>,
    /// Business messages waiting to be written many at a time (`message_batch`).
    message_batcher: message_batch::MessageBatcher,
}

impl std::ops::Deref for Store {
    type Target = StoreParts;
    fn deref(&self) -> &StoreParts {
        &self.0
    }
}

impl Store {
    /// Opens the database named by `url` (`sqlite://…` or `postgres://…`) and migrates it.
    pub async fn open(url: &str, secrets: SecretBox, limits: StoreLimits) -> StoreResult<Store> {
        let store = Self::open_unmigrated(url, secrets, limits).await?;
        migrations::run(store.backend.as_ref()).await?;
        store.backfill_client_ids().await?;
        Ok(store)
    }

    /// Opens the database without touching its schema (`sunbeam doctor` looks before
    /// anything is changed); only [`Store::migration_status`] and reads the schema of
    /// the time allows are meaningful on it.
    pub async fn open_unmigrated(url: &str, secrets: SecretBox, limits: StoreLimits) -> StoreResult<Store> {
        sqlx::any::install_default_drivers();
        let backend: Arc<dyn Backend> = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Arc::new(postgres::PostgresBackend::connect(url, &limits).await?)
        } else if url.starts_with("sqlite:") {
            Arc::new(sqlite::SqliteBackend::open(url).await?)
        } else {
            return Err(StoreError::Config(format!("unsupported database url (want sqlite:// or postgres://): {url}")));
        };
        Ok(Store(Arc::new(StoreParts {
            backend,
            secrets: Arc::new(secrets),
            keys: Arc::new(KeyCache::default()),
            apps: Arc::new(cache::TtlCache::new(std::time::Duration::from_secs(2), 10_000)),
            limits: Arc::new(limits),
            events_committed: Arc::new(Notify::new()),
            local_commits: Arc::new(Notify::new()),
            visible_event_head: Default::default(),
            url: Arc::from(url),
            node: Arc::from(node_name()),
            message_batcher: Default::default(),
        })))
    }

    /// Schema versions applied to the database, and those this build knows.
    pub async fn migration_status(&self) -> StoreResult<(Vec<i64>, Vec<i64>)> {
        Ok((self.backend.applied_migrations().await?, migrations::known()))
    }

    pub fn dialect(&self) -> Dialect {
        self.backend.dialect()
    }

    pub(crate) fn reader(&self) -> sql::Reader<'_> {
        self.backend.reader()
    }

    pub(crate) fn secrets(&self) -> &SecretBox {
        &self.secrets
    }

    pub fn events_committed(&self) -> Arc<Notify> {
        self.events_committed.clone()
    }

    /// A seq up to which every event is committed and visible, known without a read where
    /// one writer commits in seq order (SQLite, once this process has committed an event);
    /// None elsewhere.
    pub fn visible_event_head(&self) -> Option<i64> {
        Some(self.visible_event_head.load(std::sync::atomic::Ordering::Acquire)).filter(|&seq| seq > 0)
    }

    /// Answers once the database does.
    pub async fn ping(&self) -> StoreResult<()> {
        sql::query("SELECT 1").fetch_optional(self.reader()).await?;
        Ok(())
    }

    /// Runs `op` in a transaction and returns its result once the transaction is durable.
    /// A write that recorded outbox events (`events::record`) wakes the outbox readers
    /// after its commit, by itself.
    pub(crate) async fn write<T, F>(&self, op: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'a> FnOnce(&'a mut sql::Tx<'a>) -> BoxFuture<'a, StoreResult<T>> + Send + 'static,
    {
        self.submit(backend::pending(op)).await
    }

    /// [`Store::write`] for an operation that checks everything that can refuse it before
    /// its first change (a statement that finds nothing to update counts as a check): on
    /// SQLite it then runs without a savepoint of its own inside the group commit. One that
    /// breaks the promise is caught and fails its batch, uncommitted.
    pub(crate) async fn write_checked<T, F>(&self, op: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'a> FnOnce(&'a mut sql::Tx<'a>) -> BoxFuture<'a, StoreResult<T>> + Send + 'static,
    {
        self.submit(backend::pending_with(op, true)).await
    }

    async fn submit<T>(&self, (pending, rx): (Box<dyn PendingWrite>, tokio::sync::oneshot::Receiver<backend::Reply<T>>)) -> StoreResult<T> {
        let started = std::time::Instant::now();
        self.backend.submit(pending).await?;
        let (outcome, recorded) = rx.await.map_err(|_| StoreError::Closed)?;
        crate::metrics::store_write(outcome.is_ok(), started.elapsed());
        if let Some(recorded) = recorded {
            if let Some(seq) = recorded.last_seq {
                self.visible_event_head.fetch_max(seq, std::sync::atomic::Ordering::Release);
            }
            self.wake_outbox_readers();
            self.local_commits.notify_one();
        }
        outcome
    }

    /// A WAL checkpoint now (SQLite; `None` on PostgreSQL): (WAL frames, frames copied).
    pub async fn checkpoint(&self) -> StoreResult<Option<(i64, i64)>> {
        self.backend.checkpoint().await
    }

    pub async fn close(&self) {
        self.backend.close().await;
    }
}

/// `HOSTNAME` (a container's name) and a random suffix: unique per process.
fn node_name() -> String {
    let host = std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty()).unwrap_or_else(|| "node".into());
    format!("{host}-{}", &crate::domain::ids::new_id()[12..])
}
