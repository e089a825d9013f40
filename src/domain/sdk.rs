//! The end-user SDK API (sdk-protocol §3–§4): its wire model and its request parsing.
//! No I/O.
//!
//! One user model: an SDK `appUser` *is* a v2 `user` (`_id` = `id`, `userId` =
//! `externalId`, `properties` = `metadata`). Messages are the stored v2 documents shown in
//! the SDK's shape (`_id`, `authorId`, `role: appUser|appMaker`, `received` in unix
//! seconds, content fields flattened, `source{type, id}`).

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::auth::{Credentials, Jwt};
use super::conversation::{Conversation, Participant};
use super::error::{DomainError, DomainResult};
use super::message::content::{parse_content, ContentOrigin};
use super::message::ActivityKind;
use super::metadata::check_metadata;
use super::time::{format_ms, parse_iso};
use super::user::{update_user, User};
use super::validate::Problems;

/// How the SDK authenticates (the `Authorization` header of §3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndUserCredentials {
    /// `Basic base64(appUserId:sessionToken)`: an anonymous user.
    Session { app_user_id: String, token: String },
    /// `Bearer <jwt>`: an identified user (`scope: "user"`/`"appUser"`).
    Jwt(Jwt),
}

pub fn parse_end_user_auth(header: &str) -> DomainResult<EndUserCredentials> {
    Ok(match Credentials::parse(header)? {
        Credentials::Basic { key_id, secret } => EndUserCredentials::Session { app_user_id: key_id, token: secret },
        Credentials::Bearer(jwt) => EndUserCredentials::Jwt(jwt),
    })
}

/// The platform named by `x-smooch-sdk` (`web/smooch/5.6.0` → `web`).
pub fn platform_of_sdk(sdk: &str) -> Option<&str> {
    let p = sdk.split('/').next()?.trim();
    (!p.is_empty()).then_some(p)
}

/// A client as the SDK describes itself (`client` in bodies, `x-smooch-clientid`).
#[derive(Debug, Clone, PartialEq)]
pub struct ClientInput {
    pub client_id: String,
    pub platform: String,
    pub integration_id: Option<String>,
    pub info: Map<String, Value>,
    pub push_token: Option<String>,
}

/// Reads `client` from a body (or `author.client`), falling back on the headers.
pub fn read_client(body: &Value, header_client_id: Option<&str>, sdk_header: Option<&str>) -> DomainResult<Option<ClientInput>> {
    let c = body.get("client").filter(|c| c.is_object()).or_else(|| body["author"].get("client").filter(|c| c.is_object()));
    let id = c.and_then(|c| c["id"].as_str()).filter(|s| !s.is_empty()).or(header_client_id.filter(|s| !s.is_empty()));
    let Some(id) = id else { return Ok(None) };
    if id.len() > 128 {
        return Err(DomainError::invalid("client.id must be at most 128 characters"));
    }
    let platform = c
        .and_then(|c| c["platform"].as_str())
        .filter(|s| !s.is_empty())
        .or_else(|| sdk_header.and_then(platform_of_sdk))
        .unwrap_or("web")
        .to_string();
    let info = c.and_then(|c| c["info"].as_object()).cloned().unwrap_or_default();
    if serde_json::to_vec(&info).map(|v| v.len()).unwrap_or(usize::MAX) > 8192 {
        return Err(DomainError::invalid("client.info is limited to 8192 bytes"));
    }
    Ok(Some(ClientInput {
        client_id: id.to_string(),
        platform,
        integration_id: c.and_then(|c| c["integrationId"].as_str()).filter(|s| !s.is_empty()).map(str::to_string),
        info,
        push_token: c.and_then(|c| c["pushNotificationToken"].as_str()).map(str::to_string),
    }))
}

/// An SDK client attached to a user, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SdkClient {
    pub id: String,
    pub platform: String,
    #[serde(default)]
    pub integration_id: Option<String>,
    #[serde(default)]
    pub info: Map<String, Value>,
    #[serde(default)]
    pub push_notification_token: Option<String>,
    pub status: String,
    pub last_seen: i64,
    pub linked_at: i64,
    /// The v2 `client.id` (24 hex); `id` above is the SDK's own id for the install
    /// (`x-smooch-clientid`, the device's `guid`). Absent only on rows from before
    /// clients had v2 ids, which the store fills in when it opens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub v2_id: Option<String>,
    /// The v2 `device.id` of the install.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
}

impl SdkClient {
    pub fn new(input: &ClientInput, now: i64) -> SdkClient {
        SdkClient {
            id: input.client_id.clone(),
            platform: input.platform.clone(),
            integration_id: input.integration_id.clone(),
            info: input.info.clone(),
            push_notification_token: input.push_token.clone(),
            status: "active".into(),
            last_seen: now,
            linked_at: now,
            v2_id: Some(super::ids::new_id()),
            device_id: Some(super::ids::new_id()),
        }
    }

    /// The v2 `client.id`.
    pub fn v2_client_id(&self) -> &str {
        self.v2_id.as_deref().unwrap_or(&self.id)
    }

    /// Takes what a later request says about the same client.
    pub fn refresh(&mut self, input: &ClientInput, now: i64) {
        self.platform = input.platform.clone();
        if input.integration_id.is_some() {
            self.integration_id = input.integration_id.clone();
        }
        if !input.info.is_empty() {
            self.info = input.info.clone();
        }
        if input.push_token.is_some() {
            self.push_notification_token = input.push_token.clone();
        }
        self.status = "active".into();
        self.last_seen = now;
    }

    /// The spec's `client` (webhook payloads): `type: "sdk"`.
    pub fn to_v2(&self) -> Value {
        json!({
            "id": self.v2_client_id(),
            "type": "sdk",
            "status": self.status,
            "integrationId": self.integration_id,
            "externalId": null,
            "lastSeen": format_ms(self.last_seen),
            "linkedAt": format_ms(self.linked_at),
            "displayName": null,
            "avatarUrl": null,
            "info": self.info,
            "raw": { "platform": self.platform },
        })
    }

    /// `appUser.clients[]` as the SDKs read it.
    pub fn to_sdk(&self) -> Value {
        json!({
            "id": self.id,
            "platform": self.platform,
            "integrationId": self.integration_id,
            "active": self.status == "active",
            "primary": true,
            "lastSeen": format_ms(self.last_seen),
            "info": self.info,
        })
    }
}

/// A message's `source` for a message or activity sent through the SDK.
pub fn message_source(client: Option<&SdkClient>, integration_id: Option<&str>) -> Value {
    let platform = client.map(|c| c.platform.as_str()).unwrap_or("web");
    let mut s = json!({ "type": platform });
    if let Some(i) = integration_id.or_else(|| client.and_then(|c| c.integration_id.as_deref())) {
        s["integrationId"] = json!(i);
    }
    if let Some(c) = client {
        s["client"] = c.to_v2();
        s["device"] = super::client::device(c);
    }
    s
}

pub fn seconds(ms: i64) -> Value {
    json!(ms as f64 / 1000.0)
}

/// The SDK's `appUser`.
pub fn app_user(user: &User, clients: &[SdkClient], conversation_started: bool) -> Value {
    json!({
        "_id": user.id,
        "userId": user.external_id,
        "givenName": user.profile.given_name,
        "surname": user.profile.surname,
        "email": user.profile.email,
        "avatarUrl": user.profile.avatar_url,
        "locale": user.profile.locale,
        "signedUpAt": user.signed_up_at,
        "properties": user.metadata,
        "authenticated": user.authenticated,
        "conversationStarted": conversation_started,
        "clients": clients.iter().map(SdkClient::to_sdk).collect::<Vec<_>>(),
        "pendingClients": [],
        "hasPaymentInfo": false,
    })
}

/// `settings` of user responses: where the realtime endpoint is.
pub fn settings(realtime_url: &str) -> Value {
    json!({
        "realtime": { "enabled": true, "baseUrl": realtime_url, "retryInterval": 15, "maxConnectionAttempts": 5, "connectionDelay": 1 },
        "typing": { "enabled": true },
        "profile": { "enabled": true, "uploadInterval": 60 },
    })
}

/// The ids the SDK uses for a message's actions (for postbacks): `<messageId>-<n>`,
/// counting `actions[]` then each item's `actions[]`, in order.
fn action_slots(content: &mut Map<String, Value>) -> Vec<&mut Value> {
    let mut out = Vec::new();
    let (actions, items) = {
        let mut actions = None;
        let mut items = None;
        for (k, v) in content.iter_mut() {
            match k.as_str() {
                "actions" => actions = Some(v),
                "items" => items = Some(v),
                _ => {}
            }
        }
        (actions, items)
    };
    if let Some(Value::Array(a)) = actions {
        out.extend(a.iter_mut());
    }
    if let Some(Value::Array(items)) = items {
        for item in items.iter_mut() {
            if let Some(Value::Array(a)) = item.get_mut("actions") {
                out.extend(a.iter_mut());
            }
        }
    }
    out
}

/// The action whose SDK id is `action_id` in a stored message, if any.
pub fn find_action(message: &Value, action_id: &str) -> Option<Value> {
    let (mid, n) = action_id.rsplit_once('-')?;
    if message["id"].as_str() != Some(mid) {
        return None;
    }
    let n: usize = n.parse().ok()?;
    let mut content = message["content"].as_object()?.clone();
    action_slots(&mut content).into_iter().nth(n).map(|a| a.clone())
}

/// The message id inside an SDK action id.
pub fn action_message_id(action_id: &str) -> Option<&str> {
    action_id.rsplit_once('-').map(|(m, _)| m).filter(|m| super::ids::is_id(m))
}

/// A stored v2 message in the SDK's shape.
pub fn sdk_message(m: &Value) -> Value {
    let mut out = Map::new();
    let id = m["id"].as_str().unwrap_or_default().to_string();
    out.insert("_id".into(), json!(id));
    if let Some(ms) = m["received"].as_str().and_then(parse_iso) {
        out.insert("received".into(), seconds(ms));
    }
    let author = &m["author"];
    let is_user = author["type"] == "user";
    out.insert("role".into(), json!(if is_user { "appUser" } else { "appMaker" }));
    if is_user {
        if let Some(u) = author.get("userId").filter(|v| v.is_string()) {
            out.insert("authorId".into(), u.clone());
        }
    }
    if let Some(n) = author.get("displayName").filter(|v| v.is_string()) {
        out.insert("name".into(), n.clone());
    }
    if let Some(a) = author.get("avatarUrl").filter(|v| v.is_string()) {
        out.insert("avatarUrl".into(), a.clone());
    }
    if let Some(s) = author.get("subtypes").filter(|v| v.is_array()) {
        out.insert("subroles".into(), s.clone());
    }
    if let Value::Object(content) = &m["content"] {
        let mut content = content.clone();
        for (n, action) in action_slots(&mut content).into_iter().enumerate() {
            if let Value::Object(a) = action {
                a.insert("_id".into(), json!(format!("{id}-{n}")));
            }
        }
        for (k, v) in content {
            out.insert(k, v);
        }
    }
    for k in ["metadata", "quotedMessage"] {
        if let Some(v) = m.get(k).filter(|v| !v.is_null()) {
            out.insert(k.into(), v.clone());
        }
    }
    let source = &m["source"];
    let mut src = Map::new();
    if let Some(t) = source.get("type").filter(|v| v.is_string()) {
        src.insert("type".into(), t.clone());
    }
    // The SDK drops echoes of its own sends: `source.id` is the sender's clientId.
    // (`device.guid`; messages stored before devices carried it in `client.id`.)
    if let Some(cid) = source["device"]["guid"].as_str().or_else(|| source["client"]["id"].as_str()).or_else(|| source["id"].as_str()) {
        src.insert("id".into(), json!(cid));
    }
    if let Some(i) = source.get("integrationId").filter(|v| v.is_string()) {
        src.insert("integrationId".into(), i.clone());
    }
    out.insert("source".into(), Value::Object(src));
    Value::Object(out)
}

pub fn sdk_participant(p: &Participant) -> Value {
    json!({
        "_id": p.id,
        "appUserId": p.user_id,
        "userId": p.user_external_id,
        "unreadCount": p.unread_count,
        "lastRead": p.last_read.map(|ms| ms as f64 / 1000.0).unwrap_or(0.0),
    })
}

/// The SDK's `conversation`; `messages` oldest first when given.
pub fn sdk_conversation(c: &Conversation, participants: &[Participant], messages: Option<&[Value]>) -> Value {
    let mut v = json!({
        "_id": c.id,
        "type": c.kind.as_str(),
        "isDefault": c.is_default,
        "displayName": c.details.display_name,
        "description": c.details.description,
        "iconUrl": c.details.icon_url,
        "metadata": c.details.metadata.clone().unwrap_or_default(),
        "appMakerLastRead": c.business_last_read.map(|ms| ms as f64 / 1000.0).unwrap_or(0.0),
        "lastUpdatedAt": seconds(c.last_updated_at),
        "createdAt": seconds(c.created_at),
        "participants": participants.iter().map(sdk_participant).collect::<Vec<_>>(),
    });
    if let Some(m) = messages {
        v["messages"] = Value::Array(m.iter().map(sdk_message).collect());
    }
    v
}

/// Where a history page ends: `before` is a message id, or the SDK's unix seconds (the
/// `received` of the oldest message it holds).
#[derive(Debug, Clone, PartialEq)]
pub enum Before {
    Id(String),
    Ms(i64),
}

pub fn parse_before(raw: &str) -> DomainResult<Before> {
    if super::ids::is_id(raw) {
        return Ok(Before::Id(raw.to_string()));
    }
    match raw.parse::<f64>() {
        Ok(s) if s.is_finite() && s >= 0.0 => {
            // Seconds (floats, as `received`) or, for very large values, milliseconds.
            let ms = if s > 1e11 { s } else { s * 1000.0 };
            Ok(Before::Ms(ms.round() as i64))
        }
        _ => Err(DomainError::invalid("before must be a message id or a unix timestamp in seconds")),
    }
}

/// Fields of an SDK message that are not content.
const NOT_CONTENT: &[&str] = &[
    "_id", "role", "authorId", "received", "source", "metadata", "name", "avatarUrl", "subroles", "userId", "appUserId", "client", "sessionId", "deviceId",
];

/// A message posted by an end user: its content, metadata and any appUserId it names.
#[derive(Debug, Clone, PartialEq)]
pub struct SdkMessagePost {
    pub content: Value,
    pub metadata: Option<Map<String, Value>>,
    pub claimed_user: Option<String>,
}

/// Reads `{message:{type, text, …}, author:{…}}` (or the message fields at the top level,
/// as older clients sent them).
pub fn parse_message(body: &Value, mask_cards: bool) -> DomainResult<SdkMessagePost> {
    let msg = body.get("message").filter(|m| m.is_object()).unwrap_or(body);
    let Value::Object(map) = msg else { return Err(DomainError::invalid("message must be an object")) };
    let mut content = Map::new();
    for (k, v) in map {
        if !NOT_CONTENT.contains(&k.as_str()) {
            content.insert(k.clone(), v.clone());
        }
    }
    if !content.contains_key("type") && content.contains_key("text") {
        content.insert("type".into(), json!("text"));
    }
    if let Some(role) = map.get("role").and_then(Value::as_str) {
        if role != "appUser" {
            return Err(DomainError::invalid("message.role must be appUser"));
        }
    }
    let content = parse_content(&Value::Object(content), ContentOrigin::WebMessenger, mask_cards)?;
    let metadata = match map.get("metadata") {
        None | Some(Value::Null) => None,
        Some(Value::Object(m)) => {
            let mut p = Problems::new();
            check_metadata(&mut p, "message.metadata", "Message", m);
            p.finish()?;
            Some(m.clone())
        }
        Some(_) => return Err(DomainError::invalid("message.metadata must be an object")),
    };
    let claimed_user = body["author"]["appUserId"].as_str().or_else(|| map.get("authorId").and_then(Value::as_str)).map(str::to_string);
    Ok(SdkMessagePost { content, metadata, claimed_user })
}

/// `{activity:{type}}` (or `{type}`): typing and read.
pub fn parse_activity(body: &Value) -> DomainResult<ActivityKind> {
    let t = body["activity"]["type"].as_str().or_else(|| body["type"].as_str());
    t.and_then(ActivityKind::parse).ok_or_else(|| {
        let names: Vec<&str> = [ActivityKind::TypingStart, ActivityKind::TypingStop, ActivityKind::Read].iter().map(|k| k.as_str()).collect();
        DomainError::invalid(format!("activity.type must be one of {}", names.join(", ")))
    })
}

/// What a postback names: the action (by its SDK id), or directly a payload.
#[derive(Debug, Clone, PartialEq)]
pub enum PostbackRef {
    Action(String),
    Payload { payload: String, metadata: Option<Map<String, Value>> },
}

pub fn parse_postback(body: &Value) -> DomainResult<PostbackRef> {
    let pb = &body["postback"];
    if let Some(a) = pb["actionId"].as_str().or_else(|| body["actionId"].as_str()).filter(|s| !s.is_empty()) {
        return Ok(PostbackRef::Action(a.to_string()));
    }
    if let Some(p) = pb["payload"].as_str() {
        return Ok(PostbackRef::Payload { payload: p.to_string(), metadata: pb["metadata"].as_object().cloned() });
    }
    Err(DomainError::invalid("postback.actionId is required"))
}

/// The login body (§6): `userId`, and the current anonymous user if any.
#[derive(Debug, Clone, PartialEq)]
pub struct LoginBody {
    pub user_id: Option<String>,
    pub anonymous: Option<(String, String)>,
}

pub fn parse_login(body: &Value) -> LoginBody {
    let s = |k: &str| body[k].as_str().filter(|v| !v.is_empty()).map(str::to_string);
    let anonymous = match (s("appUserId"), s("sessionToken")) {
        (Some(u), Some(t)) => Some((u, t)),
        _ => None,
    };
    LoginBody { user_id: s("userId").or_else(|| s("externalId")), anonymous }
}

/// Applies an SDK profile update (`givenName`, `surname`, `email`, `avatarUrl`, `locale`,
/// `signedUpAt`, `properties` merged into metadata) through the v2 user rules.
pub fn update_app_user(user: &User, body: &Value) -> DomainResult<User> {
    let Value::Object(map) = body else { return Err(DomainError::invalid("The request body must be a JSON object")) };
    let mut profile = Map::new();
    for k in ["givenName", "surname", "email", "avatarUrl", "locale"] {
        match map.get(k) {
            Some(Value::String(s)) if s.is_empty() => {
                profile.insert(k.into(), Value::Null);
            }
            Some(v @ (Value::String(_) | Value::Null)) => {
                profile.insert(k.into(), v.clone());
            }
            Some(_) => return Err(DomainError::invalid(format!("{k} must be a string"))),
            None => {}
        }
    }
    let mut v2 = json!({ "profile": profile });
    match map.get("signedUpAt") {
        Some(Value::String(s)) => v2["signedUpAt"] = json!(s),
        Some(Value::Number(n)) => {
            let ms = n.as_f64().map(|s| if s > 1e11 { s } else { s * 1000.0 }).unwrap_or(0.0) as i64;
            v2["signedUpAt"] = json!(format_ms(ms));
        }
        _ => {}
    }
    match map.get("properties") {
        Some(Value::Object(props)) => {
            let mut metadata = user.metadata.clone();
            for (k, v) in props {
                if v.is_null() {
                    metadata.remove(k);
                } else {
                    metadata.insert(k.clone(), v.clone());
                }
            }
            v2["metadata"] = Value::Object(metadata);
        }
        None | Some(Value::Null) => {}
        Some(_) => return Err(DomainError::invalid("properties must be an object")),
    }
    update_user(user, v2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::user::new_user;

    #[test]
    fn messages_take_the_sdk_shape_with_action_ids() {
        let m = json!({
            "id": "5f0000000000000000000001", "received": "2020-09-13T12:26:40.500Z",
            "author": {"type": "user", "userId": "u1", "displayName": "Ann"},
            "content": {"type": "text", "text": "hi", "actions": [{"type": "postback", "text": "Buy", "payload": "BUY"}]},
            "source": {"type": "web", "client": {"id": "browser1"}},
        });
        let s = sdk_message(&m);
        assert_eq!(s["_id"], "5f0000000000000000000001");
        assert_eq!(s["role"], "appUser");
        assert_eq!(s["authorId"], "u1");
        assert_eq!(s["text"], "hi");
        assert_eq!(s["received"], json!(1_600_000_000.5));
        assert_eq!(s["source"]["id"], "browser1");
        let aid = s["actions"][0]["_id"].as_str().unwrap();
        assert_eq!(find_action(&m, aid).unwrap()["payload"], "BUY");
        assert_eq!(action_message_id(aid), Some("5f0000000000000000000001"));
        assert!(find_action(&m, "5f0000000000000000000001-7").is_none());
    }

    #[test]
    fn before_accepts_ids_and_seconds() {
        assert_eq!(parse_before("5f0000000000000000000001").unwrap(), Before::Id("5f0000000000000000000001".into()));
        assert_eq!(parse_before("1600000000.5").unwrap(), Before::Ms(1_600_000_000_500));
        assert!(parse_before("soon").is_err());
    }

    #[test]
    fn message_bodies_in_both_forms() {
        let a = parse_message(&json!({"message": {"type": "text", "text": "hi", "role": "appUser"}, "author": {"appUserId": "u"}}), false).unwrap();
        assert_eq!(a.content, json!({"type": "text", "text": "hi"}));
        assert_eq!(a.claimed_user.as_deref(), Some("u"));
        let b = parse_message(&json!({"text": "hi", "role": "appUser"}), false).unwrap();
        assert_eq!(b.content["text"], "hi");
        assert!(parse_message(&json!({"message": {"type": "text", "text": "x", "role": "appMaker"}}), false).is_err());
        assert!(parse_message(&json!({"message": {"type": "bogus"}}), false).is_err());
    }

    #[test]
    fn credentials_and_profile_updates() {
        let basic = format!("Basic {}", base64::Engine::encode(&base64::engine::general_purpose::STANDARD, "u1:tok"));
        assert_eq!(parse_end_user_auth(&basic).unwrap(), EndUserCredentials::Session { app_user_id: "u1".into(), token: "tok".into() });
        assert_eq!(platform_of_sdk("web/smooch/5.6.0"), Some("web"));
        let u = new_user("u".into(), 0, json!({}), false).unwrap();
        let v = update_app_user(&u, &json!({"givenName": "Ann", "properties": {"plan": "gold"}})).unwrap();
        assert_eq!(v.profile.given_name.as_deref(), Some("Ann"));
        assert_eq!(v.metadata["plan"], "gold");
        assert!(update_app_user(&u, &json!({"email": "nope"})).is_err());
    }
}
