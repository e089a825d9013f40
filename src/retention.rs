//! The retention sweeper: once a minute, deletes the messages of conversations idle for
//! longer than their app's `conversationRetentionSeconds` (`Store::sweep_retention`).

use std::time::Duration;

use crate::domain::time::now_ms;
use crate::periodic::Periodic;
use crate::store::Store;

/// How often the sweep runs; retention is honoured to within this.
pub const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// Runs [`Store::sweep_retention`] at start and then every [`SWEEP_EVERY`].
pub fn start_sweeper(store: Store) -> Periodic {
    Periodic::start(SWEEP_EVERY, move || {
        let store = store.clone();
        async move {
            match store.sweep_retention(now_ms()).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(conversations = n, "retention: deleted the messages of idle conversations"),
                Err(e) => tracing::warn!(error = %e, "retention: sweep failed; retrying at the next tick"),
            }
        }
    })
}
