//! Webhooks (CRUD) and the durable state of their delivery.
//!
//! Delivery in three steps, each one transaction:
//! 1. **route**: outbox events not yet routed (`events.routed_at IS NULL`) become one
//!    `webhook_deliveries` row per subscribed webhook, shaped for it, and are marked
//!    routed. On PostgreSQL one node routes at a time (a transaction-scoped advisory lock);
//!    marking rows rather than advancing a cursor means an event whose transaction
//!    commits late is still found.
//! 2. **claim**: due deliveries are leased to a node (`lease_owner`, `lease_until`) in
//!    batches, one request each: up to `max_batch` deliveries of one webhook, and per
//!    (webhook, order key) line a run of consecutive deliveries from the line's oldest
//!    pending one, the line in one batch at a time; only as many batches per webhook as
//!    the node has room for; on PostgreSQL the chosen rows are locked with `FOR UPDATE
//!    SKIP LOCKED`, so nodes never take the same row. An expired lease (a node died)
//!    makes the row claimable again.
//! 3. **finish**: one transaction per batch: an attempt row per delivery, each delivery
//!    delivered, failed or pending again with its next time, and the webhook's health
//!    (the circuit) moved once for the request.
//!
//! The invariant claiming relies on: in each line, the deliveries no longer pending form
//! a prefix (a delivery is sent only after or together with every earlier one of its
//! line, the earlier ones of a batch never finish later, and expiry goes oldest first).
//! So "no pending delivery before this one" is one index probe (its predecessor is not
//! pending) rather than a scan of the line's history.

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

/// Deliveries of one webhook leased to this node, to be sent together in one request.
#[derive(Debug, Clone)]
pub struct ClaimedBatch {
    pub webhook_id: String,
    pub app_id: String,
    pub target: String,
    pub secret: String,
    pub version: String,
    /// In event order (`event_seq`), so each conversation's events are in its order.
    pub deliveries: Vec<ClaimedDelivery>,
}

/// One delivery of a claimed batch.
#[derive(Debug, Clone)]
pub struct ClaimedDelivery {
    pub id: i64,
    /// Attempts made before this one.
    pub attempts: i64,
    pub event_seq: i64,
    /// The delivery's order line within its webhook (conversation, else user), if any.
    pub order_key: Option<String>,
    /// The event object (`{id, type, createdAt, payload}`) as JSON text, shaped for the
    /// webhook at routing.
    pub event: String,
}

/// What one routing transaction did.
#[derive(Debug, Clone, Default)]
pub struct Routed {
    /// Outbox events marked routed.
    pub events: usize,
    /// The webhooks that got deliveries.
    pub webhooks: Vec<String>,
}

/// What a claim may take.
#[derive(Debug, Clone)]
pub struct ClaimRequest {
    pub owner: String,
    pub now: i64,
    pub lease_ms: i64,
    /// At most this many batches (requests) in all.
    pub limit: i64,
    /// Batches (requests) this node is sending now, per webhook.
    pub in_flight: HashMap<String, usize>,
    /// At most this many batches in flight per webhook on this node…
    pub per_target: usize,
    /// …of at most this many deliveries each…
    pub max_batch: usize,
    /// …and one batch of one delivery (a probe) while the webhook has failed this many
    /// times in a row.
    pub circuit_threshold: i64,
}

/// Where a delivery goes after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Delivered,
    Retry { at: i64 },
    Failed,
}

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

/// A delivery row about to be inserted by routing.
struct NewDelivery<'a> {
    webhook_id: String,
    app_id: &'a str,
    event_id: &'a str,
    event_seq: i64,
    kind: &'a str,
    order_key: Option<String>,
    body: String,
}

/// Inserts routed deliveries, several rows per statement (one round trip each on
/// PostgreSQL). Chunks have power-of-two sizes so few statement texts exist to prepare.
async fn insert_deliveries(c: &mut Tx<'_>, rows: &[NewDelivery<'_>], now: i64) -> StoreResult<()> {
    const COLUMNS: usize = 7;
    let mut rest = rows;
    while !rest.is_empty() {
        let n = if rest.len() >= 64 { 64 } else { 1 << (usize::BITS - 1 - rest.len().leading_zeros()) };
        let (chunk, tail) = rest.split_at(n);
        let values: Vec<String> = (0..n)
            .map(|i| {
                let b = 2 + i * COLUMNS;
                format!("(${}, ${}, ${}, ${}, ${}, ${}, ${}, 'pending', 0, $1, $2)", b + 1, b + 2, b + 3, b + 4, b + 5, b + 6, b + 7)
            })
            .collect();
        let insert = format!(
            "INSERT INTO webhook_deliveries (webhook_id, app_id, event_id, event_seq, kind, order_key, body, state, attempts, next_attempt_at, created_at) \
             VALUES {} ON CONFLICT (webhook_id, event_id) DO NOTHING",
            values.join(", ")
        );
        let mut q = sql::query(&insert).bind(now).bind(now);
        for r in chunk {
            q = q.bind(&r.webhook_id).bind(r.app_id).bind(r.event_id).bind(r.event_seq).bind(r.kind).bind(&r.order_key).bind(&r.body);
        }
        q.execute(&mut *c).await?;
        rest = tail;
    }
    Ok(())
}

/// The text of `event_object(id, kind, created_at, payload)` around a payload that is
/// already JSON text, so it need not be parsed and printed again.
fn event_text(id: &str, kind: &str, created_at: &str, payload: &str) -> String {
    let quote = |s: &str| serde_json::to_string(s).expect("strings serialize");
    format!("{{\"id\":{},\"type\":{},\"createdAt\":{},\"payload\":{payload}}}", quote(id), quote(kind), quote(created_at))
}

/// A claim candidate: id, webhook_id, order_key, event_seq, the webhook's consecutive
/// failures, and the id and state of the delivery before it in its line.
type Candidate = (i64, String, Option<String>, i64, Option<i64>, Option<i64>, Option<String>);

/// Chooses what to lease from `candidates` (oldest due first): per line, the run of
/// consecutive deliveries that starts at the line's oldest pending one; lines fill their
/// webhook's batches in the order they first appear, and a line goes into one batch (its
/// run cut to what fits). Returns (webhook, delivery ids) per batch.
/// A batch chosen by a claim: per line, its run of delivery ids in event order.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Planned {
    webhook_id: String,
    runs: Vec<Vec<i64>>,
}

impl Planned {
    fn len(&self) -> usize {
        self.runs.iter().map(Vec::len).sum()
    }

    fn ids(&self) -> impl Iterator<Item = i64> + '_ {
        self.runs.iter().flatten().copied()
    }
}

/// The most claim candidates looked at in one claim.
const MAX_WINDOW: usize = 4000;

/// Also says whether more could have been taken from more candidates: room left in the
/// request limit and, for a webhook seen, in its batches.
fn plan_batches(candidates: &[Candidate], req: &ClaimRequest, max_batch: usize) -> (Vec<Planned>, bool) {
    // Lines in order of first appearance; a delivery without an order key is a line alone.
    let mut lines: Vec<(&str, i64, Vec<&Candidate>)> = Vec::new();
    let mut by_key: HashMap<(&str, &str), usize> = HashMap::new();
    for c in candidates {
        match c.2.as_deref() {
            Some(key) => match by_key.get(&(c.1.as_str(), key)) {
                Some(&i) => lines[i].2.push(c),
                None => {
                    by_key.insert((c.1.as_str(), key), lines.len());
                    lines.push((c.1.as_str(), c.4.unwrap_or(0), vec![c]));
                }
            },
            None => lines.push((c.1.as_str(), c.4.unwrap_or(0), vec![c])),
        }
    }
    let mut batches: Vec<Planned> = Vec::new();
    // Per webhook: its batch being filled, how many more it may open, its batch size.
    let mut webhooks: HashMap<&str, (Option<usize>, usize, usize)> = HashMap::new();
    for (webhook_id, failures, mut line) in lines {
        line.sort_by_key(|c| c.3);
        // The run: the first must follow a finished delivery (or none), each next one the
        // one before it.
        let mut run: Vec<i64> = Vec::new();
        for c in &line {
            let follows = match run.last() {
                None => c.5.is_none() || c.6.as_deref() != Some("pending"),
                Some(prev) => c.5 == Some(*prev),
            };
            if !follows {
                break;
            }
            run.push(c.0);
        }
        let state = webhooks.entry(webhook_id).or_insert_with(|| {
            let busy = req.in_flight.get(webhook_id).copied().unwrap_or(0);
            if failures >= req.circuit_threshold {
                // A tripped circuit: one probe of one delivery, when nothing is out.
                (None, usize::from(busy == 0), 1)
            } else {
                (None, req.per_target.saturating_sub(busy), max_batch)
            }
        });
        if run.is_empty() {
            continue;
        }
        let open = match state.0 {
            Some(i) if batches[i].len() < state.2 => Some(i),
            _ if state.1 > 0 && (batches.len() as i64) < req.limit => {
                state.1 -= 1;
                batches.push(Planned { webhook_id: webhook_id.to_string(), runs: Vec::new() });
                state.0 = Some(batches.len() - 1);
                state.0
            }
            _ => None,
        };
        if let Some(i) = open {
            let room = state.2 - batches[i].len();
            batches[i].runs.push(run.into_iter().take(room).collect());
        }
    }
    let room_left = (batches.len() as i64) < req.limit
        && webhooks.values().any(|(open, more, size)| *more > 0 || open.is_some_and(|i| batches[i].len() < *size));
    (batches, room_left)
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

    /// UpdateWebhook: reads the webhook under a row lock, applies `apply` to it and
    /// writes the result, in one transaction, so concurrent updates each start from the
    /// other's result instead of losing it.
    pub async fn update_webhook<F>(&self, app_id: &str, integration_id: &str, webhook_id: &str, apply: F) -> StoreResult<Webhook>
    where
        F: FnOnce(&Webhook) -> crate::domain::error::DomainResult<Webhook> + Send + 'static,
    {
        let (store, a, i, w) = (self.clone(), app_id.to_string(), integration_id.to_string(), webhook_id.to_string());
        self.write(move |c| {
            Box::pin(async move {
                if integration_kind_tx(c, &a, &i).await? != "custom" {
                    return Err(webhooks_only_for_custom());
                }
                if !is_id(&w) {
                    return Err(StoreError::not_found(Resource::Webhook));
                }
                let row = sql::query(format!("SELECT id, body, secret FROM webhooks WHERE app_id = $1 AND integration_id = $2 AND id = $3{}", c.for_update()))
                    .bind(&a)
                    .bind(&i)
                    .bind(&w)
                    .fetch_optional(&mut *c)
                    .await?;
                let current = match row {
                    Some(r) => store.webhook_from_row(&r)?,
                    None => return Err(StoreError::not_found(Resource::Webhook)),
                };
                let next = Webhook { id: current.id.clone(), ..apply(&current)? };
                sql::query("UPDATE webhooks SET body = $1 WHERE id = $2").bind(to_json(&next.doc())).bind(&next.id).execute(&mut *c).await?;
                Ok(next)
            })
        })
        .await
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
    /// Says how many events were routed (0 also when another node holds the router) and
    /// which webhooks got deliveries.
    pub async fn route_events(&self, batch: i64) -> StoreResult<Routed> {
        let postgres = self.dialect() == Dialect::Postgres;
        self.write(move |c| {
            Box::pin(async move {
                if postgres {
                    let (got,): (bool,) = sql::query_as("SELECT pg_try_advisory_xact_lock($1)").bind(ROUTE_LOCK).fetch_one(&mut *c).await?;
                    if !got {
                        return Ok(Routed::default());
                    }
                }
                let events: Vec<OutboxRow> = sql::query_as(
                    "SELECT seq, id, app_id, kind, conversation_id, payload, created_at FROM events WHERE routed_at IS NULL ORDER BY seq LIMIT $1",
                )
                .bind(batch)
                .fetch_all(&mut *c)
                .await?;
                if events.is_empty() {
                    return Ok(Routed::default());
                }
                let now = now_ms();
                let mut hooks: HashMap<String, Vec<(String, WebhookDoc)>> = HashMap::new();
                let mut users: HashMap<String, Option<Value>> = HashMap::new();
                let mut targets: Vec<String> = Vec::new();
                let mut rows: Vec<NewDelivery> = Vec::new();
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
                    // The payload is parsed only when something needs it: a key from a
                    // user, a full user, a source to trim. Otherwise the stored text goes
                    // into the event as it is (checked to be JSON, without building it).
                    let mut parsed: Option<Value> = None;
                    let readable = match conversation_id {
                        Some(_) => serde_json::from_str::<serde::de::IgnoredAny>(payload).map(|_| ()).map_err(|e| e.to_string()),
                        None => from_json::<Value>(payload).map(|v| parsed = Some(v)).map_err(|e| e.to_string()),
                    };
                    if let Err(e) = readable {
                        tracing::error!(event = %id, error = %e, "unreadable outbox payload; not delivered");
                        continue;
                    }
                    let key = match (conversation_id.as_deref(), &parsed) {
                        (Some(c), _) => order_key(Some(c), &Value::Null),
                        (None, Some(p)) => order_key(None, p),
                        (None, None) => None,
                    };
                    let created = format_ms(*created_at);
                    let has_source_details = payload.contains("\"client\"") || payload.contains("\"device\"");
                    for (webhook_id, doc) in subscribed {
                        if !targets.contains(&webhook_id) {
                            targets.push(webhook_id.clone());
                        }
                        let event_text = if !doc.include_full_user && (doc.include_full_source || !has_source_details) {
                            event_text(id, kind, &created, payload)
                        } else {
                            if parsed.is_none() {
                                parsed = Some(from_json(payload)?);
                            }
                            let payload = parsed.as_ref().expect("parsed above");
                            let mut full = Vec::new();
                            if doc.include_full_user {
                                for uid in user_ids(payload) {
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
                            to_json(&event_object(id, kind, &created, shaped))
                        };
                        rows.push(NewDelivery { webhook_id, app_id, event_id: id, event_seq: *seq, kind, order_key: key.clone(), body: event_text });
                    }
                }
                insert_deliveries(c, &rows, now).await?;
                let marks: Vec<String> = (0..events.len()).map(|i| format!("${}", i + 2)).collect();
                let sql = format!("UPDATE events SET routed_at = $1 WHERE seq IN ({})", marks.join(", "));
                let mut q = sql::query(&sql).bind(now);
                for e in &events {
                    q = q.bind(e.0);
                }
                q.execute(&mut *c).await?;
                Ok(Routed { events: events.len(), webhooks: targets })
            })
        })
        .await
    }

    // ---- delivery: claim ----

    /// Leases due deliveries to `req.owner`, grouped into batches (one request each) of
    /// one webhook. Per (webhook, order key) line, a batch takes a run of consecutive
    /// pending deliveries starting at the line's oldest pending one, in event order, and a
    /// line is in at most one batch at a time; never for a parked webhook; within the
    /// node's room per webhook.
    ///
    /// A line's finished deliveries always form a prefix of it (a delivery is sent only
    /// after, or together with, every earlier one of its line, and earlier ones of a batch
    /// never finish later), so a delivery whose immediate predecessor in its line is not
    /// pending has no pending predecessor at all: one index probe instead of a scan of the
    /// line's history.
    pub async fn claim_deliveries(&self, req: ClaimRequest) -> StoreResult<Vec<ClaimedBatch>> {
        let postgres = self.dialect() == Dialect::Postgres;
        type Leased = (Vec<(String, String, String, String)>, Vec<(String, Vec<(i64, i64, i64, Option<String>, String)>)>);
        let (hooks, batches): Leased = self
            .write(move |c| {
                Box::pin(async move {
                    let max_batch = req.max_batch.max(1);
                    // Webhooks this node cannot take more of: full ones, and probing ones
                    // (circuit tripped) that already have their one request out.
                    let full: Vec<&String> = req.in_flight.iter().filter(|(_, n)| **n >= req.per_target).map(|(w, _)| w).collect();
                    let probing: Vec<&String> = req.in_flight.iter().filter(|(_, n)| **n > 0 && **n < req.per_target).map(|(w, _)| w).collect();
                    // Candidates: due, unleased, not parked, whose predecessor in the line
                    // is finished or could travel in the same batch, and whose line has no
                    // delivery waiting for a retry (those rows are few: the due-time index
                    // finds them; without this, a line held up by a retry would fill the
                    // window with deliveries that cannot go).
                    let mut sql = String::from(
                        "SELECT d.id, d.webhook_id, d.order_key, d.event_seq, h.consecutive_failures, p.id AS prev_id, p.state AS prev_state \
                         FROM webhook_deliveries d \
                         LEFT JOIN webhook_health h ON h.webhook_id = d.webhook_id \
                         LEFT JOIN webhook_deliveries p ON p.id = (SELECT e.id FROM webhook_deliveries e WHERE e.webhook_id = d.webhook_id \
                             AND e.order_key = d.order_key AND e.event_seq < d.event_seq ORDER BY e.event_seq DESC LIMIT 1) \
                         WHERE d.state = 'pending' AND d.next_attempt_at <= $1 \
                         AND (d.lease_until IS NULL OR d.lease_until < $1) \
                         AND (h.parked_until IS NULL OR h.parked_until <= $1) \
                         AND (p.id IS NULL OR p.state <> 'pending' OR (p.next_attempt_at <= $1 AND (p.lease_until IS NULL OR p.lease_until < $1))) \
                         AND (d.order_key IS NULL OR d.webhook_id || ' ' || d.order_key NOT IN (SELECT b.webhook_id || ' ' || b.order_key \
                             FROM webhook_deliveries b WHERE b.state = 'pending' AND b.next_attempt_at > $1 AND b.order_key IS NOT NULL))",
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
                    // A window of the oldest candidates, widened while it was too narrow to
                    // fill what there is room for (deliveries queued behind those in flight
                    // come first and are not eligible).
                    let mut window = (max_batch * 4).clamp(64, MAX_WINDOW);
                    let chosen = loop {
                        let mut q = sql::query_as::<Candidate>(&sql).bind(req.now).bind(window as i64);
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
                        let (chosen, room_left) = plan_batches(&candidates, &req, max_batch);
                        if !room_left || candidates.len() < window || window >= MAX_WINDOW {
                            break chosen;
                        }
                        window = (window * 4).min(MAX_WINDOW);
                    };
                    let mut chosen = chosen;
                    if postgres && !chosen.is_empty() {
                        // Other nodes claim too. Lock what was chosen, skipping rows another
                        // node holds or took since the candidates were read; a line keeps
                        // only its run up to the first row not locked (none, if that is its
                        // first), so it is never sent from two places.
                        let ids: Vec<i64> = chosen.iter().flat_map(Planned::ids).collect();
                        let marks: Vec<String> = (0..ids.len()).map(|i| format!("${}", i + 2)).collect();
                        let lock = format!(
                            "SELECT id FROM webhook_deliveries WHERE id IN ({}) AND state = 'pending' \
                             AND (lease_until IS NULL OR lease_until < $1) FOR UPDATE SKIP LOCKED",
                            marks.join(", ")
                        );
                        let mut q = sql::query_as::<(i64,)>(&lock).bind(req.now);
                        for id in &ids {
                            q = q.bind(*id);
                        }
                        let locked: std::collections::HashSet<i64> = q.fetch_all(&mut *c).await?.into_iter().map(|(id,)| id).collect();
                        for b in &mut chosen {
                            for run in &mut b.runs {
                                let keep = run.iter().take_while(|id| locked.contains(id)).count();
                                run.truncate(keep);
                            }
                            b.runs.retain(|r| !r.is_empty());
                        }
                        chosen.retain(|b| !b.runs.is_empty());
                    }
                    if chosen.is_empty() {
                        return Ok((Vec::new(), Vec::new()));
                    }
                    let ids: Vec<i64> = chosen.iter().flat_map(Planned::ids).collect();
                    let marks: Vec<String> = (0..ids.len()).map(|i| format!("${}", i + 3)).collect();
                    let update = format!(
                        "UPDATE webhook_deliveries SET lease_owner = $1, lease_until = $2 WHERE id IN ({}) \
                         RETURNING id, attempts, event_seq, order_key, body",
                        marks.join(", ")
                    );
                    let mut q = sql::query_as::<(i64, i64, i64, Option<String>, String)>(&update).bind(&req.owner).bind(req.now + req.lease_ms);
                    for id in &ids {
                        q = q.bind(*id);
                    }
                    let mut rows: HashMap<i64, (i64, i64, i64, Option<String>, String)> = q.fetch_all(&mut *c).await?.into_iter().map(|r| (r.0, r)).collect();
                    let webhook_ids: Vec<&String> = {
                        let mut w: Vec<&String> = chosen.iter().map(|b| &b.webhook_id).collect();
                        w.sort();
                        w.dedup();
                        w
                    };
                    let marks: Vec<String> = (0..webhook_ids.len()).map(|i| format!("${}", i + 1)).collect();
                    let select = format!("SELECT id, app_id, body, secret FROM webhooks WHERE id IN ({})", marks.join(", "));
                    let mut q = sql::query_as::<(String, String, String, String)>(&select);
                    for w in &webhook_ids {
                        q = q.bind(w.as_str());
                    }
                    let hooks = q.fetch_all(&mut *c).await?;
                    let batches = chosen
                        .into_iter()
                        .map(|b| {
                            let mut ds: Vec<_> = b.ids().filter_map(|id| rows.remove(&id)).collect();
                            ds.sort_by_key(|d| d.2);
                            (b.webhook_id, ds)
                        })
                        .collect();
                    Ok((hooks, batches))
                })
            })
            .await?;
        let mut webhooks: HashMap<String, (String, WebhookDoc, String)> = HashMap::new();
        for (id, app_id, body, secret) in hooks {
            let doc: WebhookDoc = from_json(&body)?;
            webhooks.insert(id, (app_id, doc, self.secrets().open(&secret)?));
        }
        let mut out = Vec::with_capacity(batches.len());
        for (webhook_id, ds) in batches {
            // The webhook was deleted in the meantime: its deliveries went with it.
            let Some((app_id, doc, secret)) = webhooks.get(&webhook_id) else { continue };
            if ds.is_empty() {
                continue;
            }
            out.push(ClaimedBatch {
                webhook_id,
                app_id: app_id.clone(),
                target: doc.target.clone(),
                secret: secret.clone(),
                version: doc.version.clone(),
                deliveries: ds
                    .into_iter()
                    .map(|(id, attempts, event_seq, order_key, event)| ClaimedDelivery { id, attempts, event_seq, order_key, event })
                    .collect(),
            });
        }
        Ok(out)
    }

    // ---- delivery: finish ----

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
                let marks: Vec<String> = (0..r.deliveries.len()).map(|i| format!("${}", i + 6)).collect();
                let insert = format!(
                    "INSERT INTO webhook_attempts (delivery_id, webhook_id, attempt, node, started_at, duration_ms, status, error) \
                     SELECT id, webhook_id, attempts + 1, $1, $2, $3, $4, $5 FROM webhook_deliveries WHERE id IN ({})",
                    marks.join(", ")
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
                    let marks: Vec<String> = (0..ids.len()).map(|i| format!("${}", i + 6)).collect();
                    let update = format!(
                        "UPDATE webhook_deliveries SET state = $1, attempts = attempts + 1, next_attempt_at = $2, finished_at = $3, \
                         lease_owner = NULL, lease_until = NULL, last_status = $4, last_error = $5 WHERE id IN ({}) AND state = 'pending'",
                        marks.join(", ")
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
                    let marks: Vec<String> = (0..ids.len()).map(|i| format!("${}", i + 2)).collect();
                    let update = format!(
                        "UPDATE webhook_deliveries SET state = 'failed', finished_at = $1, last_error = 'expired: not delivered in time', \
                         lease_owner = NULL, lease_until = NULL WHERE id IN ({}) AND state = 'pending'",
                        marks.join(", ")
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::webhook::event_object;
    use serde_json::json;

    fn req(limit: i64, per_target: usize, in_flight: &[(&str, usize)]) -> ClaimRequest {
        ClaimRequest {
            owner: "n".into(),
            now: 0,
            lease_ms: 1,
            limit,
            in_flight: in_flight.iter().map(|(w, n)| (w.to_string(), *n)).collect(),
            per_target,
            max_batch: 3,
            circuit_threshold: 10,
        }
    }

    fn flat(batches: &[Planned]) -> Vec<(&str, Vec<i64>)> {
        batches.iter().map(|b| (b.webhook_id.as_str(), b.ids().collect())).collect()
    }

    /// (id, webhook, key, seq, prev id, prev state)
    fn cand(id: i64, w: &str, key: Option<&str>, seq: i64, prev: Option<(i64, &str)>) -> Candidate {
        (id, w.into(), key.map(str::to_string), seq, None, prev.map(|p| p.0), prev.map(|p| p.1.to_string()))
    }

    #[test]
    fn a_line_goes_in_one_batch_from_its_oldest_pending_delivery_in_order() {
        let cands = vec![
            cand(3, "w", Some("c:a"), 30, Some((2, "pending"))), // after 2, which is not a candidate
            cand(10, "w", Some("c:b"), 11, Some((9, "delivered"))),
            cand(12, "w", Some("c:b"), 13, Some((10, "pending"))),
            cand(11, "w", Some("c:c"), 12, None),
            cand(14, "w", Some("c:b"), 15, Some((12, "pending"))),
            cand(15, "w", Some("c:b"), 16, Some((14, "pending"))),
            cand(16, "w", None, 17, None),
        ];
        let (batches, room_left) = plan_batches(&cands, &req(10, 4, &[]), 3);
        // b's run (10, 12, 14, 15) is cut to the batch size; c and the unordered one fill the next.
        assert_eq!(flat(&batches), vec![("w", vec![10, 12, 14]), ("w", vec![11, 16])]);
        assert_eq!(batches[1].runs, vec![vec![11], vec![16]], "one run per line");
        assert!(room_left);
    }

    #[test]
    fn a_run_stops_at_a_gap_and_webhooks_keep_to_their_room() {
        let cands = vec![
            cand(1, "w", Some("c:a"), 1, None),
            cand(3, "w", Some("c:a"), 3, Some((2, "pending"))), // 2 is in flight: a gap
            cand(4, "x", Some("c:a"), 4, None),
            cand(5, "x", Some("c:b"), 5, None),
            cand(6, "y", Some("c:a"), 6, None),
        ];
        // w has 3 of 4 requests out, x all 4; the limit allows two batches in all.
        let (batches, room_left) = plan_batches(&cands, &req(2, 4, &[("w", 3), ("x", 4)]), 3);
        assert_eq!(flat(&batches), vec![("w", vec![1]), ("y", vec![6])]);
        assert!(!room_left, "the limit is reached");
    }

    #[test]
    fn a_tripped_circuit_sends_one_delivery_when_nothing_is_out() {
        let mut tripped = cand(1, "w", Some("c:a"), 1, None);
        tripped.4 = Some(10);
        let mut next = cand(2, "w", Some("c:a"), 2, Some((1, "pending")));
        next.4 = Some(10);
        let (batches, _) = plan_batches(&[tripped.clone(), next.clone()], &req(10, 4, &[]), 3);
        assert_eq!(flat(&batches), vec![("w", vec![1])]);
        let (batches, _) = plan_batches(&[tripped, next], &req(10, 4, &[("w", 1)]), 3);
        assert!(batches.is_empty());
    }

    #[test]
    fn the_event_text_is_the_event_object() {
        let payload = json!({"conversation": {"id": "c"}, "message": {"content": {"text": "a \"b\" ü"}}});
        let text = event_text("e\"1", "conversation:message", "2026-01-01T00:00:00.000Z", &to_json(&payload));
        let parsed: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed, event_object("e\"1", "conversation:message", "2026-01-01T00:00:00.000Z", payload));
    }
}
