/// glibc's allocator spent a fifth of the async workers' time in `malloc`/`free` on the
/// message path (arena locks, `malloc_consolidate`); mimalloc's thread-local free lists
/// do not.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use sunbeam::config::ServeConfig;
use sunbeam::server::{bootstrap, open_store, Bootstrap, Server};

#[derive(Parser)]
#[command(name = "sunbeam", version, about = "Self-hosted messaging server, wire-compatible with Sunshine Conversations v2")]
struct Cli {
    /// A TOML file of settings (the names of the README's configuration table); flags
    /// and environment variables override it.
    #[arg(long, global = true, env = "SUNBEAM_CONFIG", value_name = "PATH")]
    config: Option<std::path::PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve(ServeConfig),
    /// Check a deployment: configuration, store, migrations, webhooks, clocks.
    Doctor(ServeConfig),
    /// Benchmark: post messages, page history and deliver webhooks against a fresh server; print throughput and latency.
    Bench(sunbeam::bench::BenchConfig),
    /// The benchmark's floor probes as a server of their own (started by `bench`).
    #[command(hide = true)]
    BenchFloor {
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: String,
        #[arg(long)]
        dir: std::path::PathBuf,
    },
    /// Manage account keys (operators).
    AccountKeys {
        #[command(subcommand)]
        action: KeyAction,
        #[command(flatten)]
        config: ServeConfig,
    },
    /// OAuth partners (Sunshine Conversations Connect): register, list, remove.
    OauthClients {
        #[command(subcommand)]
        action: OAuthAction,
        #[command(flatten)]
        config: ServeConfig,
    },
    /// Webhook delivery (operators): backlog, failures, attempt history.
    Webhooks {
        #[command(subcommand)]
        action: WebhookAction,
        #[command(flatten)]
        config: ServeConfig,
    },
}

#[derive(Subcommand)]
enum WebhookAction {
    /// Per webhook: pending/delivered/failed deliveries, the circuit, the last error.
    Status {
        /// Only this app's webhooks.
        #[arg(long)]
        app: Option<String>,
    },
    /// The latest attempts for one webhook, newest first.
    Attempts {
        webhook_id: String,
        #[arg(long, default_value_t = 20)]
        limit: i64,
    },
}

#[derive(Subcommand)]
enum OAuthAction {
    /// Register a partner and print its client id and secret (the secret is shown once).
    Create {
        /// The partner's client id (also the `type` of the integrations it gets).
        #[arg(long)]
        client_id: String,
        /// The name the consent page shows.
        #[arg(long)]
        name: String,
        /// An exact URI the authorization may redirect to (repeatable).
        #[arg(long = "redirect-uri", required = true)]
        redirect_uris: Vec<String>,
        /// Told (POST) when the partner's access to an app is revoked.
        #[arg(long)]
        remove_url: Option<String>,
    },
    /// List registered partners.
    List,
    /// Remove a partner, and its integration (webhooks, tokens) in every app.
    Delete { client_id: String },
}

#[derive(Subcommand)]
enum KeyAction {
    /// Create an account key and print its id and secret.
    Create {
        #[arg(long, default_value = "operator")]
        name: String,
    },
    /// List account keys.
    List,
    /// Revoke (delete) an account key.
    Revoke { id: String },
}

/// Parses the command line over the settings file's values.
fn parse() -> Result<Cli, String> {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let mut cmd = Cli::command();
    if let Some((path, file)) = sunbeam::config::file_from_args(&args)? {
        cmd = sunbeam::config::apply_file(cmd, &path, &file)?;
    }
    let matches = cmd.try_get_matches_from(args).unwrap_or_else(|e| e.exit());
    Cli::from_arg_matches(&matches).map_err(|e| e.to_string())
}

fn init_logs(config: Option<&ServeConfig>) {
    let filter = match config {
        Some(c) => c.log.clone(),
        None => std::env::var("SUNBEAM_LOG").unwrap_or_else(|_| "sunbeam=info,warn".into()),
    };
    let filter = tracing_subscriber::EnvFilter::try_new(&filter).unwrap_or_else(|_| "sunbeam=info,warn".into());
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if config.is_some_and(|c| c.log_format == sunbeam::config::LogFormat::Json) {
        builder.json().with_current_span(true).with_span_list(false).init();
    } else {
        builder.init();
    }
}

#[tokio::main]
async fn main() {
    let cli = match parse() {
        Ok(cli) => cli,
        Err(e) => {
            eprintln!("sunbeam: {e}");
            std::process::exit(2);
        }
    };
    let config = match &cli.command {
        Command::Serve(c) | Command::Doctor(c) => Some(c),
        Command::AccountKeys { config, .. } | Command::OauthClients { config, .. } | Command::Webhooks { config, .. } => Some(config),
        Command::Bench(_) | Command::BenchFloor { .. } => None,
    };
    init_logs(config);
    if let Some(c) = config {
        if let Err(e) = c.validate() {
            if !matches!(cli.command, Command::Doctor(_)) {
                eprintln!("sunbeam: {e}");
                std::process::exit(2);
            }
        }
    }
    let outcome = match cli.command {
        Command::Serve(config) => serve(config).await,
        Command::Doctor(config) => sunbeam::doctor::run(config).await,
        Command::AccountKeys { action, config } => account_keys(action, config).await,
        Command::Webhooks { action, config } => webhooks(action, config).await,
        Command::OauthClients { action, config } => oauth_clients(action, config).await,
        Command::Bench(config) => sunbeam::bench::run(config).await,
        Command::BenchFloor { listen, dir } => sunbeam::bench::serve_floor(&listen, dir).await,
    };
    if let Err(e) = outcome {
        eprintln!("sunbeam: {e}");
        std::process::exit(1);
    }
}

async fn serve(config: ServeConfig) -> Result<(), String> {
    let files = sunbeam::os::raise_open_files_limit();
    match (files.connections(), &files.error) {
        (Some(n), None) => tracing::info!(open_files = files.limit, started_with = files.before, "open-files limit {}: room for about {n} connections", files.limit.unwrap_or(0)),
        (Some(n), Some(e)) => tracing::warn!(open_files = files.limit, error = %e, "cannot raise the open-files limit; room for about {n} connections"),
        (None, e) => tracing::warn!(error = ?e, "open-files limit unknown"),
    }
    if let Some(l) = files.limit {
        sunbeam::metrics::open_files_limit(l);
    }
    let server = Server::build(&config).await?;
    let addr = server.local_addr();
    match bootstrap(&server.store, &config).await? {
        Bootstrap::Created { id, secret } => {
            println!("Created the first account key (shown once):\n  id:     {id}\n  secret: {secret}\n");
            println!("Create an app:\n  curl -u '{id}:{secret}' -H 'content-type: application/json' -d '{{\"displayName\":\"My app\"}}' http://{addr}/v2/apps\n");
        }
        Bootstrap::Ensured { id } => println!("Account key {id} is ready."),
        Bootstrap::Existing => println!("Account keys exist; list them with `sunbeam account-keys list`."),
    }
    println!("Sunbeam listening on http://{addr} (store: {})", redact(&config.database_url));
    server.run(shutdown_signal()).await.map_err(|e| e.to_string())
}

use sunbeam::doctor::redact;

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

async fn account_keys(action: KeyAction, config: ServeConfig) -> Result<(), String> {
    let store = open_store(&config).await?;
    match action {
        KeyAction::Create { name } => {
            let key = store.create_account_key(&name, None).await.map_err(|e| e.to_string())?;
            println!("id:     {}\nsecret: {}", key.id, key.secret);
        }
        KeyAction::List => {
            for key in store.list_account_keys().await.map_err(|e| e.to_string())? {
                println!("{}\t{}", key.id, key.display_name);
            }
        }
        KeyAction::Revoke { id } => {
            store.delete_account_key(&id).await.map_err(|e| e.to_string())?;
            println!("revoked {id}");
        }
    }
    store.close().await;
    Ok(())
}

async fn oauth_clients(action: OAuthAction, config: ServeConfig) -> Result<(), String> {
    use sunbeam::domain::oauth::{check_client_id, check_redirect_uri, OAuthClient};
    let store = open_store(&config).await?;
    let outcome = async {
        match action {
            OAuthAction::Create { client_id, name, redirect_uris, remove_url } => {
                check_client_id(&client_id).map_err(|e| e.to_string())?;
                for uri in redirect_uris.iter().chain(remove_url.iter()) {
                    check_redirect_uri(uri).map_err(|e| e.to_string())?;
                }
                if name.trim().is_empty() {
                    return Err("--name must not be empty".to_string());
                }
                let client = OAuthClient { client_id: client_id.clone(), name, redirect_uris, remove_url };
                let secret = store.create_oauth_client(client).await.map_err(|e| e.to_string())?;
                println!("client_id:     {client_id}\nclient_secret: {secret}");
            }
            OAuthAction::List => {
                for c in store.list_oauth_clients().await.map_err(|e| e.to_string())? {
                    println!("{}\t{}\t{}", c.client_id, c.name, c.redirect_uris.join(" "));
                }
            }
            OAuthAction::Delete { client_id } => {
                store.delete_oauth_client(&client_id).await.map_err(|e| e.to_string())?;
                println!("deleted {client_id}");
            }
        }
        Ok::<(), String>(())
    }
    .await;
    store.close().await;
    outcome
}

async fn webhooks(action: WebhookAction, config: ServeConfig) -> Result<(), String> {
    let store = open_store(&config).await?;
    let outcome = async {
        match action {
            WebhookAction::Status { app } => {
                println!("events not yet routed: {}", store.unrouted_events().await.map_err(|e| e.to_string())?);
                let statuses = store.webhook_statuses(app.as_deref()).await.map_err(|e| e.to_string())?;
                if statuses.is_empty() {
                    println!("no webhooks");
                }
                for w in statuses {
                    println!("webhook {} (app {}, integration {})", w.webhook_id, w.app_id, w.integration_id);
                    println!("  target:    {}", w.target);
                    println!("  pending:   {}   delivered: {}   failed: {}   (finished ones are kept for 7 days)", w.pending, w.delivered, w.failed);
                    let parked = w.parked_until.map(|t| format!(", parked until {t}")).unwrap_or_default();
                    println!("  failures in a row: {}{parked}", w.consecutive_failures);
                    if let Some(t) = &w.last_success_at {
                        println!("  last success: {t}");
                    }
                    if let Some(e) = &w.last_error {
                        println!("  last error:   {} ({})", e, w.last_error_at.as_deref().unwrap_or("?"));
                    }
                }
            }
            WebhookAction::Attempts { webhook_id, limit } => {
                for a in store.webhook_attempts(&webhook_id, limit).await.map_err(|e| e.to_string())? {
                    let outcome = match (a.status, &a.error) {
                        (Some(s), _) => format!("HTTP {s}"),
                        (None, Some(e)) => e.clone(),
                        (None, None) => "?".into(),
                    };
                    println!(
                        "{}  event {} ({})  attempt {}  {} ms  {}  -> {}  [node {}]",
                        a.started_at, a.event_id, a.trigger, a.attempt, a.duration_ms, outcome, a.state, a.node
                    );
                }
            }
        }
        Ok::<(), String>(())
    }
    .await;
    store.close().await;
    outcome
}
