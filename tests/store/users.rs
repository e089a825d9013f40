//! Users: anonymous and identified, externalId unique per app, email identities, events.

use sunbeam::domain::event::{Event, Trigger, UserUpdateReason, UserUpdated};
use serde_json::json;
use sunbeam::domain::app::new_app;
use sunbeam::domain::error::Resource;
use sunbeam::domain::ids::new_id;
use sunbeam::domain::time::now_ms;
use sunbeam::domain::user::{new_user, scrub_personal_information, update_user, User};
use sunbeam::store::Store;

use crate::{is_conflict, is_not_found};

async fn app(store: &Store, name: &str) -> String {
    store.create_app(new_app(new_id(), json!({"displayName": name})).unwrap()).await.unwrap().id
}

fn user(body: serde_json::Value) -> User {
    new_user(new_id(), now_ms(), body, false).unwrap()
}

fn ids(users: &[User]) -> Vec<&str> {
    users.iter().map(|u| u.id.as_str()).collect()
}

async fn scenario(store: &Store) {
    let a = app(store, "A").await;
    let b = app(store, "B").await;

    // Anonymous users: any number of them (NULL externalIds do not collide).
    let anon1 = store.create_user(&a, user(json!({}))).await.unwrap();
    let anon2 = store.create_user(&a, user(json!({}))).await.unwrap();
    assert_eq!(store.get_user(&a, &anon1.id).await.unwrap(), anon1);
    assert_eq!(store.get_user(&a, &anon2.id).await.unwrap(), anon2);

    // Identified: found by id and by externalId, only in its app.
    let ann = store
        .create_user(
            &a,
            user(json!({
                "externalId": "ann",
                "profile": {"givenName": "Ann", "email": "ann@profile.io"},
                "metadata": {"plan": "pro"},
                "identities": [{"type": "email", "value": "Ann@Example.com"}, {"type": "phone", "value": "+15550100"}],
            })),
        )
        .await
        .unwrap();
    assert_eq!(store.get_user(&a, &ann.id).await.unwrap(), ann);
    assert_eq!(store.get_user(&a, "ann").await.unwrap(), ann);
    assert!(is_not_found(&store.get_user(&b, "ann").await, Resource::User));
    assert!(is_not_found(&store.get_user(&b, &ann.id).await, Resource::User));
    assert!(is_not_found(&store.get_user(&a, "nobody").await, Resource::User));

    // externalId is unique per app, case-sensitively.
    assert!(is_conflict(&store.create_user(&a, user(json!({"externalId": "ann", "profile": {"givenName": "Impostor"}}))).await));
    assert_eq!(store.get_user(&a, "ann").await.unwrap(), ann, "the first one is untouched");
    let ann_b = store.create_user(&b, user(json!({"externalId": "ann", "identities": [{"type": "email", "value": "ann@example.com"}]}))).await.unwrap();
    store.create_user(&a, user(json!({"externalId": "ANN"}))).await.unwrap();
    // Reusing an id is a conflict too, not a database failure.
    assert!(is_conflict(&store.create_user(&a, User { external_id: Some("fresh".into()), ..anon1.clone() }).await));

    // Email identities: case-insensitive, per app, never the profile's email.
    assert_eq!(ids(&store.users_by_email(&a, "ann@example.com").await.unwrap()), vec![ann.id.as_str()]);
    assert_eq!(ids(&store.users_by_email(&a, "ANN@EXAMPLE.COM").await.unwrap()), vec![ann.id.as_str()]);
    assert_eq!(ids(&store.users_by_email(&b, "Ann@Example.com").await.unwrap()), vec![ann_b.id.as_str()]);
    assert!(store.users_by_email(&a, "ann@profile.io").await.unwrap().is_empty());
    assert!(store.users_by_email(&a, "+15550100").await.unwrap().is_empty(), "a phone identity is not an email");
    // Two users may share an email identity; both are listed.
    let twin = store.create_user(&a, user(json!({"identities": [{"type": "email", "value": "ann@EXAMPLE.com"}]}))).await.unwrap();
    assert_eq!(ids(&store.users_by_email(&a, "ann@example.com").await.unwrap()), vec![ann.id.as_str(), twin.id.as_str()]);

    // Saving replaces the document and the identities, and may record user:update.
    let before = store.events_after(&a, 0, 1000).await.unwrap().len();
    let changed = update_user(&ann, json!({"profile": {"surname": "Lee"}, "identities": [{"type": "email", "value": "ann@new.io"}]})).unwrap();
    let saved = store.save_user(&a, changed.clone(), Some(UserUpdated { user: (&changed).into(), reason: UserUpdateReason::Authentication, source: json!({"type": "api"}) })).await.unwrap();
    assert_eq!(saved, changed);
    assert_eq!(store.get_user(&a, "ann").await.unwrap(), changed);
    assert_eq!(ids(&store.users_by_email(&a, "ann@example.com").await.unwrap()), vec![twin.id.as_str()]);
    assert_eq!(ids(&store.users_by_email(&a, "ANN@new.io").await.unwrap()), vec![ann.id.as_str()]);
    let events = store.events_after(&a, 0, 1000).await.unwrap();
    assert_eq!(events.len(), before + 1);
    assert_eq!(events.last().unwrap().trigger(), Trigger::UserUpdate);
    // Saving without an event records none.
    store.save_user(&a, scrub_personal_information(&changed), None).await.unwrap();
    assert_eq!(store.events_after(&a, 0, 1000).await.unwrap().len(), before + 1);
    let scrubbed = store.get_user(&a, &ann.id).await.unwrap();
    assert_eq!((scrubbed.external_id.as_deref(), scrubbed.identities.len()), (Some("ann"), 0));
    assert!(store.users_by_email(&a, "ann@new.io").await.unwrap().is_empty());
    // A save that would take another user's externalId is a conflict; an unknown user is not found.
    let stolen = User { external_id: Some("ANN".into()), ..anon2.clone() };
    assert!(is_conflict(&store.save_user(&a, stolen, None).await));
    assert_eq!(store.get_user(&a, &anon2.id).await.unwrap(), anon2);
    assert!(is_not_found(&store.save_user(&a, user(json!({})), None).await, Resource::User));
    assert!(is_not_found(&store.save_user(&b, anon2.clone(), None).await, Resource::User), "a user of another app");

    // Delete: by externalId or id; records user:remove; frees the externalId.
    let removed = store.delete_user(&a, "ann").await.unwrap();
    assert_eq!(removed.id, ann.id);
    assert!(is_not_found(&store.get_user(&a, "ann").await, Resource::User));
    assert!(is_not_found(&store.get_user(&a, &ann.id).await, Resource::User));
    assert!(is_not_found(&store.delete_user(&a, "ann").await, Resource::User));
    assert!(is_not_found(&store.delete_user(&b, &anon1.id).await, Resource::User));
    let last = store.events_after(&a, 0, 1000).await.unwrap().pop().unwrap();
    let Event::UserRemoved(removed_event) = last.event else { panic!("user:remove was recorded last, not {:?}", last.event) };
    assert_eq!(removed_event.user.id, ann.id);
    assert_eq!(removed_event.user.external_id.as_deref(), Some("ann"));
    store.delete_user(&a, &twin.id).await.unwrap();
    assert!(store.users_by_email(&a, "ann@example.com").await.unwrap().is_empty());
    let again = store.create_user(&a, user(json!({"externalId": "ann"}))).await.unwrap();
    assert_ne!(again.id, ann.id);
    // Events are per app and in order.
    let seqs: Vec<i64> = store.events_after(&a, 0, 1000).await.unwrap().iter().map(|e| e.seq).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    assert!(store.events_after(&b, 0, 1000).await.unwrap().is_empty());
    assert_eq!(store.get_user(&b, "ann").await.unwrap(), ann_b);
}

story!(story, scenario);
