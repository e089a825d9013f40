//! Finishing: what an attempt did to its deliveries and to the webhook's health; and the
//! upkeep of the delivery tables (due checks, wake times, leases, expiry and retention).

use super::super::sql;
use super::super::{Store, StoreResult};
use crate::domain::delivery::{CircuitPolicy, Health, Verdict};
use crate::domain::time::now_ms;

/// What became of one delivery of a batch.
#[derive(Debug, Clone)]
pub struct DeliveryOutcome {
    pub delivery_id: i64,
    /// The attempt just made (1-based).
    pub attempt: i64,
    pub verdict: Verdict,
}

/// One finished attempt at a batch (one request), as the sender saw it.
#[derive(Debug, Clone)]
pub struct AttemptRecord {
    pub webhook_id: String,
    pub node: String,
    pub started_at: i64,
    pub duration_ms: i64,
    pub status: Option<u16>,
    pub error: Option<String>,
    /// Whether the attempt says the target is unhealthy (timeouts, connection errors,
    /// retryable statuses), healthy (2xx), or neither (a deliberate 4xx refusal).
    pub health: Health,
    pub deliveries: Vec<DeliveryOutcome>,
}


impl Store {
    /// Records an attempt at a batch: an attempt row per delivery, each delivery delivered,
    /// failed or pending again with its next time, and the webhook's health (the circuit)
    /// moved once for the request. One transaction.
    pub async fn finish_attempt(&self, r: AttemptRecord, circuit: CircuitPolicy) -> StoreResult<()> {
        if r.deliveries.is_empty() {
            return Ok(());
        }
        self.write(move |c| {
            Box::pin(async move {
                let now = now_ms();
                let status = r.status.map(i64::from);
                // One attempt row per delivery that still exists (the webhook, and so its
                // deliveries, may have been deleted meanwhile).
                let marks = sql::placeholders(6, r.deliveries.len());
                let insert = format!(
                    "INSERT INTO webhook_attempts (delivery_id, webhook_id, attempt, node, started_at, duration_ms, status, error) \
                     SELECT id, webhook_id, attempts + 1, $1, $2, $3, $4, $5 FROM webhook_deliveries WHERE id IN ({})",
                    marks
                );
                let mut q = sql::query(&insert).bind(&r.node).bind(r.started_at).bind(r.duration_ms).bind(status).bind(&r.error);
                for d in &r.deliveries {
                    q = q.bind(d.delivery_id);
                }
                if q.execute(&mut *c).await? == 0 {
                    return Ok(());
                }
                // Deliveries sharing a verdict move together. Only pending rows move: if
                // our lease lapsed and another node finished one meanwhile, its outcome
                // stands.
                let mut groups: Vec<(Verdict, Vec<i64>)> = Vec::new();
                for d in &r.deliveries {
                    match groups.iter_mut().find(|(v, _)| *v == d.verdict) {
                        Some((_, ids)) => ids.push(d.delivery_id),
                        None => groups.push((d.verdict, vec![d.delivery_id])),
                    }
                }
                for (verdict, ids) in &groups {
                    let (state, next_at, finished) = match verdict {
                        Verdict::Delivered => ("delivered", now, Some(now)),
                        Verdict::Failed => ("failed", now, Some(now)),
                        Verdict::Retry { at } => ("pending", *at, None),
                    };
                    let marks = sql::placeholders(6, ids.len());
                    let update = format!(
                        "UPDATE webhook_deliveries SET state = $1, attempts = attempts + 1, next_attempt_at = $2, finished_at = $3, \
                         lease_owner = NULL, lease_until = NULL, last_status = $4, last_error = $5 WHERE id IN ({}) AND state = 'pending'",
                        marks
                    );
                    let mut q = sql::query(&update).bind(state).bind(next_at).bind(finished).bind(status).bind(&r.error);
                    for id in ids {
                        q = q.bind(*id);
                    }
                    q.execute(&mut *c).await?;
                }
                let error_text = r.error.clone().or_else(|| r.status.map(|s| format!("HTTP {s}")));
                match r.health {
                    Health::Up => {
                        sql::query(
                            "INSERT INTO webhook_health (webhook_id, consecutive_failures, parked_until, last_success_at) VALUES ($1, 0, NULL, $2) \
                             ON CONFLICT (webhook_id) DO UPDATE SET consecutive_failures = 0, parked_until = NULL, last_success_at = $2",
                        )
                        .bind(&r.webhook_id)
                        .bind(now)
                        .execute(&mut *c)
                        .await?;
                    }
                    Health::Down => {
                        // Incremented in place: concurrent failures on several nodes all count.
                        let (failures,): (i64,) = sql::query_as(
                            "INSERT INTO webhook_health (webhook_id, consecutive_failures, last_error, last_error_at) VALUES ($1, 1, $2, $3) \
                             ON CONFLICT (webhook_id) DO UPDATE SET consecutive_failures = webhook_health.consecutive_failures + 1, \
                             last_error = $2, last_error_at = $3 RETURNING consecutive_failures",
                        )
                        .bind(&r.webhook_id)
                        .bind(&error_text)
                        .bind(now)
                        .fetch_one(&mut *c)
                        .await?;
                        if let Some(ms) = circuit.park_for(failures) {
                            sql::query("UPDATE webhook_health SET parked_until = $1 WHERE webhook_id = $2").bind(now + ms).bind(&r.webhook_id).execute(&mut *c).await?;
                        }
                    }
                    Health::Neutral => {
                        sql::query(
                            "INSERT INTO webhook_health (webhook_id, consecutive_failures, last_error, last_error_at) VALUES ($1, 0, $2, $3) \
                             ON CONFLICT (webhook_id) DO UPDATE SET last_error = $2, last_error_at = $3",
                        )
                        .bind(&r.webhook_id)
                        .bind(&error_text)
                        .bind(now)
                        .execute(&mut *c)
                        .await?;
                    }
                }
                Ok(())
            })
        })
        .await
    }


    /// Cheap reads that spare the writer a transaction when there is nothing to do.
    pub async fn has_unrouted_events(&self) -> StoreResult<bool> {
        let row: Option<(i64,)> = sql::query_as("SELECT seq FROM events WHERE routed_at IS NULL LIMIT 1").fetch_optional(self.reader()).await?;
        Ok(row.is_some())
    }

    pub async fn has_due_deliveries(&self, now: i64) -> StoreResult<bool> {
        let row: Option<(i64,)> = sql::query_as(
            "SELECT id FROM webhook_deliveries WHERE state = 'pending' AND next_attempt_at <= $1 AND (lease_until IS NULL OR lease_until < $1) LIMIT 1",
        )
        .bind(now)
        .fetch_optional(self.reader())
        .await?;
        Ok(row.is_some())
    }

    /// Gives back every lease (a single-node SQLite store at start-up: whatever was in
    /// flight when the process stopped will be sent again).
    pub async fn release_all_leases(&self) -> StoreResult<u64> {
        self.write(|c| {
            Box::pin(async move {
                let done = sql::query("UPDATE webhook_deliveries SET lease_owner = NULL, lease_until = NULL WHERE state = 'pending' AND lease_owner IS NOT NULL")
                    .execute(&mut *c)
                    .await?;
                Ok(done)
            })
        })
        .await
    }

    /// The next time (ms) something becomes due: a retry, or a parked webhook's release.
    pub async fn next_delivery_wake(&self, now: i64) -> StoreResult<Option<i64>> {
        let (due,): (Option<i64>,) = sql::query_as("SELECT MIN(next_attempt_at) FROM webhook_deliveries WHERE state = 'pending' AND next_attempt_at > $1")
            .bind(now)
            .fetch_one(self.reader())
            .await?;
        let (parked,): (Option<i64>,) =
            sql::query_as("SELECT MIN(parked_until) FROM webhook_health WHERE parked_until > $1").bind(now).fetch_one(self.reader()).await?;
        Ok(match (due, parked) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        })
    }

    /// Fails deliveries pending since before `expire_before`, and forgets finished ones
    /// (with their attempts) older than `forget_before`. Returns (expired, forgotten).
    pub async fn prune_deliveries(&self, now: i64, expire_before: i64, forget_before: i64) -> StoreResult<(u64, u64)> {
        self.write(move |c| {
            Box::pin(async move {
                // Oldest first along each line, stopping at one in flight: a line's finished
                // deliveries stay a prefix of it, which claiming relies on.
                let mut expired = 0u64;
                for _ in 0..10 {
                    let rows: Vec<(i64, String, Option<String>, Option<i64>)> = sql::query_as(
                        "SELECT id, webhook_id, order_key, lease_until FROM webhook_deliveries WHERE state = 'pending' AND created_at < $1 \
                         ORDER BY webhook_id, order_key, event_seq LIMIT 2000",
                    )
                    .bind(expire_before)
                    .fetch_all(&mut *c)
                    .await?;
                    let mut held: Vec<(&str, &str)> = Vec::new();
                    let mut ids = Vec::new();
                    for (id, webhook_id, key, lease_until) in &rows {
                        let in_flight = lease_until.is_some_and(|l| l >= now);
                        match key.as_deref() {
                            Some(k) if held.contains(&(webhook_id.as_str(), k)) => {}
                            Some(k) if in_flight => held.push((webhook_id.as_str(), k)),
                            _ if in_flight => {}
                            _ => ids.push(*id),
                        }
                    }
                    if ids.is_empty() {
                        break;
                    }
                    let marks = sql::placeholders(2, ids.len());
                    let update = format!(
                        "UPDATE webhook_deliveries SET state = 'failed', finished_at = $1, last_error = 'expired: not delivered in time', \
                         lease_owner = NULL, lease_until = NULL WHERE id IN ({}) AND state = 'pending'",
                        marks
                    );
                    let mut q = sql::query(&update).bind(now);
                    for id in &ids {
                        q = q.bind(*id);
                    }
                    expired += q.execute(&mut *c).await?;
                    if rows.len() < 2000 {
                        break;
                    }
                }
                let doomed = "SELECT id FROM webhook_deliveries WHERE state <> 'pending' AND finished_at < $1 ORDER BY finished_at LIMIT 5000";
                sql::query(format!("DELETE FROM webhook_attempts WHERE delivery_id IN ({doomed})")).bind(forget_before).execute(&mut *c).await?;
                let forgotten = sql::query(format!("DELETE FROM webhook_deliveries WHERE id IN ({doomed})")).bind(forget_before).execute(&mut *c).await?;
                Ok((expired, forgotten))
            })
        })
        .await
    }
}
