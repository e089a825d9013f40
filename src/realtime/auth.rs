//! Who may subscribe to `/sdk/apps/{appId}/appusers/{appUserId}`: the SDKs put their
//! credentials in the `/meta/subscribe` message's `ext` (sdk-protocol §5):
//! `{appId, appUserId, jwt}` for a user logged in with a JWT, `{appId, appUserId,
//! sessionToken}` for an anonymous one.
//!
//! - A JWT is checked by the one end-user check the SDK API uses too
//!   ([`verify_end_user`]: a user token signed by an app key of the channel's app), and
//!   must name the external id of the user whose id is `appUserId`.
//! - A session token must be a live session of that anonymous user of that app
//!   (`Store::check_session`, the SDK API's sessions).
//!
//! Missing or invalid credentials answer `401::Unauthorized`; authentic credentials for
//! another user, app or scope answer `403:<channel>:Forbidden channel`.
//!
//! A browser's subscribe must also come from an origin the app's web integrations
//! allow (`originWhitelist`): the transport stamps the request's `Origin` into the
//! message's `ext` under [`ORIGIN_EXT`] (replacing whatever the client put there), and a
//! refused one answers `403:<channel>:Forbidden origin`.

use serde_json::Value;

use super::bayeux::{errors, Authorizer};
use super::sdk::parse_user_channel;
use crate::domain::auth::{verify_end_user, EndUserRefusal, Jwt};
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

/// The realtime [`Authorizer`]: SDK credentials against user channels.
pub struct SdkAuthorizer {
    store: Store,
}

impl SdkAuthorizer {
    pub fn new(store: Store) -> SdkAuthorizer {
        SdkAuthorizer { store }
    }

    async fn check_jwt(&self, app_id: &str, app_user_id: &str, jwt: &str, channel: &str) -> Result<(), String> {
        let forbidden = || errors::channel_forbidden(channel);
        let jwt = Jwt::parse(jwt).map_err(|_| errors::UNAUTHORIZED.to_string())?;
        let grant = match self.store.find_key_grant(&jwt.key_id).await {
            Ok(Some(g)) => g,
            Ok(None) => return Err(errors::UNAUTHORIZED.into()),
            Err(e) => return Err(store_failure(e)),
        };
        let verified = verify_end_user(&jwt, &grant, app_id).map_err(|r| match r {
            // Authentic, but for another app, or not an end user's token.
            EndUserRefusal::OtherApp | EndUserRefusal::NotUserScope => forbidden(),
            EndUserRefusal::Invalid
            | EndUserRefusal::BadSignature
            | EndUserRefusal::Expired
            | EndUserRefusal::NotYetValid
            | EndUserRefusal::NotAnAppKey
            | EndUserRefusal::MissingExternalId => errors::UNAUTHORIZED.to_string(),
        })?;
        let user = match self.store.get_user(app_id, app_user_id).await {
            Ok(u) => u,
            Err(StoreError::Domain(DomainError::NotFound(..))) => return Err(forbidden()),
            Err(e) => return Err(store_failure(e)),
        };
        // `get_user` also finds a user by external id: the channel names the id itself.
        if user.id != app_user_id || user.external_id.as_deref() != Some(verified.external_id.as_str()) {
            return Err(forbidden());
        }
        Ok(())
    }

    async fn check_session(&self, app_id: &str, app_user_id: &str, token: &str) -> Result<(), String> {
        match self.store.check_session(app_id, app_user_id, token).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(errors::UNAUTHORIZED.into()),
            Err(e) => Err(store_failure(e)),
        }
    }
}

fn store_failure(e: StoreError) -> String {
    tracing::warn!(error = %e, "realtime: cannot check subscription credentials");
    errors::server_error()
}

#[async_trait::async_trait]
impl Authorizer for SdkAuthorizer {
    async fn authorize_subscribe(&self, channel: &str, ext: Option<&Value>) -> Result<(), String> {
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
            return self.check_session(app_id, app_user_id, token).await;
        }
        Err(errors::UNAUTHORIZED.into())
    }
}
