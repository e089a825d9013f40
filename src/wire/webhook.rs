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

/// The spec's `conversationTruncated`.
fn conversation(c: &ConversationRef) -> Value {
    json!({ "id": c.id, "type": c.kind, "metadata": c.metadata })
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
    use crate::domain::event::{Membership, MessagePosted, Trigger};

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
            conversation: ConversationRef { id: "c1".into(), kind: ConversationKind::Personal, metadata: None },
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
        let join = Event::ParticipantJoined(Membership { conversation: ConversationRef { id: "c1".into(), kind: ConversationKind::SdkGroup, metadata: None }, user: summary() });
        assert_eq!(payload(&join, &shaping)["user"]["profile"]["givenName"], "Ann");
    }

    #[test]
    fn the_event_object_names_the_trigger() {
        let o = event_object("e1", &message(), "2026-01-01T00:00:00.000Z", json!({}));
        assert_eq!(o, json!({"id": "e1", "type": Trigger::ConversationMessage.as_str(), "createdAt": "2026-01-01T00:00:00.000Z", "payload": {}}));
    }
}
