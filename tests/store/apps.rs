//! Apps: create, read, page through, update, delete with everything under them.

use serde_json::json;
use sunbeam::domain::app::{new_app, update_app, App};
use sunbeam::domain::error::Resource;
use sunbeam::domain::ids::new_id;
use sunbeam::domain::pagination::{Cursor, PageRequest};
use sunbeam::domain::time::now_ms;
use sunbeam::domain::user::new_user;
use sunbeam::store::Store;

use crate::is_not_found;

fn page(cursor: Cursor, size: i64) -> PageRequest {
    PageRequest { cursor, size }
}

async fn ids(store: &Store, request: PageRequest) -> (Vec<String>, bool) {
    let p = store.list_apps(&request).await.unwrap();
    (p.items.into_iter().map(|a| a.id).collect(), p.has_more)
}

async fn scenario(store: &Store) {
    // An empty store lists nothing.
    let empty = store.list_apps(&page(Cursor::Start, 25)).await.unwrap();
    assert!(empty.items.is_empty() && !empty.has_more && empty.after_cursor.is_none());

    // Create five; each reads back exactly.
    let mut apps: Vec<App> = Vec::new();
    for i in 0..5 {
        let body = if i == 0 {
            json!({"displayName": "First", "metadata": {"tier": "gold", "n": 1}, "settings": {"multiConvoEnabled": true}})
        } else {
            json!({"displayName": format!("App {i}")})
        };
        let app = store.create_app(new_app(new_id(), body).unwrap()).await.unwrap();
        assert_eq!(store.get_app(&app.id).await.unwrap(), app);
        apps.push(app);
    }
    assert_eq!(apps[0].metadata.as_ref().unwrap()["tier"], "gold");
    assert!(apps[0].settings.multi_convo_enabled);
    assert_eq!(apps[1].metadata, None);
    let all: Vec<String> = apps.iter().map(|a| a.id.clone()).collect();
    assert!(is_not_found(&store.get_app(&new_id()).await, Resource::App));

    // Pages in both directions.
    let first = store.list_apps(&page(Cursor::Start, 2)).await.unwrap();
    assert_eq!(first.items.iter().map(|a| a.id.clone()).collect::<Vec<_>>(), all[0..2]);
    assert!(first.has_more);
    assert_eq!(first.after_cursor.as_deref(), Some(all[1].as_str()));
    assert_eq!(first.before_cursor, None);
    assert_eq!(ids(store, page(Cursor::After(all[1].clone()), 2)).await, (all[2..4].to_vec(), true));
    assert_eq!(ids(store, page(Cursor::After(all[3].clone()), 2)).await, (all[4..5].to_vec(), false));
    assert_eq!(ids(store, page(Cursor::After(all[4].clone()), 2)).await, (vec![], false));
    assert_eq!(ids(store, page(Cursor::Before(all[4].clone()), 2)).await, (all[2..4].to_vec(), true));
    assert_eq!(ids(store, page(Cursor::Before(all[2].clone()), 2)).await, (all[0..2].to_vec(), false));
    assert_eq!(ids(store, page(Cursor::Before(all[0].clone()), 2)).await, (vec![], false));
    assert_eq!(ids(store, page(Cursor::Start, 5)).await, (all.clone(), false));

    // Update persists every field; an unknown app is not found.
    let body = json!({"displayName": "Renamed", "metadata": {"k": "v"}, "settings": {"useAnimalNames": true}});
    let expected = update_app(&apps[1], body.clone()).unwrap();
    let next = store.update_app(&apps[1].id, move |current| update_app(current, body)).await.unwrap();
    assert_eq!(next, expected);
    assert_eq!(store.get_app(&apps[1].id).await.unwrap(), next);
    store.update_app(&apps[1].id, |current| update_app(current, json!({"metadata": null}))).await.unwrap();
    assert_eq!(store.get_app(&apps[1].id).await.unwrap().metadata, None);
    assert!(is_not_found(&store.update_app(&new_id(), |current| Ok(current.clone())).await, Resource::App));

    // Delete takes the app's keys, users and events with it, and nothing of its neighbours.
    let (doomed, kept) = (&apps[2].id, &apps[3].id);
    let key = store.create_app_key(doomed, "k").await.unwrap();
    let kept_key = store.create_app_key(kept, "k").await.unwrap();
    assert!(store.find_key_grant(&key.id).await.unwrap().is_some(), "cached before the delete");
    let user = store.create_user(doomed, new_user(new_id(), now_ms(), json!({"externalId": "u"}), false).unwrap()).await.unwrap();
    let kept_user = store.create_user(kept, new_user(new_id(), now_ms(), json!({"externalId": "u"}), false).unwrap()).await.unwrap();
    let gone = store.create_user(doomed, new_user(new_id(), now_ms(), json!({}), false).unwrap()).await.unwrap();
    store.delete_user(doomed, &gone.id).await.unwrap();
    assert!(!store.events_after(doomed, 0, 100).await.unwrap().is_empty(), "user:remove was recorded");

    store.delete_app(doomed).await.unwrap();
    assert!(is_not_found(&store.get_app(doomed).await, Resource::App));
    assert!(store.find_key_grant(&key.id).await.unwrap().is_none());
    assert!(store.list_app_keys(doomed).await.unwrap().is_empty());
    assert!(is_not_found(&store.get_user(doomed, &user.id).await, Resource::User));
    assert!(is_not_found(&store.get_user(doomed, "u").await, Resource::User));
    assert!(store.events_after(doomed, 0, 100).await.unwrap().is_empty());
    assert!(is_not_found(&store.delete_app(doomed).await, Resource::App));

    assert_eq!(store.get_user(kept, "u").await.unwrap(), kept_user);
    assert!(store.find_key_grant(&kept_key.id).await.unwrap().is_some());
    let left: Vec<String> = all.iter().filter(|id| *id != doomed).cloned().collect();
    assert_eq!(ids(store, page(Cursor::Start, 25)).await, (left, false));
    // The deleted id is still a valid cursor.
    assert_eq!(ids(store, page(Cursor::After(doomed.clone()), 25)).await, (all[3..5].to_vec(), false));
}

story!(story, scenario);
