//! PostgreSQL: a transaction per write from a shared pool; several nodes may share it.

use std::time::Duration;

use async_trait::async_trait;
use sqlx::any::AnyPoolOptions;
use sqlx::{Connection, Executor};

use super::backend::{Backend, Dialect, PendingWrite};
use super::sql::{Reader, Tx};
use super::{StoreError, StoreResult};

/// Serialises schema migrations between nodes starting at once.
const MIGRATION_LOCK: i64 = 0x5375_6e62_6561_6d;

pub struct PostgresBackend {
    pool: sqlx::AnyPool,
}

impl PostgresBackend {
    pub async fn connect(url: &str, limits: &super::StoreLimits) -> StoreResult<Self> {
        let pool = AnyPoolOptions::new()
            .max_connections(limits.pool_max_connections.max(1))
            .acquire_timeout(limits.pool_acquire_timeout.max(Duration::from_millis(100)))
            // No ping before each use: it was one more round trip (and PostgreSQL's CPU)
            // per transaction. A connection the server dropped fails its first statement
            // instead, as an unavailable store (503 with Retry-After), and is replaced.
            .test_before_acquire(false)
            .connect(url)
            .await
            .map_err(|e| match e {
                // A URL sqlx cannot read is the operator's to fix, not the database's.
                sqlx::Error::Configuration(e) => StoreError::Config(format!("bad PostgreSQL url: {e}")),
                e => StoreError::Database(e),
            })?;
        Ok(PostgresBackend { pool })
    }
}

#[async_trait]
impl Backend for PostgresBackend {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn reader(&self) -> Reader<'_> {
        Reader::Sqlx(&self.pool)
    }

    async fn submit(&self, mut write: Box<dyn PendingWrite>) -> StoreResult<()> {
        let mut conn = match self.pool.acquire().await {
            Ok(c) => c,
            Err(e) => {
                let e = match e {
                    sqlx::Error::PoolTimedOut => StoreError::Busy("no database connection came free in time"),
                    e => e.into(),
                };
                write.finish(Err(e));
                return Ok(());
            }
        };
        let started = std::time::Instant::now();
        let outcome: Result<(), sqlx::Error> = async {
            let mut tx = conn.begin().await?;
            let ok = write.run(&mut Tx::sqlx(&mut tx)).await;
            if ok {
                tx.commit().await?;
            } else {
                tx.rollback().await?;
            }
            Ok(())
        }
        .await;
        crate::metrics::store_batch(1, started.elapsed());
        write.finish(outcome.map_err(StoreError::from));
        Ok(())
    }

    async fn migrate(&self, version: i64, sql: &str) -> StoreResult<()> {
        let mut conn = self.pool.acquire().await?;
        let mut tx = conn.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(MIGRATION_LOCK).execute(&mut *tx).await?;
        let done: Option<(i64,)> =
            sqlx::query_as("SELECT version FROM sunbeam_migrations WHERE version = $1").bind(version).fetch_optional(&mut *tx).await?;
        if done.is_none() {
            tx.execute(sql).await?;
            sqlx::query("INSERT INTO sunbeam_migrations (version) VALUES ($1)").bind(version).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn applied_migrations(&self) -> StoreResult<Vec<i64>> {
        let mut conn = self.pool.acquire().await?;
        let mut tx = conn.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(MIGRATION_LOCK).execute(&mut *tx).await?;
        tx.execute("CREATE TABLE IF NOT EXISTS sunbeam_migrations (version BIGINT PRIMARY KEY)").await?;
        let rows: Vec<(i64,)> = sqlx::query_as("SELECT version FROM sunbeam_migrations ORDER BY version").fetch_all(&mut *tx).await?;
        tx.commit().await?;
        Ok(rows.into_iter().map(|r| r.0).collect())
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}

