//! OAuth partners (operator-registered), their authorization codes, and what a grant
//! makes: one integration per (app, partner), of type = the partner's `client_id`, with
//! one internal `int_` key that signs its access tokens. See `domain::oauth`.

use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::integrations::integration_kind_tx;
use super::sql;
use super::{Store, StoreError, StoreResult};
use crate::domain::error::{DomainError, Resource};
use crate::domain::ids::{new_id, new_key_id, new_secret};
use crate::domain::integration::Integration;
use crate::domain::oauth::{is_partner_kind, OAuthClient, CODE_TTL_MS};
use crate::domain::time::now_ms;

fn sha256_hex(s: &str) -> String {
    Sha256::digest(s.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

fn client_from_row(row: &sql::Row) -> StoreResult<OAuthClient> {
    let uris: String = row.try_get("redirect_uris")?;
    Ok(OAuthClient {
        client_id: row.try_get("client_id")?,
        name: row.try_get("name")?,
        redirect_uris: super::rows::from_json(&uris)?,
        remove_url: row.try_get("remove_url")?,
    })
}

/// What an exchanged code grants: the app, the partner's integration in it, and the key
/// that signs its tokens.
#[derive(Debug, Clone)]
pub struct OAuthGrant {
    pub app_id: String,
    pub integration_id: String,
    pub key_id: String,
    pub key_secret: String,
}

fn invalid_client() -> StoreError {
    DomainError::Unauthorized("Invalid client_id or client_secret".into()).into()
}

impl Store {
    /// Registers a partner; returns its secret (shown once: only a hash is kept).
    pub async fn create_oauth_client(&self, client: OAuthClient) -> StoreResult<String> {
        let secret = new_secret();
        let hash = sha256_hex(&secret);
        self.write(move |c| {
            Box::pin(async move {
                let inserted = sql::query("INSERT INTO oauth_clients (client_id, name, secret_hash, redirect_uris, remove_url, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
                    .bind(&client.client_id)
                    .bind(&client.name)
                    .bind(&hash)
                    .bind(super::rows::to_json(&client.redirect_uris))
                    .bind(client.remove_url.clone())
                    .bind(now_ms())
                    .execute(&mut *c)
                    .await;
                match inserted {
                    Err(e) if super::is_unique_violation(&e) => Err(StoreError::conflict(format!("An OAuth client {} exists already", client.client_id))),
                    other => other.map(|_| ()),
                }
            })
        })
        .await?;
        Ok(secret)
    }

    pub async fn list_oauth_clients(&self) -> StoreResult<Vec<OAuthClient>> {
        let rows = sql::query("SELECT client_id, name, redirect_uris, remove_url FROM oauth_clients ORDER BY client_id").fetch_all(self.reader()).await?;
        rows.iter().map(client_from_row).collect()
    }

    pub async fn oauth_client(&self, client_id: &str) -> StoreResult<Option<OAuthClient>> {
        let row = sql::query("SELECT client_id, name, redirect_uris, remove_url FROM oauth_clients WHERE client_id = $1").bind(client_id).fetch_optional(self.reader()).await?;
        row.as_ref().map(client_from_row).transpose()
    }

    /// Removes a partner and, in every app, the integration its grants made (with their
    /// webhooks and keys: its tokens stop working).
    pub async fn delete_oauth_client(&self, client_id: &str) -> StoreResult<()> {
        let id = client_id.to_string();
        let gone: Vec<String> = self
            .write(move |c| {
                Box::pin(async move {
                    let done = sql::query("DELETE FROM oauth_clients WHERE client_id = $1").bind(&id).execute(&mut *c).await?;
                    if done == 0 {
                        return Err(StoreError::not_found(Resource::Generic));
                    }
                    let integrations: Vec<(String,)> = sql::query_as("SELECT id FROM integrations WHERE kind = $1").bind(&id).fetch_all(&mut *c).await?;
                    for (i,) in &integrations {
                        sql::query("DELETE FROM webhooks WHERE integration_id = $1").bind(i).execute(&mut *c).await?;
                        sql::query("DELETE FROM integration_keys WHERE integration_id = $1").bind(i).execute(&mut *c).await?;
                        sql::query("DELETE FROM integrations WHERE id = $1").bind(i).execute(&mut *c).await?;
                    }
                    Ok(integrations.into_iter().map(|r| r.0).collect())
                })
            })
            .await?;
        for i in gone {
            self.keys.forget_integration(&i);
        }
        Ok(())
    }

    /// A single-use code for `client_id` to reach `app_id`, redeemable for a while.
    pub async fn issue_oauth_code(&self, client_id: &str, app_id: &str, redirect_uri: &str) -> StoreResult<String> {
        let code = new_secret();
        let (hash, client_id, app_id, redirect_uri) = (sha256_hex(&code), client_id.to_string(), app_id.to_string(), redirect_uri.to_string());
        self.write(move |c| {
            Box::pin(async move {
                let now = now_ms();
                sql::query("DELETE FROM oauth_codes WHERE expires_at < $1").bind(now).execute(&mut *c).await?;
                sql::query("INSERT INTO oauth_codes (code_hash, client_id, app_id, redirect_uri, expires_at) VALUES ($1, $2, $3, $4, $5)")
                    .bind(&hash)
                    .bind(&client_id)
                    .bind(&app_id)
                    .bind(&redirect_uri)
                    .bind(now + CODE_TTL_MS)
                    .execute(&mut *c)
                    .await?;
                Ok(())
            })
        })
        .await?;
        Ok(code)
    }

    /// GetToken: checks the partner's credentials, spends the code, and makes (or finds)
    /// the partner's integration in the app and its signing key — one transaction.
    pub async fn exchange_oauth_code(&self, client_id: &str, client_secret: &str, code: &str) -> StoreResult<OAuthGrant> {
        let (client_id, secret_hash, code_hash) = (client_id.to_string(), sha256_hex(client_secret), sha256_hex(code));
        let secrets = self.secrets.clone();
        self.write(move |c| {
            Box::pin(async move {
                let row: Option<(String, String)> =
                    sql::query_as("SELECT name, secret_hash FROM oauth_clients WHERE client_id = $1").bind(&client_id).fetch_optional(&mut *c).await?;
                let Some((name, stored)) = row else { return Err(invalid_client()) };
                if !bool::from(stored.as_bytes().ct_eq(secret_hash.as_bytes())) {
                    return Err(invalid_client());
                }
                let now = now_ms();
                let spent: Option<(String,)> = sql::query_as(
                    "UPDATE oauth_codes SET used_at = $1 WHERE code_hash = $2 AND client_id = $3 AND used_at IS NULL AND expires_at >= $4 RETURNING app_id",
                )
                .bind(now)
                .bind(&code_hash)
                .bind(&client_id)
                .bind(now)
                .fetch_optional(&mut *c)
                .await?;
                let Some((app_id,)) = spent else {
                    return Err(StoreError::rule("The authorization code is invalid, expired or already used"));
                };
                let app: Option<(String,)> = sql::query_as("SELECT id FROM apps WHERE id = $1").bind(&app_id).fetch_optional(&mut *c).await?;
                if app.is_none() {
                    return Err(StoreError::not_found(Resource::App));
                }
                let existing: Option<(String,)> = sql::query_as("SELECT id FROM integrations WHERE app_id = $1 AND kind = $2 ORDER BY id LIMIT 1")
                    .bind(&app_id)
                    .bind(&client_id)
                    .fetch_optional(&mut *c)
                    .await?;
                let integration_id = match existing {
                    Some((id,)) => id,
                    None => {
                        let integration = Integration {
                            id: new_id(),
                            kind: client_id.clone(),
                            status: "active".into(),
                            display_name: Some(name.chars().take(100).collect()),
                            config: Default::default(),
                            hidden: Default::default(),
                            secrets: Default::default(),
                        };
                        sql::query("INSERT INTO integrations (id, app_id, kind, body, created_at) VALUES ($1, $2, $3, $4, $5)")
                            .bind(&integration.id)
                            .bind(&app_id)
                            .bind(&integration.kind)
                            .bind(json!({ "integration": integration }).to_string())
                            .bind(now)
                            .execute(&mut *c)
                            .await?;
                        integration.id
                    }
                };
                let key: Option<(String, String)> = sql::query_as("SELECT id, secret FROM integration_keys WHERE integration_id = $1 ORDER BY id LIMIT 1")
                    .bind(&integration_id)
                    .fetch_optional(&mut *c)
                    .await?;
                let (key_id, key_secret) = match key {
                    Some((id, sealed)) => (id, secrets.open(&sealed)?),
                    None => {
                        let (id, secret) = (new_key_id("int"), new_secret());
                        sql::query("INSERT INTO integration_keys (id, app_id, integration_id, display_name, secret, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
                            .bind(&id)
                            .bind(&app_id)
                            .bind(&integration_id)
                            .bind(format!("OAuth: {client_id}"))
                            .bind(secrets.seal(&secret))
                            .bind(now)
                            .execute(&mut *c)
                            .await?;
                        (id, secret)
                    }
                };
                Ok(OAuthGrant { app_id, integration_id, key_id, key_secret })
            })
        })
        .await
    }

    /// RevokeAccess: removes a partner's integration from the app with its webhooks and
    /// keys (its tokens stop working at once). Returns the partner's `removeUrl`.
    pub async fn revoke_oauth_integration(&self, app_id: &str, integration_id: &str) -> StoreResult<Option<String>> {
        let (a, i) = (app_id.to_string(), integration_id.to_string());
        let remove_url = self
            .write(move |c| {
                Box::pin(async move {
                    let kind = integration_kind_tx(c, &a, &i).await?;
                    if !is_partner_kind(&kind) {
                        return Err(StoreError::rule("Only an integration connected through OAuth can revoke its access; delete other integrations instead"));
                    }
                    let remove_url: Option<(Option<String>,)> =
                        sql::query_as("SELECT remove_url FROM oauth_clients WHERE client_id = $1").bind(&kind).fetch_optional(&mut *c).await?;
                    sql::query("DELETE FROM webhooks WHERE integration_id = $1").bind(&i).execute(&mut *c).await?;
                    sql::query("DELETE FROM integration_keys WHERE integration_id = $1").bind(&i).execute(&mut *c).await?;
                    sql::query("DELETE FROM integrations WHERE app_id = $1 AND id = $2").bind(&a).bind(&i).execute(&mut *c).await?;
                    Ok(remove_url.and_then(|r| r.0))
                })
            })
            .await?;
        self.keys.forget_integration(integration_id);
        Ok(remove_url)
    }
}
