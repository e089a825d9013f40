//! Clients and devices (`sdk_clients` with their v2 ids, `channel_clients`), OAuth
//! partners and codes, and the retention sweep — on SQLite and PostgreSQL.

use serde_json::{json, Map};
use sqlx::Connection;
use sunbeam::domain::app::new_app;
use sunbeam::domain::client::{parse_client_create, ClientRecord};
use sunbeam::domain::conversation::parse_new_conversation;
use sunbeam::domain::error::{DomainError, Resource};
use sunbeam::domain::ids::{is_id, new_id};
use sunbeam::domain::integration::new_integration;
use sunbeam::domain::message::parse_message_post;
use sunbeam::domain::oauth::OAuthClient;
use sunbeam::domain::pagination::{Cursor, PageRequest};
use sunbeam::domain::sdk::ClientInput;
use sunbeam::domain::time::now_ms;
use sunbeam::domain::user::new_user;
use sunbeam::store::messages::MessageCursor;
use sunbeam::store::{SecretBox, Store, StoreError, StoreLimits};

use crate::common::TestStore;
use crate::{is_conflict, is_not_found};

async fn app(store: &Store, body: serde_json::Value) -> String {
    store.create_app(new_app(new_id(), body).unwrap()).await.unwrap().id
}

fn install(id: &str, platform: &str) -> ClientInput {
    let mut info = Map::new();
    info.insert("userAgent".into(), json!("Firefox"));
    ClientInput { client_id: id.into(), platform: platform.into(), integration_id: None, info, push_token: None }
}

async fn integration(store: &Store, app: &str, body: serde_json::Value) -> String {
    let (i, w) = new_integration(new_id(), new_id(), body).unwrap();
    store.create_integration(app, i, w).await.unwrap().id
}

fn page(size: i64) -> PageRequest {
    PageRequest { cursor: Cursor::Start, size }
}

async fn scenario(store: &Store) {
    let a = app(store, json!({"displayName": "A"})).await;
    let (user, _, first) = store.sdk_create_user(&a, new_user(new_id(), now_ms(), json!({}), false).unwrap(), Some(install("browser", "web"))).await.unwrap();
    let first = first.unwrap();
    assert!(is_id(first.v2_client_id()) && first.device_id.as_deref().is_some_and(is_id));
    let second = store.sdk_touch_client(&a, &user, install("phone", "ios")).await.unwrap();
    // Touching again keeps the ids.
    let again = store.sdk_touch_client(&a, &user, install("phone", "ios")).await.unwrap();
    assert_eq!((again.v2_id.clone(), again.device_id.clone()), (second.v2_id.clone(), second.device_id.clone()));

    // Both installs page by client id; devices go most recently seen first.
    let p1 = store.list_clients(&a, &user.id, &page(1)).await.unwrap();
    assert!(p1.has_more);
    let after = p1.after_cursor.clone().unwrap();
    let p2 = store.list_clients(&a, &user.id, &PageRequest { cursor: Cursor::After(after), size: 1 }).await.unwrap();
    assert_eq!(p2.items.len(), 1);
    assert!(!p2.has_more);
    let devices = store.list_devices(&a, &user.id).await.unwrap();
    // Most recently seen first; two installs seen within one millisecond may come either way.
    assert!(devices.windows(2).all(|w| w[0].last_seen >= w[1].last_seen), "devices not in lastSeen order");
    let mut ids: Vec<&str> = devices.iter().map(|d| d.id.as_str()).collect();
    if devices[0].last_seen > devices[1].last_seen {
        assert_eq!(ids, vec!["phone", "browser"]);
    }
    ids.sort();
    assert_eq!(ids, vec!["browser", "phone"]);
    let device = store.get_device(&a, &user.id, first.device_id.as_deref().unwrap()).await.unwrap();
    assert_eq!(device.id, "browser");
    assert!(is_not_found(&store.get_device(&a, &user.id, &new_id()).await, Resource::Device));

    // A channel link, once per integration, toward one of the user's conversations.
    let whatsapp = integration(store, &a, json!({"type": "whatsapp"})).await;
    let (conversation, _) = store.create_conversation(&a, parse_new_conversation(json!({"type": "personal", "participants": [{"userId": user.id}]}), 10).unwrap()).await.unwrap();
    let body = json!({"matchCriteria": {"type": "whatsapp", "integrationId": whatsapp, "phoneNumber": "+15550001234"}, "confirmation": {"type": "immediate"}, "target": {"conversationId": conversation.id}});
    let link = store.create_channel_client(&a, &user.id, parse_client_create(&body).unwrap(), json!({"type": "api:conversations"})).await.unwrap();
    assert_eq!(link.status, "pending");
    assert!(is_conflict(&store.create_channel_client(&a, &user.id, parse_client_create(&body).unwrap(), json!({})).await));
    let all = store.list_clients(&a, &user.id, &page(10)).await.unwrap().items;
    assert_eq!(all.len(), 3);
    assert!(all.iter().any(|c| matches!(c, ClientRecord::Channel(l) if l.id == link.id)));
    let refused = store.remove_client(&a, &user.id, first.v2_client_id(), json!({})).await;
    assert!(matches!(refused, Err(StoreError::Domain(DomainError::Rule(ref t))) if t == "Cannot remove a client of type 'sdk'"), "{refused:?}");
    assert!(is_not_found(&store.remove_client(&a, &user.id, &new_id(), json!({})).await, Resource::Client));

    // Personal information: the user, its clients and its messages' sources.
    let message = parse_message_post(json!({"author": {"type": "user", "userId": user.id}, "content": {"type": "text", "text": "hi"}}), &Default::default()).unwrap();
    let source = sunbeam::domain::sdk::message_source(Some(&first), None);
    store.post_message(&a, &conversation.id, message, source).await.unwrap();
    store.delete_personal_information(&a, &user.id).await.unwrap();
    for d in store.list_devices(&a, &user.id).await.unwrap() {
        assert!(d.info.is_empty(), "{d:?}");
    }
    let link_now = store.list_clients(&a, &user.id, &page(10)).await.unwrap().items.into_iter().find_map(|c| match c {
        ClientRecord::Channel(l) => Some(l),
        _ => None,
    });
    assert_eq!(link_now.unwrap().raw, None);
    let history = store.list_messages(&a, &conversation.id, &MessageCursor::Newest).await.unwrap().items;
    assert!(history[0]["source"]["client"]["info"].is_null() && history[0]["source"]["device"]["info"].is_null(), "{}", history[0]);
    assert_eq!(history[0]["source"]["device"]["guid"], "browser");

    store.remove_client(&a, &user.id, &link.id, json!({"type": "api:conversations"})).await.unwrap();
    let kinds: Vec<String> = store.events_after(&a, 0, 1000).await.unwrap().into_iter().map(|e| e.trigger().as_str().to_string()).collect();
    assert!(kinds.contains(&"client:add".to_string()) && kinds.contains(&"client:remove".to_string()), "{kinds:?}");
}

story!(clients_and_devices, scenario);

async fn oauth(store: &Store) {
    let a = app(store, json!({"displayName": "A"})).await;
    let partner = OAuthClient { client_id: "partner".into(), name: "Partner".into(), redirect_uris: vec!["https://p.example/cb".into()], remove_url: Some("https://p.example/removed".into()) };
    let secret = store.create_oauth_client(partner.clone()).await.unwrap();
    assert!(is_conflict(&store.create_oauth_client(partner.clone()).await));
    assert_eq!(store.oauth_client("partner").await.unwrap(), Some(partner.clone()));
    assert_eq!(store.list_oauth_clients().await.unwrap(), vec![partner]);

    let code = store.issue_oauth_code("partner", &a, "https://p.example/cb").await.unwrap();
    assert!(matches!(store.exchange_oauth_code("partner", "wrong", &code).await, Err(StoreError::Domain(DomainError::Unauthorized(_)))));
    let grant = store.exchange_oauth_code("partner", &secret, &code).await.unwrap();
    assert_eq!(grant.app_id, a);
    assert!(grant.key_id.starts_with("int_"));
    // Once only.
    assert!(matches!(store.exchange_oauth_code("partner", &secret, &code).await, Err(StoreError::Domain(DomainError::Rule(_)))));
    // A second approval: the same integration and key.
    let code2 = store.issue_oauth_code("partner", &a, "https://p.example/cb").await.unwrap();
    let again = store.exchange_oauth_code("partner", &secret, &code2).await.unwrap();
    assert_eq!((again.integration_id.as_str(), again.key_id.as_str(), again.key_secret.as_str()), (grant.integration_id.as_str(), grant.key_id.as_str(), grant.key_secret.as_str()));
    let integration = store.get_integration(&a, &grant.integration_id).await.unwrap();
    assert_eq!(integration.kind, "partner");
    assert!(store.find_key_grant(&grant.key_id).await.unwrap().is_some());

    assert_eq!(store.revoke_oauth_integration(&a, &grant.integration_id).await.unwrap().as_deref(), Some("https://p.example/removed"));
    assert!(store.find_key_grant(&grant.key_id).await.unwrap().is_none());
    assert!(is_not_found(&store.get_integration(&a, &grant.integration_id).await, Resource::Integration));
    let custom = integration_of(store, &a).await;
    assert!(matches!(store.revoke_oauth_integration(&a, &custom).await, Err(StoreError::Domain(DomainError::Rule(_)))));
    store.delete_oauth_client("partner").await.unwrap();
    assert_eq!(store.oauth_client("partner").await.unwrap(), None);
}

async fn integration_of(store: &Store, app: &str) -> String {
    integration(store, app, json!({"type": "custom", "webhooks": [{"target": "https://example.com/h", "triggers": ["conversation:message"]}]})).await
}

story!(oauth_partners, oauth);

async fn retention(store: &Store) {
    let brief = app(store, json!({"displayName": "Brief", "settings": {"conversationRetentionSeconds": 10}})).await;
    let forever = app(store, json!({"displayName": "Forever"})).await;
    let mut conversations = Vec::new();
    for a in [&brief, &forever] {
        let (c, _) = store.create_conversation(a, parse_new_conversation(json!({"type": "sdkGroup"}), 10).unwrap()).await.unwrap();
        let m = parse_message_post(json!({"author": {"type": "business"}, "content": {"type": "text", "text": "x"}}), &Default::default()).unwrap();
        store.post_message(a, &c.id, m, json!({"type": "api"})).await.unwrap();
        conversations.push((a.clone(), c.id));
    }
    assert_eq!(store.sweep_retention(now_ms() + 11_000).await.unwrap(), 1);
    assert_eq!(store.sweep_retention(now_ms() + 11_000).await.unwrap(), 0, "an emptied conversation is not swept again");
    let left: Vec<usize> = {
        let mut v = Vec::new();
        for (a, c) in &conversations {
            v.push(store.list_messages(a, c, &MessageCursor::Newest).await.unwrap().items.len());
        }
        v
    };
    assert_eq!(left, vec![0, 1]);
}

story!(retention_sweep, retention);

/// Rows from before clients had v2 ids get them when the store opens.
async fn backfill(ts: &TestStore) {
    let store = &ts.store;
    let a = app(store, json!({"displayName": "A"})).await;
    let (user, _, _) = store.sdk_create_user(&a, new_user(new_id(), now_ms(), json!({}), false).unwrap(), Some(install("old-browser", "web"))).await.unwrap();
    let legacy = r#"{"id":"old-browser","platform":"web","info":{},"status":"active","lastSeen":1,"linkedAt":1}"#;
    let sql = "UPDATE sdk_clients SET id = NULL, device_id = NULL, body = $1";
    if let Some(path) = ts.url.strip_prefix("sqlite://") {
        rusqlite::Connection::open(path).unwrap().execute(sql, [legacy]).unwrap();
    } else {
        let mut raw = sqlx::AnyConnection::connect(&ts.url).await.unwrap();
        sqlx::query(sql).bind(legacy).execute(&mut raw).await.unwrap();
        raw.close().await.unwrap();
    }
    let reopened = Store::open(&ts.url, SecretBox::new([42; 32]), StoreLimits::default()).await.unwrap();
    let clients = reopened.list_clients(&a, &user.id, &page(10)).await.unwrap().items;
    let ClientRecord::Sdk(c) = &clients[0] else { panic!("{clients:?}") };
    assert!(is_id(c.v2_client_id()) && c.device_id.as_deref().is_some_and(is_id), "{c:?}");
    assert_eq!(reopened.get_device(&a, &user.id, c.device_id.as_deref().unwrap()).await.unwrap().id, "old-browser");
    reopened.close().await;
}

story!(client_ids_are_backfilled, backfill, test_store);
