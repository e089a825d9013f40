//! Webhooks: what a client may ask for (target, triggers, options) and the shape of what
//! is delivered (the envelope, `includeFullUser`, `includeFullSource`).

use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::{DomainError, DomainResult};
use super::event::Trigger;
use super::validate::{from_value, is_http_url, Problems};

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
    pub triggers: Vec<Trigger>,
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
    pub triggers: Vec<Trigger>,
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

    pub fn wants(&self, trigger: Trigger) -> bool {
        self.triggers.contains(&trigger)
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

fn check_triggers(p: &mut Problems, v: &Value) -> Option<Vec<Trigger>> {
    let Value::Array(items) = v else {
        p.push("triggers must be an array of strings");
        return None;
    };
    if items.is_empty() {
        p.push("triggers must contain at least one trigger");
        return None;
    }
    let mut out: Vec<Trigger> = Vec::new();
    let mut ok = true;
    for item in items {
        match item.as_str().map(|name| (name, Trigger::parse(name))) {
            Some((_, Some(t))) => {
                if !out.contains(&t) {
                    out.push(t);
                }
            }
            Some((t, None)) => {
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
    triggers: Option<Vec<Trigger>>,
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
}
