//! Events: the durable outbox readers. Today that is webhook delivery.
//!
//! The [`Dispatcher`] is one task per node. It does no work on the request path: requests
//! only append to the outbox (in their own transaction) and poke
//! [`Store::events_committed`]. The dispatcher then, in a loop:
//! 1. routes unrouted outbox events to the subscribed webhooks (a delivery row each),
//! 2. claims due deliveries (leases in the database) within its concurrency limits,
//! 3. sends each in its own task, which records the attempt and the next step,
//! 4. sleeps until a commit, a finished send, the next due retry or the slow poll.
//!
//! Every step's state is in the database, so a restart (or another node) carries on where
//! this one stopped: delivery is at least once, and the event `id` lets receivers dedupe.

pub mod policy;
pub mod send;
pub mod target;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use crate::domain::ids::new_id;
use crate::domain::time::now_ms;
use crate::store::webhooks::{AttemptRecord, ClaimRequest, ClaimedDelivery, Verdict};
use crate::store::{Dialect, Store};
pub use policy::DeliverySettings;
use policy::{judge, Answer};

/// The running webhook dispatcher of this node.
pub struct Dispatcher {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Dispatcher {
    /// Starts delivering from `store`'s outbox.
    pub fn start(store: Store, settings: DeliverySettings) -> Dispatcher {
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(run(store, Arc::new(settings), stopped));
        Dispatcher { stop, task }
    }

    /// Stops claiming, lets sends in flight finish for a moment, then abandons them (their
    /// leases lapse, so they are sent again later: at least once).
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// How long in-flight sends may finish after a stop is asked.
const STOP_GRACE: Duration = Duration::from_secs(2);

fn node_name() -> String {
    let host = std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty()).unwrap_or_else(|| "node".into());
    format!("{host}-{}", &new_id()[12..])
}

/// How long the dispatcher lets commits accumulate after a wake-up.
const COALESCE: Duration = Duration::from_millis(5);

async fn run(store: Store, settings: Arc<DeliverySettings>, mut stopped: watch::Receiver<bool>) {
    let node = node_name();
    let client = send::build_client(&settings);
    let wake = store.events_committed();
    if store.dialect() == Dialect::Sqlite {
        // One node only: whatever this process had in flight when it stopped is ours again.
        if let Err(e) = store.release_all_leases().await {
            tracing::warn!(error = %e, "webhooks: cannot release leases at start");
        }
    }
    let mut inflight: JoinSet<String> = JoinSet::new();
    let mut tasks: HashMap<tokio::task::Id, String> = HashMap::new();
    let mut per_webhook: HashMap<String, usize> = HashMap::new();
    let mut last_prune: Option<Instant> = None;
    tracing::info!(node = %node, "webhook dispatcher started");

    let finished = |r: Result<(tokio::task::Id, String), tokio::task::JoinError>, tasks: &mut HashMap<tokio::task::Id, String>, per: &mut HashMap<String, usize>| {
        let id = match &r {
            Ok((id, _)) => *id,
            Err(e) => e.id(),
        };
        if let Some(w) = tasks.remove(&id) {
            if let Some(n) = per.get_mut(&w) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    per.remove(&w);
                }
            }
        }
    };

    loop {
        if *stopped.borrow() {
            break;
        }
        // 1. Route everything committed so far.
        let mut routed = 0usize;
        if store.has_unrouted_events().await.unwrap_or(true) {
            loop {
                match store.route_events(settings.route_batch).await {
                    Ok(n) => {
                        routed += n;
                        if (n as i64) < settings.route_batch {
                            break;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "webhooks: routing failed");
                        break;
                    }
                }
            }
        }
        // 2. Claim what is due, within this node's room.
        let room = settings.max_in_flight.saturating_sub(inflight.len());
        let mut full = false;
        if room > 0 && store.has_due_deliveries(now_ms()).await.unwrap_or(true) {
            let limit = room.min(100) as i64;
            let req = ClaimRequest {
                owner: node.clone(),
                now: now_ms(),
                lease_ms: settings.lease.as_millis() as i64,
                limit,
                in_flight: per_webhook.clone(),
                per_target: settings.per_target_concurrency.max(1),
                circuit_threshold: settings.circuit_threshold,
            };
            match store.claim_deliveries(req).await {
                Ok(claims) => {
                    full = claims.len() as i64 >= limit;
                    for d in claims {
                        *per_webhook.entry(d.webhook_id.clone()).or_default() += 1;
                        let webhook_id = d.webhook_id.clone();
                        let handle = inflight.spawn(deliver(store.clone(), client.clone(), settings.clone(), node.clone(), d));
                        tasks.insert(handle.id(), webhook_id);
                    }
                }
                Err(e) => tracing::warn!(error = %e, "webhooks: claiming failed"),
            }
        }
        // 3. Retention, now and then.
        if last_prune.is_none_or(|t| t.elapsed() >= settings.prune_interval) {
            last_prune = Some(Instant::now());
            let now = now_ms();
            let expire = now - settings.max_pending_age.as_millis() as i64;
            let forget = now - settings.retention.as_millis() as i64;
            match store.prune_deliveries(now, expire, forget).await {
                Ok((0, 0)) => {}
                Ok((expired, forgotten)) => tracing::info!(expired, forgotten, "webhooks: retention"),
                Err(e) => tracing::warn!(error = %e, "webhooks: retention failed"),
            }
        }
        while let Some(r) = inflight.try_join_next_with_id() {
            finished(r, &mut tasks, &mut per_webhook);
        }
        if full && inflight.len() < settings.max_in_flight {
            continue;
        }
        // 4. Sleep until something may have changed. Events committed meanwhile (whose
        // wake-up another listener may have taken) are looked at again soon; if another
        // node holds the router, it routes them.
        let backlog = store.has_unrouted_events().await.unwrap_or(false);
        if backlog && routed > 0 {
            continue;
        }
        let now = now_ms();
        let mut wait = match store.next_delivery_wake(now).await {
            Ok(Some(at)) => Duration::from_millis((at - now).max(1) as u64).min(settings.poll_interval),
            _ => settings.poll_interval,
        };
        if backlog {
            wait = wait.min(Duration::from_millis(50));
        }
        tokio::select! {
            _ = stopped.changed() => break,
            _ = wake.notified() => {
                // Let a burst of commits land before routing them: one routing
                // transaction for many events keeps the writer's queue for requests.
                tokio::time::sleep(COALESCE).await;
            }
            Some(r) = inflight.join_next_with_id(), if !inflight.is_empty() => finished(r, &mut tasks, &mut per_webhook),
            _ = tokio::time::sleep(wait) => {}
        }
    }

    // Let sends in flight finish briefly; the rest are abandoned to their leases.
    let grace = tokio::time::sleep(STOP_GRACE);
    tokio::pin!(grace);
    while !inflight.is_empty() {
        tokio::select! {
            _ = &mut grace => break,
            _ = inflight.join_next() => {}
        }
    }
    inflight.shutdown().await;
    tracing::info!(node = %node, "webhook dispatcher stopped");
}

/// One attempt at one delivery, recorded. Returns the webhook id.
async fn deliver(store: Store, client: reqwest::Client, settings: Arc<DeliverySettings>, node: String, d: ClaimedDelivery) -> String {
    let started_at = now_ms();
    let clock = Instant::now();
    let answer = send::send(&client, &settings, &d).await;
    let made = d.attempts + 1;
    let (mut verdict, health) = judge(&answer, made, settings.max_attempts());
    if let Verdict::Retry { .. } = verdict {
        let wait = settings.backoff(made, &mut rand::thread_rng());
        verdict = Verdict::Retry { at: now_ms() + wait.as_millis() as i64 };
    }
    let (status, error) = match &answer {
        Answer::Status(s) => (Some(*s), None),
        Answer::Timeout => (None, Some(format!("no response within {} ms", settings.timeout.as_millis()))),
        Answer::Transport(e) => (None, Some(e.clone())),
        Answer::Refused(r) => (None, Some(r.clone())),
    };
    let event_id = d.event.get("id").and_then(|v| v.as_str()).unwrap_or("").to_string();
    match verdict {
        Verdict::Delivered => tracing::debug!(webhook = %d.webhook_id, event = %event_id, attempt = made, "webhook delivered"),
        Verdict::Retry { at } => {
            tracing::info!(webhook = %d.webhook_id, event = %event_id, attempt = made, ?status, ?error, retry_in_ms = at - now_ms(), "webhook attempt failed; will retry")
        }
        Verdict::Failed => tracing::warn!(webhook = %d.webhook_id, event = %event_id, attempt = made, ?status, ?error, "webhook delivery failed for good"),
    }
    let record = AttemptRecord {
        delivery_id: d.id,
        webhook_id: d.webhook_id.clone(),
        node,
        attempt: made,
        started_at,
        duration_ms: clock.elapsed().as_millis() as i64,
        status,
        error,
        verdict,
        health,
    };
    if let Err(e) = store.finish_attempt(record, settings.circuit()).await {
        // The lease lapses and the delivery is tried again: at least once.
        tracing::warn!(webhook = %d.webhook_id, error = %e, "webhooks: cannot record an attempt");
    }
    d.webhook_id
}
