//! The SDK's login in the store: an anonymous user with a session token logs in as an
//! existing identified user and is merged into it (conversations and messages moved, the
//! token revoked, `user:merge` recorded), or, with no such user, is upgraded in place.

use serde_json::{json, Value};
use sunbeam::domain::app::new_app;
use sunbeam::domain::conversation::parse_new_conversation;
use sunbeam::domain::error::Resource;
use sunbeam::domain::ids::new_id;
use sunbeam::domain::message::parse_message_post;
use sunbeam::domain::pagination::PageRequest;
use sunbeam::domain::sdk::ClientInput;
use sunbeam::domain::time::now_ms;
use sunbeam::domain::user::{new_user, User};
use sunbeam::store::messages::MessageCursor;
use sunbeam::store::sdk::LoginKind;
use sunbeam::store::Store;

use crate::is_not_found;

fn fresh_user() -> User {
    new_user(new_id(), now_ms(), json!({}), false).unwrap()
}

fn browser(id: &str) -> ClientInput {
    ClientInput { client_id: id.into(), platform: "web".into(), integration_id: None, info: Default::default(), push_token: None }
}

async fn post(store: &Store, app: &str, conv: &str, author: Value, text: &str) -> Value {
    let m = parse_message_post(json!({"author": author, "content": {"type": "text", "text": text}}), &Default::default()).unwrap();
    store.post_message(app, conv, m, json!({"type": "web"})).await.unwrap()
}

async fn conversation(store: &Store, app: &str, kind: &str, user: &str) -> String {
    let (c, _) = store.create_conversation(app, parse_new_conversation(json!({"type": kind, "participants": [{"userId": user}]}), 10).unwrap()).await.unwrap();
    c.id
}

/// (text, author userId) of each message, oldest first.
async fn history(store: &Store, app: &str, conv: &str) -> Vec<(String, Option<String>)> {
    let page = store.list_messages(app, conv, &MessageCursor::Newest).await.unwrap();
    page.items.iter().map(|m| (m["content"]["text"].as_str().unwrap().to_string(), m["author"]["userId"].as_str().map(str::to_string))).collect()
}

async fn events(store: &Store, app: &str, kind: &str) -> Vec<Value> {
    store.events_after(app, 0, 1000).await.unwrap().into_iter().filter(|e| e.trigger().as_str() == kind).map(|e| crate::payload_of(&e)).collect()
}

async fn merge(store: &Store) {
    let app = store.create_app(new_app(new_id(), json!({"displayName": "Shop"})).unwrap()).await.unwrap().id;
    // Bob exists, identified, with his default conversation and a message in it.
    let bob = store.create_user(&app, new_user(new_id(), now_ms(), json!({"externalId": "bob"}), false).unwrap()).await.unwrap().id;
    let bob_conv = conversation(store, &app, "personal", &bob).await;
    post(store, &app, &bob_conv, json!({"type": "business"}), "hi bob").await;

    // An anonymous browser: a user with a session token, its own default conversation
    // and a group it is in alone, each with a message of its own.
    let (anon, token, client) = store.sdk_create_user(&app, fresh_user(), Some(browser("b1"))).await.unwrap();
    assert_eq!(client.map(|c| c.id), Some("b1".to_string()));
    assert!(anon.external_id.is_none());
    assert!(store.check_session(&app, &anon.id, &token).await.unwrap());
    assert!(!store.check_session(&app, &anon.id, "not-the-token").await.unwrap());
    let anon_conv = conversation(store, &app, "personal", &anon.id).await;
    post(store, &app, &anon_conv, json!({"type": "user", "userId": anon.id}), "anon says").await;
    let group = conversation(store, &app, "sdkGroup", &anon.id).await;
    post(store, &app, &group, json!({"type": "user", "userId": anon.id}), "in the group").await;

    // Login as bob with the anonymous credentials: merged into bob.
    let out = store.sdk_login(&app, "bob", Some((anon.id.clone(), token.clone())), Some(browser("b1")), fresh_user(), json!({"type": "web"})).await.unwrap();
    assert_eq!(out.kind, LoginKind::Merged { discarded: anon.id.clone() });
    assert_eq!(out.user.id, bob);
    assert!(out.user.authenticated);
    assert_eq!(out.client.map(|c| c.id), Some("b1".to_string()));

    // The anonymous user is gone, and its token with it.
    assert!(is_not_found(&store.get_user(&app, &anon.id).await, Resource::User));
    assert!(!store.check_session(&app, &anon.id, &token).await.unwrap());
    // Its default conversation's messages were appended to bob's, authored by bob now.
    assert_eq!(history(store, &app, &bob_conv).await, [("hi bob".into(), None), ("anon says".into(), Some(bob.clone()))]);
    assert!(is_not_found(&store.get_conversation(&app, &anon_conv).await, Resource::Conversation));
    // Its other conversation changed hands, with its messages.
    let parts = store.list_participants(&app, &group, &PageRequest::parse(None, None, None).unwrap()).await.unwrap();
    assert_eq!(parts.items.iter().map(|p| p.user_id.as_str()).collect::<Vec<_>>(), [bob.as_str()]);
    assert_eq!(history(store, &app, &group).await, [("in the group".into(), Some(bob.clone()))]);
    let mut bobs: Vec<String> = store.sdk_user_conversations(&bob, 0, 10).await.unwrap().0.into_iter().map(|c| c.id).collect();
    bobs.sort();
    let mut want = vec![bob_conv.clone(), group.clone()];
    want.sort();
    assert_eq!(bobs, want);
    // The browser's client is bob's now.
    assert_eq!(store.sdk_clients(&bob).await.unwrap().iter().map(|c| c.id.as_str()).collect::<Vec<_>>(), ["b1"]);

    // One user:merge event says who survived and which conversations were merged.
    let merges = events(store, &app, "user:merge").await;
    assert_eq!(merges.len(), 1, "{merges:?}");
    let m = &merges[0];
    assert_eq!(m["reason"], "sdkLogin");
    assert_eq!(m["mergedUsers"]["surviving"]["id"], bob.as_str());
    assert_eq!(m["mergedUsers"]["discarded"]["id"], anon.id.as_str());
    assert_eq!(m["mergedConversations"]["surviving"]["id"], bob_conv.as_str());
    assert_eq!(m["mergedConversations"]["discarded"]["id"], anon_conv.as_str());

    // The revoked credentials prove nothing any more: logging in again merges nothing.
    let again = store.sdk_login(&app, "bob", Some((anon.id.clone(), token.clone())), None, fresh_user(), json!({"type": "web"})).await.unwrap();
    assert_eq!((again.kind, again.user.id), (LoginKind::Existing, bob.clone()));
    assert_eq!(events(store, &app, "user:merge").await.len(), 1);
    assert_eq!(history(store, &app, &bob_conv).await.len(), 2);
}

story!(login_merges_an_anonymous_user_into_the_existing_one, merge);

async fn upgrade(store: &Store) {
    let app = store.create_app(new_app(new_id(), json!({"displayName": "Shop"})).unwrap()).await.unwrap().id;
    let (anon, token, _) = store.sdk_create_user(&app, fresh_user(), None).await.unwrap();
    let conv = conversation(store, &app, "personal", &anon.id).await;
    post(store, &app, &conv, json!({"type": "user", "userId": anon.id}), "hello").await;
    // No user is "carl" yet: the anonymous user becomes carl, same id, same history.
    let out = store.sdk_login(&app, "carl", Some((anon.id.clone(), token.clone())), None, fresh_user(), json!({"type": "web"})).await.unwrap();
    assert_eq!((out.kind, out.user.id.as_str(), out.user.external_id.as_deref()), (LoginKind::Upgraded, anon.id.as_str(), Some("carl")));
    assert_eq!(store.get_user(&app, "carl").await.unwrap().id, anon.id);
    assert_eq!(history(store, &app, &conv).await, [("hello".into(), Some(anon.id.clone()))]);
    // Identified now: the anonymous session token no longer works.
    assert!(!store.check_session(&app, &anon.id, &token).await.unwrap());
    let updates = events(store, &app, "user:update").await;
    assert!(updates.iter().any(|u| u["reason"] == "authentication" && u["user"]["id"] == anon.id.as_str()), "{updates:?}");
    assert!(events(store, &app, "user:merge").await.is_empty());
    // A login as someone new without anonymous credentials creates the user.
    let dora = store.sdk_login(&app, "dora", None, None, fresh_user(), json!({"type": "web"})).await.unwrap();
    assert_eq!(dora.kind, LoginKind::Created);
    assert_eq!(store.get_user(&app, "dora").await.unwrap().id, dora.user.id);
}

story!(login_upgrades_an_anonymous_user_in_place, upgrade);
