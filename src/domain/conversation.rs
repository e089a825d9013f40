//! Conversations (`personal`, `sdkGroup`) and their participants.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::error::{DomainError, DomainResult};
use super::metadata::check_metadata;
use super::switchboard::Control;
use super::time::format_ms;
use super::validate::{from_value, Patch, Problems};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ConversationKind {
    Personal,
    SdkGroup,
}

impl ConversationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ConversationKind::Personal => "personal",
            ConversationKind::SdkGroup => "sdkGroup",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "personal" => Some(ConversationKind::Personal),
            "sdkGroup" => Some(ConversationKind::SdkGroup),
            _ => None,
        }
    }
}

/// The editable, descriptive part of a conversation (stored as one JSON document).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConversationDetails {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Map<String, Value>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Conversation {
    pub id: String,
    pub kind: ConversationKind,
    pub is_default: bool,
    pub details: ConversationDetails,
    pub business_last_read: Option<i64>,
    pub created_at: i64,
    pub last_updated_at: i64,
    /// Its switchboard state: who is active, who is pending.
    pub control: Control,
}

impl Conversation {
    /// The spec's `conversation`.
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "id": self.id,
            "type": self.kind.as_str(),
            "isDefault": self.is_default,
            "metadata": self.details.metadata,
            "createdAt": format_ms(self.created_at),
            "lastUpdatedAt": format_ms(self.last_updated_at),
        });
        if let Some(n) = &self.details.display_name {
            v["displayName"] = json!(n);
        }
        if let Some(d) = &self.details.description {
            v["description"] = json!(d);
        }
        if let Some(i) = &self.details.icon_url {
            v["iconUrl"] = json!(i);
        }
        if let Some(b) = self.business_last_read {
            v["businessLastRead"] = json!(format_ms(b));
        }
        self.control.write_into(&mut v);
        v
    }

    /// The spec's `conversationTruncated`, as webhook payloads carry it.
    pub fn truncated(&self) -> Value {
        let mut v = truncated(&self.id, self.kind, self.details.metadata.as_ref());
        self.control.write_into(&mut v);
        v
    }
}

pub fn truncated(id: &str, kind: ConversationKind, metadata: Option<&Map<String, Value>>) -> Value {
    json!({ "id": id, "type": kind.as_str(), "metadata": metadata })
}

/// A reference to a user in a body: exactly one of `userId` / `userExternalId`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserRef {
    Id(String),
    ExternalId(String),
}

impl UserRef {
    pub fn parts(&self) -> (Option<&str>, Option<&str>) {
        match self {
            UserRef::Id(i) => (Some(i), None),
            UserRef::ExternalId(e) => (None, Some(e)),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ParticipantBody {
    user_id: Option<String>,
    user_external_id: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    subscribe_sdk_client: Option<bool>,
    participant_id: Option<String>,
}

fn user_ref(field: &str, body: &ParticipantBody, p: &mut Problems) -> Option<UserRef> {
    match (&body.user_id, &body.user_external_id) {
        (Some(id), None) if !id.is_empty() => Some(UserRef::Id(id.clone())),
        (None, Some(e)) if !e.is_empty() => Some(UserRef::ExternalId(e.clone())),
        (Some(_), Some(_)) => {
            p.push(format!("{field}: provide only one of userId or userExternalId"));
            None
        }
        _ => {
            p.push(format!("{field}: userId or userExternalId is required"));
            None
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewConversation {
    pub kind: ConversationKind,
    pub participants: Vec<UserRef>,
    pub details: ConversationDetails,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConversationBody {
    #[serde(rename = "type")]
    kind: Option<String>,
    participants: Option<Vec<ParticipantBody>>,
    #[serde(default)]
    display_name: Patch<String>,
    #[serde(default)]
    description: Patch<String>,
    #[serde(default)]
    icon_url: Patch<String>,
    #[serde(default)]
    metadata: Patch<Map<String, Value>>,
}

fn check_details(body: &ConversationBody, p: &mut Problems) {
    if let Patch::Value(v) = &body.display_name {
        p.length("displayName", v, 1, 100);
    }
    if let Patch::Value(v) = &body.description {
        p.length("description", v, 1, 100);
    }
    if let Patch::Value(v) = &body.icon_url {
        p.uri("iconUrl", v, 2048);
    }
    if let Patch::Value(m) = &body.metadata {
        check_metadata(p, "metadata", "Conversation", m);
    }
}

fn set_details(details: &mut ConversationDetails, body: &ConversationBody) {
    fn set(slot: &mut Option<String>, v: &Patch<String>) {
        match v {
            Patch::Value(s) => *slot = Some(s.clone()),
            Patch::Null => *slot = None,
            Patch::Missing => {}
        }
    }
    set(&mut details.display_name, &body.display_name);
    set(&mut details.description, &body.description);
    set(&mut details.icon_url, &body.icon_url);
    match &body.metadata {
        Patch::Value(m) => details.metadata = Some(m.clone()),
        Patch::Null => details.metadata = None,
        Patch::Missing => {}
    }
}

/// Parses a CreateConversation body.
pub fn parse_new_conversation(body: Value, max_participants: usize) -> DomainResult<NewConversation> {
    let body: ConversationBody = from_value(body)?;
    let mut p = Problems::new();
    let kind = match body.kind.as_deref() {
        None => {
            p.push("type is required");
            None
        }
        Some(k) => {
            let kind = ConversationKind::parse(k);
            if kind.is_none() {
                p.push("type must be one of personal, sdkGroup");
            }
            kind
        }
    };
    let mut participants = Vec::new();
    for (i, part) in body.participants.iter().flatten().enumerate() {
        if let Some(r) = user_ref(&format!("participants[{i}]"), part, &mut p) {
            if !participants.contains(&r) {
                participants.push(r);
            }
        }
    }
    match kind {
        Some(ConversationKind::Personal) if body.participants.as_ref().map_or(0, Vec::len) != 1 => {
            p.push("participants must contain exactly 1 participant for personal conversations")
        }
        Some(ConversationKind::SdkGroup) if participants.len() > max_participants => {
            p.push(format!("participants must contain at most {max_participants} participants"))
        }
        _ => {}
    }
    check_details(&body, &mut p);
    p.finish()?;
    let mut details = ConversationDetails::default();
    set_details(&mut details, &body);
    Ok(NewConversation { kind: kind.expect("checked above"), participants, details })
}

/// An UpdateConversation body, parsed and checked. It names only the details it
/// changes; the store applies it to the details as stored, inside the transaction that
/// writes the result, so concurrent updates of one conversation each keep the other's
/// change.
#[derive(Debug)]
pub struct ConversationPatch(ConversationBody);

impl ConversationPatch {
    pub fn parse(body: Value) -> DomainResult<ConversationPatch> {
        let body: ConversationBody = from_value(body)?;
        let mut p = Problems::new();
        if body.kind.is_some() {
            p.push("type cannot be changed");
        }
        if body.participants.is_some() {
            p.push("participants cannot be changed with UpdateConversation; use join and leave");
        }
        check_details(&body, &mut p);
        p.finish()?;
        Ok(ConversationPatch(body))
    }

    pub fn apply(&self, current: &ConversationDetails) -> ConversationDetails {
        let mut next = current.clone();
        set_details(&mut next, &self.0);
        next
    }
}

/// Applies an UpdateConversation body (see [`ConversationPatch`]).
pub fn update_details(current: &ConversationDetails, body: Value) -> DomainResult<ConversationDetails> {
    Ok(ConversationPatch::parse(body)?.apply(current))
}

/// A JoinConversation body.
pub fn parse_join(body: Value) -> DomainResult<UserRef> {
    let body: ParticipantBody = from_value(body)?;
    let mut p = Problems::new();
    let r = user_ref("body", &body, &mut p);
    p.finish()?;
    Ok(r.expect("checked above"))
}

/// Whom a LeaveConversation body names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaveRef {
    User(UserRef),
    Participant(String),
}

pub fn parse_leave(body: Value) -> DomainResult<LeaveRef> {
    let body: ParticipantBody = from_value(body)?;
    let given = [body.user_id.is_some(), body.user_external_id.is_some(), body.participant_id.is_some()].iter().filter(|b| **b).count();
    if given != 1 {
        return Err(DomainError::invalid("Provide exactly one of userId, userExternalId or participantId"));
    }
    Ok(match (body.user_id, body.user_external_id, body.participant_id) {
        (Some(i), _, _) => LeaveRef::User(UserRef::Id(i)),
        (_, Some(e), _) => LeaveRef::User(UserRef::ExternalId(e)),
        (_, _, Some(pid)) => LeaveRef::Participant(pid),
        _ => unreachable!("exactly one is present"),
    })
}

/// A participant as shown (the spec's `participant`).
#[derive(Debug, Clone, PartialEq)]
pub struct Participant {
    pub id: String,
    pub user_id: String,
    pub user_external_id: Option<String>,
    pub unread_count: i64,
    pub last_read: Option<i64>,
}

impl Participant {
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "id": self.id,
            "userId": self.user_id,
            "unreadCount": self.unread_count,
            "clientAssociations": [],
            "userExternalId": self.user_external_id,
        });
        if let Some(l) = self.last_read {
            v["lastRead"] = json!(format_ms(l));
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn personal_needs_exactly_one_participant() {
        assert!(parse_new_conversation(json!({"type": "personal"}), 10).is_err());
        assert!(parse_new_conversation(json!({"type": "personal", "participants": [{"userId": "a"}, {"userId": "b"}]}), 10).is_err());
        let c = parse_new_conversation(json!({"type": "personal", "participants": [{"userExternalId": "bob"}]}), 10).unwrap();
        assert_eq!(c.participants, vec![UserRef::ExternalId("bob".into())]);
    }

    #[test]
    fn sdk_group_takes_zero_to_ten() {
        assert!(parse_new_conversation(json!({"type": "sdkGroup"}), 10).is_ok());
        let many: Vec<Value> = (0..11).map(|i| json!({"userId": format!("u{i}")})).collect();
        assert!(parse_new_conversation(json!({"type": "sdkGroup", "participants": many}), 10).is_err());
        assert!(parse_new_conversation(json!({"type": "group"}), 10).is_err());
        assert!(parse_new_conversation(json!({"type": "sdkGroup", "participants": [{"userId": "a", "userExternalId": "b"}]}), 10).is_err());
    }

    #[test]
    fn details_are_validated_and_patchable() {
        assert!(parse_new_conversation(json!({"type": "sdkGroup", "iconUrl": "nope", "displayName": ""}), 10).is_err());
        let d = ConversationDetails { display_name: Some("A".into()), ..Default::default() };
        let next = update_details(&d, json!({"description": "B", "displayName": null})).unwrap();
        assert_eq!((next.display_name, next.description.as_deref()), (None, Some("B")));
        assert!(update_details(&d, json!({"type": "personal"})).is_err());
    }

    #[test]
    fn leave_takes_exactly_one_reference() {
        assert_eq!(parse_leave(json!({"participantId": "p"})).unwrap(), LeaveRef::Participant("p".into()));
        assert!(parse_leave(json!({})).is_err());
        assert!(parse_leave(json!({"userId": "a", "participantId": "p"})).is_err());
    }
}
