//! Realtime delivery to the end-user SDKs over Bayeux (the protocol of the `faye` client
//! the SDKs embed): sdk-protocol §5.
//!
//! - [`bayeux`]: the protocol core, transport-agnostic: clients, subscriptions with
//!   caller-supplied authorisation, held connects, bounded per-client queues. Its
//!   transports (`/faye` on WebSocket, long-polling and callback-polling) are HTTP, and
//!   live with the other routes in `http/faye.rs`.
//! - [`auth`]: subscribe credentials (`ext.jwt`, `ext.sessionToken`) against
//!   `/sdk/apps/{appId}/appusers/{appUserId}`.
//! - [`hub`]: the outbox reader that publishes every committed message and activity to
//!   the channels of the conversation's participants, in commit order.
//! - [`sdk`]: outbox events → the SDK's realtime events (pure).
//!
//! Clients and subscriptions live in the memory of the node that handshook them. Every
//! node runs its own hub over the shared outbox, so a cluster needs no other coordination.

pub mod auth;
pub mod bayeux;
pub mod hub;
pub mod sdk;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::store::Store;
use auth::SdkAuthorizer;
use bayeux::{Bayeux, Settings};
use hub::{Hub, HubSettings};

/// How often idle clients are looked for.
const SWEEP_EVERY: Duration = Duration::from_secs(5);

/// The realtime service of one node. Cheap to clone.
#[derive(Clone)]
pub struct Realtime {
    inner: Arc<Inner>,
}

struct Inner {
    bayeux: Arc<Bayeux>,
    store: Store,
    hub_settings: HubSettings,
    running: Mutex<Option<Running>>,
}

struct Running {
    hub: Hub,
    stop: watch::Sender<bool>,
    sweeper: JoinHandle<()>,
}

impl Realtime {
    /// With the default settings.
    pub fn new(store: Store) -> Realtime {
        Realtime::with(store, Settings::default(), HubSettings::default())
    }

    /// Subscriptions are authorised with the SDK's credentials (user JWTs, session tokens).
    pub fn with(store: Store, settings: Settings, hub_settings: HubSettings) -> Realtime {
        let authorizer = Arc::new(SdkAuthorizer::new(store.clone()));
        let bayeux = Arc::new(Bayeux::new(settings, authorizer));
        Realtime { inner: Arc::new(Inner { bayeux, store, hub_settings, running: Mutex::new(None) }) }
    }

    pub fn bayeux(&self) -> &Arc<Bayeux> {
        &self.inner.bayeux
    }

    /// Starts the hub (at the current end of the outbox) and the idle-client sweeper.
    pub async fn start(&self) -> Result<(), String> {
        let hub = Hub::start(self.inner.store.clone(), self.inner.bayeux.clone(), self.inner.hub_settings.clone())
            .await
            .map_err(|e| format!("cannot start realtime delivery: {e}"))?;
        let (stop, mut stopped) = watch::channel(false);
        let bayeux = self.inner.bayeux.clone();
        let sweeper = tokio::spawn(async move {
            let mut tick = tokio::time::interval(SWEEP_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => { bayeux.sweep(Instant::now()); }
                    _ = stopped.changed() => break,
                }
            }
        });
        let previous = self.inner.running.lock().unwrap_or_else(|p| p.into_inner()).replace(Running { hub, stop, sweeper });
        if let Some(p) = previous {
            p.halt().await;
        }
        Ok(())
    }

    /// Answers held connects and closes sockets (clients come back elsewhere or later).
    /// Call when shutdown begins, so in-flight long-polls do not hold it up.
    pub fn close_connections(&self) {
        self.inner.bayeux.close_all();
    }

    /// Stops the hub and the sweeper.
    pub async fn stop(&self) {
        self.close_connections();
        let running = self.inner.running.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(r) = running {
            r.halt().await;
        }
    }
}

impl Running {
    async fn halt(self) {
        let _ = self.stop.send(true);
        let _ = self.sweeper.await;
        self.hub.stop().await;
    }
}
