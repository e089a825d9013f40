//! A background round run at start and then at a fixed interval until stopped: the
//! retention sweep and the attachment sweep both run this way.

use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

pub struct Periodic {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Periodic {
    /// Spawns a task that awaits `round()` at once and then every `every` (a late round
    /// delays the next rather than bunching them). A round in progress finishes before
    /// [`Periodic::stop`] returns.
    pub fn start<F, Fut>(every: Duration, mut round: F) -> Periodic
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => round().await,
                    _ = stopped.changed() => break,
                }
            }
        });
        Periodic { stop, task }
    }

    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}
