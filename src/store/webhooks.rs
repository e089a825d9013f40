//! Webhooks (CRUD) and the durable state of their delivery.
//!
//! Delivery in three steps, each one transaction:
//! 1. **route**: outbox events not yet routed (`events.routed_at IS NULL`) become one
//!    `webhook_deliveries` row per subscribed webhook, shaped for it, and are marked
//!    routed. On PostgreSQL one node routes at a time (a transaction-scoped advisory lock);
//!    marking rows rather than advancing a cursor means an event whose transaction
//!    commits late is still found.
//! 2. **claim**: due deliveries are leased to a node (`lease_owner`, `lease_until`), at most
//!    the head of each (webhook, order key) line and only as many per webhook as the node
//!    has room for; on PostgreSQL with `FOR UPDATE SKIP LOCKED`, so nodes never take the
//!    same row. An expired lease (a node died) makes the row claimable again.
//! 3. **finish**: the attempt is recorded, the delivery becomes delivered, failed or
//!    pending again with its next time, and the webhook's health (the circuit) moves.

use std::collections::HashMap;

use serde_json::Value;
use super::sql::{self, Tx};

use super::integrations::integration_kind_tx;
use super::rows::{from_json, to_json};
use super::{Dialect, Store, StoreError, StoreResult};
use crate::domain::error::{DomainError, Resource};
use crate::domain::ids::is_id;
use crate::domain::time::{format_ms, now_ms};
use crate::domain::webhook::{event_object, order_key, shape_payload, user_ids, Webhook, WebhookDoc, MAX_WEBHOOKS_PER_APP};

/// An outbox row: seq, id, app_id, kind, conversation_id, payload, created_at.
type OutboxRow = (i64, String, String, String, Option<String>, String, i64);

/// Serialises routing between the nodes of a PostgreSQL cluster.
const ROUTE_LOCK: i64 = 0x0053_756e_6265_616e;

fn webhooks_only_for_custom() -> StoreError {
    StoreError::rule("Webhooks are available only for custom integrations")
}

pub(crate) async fn insert_webhook(c: &mut Tx<'_>, app_id: &str, integration_id: &str, w: &Webhook, sealed_secret: &str) -> StoreResult<()> {
    sql::query("INSERT INTO webhooks (id, app_id, integration_id, body, secret, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(&w.id)
        .bind(app_id)
        .bind(integration_id)
        .bind(to_json(&w.doc()))
        .bind(sealed_secret)
        .bind(now_ms())
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// A delivery leased to this node, with what sending it needs.
#[derive(Debug, Clone)]
pub struct ClaimedDelivery {
    pub id: i64,
    pub webhook_id: String,
    pub app_id: String,
    pub target: String,
    pub secret: String,
    pub version: String,
    /// Attempts made before this one.
    pub attempts: i64,
    /// The event object (`{id, type, createdAt, payload}`).
    pub event: Value,
}

/// What a claim may take.
#[derive(Debug, Clone)]
pub struct ClaimRequest {
    pub owner: String,
    pub now: i64,
    pub lease_ms: i64,
    pub limit: i64,
    /// Deliveries this node is sending now, per webhook.
    pub in_flight: HashMap<String, usize>,
    /// At most this many in flight per webhook on this node…
    pub per_target: usize,
    /// …and one (a probe) while the webhook has failed this many times in a row.
    pub circuit_threshold: i64,
}

/// Where a delivery goes after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Delivered,
    Retry { at: i64 },
    Failed,
}

/// One finished attempt, as the sender saw it.
#[derive(Debug, Clone)]
pub struct AttemptRecord {
    pub delivery_id: i64,
    pub webhook_id: String,
    pub node: String,
    pub attempt: i64,
    pub started_at: i64,
    pub duration_ms: i64,
    pub status: Option<u16>,
    pub error: Option<String>,
    pub verdict: Verdict,
    /// Whether the attempt says the target is unhealthy (timeouts, connection errors,
    /// retryable statuses), healthy (2xx), or neither (a deliberate 4xx refusal).
    pub health: Health,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    Up,
    Down,
    Neutral,
}

/// How long a webhook is parked after `failures` failures in a row (the circuit).
#[derive(Debug, Clone, Copy)]
pub struct CircuitPolicy {
    pub threshold: i64,
    pub park_ms: i64,
    pub max_park_ms: i64,
}

impl CircuitPolicy {
    pub fn park_for(&self, failures: i64) -> Option<i64> {
        if failures < self.threshold {
            return None;
        }
        let doublings = (failures - self.threshold).min(20) as u32;
        Some(self.park_ms.saturating_mul(1i64 << doublings).min(self.max_park_ms))
    }
}

/// The operator's view of one webhook.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookStatus {
    pub webhook_id: String,
    pub app_id: String,
    pub integration_id: String,
    pub target: String,
    pub pending: i64,
    pub delivered: i64,
    pub failed: i64,
    pub consecutive_failures: i64,
    pub parked_until: Option<String>,
    pub last_error: Option<String>,
    pub last_error_at: Option<String>,
    pub last_success_at: Option<String>,
}

/// One recorded attempt, for operators.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AttemptView {
    pub delivery_id: i64,
    pub event_id: String,
    pub trigger: String,
    pub attempt: i64,
    pub node: String,
    pub started_at: String,
    pub duration_ms: i64,
    pub status: Option<i64>,
    pub error: Option<String>,
    pub state: String,
}

impl Store {
    fn webhook_from_row(&self, row: &sql::Row) -> StoreResult<Webhook> {
        let doc: WebhookDoc = from_json(&row.try_get::<String, _>("body")?)?;
        let secret = self.secrets().open(&row.try_get::<String, _>("secret")?)?;
        Ok(Webhook::from_doc(row.try_get("id")?, secret, doc))
    }

    /// Checks the integration exists in the app and takes webhooks.
    async fn webhook_integration(&self, app_id: &str, integration_id: &str) -> StoreResult<()> {
        let integration = self.get_integration(app_id, integration_id).await?;
        if !integration.is_custom() {
            return Err(webhooks_only_for_custom());
        }
        Ok(())
    }

    pub async fn create_webhook(&self, app_id: &str, integration_id: &str, webhook: Webhook) -> StoreResult<Webhook> {
        let sealed = self.secrets().seal(&webhook.secret);
        let (a, i, out) = (app_id.to_string(), integration_id.to_string(), webhook.clone());
        self.write(move |c| {
            Box::pin(async move {
                if integration_kind_tx(c, &a, &i).await? != "custom" {
                    return Err(webhooks_only_for_custom());
                }
                let (n,): (i64,) = sql::query_as("SELECT COUNT(*) FROM webhooks WHERE app_id = $1").bind(&a).fetch_one(&mut *c).await?;
                if n >= MAX_WEBHOOKS_PER_APP {
                    return Err(DomainError::Rule(format!("An app can have at most {MAX_WEBHOOKS_PER_APP} webhooks")).into());
                }
                insert_webhook(c, &a, &i, &webhook, &sealed).await
            })
        })
        .await?;
        Ok(out)
    }

    pub async fn list_webhooks(&self, app_id: &str, integration_id: &str) -> StoreResult<Vec<Webhook>> {
        self.webhook_integration(app_id, integration_id).await?;
        let rows = sql::query("SELECT id, body, secret FROM webhooks WHERE app_id = $1 AND integration_id = $2 ORDER BY id")
            .bind(app_id)
            .bind(integration_id)
            .fetch_all(self.reader())
            .await?;
        rows.iter().map(|r| self.webhook_from_row(r)).collect()
    }

    /// Every webhook of an app, with the integration it belongs to.
    pub async fn webhooks_of_app(&self, app_id: &str) -> StoreResult<Vec<(String, Webhook)>> {
        let rows = sql::query("SELECT id, integration_id, body, secret FROM webhooks WHERE app_id = $1 ORDER BY id").bind(app_id).fetch_all(self.reader()).await?;
        rows.iter().map(|r| Ok((r.try_get::<String, _>("integration_id")?, self.webhook_from_row(r)?))).collect()
    }

    pub async fn get_webhook(&self, app_id: &str, integration_id: &str, webhook_id: &str) -> StoreResult<Webhook> {
        self.webhook_integration(app_id, integration_id).await?;
        if !is_id(webhook_id) {
            return Err(StoreError::not_found(Resource::Webhook));
        }
        let row = sql::query("SELECT id, body, secret FROM webhooks WHERE app_id = $1 AND integration_id = $2 AND id = $3")
            .bind(app_id)
            .bind(integration_id)
            .bind(webhook_id)
            .fetch_optional(self.reader())
            .await?;
        match row {
            Some(r) => self.webhook_from_row(&r),
            None => Err(StoreError::not_found(Resource::Webhook)),
        }
    }

    pub async fn update_webhook(&self, app_id: &str, integration_id: &str, webhook: Webhook) -> StoreResult<Webhook> {
        let (a, i, w, body) = (app_id.to_string(), integration_id.to_string(), webhook.id.clone(), to_json(&webhook.doc()));
        self.write(move |c| {
            Box::pin(async move {
                let done = sql::query("UPDATE webhooks SET body = $1 WHERE app_id = $2 AND integration_id = $3 AND id = $4")
                    .bind(&body)
                    .bind(&a)
                    .bind(&i)
                    .bind(&w)
                    .execute(&mut *c)
                    .await?;
                if done == 0 {
                    return Err(StoreError::not_found(Resource::Webhook));
                }
                Ok(())
            })
        })
        .await?;
        Ok(webhook)
    }

    /// Deletes a webhook; its pending deliveries go with it.
    pub async fn delete_webhook(&self, app_id: &str, integration_id: &str, webhook_id: &str) -> StoreResult<()> {
        let (a, i, w) = (app_id.to_string(), integration_id.to_string(), webhook_id.to_string());
        self.write(move |c| {
            Box::pin(async move {
                integration_kind_tx(c, &a, &i).await?;
                let done = sql::query("DELETE FROM webhooks WHERE app_id = $1 AND integration_id = $2 AND id = $3")
                    .bind(&a)
                    .bind(&i)
                    .bind(&w)
                    .execute(&mut *c)
                    .await?;
                if done == 0 {
                    return Err(StoreError::not_found(Resource::Webhook));
                }
                Ok(())
            })
        })
        .await
    }

    // ---- delivery: route ----

    /// Routes up to `batch` unrouted outbox events to the webhooks subscribed to them.
    /// Returns how many events were routed (0 also when another node holds the router).
    pub async fn route_events(&self, batch: i64) -> StoreResult<usize> {
        let postgres = self.dialect() == Dialect::Postgres;
        self.write(move |c| {
            Box::pin(async move {
                if postgres {
                    let (got,): (bool,) = sql::query_as("SELECT pg_try_advisory_xact_lock($1)").bind(ROUTE_LOCK).fetch_one(&mut *c).await?;
                    if !got {
                        return Ok(0);
                    }
                }
                let events: Vec<OutboxRow> = sql::query_as(
                    "SELECT seq, id, app_id, kind, conversation_id, payload, created_at FROM events WHERE routed_at IS NULL ORDER BY seq LIMIT $1",
                )
                .bind(batch)
                .fetch_all(&mut *c)
                .await?;
                if events.is_empty() {
                    return Ok(0);
                }
                let now = now_ms();
                let mut hooks: HashMap<String, Vec<(String, WebhookDoc)>> = HashMap::new();
                let mut users: HashMap<String, Option<Value>> = HashMap::new();
                for (seq, id, app_id, kind, conversation_id, payload, created_at) in &events {
                    if !hooks.contains_key(app_id) {
                        let rows: Vec<(String, String)> =
                            sql::query_as("SELECT id, body FROM webhooks WHERE app_id = $1 ORDER BY id").bind(app_id).fetch_all(&mut *c).await?;
                        let docs = rows.into_iter().map(|(id, body)| Ok((id, from_json::<WebhookDoc>(&body)?))).collect::<StoreResult<Vec<_>>>()?;
                        hooks.insert(app_id.clone(), docs);
                    }
                    let subscribed: Vec<(String, WebhookDoc)> =
                        hooks[app_id].iter().filter(|(_, d)| d.triggers.iter().any(|t| t == kind)).cloned().collect();
                    if subscribed.is_empty() {
                        continue;
                    }
                    let payload: Value = match from_json(payload) {
                        Ok(p) => p,
                        Err(e) => {
                            tracing::error!(event = %id, error = %e, "unreadable outbox payload; not delivered");
                            continue;
                        }
                    };
                    let key = order_key(conversation_id.as_deref(), &payload);
                    let created = format_ms(*created_at);
                    for (webhook_id, doc) in subscribed {
                        let mut full = Vec::new();
                        if doc.include_full_user {
                            for uid in user_ids(&payload) {
                                if !users.contains_key(&uid) {
                                    let row: Option<(String,)> = sql::query_as("SELECT body FROM users WHERE id = $1 AND app_id = $2")
                                        .bind(&uid)
                                        .bind(app_id)
                                        .fetch_optional(&mut *c)
                                        .await?;
                                    users.insert(uid.clone(), row.and_then(|(b,)| serde_json::from_str(&b).ok()));
                                }
                                if let Some(Some(u)) = users.get(&uid) {
                                    full.push((uid.clone(), u.clone()));
                                }
                            }
                        }
                        let shaped = shape_payload(payload.clone(), &full, doc.include_full_source);
                        let body = event_object(id, kind, &created, shaped);
                        sql::query(
                            "INSERT INTO webhook_deliveries (webhook_id, app_id, event_id, event_seq, kind, order_key, body, state, attempts, next_attempt_at, created_at) \
                             VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', 0, $8, $9) ON CONFLICT (webhook_id, event_id) DO NOTHING",
                        )
                        .bind(&webhook_id)
                        .bind(app_id)
                        .bind(id)
                        .bind(*seq)
                        .bind(kind)
                        .bind(&key)
                        .bind(to_json(&body))
                        .bind(now)
                        .bind(now)
                        .execute(&mut *c)
                        .await?;
                    }
                }
                let marks: Vec<String> = (0..events.len()).map(|i| format!("${}", i + 2)).collect();
                let sql = format!("UPDATE events SET routed_at = $1 WHERE seq IN ({})", marks.join(", "));
                let mut q = sql::query(&sql).bind(now);
                for e in &events {
                    q = q.bind(e.0);
                }
                q.execute(&mut *c).await?;
                Ok(events.len())
            })
        })
        .await
    }

    // ---- delivery: claim ----

    /// Leases due deliveries to `req.owner`: per (webhook, order key) only the oldest
    /// pending one, never for a parked webhook, and within the node's room per webhook.
    pub async fn claim_deliveries(&self, req: ClaimRequest) -> StoreResult<Vec<ClaimedDelivery>> {
        let postgres = self.dialect() == Dialect::Postgres;
        let claimed: Vec<(i64, String, String, i64, String, String, String)> = self
            .write(move |c| {
                Box::pin(async move {
                    // Webhooks this node cannot take more of: full ones, and probing ones
                    // (circuit tripped) that already have their one request out.
                    let full: Vec<&String> = req.in_flight.iter().filter(|(_, n)| **n >= req.per_target).map(|(w, _)| w).collect();
                    let probing: Vec<&String> = req.in_flight.iter().filter(|(_, n)| **n > 0 && **n < req.per_target).map(|(w, _)| w).collect();
                    let mut sql = String::from(
                        "SELECT d.id, d.webhook_id, h.consecutive_failures FROM webhook_deliveries d \
                         LEFT JOIN webhook_health h ON h.webhook_id = d.webhook_id \
                         WHERE d.state = 'pending' AND d.next_attempt_at <= $1 \
                         AND (d.lease_until IS NULL OR d.lease_until < $1) \
                         AND (h.parked_until IS NULL OR h.parked_until <= $1) \
                         AND NOT EXISTS (SELECT 1 FROM webhook_deliveries e WHERE e.webhook_id = d.webhook_id \
                             AND e.order_key = d.order_key AND e.state = 'pending' AND e.event_seq < d.event_seq)",
                    );
                    let mut n = 3;
                    let mut marks = |count: usize| {
                        let m: Vec<String> = (n..n + count).map(|i| format!("${i}")).collect();
                        n += count;
                        m.join(", ")
                    };
                    if !full.is_empty() {
                        sql.push_str(&format!(" AND d.webhook_id NOT IN ({})", marks(full.len())));
                    }
                    if !probing.is_empty() {
                        let t = marks(1);
                        sql.push_str(&format!(" AND NOT (COALESCE(h.consecutive_failures, 0) >= {t} AND d.webhook_id IN ({}))", marks(probing.len())));
                    }
                    sql.push_str(" ORDER BY d.next_attempt_at, d.id LIMIT $2");
                    if postgres {
                        sql.push_str(" FOR UPDATE OF d SKIP LOCKED");
                    }
                    let mut q = sql::query_as::<(i64, String, Option<i64>)>(&sql).bind(req.now).bind(req.limit);
                    for w in &full {
                        q = q.bind(w.as_str());
                    }
                    if !probing.is_empty() {
                        q = q.bind(req.circuit_threshold);
                        for w in &probing {
                            q = q.bind(w.as_str());
                        }
                    }
                    let candidates = q.fetch_all(&mut *c).await?;
                    let mut room: HashMap<String, usize> = HashMap::new();
                    let mut chosen = Vec::new();
                    for (id, webhook_id, failures) in candidates {
                        let cap = if failures.unwrap_or(0) >= req.circuit_threshold { 1 } else { req.per_target };
                        let used = room.entry(webhook_id.clone()).or_insert_with(|| req.in_flight.get(&webhook_id).copied().unwrap_or(0));
                        if *used < cap {
                            *used += 1;
                            chosen.push(id);
                        }
                    }
                    if chosen.is_empty() {
                        return Ok(Vec::new());
                    }
                    let marks: Vec<String> = (0..chosen.len()).map(|i| format!("${}", i + 3)).collect();
                    let update = format!("UPDATE webhook_deliveries SET lease_owner = $1, lease_until = $2 WHERE id IN ({})", marks.join(", "));
                    let mut q = sql::query(&update).bind(&req.owner).bind(req.now + req.lease_ms);
                    for id in &chosen {
                        q = q.bind(*id);
                    }
                    q.execute(&mut *c).await?;
                    let marks: Vec<String> = (0..chosen.len()).map(|i| format!("${}", i + 1)).collect();
                    let select = format!(
                        "SELECT d.id, d.webhook_id, d.app_id, d.attempts, d.body, w.body, w.secret FROM webhook_deliveries d \
                         JOIN webhooks w ON w.id = d.webhook_id WHERE d.id IN ({}) ORDER BY d.id",
                        marks.join(", ")
                    );
                    let mut q = sql::query_as::<(i64, String, String, i64, String, String, String)>(&select);
                    for id in &chosen {
                        q = q.bind(*id);
                    }
                    Ok(q.fetch_all(&mut *c).await?)
                })
            })
            .await?;
        claimed
            .into_iter()
            .map(|(id, webhook_id, app_id, attempts, body, webhook_body, secret)| {
                let doc: WebhookDoc = from_json(&webhook_body)?;
                Ok(ClaimedDelivery {
                    id,
                    webhook_id,
                    app_id,
                    target: doc.target,
                    secret: self.secrets().open(&secret)?,
                    version: doc.version,
                    attempts,
                    event: from_json(&body)?,
                })
            })
            .collect()
    }

    // ---- delivery: finish ----

    /// Records an attempt and moves its delivery and its webhook's circuit.
    pub async fn finish_attempt(&self, r: AttemptRecord, circuit: CircuitPolicy) -> StoreResult<()> {
        self.write(move |c| {
            Box::pin(async move {
                let now = now_ms();
                // The webhook (and so the delivery) may have been deleted meanwhile.
                let exists: Option<(i64,)> = sql::query_as("SELECT id FROM webhook_deliveries WHERE id = $1").bind(r.delivery_id).fetch_optional(&mut *c).await?;
                if exists.is_none() {
                    return Ok(());
                }
                sql::query(
                    "INSERT INTO webhook_attempts (delivery_id, webhook_id, attempt, node, started_at, duration_ms, status, error) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(r.delivery_id)
                .bind(&r.webhook_id)
                .bind(r.attempt)
                .bind(&r.node)
                .bind(r.started_at)
                .bind(r.duration_ms)
                .bind(r.status.map(i64::from))
                .bind(&r.error)
                .execute(&mut *c)
                .await?;
                let (state, next_at, finished) = match r.verdict {
                    Verdict::Delivered => ("delivered", now, Some(now)),
                    Verdict::Failed => ("failed", now, Some(now)),
                    Verdict::Retry { at } => ("pending", at, None),
                };
                // Only a pending row moves: if our lease lapsed and another node finished
                // it meanwhile, its outcome stands.
                sql::query(
                    "UPDATE webhook_deliveries SET state = $1, attempts = $2, next_attempt_at = $3, finished_at = $4, \
                     lease_owner = NULL, lease_until = NULL, last_status = $5, last_error = $6 WHERE id = $7 AND state = 'pending'",
                )
                .bind(state)
                .bind(r.attempt)
                .bind(next_at)
                .bind(finished)
                .bind(r.status.map(i64::from))
                .bind(&r.error)
                .bind(r.delivery_id)
                .execute(&mut *c)
                .await?;
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
                let expired = sql::query(
                    "UPDATE webhook_deliveries SET state = 'failed', finished_at = $1, last_error = 'expired: not delivered in time', \
                     lease_owner = NULL, lease_until = NULL WHERE state = 'pending' AND created_at < $2 AND (lease_until IS NULL OR lease_until < $1)",
                )
                .bind(now)
                .bind(expire_before)
                .execute(&mut *c)
                .await?;
                let doomed = "SELECT id FROM webhook_deliveries WHERE state <> 'pending' AND finished_at < $1 ORDER BY finished_at LIMIT 5000";
                sql::query(&format!("DELETE FROM webhook_attempts WHERE delivery_id IN ({doomed})")).bind(forget_before).execute(&mut *c).await?;
                let forgotten = sql::query(&format!("DELETE FROM webhook_deliveries WHERE id IN ({doomed})")).bind(forget_before).execute(&mut *c).await?;
                Ok((expired, forgotten))
            })
        })
        .await
    }

    // ---- delivery: what operators see ----

    /// Outbox events not yet routed to webhooks (the router's backlog).
    pub async fn unrouted_events(&self) -> StoreResult<i64> {
        let (n,): (i64,) = sql::query_as("SELECT COUNT(*) FROM events WHERE routed_at IS NULL").fetch_one(self.reader()).await?;
        Ok(n)
    }

    /// Every webhook (of one app, or all) with its delivery counts and health.
    pub async fn webhook_statuses(&self, app_id: Option<&str>) -> StoreResult<Vec<WebhookStatus>> {
        let sql = format!(
            "SELECT w.id, w.app_id, w.integration_id, w.body, \
               (SELECT COUNT(*) FROM webhook_deliveries d WHERE d.webhook_id = w.id AND d.state = 'pending') AS pending, \
               (SELECT COUNT(*) FROM webhook_deliveries d WHERE d.webhook_id = w.id AND d.state = 'delivered') AS delivered, \
               (SELECT COUNT(*) FROM webhook_deliveries d WHERE d.webhook_id = w.id AND d.state = 'failed') AS failed, \
               h.consecutive_failures, h.parked_until, h.last_error, h.last_error_at, h.last_success_at \
             FROM webhooks w LEFT JOIN webhook_health h ON h.webhook_id = w.id {} ORDER BY w.app_id, w.id",
            if app_id.is_some() { "WHERE w.app_id = $1" } else { "" }
        );
        let mut q = sql::query(&sql);
        if let Some(a) = app_id {
            q = q.bind(a);
        }
        let rows = q.fetch_all(self.reader()).await?;
        let time = |v: Option<i64>| v.map(format_ms);
        rows.iter()
            .map(|r| {
                let doc: WebhookDoc = from_json(&r.try_get::<String, _>("body")?)?;
                Ok(WebhookStatus {
                    webhook_id: r.try_get("id")?,
                    app_id: r.try_get("app_id")?,
                    integration_id: r.try_get("integration_id")?,
                    target: doc.target,
                    pending: r.try_get("pending")?,
                    delivered: r.try_get("delivered")?,
                    failed: r.try_get("failed")?,
                    consecutive_failures: r.try_get::<Option<i64>, _>("consecutive_failures")?.unwrap_or(0),
                    parked_until: time(r.try_get("parked_until")?),
                    last_error: r.try_get("last_error")?,
                    last_error_at: time(r.try_get("last_error_at")?),
                    last_success_at: time(r.try_get("last_success_at")?),
                })
            })
            .collect()
    }

    /// The latest attempts made for a webhook, newest first.
    pub async fn webhook_attempts(&self, webhook_id: &str, limit: i64) -> StoreResult<Vec<AttemptView>> {
        let rows = sql::query(
            "SELECT a.delivery_id, d.event_id, d.kind, a.attempt, a.node, a.started_at, a.duration_ms, a.status, a.error, d.state \
             FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id WHERE a.webhook_id = $1 ORDER BY a.id DESC LIMIT $2",
        )
        .bind(webhook_id)
        .bind(limit)
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AttemptView {
                    delivery_id: r.try_get("delivery_id")?,
                    event_id: r.try_get("event_id")?,
                    trigger: r.try_get("kind")?,
                    attempt: r.try_get("attempt")?,
                    node: r.try_get("node")?,
                    started_at: format_ms(r.try_get("started_at")?),
                    duration_ms: r.try_get("duration_ms")?,
                    status: r.try_get("status")?,
                    error: r.try_get("error")?,
                    state: r.try_get("state")?,
                })
            })
            .collect()
    }
}
