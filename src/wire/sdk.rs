//! Domain events as the end-user SDKs hear them on their realtime channel (sdk-protocol §5).
//! Pure: the hub looks up the recipients a [`Plan`] asks for and publishes.
//!
//! Every publication's `data` is `{"events": [event]}`; the events are in the SDK's
//! appUser wire model (`_id`, `appUserId`, `role: appUser|appMaker`, `received` in seconds),
//! not the v2 REST shapes. Messages are shaped by [`crate::domain::sdk::sdk_message`], as
//! the SDK REST API shapes them.

use serde_json::{json, Map, Value};

use crate::domain::event::{ActivityAuthor, ConversationRef, Event, UserSummary};
use crate::domain::message::ActivityKind;
use crate::domain::sdk::{sdk_message, seconds};

/// Who hears about one event, and what.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Plan {
    pub conversation_id: Option<String>,
    /// Sent to every current participant of the conversation…
    pub to_participants: Option<Value>,
    /// …except these users (the author of a typing indicator, those in `direct`).
    pub skip: Vec<String>,
    /// Sent to particular users.
    pub direct: Vec<(String, Value)>,
    /// The user whose channel closes (the user was deleted).
    pub close_user: Option<String>,
    /// How the event changes the conversation's membership, which the hub's cached
    /// participant lists must follow.
    pub membership: Membership,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Membership {
    #[default]
    Unchanged,
    /// The users in `direct` joined.
    Joined,
    /// The users in `direct` left.
    Left,
    /// The conversation is gone.
    Removed,
}

fn conversation_ref(c: &ConversationRef) -> Value {
    let mut out = Map::new();
    out.insert("_id".into(), json!(c.id));
    out.insert("type".into(), json!(c.kind));
    if let Some(m) = &c.metadata {
        out.insert("metadata".into(), Value::Object(m.clone()));
    }
    Value::Object(out)
}

fn participant_ref(user: &UserSummary) -> Value {
    let mut p = json!({ "appUserId": user.id });
    if let Some(e) = &user.external_id {
        p["userId"] = json!(e);
    }
    p
}

/// The plan for one event recorded at `created_at` (ms); `None` for events the SDKs do not
/// hear about.
pub fn plan(event: &Event, created_at: i64) -> Option<Plan> {
    let base = Plan { conversation_id: event.conversation().map(|c| c.id.clone()), ..Plan::default() };
    match event {
        Event::MessagePosted(e) => Some(Plan {
            to_participants: Some(json!({ "type": "message", "conversation": conversation_ref(&e.conversation), "message": sdk_message(&e.message) })),
            ..base
        }),
        Event::ActivityPosted(e) => {
            let activity = &e.activity;
            let mut conversation = conversation_ref(&e.conversation);
            let user = match &activity.author {
                ActivityAuthor::User { user } => Some(user),
                ActivityAuthor::Business => None,
            };
            let mut a = json!({ "type": activity.kind, "role": if user.is_some() { "appUser" } else { "appMaker" }, "data": {} });
            if let Some(u) = user {
                a["appUserId"] = json!(u.id);
                if let Some(ext) = &u.external_id {
                    a["userId"] = json!(ext);
                }
            }
            let mut skip = Vec::new();
            if activity.kind == ActivityKind::Read {
                a["lastRead"] = seconds(created_at);
                if user.is_none() {
                    conversation["appMakerLastRead"] = seconds(created_at);
                }
            } else if let Some(u) = user {
                // Nobody needs to see their own typing indicator.
                skip.push(u.id.clone());
            }
            Some(Plan { to_participants: Some(json!({ "type": "activity", "conversation": conversation, "activity": a })), skip, ..base })
        }
        Event::ConversationCreated(e) => Some(Plan { to_participants: Some(json!({ "type": "conversation:added", "conversation": conversation_ref(&e.conversation) })), ..base }),
        Event::ConversationRemoved(e) => {
            let removed = json!({ "type": "conversation:removed", "conversation": conversation_ref(&e.conversation) });
            if e.participants.is_empty() {
                // A row from before the event named them: whoever the hub last knew.
                Some(Plan { to_participants: Some(removed), membership: Membership::Removed, ..base })
            } else {
                Some(Plan { direct: e.participants.iter().map(|u| (u.clone(), removed.clone())).collect(), membership: Membership::Removed, ..base })
            }
        }
        Event::ParticipantJoined(e) | Event::ParticipantLeft(e) => {
            let joined = matches!(event, Event::ParticipantJoined(_));
            let participant = participant_ref(&e.user);
            let to_them = json!({
                "type": if joined { "conversation:added" } else { "conversation:removed" },
                "conversation": conversation_ref(&e.conversation),
                "participant": participant,
            });
            let to_others = json!({
                "type": if joined { "participant:added" } else { "participant:removed" },
                "conversation": conversation_ref(&e.conversation),
                "participant": participant,
            });
            Some(Plan {
                to_participants: Some(to_others),
                skip: vec![e.user.id.clone()],
                direct: vec![(e.user.id.clone(), to_them)],
                membership: if joined { Membership::Joined } else { Membership::Left },
                ..base
            })
        }
        Event::UserRemoved(e) => Some(Plan { close_user: Some(e.user.id.clone()), ..base }),
        // An anonymous user logged in as an existing one and was merged into it: tell the
        // browser still subscribed as the discarded user who it is now, the way the SDKs
        // hear of an identity change (a `link` event naming another `appUser`).
        Event::UsersMerged(e) => {
            let surviving = &e.merged_users.surviving;
            let mut app_user = json!({ "_id": surviving.id });
            if let Some(ext) = &surviving.external_id {
                app_user["userId"] = json!(ext);
            }
            let link = json!({ "type": "link", "appUser": app_user, "reason": e.reason });
            Some(Plan { direct: vec![(e.merged_users.discarded.id.clone(), link)], ..base })
        }
        Event::PostbackReceived(_) | Event::UserUpdated(_) => None,
        Event::ClientAdded(_) | Event::ClientUpdated(_) | Event::ClientRemoved(_) => None,
        // Control is between the business's integrations; the SDK realtime protocol has no
        // event for it.
        Event::ControlPassed(_) | Event::ControlOffered(_) | Event::ControlAccepted(_) | Event::ControlReleased(_) => None,
        Event::PassControlFailed(_) | Event::OfferControlFailed(_) | Event::AcceptControlFailed(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::conversation::ConversationKind;
    use crate::domain::event::{ActivityDetails, ConversationCreated, ConversationRemoved, CreationReason, MergeReason, MergedUsers, MessagePosted, UserRemoved, UserUpdateReason, UserUpdated, UsersMerged};
    use crate::domain::event::{Activity, Membership as Joining};
    use crate::domain::user::User;

    const AT: i64 = 1_600_000_000_500;

    fn conv(kind: ConversationKind) -> ConversationRef {
        ConversationRef::new("c1", kind, None)
    }

    fn summary(id: &str, external: Option<&str>) -> UserSummary {
        UserSummary { id: id.into(), external_id: external.map(str::to_string), authenticated: external.is_some(), brand_id: None }
    }

    fn user(id: &str, external: Option<&str>) -> User {
        serde_json::from_value(json!({
            "id": id, "externalId": external, "signedUpAt": "2020-01-01T00:00:00.000Z", "toBeRetained": false,
            "profile": {}, "metadata": {}, "identities": [], "authenticated": external.is_some()
        }))
        .unwrap()
    }

    fn activity(kind: ActivityKind, author: ActivityAuthor) -> Event {
        Event::ActivityPosted(Activity { conversation: conv(ConversationKind::SdkGroup), activity: ActivityDetails { kind, author, source: json!({"type": "api"}) } })
    }

    #[test]
    fn messages_are_in_the_sdk_model_and_go_to_every_participant() {
        let m = json!({
            "id": "m1",
            "received": "2020-09-13T12:26:40.500Z",
            "author": {"type": "user", "userId": "u1", "displayName": "Ann"},
            "content": {"type": "text", "text": "hi"},
            "source": {"type": "web", "client": {"id": "browser1"}},
        });
        let p = plan(&Event::MessagePosted(MessagePosted { conversation: conv(ConversationKind::SdkGroup), message: m, author_user: Some(summary("u1", None)) }), AT).unwrap();
        assert_eq!(p.conversation_id.as_deref(), Some("c1"));
        let e = p.to_participants.unwrap();
        assert_eq!(e["type"], "message");
        assert_eq!(e["conversation"], json!({"_id": "c1", "type": "sdkGroup"}));
        let s = &e["message"];
        assert_eq!((s["_id"].as_str(), s["role"].as_str(), s["authorId"].as_str(), s["name"].as_str()), (Some("m1"), Some("appUser"), Some("u1"), Some("Ann")));
        assert_eq!((s["type"].as_str(), s["text"].as_str()), (Some("text"), Some("hi")));
        assert_eq!(s["source"]["id"], "browser1", "the SDK drops echoes of its own sends by source.id");
        assert_eq!(s["received"].as_f64().unwrap(), 1_600_000_000.5);
        assert!(p.skip.is_empty() && p.direct.is_empty());
    }

    #[test]
    fn typing_skips_its_author_and_read_carries_times() {
        let typing = plan(&activity(ActivityKind::TypingStart, ActivityAuthor::User { user: summary("u1", Some("ann")) }), AT).unwrap();
        let e = typing.to_participants.unwrap();
        assert_eq!(e["type"], "activity");
        assert_eq!(e["activity"]["type"], "typing:start");
        assert_eq!(e["activity"]["role"], "appUser");
        assert_eq!(e["activity"]["appUserId"], "u1");
        assert_eq!(e["activity"]["userId"], "ann");
        assert_eq!(typing.skip, vec!["u1".to_string()]);
        let read = plan(&activity(ActivityKind::Read, ActivityAuthor::Business), AT).unwrap();
        let e = read.to_participants.unwrap();
        assert_eq!(e["activity"]["type"], ActivityKind::Read.as_str());
        assert_eq!(e["activity"]["role"], "appMaker");
        assert_eq!(e["activity"]["lastRead"].as_f64().unwrap(), 1_600_000_000.5);
        assert_eq!(e["conversation"]["appMakerLastRead"].as_f64().unwrap(), 1_600_000_000.5);
        assert!(read.skip.is_empty());
    }

    #[test]
    fn joining_and_leaving_tell_the_user_and_the_others_apart() {
        let joining = Joining { conversation: conv(ConversationKind::SdkGroup), user: summary("u2", Some("bob")) };
        let join = plan(&Event::ParticipantJoined(joining.clone()), AT).unwrap();
        assert_eq!(join.direct.len(), 1);
        assert_eq!(join.direct[0].0, "u2");
        assert_eq!(join.direct[0].1["type"], "conversation:added");
        assert_eq!(join.skip, vec!["u2".to_string()]);
        assert_eq!(join.membership, Membership::Joined);
        let others = join.to_participants.unwrap();
        assert_eq!(others["type"], "participant:added");
        assert_eq!(others["participant"], json!({"appUserId": "u2", "userId": "bob"}));
        let leave = plan(&Event::ParticipantLeft(joining), AT).unwrap();
        assert_eq!(leave.direct[0].1["type"], "conversation:removed");
        assert_eq!(leave.membership, Membership::Left);
        assert_eq!(leave.to_participants.unwrap()["type"], "participant:removed");
    }

    #[test]
    fn a_merge_tells_the_discarded_user_who_it_is_now() {
        let merged = plan(
            &Event::UsersMerged(UsersMerged {
                merged_users: MergedUsers { surviving: user("s1", Some("ann")), discarded: user("d1", None) },
                merged_conversations: None,
                reason: MergeReason::SdkLogin,
                source: json!({"type": "web"}),
            }),
            AT,
        )
        .unwrap();
        assert_eq!(merged.direct, vec![("d1".to_string(), json!({"type": "link", "appUser": {"_id": "s1", "userId": "ann"}, "reason": "sdkLogin"}))]);
        assert!(merged.to_participants.is_none());
    }

    #[test]
    fn conversations_and_users_coming_and_going() {
        let created = Event::ConversationCreated(ConversationCreated {
            conversation: conv(ConversationKind::Personal),
            user: Some(summary("u1", None)),
            creation_reason: CreationReason::None,
            source: json!({"type": "api"}),
        });
        assert_eq!(plan(&created, AT).unwrap().to_participants.unwrap()["type"], "conversation:added");
        let removed = plan(&Event::ConversationRemoved(ConversationRemoved { conversation: conv(ConversationKind::SdkGroup), participants: vec![] }), AT).unwrap();
        assert_eq!(removed.to_participants.unwrap()["type"], "conversation:removed", "an old row: to whoever the hub knew");
        assert_eq!(removed.membership, Membership::Removed);
        let removed = plan(&Event::ConversationRemoved(ConversationRemoved { conversation: conv(ConversationKind::SdkGroup), participants: vec!["u1".into(), "u2".into()] }), AT).unwrap();
        assert!(removed.to_participants.is_none());
        assert_eq!(removed.direct.iter().map(|(u, e)| (u.as_str(), e["type"].as_str().unwrap())).collect::<Vec<_>>(), [("u1", "conversation:removed"), ("u2", "conversation:removed")]);
        assert_eq!(removed.membership, Membership::Removed);
        let gone = plan(&Event::UserRemoved(UserRemoved { user: summary("u1", None) }), AT).unwrap();
        assert_eq!(gone.close_user.as_deref(), Some("u1"));
        assert!(gone.to_participants.is_none());
        let updated = Event::UserUpdated(UserUpdated { user: summary("u1", Some("ann")), reason: UserUpdateReason::Authentication, source: json!({}) });
        assert!(plan(&updated, AT).is_none());
    }
}
