//! Store tests: each area is one story, written once as `async fn scenario(store: &Store)`,
//! and run on SQLite always and on PostgreSQL when one is reachable (under CI=true it
//! must be: `fresh_store` panics). Where it is not, the PostgreSQL variant returns at once
//! and says so on stderr: `test <name> ... SKIPPED on PostgreSQL (…)`.

#[path = "../common/mod.rs"]
mod common;

use sunbeam::domain::error::{DomainError, Resource};
use sunbeam::store::{StoreError, StoreLimits};

/// `story!(name, scenario)` generates `name::sqlite` and `name::postgres`, each running
/// `scenario(&Store)` on a fresh store of that kind. `story!(name, scenario, test_store)`
/// hands the scenario the whole `TestStore` (for tests that reopen the database);
/// `story!(name, scenario, limits = expr)` opens the stores with other `StoreLimits`.
macro_rules! story {
    (@gen $name:ident, $scenario:ident, $limits:expr, $($field:tt)*) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() {
                let ts = crate::common::fresh_store(crate::common::Db::Sqlite, $limits).await.expect("sqlite is always available");
                $scenario(&ts $($field)*).await;
                ts.store.close().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres() {
                // None: unreachable outside CI, and `fresh_store` has said it is skipped.
                let Some(ts) = crate::common::fresh_store(crate::common::Db::Postgres, $limits).await else { return };
                $scenario(&ts $($field)*).await;
                ts.store.close().await;
            }
        }
    };
    ($name:ident, $scenario:ident) => {
        story!(@gen $name, $scenario, crate::limits(), .store);
    };
    ($name:ident, $scenario:ident, test_store) => {
        story!(@gen $name, $scenario, crate::limits(),);
    };
    ($name:ident, $scenario:ident, limits = $limits:expr) => {
        story!(@gen $name, $scenario, $limits, .store);
    };
}

mod account_keys;
mod apps;
mod attachments;
mod clients;
mod concurrency;
mod conversations;
mod keys;
mod messages;
mod sdk;
mod switchboards;
mod updates;
mod users;
mod webhooks;

/// An outbox event's v2 payload, as a webhook that asked for full sources receives it.
pub fn payload_of(e: &sunbeam::store::events::StoredEvent) -> serde_json::Value {
    let shaping = sunbeam::wire::webhook::Shaping { full_users: None, include_full_source: true };
    sunbeam::wire::webhook::payload(&e.event, &shaping)
}

pub fn limits() -> StoreLimits {
    StoreLimits::default()
}

pub fn is_not_found<T: std::fmt::Debug>(r: &Result<T, StoreError>, resource: Resource) -> bool {
    matches!(r, Err(StoreError::Domain(DomainError::NotFound(got, _))) if *got == resource)
}

pub fn is_conflict<T: std::fmt::Debug>(r: &Result<T, StoreError>) -> bool {
    matches!(r, Err(StoreError::Domain(DomainError::Conflict(_))))
}

pub fn is_rule<T: std::fmt::Debug>(r: &Result<T, StoreError>) -> bool {
    matches!(r, Err(StoreError::Domain(DomainError::Rule(_))))
}
