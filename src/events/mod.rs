//! Events: the durable outbox readers. Today that is webhook delivery.
//!
//! The [`Dispatcher`] is one task per node. It does no work on the request path: requests
//! only append to the outbox (in their own transaction) and poke
//! [`Store::events_committed`]. The dispatcher then, in a loop:
//! 1. routes unrouted outbox events to the subscribed webhooks (a delivery row each),
//! 2. claims due deliveries (leases in the database) within its concurrency limits, in
//!    batches: up to `max_batch` events of one webhook per request (the envelope's
//!    `events` array), each conversation's events in order and in one batch at a time,
//! 3. sends each batch in its own task, which records the attempt and the next step of
//!    every delivery in it (one transaction); the request's one answer decides for all of
//!    them (each keeps its own attempt count and retry schedule),
//! 4. sleeps until a commit, a finished send, the next due retry or the slow poll.
//!
//! It claims only when something may have become claimable (routing to a webhook with
//! room, a finished send, a timer, the poll), so a backlog waiting on a webhook at its
//! concurrency costs no claim per commit.
//!
//! Every step's state is in the database, so a restart (or another node) carries on where
//! this one stopped: delivery is at least once, and the event `id` lets receivers dedupe.
//!
//! [`step`] is one round of the same routing, claiming and sending, synchronous and at a
//! clock reading the caller chooses: tests drive retries and the circuit with it instead
//! of waiting for wall-clock time to pass.

pub mod policy;
pub mod send;
pub mod target;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use crate::domain::time::now_ms;
use crate::store::webhooks::{AttemptRecord, ClaimRequest, ClaimedBatch, DeliveryOutcome, Health, Routed, Verdict};
use crate::store::{Dialect, Store, StoreResult};
pub use policy::{Answer, DeliverySettings};
use policy::judge;

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

/// How long the dispatcher lets commits accumulate after a wake-up.
const COALESCE: Duration = Duration::from_millis(5);

async fn run(store: Store, settings: Arc<DeliverySettings>, mut stopped: watch::Receiver<bool>) {
    let node = store.node.to_string();
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

    // Whether a claim may find something: set by what can make deliveries claimable
    // (routing to a webhook with room, a finished send, a timer for retries and parked
    // webhooks, the slow poll), cleared by a claim that took all there was. It spares
    // the writer a claim (a scan of the due deliveries) on every commit while the
    // webhooks that have work are already at their concurrency.
    let mut claim_wanted = true;
    let per_target = settings.per_target_concurrency.max(1);
    loop {
        if *stopped.borrow() {
            break;
        }
        // 1. Route everything committed so far.
        let mut routed = 0usize;
        if store.has_unrouted_events().await.unwrap_or(true) {
            match route_all(&store, &settings).await {
                Ok(r) => {
                    routed = r.events;
                    if r.webhooks.iter().any(|w| per_webhook.get(w).copied().unwrap_or(0) < per_target) {
                        claim_wanted = true;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "webhooks: routing failed");
                    // Some may have been routed before the failure: look for work.
                    claim_wanted = true;
                }
            }
        }
        // 2. Claim what is due, within this node's room, in batches.
        let room = settings.max_in_flight.saturating_sub(inflight.len());
        let mut full = false;
        if room > 0 && claim_wanted {
            if store.has_due_deliveries(now_ms()).await.unwrap_or(true) {
                let req = claim_request(&settings, &node, now_ms(), room, per_webhook.clone());
                let limit = req.limit;
                match store.claim_deliveries(req).await {
                    Ok(claims) => {
                        full = claims.len() as i64 >= limit;
                        claim_wanted = full;
                        for b in claims {
                            *per_webhook.entry(b.webhook_id.clone()).or_default() += 1;
                            let webhook_id = b.webhook_id.clone();
                            let (store, client, settings, node) = (store.clone(), client.clone(), settings.clone(), node.clone());
                            let handle = inflight.spawn(async move { deliver(&store, &client, &settings, &node, b, None).await.webhook_id });
                            tasks.insert(handle.id(), webhook_id);
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "webhooks: claiming failed"),
                }
            } else {
                claim_wanted = false;
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
            claim_wanted = true;
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
                // In a cluster another node may have routed them: look for work.
                if store.dialect() == Dialect::Postgres {
                    claim_wanted = true;
                }
            }
            Some(r) = inflight.join_next_with_id(), if !inflight.is_empty() => {
                finished(r, &mut tasks, &mut per_webhook);
                claim_wanted = true;
            }
            _ = tokio::time::sleep(wait) => claim_wanted = true,
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

/// Routes everything unrouted, `route_batch` events per transaction.
async fn route_all(store: &Store, settings: &DeliverySettings) -> StoreResult<Routed> {
    let mut total = Routed::default();
    loop {
        let r = store.route_events(settings.route_batch).await?;
        total.events += r.events;
        for w in r.webhooks {
            if !total.webhooks.contains(&w) {
                total.webhooks.push(w);
            }
        }
        if (r.events as i64) < settings.route_batch {
            return Ok(total);
        }
    }
}

/// What `node` may claim at `now` with room for `room` more requests and `in_flight`
/// requests out per webhook.
fn claim_request(settings: &DeliverySettings, node: &str, now: i64, room: usize, in_flight: HashMap<String, usize>) -> ClaimRequest {
    ClaimRequest {
        owner: node.to_string(),
        now,
        lease_ms: settings.lease.as_millis() as i64,
        limit: room.min(100) as i64,
        in_flight,
        per_target: settings.per_target_concurrency.max(1),
        max_batch: settings.max_batch.max(1),
        circuit_threshold: settings.circuit_threshold,
    }
}

/// What one [`step`] did.
#[derive(Debug, Clone, Default)]
pub struct StepReport {
    /// Outbox events routed.
    pub routed: usize,
    /// One per request sent, in the order they were sent.
    pub attempts: Vec<StepAttempt>,
}

/// One request a [`step`] sent, and what was recorded for it.
#[derive(Debug, Clone)]
pub struct StepAttempt {
    pub webhook_id: String,
    /// The deliveries it carried, in event order.
    pub deliveries: Vec<i64>,
    pub answer: Answer,
    /// Per delivery, the attempt made and where the delivery went (a retry's time is
    /// counted from the step's `now`).
    pub outcomes: Vec<DeliveryOutcome>,
}

impl StepReport {
    /// Requests sent.
    pub fn sent(&self) -> usize {
        self.attempts.len()
    }
}

/// One round of the dispatcher at the clock reading `now` (epoch ms), without a task or a
/// timer: routes every unrouted event, claims what is due at `now` as a node with nothing
/// in flight, then sends each batch in turn and records its attempt, retries scheduled
/// from `now`. It is the dispatcher's own routing, claim request and delivery; only the
/// concurrency and the sleeping of [`Dispatcher`] are left out. Leases and due times are
/// read against `now`, while the store stamps what it writes with its own (wall) clock:
/// newly routed deliveries are due from the time they were routed (so a first step's
/// `now` must not be behind it), and a circuit's park runs from when the attempt is
/// recorded (`Store::next_delivery_wake` tells when it ends). Do not run it beside a
/// [`Dispatcher`] on the same store: both would claim.
pub async fn step(store: &Store, settings: &DeliverySettings, now: i64) -> StoreResult<StepReport> {
    let routed = route_all(store, settings).await?.events;
    let node = store.node.to_string();
    let claims = store.claim_deliveries(claim_request(settings, &node, now, settings.max_in_flight.max(1), HashMap::new())).await?;
    let client = send::build_client(settings);
    let mut attempts = Vec::with_capacity(claims.len());
    for b in claims {
        let deliveries = b.deliveries.iter().map(|d| d.id).collect();
        let done = deliver(store, &client, settings, &node, b, Some(now)).await;
        if let Some(e) = done.error {
            return Err(e);
        }
        attempts.push(StepAttempt { webhook_id: done.webhook_id, deliveries, answer: done.answer, outcomes: done.outcomes });
    }
    Ok(StepReport { routed, attempts })
}

/// One attempt at one batch, as recorded (or the error that kept it from being recorded).
struct Delivered {
    webhook_id: String,
    answer: Answer,
    outcomes: Vec<DeliveryOutcome>,
    error: Option<crate::store::StoreError>,
}

/// One attempt at one batch (one request), recorded. `at` fixes the clock the attempt is
/// judged at (its start and the retry schedule); `None` reads the wall clock.
async fn deliver(store: &Store, client: &reqwest::Client, settings: &DeliverySettings, node: &str, b: ClaimedBatch, at: Option<i64>) -> Delivered {
    let now = || at.unwrap_or_else(now_ms);
    let started_at = now();
    let clock = Instant::now();
    let answer = send::send(client, settings, &b).await;
    let (status, error) = match &answer {
        Answer::Status(s) => (Some(*s), None),
        Answer::Timeout => (None, Some(format!("no response within {} ms", settings.timeout.as_millis()))),
        Answer::Transport(e) => (None, Some(e.clone())),
        Answer::Refused(r) => (None, Some(r.clone())),
    };
    let (deliveries, health) = outcomes(&b, &answer, settings, now(), &mut rand::thread_rng());
    // The first event's id, for the logs of failures (parsed only then).
    let first_event = || b.deliveries.first().and_then(|d| serde_json::from_str::<serde_json::Value>(&d.event).ok()).and_then(|e| e["id"].as_str().map(str::to_string)).unwrap_or_default();
    let events = b.deliveries.len();
    let attempt = b.deliveries.iter().map(|d| d.attempts + 1).max().unwrap_or(1);
    let delivered = deliveries.iter().filter(|d| d.verdict == Verdict::Delivered).count();
    let failed = deliveries.iter().filter(|d| d.verdict == Verdict::Failed).count();
    let retry_at = deliveries.iter().find_map(|d| if let Verdict::Retry { at } = d.verdict { Some(at) } else { None });
    if delivered == events {
        tracing::debug!(webhook = %b.webhook_id, events, attempt, "webhook delivered");
    } else {
        if let Some(at) = retry_at {
            tracing::info!(webhook = %b.webhook_id, first_event = %first_event(), events, attempt, ?status, ?error, retry_in_ms = at - now(), "webhook attempt failed; will retry")
        }
        if failed > 0 {
            tracing::warn!(webhook = %b.webhook_id, first_event = %first_event(), events = failed, attempt, ?status, ?error, "webhook delivery failed for good")
        }
    }
    let reason = match &answer {
        Answer::Status(s) if (200..300).contains(s) => "2xx",
        Answer::Status(s) if (400..500).contains(s) => "http_4xx",
        Answer::Status(s) if (500..600).contains(s) => "http_5xx",
        Answer::Status(_) => "http_other",
        Answer::Timeout => "timeout",
        Answer::Transport(_) => "transport",
        Answer::Refused(_) => "refused",
    };
    let outcome = if delivered == events { "delivered" } else if failed > 0 { "failed" } else { "retry" };
    crate::metrics::webhook_attempt(outcome, reason, clock.elapsed());
    let record = AttemptRecord {
        webhook_id: b.webhook_id.clone(),
        node: node.to_string(),
        started_at,
        duration_ms: clock.elapsed().as_millis() as i64,
        status,
        error,
        health,
        deliveries: deliveries.clone(),
    };
    let error = match store.finish_attempt(record, settings.circuit()).await {
        Ok(()) => None,
        Err(e) => {
            // The leases lapse and the deliveries are tried again: at least once.
            tracing::warn!(webhook = %b.webhook_id, error = %e, "webhooks: cannot record an attempt");
            Some(e)
        }
    };
    Delivered { webhook_id: b.webhook_id, answer, outcomes: deliveries, error }
}

/// What one answer means for each delivery of a batch. Each follows its own retry
/// schedule, with one jitter for the whole batch, so deliveries as far along as each
/// other stay together; a conversation's deliveries share the retry time of its oldest
/// (which has been tried the most), so they stay together and in order.
fn outcomes(b: &ClaimedBatch, answer: &Answer, settings: &DeliverySettings, now: i64, rng: &mut impl rand::Rng) -> (Vec<DeliveryOutcome>, Health) {
    let mut health = Health::Neutral;
    let factor = settings.jitter_factor(rng);
    let mut line_at: HashMap<&str, i64> = HashMap::new();
    let mut out = Vec::with_capacity(b.deliveries.len());
    for d in &b.deliveries {
        let made = d.attempts + 1;
        let (mut verdict, h) = judge(answer, made, settings.max_attempts());
        health = h;
        if let Verdict::Retry { .. } = verdict {
            let at = now + settings.backoff_scaled(made, factor).as_millis() as i64;
            let at = match d.order_key.as_deref() {
                // Deliveries come in event order: a line's first is its most tried.
                Some(key) => *line_at.entry(key).or_insert(at),
                None => at,
            };
            verdict = Verdict::Retry { at };
        }
        out.push(DeliveryOutcome { delivery_id: d.id, attempt: made, verdict });
    }
    (out, health)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::webhooks::ClaimedDelivery;

    fn batch(ds: &[(i64, Option<&str>)]) -> ClaimedBatch {
        ClaimedBatch {
            webhook_id: "w".into(),
            app_id: "a".into(),
            target: "http://x".into(),
            secret: "s".into(),
            version: "v2".into(),
            deliveries: ds
                .iter()
                .enumerate()
                .map(|(i, (attempts, key))| ClaimedDelivery { id: i as i64, attempts: *attempts, event_seq: i as i64, order_key: key.map(str::to_string), event: "{}".into() })
                .collect(),
        }
    }

    #[test]
    fn a_batch_is_judged_per_delivery_and_a_line_retries_together() {
        let s = DeliverySettings::default();
        let mut rng = rand::thread_rng();
        let b = batch(&[(3, Some("c:1")), (0, Some("c:1")), (0, Some("c:2")), (4, None)]);
        let (out, health) = outcomes(&b, &Answer::Status(500), &s, 0, &mut rng);
        assert_eq!(health, Health::Down);
        assert_eq!(out.iter().map(|o| o.attempt).collect::<Vec<_>>(), [4, 1, 1, 5]);
        let at = |i: usize| match out[i].verdict {
            Verdict::Retry { at } => at,
            v => panic!("{v:?}"),
        };
        // The conversation's two share the retry time of its most tried (the 4th wait).
        assert_eq!(at(0), at(1));
        assert!(at(0) >= s.retry_delays[3].mul_f64(0.8).as_millis() as i64);
        assert!(at(2) <= s.retry_delays[0].mul_f64(1.2).as_millis() as i64);
        // One jitter per batch: the 4th wait is eight times the 1st.
        assert!((at(0) - at(2) * 8).abs() <= 8, "{} vs {}", at(0), at(2));
        assert_eq!(out[3].verdict, Verdict::Failed, "the fifth attempt was the last");

        let (out, health) = outcomes(&b, &Answer::Status(200), &s, 0, &mut rng);
        assert_eq!(health, Health::Up);
        assert!(out.iter().all(|o| o.verdict == Verdict::Delivered));
        let (out, _) = outcomes(&b, &Answer::Status(400), &s, 0, &mut rng);
        assert!(out.iter().all(|o| o.verdict == Verdict::Failed));
    }
}
