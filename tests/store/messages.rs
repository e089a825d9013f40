//! Messages: posting, their order, history pages before and after a cursor, deletion, and
//! the per-conversation limit (423), with the outbox events each leaves.

use sunbeam::domain::event::Trigger;
use serde_json::{json, Value};
use sunbeam::domain::app::new_app;
use sunbeam::domain::conversation::parse_new_conversation;
use sunbeam::domain::error::{DomainError, Resource};
use sunbeam::domain::ids::new_id;
use sunbeam::domain::message::{parse_message_post, NewMessage};
use sunbeam::domain::pagination::Page;
use sunbeam::domain::time::now_ms;
use sunbeam::domain::user::new_user;
use sunbeam::store::messages::{MessageCursor, MESSAGE_PAGE};
use sunbeam::store::{Store, StoreError, StoreLimits};

use crate::{is_not_found, is_rule};

/// An app, a user `ann` and a group conversation with her in it: (app, ann, conversation).
async fn setup(store: &Store) -> (String, String, String) {
    let app = store.create_app(new_app(new_id(), json!({"displayName": "A"})).unwrap()).await.unwrap().id;
    let ann = store.create_user(&app, new_user(new_id(), now_ms(), json!({"externalId": "ann"}), false).unwrap()).await.unwrap().id;
    let (c, _) = store.create_conversation(&app, parse_new_conversation(json!({"type": "sdkGroup", "participants": [{"userId": ann}]}), 10).unwrap()).await.unwrap();
    (app, ann, c.id)
}

fn text(author: Value, t: &str) -> NewMessage {
    parse_message_post(json!({"author": author, "content": {"type": "text", "text": t}}), &Default::default()).unwrap()
}

fn business(t: &str) -> NewMessage {
    text(json!({"type": "business"}), t)
}

fn source() -> Value {
    json!({"type": "api:conversations"})
}

fn texts(page: &Page<Value>) -> Vec<String> {
    page.items.iter().map(|m| m["content"]["text"].as_str().unwrap().to_string()).collect()
}

fn numbered(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| i.to_string()).collect()
}

fn id_of(m: &Value) -> String {
    m["id"].as_str().unwrap().to_string()
}

/// The texts of the app's `conversation:message` events, in outbox order.
async fn message_events(store: &Store, app: &str) -> Vec<String> {
    let events = store.events_after(app, 0, 10_000).await.unwrap();
    events.iter().filter(|e| e.trigger() == Trigger::ConversationMessage).map(|e| crate::payload_of(e)["message"]["content"]["text"].as_str().unwrap().to_string()).collect()
}

fn is_invalid<T: std::fmt::Debug>(r: &Result<T, StoreError>) -> bool {
    matches!(r, Err(StoreError::Domain(DomainError::Invalid(_))))
}

async fn history(store: &Store) {
    let (app, ann, conv) = setup(store).await;
    // Two full pages and a bit: 100 + 100 + 5.
    let total = 2 * MESSAGE_PAGE as usize + 5;
    let mut posted = Vec::new();
    for i in 0..total {
        let m = if i == 0 { text(json!({"type": "user", "userId": ann}), "0") } else { business(&i.to_string()) };
        posted.push(store.post_message(&app, &conv, m, source()).await.unwrap());
    }
    assert_eq!(posted[0]["author"]["userId"], ann.as_str());
    assert_eq!(posted[0]["author"]["type"], "user");
    assert_eq!(posted[1]["author"]["type"], "business");
    // Ids sort by creation, so the posting order is the id order too.
    let ids: Vec<String> = posted.iter().map(id_of).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids increase with each post");

    // The newest page, oldest first within it; a cursor back to the page before.
    let newest = store.list_messages(&app, &conv, &MessageCursor::Newest).await.unwrap();
    assert_eq!(texts(&newest), numbered(total - 100..total));
    assert!(newest.has_more);
    assert_eq!(newest.before_cursor.as_deref(), Some(ids[total - 100].as_str()));
    assert_eq!(newest.after_cursor, None);
    // Paging back before it, then before that: everything, once, in order.
    let back = store.list_messages(&app, &conv, &MessageCursor::Before(newest.before_cursor.clone().unwrap())).await.unwrap();
    assert_eq!(texts(&back), numbered(5..total - 100));
    assert!(back.has_more);
    assert_eq!(back.before_cursor.as_deref(), Some(ids[5].as_str()));
    assert_eq!(back.after_cursor.as_deref(), Some(ids[total - 101].as_str()));
    let oldest = store.list_messages(&app, &conv, &MessageCursor::Before(back.before_cursor.clone().unwrap())).await.unwrap();
    assert_eq!(texts(&oldest), numbered(0..5));
    assert!(!oldest.has_more);
    assert_eq!(oldest.before_cursor, None, "nothing precedes the first message");
    // Forward again from the oldest page's last message.
    let forward = store.list_messages(&app, &conv, &MessageCursor::After(oldest.after_cursor.clone().unwrap())).await.unwrap();
    assert_eq!(texts(&forward), numbered(5..105));
    assert!(forward.has_more);
    assert_eq!(forward.after_cursor.as_deref(), Some(ids[104].as_str()));
    assert_eq!(forward.before_cursor.as_deref(), Some(ids[5].as_str()));
    let tail = store.list_messages(&app, &conv, &MessageCursor::After(ids[total - 3].clone())).await.unwrap();
    assert_eq!(texts(&tail), numbered(total - 2..total));
    assert!(!tail.has_more);
    assert_eq!(tail.after_cursor, None);
    let after_last = store.list_messages(&app, &conv, &MessageCursor::After(ids[total - 1].clone())).await.unwrap();
    assert!(after_last.items.is_empty() && !after_last.has_more);

    // The outbox has one message event per post, in the same order as the history.
    assert_eq!(message_events(store, &app).await, numbered(0..total));

    // Cursors are message ids of this conversation; anything else is an invalid query.
    assert!(is_invalid(&store.list_messages(&app, &conv, &MessageCursor::Before(new_id())).await));
    let (other, _) = store.create_conversation(&app, parse_new_conversation(json!({"type": "sdkGroup", "participants": [{"userId": ann}]}), 10).unwrap()).await.unwrap();
    let elsewhere = store.post_message(&app, &other.id, business("elsewhere"), source()).await.unwrap();
    assert!(is_invalid(&store.list_messages(&app, &conv, &MessageCursor::After(id_of(&elsewhere))).await));
    assert!(is_not_found(&store.list_messages(&app, &new_id(), &MessageCursor::Newest).await, Resource::Conversation));

    // Posting: to an unknown conversation, or as a user who is not a participant.
    assert!(is_not_found(&store.post_message(&app, &new_id(), business("x"), source()).await, Resource::Conversation));
    let bob = store.create_user(&app, new_user(new_id(), now_ms(), json!({"externalId": "bob"}), false).unwrap()).await.unwrap().id;
    assert!(is_rule(&store.post_message(&app, &conv, text(json!({"type": "user", "userId": bob}), "intruder"), source()).await));
    assert!(is_not_found(&store.post_message(&app, &conv, text(json!({"type": "user", "userId": new_id()}), "nobody"), source()).await, Resource::User));
    // Another app cannot see or write into the conversation.
    let other_app = store.create_app(new_app(new_id(), json!({"displayName": "B"})).unwrap()).await.unwrap().id;
    assert!(is_not_found(&store.post_message(&other_app, &conv, business("x"), source()).await, Resource::Conversation));
    assert!(is_not_found(&store.list_messages(&other_app, &conv, &MessageCursor::Newest).await, Resource::Conversation));
    let newest_now = store.list_messages(&app, &conv, &MessageCursor::Newest).await.unwrap();
    assert_eq!(texts(&newest_now), numbered(total - 100..total), "refused posts left nothing");

    // Deleting one message: gone from the history, the rest in place; twice is not found.
    let doomed = &ids[total - 2];
    store.delete_message(&app, &conv, doomed).await.unwrap();
    let page = store.list_messages(&app, &conv, &MessageCursor::Newest).await.unwrap();
    let mut want = numbered(total - 101..total);
    want.remove(want.len() - 2);
    assert_eq!(texts(&page), want);
    assert!(is_not_found(&store.delete_message(&app, &conv, doomed).await, Resource::Message));
    assert!(is_not_found(&store.delete_message(&app, &conv, &id_of(&elsewhere)).await, Resource::Message), "a message of another conversation");
    assert!(is_not_found(&store.delete_message(&app, &new_id(), &ids[0]).await, Resource::Conversation));
    // Deleting all of them.
    store.delete_all_messages(&app, &conv).await.unwrap();
    let empty = store.list_messages(&app, &conv, &MessageCursor::Newest).await.unwrap();
    assert!(empty.items.is_empty() && !empty.has_more && empty.before_cursor.is_none());
    assert_eq!(texts(&store.list_messages(&app, &other.id, &MessageCursor::Newest).await.unwrap()), ["elsewhere"], "the other conversation keeps its own");
    // New posts continue after the old ones (in order, still after the deleted ones' ids).
    let later = store.post_message(&app, &conv, business("later"), source()).await.unwrap();
    assert!(id_of(&later) > ids[total - 1]);
    assert_eq!(texts(&store.list_messages(&app, &conv, &MessageCursor::Newest).await.unwrap()), ["later"]);
}

story!(history_pages_deletion_and_order, history);

/// Concurrent posts into one conversation are all in its history, and the outbox holds
/// their events in the same order as the history (one sequence orders both).
async fn concurrent_order(store: &Store) {
    let (app, _, conv) = setup(store).await;
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let (store, app, conv) = (store.clone(), app.clone(), conv.clone());
            tokio::spawn(async move { store.post_message(&app, &conv, business(&i.to_string()), source()).await.unwrap() })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let history = texts(&store.list_messages(&app, &conv, &MessageCursor::Newest).await.unwrap());
    assert_eq!(history.len(), 40);
    let mut sorted = history.clone();
    sorted.sort_by_key(|t| t.parse::<usize>().unwrap());
    assert_eq!(sorted, numbered(0..40), "each once");
    assert_eq!(message_events(store, &app).await, history, "events in history order");
}

story!(concurrent_posts_keep_one_order, concurrent_order);

async fn locked_at_the_limit(store: &Store) {
    let (app, _, conv) = setup(store).await;
    for i in 0..3 {
        store.post_message(&app, &conv, business(&i.to_string()), source()).await.unwrap();
    }
    let fourth = store.post_message(&app, &conv, business("3"), source()).await;
    assert!(matches!(fourth, Err(StoreError::Domain(DomainError::Locked(_)))), "{fourth:?}");
    // The refused write left nothing behind: three messages, three message events.
    let page = store.list_messages(&app, &conv, &MessageCursor::Newest).await.unwrap();
    assert_eq!(texts(&page), numbered(0..3));
    assert_eq!(message_events(store, &app).await, numbered(0..3));
    // The limit counts what the conversation holds: a deletion makes room for one.
    store.delete_message(&app, &conv, &id_of(&page.items[1])).await.unwrap();
    store.post_message(&app, &conv, business("3"), source()).await.unwrap();
    assert!(matches!(store.post_message(&app, &conv, business("4"), source()).await, Err(StoreError::Domain(DomainError::Locked(_)))));
    assert_eq!(texts(&store.list_messages(&app, &conv, &MessageCursor::Newest).await.unwrap()), ["0", "2", "3"]);
    store.delete_all_messages(&app, &conv).await.unwrap();
    for i in 0..3 {
        store.post_message(&app, &conv, business(&format!("again {i}")), source()).await.unwrap();
    }
    assert!(matches!(store.post_message(&app, &conv, business("again 3"), source()).await, Err(StoreError::Domain(DomainError::Locked(_)))));
    // Another conversation has a count of its own.
    let ann = store.get_user(&app, "ann").await.unwrap().id;
    let (other, _) = store.create_conversation(&app, parse_new_conversation(json!({"type": "sdkGroup", "participants": [{"userId": ann}]}), 10).unwrap()).await.unwrap();
    store.post_message(&app, &other.id, business("there"), source()).await.unwrap();
}

story!(message_limit, locked_at_the_limit, limits = StoreLimits { max_messages_per_conversation: 3, ..StoreLimits::default() });

/// Under concurrency, with refusals mixed into the same group commits (a full
/// conversation, an unknown one, a non-participant author) and other writes that fail
/// after their savepoint: every acknowledged message is in its conversation's history
/// once, each conversation's history and its outbox events are in one order, nothing
/// refused left a message, an event or an unread count behind, and the unread counts are
/// what the history says.
async fn concurrent_mixed(store: &Store) {
    let (app, ann, full) = setup(store).await;
    let bob = store.create_user(&app, new_user(new_id(), now_ms(), json!({"externalId": "bob"}), false).unwrap()).await.unwrap().id;
    let (open, _) = store.create_conversation(&app, parse_new_conversation(json!({"type": "sdkGroup", "participants": [{"userId": ann}]}), 10).unwrap()).await.unwrap();
    let open = open.id;
    #[derive(Debug)]
    enum Kind {
        Full,
        Open,
        OpenByAnn,
        Unknown,
        Outsider,
        DupUser,
    }
    let mut tasks = Vec::new();
    for i in 0..300usize {
        let (store, app, full, open, bob) = (store.clone(), app.clone(), full.clone(), open.clone(), bob.clone());
        tasks.push(tokio::spawn(async move {
            let kind = match i % 10 {
                0..=4 => Kind::Full,
                5 => Kind::Open,
                6 => Kind::OpenByAnn,
                7 => Kind::Unknown,
                8 => Kind::Outsider,
                _ => Kind::DupUser,
            };
            let label = i.to_string();
            let r = match kind {
                Kind::Full => store.post_message(&app, &full, business(&label), source()).await.map(|_| ()),
                Kind::Open => store.post_message(&app, &open, business(&label), source()).await.map(|_| ()),
                Kind::OpenByAnn => store.post_message(&app, &open, text(json!({"type": "user", "userExternalId": "ann"}), &label), source()).await.map(|_| ()),
                Kind::Unknown => store.post_message(&app, &new_id(), business(&label), source()).await.map(|_| ()),
                Kind::Outsider => store.post_message(&app, &open, text(json!({"type": "user", "userId": bob}), &label), source()).await.map(|_| ()),
                Kind::DupUser => store.create_user(&app, new_user(new_id(), now_ms(), json!({"externalId": "bob"}), false).unwrap()).await.map(|_| ()),
            };
            (i, kind, r)
        }));
    }
    let outcomes: Vec<_> = futures::future::join_all(tasks).await.into_iter().map(|r| r.unwrap()).collect();
    let (mut full_ok, mut open_ok, mut by_ann) = (Vec::new(), Vec::new(), 0);
    for (i, kind, r) in &outcomes {
        match kind {
            Kind::Full => match r {
                Ok(()) => full_ok.push(i.to_string()),
                Err(StoreError::Domain(DomainError::Locked(_))) => {}
                other => panic!("{i}: {other:?}"),
            },
            Kind::Open | Kind::OpenByAnn => {
                assert!(r.is_ok(), "{i}: {r:?}");
                open_ok.push(i.to_string());
                if matches!(kind, Kind::OpenByAnn) {
                    by_ann += 1;
                }
            }
            Kind::Unknown => assert!(is_not_found(r, Resource::Conversation), "{i}: {r:?}"),
            Kind::Outsider => assert!(is_rule(r), "{i}: {r:?}"),
            Kind::DupUser => assert!(matches!(r, Err(StoreError::Domain(DomainError::Conflict(_)))), "{i}: {r:?}"),
        }
    }
    assert_eq!(full_ok.len(), 100, "the limit admits exactly 100 of 150");
    // History: everything acknowledged, once, nothing else; events in the history's order.
    let all_pages = |conv: String| {
        let store = store.clone();
        let app = app.clone();
        async move {
            let mut page = store.list_messages(&app, &conv, &MessageCursor::Newest).await.unwrap();
            let mut all = texts(&page);
            while let Some(before) = page.before_cursor.clone() {
                page = store.list_messages(&app, &conv, &MessageCursor::Before(before)).await.unwrap();
                all.splice(0..0, texts(&page));
            }
            all
        }
    };
    let (full_history, open_history) = (all_pages(full.clone()).await, all_pages(open.clone()).await);
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    assert_eq!(sorted(full_history.clone()), sorted(full_ok));
    assert_eq!(sorted(open_history.clone()), sorted(open_ok));
    let events = store.events_after(&app, 0, 100_000).await.unwrap();
    let in_outbox = |conv: &str| -> Vec<String> {
        events
            .iter()
            .filter(|e| e.trigger() == Trigger::ConversationMessage)
            .map(crate::payload_of)
            .filter(|p| p["conversation"]["id"] == conv)
            .map(|p| p["message"]["content"]["text"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(in_outbox(&full), full_history, "one order for history and outbox");
    assert_eq!(in_outbox(&open), open_history, "one order for history and outbox");
    // Unread: Ann has read what she wrote, not the business's messages.
    let page = sunbeam::domain::pagination::PageRequest::parse(None, None, None).unwrap();
    let unread = |conv: String| {
        let (store, app, ann, page) = (store.clone(), app.clone(), ann.clone(), page.clone());
        async move { store.list_participants(&app, &conv, &page).await.unwrap().items.into_iter().find(|p| p.user_id == ann).unwrap().unread_count }
    };
    assert_eq!(unread(full.clone()).await, 100);
    assert_eq!(unread(open.clone()).await, open_history.len() as i64 - by_ann);
}

story!(concurrent_posts_with_refusals_keep_history_outbox_and_unread_exact, concurrent_mixed, limits = StoreLimits { max_messages_per_conversation: 100, ..StoreLimits::default() });

/// Business messages posted at once are written in batches (one write for everything
/// queued): a batch spanning two apps and many conversations still gives each message its
/// conversation's next seq, each app's outbox only its own events in history order, and each
/// participant the unread count of its conversation; a conversation id of the other app is
/// unknown (404), as it is when posted alone.
async fn batches_across_apps(store: &Store) {
    let (app_a, _, first_a) = setup(store).await;
    let (app_b, _, first_b) = setup(store).await;
    let mut conversations = vec![(app_a.clone(), first_a), (app_b.clone(), first_b)];
    for _ in 0..3 {
        for app in [&app_a, &app_b] {
            let ann = store.get_user(app, "ann").await.unwrap().id;
            let (c, _) = store.create_conversation(app, parse_new_conversation(json!({"type": "sdkGroup", "participants": [{"userId": ann}]}), 10).unwrap()).await.unwrap();
            conversations.push((app.clone(), c.id));
        }
    }
    // 40 posts into each conversation, all in flight together. Texts name the conversation
    // by its index, not its id: an id's digits with a round's can read as a card number,
    // which the app masks.
    let label = |k: usize, round: usize| format!("conversation {k} round {round}");
    let mut tasks = Vec::new();
    for round in 0..40 {
        for (k, (app, conversation)) in conversations.iter().enumerate() {
            let (store, app, conversation, text) = (store.clone(), app.clone(), conversation.clone(), label(k, round));
            tasks.push(tokio::spawn(async move { store.post_message(&app, &conversation, business(&text), source()).await }));
        }
    }
    let crossed = store.post_message(&app_a, &conversations[1].1, business("into the other app"), source()).await;
    assert!(is_not_found(&crossed, Resource::Conversation), "{crossed:?}");
    for t in futures::future::join_all(tasks).await {
        t.unwrap().unwrap();
    }
    for app in [&app_a, &app_b] {
        let outbox = message_events(store, app).await;
        assert_eq!(outbox.len(), 4 * 40, "the app's outbox holds its own messages, each once");
        for (k, (owner, conversation)) in conversations.iter().enumerate().filter(|(_, (owner, _))| owner == app) {
            let page = store.list_messages(owner, conversation, &MessageCursor::Newest).await.unwrap();
            let history = texts(&page);
            assert_eq!(history.len(), 40);
            let prefix = format!("conversation {k} round ");
            assert!(history.iter().all(|t| t.starts_with(&prefix)), "{conversation} holds its own messages: {history:?}");
            let in_outbox: Vec<String> = outbox.iter().filter(|t| t.starts_with(&prefix)).cloned().collect();
            assert_eq!(in_outbox, history, "one order for history and outbox in {conversation}");
            let participants = store.list_participants(owner, conversation, &sunbeam::domain::pagination::PageRequest::parse(None, None, None).unwrap()).await.unwrap();
            assert_eq!(participants.items.iter().map(|p| p.unread_count).collect::<Vec<_>>(), vec![40]);
        }
    }
}

story!(concurrent_business_posts_across_apps_are_batched_exactly, batches_across_apps);
