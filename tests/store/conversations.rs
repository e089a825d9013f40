//! Conversations, participants, messages, activities and their outbox events.

use serde_json::json;
use sunbeam::domain::app::new_app;
use sunbeam::domain::conversation::{parse_join, parse_leave, parse_new_conversation, ConversationKind, UserRef};
use sunbeam::domain::error::Resource;
use sunbeam::domain::ids::new_id;
use sunbeam::domain::message::{parse_activity_post, parse_message_post};
use sunbeam::domain::pagination::PageRequest;
use sunbeam::domain::user::new_user;
use sunbeam::store::messages::MessageCursor;
use sunbeam::store::Store;

use crate::{is_not_found, is_rule};

async fn setup(store: &Store) -> (String, String, String) {
    let app = store.create_app(new_app(new_id(), json!({"displayName": "A"})).unwrap()).await.unwrap();
    let settings = app.settings.clone();
    let ann = store.create_user(&app.id, new_user(new_id(), 0, json!({"externalId": "ann"}), settings.use_animal_names).unwrap()).await.unwrap();
    let bob = store.create_user(&app.id, new_user(new_id(), 0, json!({"externalId": "bob"}), false).unwrap()).await.unwrap();
    (app.id, ann.id, bob.id)
}

fn text(author: serde_json::Value, t: &str) -> sunbeam::domain::message::NewMessage {
    parse_message_post(json!({"author": author, "content": {"type": "text", "text": t}}), &Default::default()).unwrap()
}

async fn event_kinds(store: &Store, app: &str) -> Vec<String> {
    store.events_after(app, 0, 1000).await.unwrap().into_iter().map(|e| e.trigger().as_str().to_string()).collect()
}

async fn scenario(store: &Store) {
    let (app, ann, bob) = setup(store).await;
    // Personal: the first is the default one.
    let (personal, parts) = store.create_conversation(&app, parse_new_conversation(json!({"type": "personal", "participants": [{"userId": ann}]}), 10).unwrap()).await.unwrap();
    assert!(personal.is_default && personal.kind == ConversationKind::Personal);
    assert_eq!(parts[0].user_id, ann);
    let (second, _) = store.create_conversation(&app, parse_new_conversation(json!({"type": "personal", "participants": [{"userExternalId": "ann"}]}), 10).unwrap()).await.unwrap();
    assert!(!second.is_default);
    assert!(is_rule(&store.delete_conversation(&app, &personal.id).await));
    assert!(is_rule(&store.join_conversation(&app, &personal.id, UserRef::Id(bob.clone())).await));

    // A group with joins, a leave, messages and unread counts.
    let (group, _) = store.create_conversation(&app, parse_new_conversation(json!({"type": "sdkGroup", "participants": [{"userId": ann}]}), 10).unwrap()).await.unwrap();
    let (joined, fresh) = store.join_conversation(&app, &group.id, parse_join(json!({"userExternalId": "bob"})).unwrap()).await.unwrap();
    assert!(fresh && joined.user_external_id.as_deref() == Some("bob"));
    let (again, fresh) = store.join_conversation(&app, &group.id, UserRef::Id(bob.clone())).await.unwrap();
    assert!(!fresh && again.id == joined.id);
    let source = json!({"type": "api:conversations"});
    let m1 = store.post_message(&app, &group.id, text(json!({"type": "user", "userId": ann}), "hi"), source.clone()).await.unwrap();
    assert_eq!(m1["author"]["userId"], ann.as_str());
    for i in 0..120 {
        store.post_message(&app, &group.id, text(json!({"type": "business"}), &format!("b{i}")), source.clone()).await.unwrap();
    }
    let page = store.list_participants(&app, &group.id, &PageRequest::parse(None, None, None).unwrap()).await.unwrap();
    let unread: Vec<(String, i64)> = page.items.iter().map(|p| (p.user_id.clone(), p.unread_count)).collect();
    assert!(unread.contains(&(ann.clone(), 120)) && unread.contains(&(bob.clone(), 121)), "{unread:?}");
    store.post_activity(&app, &group.id, parse_activity_post(json!({"author": {"type": "user", "userId": bob}, "type": "conversation:read"})).unwrap()).await.unwrap();
    let page = store.list_participants(&app, &group.id, &PageRequest::parse(None, None, None).unwrap()).await.unwrap();
    let bob_part = page.items.iter().find(|p| p.user_id == bob).unwrap();
    assert_eq!(bob_part.unread_count, 0);
    assert!(bob_part.last_read.is_some());

    // History: newest 100, then the rest, forwards again.
    let newest = store.list_messages(&app, &group.id, &MessageCursor::Newest).await.unwrap();
    assert_eq!(newest.items.len(), 100);
    assert!(newest.has_more);
    assert_eq!(newest.items[99]["content"]["text"], "b119");
    let older = store.list_messages(&app, &group.id, &MessageCursor::Before(newest.before_cursor.clone().unwrap())).await.unwrap();
    assert_eq!(older.items.len(), 21);
    assert!(!older.has_more);
    assert_eq!(older.items[0]["id"], m1["id"]);
    let forward = store.list_messages(&app, &group.id, &MessageCursor::After(m1["id"].as_str().unwrap().to_string())).await.unwrap();
    assert_eq!(forward.items.len(), 100);
    assert_eq!(forward.items[0]["content"]["text"], "b0");

    // A non-participant cannot author; leaving removes the participant.
    store.leave_conversation(&app, &group.id, parse_leave(json!({"userId": bob})).unwrap()).await.unwrap();
    assert!(is_rule(&store.post_message(&app, &group.id, text(json!({"type": "user", "userId": bob}), "x"), source.clone()).await));
    assert!(is_not_found(&store.leave_conversation(&app, &group.id, parse_leave(json!({"userId": bob})).unwrap()).await, Resource::Participant));

    // The user's conversations, by the participants index.
    let mine = store.list_user_conversations(&app, &UserRef::ExternalId("ann".into()), &PageRequest::parse(None, None, Some("2")).unwrap()).await.unwrap();
    assert_eq!(mine.items.len(), 2);
    assert!(mine.has_more);

    // Deleting messages and the conversation.
    let one = newest.items[0]["id"].as_str().unwrap().to_string();
    store.delete_message(&app, &group.id, &one).await.unwrap();
    assert!(is_not_found(&store.delete_message(&app, &group.id, &one).await, Resource::Message));
    store.delete_all_messages(&app, &group.id).await.unwrap();
    assert!(store.list_messages(&app, &group.id, &MessageCursor::Newest).await.unwrap().items.is_empty());
    store.delete_conversation(&app, &group.id).await.unwrap();
    assert!(is_not_found(&store.get_conversation(&app, &group.id).await, Resource::Conversation));

    // Every change above left its event, in order.
    let kinds = event_kinds(store, &app).await;
    assert_eq!(&kinds[..3], ["conversation:create", "conversation:create", "conversation:create"]);
    assert_eq!(kinds[3], "conversation:join");
    assert_eq!(kinds.iter().filter(|k| *k == "conversation:message").count(), 121);
    assert!(kinds.contains(&"conversation:read".to_string()));
    assert!(kinds.contains(&"conversation:leave".to_string()));
    assert_eq!(kinds.last().unwrap(), "conversation:remove");

    // Deleting a user removes its personal conversations and participations.
    store.delete_user(&app, &ann).await.unwrap();
    assert!(is_not_found(&store.get_conversation(&app, &second.id).await, Resource::Conversation));
    assert_eq!(event_kinds(store, &app).await.last().unwrap(), "user:remove");
}

story!(story, scenario);

/// Concurrent posts into one conversation get distinct, gap-free sequence numbers: the
/// history holds every acknowledged message exactly once.
async fn concurrent(store: &Store) {
    let (app, ann, _) = setup(store).await;
    let (c, _) = store.create_conversation(&app, parse_new_conversation(json!({"type": "sdkGroup", "participants": [{"userId": ann}]}), 10).unwrap()).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..60 {
        let (store, app, id) = (store.clone(), app.clone(), c.id.clone());
        tasks.push(tokio::spawn(async move {
            store.post_message(&app, &id, text(json!({"type": "business"}), &format!("{i}")), json!({"type": "api:conversations"})).await.unwrap()["id"].as_str().unwrap().to_string()
        }));
    }
    let mut acked = Vec::new();
    for t in tasks {
        acked.push(t.await.unwrap());
    }
    let page = store.list_messages(&app, &c.id, &MessageCursor::Newest).await.unwrap();
    let mut listed: Vec<String> = page.items.iter().map(|m| m["id"].as_str().unwrap().to_string()).collect();
    assert_eq!(listed.len(), 60);
    listed.sort();
    acked.sort();
    assert_eq!(listed, acked);
}

story!(concurrent_posts, concurrent);
