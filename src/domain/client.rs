//! A user's clients and devices (the spec's Clients and Devices tags): how a user is
//! reached. No I/O.
//!
//! Two kinds of client exist here:
//! - an **SDK client** ([`SdkClient`]) per browser or app install, made by the SDK API.
//!   Its v2 `client` has `type: "sdk"`, and the same install is the user's **device**
//!   (`guid` = the SDK's own client id);
//! - a **channel client** ([`ChannelClient`]) made by CreateClient: a request to link the
//!   user to a third-party channel (mailgun, messagebird, twilio, whatsapp). Sunbeam has
//!   no connector to those channels, so nothing can ever match or confirm the link: the
//!   client stays `pending`, and its `raw.linkStatus` says so.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::error::{DomainError, DomainResult};
use super::message::parse_message_post;
use super::sdk::SdkClient;
use super::time::format_ms;
use super::validate::{is_email, Problems};

/// The channel types CreateClient can link (the spec's `matchCriteria` discriminator).
pub const LINKABLE: &[&str] = &["mailgun", "messagebird", "twilio", "whatsapp"];

/// What `raw.linkStatus` of a channel client says: the link waits for a channel that
/// this server cannot reach.
pub const LINK_UNAVAILABLE: &str = "unavailable";

/// A channel link request (CreateClient) as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChannelClient {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub status: String,
    pub integration_id: String,
    #[serde(default)]
    pub external_id: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub avatar_url: Option<String>,
    #[serde(default)]
    pub info: Option<Map<String, Value>>,
    #[serde(default)]
    pub raw: Option<Map<String, Value>>,
    #[serde(default)]
    pub last_seen: Option<i64>,
    #[serde(default)]
    pub linked_at: Option<i64>,
    /// The conversation the link was asked for (`target.conversationId`).
    pub conversation_id: String,
    /// Whether the client becomes the conversation's primary one once linked.
    #[serde(default)]
    pub primary: bool,
}

impl ChannelClient {
    /// The spec's `client`.
    pub fn to_v2(&self) -> Value {
        json!({
            "id": self.id,
            "type": self.kind,
            "status": self.status,
            "integrationId": self.integration_id,
            "externalId": self.external_id,
            "lastSeen": self.last_seen.map(format_ms),
            "linkedAt": self.linked_at.map(format_ms),
            "displayName": self.display_name,
            "avatarUrl": self.avatar_url,
            "info": self.info,
            "raw": self.raw,
        })
    }

    /// DeleteUserPersonalInformation: what the channel said about the person goes.
    pub fn scrub(&mut self) {
        self.display_name = None;
        self.avatar_url = None;
        self.info = None;
        self.raw = None;
    }
}

/// Any client, as events carry it. Stored events of SDK clients hold the [`SdkClient`]
/// form; the two forms are told apart by their fields (`platform` vs `type`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ClientRecord {
    Sdk(SdkClient),
    Channel(ChannelClient),
}

impl ClientRecord {
    pub fn to_v2(&self) -> Value {
        match self {
            ClientRecord::Sdk(c) => c.to_v2(),
            ClientRecord::Channel(c) => c.to_v2(),
        }
    }
}

impl From<SdkClient> for ClientRecord {
    fn from(c: SdkClient) -> Self {
        ClientRecord::Sdk(c)
    }
}

/// The spec's `device` of an SDK install.
pub fn device(c: &SdkClient) -> Value {
    let kind = match c.platform.as_str() {
        "ios" => "ios",
        "android" => "android",
        _ => "web",
    };
    let app_version = c.info.get("appVersion").filter(|v| v.is_string()).cloned().unwrap_or(Value::Null);
    json!({
        "id": c.device_id.clone().unwrap_or_else(|| c.id.clone()),
        "type": kind,
        "guid": c.id,
        "clientId": c.v2_client_id(),
        "status": if c.status == "active" { "active" } else { "inactive" },
        "integrationId": c.integration_id,
        "lastSeen": format_ms(c.last_seen),
        "pushNotificationToken": c.push_notification_token,
        "info": c.info,
        "appVersion": app_version,
    })
}

/// `clientAssociations[]` of a participant: its clients, primary (most recently seen)
/// first. Pending channel links are attached to no conversation yet.
pub fn associations(clients: &[SdkClient]) -> Vec<Value> {
    let mut active: Vec<&SdkClient> = clients.iter().filter(|c| c.status == "active").collect();
    active.sort_by(|a, b| b.last_seen.cmp(&a.last_seen).then_with(|| b.id.cmp(&a.id)));
    active.into_iter().map(|c| json!({ "type": "sdk", "clientId": c.v2_client_id() })).collect()
}

/// A validated CreateClient body.
#[derive(Debug, Clone, PartialEq)]
pub struct NewChannelClient {
    pub kind: String,
    pub integration_id: String,
    pub primary: bool,
    pub conversation_id: String,
    /// `matchCriteria` and `confirmation` as asked, kept in the client's `raw`.
    pub match_criteria: Map<String, Value>,
    pub confirmation: Map<String, Value>,
}

impl NewChannelClient {
    pub fn into_client(self, id: String) -> ChannelClient {
        let reason = format!(
            "Sunbeam has no connection to {}: no channel can match or confirm this link, so it stays pending until it is removed",
            self.kind
        );
        let mut raw = Map::new();
        raw.insert("linkStatus".into(), json!(LINK_UNAVAILABLE));
        raw.insert("linkStatusReason".into(), json!(reason));
        raw.insert("matchCriteria".into(), Value::Object(self.match_criteria));
        raw.insert("confirmation".into(), Value::Object(self.confirmation));
        ChannelClient {
            id,
            kind: self.kind,
            status: "pending".into(),
            integration_id: self.integration_id,
            external_id: None,
            display_name: None,
            avatar_url: None,
            info: None,
            raw: Some(raw),
            last_seen: None,
            linked_at: None,
            conversation_id: self.conversation_id,
            primary: self.primary,
        }
    }
}

/// "+ prefix and the country code", then digits with optional spaces, dashes, dots or
/// parentheses: `+1 212-555-2368`, `+12125552368`.
pub fn is_phone_number(s: &str) -> bool {
    let Some(rest) = s.strip_prefix('+') else { return false };
    let digits = rest.chars().filter(char::is_ascii_digit).count();
    (7..=15).contains(&digits)
        && rest.chars().next().is_some_and(|c| c.is_ascii_digit())
        && rest.chars().all(|c| c.is_ascii_digit() || matches!(c, ' ' | '-' | '.' | '(' | ')'))
}

fn string_field<'a>(obj: &'a Map<String, Value>, path: &str, key: &str, required: bool, p: &mut Problems) -> Option<&'a str> {
    match obj.get(key) {
        None | Some(Value::Null) if required => {
            p.push(format!("{path}.{key} is required"));
            None
        }
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => {
            p.push(format!("{path}.{key} must not be empty"));
            None
        }
        Some(Value::String(s)) => Some(s),
        Some(_) => {
            p.push(format!("{path}.{key} must be a string"));
            None
        }
    }
}

fn object<'a>(body: &'a Map<String, Value>, key: &str, p: &mut Problems) -> Option<&'a Map<String, Value>> {
    match body.get(key) {
        Some(Value::Object(o)) => Some(o),
        None | Some(Value::Null) => {
            p.push(format!("{key} is required"));
            None
        }
        Some(_) => {
            p.push(format!("{key} must be an object"));
            None
        }
    }
}

/// The confirmation message: a `messagePost` of type text or image whose actions are
/// all links ("not added to the user's conversation").
fn check_confirmation_message(message: &Value, p: &mut Problems) {
    let prefix = "confirmation.message";
    if !message.is_object() {
        p.push(format!("{prefix} must be an object"));
        return;
    }
    match parse_message_post(message.clone(), &Default::default()) {
        Err(DomainError::Invalid(problems)) => {
            for problem in problems {
                p.push(format!("{prefix}.{problem}"));
            }
        }
        Err(other) => p.push(format!("{prefix}: {other}")),
        Ok(m) => {
            let kind = m.content["type"].as_str().unwrap_or_default();
            if kind != "text" && kind != "image" {
                p.push(format!("{prefix}.content.type must be text or image"));
            }
            for (i, a) in m.content["actions"].as_array().into_iter().flatten().enumerate() {
                if a["type"] != "link" {
                    p.push(format!("{prefix}.content.actions[{i}].type must be link"));
                }
            }
        }
    }
}

/// Parses a CreateClient body (`clientCreate`).
pub fn parse_client_create(body: &Value) -> DomainResult<NewChannelClient> {
    let Value::Object(body) = body else { return Err(DomainError::invalid("The request body must be a JSON object")) };
    let mut p = Problems::new();
    let criteria = object(body, "matchCriteria", &mut p);
    let confirmation = object(body, "confirmation", &mut p);
    let target = object(body, "target", &mut p);

    let mut kind = None;
    let mut integration_id = None;
    let mut primary = true;
    if let Some(c) = criteria {
        let path = "matchCriteria";
        kind = string_field(c, path, "type", true, &mut p).and_then(|t| {
            if LINKABLE.contains(&t) {
                Some(t.to_string())
            } else {
                p.push(format!("{path}.type must be one of {}", LINKABLE.join(", ")));
                None
            }
        });
        integration_id = string_field(c, path, "integrationId", true, &mut p).map(str::to_string);
        match c.get("primary") {
            None | Some(Value::Null) => {}
            Some(Value::Bool(b)) => primary = *b,
            Some(_) => p.push(format!("{path}.primary must be a boolean")),
        }
        match kind.as_deref() {
            Some("mailgun") => {
                if let Some(a) = string_field(c, path, "address", true, &mut p) {
                    if !is_email(a) {
                        p.push(format!("{path}.address must be a valid email address"));
                    }
                }
                if let Some(s) = string_field(c, path, "subject", false, &mut p) {
                    p.length(&format!("{path}.subject"), s, 1, 998);
                }
            }
            Some(_) => {
                if let Some(n) = string_field(c, path, "phoneNumber", true, &mut p) {
                    if !is_phone_number(n) {
                        p.push(format!("{path}.phoneNumber must start with + and the country code, e.g. +1 212-555-2368"));
                    }
                }
            }
            None => {}
        }
    }
    if let Some(c) = confirmation {
        if let Some(t) = string_field(c, "confirmation", "type", true, &mut p) {
            if !["immediate", "userActivity", "prompt"].contains(&t) {
                p.push("confirmation.type must be one of immediate, userActivity, prompt");
            }
        }
        if let Some(m) = c.get("message").filter(|m| !m.is_null()) {
            check_confirmation_message(m, &mut p);
        }
    }
    let conversation_id = target.and_then(|t| string_field(t, "target", "conversationId", true, &mut p)).map(str::to_string);
    p.finish()?;
    let (Some(kind), Some(integration_id), Some(conversation_id), Some(criteria), Some(confirmation)) = (kind, integration_id, conversation_id, criteria, confirmation)
    else {
        return Err(DomainError::invalid("matchCriteria, confirmation and target are required"));
    };
    let mut match_criteria = criteria.clone();
    match_criteria.insert("primary".into(), json!(primary));
    if kind == "mailgun" && !match_criteria.contains_key("subject") {
        match_criteria.insert("subject".into(), json!("New message from {appName}"));
    }
    Ok(NewChannelClient { kind, integration_id, primary, conversation_id, match_criteria, confirmation: confirmation.clone() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body() -> Value {
        json!({
            "matchCriteria": {"type": "whatsapp", "integrationId": "582dedf230e788746891281a", "primary": true, "phoneNumber": "+1 212-555-2368"},
            "confirmation": {"type": "immediate"},
            "target": {"conversationId": "029c31f25a21b47effd7be90"}
        })
    }

    #[test]
    fn the_spec_examples_parse() {
        let c = parse_client_create(&body()).unwrap();
        assert_eq!((c.kind.as_str(), c.primary, c.conversation_id.as_str()), ("whatsapp", true, "029c31f25a21b47effd7be90"));
        let mail = json!({
            "matchCriteria": {"type": "mailgun", "integrationId": "582dedf230e788746891281a", "address": "steveb@channel5.com"},
            "confirmation": {"type": "prompt", "message": {"author": {"type": "business"}, "content": {"type": "text", "text": "Hi", "actions": [{"type": "link", "text": "Go", "uri": "https://example.com"}]}}},
            "target": {"conversationId": "029c31f25a21b47effd7be90"}
        });
        let c = parse_client_create(&mail).unwrap();
        assert_eq!(c.match_criteria["subject"], "New message from {appName}");
        let client = c.into_client("0123456789abcdef01234567".into());
        assert_eq!(client.status, "pending");
        assert_eq!(client.to_v2()["raw"]["linkStatus"], LINK_UNAVAILABLE);
    }

    #[test]
    fn every_problem_is_named() {
        let err = |b: Value| match parse_client_create(&b) {
            Err(DomainError::Invalid(v)) => v.join(" | "),
            other => panic!("{other:?}"),
        };
        assert!(err(json!({})).contains("matchCriteria is required"));
        let mut b = body();
        b["matchCriteria"]["type"] = json!("telegram");
        assert!(err(b).contains("matchCriteria.type must be one of"));
        let mut b = body();
        b["matchCriteria"]["phoneNumber"] = json!("212 555 2368");
        assert!(err(b).contains("phoneNumber"));
        let mut b = body();
        b["confirmation"]["type"] = json!("later");
        assert!(err(b).contains("confirmation.type"));
        let mut b = body();
        b["confirmation"]["message"] = json!({"author": {"type": "business"}, "content": {"type": "location", "coordinates": {"lat": 1, "long": 2}}});
        assert!(err(b).contains("text or image"));
        let mut b = body();
        b["target"] = json!({});
        assert!(err(b).contains("target.conversationId is required"));
    }

    #[test]
    fn phone_numbers_need_the_country_code() {
        assert!(is_phone_number("+1 212-555-2368") && is_phone_number("+12125552368") && is_phone_number("+1 212 555 2368"));
        assert!(!is_phone_number("212 555 2368") && !is_phone_number("1 212 555 2368") && !is_phone_number("+1 abc"));
    }

    #[test]
    fn records_of_either_kind_read_back() {
        let sdk = SdkClient {
            id: "browser".into(),
            platform: "web".into(),
            integration_id: None,
            info: Map::new(),
            push_notification_token: None,
            status: "active".into(),
            last_seen: 2,
            linked_at: 1,
            v2_id: Some("0123456789abcdef01234567".into()),
            device_id: Some("0123456789abcdef01234568".into()),
        };
        let channel = parse_client_create(&body()).unwrap().into_client("0123456789abcdef01234569".into());
        for r in [ClientRecord::Sdk(sdk.clone()), ClientRecord::Channel(channel)] {
            let back: ClientRecord = serde_json::from_value(serde_json::to_value(&r).unwrap()).unwrap();
            assert_eq!(back, r);
        }
        assert_eq!(device(&sdk)["clientId"], "0123456789abcdef01234567");
        assert_eq!(device(&sdk)["guid"], "browser");
        assert_eq!(associations(&[sdk]), vec![json!({"type": "sdk", "clientId": "0123456789abcdef01234567"})]);
    }
}
