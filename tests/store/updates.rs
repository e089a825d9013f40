//! Updates are one store operation (read the row, apply the patch, write) in one
//! transaction: concurrent updates of one row each start from the other's result, so
//! none is lost; a patch that fails against the stored row changes nothing.

use std::future::Future;

use serde_json::json;
use sunbeam::domain::app::new_app;
use sunbeam::domain::conversation::parse_new_conversation;
use sunbeam::domain::error::{DomainError, Resource};
use sunbeam::domain::ids::new_id;
use sunbeam::domain::integration::new_integration;
use sunbeam::domain::time::now_ms;
use sunbeam::domain::user::new_user;
use sunbeam::domain::event::Trigger;
use sunbeam::store::{Store, StoreError, StoreResult};

use crate::is_not_found;

const WRITERS: usize = 20;

/// Runs `update(i)` for `i` in `0..WRITERS`, all at once, and expects every one to succeed.
async fn all_at_once<T, F, Fut>(update: F)
where
    T: Send + 'static,
    F: Fn(usize) -> Fut,
    Fut: Future<Output = StoreResult<T>> + Send + 'static,
{
    let tasks: Vec<_> = (0..WRITERS).map(|i| tokio::spawn(update(i))).collect();
    for (i, t) in futures::future::join_all(tasks).await.into_iter().enumerate() {
        if let Err(e) = t.unwrap() {
            panic!("update {i} failed: {e}");
        }
    }
}

fn key(i: usize) -> String {
    format!("k{i:02}")
}

fn refused(why: &str) -> DomainError {
    DomainError::Rule(why.to_string())
}

fn is_refused<T: std::fmt::Debug>(r: &StoreResult<T>, why: &str) -> bool {
    matches!(r, Err(StoreError::Domain(DomainError::Rule(m))) if m == why)
}

async fn scenario(store: &Store) {
    let app = store.create_app(new_app(new_id(), json!({"displayName": "Updates", "metadata": {"seed": true}})).unwrap()).await.unwrap();
    let a = app.id.clone();

    // Users, by id and by externalId: each writer adds its own metadata key, one in four
    // also sets a profile field; every key and the last profile values survive.
    let user = store.create_user(&a, new_user(new_id(), now_ms(), json!({"externalId": "ann"}), false).unwrap()).await.unwrap();
    all_at_once(|i| {
        let (store, a, by) = (store.clone(), a.clone(), if i % 2 == 0 { user.id.clone() } else { "ann".to_string() });
        async move {
            store
                .update_user(&a, &by, move |current| {
                    let mut next = current.clone();
                    next.metadata.insert(key(i), json!(i));
                    if i % 4 == 0 {
                        next.profile.given_name = Some(format!("Ann {i}"));
                    }
                    if i == 5 {
                        next.profile.surname = Some("Lee".into());
                    }
                    Ok(next)
                })
                .await
        }
    })
    .await;
    let stored = store.get_user(&a, &user.id).await.unwrap();
    assert_eq!(stored.metadata.len(), WRITERS, "{:?}", stored.metadata);
    assert!((0..WRITERS).all(|i| stored.metadata.get(&key(i)) == Some(&json!(i))));
    assert!(stored.profile.given_name.as_deref().is_some_and(|n| n.starts_with("Ann ")));
    assert_eq!(stored.profile.surname.as_deref(), Some("Lee"));
    assert_eq!((stored.id.as_str(), stored.external_id.as_deref()), (user.id.as_str(), Some("ann")));
    // A patch refused against the stored user changes nothing; an unknown user is not found.
    let r = store.update_user(&a, "ann", |_| Err(refused("no"))).await;
    assert!(is_refused(&r, "no"), "{r:?}");
    assert_eq!(store.get_user(&a, "ann").await.unwrap(), stored);
    assert!(is_not_found(&store.update_user(&a, "nobody", |u| Ok(u.clone())).await, Resource::User));
    assert!(is_not_found(&store.update_user(&new_id(), &user.id, |u| Ok(u.clone())).await, Resource::User), "a user of another app");

    // Apps: read the cache first so a stale copy is there to be (wrongly) used.
    assert_eq!(store.get_app(&a).await.unwrap(), app);
    all_at_once(|i| {
        let (store, a) = (store.clone(), a.clone());
        async move {
            store
                .update_app(&a, move |current| {
                    let mut next = current.clone();
                    next.metadata.get_or_insert_with(Default::default).insert(key(i), json!(i));
                    if i == 7 {
                        next.settings.echo_postback = true;
                    }
                    Ok(next)
                })
                .await
        }
    })
    .await;
    let stored = store.get_app(&a).await.unwrap();
    let metadata = stored.metadata.clone().unwrap();
    assert_eq!(metadata.len(), WRITERS + 1, "{metadata:?}");
    assert!((0..WRITERS).all(|i| metadata.get(&key(i)) == Some(&json!(i))) && metadata["seed"] == json!(true));
    assert!(stored.settings.echo_postback);
    let r = store.update_app(&a, |_| Err(refused("no"))).await;
    assert!(is_refused(&r, "no"), "{r:?}");
    assert_eq!(store.get_app(&a).await.unwrap(), stored);

    // Conversations.
    let new = parse_new_conversation(json!({"type": "sdkGroup", "displayName": "Room"}), 10).unwrap();
    let (conversation, _) = store.create_conversation(&a, new).await.unwrap();
    all_at_once(|i| {
        let (store, a, id) = (store.clone(), a.clone(), conversation.id.clone());
        async move {
            store
                .patch_conversation(&a, &id, move |current| {
                    let mut next = current.clone();
                    next.metadata.get_or_insert_with(Default::default).insert(key(i), json!(i));
                    if i == 3 {
                        next.description = Some("Busy".into());
                    }
                    Ok(next)
                })
                .await
        }
    })
    .await;
    let stored = store.get_conversation(&a, &conversation.id).await.unwrap();
    let metadata = stored.details.metadata.clone().unwrap();
    assert_eq!(metadata.len(), WRITERS, "{metadata:?}");
    assert_eq!((stored.details.display_name.as_deref(), stored.details.description.as_deref()), (Some("Room"), Some("Busy")));
    assert_eq!((stored.created_at, stored.last_updated_at, stored.is_default), (conversation.created_at, conversation.last_updated_at, conversation.is_default));
    let r = store.patch_conversation(&a, &conversation.id, |_| Err(refused("no"))).await;
    assert!(is_refused(&r, "no"), "{r:?}");
    assert_eq!(store.get_conversation(&a, &conversation.id).await.unwrap(), stored);
    assert!(is_not_found(&store.patch_conversation(&a, &new_id(), |d| Ok(d.clone())).await, Resource::Conversation));
    // A patch may replace the whole document.
    let mut replaced = stored.details.clone();
    replaced.metadata = None;
    let whole = replaced.clone();
    assert_eq!(store.patch_conversation(&a, &conversation.id, move |_| Ok(whole)).await.unwrap().details, replaced);

    // Integrations: each writer adds a config entry; secrets survive the rewrites.
    let body = json!({"type": "custom", "displayName": "Bot", "webhooks": [{"target": "https://example.com/h", "triggers": [Trigger::ALL[0].as_str()]}]});
    let (integration, webhook) = new_integration(new_id(), new_id(), body).unwrap();
    let mut integration = integration;
    integration.secrets.insert("token".into(), json!("s3cret"));
    let webhook = webhook.unwrap();
    let integration = store.create_integration(&a, integration, Some(webhook.clone())).await.unwrap();
    all_at_once(|i| {
        let (store, a, id) = (store.clone(), a.clone(), integration.id.clone());
        async move {
            store
                .update_integration(&a, &id, move |current| {
                    let mut next = current.clone();
                    next.config.insert(key(i), json!(i));
                    Ok(next)
                })
                .await
        }
    })
    .await;
    let stored = store.get_integration(&a, &integration.id).await.unwrap();
    assert_eq!(stored.config.len(), integration.config.len() + WRITERS, "{:?}", stored.config);
    assert_eq!(stored.secrets["token"], json!("s3cret"));
    assert_eq!(stored.display_name, integration.display_name);
    let r = store.update_integration(&a, &integration.id, |_| Err(refused("no"))).await;
    assert!(is_refused(&r, "no"), "{r:?}");
    assert_eq!(store.get_integration(&a, &integration.id).await.unwrap().config, stored.config);
    assert!(is_not_found(&store.update_integration(&a, &new_id(), |i| Ok(i.clone())).await, Resource::Integration));
    assert!(is_not_found(&store.update_integration(&a, "me", |i| Ok(i.clone())).await, Resource::Integration));

    // Webhooks: each writer adds a trigger; the secret stays.
    all_at_once(|i| {
        let (store, a, int, id) = (store.clone(), a.clone(), integration.id.clone(), webhook.id.clone());
        async move {
            store
                .update_webhook(&a, &int, &id, move |current| {
                    let mut next = current.clone();
                    next.triggers.push(Trigger::ALL[i + 1]);
                    if i == 9 {
                        next.include_full_user = true;
                    }
                    Ok(next)
                })
                .await
        }
    })
    .await;
    let stored = store.get_webhook(&a, &integration.id, &webhook.id).await.unwrap();
    let mut triggers = stored.triggers.clone();
    triggers.sort();
    let mut want: Vec<Trigger> = Trigger::ALL[..=WRITERS].to_vec();
    want.sort();
    assert_eq!(triggers, want);
    assert!(stored.include_full_user);
    assert_eq!((stored.secret.as_str(), stored.target.as_str()), (webhook.secret.as_str(), webhook.target.as_str()));
    let r = store.update_webhook(&a, &integration.id, &webhook.id, |_| Err(refused("no"))).await;
    assert!(is_refused(&r, "no"), "{r:?}");
    assert_eq!(store.get_webhook(&a, &integration.id, &webhook.id).await.unwrap(), stored);
    assert!(is_not_found(&store.update_webhook(&a, &integration.id, &new_id(), |w| Ok(w.clone())).await, Resource::Webhook));
    assert!(is_not_found(&store.update_webhook(&a, &new_id(), &webhook.id, |w| Ok(w.clone())).await, Resource::Integration));
}

story!(concurrent_updates_of_one_row_lose_nothing, scenario);
