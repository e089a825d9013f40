//! The one seam between the two databases: how a write transaction is run.

use std::sync::Arc;

use async_trait::async_trait;
use futures::future::BoxFuture;
use tokio::sync::oneshot;

use super::sql::{EventMark, EventsRecorded, Reader, Tx};
use super::{StoreError, StoreResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// A write waiting for its transaction. `run` does the work on the transaction's
/// connection and says whether it succeeded (on failure the backend undoes just this
/// write); `finish` hands the outcome to the caller once the commit is known.
pub trait PendingWrite: Send {
    fn run<'a>(&'a mut self, tx: &'a mut Tx<'a>) -> BoxFuture<'a, bool>;
    fn finish(self: Box<Self>, commit: StoreResult<()>);
    /// This write checks everything that can refuse it before its first change, so a
    /// failed run has changed nothing and needs no savepoint to undo (see
    /// `Store::write_checked`). The SQLite writer verifies the promise.
    fn checks_before_changing(&self) -> bool {
        false
    }
}

#[async_trait]
pub trait Backend: Send + Sync + 'static {
    fn dialect(&self) -> Dialect;
    /// A pool for reads (and, on PostgreSQL, the same pool the writes use).
    fn reader(&self) -> Reader<'_>;
    /// Queues one write; its outcome arrives through the write's own `finish`.
    async fn submit(&self, write: Box<dyn PendingWrite>) -> StoreResult<()>;
    /// Runs migration SQL (several statements) in one transaction.
    async fn migrate(&self, version: i64, sql: &str) -> StoreResult<()>;
    async fn applied_migrations(&self) -> StoreResult<Vec<i64>>;
    /// Checkpoints the write-ahead log now, where the database has one to checkpoint
    /// (SQLite): (WAL frames, frames copied). Benchmarks time it.
    async fn checkpoint(&self) -> StoreResult<Option<(i64, i64)>> {
        Ok(None)
    }
    async fn close(&self);
}

/// What a write's caller hears: the outcome and, once committed, whether it recorded
/// outbox events.
pub(super) type Reply<T> = (StoreResult<T>, Option<EventsRecorded>);

struct Write<T, F> {
    op: Option<F>,
    checked: bool,
    result: Option<StoreResult<T>>,
    recorded: Arc<EventMark>,
    reply: Option<oneshot::Sender<Reply<T>>>,
}

impl<T, F> PendingWrite for Write<T, F>
where
    T: Send + 'static,
    F: for<'a> FnOnce(&'a mut Tx<'a>) -> BoxFuture<'a, StoreResult<T>> + Send + 'static,
{
    fn run<'a>(&'a mut self, tx: &'a mut Tx<'a>) -> BoxFuture<'a, bool> {
        Box::pin(async move {
            let Some(op) = self.op.take() else { return false };
            tx.report_events_to(self.recorded.clone());
            let result = op(tx).await;
            let ok = result.is_ok();
            self.result = Some(result);
            ok
        })
    }

    fn checks_before_changing(&self) -> bool {
        self.checked
    }

    fn finish(mut self: Box<Self>, commit: StoreResult<()>) {
        let outcome = match (self.result.take(), commit) {
            (Some(Err(e)), _) => Err(e),
            (Some(Ok(_)), Err(e)) => Err(e),
            (Some(Ok(v)), Ok(())) => Ok(v),
            (None, Err(e)) => Err(e),
            (None, Ok(())) => Err(StoreError::Closed),
        };
        let recorded = if outcome.is_ok() { self.recorded.recorded() } else { None };
        if let Some(reply) = self.reply.take() {
            let _ = reply.send((outcome, recorded));
        }
    }
}

pub(super) fn pending<T, F>(op: F) -> (Box<dyn PendingWrite>, oneshot::Receiver<Reply<T>>)
where
    T: Send + 'static,
    F: for<'a> FnOnce(&'a mut Tx<'a>) -> BoxFuture<'a, StoreResult<T>> + Send + 'static,
{
    pending_with(op, false)
}

pub(super) fn pending_with<T, F>(op: F, checked: bool) -> (Box<dyn PendingWrite>, oneshot::Receiver<Reply<T>>)
where
    T: Send + 'static,
    F: for<'a> FnOnce(&'a mut Tx<'a>) -> BoxFuture<'a, StoreResult<T>> + Send + 'static,
{
    let (tx, rx) = oneshot::channel();
    (Box::new(Write { op: Some(op), checked, result: None, recorded: Arc::default(), reply: Some(tx) }), rx)
}
