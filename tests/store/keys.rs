//! App keys: the limit, lookups for authentication, revocation, and secrets encrypted at rest.

use serde_json::json;
use sqlx::Connection;
use sunbeam::domain::app::new_app;
use sunbeam::domain::auth::KeyOwner;
use sunbeam::domain::error::Resource;
use sunbeam::domain::ids::new_id;
use sunbeam::store::{SecretBox, Store, StoreLimits};

use crate::common::TestStore;
use crate::{is_not_found, is_rule};

async fn app(store: &Store, name: &str) -> String {
    store.create_app(new_app(new_id(), json!({"displayName": name})).unwrap()).await.unwrap().id
}

async fn scenario(store: &Store) {
    let a = app(store, "A").await;
    let b = app(store, "B").await;
    assert!(is_not_found(&store.create_app_key(&new_id(), "k").await, Resource::App));

    // Up to ten keys, each with its own secret, listed in creation order.
    let mut keys = Vec::new();
    for i in 0..10 {
        let k = store.create_app_key(&a, &format!("key {i}")).await.unwrap();
        assert!(k.id.starts_with("app_"), "{}", k.id);
        assert_eq!(k.display_name, format!("key {i}"));
        keys.push(k);
    }
    assert!(is_rule(&store.create_app_key(&a, "eleventh").await));
    assert_eq!(store.list_app_keys(&a).await.unwrap(), keys);
    let secrets: std::collections::HashSet<_> = keys.iter().map(|k| k.secret.clone()).collect();
    assert_eq!(secrets.len(), 10);
    assert!(store.list_app_keys(&b).await.unwrap().is_empty());
    let kb = store.create_app_key(&b, "b").await.unwrap();

    // Get is scoped to the app.
    assert_eq!(store.get_app_key(&a, &keys[3].id).await.unwrap(), keys[3]);
    assert!(is_not_found(&store.get_app_key(&b, &keys[3].id).await, Resource::Key));
    assert!(is_not_found(&store.get_app_key(&a, "app_000000000000000000000000").await, Resource::Key));

    // The authenticator's view: the clear secret and the owner.
    let grant = store.find_key_grant(&keys[0].id).await.unwrap().unwrap();
    assert_eq!((grant.key_id.as_str(), grant.secret.as_str()), (keys[0].id.as_str(), keys[0].secret.as_str()));
    assert_eq!(grant.owner, KeyOwner::App { app_id: a.clone() });
    for unknown in ["app_000000000000000000000000", "act_000000000000000000000000", "int_000000000000000000000000", "nonsense", ""] {
        assert!(store.find_key_grant(unknown).await.unwrap().is_none(), "{unknown}");
    }

    // Revocation: another app cannot delete it; its own app can, and it stops at once
    // although the authenticator had just cached it.
    assert!(is_not_found(&store.delete_app_key(&b, &keys[0].id).await, Resource::Key));
    assert!(store.find_key_grant(&keys[0].id).await.unwrap().is_some());
    store.delete_app_key(&a, &keys[0].id).await.unwrap();
    assert!(store.find_key_grant(&keys[0].id).await.unwrap().is_none());
    assert!(is_not_found(&store.get_app_key(&a, &keys[0].id).await, Resource::Key));
    assert!(is_not_found(&store.delete_app_key(&a, &keys[0].id).await, Resource::Key));
    assert_eq!(store.list_app_keys(&a).await.unwrap(), keys[1..]);
    // The freed slot can be used once.
    store.create_app_key(&a, "replacement").await.unwrap();
    assert!(is_rule(&store.create_app_key(&a, "one too many").await));
    // The other app's key never noticed.
    assert_eq!(store.find_key_grant(&kb.id).await.unwrap().unwrap().secret, kb.secret);
}

story!(story, scenario);

/// The stored `secret` column of a key, read behind the store's back.
async fn raw_secret(url: &str, table: &str, id: &str) -> String {
    let sql = format!("SELECT secret FROM {table} WHERE id = $1");
    if let Some(path) = url.strip_prefix("sqlite://") {
        let conn = rusqlite::Connection::open(path).unwrap();
        return conn.query_row(&sql, [id], |r| r.get(0)).unwrap();
    }
    let mut raw = sqlx::AnyConnection::connect(url).await.unwrap();
    let (sealed,): (String,) = sqlx::query_as(&sql).bind(id).fetch_one(&mut raw).await.unwrap();
    raw.close().await.unwrap();
    sealed
}

/// Secrets are sealed in the database and open only with the master key they were sealed with.
async fn at_rest(ts: &TestStore) {
    let store = &ts.store;
    let a = app(store, "A").await;
    let key = store.create_app_key(&a, "k").await.unwrap();
    let account = store.create_account_key("ops", None).await.unwrap();

    let sealed = raw_secret(&ts.url, "app_keys", &key.id).await;
    assert_ne!(sealed, key.secret);
    assert!(!sealed.contains(&key.secret), "the secret is not stored in the clear");
    let sealed_account = raw_secret(&ts.url, "account_keys", &account.id).await;
    assert!(!sealed_account.contains(&account.secret));

    // Reopened with the same master key (the harness uses [42; 32]): the same secrets.
    let same = Store::open(&ts.url, SecretBox::new([42; 32]), StoreLimits::default()).await.unwrap();
    assert_eq!(same.find_key_grant(&key.id).await.unwrap().unwrap().secret, key.secret);
    assert_eq!(same.get_app_key(&a, &key.id).await.unwrap(), key);
    assert_eq!(same.find_key_grant(&account.id).await.unwrap().unwrap().secret, account.secret);
    same.close().await;

    // With another master key nothing decrypts, and nothing is silently accepted.
    let wrong = Store::open(&ts.url, SecretBox::new([7; 32]), StoreLimits::default()).await.unwrap();
    assert!(wrong.find_key_grant(&key.id).await.is_err());
    assert!(wrong.get_app_key(&a, &key.id).await.is_err());
    assert!(wrong.find_key_grant(&account.id).await.is_err());
    wrong.close().await;
}

story!(secrets_at_rest, at_rest, test_store);
