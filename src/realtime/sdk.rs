//! From outbox events to what the SDKs expect on their realtime channel (sdk-protocol §5).
//! Pure: no I/O. The hub looks up the recipients a [`Plan`] asks for and publishes.
//!
//! Every publication's `data` is `{"events": [event]}`; the events are in the SDK's
//! appUser wire model (`_id`, `appUserId`, `role: appUser|appMaker`, `received` in seconds),
//! not the v2 REST shapes the outbox holds. Messages are shaped by
//! [`crate::domain::sdk::sdk_message`], as the SDK REST API shapes them.

use serde_json::{json, Map, Value};

pub use crate::domain::sdk::sdk_message;
use crate::domain::sdk::seconds;
use crate::store::events::StoredEvent;

/// The realtime channel of a user: one per user, covering all their conversations.
pub fn user_channel(app_id: &str, user_id: &str) -> String {
    format!("/sdk/apps/{app_id}/appusers/{user_id}")
}

/// `(appId, appUserId)` of a user channel.
pub fn parse_user_channel(channel: &str) -> Option<(&str, &str)> {
    let rest = channel.strip_prefix("/sdk/apps/")?;
    let (app, rest) = rest.split_once('/')?;
    let user = rest.strip_prefix("appusers/")?;
    let ok = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    (ok(app) && ok(user)).then_some((app, user))
}

/// Who hears about one outbox event, and what.
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
}

fn conversation_ref(payload: &Value) -> Value {
    let c = &payload["conversation"];
    let mut out = Map::new();
    out.insert("_id".into(), c["id"].clone());
    if let Some(t) = c.get("type").filter(|t| t.is_string()) {
        out.insert("type".into(), t.clone());
    }
    if let Some(m) = c.get("metadata").filter(|m| m.is_object()) {
        out.insert("metadata".into(), m.clone());
    }
    Value::Object(out)
}

fn participant_ref(user: &Value) -> Value {
    let mut p = json!({ "appUserId": user["id"] });
    if let Some(e) = user.get("externalId").filter(|e| e.is_string()) {
        p["userId"] = e.clone();
    }
    p
}

/// The plan for one outbox event; `None` for events the SDKs do not hear about.
pub fn plan(e: &StoredEvent) -> Option<Plan> {
    let p = &e.payload;
    let conversation_id = e.conversation_id.clone().or_else(|| p["conversation"]["id"].as_str().map(str::to_string));
    let base = Plan { conversation_id: conversation_id.clone(), ..Plan::default() };
    match e.kind.as_str() {
        "conversation:message" => Some(Plan {
            to_participants: Some(json!({ "type": "message", "conversation": conversation_ref(p), "message": sdk_message(&p["message"]) })),
            ..base
        }),
        "conversation:read" | "conversation:typing" => {
            let activity = &p["activity"];
            let author = &activity["author"];
            let is_user = author["type"] == "user";
            let user_id = author["userId"].as_str().map(str::to_string);
            let mut conversation = conversation_ref(p);
            let mut a = json!({ "type": activity["type"], "role": if is_user { "appUser" } else { "appMaker" }, "data": {} });
            if let Some(u) = &user_id {
                a["appUserId"] = json!(u);
                if let Some(ext) = author["user"]["externalId"].as_str() {
                    a["userId"] = json!(ext);
                }
            }
            for (from, to) in [("displayName", "name"), ("avatarUrl", "avatarUrl")] {
                if let Some(v) = author.get(from).filter(|v| v.is_string()) {
                    a["data"][to] = v.clone();
                }
            }
            let mut skip = Vec::new();
            if e.kind == "conversation:read" {
                a["lastRead"] = seconds(e.created_at);
                if !is_user {
                    conversation["appMakerLastRead"] = seconds(e.created_at);
                }
            } else if let Some(u) = &user_id {
                // Nobody needs to see their own typing indicator.
                skip.push(u.clone());
            }
            Some(Plan { to_participants: Some(json!({ "type": "activity", "conversation": conversation, "activity": a })), skip, ..base })
        }
        "conversation:create" => Some(Plan { to_participants: Some(json!({ "type": "conversation:added", "conversation": conversation_ref(p) })), ..base }),
        "conversation:remove" => Some(Plan { to_participants: Some(json!({ "type": "conversation:removed", "conversation": conversation_ref(p) })), ..base }),
        "conversation:join" | "conversation:leave" => {
            let user = &p["user"];
            let user_id = user["id"].as_str()?.to_string();
            let joined = e.kind == "conversation:join";
            let participant = participant_ref(user);
            let to_them = json!({
                "type": if joined { "conversation:added" } else { "conversation:removed" },
                "conversation": conversation_ref(p),
                "participant": participant,
            });
            let to_others = json!({
                "type": if joined { "participant:added" } else { "participant:removed" },
                "conversation": conversation_ref(p),
                "participant": participant,
            });
            Some(Plan { to_participants: Some(to_others), skip: vec![user_id.clone()], direct: vec![(user_id, to_them)], ..base })
        }
        "user:remove" => Some(Plan { close_user: p["user"]["id"].as_str().map(str::to_string), ..base }),
        // An anonymous user logged in as an existing one and was merged into it: tell the
        // browser still subscribed as the discarded user who it is now, the way the SDKs
        // hear of an identity change (a `link` event naming another `appUser`).
        "user:merge" => {
            let merged = &p["mergedUsers"];
            let discarded = merged["discarded"]["id"].as_str()?.to_string();
            let surviving = &merged["surviving"];
            let mut app_user = json!({ "_id": surviving["id"] });
            if let Some(e) = surviving.get("externalId").filter(|e| e.is_string()) {
                app_user["userId"] = e.clone();
            }
            let link = json!({ "type": "link", "appUser": app_user, "reason": p["reason"] });
            Some(Plan { direct: vec![(discarded, link)], ..base })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: &str, payload: Value) -> StoredEvent {
        StoredEvent {
            seq: 1,
            id: "e1".into(),
            app_id: "app1".into(),
            kind: kind.into(),
            conversation_id: payload["conversation"]["id"].as_str().map(str::to_string),
            payload,
            created_at: 1_600_000_000_500,
        }
    }

    #[test]
    fn user_channels_round_trip() {
        let c = user_channel("5f1a", "6a2b");
        assert_eq!(c, "/sdk/apps/5f1a/appusers/6a2b");
        assert_eq!(parse_user_channel(&c), Some(("5f1a", "6a2b")));
        for bad in ["/sdk/apps/a/appusers/", "/sdk/apps//appusers/u", "/sdk/apps/a/appusers/u/x", "/sdk/apps/a/users/u", "/sdk/apps/a/appusers/*", "/other"] {
            assert_eq!(parse_user_channel(bad), None, "{bad}");
        }
    }

    #[test]
    fn messages_are_in_the_sdk_model() {
        let m = json!({
            "id": "m1",
            "received": "2020-09-13T12:26:40.500Z",
            "author": {"type": "user", "userId": "u1", "displayName": "Ann", "user": {"id": "u1"}},
            "content": {"type": "text", "text": "hi"},
            "source": {"type": "web", "client": {"id": "browser1"}},
        });
        let p = plan(&event("conversation:message", json!({"conversation": {"id": "c1"}, "message": m}))).unwrap();
        let s = &p.to_participants.unwrap()["message"];
        assert_eq!((s["_id"].as_str(), s["role"].as_str(), s["authorId"].as_str(), s["name"].as_str()), (Some("m1"), Some("appUser"), Some("u1"), Some("Ann")));
        assert_eq!((s["type"].as_str(), s["text"].as_str()), (Some("text"), Some("hi")));
        assert_eq!(s["source"]["id"], "browser1", "the SDK drops echoes of its own sends by source.id");
        assert_eq!(s["received"].as_f64().unwrap(), 1_600_000_000.5);
    }

    #[test]
    fn a_message_goes_to_every_participant() {
        let p = plan(&event(
            "conversation:message",
            json!({"conversation": {"id": "c1", "type": "sdkGroup"}, "message": {"id": "m1", "author": {"type": "business"}, "content": {"type": "text", "text": "x"}, "source": {}}}),
        ))
        .unwrap();
        assert_eq!(p.conversation_id.as_deref(), Some("c1"));
        let e = p.to_participants.unwrap();
        assert_eq!(e["type"], "message");
        assert_eq!(e["conversation"], json!({"_id": "c1", "type": "sdkGroup"}));
        assert_eq!(e["message"]["_id"], "m1");
        assert!(p.skip.is_empty() && p.direct.is_empty());
    }

    #[test]
    fn typing_skips_its_author_and_read_carries_times() {
        let typing = plan(&event(
            "conversation:typing",
            json!({"conversation": {"id": "c1"}, "activity": {"type": "typing:start", "author": {"type": "user", "userId": "u1", "user": {"id": "u1", "externalId": "ann"}}}}),
        ))
        .unwrap();
        let e = typing.to_participants.unwrap();
        assert_eq!(e["type"], "activity");
        assert_eq!(e["activity"]["type"], "typing:start");
        assert_eq!(e["activity"]["role"], "appUser");
        assert_eq!(e["activity"]["appUserId"], "u1");
        assert_eq!(e["activity"]["userId"], "ann");
        assert_eq!(typing.skip, vec!["u1".to_string()]);
        let read = plan(&event("conversation:read", json!({"conversation": {"id": "c1"}, "activity": {"type": "conversation:read", "author": {"type": "business"}}}))).unwrap();
        let e = read.to_participants.unwrap();
        assert_eq!(e["activity"]["role"], "appMaker");
        assert_eq!(e["activity"]["lastRead"].as_f64().unwrap(), 1_600_000_000.5);
        assert_eq!(e["conversation"]["appMakerLastRead"].as_f64().unwrap(), 1_600_000_000.5);
        assert!(read.skip.is_empty());
    }

    #[test]
    fn joining_and_leaving_tell_the_user_and_the_others_apart() {
        let user = json!({"id": "u2", "externalId": "bob", "authenticated": true});
        let join = plan(&event("conversation:join", json!({"conversation": {"id": "c1"}, "user": user}))).unwrap();
        assert_eq!(join.direct.len(), 1);
        assert_eq!(join.direct[0].0, "u2");
        assert_eq!(join.direct[0].1["type"], "conversation:added");
        assert_eq!(join.skip, vec!["u2".to_string()]);
        let others = join.to_participants.unwrap();
        assert_eq!(others["type"], "participant:added");
        assert_eq!(others["participant"], json!({"appUserId": "u2", "userId": "bob"}));
        let leave = plan(&event("conversation:leave", json!({"conversation": {"id": "c1"}, "user": user}))).unwrap();
        assert_eq!(leave.direct[0].1["type"], "conversation:removed");
        assert_eq!(leave.to_participants.unwrap()["type"], "participant:removed");
    }

    #[test]
    fn a_merge_tells_the_discarded_user_who_it_is_now() {
        let merged = plan(&event(
            "user:merge",
            json!({"mergedUsers": {"surviving": {"id": "s1", "externalId": "ann"}, "discarded": {"id": "d1"}}, "reason": "sdkLogin"}),
        ))
        .unwrap();
        assert_eq!(merged.direct, vec![("d1".to_string(), json!({"type": "link", "appUser": {"_id": "s1", "userId": "ann"}, "reason": "sdkLogin"}))]);
        assert!(merged.to_participants.is_none());
    }

    #[test]
    fn conversations_and_users_coming_and_going() {
        let created = plan(&event("conversation:create", json!({"conversation": {"id": "c1", "type": "personal"}, "user": {"id": "u1"}}))).unwrap();
        assert_eq!(created.to_participants.unwrap()["type"], "conversation:added");
        let removed = plan(&event("conversation:remove", json!({"conversation": {"id": "c1"}}))).unwrap();
        assert_eq!(removed.to_participants.unwrap()["type"], "conversation:removed");
        let gone = plan(&event("user:remove", json!({"user": {"id": "u1"}}))).unwrap();
        assert_eq!(gone.close_user.as_deref(), Some("u1"));
        assert!(gone.to_participants.is_none());
        assert!(plan(&event("user:update", json!({"user": {"id": "u1"}}))).is_none());
    }
}
