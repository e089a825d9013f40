//! Routing: outbox events not yet routed (`events.routed_at IS NULL`) become one
//! `webhook_deliveries` row per subscribed webhook, each rendered for its webhook by
//! [`crate::wire::webhook`], and are marked routed.
//!
//! Reading and rendering happen on the read side, before the write: on SQLite the one
//! writer thread then only inserts ready rows, instead of parsing and printing every
//! payload while every other request waits. What another writer changes meanwhile is
//! harmless: deliveries are unique per (webhook, event) (`ON CONFLICT DO NOTHING`), rows for
//! a webhook deleted since are dropped, and only events still unrouted are marked.

use std::collections::{BTreeSet, HashMap};

use super::super::events::{decode_rows, EventRow, EVENT_COLUMNS};
use super::super::rows::from_json;
use super::super::sql::{self, Tx};
use super::super::switchboards::routing;
use super::super::{Dialect, Store, StoreResult};
use crate::domain::time::{format_ms, now_ms};
use crate::domain::switchboard::Routing;
use crate::domain::user::User;
use crate::domain::webhook::WebhookDoc;
use crate::wire::webhook::{event_object, payload, Shaping};

/// Serialises routing between the nodes of a PostgreSQL cluster.
const ROUTE_LOCK: i64 = 0x0053_756e_6265_616e;

/// Deliveries inserted per statement, at most (a power of two).
const INSERT_CHUNK: usize = 64;

/// What one routing transaction did.
#[derive(Debug, Clone, Default)]
pub struct Routed {
    /// Outbox events marked routed.
    pub events: usize,
    /// The webhooks that got deliveries.
    pub webhooks: Vec<String>,
}

/// A delivery row about to be inserted by routing.
struct NewDelivery {
    webhook_id: String,
    app_id: String,
    event_id: String,
    event_seq: i64,
    kind: &'static str,
    order_key: Option<String>,
    /// The event object rendered for this webhook, as JSON text.
    body: String,
}

/// Inserts routed deliveries, several rows per statement (one round trip each on
/// PostgreSQL). Chunks have power-of-two sizes so few statement texts exist to prepare.
async fn insert_deliveries(c: &mut Tx<'_>, rows: &[NewDelivery], now: i64) -> StoreResult<()> {
    const COLUMNS: usize = 7;
    let mut rest = rows;
    while !rest.is_empty() {
        let n = if rest.len() >= INSERT_CHUNK { INSERT_CHUNK } else { 1 << (usize::BITS - 1 - rest.len().leading_zeros()) };
        let (chunk, tail) = rest.split_at(n);
        let values: Vec<String> = (0..n).map(|i| format!("({}, 'pending', 0, $1, $2)", sql::placeholders(3 + i * COLUMNS, COLUMNS))).collect();
        let insert = format!(
            "INSERT INTO webhook_deliveries (webhook_id, app_id, event_id, event_seq, kind, order_key, body, state, attempts, next_attempt_at, created_at) \
             VALUES {} ON CONFLICT (webhook_id, event_id) DO NOTHING",
            values.join(", ")
        );
        let mut q = sql::query(&insert).bind(now).bind(now);
        for r in chunk {
            q = q.bind(&r.webhook_id).bind(&r.app_id).bind(&r.event_id).bind(r.event_seq).bind(r.kind).bind(&r.order_key).bind(&r.body);
        }
        q.execute(&mut *c).await?;
        rest = tail;
    }
    Ok(())
}

impl Store {
    /// Routes up to `batch` unrouted outbox events to the webhooks subscribed to them.
    /// Says how many events were routed (0 also when another node holds the router) and
    /// which webhooks got deliveries.
    pub async fn route_events(&self, batch: i64) -> StoreResult<Routed> {
        let rows: Vec<EventRow> = sql::query_as(format!("SELECT {EVENT_COLUMNS} FROM events WHERE routed_at IS NULL ORDER BY seq LIMIT $1"))
            .bind(batch)
            .fetch_all(self.reader())
            .await?;
        if rows.is_empty() {
            return Ok(Routed::default());
        }
        // Every row read is marked, even one that cannot be decoded (it is logged): it
        // would never become readable by waiting.
        let seqs: Vec<i64> = rows.iter().map(|r| r.0).collect();

        let mut hooks: HashMap<String, Vec<(String, WebhookDoc)>> = HashMap::new();
        // Each webhook's integration, and each app's switchboard gating (`None`: no enabled
        // switchboard). The gating is configuration, read now: a switchboard disabled or an
        // integration unlinked since the event reaches everyone at once, as the spec says.
        // Who was in control is not: the event carries it (see `ConversationRef::control`).
        let mut integration_of: HashMap<String, String> = HashMap::new();
        let mut gating: HashMap<String, Option<Routing>> = HashMap::new();
        for app_id in rows.iter().map(|r| r.2.as_str()).collect::<BTreeSet<_>>() {
            let hook_rows: Vec<(String, String, String)> =
                sql::query_as("SELECT id, integration_id, body FROM webhooks WHERE app_id = $1 ORDER BY id").bind(app_id).fetch_all(self.reader()).await?;
            if hook_rows.is_empty() {
                continue;
            }
            let docs = hook_rows
                .into_iter()
                .map(|(id, integration, body)| {
                    integration_of.insert(id.clone(), integration);
                    Ok((id, from_json::<WebhookDoc>(&body)?))
                })
                .collect::<StoreResult<Vec<_>>>()?;
            hooks.insert(app_id.to_string(), docs);
            gating.insert(app_id.to_string(), routing(self, app_id).await?);
        }
        // Only the events of apps with webhooks are decoded and rendered; the others are
        // just marked routed.
        let events = decode_rows(rows.into_iter().filter(|r| hooks.contains_key(&r.2)).collect());

        let mut users: HashMap<String, User> = HashMap::new();
        let mut deliveries: Vec<NewDelivery> = Vec::new();
        for e in &events {
            let trigger = e.trigger();
            let gate = e.event.gated_conversation().and_then(|c| gating[&e.app_id].as_ref().map(|r| (r, c.control.active_id())));
            let subscribed: Vec<&(String, WebhookDoc)> = hooks[&e.app_id]
                .iter()
                .filter(|(id, d)| d.triggers.contains(&trigger) && gate.is_none_or(|(r, active)| r.delivers(&integration_of[id], active)))
                .collect();
            if subscribed.is_empty() {
                continue;
            }
            if subscribed.iter().any(|(_, d)| d.include_full_user) {
                for uid in e.event.summarised_users() {
                    if users.contains_key(uid) {
                        continue;
                    }
                    let row: Option<(String,)> =
                        sql::query_as("SELECT body FROM users WHERE id = $1 AND app_id = $2").bind(uid).bind(&e.app_id).fetch_optional(self.reader()).await?;
                    if let Some((body,)) = row {
                        users.insert(uid.to_string(), from_json(&body)?);
                    }
                }
            }
            let created = format_ms(e.created_at);
            let order_key = e.event.order_key();
            // One rendering per distinct shaping, shared by the webhooks that ask for it.
            let mut rendered: Vec<((bool, bool), String)> = Vec::new();
            for (webhook_id, doc) in subscribed {
                let shape = (doc.include_full_user, doc.include_full_source);
                let body = match rendered.iter().find(|(s, _)| *s == shape) {
                    Some((_, body)) => body.clone(),
                    None => {
                        let shaping = Shaping { full_users: doc.include_full_user.then_some(&users), include_full_source: doc.include_full_source };
                        let body = event_object(&e.id, &e.event, &created, payload(&e.event, &shaping)).to_string();
                        rendered.push((shape, body.clone()));
                        body
                    }
                };
                deliveries.push(NewDelivery {
                    webhook_id: webhook_id.clone(),
                    app_id: e.app_id.clone(),
                    event_id: e.id.clone(),
                    event_seq: e.seq,
                    kind: trigger.as_str(),
                    order_key: order_key.clone(),
                    body,
                });
            }
        }

        let postgres = self.dialect() == Dialect::Postgres;
        self.write(move |c| {
            Box::pin(async move {
                if postgres {
                    let (got,): (bool,) = sql::query_as("SELECT pg_try_advisory_xact_lock($1)").bind(ROUTE_LOCK).fetch_one(&mut *c).await?;
                    if !got {
                        return Ok(Routed::default());
                    }
                }
                let now = now_ms();
                let mut targets: Vec<String> = deliveries.iter().map(|d| d.webhook_id.clone()).collect::<BTreeSet<_>>().into_iter().collect();
                if !targets.is_empty() {
                    let select = format!("SELECT id FROM webhooks WHERE id IN ({})", sql::placeholders(1, targets.len()));
                    let mut q = sql::query_as::<(String,)>(&select);
                    for t in &targets {
                        q = q.bind(t);
                    }
                    let alive: BTreeSet<String> = q.fetch_all(&mut *c).await?.into_iter().map(|(id,)| id).collect();
                    deliveries.retain(|d| alive.contains(&d.webhook_id));
                    targets.retain(|t| alive.contains(t));
                }
                insert_deliveries(c, &deliveries, now).await?;
                let update = format!("UPDATE events SET routed_at = $1 WHERE routed_at IS NULL AND seq IN ({})", sql::placeholders(2, seqs.len()));
                let mut q = sql::query(&update).bind(now);
                for seq in &seqs {
                    q = q.bind(*seq);
                }
                let marked = q.execute(&mut *c).await?;
                Ok(Routed { events: marked as usize, webhooks: targets })
            })
        })
        .await
    }
}
