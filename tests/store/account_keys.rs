//! Account keys: bootstrap, the authenticator's lookup, rotation by "ensure", deletion.

use sunbeam::domain::auth::KeyOwner;
use sunbeam::domain::error::Resource;
use sunbeam::store::Store;

use crate::is_not_found;

async fn scenario(store: &Store) {
    assert_eq!(store.account_key_count().await.unwrap(), 0, "a fresh store has no account key");
    assert!(store.list_account_keys().await.unwrap().is_empty());

    let ops = store.create_account_key("ops", None).await.unwrap();
    assert!(ops.id.starts_with("act_") && ops.id.len() == 28, "{}", ops.id);
    assert_eq!(ops.display_name, "ops");
    assert!(ops.secret.len() >= 32);
    assert_eq!(store.account_key_count().await.unwrap(), 1);
    let grant = store.find_key_grant(&ops.id).await.unwrap().unwrap();
    assert_eq!((grant.secret.as_str(), grant.owner.clone()), (ops.secret.as_str(), KeyOwner::Account));

    // "Ensure" creates a fixed key, and on a second run rotates its secret in place.
    let fixed = "act_0123456789abcdef01234567";
    store.create_account_key("bootstrap", Some((fixed.into(), "first-secret-0123456789".into()))).await.unwrap();
    assert_eq!(store.find_key_grant(fixed).await.unwrap().unwrap().secret, "first-secret-0123456789");
    store.create_account_key("bootstrap", Some((fixed.into(), "second-secret-0123456789".into()))).await.unwrap();
    assert_eq!(store.find_key_grant(fixed).await.unwrap().unwrap().secret, "second-secret-0123456789", "the cached secret was forgotten");
    assert_eq!(store.account_key_count().await.unwrap(), 2);
    let listed = store.list_account_keys().await.unwrap();
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().any(|k| k.id == fixed && k.secret == "second-secret-0123456789"));
    assert!(listed.iter().any(|k| *k == ops));

    // Deletion is immediate, even for a cached key.
    store.delete_account_key(&ops.id).await.unwrap();
    assert!(store.find_key_grant(&ops.id).await.unwrap().is_none());
    assert!(is_not_found(&store.delete_account_key(&ops.id).await, Resource::Key));
    assert_eq!(store.account_key_count().await.unwrap(), 1);
    // An account key is not an app key.
    assert!(store.get_app_key("000000000000000000000000", fixed).await.is_err());
}

story!(story, scenario);
