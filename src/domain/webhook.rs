//! Webhooks: what a client may ask for (target, triggers, options) and the shape of what
//! is delivered (the envelope, `includeFullUser`, `includeFullSource`).

use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::error::{DomainError, DomainResult};
use super::validate::{from_value, is_http_url, Problems};

/// The triggers of the spec's table (Webhooks tag), case sensitive. There is no wildcard.
pub const TRIGGERS: &[&str] = &[
    "client:add",
    "client:remove",
    "client:update",
    "conversation:create",
    "conversation:join",
    "conversation:leave",
    "conversation:remove",
    "conversation:message",
    "conversation:message:delivery:channel",
    "conversation:message:delivery:failure",
    "conversation:message:delivery:user",
    "conversation:postback",
    "conversation:read",
    "conversation:referral",
    "passthrough:messaging",
    "conversation:typing",
    "switchboard:acceptControl",
    "switchboard:acceptControl:failure",
    "switchboard:offerControl",
    "switchboard:offerControl:failure",
    "switchboard:passControl",
    "switchboard:passControl:failure",
    "switchboard:releaseControl",
    "user:merge",
    "user:update",
    "user:remove",
];

/// An app holds at most this many webhooks (Webhooks tag).
pub const MAX_WEBHOOKS_PER_APP: i64 = 10;

/// The payload schema version Sunbeam delivers.
pub const VERSION: &str = "v2";

const MAX_TARGET_LENGTH: usize = 2048;

/// A webhook as stored and shown (the spec's `webhook`). The secret is shown on POST and
/// GET (and in lists), as the hosted service does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Webhook {
    pub id: String,
    pub version: String,
    pub target: String,
    pub triggers: Vec<String>,
    pub secret: String,
    pub include_full_user: bool,
    pub include_full_source: bool,
}

/// The stored document of a webhook: everything but its id and (sealed) secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookDoc {
    pub version: String,
    pub target: String,
    pub triggers: Vec<String>,
    #[serde(default)]
    pub include_full_user: bool,
    #[serde(default)]
    pub include_full_source: bool,
}

impl Webhook {
    pub fn doc(&self) -> WebhookDoc {
        WebhookDoc {
            version: self.version.clone(),
            target: self.target.clone(),
            triggers: self.triggers.clone(),
            include_full_user: self.include_full_user,
            include_full_source: self.include_full_source,
        }
    }

    pub fn from_doc(id: String, secret: String, doc: WebhookDoc) -> Webhook {
        Webhook {
            id,
            version: doc.version,
            target: doc.target,
            triggers: doc.triggers,
            secret,
            include_full_user: doc.include_full_user,
            include_full_source: doc.include_full_source,
        }
    }

    pub fn wants(&self, trigger: &str) -> bool {
        self.triggers.iter().any(|t| t == trigger)
    }
}

/// A fresh shared secret: 32 hex characters, as in the spec's examples.
pub fn new_webhook_secret() -> String {
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WebhookBody {
    #[serde(default)]
    target: Option<Value>,
    #[serde(default)]
    triggers: Option<Value>,
    #[serde(default)]
    include_full_user: Option<Value>,
    #[serde(default)]
    include_full_source: Option<Value>,
}

fn check_target(p: &mut Problems, v: &Value) -> Option<String> {
    match v {
        Value::String(s) => {
            if s.chars().count() > MAX_TARGET_LENGTH {
                p.push(format!("target must be at most {MAX_TARGET_LENGTH} characters long"));
                None
            } else if !is_http_url(s) || s.chars().any(char::is_whitespace) {
                p.push("target must be an http or https URL");
                None
            } else {
                Some(s.clone())
            }
        }
        _ => {
            p.push("target must be a string");
            None
        }
    }
}

fn check_triggers(p: &mut Problems, v: &Value) -> Option<Vec<String>> {
    let Value::Array(items) = v else {
        p.push("triggers must be an array of strings");
        return None;
    };
    if items.is_empty() {
        p.push("triggers must contain at least one trigger");
        return None;
    }
    let mut out: Vec<String> = Vec::new();
    let mut ok = true;
    for item in items {
        match item.as_str() {
            Some(t) if TRIGGERS.contains(&t) => {
                if !out.iter().any(|o| o == t) {
                    out.push(t.to_string());
                }
            }
            Some(t) => {
                ok = false;
                p.push(format!("triggers: '{t}' is not a valid trigger"));
            }
            None => {
                ok = false;
                p.push("triggers must be an array of strings");
            }
        }
    }
    ok.then_some(out)
}

fn check_bool(p: &mut Problems, field: &str, v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        _ => {
            p.push(format!("{field} must be a boolean"));
            None
        }
    }
}

/// Parses a `webhookCreateBody` (also the inline webhook of a `custom` integration).
/// Read-only fields (`id`, `version`, `secret`) are ignored.
pub fn new_webhook(id: String, body: Value) -> DomainResult<Webhook> {
    if !body.is_object() {
        return Err(DomainError::invalid("A webhook must be an object"));
    }
    let b: WebhookBody = from_value(body)?;
    let mut p = Problems::new();
    let target = match &b.target {
        Some(v) => check_target(&mut p, v),
        None => {
            p.push("should have required property 'target'");
            None
        }
    };
    let triggers = match &b.triggers {
        Some(v) => check_triggers(&mut p, v),
        None => {
            p.push("should have required property 'triggers'");
            None
        }
    };
    let full_user = b.include_full_user.as_ref().and_then(|v| check_bool(&mut p, "includeFullUser", v)).unwrap_or(false);
    let full_source = b.include_full_source.as_ref().and_then(|v| check_bool(&mut p, "includeFullSource", v)).unwrap_or(false);
    p.finish()?;
    Ok(Webhook {
        id,
        version: VERSION.to_string(),
        target: target.expect("checked"),
        triggers: triggers.expect("checked"),
        secret: new_webhook_secret(),
        include_full_user: full_user,
        include_full_source: full_source,
    })
}

/// A `webhookBody` (PATCH), parsed and checked: every field optional, none nullable.
/// The store applies it to the webhook as stored, inside the transaction that writes
/// the result, so concurrent updates of one webhook each keep the other's change.
#[derive(Debug)]
pub struct WebhookPatch {
    target: Option<String>,
    triggers: Option<Vec<String>>,
    include_full_user: Option<bool>,
    include_full_source: Option<bool>,
}

impl WebhookPatch {
    pub fn parse(body: Value) -> DomainResult<WebhookPatch> {
        let b: WebhookBody = from_value(body)?;
        let mut p = Problems::new();
        let patch = WebhookPatch {
            target: b.target.as_ref().and_then(|v| check_target(&mut p, v)),
            triggers: b.triggers.as_ref().and_then(|v| check_triggers(&mut p, v)),
            include_full_user: b.include_full_user.as_ref().and_then(|v| check_bool(&mut p, "includeFullUser", v)),
            include_full_source: b.include_full_source.as_ref().and_then(|v| check_bool(&mut p, "includeFullSource", v)),
        };
        p.finish()?;
        Ok(patch)
    }

    pub fn apply(&self, current: &Webhook) -> Webhook {
        let mut next = current.clone();
        if let Some(t) = &self.target {
            next.target = t.clone();
        }
        if let Some(t) = &self.triggers {
            next.triggers = t.clone();
        }
        if let Some(f) = self.include_full_user {
            next.include_full_user = f;
        }
        if let Some(f) = self.include_full_source {
            next.include_full_source = f;
        }
        next
    }
}

/// Applies a `webhookBody` (PATCH); see [`WebhookPatch`].
pub fn update_webhook(current: &Webhook, body: Value) -> DomainResult<Webhook> {
    Ok(WebhookPatch::parse(body)?.apply(current))
}

// ---- what is delivered ----

/// Where an event's payload may carry a `userTruncated` that `includeFullUser` widens.
const USER_PATHS: &[&[&str]] = &[&["user"], &["message", "author", "user"], &["activity", "author", "user"]];

/// Where a payload may carry a `source` whose `client`/`device` only `includeFullSource` keeps.
const SOURCE_PATHS: &[&[&str]] = &[&["source"], &["message", "source"], &["activity", "source"]];

fn at_mut<'a>(v: &'a mut Value, path: &[&str]) -> Option<&'a mut Value> {
    path.iter().try_fold(v, |v, k| v.get_mut(*k))
}

/// Ids of the users a payload names where `includeFullUser` would widen them.
pub fn user_ids(payload: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for path in USER_PATHS {
        let id = path.iter().try_fold(payload, |v, k| v.get(*k)).and_then(|u| u.get("id")).and_then(Value::as_str);
        if let Some(id) = id {
            if !out.iter().any(|o| o == id) {
                out.push(id.to_string());
            }
        }
    }
    out
}

/// Shapes a stored event payload for one webhook: with `full_user`, each `userTruncated`
/// whose id it knows becomes the full user; without `include_full_source`, sources lose
/// `client` and `device`.
pub fn shape_payload(mut payload: Value, full_users: &[(String, Value)], include_full_source: bool) -> Value {
    for path in USER_PATHS {
        if let Some(slot) = at_mut(&mut payload, path) {
            let id = slot.get("id").and_then(Value::as_str).map(str::to_string);
            if let Some((_, full)) = id.and_then(|id| full_users.iter().find(|(u, _)| *u == id)) {
                *slot = full.clone();
            }
        }
    }
    if !include_full_source {
        for path in SOURCE_PATHS {
            if let Some(Value::Object(source)) = at_mut(&mut payload, path) {
                source.remove("client");
                source.remove("device");
            }
        }
    }
    payload
}

/// The spec's `eventSubSchema` with its payload: `{id, type, createdAt, payload}`.
pub fn event_object(id: &str, kind: &str, created_at: &str, payload: Value) -> Value {
    json!({ "id": id, "type": kind, "createdAt": created_at, "payload": payload })
}

/// The body POSTed to a target: `{app:{id}, webhook:{id, version}, events:[…]}`.
pub fn envelope(app_id: &str, webhook_id: &str, version: &str, events: Vec<Value>) -> Value {
    json!({ "app": { "id": app_id }, "webhook": { "id": webhook_id, "version": version }, "events": events })
}

/// Which deliveries of a webhook must keep their order: those of one conversation, else
/// those about one user; others need none.
pub fn order_key(conversation_id: Option<&str>, payload: &Value) -> Option<String> {
    if let Some(c) = conversation_id {
        return Some(format!("c:{c}"));
    }
    payload.get("user").and_then(|u| u.get("id")).and_then(Value::as_str).map(|u| format!("u:{u}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_requires_target_and_known_triggers() {
        let w = new_webhook("w1".into(), json!({"target": "https://example.com/hook", "triggers": ["conversation:message", "user:remove"]})).unwrap();
        assert_eq!(w.version, "v2");
        assert_eq!(w.secret.len(), 32);
        assert!(!w.include_full_user && !w.include_full_source);
        assert!(new_webhook("w".into(), json!({"triggers": ["conversation:message"]})).is_err());
        assert!(new_webhook("w".into(), json!({"target": "https://e.com"})).is_err());
        assert!(new_webhook("w".into(), json!({"target": "ftp://e.com", "triggers": ["user:remove"]})).is_err());
        assert!(new_webhook("w".into(), json!({"target": "https://e.com", "triggers": ["*"]})).is_err());
        assert!(new_webhook("w".into(), json!({"target": "https://e.com", "triggers": ["Conversation:Message"]})).is_err());
        assert!(new_webhook("w".into(), json!({"target": "https://e.com", "triggers": []})).is_err());
        assert!(new_webhook("w".into(), json!({"target": "https://e.com", "triggers": ["user:remove"], "includeFullUser": "yes"})).is_err());
        match new_webhook("w".into(), json!({"target": 3, "triggers": ["nope"]})) {
            Err(DomainError::Invalid(v)) => assert_eq!(v.len(), 2),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn update_changes_only_what_is_sent() {
        let w = new_webhook("w1".into(), json!({"target": "https://example.com/hook", "triggers": ["user:remove"]})).unwrap();
        let u = update_webhook(&w, json!({"includeFullUser": true})).unwrap();
        assert!(u.include_full_user);
        assert_eq!((u.target.as_str(), u.secret.as_str()), (w.target.as_str(), w.secret.as_str()));
        assert!(update_webhook(&w, json!({"target": "nope"})).is_err());
    }

    #[test]
    fn shaping_widens_users_and_strips_sources() {
        let payload = json!({
            "user": {"id": "u1", "authenticated": false},
            "message": {"author": {"type": "user", "userId": "u1", "user": {"id": "u1"}}, "source": {"type": "web", "client": {"id": "c"}}},
        });
        assert_eq!(user_ids(&payload), vec!["u1".to_string()]);
        let full = json!({"id": "u1", "profile": {"givenName": "Ann"}});
        let shaped = shape_payload(payload.clone(), &[("u1".into(), full.clone())], false);
        assert_eq!(shaped["user"], full);
        assert_eq!(shaped["message"]["author"]["user"], full);
        assert!(shaped["message"]["source"].get("client").is_none());
        let plain = shape_payload(payload.clone(), &[], true);
        assert_eq!(plain, payload);
    }

    #[test]
    fn order_keys() {
        assert_eq!(order_key(Some("c1"), &json!({})), Some("c:c1".into()));
        assert_eq!(order_key(None, &json!({"user": {"id": "u"}})), Some("u:u".into()));
        assert_eq!(order_key(None, &json!({})), None);
    }
}
