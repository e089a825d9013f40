//! The retention sweeper: once a minute, deletes the messages of conversations idle for
//! longer than their app's `conversationRetentionSeconds` (`Store::sweep_retention`).

use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::domain::time::now_ms;
use crate::store::Store;

/// How often the sweep runs; retention is honoured to within this.
pub const SWEEP_EVERY: Duration = Duration::from_secs(60);

pub struct Sweeper {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Sweeper {
    pub fn start(store: Store) -> Sweeper {
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(SWEEP_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        match store.sweep_retention(now_ms()).await {
                            Ok(0) => {}
                            Ok(n) => tracing::info!(conversations = n, "retention: deleted the messages of idle conversations"),
                            Err(e) => tracing::warn!(error = %e, "retention: sweep failed; retrying at the next tick"),
                        }
                    }
                    _ = stopped.changed() => break,
                }
            }
        });
        Sweeper { stop, task }
    }

    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}
