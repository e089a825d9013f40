//! Integrations and their API keys (`int_…`, integration scope).
//!
//! An integration's write-only credentials are sealed with the server's master key, like
//! key secrets, inside its JSON document.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use super::sql::{self, Tx};

use super::keys::ApiKey;
use super::rows::{from_json, to_json};
use super::{Store, StoreError, StoreResult};
use crate::domain::error::{DomainError, DomainResult, Resource};
use crate::domain::ids::{is_id, new_key_id, new_secret};
use crate::domain::integration::{Integration, MAX_INTEGRATION_KEYS};
use crate::domain::pagination::{Cursor, Page, PageRequest};
use crate::domain::time::now_ms;
use crate::domain::webhook::{Webhook, MAX_WEBHOOKS_PER_APP};

/// The `integrations.body` document.
#[derive(Serialize, Deserialize)]
struct Doc {
    integration: Integration,
    /// The write-only secrets as sealed JSON, when there are any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sealed: Option<String>,
}

pub(crate) fn keys_only_for_custom() -> StoreError {
    StoreError::rule("API keys are available only for custom integrations")
}

/// Stores a webhook of an integration (the webhook CRUD and a custom integration's
/// inline webhooks both create them here).
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


/// The kind of an app's integration, inside a transaction (404 if it is not there).
pub(crate) async fn integration_kind_tx(c: &mut Tx<'_>, app_id: &str, integration_id: &str) -> StoreResult<String> {
    if !is_id(integration_id) {
        return Err(StoreError::not_found(Resource::Integration));
    }
    let row: Option<(String,)> =
        sql::query_as("SELECT kind FROM integrations WHERE app_id = $1 AND id = $2").bind(app_id).bind(integration_id).fetch_optional(&mut *c).await?;
    row.map(|r| r.0).ok_or_else(|| StoreError::not_found(Resource::Integration))
}

impl Store {
    fn seal_integration(&self, integration: &Integration) -> String {
        let sealed = (!integration.secrets.is_empty()).then(|| self.secrets().seal(&to_json(&integration.secrets)));
        to_json(&Doc { integration: integration.clone(), sealed })
    }

    fn open_integration(&self, body: &str) -> StoreResult<Integration> {
        let doc: Doc = from_json(body)?;
        let mut integration = doc.integration;
        if let Some(sealed) = doc.sealed {
            integration.secrets = from_json::<Map<String, Value>>(&self.secrets().open(&sealed)?)?;
        }
        Ok(integration)
    }

    /// Creates an integration (and, for `custom`, its one webhook) in one transaction.
    pub async fn create_integration(&self, app_id: &str, integration: Integration, webhook: Option<Webhook>) -> StoreResult<Integration> {
        let body = self.seal_integration(&integration);
        let sealed_secret = webhook.as_ref().map(|w| self.secrets().seal(&w.secret));
        let app_id = app_id.to_string();
        let out = integration.clone();
        self.write(move |c| {
            Box::pin(async move {
                let exists: Option<(String,)> = sql::query_as("SELECT id FROM apps WHERE id = $1").bind(&app_id).fetch_optional(&mut *c).await?;
                if exists.is_none() {
                    return Err(StoreError::not_found(Resource::App));
                }
                sql::query("INSERT INTO integrations (id, app_id, kind, body, created_at) VALUES ($1, $2, $3, $4, $5)")
                    .bind(&integration.id)
                    .bind(&app_id)
                    .bind(&integration.kind)
                    .bind(&body)
                    .bind(now_ms())
                    .execute(&mut *c)
                    .await?;
                if let (Some(w), Some(secret)) = (webhook, sealed_secret) {
                    let (n,): (i64,) = sql::query_as("SELECT COUNT(*) FROM webhooks WHERE app_id = $1").bind(&app_id).fetch_one(&mut *c).await?;
                    if n >= MAX_WEBHOOKS_PER_APP {
                        return Err(DomainError::Rule(format!("An app can have at most {MAX_WEBHOOKS_PER_APP} webhooks")).into());
                    }
                    insert_webhook(c, &app_id, &integration.id, &w, &secret).await?;
                }
                Ok(())
            })
        })
        .await?;
        Ok(out)
    }

    pub async fn get_integration(&self, app_id: &str, id: &str) -> StoreResult<Integration> {
        if !is_id(id) {
            return Err(StoreError::not_found(Resource::Integration));
        }
        let row = sql::query("SELECT body FROM integrations WHERE app_id = $1 AND id = $2").bind(app_id).bind(id).fetch_optional(self.reader()).await?;
        match row {
            Some(r) => self.open_integration(&r.try_get::<String, _>("body")?),
            None => Err(StoreError::not_found(Resource::Integration)),
        }
    }

    /// A page of an app's integrations, by id, optionally only of some types.
    pub async fn list_integrations(&self, app_id: &str, types: &[String], page: &PageRequest) -> StoreResult<Page<Integration>> {
        let mut sql = String::from("SELECT id, body FROM integrations WHERE app_id = $1");
        let mut n = 1;
        let mut type_params = Vec::new();
        if !types.is_empty() {
            let marks: Vec<String> = types
                .iter()
                .map(|_| {
                    n += 1;
                    format!("${n}")
                })
                .collect();
            sql.push_str(&format!(" AND kind IN ({})", marks.join(", ")));
            type_params.extend(types.iter().cloned());
        }
        let (cursor, descending) = match &page.cursor {
            Cursor::Start => (None, false),
            Cursor::After(id) => (Some(id.clone()), false),
            Cursor::Before(id) => (Some(id.clone()), true),
        };
        if cursor.is_some() {
            n += 1;
            sql.push_str(&format!(" AND id {} ${n}", if descending { "<" } else { ">" }));
        }
        n += 1;
        sql.push_str(&format!(" ORDER BY id {} LIMIT ${n}", if descending { "DESC" } else { "ASC" }));
        let mut q = sql::query(&sql).bind(app_id);
        for t in &type_params {
            q = q.bind(t);
        }
        if let Some(c) = &cursor {
            q = q.bind(c);
        }
        let mut rows = q.bind(page.size + 1).fetch_all(self.reader()).await?;
        if descending {
            rows.reverse();
        }
        let items = rows.iter().map(|r| self.open_integration(&r.try_get::<String, _>("body")?)).collect::<StoreResult<Vec<_>>>()?;
        Ok(Page::from_rows(items, page, |i| i.id.clone()))
    }

    /// UpdateIntegration: reads the integration under a row lock, applies `apply` to it
    /// and writes the result, in one transaction, so concurrent updates each start from
    /// the other's result instead of losing it.
    pub async fn update_integration<F>(&self, app_id: &str, id: &str, apply: F) -> StoreResult<Integration>
    where
        F: FnOnce(&Integration) -> DomainResult<Integration> + Send + 'static,
    {
        if !is_id(id) {
            return Err(StoreError::not_found(Resource::Integration));
        }
        let (store, app_id, id) = (self.clone(), app_id.to_string(), id.to_string());
        self.write(move |c| {
            Box::pin(async move {
                let row = sql::query(format!("SELECT body FROM integrations WHERE app_id = $1 AND id = $2{}", c.for_update()))
                    .bind(&app_id)
                    .bind(&id)
                    .fetch_optional(&mut *c)
                    .await?;
                let current = match row {
                    Some(r) => store.open_integration(&r.try_get::<String, _>("body")?)?,
                    None => return Err(StoreError::not_found(Resource::Integration)),
                };
                let next = Integration { id: current.id.clone(), ..apply(&current)? };
                sql::query("UPDATE integrations SET body = $1 WHERE id = $2").bind(store.seal_integration(&next)).bind(&next.id).execute(&mut *c).await?;
                Ok(next)
            })
        })
        .await
    }

    /// Deletes an integration with its keys, webhooks and their pending deliveries.
    pub async fn delete_integration(&self, app_id: &str, id: &str) -> StoreResult<()> {
        let (a, i) = (app_id.to_string(), id.to_string());
        self.write(move |c| {
            Box::pin(async move {
                integration_kind_tx(c, &a, &i).await?;
                // Explicit rather than relying on cascades alone, so the order is plain.
                sql::query("DELETE FROM webhooks WHERE integration_id = $1").bind(&i).execute(&mut *c).await?;
                sql::query("DELETE FROM integration_keys WHERE integration_id = $1").bind(&i).execute(&mut *c).await?;
                sql::query("DELETE FROM integrations WHERE app_id = $1 AND id = $2").bind(&a).bind(&i).execute(&mut *c).await?;
                Ok(())
            })
        })
        .await?;
        self.keys.forget_integration(id);
        Ok(())
    }

    // ---- integration keys ----

    /// Checks that an app's integration exists and is `custom` (keys exist only there).
    async fn custom_integration(&self, app_id: &str, integration_id: &str) -> StoreResult<()> {
        let integration = self.get_integration(app_id, integration_id).await?;
        if !integration.is_custom() {
            return Err(keys_only_for_custom());
        }
        Ok(())
    }

    pub async fn create_integration_key(&self, app_id: &str, integration_id: &str, display_name: &str) -> StoreResult<ApiKey> {
        let key = ApiKey { id: new_key_id("int"), display_name: display_name.to_string(), secret: new_secret() };
        let sealed = self.secrets().seal(&key.secret);
        let (a, i, out) = (app_id.to_string(), integration_id.to_string(), key.clone());
        self.write(move |c| {
            Box::pin(async move {
                if integration_kind_tx(c, &a, &i).await? != "custom" {
                    return Err(keys_only_for_custom());
                }
                // Lock the integration's row (PostgreSQL) so concurrent creations count one
                // after another and the limit holds, as for app keys.
                sql::query("UPDATE integrations SET kind = kind WHERE id = $1").bind(&i).execute(&mut *c).await?;
                let (n,): (i64,) = sql::query_as("SELECT COUNT(*) FROM integration_keys WHERE integration_id = $1").bind(&i).fetch_one(&mut *c).await?;
                if n >= MAX_INTEGRATION_KEYS {
                    return Err(DomainError::Rule(format!("An integration can have at most {MAX_INTEGRATION_KEYS} API keys")).into());
                }
                sql::query("INSERT INTO integration_keys (id, app_id, integration_id, display_name, secret, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
                    .bind(&key.id)
                    .bind(&a)
                    .bind(&i)
                    .bind(&key.display_name)
                    .bind(&sealed)
                    .bind(now_ms())
                    .execute(&mut *c)
                    .await?;
                Ok(())
            })
        })
        .await?;
        Ok(out)
    }

    pub async fn list_integration_keys(&self, app_id: &str, integration_id: &str) -> StoreResult<Vec<ApiKey>> {
        self.custom_integration(app_id, integration_id).await?;
        let rows = sql::query("SELECT id, display_name, secret FROM integration_keys WHERE app_id = $1 AND integration_id = $2 ORDER BY id")
            .bind(app_id)
            .bind(integration_id)
            .fetch_all(self.reader())
            .await?;
        rows.iter().map(|r| self.key_from_row(r)).collect()
    }

    pub async fn get_integration_key(&self, app_id: &str, integration_id: &str, key_id: &str) -> StoreResult<ApiKey> {
        self.custom_integration(app_id, integration_id).await?;
        let row = sql::query("SELECT id, display_name, secret FROM integration_keys WHERE app_id = $1 AND integration_id = $2 AND id = $3")
            .bind(app_id)
            .bind(integration_id)
            .bind(key_id)
            .fetch_optional(self.reader())
            .await?;
        match row {
            Some(r) => self.key_from_row(&r),
            None => Err(StoreError::not_found(Resource::Key)),
        }
    }

    pub async fn delete_integration_key(&self, app_id: &str, integration_id: &str, key_id: &str) -> StoreResult<()> {
        let (a, i, k) = (app_id.to_string(), integration_id.to_string(), key_id.to_string());
        self.write(move |c| {
            Box::pin(async move {
                if integration_kind_tx(c, &a, &i).await? != "custom" {
                    return Err(keys_only_for_custom());
                }
                let done = sql::query("DELETE FROM integration_keys WHERE app_id = $1 AND integration_id = $2 AND id = $3")
                    .bind(&a)
                    .bind(&i)
                    .bind(&k)
                    .execute(&mut *c)
                    .await?;
                if done == 0 {
                    return Err(StoreError::not_found(Resource::Key));
                }
                Ok(())
            })
        })
        .await?;
        self.keys.forget(key_id);
        Ok(())
    }
}
