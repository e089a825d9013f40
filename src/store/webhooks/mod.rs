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


mod claim;
mod finish;
mod route;
mod status;

use super::integrations::{insert_webhook, integration_kind_tx};
use super::rows::{from_json, to_json};
use super::sql;
use super::{Store, StoreError, StoreResult};
use crate::domain::error::{DomainError, Resource};
use crate::domain::ids::is_id;
use crate::domain::webhook::{Webhook, WebhookDoc, MAX_WEBHOOKS_PER_APP};

pub use crate::domain::delivery::{CircuitPolicy, ClaimRequest, Health, Verdict};
pub use claim::{ClaimedBatch, ClaimedDelivery};
pub use finish::{AttemptRecord, DeliveryOutcome};
pub use route::Routed;
pub use status::{AttemptView, WebhookStatus};

fn webhooks_only_for_custom() -> StoreError {
    StoreError::rule("Webhooks are available only for custom and OAuth (Sunshine Conversations Connect) integrations")
}

/// Custom integrations and OAuth partners' integrations take webhooks.
fn takes_webhooks(kind: &str) -> bool {
    kind == "custom" || crate::domain::oauth::is_partner_kind(kind)
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
        if !takes_webhooks(&integration.kind) {
            return Err(webhooks_only_for_custom());
        }
        Ok(())
    }

    pub async fn create_webhook(&self, app_id: &str, integration_id: &str, webhook: Webhook) -> StoreResult<Webhook> {
        let sealed = self.secrets().seal(&webhook.secret);
        let (a, i, out) = (app_id.to_string(), integration_id.to_string(), webhook.clone());
        self.write(move |c| {
            Box::pin(async move {
                if !takes_webhooks(&integration_kind_tx(c, &a, &i).await?) {
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
}
