//! Claiming: due deliveries leased to this node, in batches (one request each).

use std::collections::HashMap;

use super::super::rows::from_json;
use super::super::sql;
use super::super::{Dialect, Store, StoreResult};
use crate::domain::delivery::{plan_batches, Candidate, ClaimRequest, Planned};
use crate::domain::webhook::WebhookDoc;

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


/// The most claim candidates looked at in one claim.
const MAX_WINDOW: usize = 4000;


impl Store {
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
                        let marks = sql::placeholders(2, ids.len());
                        let lock = format!(
                            "SELECT id FROM webhook_deliveries WHERE id IN ({}) AND state = 'pending' \
                             AND (lease_until IS NULL OR lease_until < $1) FOR UPDATE SKIP LOCKED",
                            marks
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
                    let marks = sql::placeholders(3, ids.len());
                    let update = format!(
                        "UPDATE webhook_deliveries SET lease_owner = $1, lease_until = $2 WHERE id IN ({}) \
                         RETURNING id, attempts, event_seq, order_key, body",
                        marks
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
                    let marks = sql::placeholders(1, webhook_ids.len());
                    let select = format!("SELECT id, app_id, body, secret FROM webhooks WHERE id IN ({})", marks);
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
}
