//! What operators see of delivery: backlogs, per-webhook counts and health, attempts.

use super::super::rows::from_json;
use super::super::sql;
use super::super::{Store, StoreResult};
use crate::domain::time::format_ms;
use crate::domain::webhook::WebhookDoc;

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
    /// Deliveries still pending (in flight or waiting for a retry), every webhook's.
    pub async fn pending_deliveries(&self) -> StoreResult<i64> {
        let (n,): (i64,) = sql::query_as("SELECT COUNT(*) FROM webhook_deliveries WHERE state = 'pending'").fetch_one(self.reader()).await?;
        Ok(n)
    }

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
