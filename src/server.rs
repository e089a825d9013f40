//! Building and running the application. Tests and `sunbeam serve` share this path:
//! `Server::build` binds (port 0 works) and opens the store; `run` serves until shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use rand::RngCore;
use tokio::net::TcpListener;

use crate::config::ServeConfig;
use crate::events::{DeliverySettings, Dispatcher};
use crate::http::{router, AppState, Services};
use crate::store::{SecretBox, Store, StoreLimits};

pub struct Server {
    listener: TcpListener,
    pub store: Store,
    state: AppState,
    /// How webhooks are delivered; from the config, adjustable before `run`.
    pub delivery: DeliverySettings,
    /// Header read timeout and read buffer of each connection.
    connections: crate::http::serve::ConnectionLimits,
}

/// Reads the master key from config, or from (creating) `DATA_DIR/master.key`.
pub fn load_master_key(config: &ServeConfig) -> anyhow_like::Result<[u8; 32]> {
    let hex = match &config.master_key {
        Some(k) => k.trim().to_string(),
        None => {
            let path = config.data_dir.join("master.key");
            if !path.exists() {
                std::fs::create_dir_all(&config.data_dir).map_err(|e| format!("cannot create {}: {e}", config.data_dir.display()))?;
                let mut key = [0u8; 32];
                rand::thread_rng().fill_bytes(&mut key);
                let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
                write_private(&path, &hex)?;
            }
            std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?.trim().to_string()
        }
    };
    if hex.len() != 64 {
        return Err("the master key must be 64 hex characters".into());
    }
    let mut key = [0u8; 32];
    for (i, chunk) in hex.as_bytes().chunks(2).enumerate() {
        let s = std::str::from_utf8(chunk).map_err(|_| "the master key must be hex")?;
        key[i] = u8::from_str_radix(s, 16).map_err(|_| "the master key must be hex")?;
    }
    Ok(key)
}

fn write_private(path: &Path, contents: &str) -> anyhow_like::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    f.write_all(contents.as_bytes()).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(())
}

/// Minimal string errors for start-up, where the message is all an operator needs.
pub mod anyhow_like {
    pub type Result<T> = std::result::Result<T, String>;
}

pub async fn open_store(config: &ServeConfig) -> anyhow_like::Result<Store> {
    let key = load_master_key(config)?;
    let limits = StoreLimits {
        max_messages_per_conversation: config.max_messages_per_conversation,
        pool_max_connections: config.limits.db_max_connections,
        pool_acquire_timeout: std::time::Duration::from_millis(config.limits.db_acquire_timeout_ms),
        ..StoreLimits::default()
    };
    Store::open(&config.database_url, SecretBox::new(key), limits).await.map_err(|e| format!("cannot open the store at {}: {e}", config.database_url))
}

/// What bootstrap did, so `serve` can tell the operator.
pub enum Bootstrap {
    Created { id: String, secret: String },
    Ensured { id: String },
    Existing,
}

/// Makes sure an account key exists: the configured one, or a new one on an empty store.
pub async fn bootstrap(store: &Store, config: &ServeConfig) -> anyhow_like::Result<Bootstrap> {
    if let (Some(id), Some(secret)) = (&config.account_key_id, &config.account_key_secret) {
        if !id.starts_with("act_") || secret.len() < 16 {
            return Err("SUNBEAM_ACCOUNT_KEY_ID must start with act_ and SUNBEAM_ACCOUNT_KEY_SECRET be at least 16 characters".into());
        }
        store.create_account_key("bootstrap", Some((id.clone(), secret.clone()))).await.map_err(|e| e.to_string())?;
        return Ok(Bootstrap::Ensured { id: id.clone() });
    }
    if store.account_key_count().await.map_err(|e| e.to_string())? == 0 {
        let key = store.create_account_key("bootstrap", None).await.map_err(|e| e.to_string())?;
        return Ok(Bootstrap::Created { id: key.id, secret: key.secret });
    }
    Ok(Bootstrap::Existing)
}

fn realtime(config: &ServeConfig, store: &Store) -> crate::realtime::Realtime {
    let hub = crate::realtime::hub::HubSettings { poll_interval: std::time::Duration::from_millis(config.realtime_poll_ms.max(1)), ..Default::default() };
    crate::realtime::Realtime::with(store.clone(), crate::realtime::bayeux::Settings::default(), hub)
}

impl Server {
    pub async fn build(config: &ServeConfig) -> anyhow_like::Result<Server> {
        let store = open_store(config).await?;
        Self::with_store(config, store).await
    }

    pub async fn with_store(config: &ServeConfig, store: Store) -> anyhow_like::Result<Server> {
        crate::metrics::init();
        let listener = TcpListener::bind(&config.listen).await.map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
        let attachments = crate::attachments::Attachments::from_config(&config.attachments, &config.data_dir, store.clone())?;
        tracing::info!(storage = %attachments.storage().describe(), "attachments");
        match attachments.import_legacy().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(files = n, "attachments: recorded the files stored before attachments had rows"),
            Err(e) => return Err(format!("cannot record the attachments stored before rows: {e}")),
        }
        let state = AppState::new(Services { store: store.clone(), public_url: config.public_url.as_deref().map(Arc::from), realtime: realtime(config, &store), web_dir: config.web_dir.as_deref().map(Arc::from), attachments, guard: crate::http::limits::Guard::new(&config.limits) });
        let connections = crate::http::serve::ConnectionLimits {
            header_read_timeout: std::time::Duration::from_millis(config.limits.header_read_timeout_ms.max(1)),
            // Room for the largest head the middleware admits; beyond it hyper answers 431.
            max_buf_size: (config.limits.max_header_bytes * 2).max(64 * 1024),
        };
        Ok(Server { listener, store, state, delivery: DeliverySettings::from_config(config), connections })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("bound listener has an address")
    }

    /// Serves until `shutdown` resolves, then finishes in-flight requests.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        // Before the readers start, so that no commit of another node falls between.
        let cluster = self.store.start_cluster_signal();
        let realtime = self.state.realtime.clone();
        realtime.start().await.map_err(std::io::Error::other)?;
        let attachment_sweeper = crate::attachments::start_sweeper(self.state.attachments.clone());
        let app = router(self.state);
        let dispatcher = Dispatcher::start(self.store.clone(), self.delivery);
        let retention = crate::retention::start_sweeper(self.store.clone());
        let closing = realtime.clone();
        let shutdown = async move {
            shutdown.await;
            closing.close_connections();
        };
        let served = crate::http::serve::serve(self.listener, app, self.connections, shutdown).await;
        realtime.stop().await;
        dispatcher.stop().await;
        retention.stop().await;
        attachment_sweeper.stop().await;
        if let Some(c) = cluster {
            c.stop().await;
        }
        self.store.close().await;
        served
    }
}
