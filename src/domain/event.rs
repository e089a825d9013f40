//! What the platform emits: one typed [`Event`] per thing that happened. The store records
//! each with the change it reports, in the same transaction; `crate::wire` renders it for
//! each audience (the v2 webhook payload, the SDK's realtime events). Nothing else spells a
//! trigger name: they live in [`Trigger`] alone.
//!
//! Stored form: `{"v":1,"data":…}` where `data` is the variant's struct. Rows written
//! before the typed pipeline hold the v2 webhook payload itself (no `v`); [`Event::decode`]
//! still reads them, so an upgrade never strands an undelivered event.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use super::client::ClientRecord;
use super::conversation::ConversationKind;
use super::message::ActivityKind;
use super::sdk::SdkClient;
use super::switchboard::Control;
use super::time::parse_iso;
use super::user::User;

/// The version of the stored form written today.
const STORED_VERSION: u64 = 1;

macro_rules! triggers {
    ($($variant:ident => $name:literal,)*) => {
        /// The webhook triggers of the spec's table (Webhooks tag), case sensitive. There is
        /// no wildcard. Some are never emitted here (channel delivery receipts, referrals,
        /// passthrough): a webhook may still subscribe to them, as on the hosted service.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Trigger {
            $($variant,)*
        }

        impl Trigger {
            pub const ALL: &'static [Trigger] = &[$(Trigger::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Trigger::$variant => $name,)*
                }
            }
        }
    };
}

triggers! {
    ClientAdd => "client:add",
    ClientRemove => "client:remove",
    ClientUpdate => "client:update",
    ConversationCreate => "conversation:create",
    ConversationJoin => "conversation:join",
    ConversationLeave => "conversation:leave",
    ConversationRemove => "conversation:remove",
    ConversationMessage => "conversation:message",
    ConversationMessageDeliveryChannel => "conversation:message:delivery:channel",
    ConversationMessageDeliveryFailure => "conversation:message:delivery:failure",
    ConversationMessageDeliveryUser => "conversation:message:delivery:user",
    ConversationPostback => "conversation:postback",
    ConversationRead => "conversation:read",
    ConversationReferral => "conversation:referral",
    PassthroughMessaging => "passthrough:messaging",
    ConversationTyping => "conversation:typing",
    SwitchboardAcceptControl => "switchboard:acceptControl",
    SwitchboardAcceptControlFailure => "switchboard:acceptControl:failure",
    SwitchboardOfferControl => "switchboard:offerControl",
    SwitchboardOfferControlFailure => "switchboard:offerControl:failure",
    SwitchboardPassControl => "switchboard:passControl",
    SwitchboardPassControlFailure => "switchboard:passControl:failure",
    SwitchboardReleaseControl => "switchboard:releaseControl",
    UserMerge => "user:merge",
    UserUpdate => "user:update",
    UserRemove => "user:remove",
}

impl Trigger {
    pub fn parse(name: &str) -> Option<Trigger> {
        Trigger::ALL.iter().copied().find(|t| t.as_str() == name)
    }
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Trigger {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Trigger {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        Trigger::parse(&name).ok_or_else(|| serde::de::Error::custom(format!("unknown trigger {name}")))
    }
}

/// The conversation an event is about, as the spec's `conversationTruncated` names it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversationRef {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: ConversationKind,
    #[serde(default)]
    pub metadata: Option<Map<String, Value>>,
    /// Who controlled the conversation when the event happened (its switchboard state).
    /// Webhook payloads show it, and the router gates conversation events by it: who was
    /// in control when a message arrived is a fact about that message, so it travels with
    /// the event rather than being looked up when the router gets to it (by then control
    /// may have passed on). Absent in rows written before the switchboard existed.
    #[serde(default, skip_serializing_if = "Control::is_empty")]
    pub control: Control,
}

impl ConversationRef {
    pub fn new(id: &str, kind: ConversationKind, metadata: Option<&Map<String, Value>>) -> ConversationRef {
        ConversationRef { id: id.to_string(), kind, metadata: metadata.cloned(), control: Control::default() }
    }

    pub fn with_control(mut self, control: Control) -> ConversationRef {
        self.control = control;
        self
    }
}

impl From<&super::conversation::Conversation> for ConversationRef {
    fn from(c: &super::conversation::Conversation) -> Self {
        ConversationRef::new(&c.id, c.kind, c.details.metadata.as_ref()).with_control(c.control.clone())
    }
}

/// A user as events name it: who, not their whole profile (the spec's `userTruncated`).
/// Webhooks with `includeFullUser` get the current full user in its place.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserSummary {
    pub id: String,
    #[serde(default)]
    pub external_id: Option<String>,
    #[serde(default)]
    pub authenticated: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brand_id: Option<String>,
}

impl From<&User> for UserSummary {
    fn from(u: &User) -> Self {
        UserSummary { id: u.id.clone(), external_id: u.external_id.clone(), authenticated: u.authenticated, brand_id: u.brand_id.clone() }
    }
}

/// Why a conversation was created. Conversations here are created through the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum CreationReason {
    None,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConversationCreated {
    pub conversation: ConversationRef,
    /// The owner of a personal conversation.
    #[serde(default)]
    pub user: Option<UserSummary>,
    pub creation_reason: CreationReason,
    pub source: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversationRemoved {
    pub conversation: ConversationRef,
    /// The users who were in it: their participations are deleted with it, so by the time
    /// the event is read nobody could look them up. Empty in rows written before.
    #[serde(default)]
    pub participants: Vec<String>,
}

/// A user joining or leaving a conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Membership {
    pub conversation: ConversationRef,
    pub user: UserSummary,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessagePosted {
    pub conversation: ConversationRef,
    /// The stored message document, as history shows it.
    pub message: Value,
    /// The user who wrote it, when a user did.
    #[serde(default)]
    pub author_user: Option<UserSummary>,
}

/// Who did an activity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum ActivityAuthor {
    User { user: UserSummary },
    Business,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActivityDetails {
    #[serde(rename = "type")]
    pub kind: ActivityKind,
    pub author: ActivityAuthor,
    pub source: Value,
}

/// A read receipt or a typing indicator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Activity {
    pub conversation: ConversationRef,
    pub activity: ActivityDetails,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Postback {
    pub conversation: ConversationRef,
    /// `{payload, metadata}` of the action pressed.
    pub postback: Value,
    pub user: User,
    pub source: Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum UserUpdateReason {
    /// An anonymous user logged in and became the identified one.
    Authentication,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserUpdated {
    pub user: UserSummary,
    pub reason: UserUpdateReason,
    pub source: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserRemoved {
    pub user: UserSummary,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MergedUsers {
    pub surviving: User,
    pub discarded: User,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum MergeReason {
    SdkLogin,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UsersMerged {
    pub merged_users: MergedUsers,
    #[serde(default)]
    pub merged_conversations: Option<Value>,
    pub reason: MergeReason,
    pub source: Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ClientChangeReason {
    /// A client attached by a login.
    SdkLogin,
    /// An inactive client came back.
    Confirmed,
    /// The SDK detached it (logout, or the browser now belongs to another user).
    Sdk,
    /// CreateClient started a channel link (`client:add`).
    ChannelLinking,
    /// RemoveClient removed it (`client:remove`).
    Api,
}

/// A client attached to, refreshed on or detached from a user: an SDK install, or a
/// channel link asked for through CreateClient.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientChange {
    pub user: UserSummary,
    pub client: ClientRecord,
    pub reason: ClientChangeReason,
    pub source: Value,
    /// The conversation a channel link was asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation: Option<ConversationRef>,
}

/// A change of control over a conversation (`switchboard:passControl`, `offerControl`,
/// `acceptControl`, `releaseControl`): the conversation as the change left it, and the
/// caller's `metadata`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ControlChange {
    pub conversation: ConversationRef,
    #[serde(default)]
    pub metadata: Option<Map<String, Value>>,
}

/// What went wrong, in a `switchboard:*:failure` payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ControlError {
    pub code: String,
    pub message: String,
}

/// A refused pass, offer or accept (`switchboard:*:failure`): the conversation as it
/// stays, the error, and the caller's `metadata`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ControlFailed {
    pub conversation: ConversationRef,
    pub error: ControlError,
    #[serde(default)]
    pub metadata: Option<Map<String, Value>>,
}

/// Everything the platform emits. Adding a variant makes the compiler find every
/// renderer and router that must learn it.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    ConversationCreated(ConversationCreated),
    ConversationRemoved(ConversationRemoved),
    ParticipantJoined(Membership),
    ParticipantLeft(Membership),
    MessagePosted(MessagePosted),
    /// `conversation:read` or `conversation:typing`, by the activity's kind.
    ActivityPosted(Activity),
    PostbackReceived(Postback),
    UserUpdated(UserUpdated),
    UserRemoved(UserRemoved),
    UsersMerged(UsersMerged),
    ClientAdded(ClientChange),
    ClientUpdated(ClientChange),
    ClientRemoved(ClientChange),
    ControlPassed(ControlChange),
    ControlOffered(ControlChange),
    ControlAccepted(ControlChange),
    ControlReleased(ControlChange),
    PassControlFailed(ControlFailed),
    OfferControlFailed(ControlFailed),
    AcceptControlFailed(ControlFailed),
}

impl Event {
    /// The webhook trigger this event fires.
    pub fn trigger(&self) -> Trigger {
        match self {
            Event::ConversationCreated(_) => Trigger::ConversationCreate,
            Event::ConversationRemoved(_) => Trigger::ConversationRemove,
            Event::ParticipantJoined(_) => Trigger::ConversationJoin,
            Event::ParticipantLeft(_) => Trigger::ConversationLeave,
            Event::MessagePosted(_) => Trigger::ConversationMessage,
            Event::ActivityPosted(a) if a.activity.kind == ActivityKind::Read => Trigger::ConversationRead,
            Event::ActivityPosted(_) => Trigger::ConversationTyping,
            Event::PostbackReceived(_) => Trigger::ConversationPostback,
            Event::UserUpdated(_) => Trigger::UserUpdate,
            Event::UserRemoved(_) => Trigger::UserRemove,
            Event::UsersMerged(_) => Trigger::UserMerge,
            Event::ClientAdded(_) => Trigger::ClientAdd,
            Event::ClientUpdated(_) => Trigger::ClientUpdate,
            Event::ClientRemoved(_) => Trigger::ClientRemove,
            Event::ControlPassed(_) => Trigger::SwitchboardPassControl,
            Event::ControlOffered(_) => Trigger::SwitchboardOfferControl,
            Event::ControlAccepted(_) => Trigger::SwitchboardAcceptControl,
            Event::ControlReleased(_) => Trigger::SwitchboardReleaseControl,
            Event::PassControlFailed(_) => Trigger::SwitchboardPassControlFailure,
            Event::OfferControlFailed(_) => Trigger::SwitchboardOfferControlFailure,
            Event::AcceptControlFailed(_) => Trigger::SwitchboardAcceptControlFailure,
        }
    }

    /// The conversation the event happened in, if any.
    pub fn conversation(&self) -> Option<&ConversationRef> {
        match self {
            Event::ConversationCreated(e) => Some(&e.conversation),
            Event::ConversationRemoved(e) => Some(&e.conversation),
            Event::ParticipantJoined(e) | Event::ParticipantLeft(e) => Some(&e.conversation),
            Event::MessagePosted(e) => Some(&e.conversation),
            Event::ActivityPosted(e) => Some(&e.conversation),
            Event::PostbackReceived(e) => Some(&e.conversation),
            Event::UserUpdated(_) | Event::UserRemoved(_) | Event::UsersMerged(_) => None,
            Event::ClientAdded(_) | Event::ClientUpdated(_) | Event::ClientRemoved(_) => None,
            Event::ControlPassed(e) | Event::ControlOffered(e) | Event::ControlAccepted(e) | Event::ControlReleased(e) => Some(&e.conversation),
            Event::PassControlFailed(e) | Event::OfferControlFailed(e) | Event::AcceptControlFailed(e) => Some(&e.conversation),
        }
    }

    /// The conversation of an event the switchboard gates: every conversation event but
    /// the switchboard's own, which are how integrations learn that control moved (to them,
    /// or away from them) and so reach every subscriber.
    pub fn gated_conversation(&self) -> Option<&ConversationRef> {
        match self {
            Event::ControlPassed(_) | Event::ControlOffered(_) | Event::ControlAccepted(_) | Event::ControlReleased(_) => None,
            Event::PassControlFailed(_) | Event::OfferControlFailed(_) | Event::AcceptControlFailed(_) => None,
            _ => self.conversation(),
        }
    }

    /// The user an event outside any conversation is about.
    fn subject_user(&self) -> Option<&str> {
        match self {
            Event::UserUpdated(e) => Some(&e.user.id),
            Event::UserRemoved(e) => Some(&e.user.id),
            Event::ClientAdded(e) | Event::ClientUpdated(e) | Event::ClientRemoved(e) => Some(&e.user.id),
            // Merges have no `user`; their order against other events does not matter.
            _ => None,
        }
    }

    /// Which deliveries of one webhook must keep their relative order: those of one
    /// conversation, else those about one user; others need none.
    pub fn order_key(&self) -> Option<String> {
        if let Some(c) = self.conversation() {
            return Some(format!("c:{}", c.id));
        }
        self.subject_user().map(|u| format!("u:{u}"))
    }

    /// The users named in summary form, which `includeFullUser` widens to the full user.
    pub fn summarised_users(&self) -> Vec<&str> {
        let mut ids: Vec<&str> = match self {
            Event::ConversationCreated(e) => e.user.iter().map(|u| u.id.as_str()).collect(),
            Event::ParticipantJoined(e) | Event::ParticipantLeft(e) => vec![&e.user.id],
            Event::MessagePosted(e) => e.author_user.iter().map(|u| u.id.as_str()).collect(),
            Event::ActivityPosted(e) => match &e.activity.author {
                ActivityAuthor::User { user } => vec![&user.id],
                ActivityAuthor::Business => vec![],
            },
            Event::UserUpdated(e) => vec![&e.user.id],
            Event::UserRemoved(e) => vec![&e.user.id],
            Event::ClientAdded(e) | Event::ClientUpdated(e) | Event::ClientRemoved(e) => vec![&e.user.id],
            Event::ConversationRemoved(_) | Event::PostbackReceived(_) | Event::UsersMerged(_) => vec![],
            Event::ControlPassed(_) | Event::ControlOffered(_) | Event::ControlAccepted(_) | Event::ControlReleased(_) => vec![],
            Event::PassControlFailed(_) | Event::OfferControlFailed(_) | Event::AcceptControlFailed(_) => vec![],
        };
        ids.dedup();
        ids
    }

    /// The stored form (versioned JSON text), serialised straight to text (no `Value`
    /// tree in between: this runs on the SQLite writer for every event).
    pub fn encode(&self) -> String {
        #[derive(Serialize)]
        struct Stored<'a, T: Serialize> {
            v: u64,
            data: &'a T,
        }
        fn text<T: Serialize>(data: &T) -> String {
            serde_json::to_string(&Stored { v: STORED_VERSION, data }).expect("events serialise: their fields are JSON values and plain structs")
        }
        match self {
            Event::ConversationCreated(e) => text(e),
            Event::ConversationRemoved(e) => text(e),
            Event::ParticipantJoined(e) | Event::ParticipantLeft(e) => text(e),
            Event::MessagePosted(e) => text(e),
            Event::ActivityPosted(e) => text(e),
            Event::PostbackReceived(e) => text(e),
            Event::UserUpdated(e) => text(e),
            Event::UserRemoved(e) => text(e),
            Event::UsersMerged(e) => text(e),
            Event::ClientAdded(e) | Event::ClientUpdated(e) | Event::ClientRemoved(e) => text(e),
            Event::ControlPassed(e) | Event::ControlOffered(e) | Event::ControlAccepted(e) | Event::ControlReleased(e) => text(e),
            Event::PassControlFailed(e) | Event::OfferControlFailed(e) | Event::AcceptControlFailed(e) => text(e),
        }
    }

    /// The stored form of `MessagePosted` by no user (a business message) whose document
    /// is already JSON text — what a batch stores in `messages` — written around that text
    /// rather than serialising the document a second time on the SQLite writer. The same
    /// text as `encode` gives for that event.
    pub fn encode_business_message_posted(conversation: &ConversationRef, message_text: &str) -> String {
        static HEAD: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| format!(r#"{{"v":{STORED_VERSION},"data":{{"conversation":"#));
        let conversation = serde_json::to_string(conversation).expect("a conversation reference serialises");
        // Joined, not `format!`ed: this runs for every message of a batch, on the writer.
        [HEAD.as_str(), &conversation, r#","message":"#, message_text, r#","authorUser":null}}"#].concat()
    }

    /// Reads a stored event of trigger `trigger` (either stored version).
    pub fn decode(trigger: &str, text: &str) -> Result<Event, String> {
        let trigger = Trigger::parse(trigger).ok_or_else(|| format!("unknown event kind {trigger}"))?;
        let stored: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        match stored.get("v").and_then(Value::as_u64) {
            Some(STORED_VERSION) => Event::from_data(trigger, stored.get("data").cloned().unwrap_or(Value::Null)),
            Some(v) => Err(format!("stored event version {v} is newer than this build reads")),
            None => Event::from_legacy(trigger, stored),
        }
    }

    fn from_data(trigger: Trigger, data: Value) -> Result<Event, String> {
        fn de<T: serde::de::DeserializeOwned>(data: Value) -> Result<T, String> {
            serde_json::from_value(data).map_err(|e| e.to_string())
        }
        Ok(match trigger {
            Trigger::ConversationCreate => Event::ConversationCreated(de(data)?),
            Trigger::ConversationRemove => Event::ConversationRemoved(de(data)?),
            Trigger::ConversationJoin => Event::ParticipantJoined(de(data)?),
            Trigger::ConversationLeave => Event::ParticipantLeft(de(data)?),
            Trigger::ConversationMessage => Event::MessagePosted(de(data)?),
            Trigger::ConversationRead | Trigger::ConversationTyping => Event::ActivityPosted(de(data)?),
            Trigger::ConversationPostback => Event::PostbackReceived(de(data)?),
            Trigger::UserUpdate => Event::UserUpdated(de(data)?),
            Trigger::UserRemove => Event::UserRemoved(de(data)?),
            Trigger::UserMerge => Event::UsersMerged(de(data)?),
            Trigger::ClientAdd => Event::ClientAdded(de(data)?),
            Trigger::ClientUpdate => Event::ClientUpdated(de(data)?),
            Trigger::ClientRemove => Event::ClientRemoved(de(data)?),
            Trigger::SwitchboardPassControl => Event::ControlPassed(de(data)?),
            Trigger::SwitchboardOfferControl => Event::ControlOffered(de(data)?),
            Trigger::SwitchboardAcceptControl => Event::ControlAccepted(de(data)?),
            Trigger::SwitchboardReleaseControl => Event::ControlReleased(de(data)?),
            Trigger::SwitchboardPassControlFailure => Event::PassControlFailed(de(data)?),
            Trigger::SwitchboardOfferControlFailure => Event::OfferControlFailed(de(data)?),
            Trigger::SwitchboardAcceptControlFailure => Event::AcceptControlFailed(de(data)?),
            other => return Err(format!("{other} is not an event this build records")),
        })
    }

    /// Rows from before the typed pipeline: the v2 webhook payload itself. Its names match
    /// the typed structs except where noted.
    fn from_legacy(trigger: Trigger, mut payload: Value) -> Result<Event, String> {
        match trigger {
            // The author's summary rode inside the message.
            Trigger::ConversationMessage => {
                let author_user = payload.pointer_mut("/message/author").and_then(Value::as_object_mut).and_then(|a| a.remove("user"));
                let mut posted: MessagePosted = serde_json::from_value(payload).map_err(|e| e.to_string())?;
                posted.author_user = author_user.map(serde_json::from_value).transpose().map_err(|e| e.to_string())?;
                Ok(Event::MessagePosted(posted))
            }
            // The client was stored in its v2 wire shape.
            Trigger::ClientAdd | Trigger::ClientUpdate | Trigger::ClientRemove => {
                let c = payload.get("client").cloned().unwrap_or(Value::Null);
                let time = |k: &str| c.get(k).and_then(Value::as_str).and_then(parse_iso).unwrap_or(0);
                let client = SdkClient {
                    id: c["id"].as_str().ok_or("legacy client event without a client id")?.to_string(),
                    platform: c["raw"]["platform"].as_str().unwrap_or_default().to_string(),
                    integration_id: c["integrationId"].as_str().map(str::to_string),
                    info: c["info"].as_object().cloned().unwrap_or_default(),
                    push_notification_token: None,
                    status: c["status"].as_str().unwrap_or("inactive").to_string(),
                    last_seen: time("lastSeen"),
                    linked_at: time("linkedAt"),
                    v2_id: None,
                    device_id: None,
                };
                payload["client"] = serde_json::to_value(&client).map_err(|e| e.to_string())?;
                Event::from_data(trigger, payload)
            }
            _ => Event::from_data(trigger, payload),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use crate::domain::switchboard::SwitchboardIntegrationRef;

    fn conversation() -> ConversationRef {
        ConversationRef::new("c1", ConversationKind::SdkGroup, None)
    }

    fn controlled() -> ConversationRef {
        let bot = SwitchboardIntegrationRef { id: "s1".into(), name: "bot".into(), integration_id: "i1".into(), integration_type: "custom".into() };
        conversation().with_control(Control { active_switchboard_integration: Some(bot), pending_switchboard_integration: None })
    }

    fn summary() -> UserSummary {
        UserSummary { id: "u1".into(), external_id: Some("ann".into()), authenticated: true, brand_id: None }
    }

    #[test]
    fn trigger_names_round_trip_and_are_unique() {
        for t in Trigger::ALL {
            assert_eq!(Trigger::parse(t.as_str()), Some(*t));
        }
        let mut names: Vec<&str> = Trigger::ALL.iter().map(|t| t.as_str()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), Trigger::ALL.len());
        assert_eq!(Trigger::parse("*"), None);
        assert_eq!(Trigger::parse("Conversation:Message"), None);
    }

    #[test]
    fn a_business_message_posted_is_stored_around_its_document_text_as_encode_writes_it() {
        let message = json!({"id": "m1", "author": {"type": "business", "displayName": "Bench \"B\""}, "content": {"type": "text", "text": "héllo\n"}});
        let mut metadata = Map::new();
        metadata.insert("lang".into(), json!("en"));
        for conversation in [conversation(), controlled(), ConversationRef::new("c2", ConversationKind::Personal, Some(&metadata))] {
            let event = Event::MessagePosted(MessagePosted { conversation: conversation.clone(), message: message.clone(), author_user: None });
            let text = Event::encode_business_message_posted(&conversation, &serde_json::to_string(&message).unwrap());
            assert_eq!(text, event.encode());
            assert_eq!(Event::decode(Trigger::ConversationMessage.as_str(), &text).unwrap(), event);
        }
    }

    #[test]
    fn every_recorded_event_survives_its_stored_form() {
        let client = SdkClient {
            id: "browser".into(),
            platform: "web".into(),
            integration_id: Some("i1".into()),
            info: Map::new(),
            push_notification_token: None,
            status: "active".into(),
            last_seen: 5,
            linked_at: 4,
            v2_id: Some("0123456789abcdef01234567".into()),
            device_id: None,
        };
        let change = ClientChange { user: summary(), client: client.into(), reason: ClientChangeReason::SdkLogin, source: json!({"type": "web"}), conversation: None };
        let events = vec![
            Event::ConversationCreated(ConversationCreated { conversation: conversation(), user: Some(summary()), creation_reason: CreationReason::None, source: json!({"type": "api"}) }),
            Event::ConversationRemoved(ConversationRemoved { conversation: conversation(), participants: vec!["u1".into()] }),
            Event::ParticipantJoined(Membership { conversation: conversation(), user: summary() }),
            Event::ParticipantLeft(Membership { conversation: conversation(), user: summary() }),
            Event::MessagePosted(MessagePosted { conversation: conversation(), message: json!({"id": "m1"}), author_user: Some(summary()) }),
            Event::ActivityPosted(Activity {
                conversation: conversation(),
                activity: ActivityDetails { kind: ActivityKind::TypingStart, author: ActivityAuthor::Business, source: json!({"type": "api"}) },
            }),
            Event::UserRemoved(UserRemoved { user: summary() }),
            Event::ClientAdded(change.clone()),
            Event::ClientUpdated(change.clone()),
            Event::ClientRemoved(change),
            Event::ControlPassed(ControlChange { conversation: controlled(), metadata: json!({"lang": "en"}).as_object().cloned() }),
            Event::ControlOffered(ControlChange { conversation: controlled(), metadata: None }),
            Event::ControlAccepted(ControlChange { conversation: controlled(), metadata: None }),
            Event::ControlReleased(ControlChange { conversation: conversation(), metadata: None }),
            Event::PassControlFailed(ControlFailed {
                conversation: controlled(),
                error: ControlError { code: "switchboard_invalid_target".into(), message: "nope".into() },
                metadata: None,
            }),
            Event::OfferControlFailed(ControlFailed { conversation: controlled(), error: ControlError { code: "c".into(), message: "m".into() }, metadata: None }),
            Event::AcceptControlFailed(ControlFailed { conversation: controlled(), error: ControlError { code: "c".into(), message: "m".into() }, metadata: None }),
            Event::MessagePosted(MessagePosted { conversation: controlled(), message: json!({"id": "m2"}), author_user: None }),
        ];
        for e in events {
            let back = Event::decode(e.trigger().as_str(), &e.encode()).unwrap();
            assert_eq!(back, e);
        }
    }

    #[test]
    fn legacy_rows_are_read() {
        let message = r#"{"conversation":{"id":"c1","type":"personal","metadata":null},
            "message":{"id":"m1","author":{"type":"user","userId":"u1","user":{"id":"u1","authenticated":false,"externalId":null}}},
            "recentNotifications":[]}"#;
        let Event::MessagePosted(m) = Event::decode("conversation:message", message).unwrap() else { panic!("a message") };
        assert_eq!(m.author_user.unwrap().id, "u1");
        assert!(m.message["author"].get("user").is_none(), "the summary moved out of the document");
        let typing = r#"{"conversation":{"id":"c1","type":"sdkGroup","metadata":null},
            "activity":{"type":"typing:stop","author":{"type":"user","userId":"u1","user":{"id":"u1","authenticated":true,"externalId":"ann"}},"source":{"type":"api"}}}"#;
        let e = Event::decode("conversation:typing", typing).unwrap();
        assert_eq!(e.trigger(), Trigger::ConversationTyping);
        assert_eq!(e.summarised_users(), vec!["u1"]);
        let client = r#"{"user":{"id":"u1","authenticated":false,"externalId":null},
            "client":{"id":"b1","type":"sdk","status":"inactive","integrationId":null,"lastSeen":"2020-06-26T14:33:47.120Z","linkedAt":"2020-06-26T14:33:47.120Z","info":{},"raw":{"platform":"web"}},
            "reason":"sdk","source":{"type":"web"}}"#;
        let Event::ClientRemoved(c) = Event::decode("client:remove", client).unwrap() else { panic!("a client removal") };
        let ClientRecord::Sdk(client) = c.client else { panic!("an SDK client") };
        assert_eq!((client.id.as_str(), client.platform.as_str(), client.last_seen), ("b1", "web", 1_593_182_027_120));
    }

    #[test]
    fn rows_from_before_the_switchboard_have_nobody_in_control() {
        let old = r#"{"v":1,"data":{"conversation":{"id":"c1","type":"personal","metadata":null},"message":{"id":"m1"}}}"#;
        let e = Event::decode("conversation:message", old).unwrap();
        assert!(e.conversation().unwrap().control.is_empty());
        assert_eq!(e.gated_conversation().map(|c| c.id.as_str()), Some("c1"));
        let pass = Event::ControlPassed(ControlChange { conversation: controlled(), metadata: None });
        assert!(pass.gated_conversation().is_none(), "switchboard events reach every subscriber");
        assert_eq!(pass.order_key().as_deref(), Some("c:c1"));
    }

    #[test]
    fn unknown_kinds_and_future_versions_are_refused() {
        assert!(Event::decode("nope", "{}").is_err());
        assert!(Event::decode("user:remove", r#"{"v":9,"data":{}}"#).is_err());
        assert!(Event::decode("conversation:referral", r#"{"v":1,"data":{}}"#).is_err());
    }

    #[test]
    fn order_keys_follow_the_conversation_else_the_user() {
        let m = Event::MessagePosted(MessagePosted { conversation: conversation(), message: json!({}), author_user: None });
        assert_eq!(m.order_key().as_deref(), Some("c:c1"));
        assert_eq!(Event::UserRemoved(UserRemoved { user: summary() }).order_key().as_deref(), Some("u:u1"));
    }
}
