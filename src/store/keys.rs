//! API keys of every owner (account, app, integration), with a small cache for the
//! authenticator: a request must not pay a database read and a decryption per call.

use std::time::Duration;

use super::sql;

use super::cache::TtlCache;
use super::{Store, StoreError, StoreResult};
use crate::domain::auth::{KeyGrant, KeyOwner};
use crate::domain::error::{DomainError, Resource};
use crate::domain::ids::{new_key_id, new_secret};
use crate::domain::time::now_ms;

/// How long a cached key is trusted (see `TtlCache`).
const KEY_CACHE_TTL: Duration = Duration::from_secs(5);
const KEY_CACHE_MAX: usize = 10_000;

pub struct KeyCache(TtlCache<KeyGrant>);

impl Default for KeyCache {
    fn default() -> Self {
        KeyCache(TtlCache::new(KEY_CACHE_TTL, KEY_CACHE_MAX))
    }
}

impl KeyCache {
    fn get(&self, key_id: &str) -> Option<KeyGrant> {
        self.0.get(key_id)
    }

    fn put(&self, grant: KeyGrant) {
        self.0.put(grant.key_id.clone(), grant);
    }

    pub fn forget(&self, key_id: &str) {
        self.0.remove(key_id);
    }

    pub fn forget_app(&self, app_id: &str) {
        self.0.retain(|g| match &g.owner {
            KeyOwner::Account => true,
            KeyOwner::App { app_id: a } | KeyOwner::Integration { app_id: a, .. } => a != app_id,
        });
    }

    pub fn forget_integration(&self, integration_id: &str) {
        self.0.retain(|g| match &g.owner {
            KeyOwner::Integration { integration_id: i, .. } => i != integration_id,
            _ => true,
        });
    }
}

/// A key as the API shows it (`appKey` / `apiKey`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiKey {
    pub id: String,
    pub display_name: String,
    pub secret: String,
}

impl Store {
    /// Finds the key a credential names, for authentication.
    pub async fn find_key_grant(&self, key_id: &str) -> StoreResult<Option<KeyGrant>> {
        if let Some(g) = self.keys.get(key_id) {
            return Ok(Some(g));
        }
        let row = if key_id.starts_with("act_") {
            sql::query("SELECT secret, NULL AS app_id FROM account_keys WHERE id = $1").bind(key_id).fetch_optional(self.reader()).await?
        } else if key_id.starts_with("app_") {
            sql::query("SELECT secret, app_id FROM app_keys WHERE id = $1").bind(key_id).fetch_optional(self.reader()).await?
        } else if key_id.starts_with("int_") {
            return self.find_integration_key_grant(key_id).await;
        } else {
            None
        };
        let Some(row) = row else { return Ok(None) };
        let secret = self.secrets().open(&row.try_get::<String, _>("secret")?)?;
        let owner = match row.try_get::<Option<String>, _>("app_id")? {
            None => KeyOwner::Account,
            Some(app_id) => KeyOwner::App { app_id },
        };
        let grant = KeyGrant { key_id: key_id.to_string(), secret, owner };
        self.keys.put(grant.clone());
        Ok(Some(grant))
    }

    async fn find_integration_key_grant(&self, key_id: &str) -> StoreResult<Option<KeyGrant>> {
        let row = sql::query("SELECT secret, app_id, integration_id FROM integration_keys WHERE id = $1")
            .bind(key_id)
            .fetch_optional(self.reader())
            .await?;
        let Some(row) = row else { return Ok(None) };
        let secret = self.secrets().open(&row.try_get::<String, _>("secret")?)?;
        let owner = KeyOwner::Integration { app_id: row.try_get("app_id")?, integration_id: row.try_get("integration_id")? };
        let grant = KeyGrant { key_id: key_id.to_string(), secret, owner };
        self.keys.put(grant.clone());
        Ok(Some(grant))
    }

    // ---- account keys (operators' CLI and bootstrap) ----

    pub async fn account_key_count(&self) -> StoreResult<i64> {
        let (n,): (i64,) = sql::query_as("SELECT COUNT(*) FROM account_keys").fetch_one(self.reader()).await?;
        Ok(n)
    }

    /// Creates an account key; with `id_and_secret` given, ensures exactly that key exists.
    pub async fn create_account_key(&self, display_name: &str, id_and_secret: Option<(String, String)>) -> StoreResult<ApiKey> {
        let ensure = id_and_secret.is_some();
        let (id, secret) = id_and_secret.unwrap_or_else(|| (new_key_id("act"), new_secret()));
        let sealed = self.secrets().seal(&secret);
        let key = ApiKey { id: id.clone(), display_name: display_name.to_string(), secret };
        let display = key.display_name.clone();
        self.write(move |c| {
            Box::pin(async move {
                let q = if ensure {
                    "INSERT INTO account_keys (id, display_name, secret, created_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (id) DO UPDATE SET secret = excluded.secret"
                } else {
                    "INSERT INTO account_keys (id, display_name, secret, created_at) VALUES ($1, $2, $3, $4)"
                };
                sql::query(q).bind(&id).bind(&display).bind(&sealed).bind(now_ms()).execute(&mut *c).await?;
                Ok(())
            })
        })
        .await?;
        self.keys.forget(&key.id);
        Ok(key)
    }

    pub async fn list_account_keys(&self) -> StoreResult<Vec<ApiKey>> {
        let rows = sql::query("SELECT id, display_name, secret FROM account_keys ORDER BY id").fetch_all(self.reader()).await?;
        rows.iter().map(|r| self.key_from_row(r)).collect()
    }

    pub async fn delete_account_key(&self, id: &str) -> StoreResult<()> {
        let key_id = id.to_string();
        self.write(move |c| {
            Box::pin(async move {
                let done = sql::query("DELETE FROM account_keys WHERE id = $1").bind(&key_id).execute(&mut *c).await?;
                if done == 0 {
                    return Err(StoreError::not_found(Resource::Key));
                }
                Ok(())
            })
        })
        .await?;
        self.keys.forget(id);
        Ok(())
    }

    /// A key row of any owner (account, app, integration), its secret opened.
    pub(crate) fn key_from_row(&self, row: &sql::Row) -> StoreResult<ApiKey> {
        Ok(ApiKey {
            id: row.try_get("id")?,
            display_name: row.try_get("display_name")?,
            secret: self.secrets().open(&row.try_get::<String, _>("secret")?)?,
        })
    }

    // ---- app keys ----

    pub async fn create_app_key(&self, app_id: &str, display_name: &str) -> StoreResult<ApiKey> {
        let key = ApiKey { id: new_key_id("app"), display_name: display_name.to_string(), secret: new_secret() };
        let sealed = self.secrets().seal(&key.secret);
        let max = self.limits.max_app_keys;
        let (app_id, out) = (app_id.to_string(), key.clone());
        self.write(move |c| {
            Box::pin(async move {
                // A no-op update locks the app's row (on PostgreSQL; SQLite has one writer)
                // so concurrent creations count one after another and the limit holds.
                // It touches no key column, so inserts referencing the app are not blocked.
                let locked = sql::query("UPDATE apps SET display_name = display_name WHERE id = $1").bind(&app_id).execute(&mut *c).await?;
                if locked == 0 {
                    return Err(StoreError::not_found(Resource::App));
                }
                let (n,): (i64,) = sql::query_as("SELECT COUNT(*) FROM app_keys WHERE app_id = $1").bind(&app_id).fetch_one(&mut *c).await?;
                if n >= max {
                    return Err(DomainError::Rule(format!("An app can have at most {max} API keys")).into());
                }
                sql::query("INSERT INTO app_keys (id, app_id, display_name, secret, created_at) VALUES ($1, $2, $3, $4, $5)")
                    .bind(&key.id)
                    .bind(&app_id)
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

    pub async fn list_app_keys(&self, app_id: &str) -> StoreResult<Vec<ApiKey>> {
        let rows = sql::query("SELECT id, display_name, secret FROM app_keys WHERE app_id = $1 ORDER BY id").bind(app_id).fetch_all(self.reader()).await?;
        rows.iter().map(|r| self.key_from_row(r)).collect()
    }

    pub async fn get_app_key(&self, app_id: &str, key_id: &str) -> StoreResult<ApiKey> {
        let row = sql::query("SELECT id, display_name, secret FROM app_keys WHERE app_id = $1 AND id = $2")
            .bind(app_id)
            .bind(key_id)
            .fetch_optional(self.reader())
            .await?;
        match row {
            Some(r) => self.key_from_row(&r),
            None => Err(StoreError::not_found(Resource::Key)),
        }
    }

    pub async fn delete_app_key(&self, app_id: &str, key_id: &str) -> StoreResult<()> {
        let (a, k) = (app_id.to_string(), key_id.to_string());
        self.write(move |c| {
            Box::pin(async move {
                let done = sql::query("DELETE FROM app_keys WHERE app_id = $1 AND id = $2").bind(&a).bind(&k).execute(&mut *c).await?;
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
