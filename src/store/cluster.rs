//! Several nodes on one PostgreSQL are one system. Every node reads the same outbox, so
//! what one node commits is already there for the others; what they lack is knowing
//! *when*. This module tells them, with PostgreSQL's own `LISTEN/NOTIFY`:
//!
//! - after a commit that recorded outbox events, [`Store::write`] pokes this node's
//!   notifier, which sends `NOTIFY sunbeam_events, '<node>'` (one at a time: commits that
//!   land while one is on its way share the next, so a burst costs a couple of
//!   notifications, not one per commit, and no request waits for it);
//! - each node holds one dedicated connection that `LISTEN`s on the channel and, on a
//!   notification from another node, wakes its outbox readers (the realtime hub, the
//!   webhook dispatcher) exactly as a local commit does.
//!
//! A notification carries no data: it is a wake-up, and the outbox stays the source of
//! truth (readers read from their cursor, in `seq` order, with the hub's late-commit
//! window). So a lost notification only delays: the readers' slow polls are kept as the
//! fallback, and after the listening connection is lost and comes back every reader is
//! woken once, for whatever was committed meanwhile. `NOTIFY` is sent after the commit,
//! not inside the transaction: a transaction that notifies takes a database-wide lock at
//! commit, which would serialise every posting transaction of the cluster.

use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::{sql, Dialect, Store};

/// The notification channel every node listens on.
pub const CHANNEL: &str = "sunbeam_events";

/// The `application_name` of each node's listening connection starts so.
pub const APPLICATION_PREFIX: &str = "sunbeam:";

/// How long to wait before listening again after a failure, at most.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// The running wake-up signal of this node (PostgreSQL only).
pub struct Signal {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Signal {
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

impl Store {
    /// Starts notifying the other nodes of this node's commits and listening for theirs.
    /// None on SQLite, which has one node.
    pub fn start_cluster_signal(&self) -> Option<Signal> {
        if self.dialect() != Dialect::Postgres {
            return None;
        }
        let (stop, stopped) = watch::channel(false);
        let tasks = vec![tokio::spawn(notify(self.clone(), stopped.clone())), tokio::spawn(listen(self.clone(), stopped))];
        tracing::info!(node = %self.node, channel = CHANNEL, "cluster: LISTEN/NOTIFY wake-ups between nodes");
        Some(Signal { stop, tasks })
    }

    /// The database's clock (PostgreSQL; None on SQLite, whose clock is this machine's),
    /// in epoch milliseconds, with the round trip it took to ask.
    pub async fn database_clock_ms(&self) -> super::StoreResult<Option<(i64, Duration)>> {
        if self.dialect() != Dialect::Postgres {
            return Ok(None);
        }
        let asked = std::time::Instant::now();
        let (ms,): (i64,) = sql::query_as("SELECT CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)").fetch_one(self.reader()).await?;
        Ok(Some((ms, asked.elapsed())))
    }

    /// The nodes listening now (PostgreSQL): their names, and since when (epoch ms).
    pub async fn listening_nodes(&self) -> super::StoreResult<Vec<(String, i64)>> {
        if self.dialect() != Dialect::Postgres {
            return Ok(Vec::new());
        }
        let rows: Vec<(String, i64)> = sql::query_as(
            "SELECT CAST(application_name AS TEXT), CAST(EXTRACT(EPOCH FROM backend_start) * 1000 AS BIGINT) FROM pg_stat_activity \
             WHERE datname = current_database() AND application_name LIKE $1 ORDER BY application_name",
        )
        .bind(format!("{APPLICATION_PREFIX}%"))
        .fetch_all(self.reader())
        .await?;
        Ok(rows.into_iter().map(|(n, t)| (n.trim_start_matches(APPLICATION_PREFIX).to_string(), t)).collect())
    }

    /// Wakes this node's outbox readers (a commit here or on another node).
    pub(crate) fn wake_outbox_readers(&self) {
        self.events_committed.notify_waiters();
        self.events_committed.notify_one();
    }
}

/// Sends one notification per wake-up of `local_commits` (which coalesces).
async fn notify(store: Store, mut stopped: watch::Receiver<bool>) {
    let mut failures = 0u64;
    loop {
        tokio::select! {
            _ = store.local_commits.notified() => {}
            _ = stopped.changed() => return,
        }
        // pg_notify, not NOTIFY: the channel and payload are parameters. Selected from a
        // subquery because its result (void) is not a type the driver reads.
        let sent = sql::query("SELECT 1 AS n FROM (SELECT pg_notify($1, $2)) AS s").bind(CHANNEL).bind(store.node.to_string()).fetch_optional(store.reader()).await;
        match sent {
            Ok(_) => {
                crate::metrics::cluster_notify(true);
                failures = 0
            }
            Err(e) => {
                crate::metrics::cluster_notify(false);
                failures += 1;
                if failures == 1 || failures.is_multiple_of(100) {
                    tracing::warn!(error = %e, failures, "cluster: cannot notify the other nodes (they fall back to polling)");
                }
            }
        }
    }
}

/// Listens on [`CHANNEL`] over a connection of its own, reconnecting when it is lost.
async fn listen(store: Store, mut stopped: watch::Receiver<bool>) {
    let mut backoff = Duration::from_millis(100);
    loop {
        if *stopped.borrow() {
            return;
        }
        let connected = async {
            // Named, so that operators (and `sunbeam doctor`) see which nodes listen.
            let sep = if store.url.contains('?') { '&' } else { '?' };
            let mut l = sqlx::postgres::PgListener::connect(&format!("{}{sep}application_name={APPLICATION_PREFIX}{}", store.url, store.node)).await?;
            l.listen(CHANNEL).await?;
            Ok::<_, sqlx::Error>(l)
        };
        let mut listener = match connected.await {
            Ok(l) => l,
            Err(e) => {
                crate::metrics::cluster_listening(false);
                tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "cluster: cannot LISTEN (falling back to polling until it can)");
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = stopped.changed() => return,
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        backoff = Duration::from_millis(100);
        crate::metrics::cluster_listening(true);
        tracing::debug!("cluster: listening");
        // Whatever was committed while this node was not listening.
        store.wake_outbox_readers();
        loop {
            tokio::select! {
                _ = stopped.changed() => return,
                got = listener.try_recv() => match got {
                    Ok(Some(n)) => {
                        if n.payload() != &*store.node {
                            crate::metrics::cluster_wakeup();
                            store.wake_outbox_readers();
                        }
                    }
                    // The connection was lost; the next call reconnects and listens again.
                    Ok(None) => {
                        tracing::warn!("cluster: the listening connection was lost; reconnecting");
                        store.wake_outbox_readers();
                    }
                    Err(e) => {
                        crate::metrics::cluster_listening(false);
                        tracing::warn!(error = %e, "cluster: listening failed; reconnecting");
                        store.wake_outbox_readers();
                        break;
                    }
                },
            }
        }
    }
}
