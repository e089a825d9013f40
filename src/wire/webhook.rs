//! The v2 webhook shapes (the spec's Webhooks tag): each event's payload, the event object
//! `{id, type, createdAt, payload}` and the envelope `{app, webhook, events}`.
//!
//! A payload is rendered per webhook: `includeFullUser` widens every user summary to the
//! current full user, and without `includeFullSource` sources lose `client` and `device`.

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use crate::domain::event::{ActivityAuthor, ConversationRef, Event, UserSummary};
use crate::domain::user::User;

/// What one webhook asked for.
#[derive(Debug, Clone, Copy)]
pub struct Shaping<'a> {
    /// Current full users by id (`includeFullUser`); `None` when not asked for.
    pub full_users: Option<&'a HashMap<String, User>>,
    pub include_full_source: bool,
}

impl Shaping<'_> {
    /// The shaping of a webhook that asked for nothing extra.
    pub const PLAIN: Shaping<'static> = Shaping { full_users: None, include_full_source: false };

    fn user(&self, u: &UserSummary) -> Value {
        if let Some(full) = self.full_users.and_then(|users| users.get(&u.id)) {
            return serde_json::to_value(full).expect("users serialise");
        }
        let mut v = json!({ "id": u.id, "authenticated": u.authenticated, "externalId": u.external_id });
        if let Some(b) = &u.brand_id {
            v["brandId"] = json!(b);
        }
        v
    }

    fn source(&self, source: &Value) -> Value {
        let mut source = source.clone();
        if !self.include_full_source {
            if let Value::Object(s) = &mut source {
                s.remove("client");
                s.remove("device");
            }
        }
        source
    }
}

/// The spec's `conversationTruncated`, with `activeSwitchboardIntegration` and
/// `pendingSwitchboardIntegration` when there are such.
fn conversation(c: &ConversationRef) -> Value {
    let mut v = json!({ "id": c.id, "type": c.kind, "metadata": c.metadata });
    c.control.write_into(&mut v);
    v
}

/// A `switchboard:*` payload: the conversation, then `metadata` when the caller gave any
/// (the spec's examples omit it otherwise).
fn control_payload(conversation_ref: &ConversationRef, metadata: &Option<Map<String, Value>>) -> Value {
    let mut p = json!({ "conversation": conversation(conversation_ref) });
    if let Some(m) = metadata {
        p["metadata"] = Value::Object(m.clone());
    }
    p
}

fn name<T: serde::Serialize>(kind: &T) -> Value {
    serde_json::to_value(kind).expect("kinds serialise to their names")
}

/// The payload of `event` for a webhook shaped by `shaping`.
pub fn payload(event: &Event, shaping: &Shaping<'_>) -> Value {
    match event {
        Event::ConversationCreated(e) => {
            let mut p = json!({
                "conversation": conversation(&e.conversation),
                "creationReason": name(&e.creation_reason),
                "source": shaping.source(&e.source),
            });
            if let Some(u) = &e.user {
                p["user"] = shaping.user(u);
            }
            p
        }
        Event::ConversationRemoved(e) => json!({ "conversation": conversation(&e.conversation) }),
        Event::ParticipantJoined(e) | Event::ParticipantLeft(e) => json!({ "conversation": conversation(&e.conversation), "user": shaping.user(&e.user) }),
        Event::MessagePosted(e) => {
            let mut message = e.message.clone();
            if let Some(u) = &e.author_user {
                message["author"]["user"] = shaping.user(u);
            }
            if let Some(source) = message.get("source") {
                message["source"] = shaping.source(source);
            }
            json!({ "conversation": conversation(&e.conversation), "message": message, "recentNotifications": [] })
        }
        Event::ActivityPosted(e) => {
            let author = match &e.activity.author {
                ActivityAuthor::User { user } => json!({ "type": "user", "userId": user.id, "user": shaping.user(user) }),
                ActivityAuthor::Business => json!({ "type": "business" }),
            };
            json!({
                "conversation": conversation(&e.conversation),
                "activity": { "type": e.activity.kind, "author": author, "source": shaping.source(&e.activity.source) },
            })
        }
        Event::PostbackReceived(e) => json!({
            "conversation": conversation(&e.conversation),
            "postback": e.postback,
            "user": e.user,
            "source": shaping.source(&e.source),
        }),
        Event::UserUpdated(e) => json!({ "user": shaping.user(&e.user), "reason": name(&e.reason), "source": shaping.source(&e.source) }),
        Event::UserRemoved(e) => json!({ "user": shaping.user(&e.user) }),
        Event::UsersMerged(e) => {
            let mut p = json!({
                "mergedUsers": { "surviving": e.merged_users.surviving, "discarded": e.merged_users.discarded },
                "reason": name(&e.reason),
                "source": shaping.source(&e.source),
            });
            if let Some(mc) = &e.merged_conversations {
                p["mergedConversations"] = mc.clone();
            }
            p
        }
        Event::ClientAdded(e) | Event::ClientUpdated(e) | Event::ClientRemoved(e) => {
            let mut p = json!({
                "user": shaping.user(&e.user),
                "client": e.client.to_v2(),
                "reason": name(&e.reason),
                "source": shaping.source(&e.source),
            });
            if let Some(c) = &e.conversation {
                p["conversation"] = conversation(c);
            }
            p
        }
        Event::ControlPassed(e) | Event::ControlOffered(e) | Event::ControlAccepted(e) | Event::ControlReleased(e) => control_payload(&e.conversation, &e.metadata),
        Event::PassControlFailed(e) | Event::OfferControlFailed(e) | Event::AcceptControlFailed(e) => {
            let mut p = control_payload(&e.conversation, &e.metadata);
            p["error"] = json!({ "code": e.error.code, "message": e.error.message });
            p
        }
    }
}

/// The spec's `eventSubSchema` with its payload: `{id, type, createdAt, payload}`.
pub fn event_object(id: &str, event: &Event, created_at: &str, payload: Value) -> Value {
    let mut o = Map::new();
    o.insert("id".into(), json!(id));
    o.insert("type".into(), json!(event.trigger().as_str()));
    o.insert("createdAt".into(), json!(created_at));
    o.insert("payload".into(), payload);
    Value::Object(o)
}

/// The body POSTed to a target: `{app:{id}, webhook:{id, version}, events:[…]}`.
pub fn envelope(app_id: &str, webhook_id: &str, version: &str, events: Vec<Value>) -> Value {
    json!({ "app": { "id": app_id }, "webhook": { "id": webhook_id, "version": version }, "events": events })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::conversation::ConversationKind;
    use crate::domain::event::{ControlChange, ControlError, ControlFailed, Membership, MessagePosted, Trigger};
    use crate::domain::switchboard::{Control, SwitchboardIntegrationRef};

    fn summary() -> UserSummary {
        UserSummary { id: "u1".into(), external_id: None, authenticated: false, brand_id: None }
    }

    fn full_user() -> User {
        serde_json::from_value(json!({
            "id": "u1", "externalId": null, "signedUpAt": "2020-01-01T00:00:00.000Z", "toBeRetained": false,
            "profile": {"givenName": "Ann"}, "metadata": {}, "identities": [], "authenticated": false
        }))
        .unwrap()
    }

    fn message() -> Event {
        Event::MessagePosted(MessagePosted {
            conversation: ConversationRef::new("c1", ConversationKind::Personal, None),
            message: json!({"id": "m1", "author": {"type": "user", "userId": "u1"}, "source": {"type": "web", "client": {"id": "c"}}}),
            author_user: Some(summary()),
        })
    }

    #[test]
    fn a_plain_webhook_gets_summaries_and_sources_without_client_details() {
        let p = payload(&message(), &Shaping::PLAIN);
        assert_eq!(p["conversation"], json!({"id": "c1", "type": "personal", "metadata": null}));
        assert_eq!(p["message"]["author"]["user"], json!({"id": "u1", "authenticated": false, "externalId": null}));
        assert_eq!(p["message"]["source"], json!({"type": "web"}));
        assert_eq!(p["recentNotifications"], json!([]));
    }

    #[test]
    fn include_full_user_and_source_widen_the_payload() {
        let users = HashMap::from([("u1".to_string(), full_user())]);
        let shaping = Shaping { full_users: Some(&users), include_full_source: true };
        let p = payload(&message(), &shaping);
        assert_eq!(p["message"]["author"]["user"]["profile"]["givenName"], "Ann");
        assert_eq!(p["message"]["source"]["client"]["id"], "c");
        let join = Event::ParticipantJoined(Membership { conversation: ConversationRef::new("c1", ConversationKind::SdkGroup, None), user: summary() });
        assert_eq!(payload(&join, &shaping)["user"]["profile"]["givenName"], "Ann");
    }

    fn bot() -> SwitchboardIntegrationRef {
        SwitchboardIntegrationRef { id: "s1".into(), name: "bot".into(), integration_id: "i1".into(), integration_type: "custom".into() }
    }

    #[test]
    fn switchboard_payloads_follow_the_spec_examples() {
        let human = SwitchboardIntegrationRef { id: "s2".into(), name: "human".into(), integration_id: "i2".into(), integration_type: "custom".into() };
        let offered = ConversationRef::new("c1", ConversationKind::Personal, None)
            .with_control(Control { active_switchboard_integration: Some(bot()), pending_switchboard_integration: Some(human) });
        let p = payload(&Event::ControlOffered(ControlChange { conversation: offered.clone(), metadata: None }), &Shaping::PLAIN);
        assert_eq!(
            p,
            json!({"conversation": {"id": "c1", "type": "personal", "metadata": null,
                "activeSwitchboardIntegration": {"id": "s1", "name": "bot", "integrationId": "i1", "integrationType": "custom"},
                "pendingSwitchboardIntegration": {"id": "s2", "name": "human", "integrationId": "i2", "integrationType": "custom"}}})
        );
        let released = ConversationRef::new("c1", ConversationKind::Personal, None);
        let meta = json!({"reason": "done"}).as_object().cloned();
        let p = payload(&Event::ControlReleased(ControlChange { conversation: released, metadata: meta }), &Shaping::PLAIN);
        assert_eq!(p, json!({"conversation": {"id": "c1", "type": "personal", "metadata": null}, "metadata": {"reason": "done"}}));
        let failed = ControlFailed {
            conversation: offered,
            error: ControlError { code: "switchboard_invalid_action".into(), message: "There is no pendingSwitchboardIntegration".into() },
            metadata: None,
        };
        let p = payload(&Event::AcceptControlFailed(failed), &Shaping::PLAIN);
        assert_eq!(p["error"], json!({"code": "switchboard_invalid_action", "message": "There is no pendingSwitchboardIntegration"}));
        assert_eq!(p["conversation"]["activeSwitchboardIntegration"]["name"], "bot");
    }

    #[test]
    fn conversation_events_name_who_was_in_control() {
        let Event::MessagePosted(mut m) = message() else { unreachable!() };
        m.conversation = m.conversation.with_control(Control { active_switchboard_integration: Some(bot()), pending_switchboard_integration: None });
        let p = payload(&Event::MessagePosted(m), &Shaping::PLAIN);
        assert_eq!(p["conversation"]["activeSwitchboardIntegration"]["id"], "s1");
        assert!(p["conversation"].get("pendingSwitchboardIntegration").is_none());
    }

    #[test]
    fn the_event_object_names_the_trigger() {
        let o = event_object("e1", &message(), "2026-01-01T00:00:00.000Z", json!({}));
        assert_eq!(o, json!({"id": "e1", "type": Trigger::ConversationMessage.as_str(), "createdAt": "2026-01-01T00:00:00.000Z", "payload": {}}));
    }
}
