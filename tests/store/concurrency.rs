//! Concurrent writes: uniqueness under races, limits under races, and the SQLite
//! group-commit writer keeping one failing write from spoiling the rest of its batch.

use serde_json::json;
use sunbeam::domain::app::{new_app, update_app};
use sunbeam::domain::error::Resource;
use sunbeam::domain::ids::new_id;
use sunbeam::domain::time::now_ms;
use sunbeam::domain::user::new_user;
use sunbeam::store::{Store, StoreError};

use crate::{is_conflict, is_not_found, is_rule};

async fn app(store: &Store, name: &str) -> String {
    store.create_app(new_app(new_id(), json!({"displayName": name})).unwrap()).await.unwrap().id
}

/// 50 concurrent creates of one externalId: exactly one wins, 49 hear "conflict".
async fn one_external_id(store: &Store) {
    let a = app(store, "Race").await;
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let (store, a) = (store.clone(), a.clone());
            tokio::spawn(async move {
                let u = new_user(new_id(), now_ms(), json!({"externalId": "racer", "metadata": {"n": i}}), false).unwrap();
                store.create_user(&a, u).await
            })
        })
        .collect();
    let results: Vec<Result<_, StoreError>> = futures::future::join_all(tasks).await.into_iter().map(|r| r.unwrap()).collect();
    let winners: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    let conflicts = results.iter().filter(|r| is_conflict(r)).count();
    assert_eq!((winners.len(), conflicts), (1, 49), "{:?}", results.iter().filter(|r| r.is_err() && !is_conflict(r)).collect::<Vec<_>>());
    assert_eq!(&store.get_user(&a, "racer").await.unwrap(), winners[0]);
}

story!(fifty_creates_of_one_external_id, one_external_id);

/// 25 concurrent key creations on one app: the limit of 10 holds.
async fn key_limit(store: &Store) {
    let a = app(store, "Keys").await;
    let tasks: Vec<_> = (0..25)
        .map(|i| {
            let (store, a) = (store.clone(), a.clone());
            tokio::spawn(async move { store.create_app_key(&a, &format!("k{i}")).await })
        })
        .collect();
    let results: Vec<_> = futures::future::join_all(tasks).await.into_iter().map(|r| r.unwrap()).collect();
    let ok = results.iter().filter(|r| r.is_ok()).count();
    let refused = results.iter().filter(|r| is_rule(r)).count();
    assert_eq!((ok, refused), (10, 15), "{:?}", results.iter().filter(|r| r.is_err() && !is_rule(r)).collect::<Vec<_>>());
    assert_eq!(store.list_app_keys(&a).await.unwrap().len(), 10);
}

story!(key_limit_under_concurrency, key_limit);

/// Many concurrent writes of several kinds, a third of them failing: every write that
/// succeeded is durable and complete, every one that failed left nothing behind.
async fn failures_are_isolated(store: &Store) {
    let a = app(store, "Batch").await;
    let original = store
        .create_user(&a, new_user(new_id(), now_ms(), json!({"externalId": "dup", "identities": [{"type": "email", "value": "dup@x.io"}]}), false).unwrap())
        .await
        .unwrap();

    #[derive(Debug)]
    enum Outcome {
        User(usize, Result<(), StoreError>),
        Dup(Result<(), StoreError>),
        Ghost(Result<(), StoreError>),
        Rename(Result<(), StoreError>),
    }

    let mut tasks = Vec::new();
    for i in 0..300usize {
        let (store, a) = (store.clone(), a.clone());
        tasks.push(tokio::spawn(async move {
            match i % 6 {
                // A duplicate externalId (fails after nothing was written).
                1 | 4 => {
                    let u = new_user(new_id(), now_ms(), json!({"externalId": "dup", "identities": [{"type": "email", "value": format!("dup{i}@x.io")}]}), false).unwrap();
                    Outcome::Dup(store.create_user(&a, u).await.map(|_| ()))
                }
                // A user of an app that does not exist (fails on the foreign key).
                3 => {
                    let u = new_user(new_id(), now_ms(), json!({"externalId": format!("ghost{i}")}), false).unwrap();
                    Outcome::Ghost(store.create_user(&new_id(), u).await.map(|_| ()))
                }
                // An app update (succeeds).
                5 => Outcome::Rename(store.update_app(&a, move |current| update_app(current, json!({"metadata": {"last": i as i64}}))).await.map(|_| ())),
                // A new user with an email identity (succeeds).
                _ => {
                    let u = new_user(
                        new_id(),
                        now_ms(),
                        json!({"externalId": format!("u{i}"), "metadata": {"i": i as i64}, "identities": [{"type": "email", "value": format!("u{i}@x.io")}]}),
                        false,
                    )
                    .unwrap();
                    Outcome::User(i, store.create_user(&a, u).await.map(|_| ()))
                }
            }
        }));
    }
    let outcomes: Vec<Outcome> = futures::future::join_all(tasks).await.into_iter().map(|r| r.unwrap()).collect();

    let mut created = 0;
    for o in &outcomes {
        match o {
            Outcome::User(i, r) => {
                assert!(r.is_ok(), "user {i}: {r:?}");
                created += 1;
                let u = store.get_user(&a, &format!("u{i}")).await.unwrap_or_else(|e| panic!("user {i} was acknowledged but is missing: {e}"));
                assert_eq!(u.metadata["i"], *i as i64);
                let found = store.users_by_email(&a, &format!("u{i}@x.io")).await.unwrap();
                assert_eq!(found.len(), 1, "user {i}'s identity was written with it");
            }
            Outcome::Dup(r) => assert!(is_conflict(r), "{r:?}"),
            Outcome::Ghost(r) => assert!(r.is_err(), "a user of a missing app must fail: {r:?}"),
            Outcome::Rename(r) => assert!(r.is_ok(), "{r:?}"),
        }
    }
    assert_eq!(created, 100);
    // The failed writes left nothing: the original "dup" stands, their identities do not exist.
    assert_eq!(store.get_user(&a, "dup").await.unwrap(), original);
    for i in (0..300).filter(|i| i % 6 == 1 || i % 6 == 4) {
        assert!(store.users_by_email(&a, &format!("dup{i}@x.io")).await.unwrap().is_empty(), "dup {i} left an identity");
    }
    for i in (0..300).filter(|i| i % 6 == 3) {
        assert!(is_not_found(&store.get_user(&a, &format!("ghost{i}")).await, Resource::User));
    }
    assert!(store.get_app(&a).await.unwrap().metadata.unwrap().contains_key("last"));
}

story!(failed_writes_do_not_spoil_their_batch, failures_are_isolated);
