//! Who may subscribe to `/sdk/apps/{appId}/appusers/{appUserId}`: the SDKs put their
//! credentials in the `/meta/subscribe` message's `ext` (sdk-protocol §5):
//! `{appId, appUserId, jwt}` for a user logged in with a JWT, `{appId, appUserId,
//! sessionToken}` for an anonymous one.
//!
//! - A JWT must be an HS256 user token (`scope: "user"` + `external_id`, or legacy
//!   `appUser` + `userId`) signed by a key (`kid`) of the channel's app (or an account
//!   key), naming the external id of the user whose id is `appUserId`.
//! - Session tokens (anonymous users) are checked by a [`SessionTokens`] implementation:
//!   [`StoreSessionTokens`] (the SDK API's sessions, `Store::check_session`) in the server.
//!
//! Missing or invalid credentials answer `401::Unauthorized`; valid credentials for
//! another user or app answer `403:<channel>:Forbidden channel`.
//!
//! A browser's subscribe must also come from an origin the app's web integrations
//! allow (`originWhitelist`): the transport stamps the request's `Origin` into the
//! message's `ext` under [`ORIGIN_EXT`] (replacing whatever the client put there), and a
//! refused one answers `403:<channel>:Forbidden origin`.

use std::sync::Arc;

use serde_json::Value;

use super::bayeux::{errors, Authorizer};
use super::sdk::parse_user_channel;
use crate::domain::auth::{token_scope, verify_jwt, Credentials, KeyOwner, TokenScope};
use crate::domain::error::DomainError;
use crate::store::{Store, StoreError};

/// Where the transport puts the HTTP `Origin` of a subscribe (never trusted from a client).
pub const ORIGIN_EXT: &str = "sunbeam:origin";

/// Stamps `origin` (or its absence) into the `ext` of every `/meta/subscribe` among
/// `messages` (one message or an array of them).
pub fn stamp_origin(messages: &mut Value, origin: Option<&str>) {
    let stamp = |m: &mut Value| {
        if m.get("channel").and_then(Value::as_str) != Some("/meta/subscribe") {
            return;
        }
        let Some(obj) = m.as_object_mut() else { return };
        if let Some(Value::Object(ext)) = obj.get_mut("ext") {
            ext.remove(ORIGIN_EXT);
        }
        if let Some(o) = origin {
            let ext = obj.entry("ext").or_insert_with(|| Value::Object(Default::default()));
            if !ext.is_object() {
                *ext = Value::Object(Default::default());
            }
            ext[ORIGIN_EXT] = Value::String(o.to_string());
        }
    };
    match messages {
        Value::Array(list) => list.iter_mut().for_each(stamp),
        m => stamp(m),
    }
}

/// Checks an SDK session token. Implemented by the SDK session work.
#[async_trait::async_trait]
pub trait SessionTokens: Send + Sync + 'static {
    /// Is `token` a live session token of user `app_user_id` of app `app_id`?
    async fn verify(&self, app_id: &str, app_user_id: &str, token: &str) -> Result<bool, StoreError>;
}

/// The SDK API's session tokens: live, of that anonymous user of that app.
pub struct StoreSessionTokens(pub Store);

#[async_trait::async_trait]
impl SessionTokens for StoreSessionTokens {
    async fn verify(&self, app_id: &str, app_user_id: &str, token: &str) -> Result<bool, StoreError> {
        self.0.check_session(app_id, app_user_id, token).await
    }
}

/// Refuses every session token (JWT-only deployments, tests).
pub struct NoSessionTokens;

#[async_trait::async_trait]
impl SessionTokens for NoSessionTokens {
    async fn verify(&self, _: &str, _: &str, _: &str) -> Result<bool, StoreError> {
        Ok(false)
    }
}

/// The realtime [`Authorizer`]: SDK credentials against user channels.
pub struct SdkAuthorizer {
    store: Store,
    sessions: Arc<dyn SessionTokens>,
}

impl SdkAuthorizer {
    pub fn new(store: Store, sessions: Arc<dyn SessionTokens>) -> SdkAuthorizer {
        SdkAuthorizer { store, sessions }
    }

    async fn check_jwt(&self, app_id: &str, app_user_id: &str, jwt: &str, channel: &str) -> Result<(), String> {
        let unauthorized = || errors::UNAUTHORIZED.to_string();
        let forbidden = || errors::channel_forbidden(channel);
        let credentials = Credentials::parse(&format!("Bearer {jwt}")).map_err(|_| unauthorized())?;
        let grant = match self.store.find_key_grant(credentials.key_id()).await {
            Ok(Some(g)) => g,
            Ok(None) => return Err(unauthorized()),
            Err(e) => return Err(store_failure(e)),
        };
        let claims = verify_jwt(jwt, &grant.secret).map_err(|_| unauthorized())?;
        let external_id = match token_scope(&claims, &grant.owner) {
            Ok(TokenScope::EndUser { external_id }) => external_id,
            // A business token is no end user's credential.
            Ok(TokenScope::Business(_)) => return Err(forbidden()),
            Err(_) => return Err(unauthorized()),
        };
        match &grant.owner {
            KeyOwner::App { app_id: own } if own == app_id => {}
            KeyOwner::Account => {}
            _ => return Err(forbidden()),
        }
        let user = match self.store.get_user(app_id, app_user_id).await {
            Ok(u) => u,
            Err(StoreError::Domain(DomainError::NotFound(..))) => return Err(forbidden()),
            Err(e) => return Err(store_failure(e)),
        };
        if user.id != app_user_id || user.external_id.as_deref() != Some(external_id.as_str()) {
            return Err(forbidden());
        }
        Ok(())
    }
}

fn store_failure(e: StoreError) -> String {
    tracing::warn!(error = %e, "realtime: cannot check subscription credentials");
    errors::server_error()
}

#[async_trait::async_trait]
impl Authorizer for SdkAuthorizer {
    async fn authorize_subscribe(&self, _client_id: &str, channel: &str, ext: Option<&Value>) -> Result<(), String> {
        let Some((app_id, app_user_id)) = parse_user_channel(channel) else {
            return Err(errors::channel_forbidden(channel));
        };
        let Some(Value::Object(ext)) = ext else { return Err(errors::UNAUTHORIZED.into()) };
        if let Some(origin) = ext.get(ORIGIN_EXT).and_then(Value::as_str) {
            match self.store.app_allows_origin(app_id, origin).await {
                Ok(true) => {}
                Ok(false) => return Err(format!("403:{channel}:Forbidden origin")),
                Err(e) => return Err(store_failure(e)),
            }
        }
        // What the client says it is subscribing as must be the channel it names.
        for (field, want) in [("appId", app_id), ("appUserId", app_user_id)] {
            if let Some(v) = ext.get(field).filter(|v| !v.is_null()) {
                if v.as_str() != Some(want) {
                    return Err(errors::channel_forbidden(channel));
                }
            }
        }
        if let Some(jwt) = ext.get("jwt").and_then(Value::as_str).filter(|t| !t.is_empty()) {
            return self.check_jwt(app_id, app_user_id, jwt, channel).await;
        }
        if let Some(token) = ext.get("sessionToken").and_then(Value::as_str).filter(|t| !t.is_empty()) {
            return match self.sessions.verify(app_id, app_user_id, token).await {
                Ok(true) => Ok(()),
                Ok(false) => Err(errors::UNAUTHORIZED.into()),
                Err(e) => Err(store_failure(e)),
            };
        }
        Err(errors::UNAUTHORIZED.into())
    }
}
