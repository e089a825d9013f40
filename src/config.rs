//! Configuration, from one place: command-line flags, each with an environment variable,
//! each with a documented default (see README "Configuration").

use std::path::PathBuf;

use clap::Args;

#[derive(Debug, Clone, Args)]
pub struct ServeConfig {
    /// Address to listen on.
    #[arg(long, env = "SUNBEAM_LISTEN", default_value = "127.0.0.1:8091")]
    pub listen: String,

    /// Database URL: `sqlite://PATH` (created if missing) or `postgres://…`.
    #[arg(long, env = "SUNBEAM_DATABASE_URL", default_value = "sqlite://./sunbeam-data/sunbeam.db")]
    pub database_url: String,

    /// Folder for local state (the master key file when SUNBEAM_MASTER_KEY is unset).
    #[arg(long, env = "SUNBEAM_DATA_DIR", default_value = "./sunbeam-data")]
    pub data_dir: PathBuf,

    /// 64 hex characters: the key that encrypts API key secrets at rest. Every node of a
    /// cluster needs the same one. Unset: read from (or created in) DATA_DIR/master.key.
    #[arg(long, env = "SUNBEAM_MASTER_KEY", hide_env_values = true)]
    pub master_key: Option<String>,

    /// Base URL used in absolute links (pagination). Unset: taken from the Host header.
    #[arg(long, env = "SUNBEAM_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Ensure this account key id exists at start-up (with SUNBEAM_ACCOUNT_KEY_SECRET).
    #[arg(long, env = "SUNBEAM_ACCOUNT_KEY_ID")]
    pub account_key_id: Option<String>,

    #[arg(long, env = "SUNBEAM_ACCOUNT_KEY_SECRET", hide_env_values = true)]
    pub account_key_secret: Option<String>,

    /// Messages a conversation may hold before PostMessage answers 423 (tests lower it).
    #[arg(long, env = "SUNBEAM_MAX_MESSAGES_PER_CONVERSATION", default_value_t = 30_000)]
    pub max_messages_per_conversation: i64,

    /// Deliver webhooks only to public addresses: refuse targets on loopback, private,
    /// link-local and other non-public networks (checked on every connection).
    #[arg(long, env = "SUNBEAM_WEBHOOK_PUBLIC_ONLY", action = clap::ArgAction::Set, num_args = 0..=1,
          default_value = "false", default_missing_value = "true", value_parser = clap::builder::BoolishValueParser::new())]
    pub webhook_public_only: bool,

    /// Milliseconds a webhook target has to answer before the attempt counts as failed.
    #[arg(long, env = "SUNBEAM_WEBHOOK_TIMEOUT_MS", default_value_t = 20_000)]
    pub webhook_timeout_ms: u64,

    /// Waits before each webhook retry, in milliseconds, comma separated; a delivery is
    /// attempted once more than there are waits (default: 5 attempts over ~15 minutes,
    /// each wait jittered by ±20 %).
    #[arg(long, env = "SUNBEAM_WEBHOOK_RETRY_DELAYS_MS", value_delimiter = ',', default_values_t = [60_000u64, 120_000, 240_000, 480_000])]
    pub webhook_retry_delays_ms: Vec<u64>,

    /// Widget development: serve `messenger.js` (and its map) from this folder when the
    /// file is there, instead of the bundle compiled into the binary (web/bundle/).
    #[arg(long, env = "SUNBEAM_WEB_DIR")]
    pub web_dir: Option<PathBuf>,

    /// Overload protection (rate limits, request limits); see [`LimitsConfig`].
    #[command(flatten)]
    pub limits: LimitsConfig,
}

impl ServeConfig {
    /// Defaults for embedding (tests, benchmarks): everything as on the command line.
    pub fn for_database(database_url: &str, data_dir: PathBuf) -> Self {
        ServeConfig {
            listen: "127.0.0.1:0".into(),
            database_url: database_url.into(),
            data_dir,
            master_key: None,
            public_url: None,
            account_key_id: None,
            account_key_secret: None,
            max_messages_per_conversation: 30_000,
            webhook_public_only: false,
            webhook_timeout_ms: 20_000,
            webhook_retry_delays_ms: vec![60_000, 120_000, 240_000, 480_000],
            web_dir: None,
            limits: LimitsConfig { rate_limits: false, ..LimitsConfig::default() },
        }
    }
}

// ---- Overload protection ----------------------------------------------------------------

/// Overload protection: rate limits per caller and per client address, and limits on each
/// request. Rate limits are on by default in `serve`, off in
/// [`ServeConfig::for_database`] (tests and benchmarks turn them on when they test them).
///
/// A rate is a sustained number of requests per second with a burst allowance on top
/// (GCRA, from the `governor` crate); a request over it is answered 429 with `Retry-After`.
#[derive(Debug, Clone, Args)]
pub struct LimitsConfig {
    /// Enforce the rate limits below (`false`/`off` turns every rate limit off).
    #[arg(long = "rate-limits", env = "SUNBEAM_RATE_LIMITS", action = clap::ArgAction::Set, num_args = 0..=1,
          default_value = "true", default_missing_value = "true", value_parser = clap::builder::BoolishValueParser::new())]
    pub rate_limits: bool,

    /// Requests per second one API key (account, app or integration key, Basic or JWT)
    /// may make to the business API, after authentication.
    #[arg(long, env = "SUNBEAM_RATE_LIMIT_KEY_PER_SECOND", default_value_t = 100)]
    pub rate_limit_key_per_second: u32,
    #[arg(long, env = "SUNBEAM_RATE_LIMIT_KEY_BURST", default_value_t = 200)]
    pub rate_limit_key_burst: u32,

    /// Requests per second reaching one app, through all its credentials and the SDK API.
    #[arg(long, env = "SUNBEAM_RATE_LIMIT_APP_PER_SECOND", default_value_t = 500)]
    pub rate_limit_app_per_second: u32,
    #[arg(long, env = "SUNBEAM_RATE_LIMIT_APP_BURST", default_value_t = 1000)]
    pub rate_limit_app_burst: u32,

    /// Requests per second one end user (SDK session or user JWT) may make to the SDK API.
    #[arg(long, env = "SUNBEAM_RATE_LIMIT_USER_PER_SECOND", default_value_t = 10)]
    pub rate_limit_user_per_second: u32,
    #[arg(long, env = "SUNBEAM_RATE_LIMIT_USER_BURST", default_value_t = 30)]
    pub rate_limit_user_burst: u32,

    /// Requests per second from one client IP address, before any authentication (the
    /// peer address of the connection: behind a load balancer, raise it or turn it off
    /// with 0).
    #[arg(long, env = "SUNBEAM_RATE_LIMIT_IP_PER_SECOND", default_value_t = 300)]
    pub rate_limit_ip_per_second: u32,
    #[arg(long, env = "SUNBEAM_RATE_LIMIT_IP_BURST", default_value_t = 600)]
    pub rate_limit_ip_burst: u32,

    /// Bytes all the headers of one request may take together; more is answered 431.
    #[arg(long, env = "SUNBEAM_MAX_HEADER_BYTES", default_value_t = 32 * 1024)]
    pub max_header_bytes: usize,

    /// Milliseconds a request (other than realtime's held connections) may take before it
    /// is answered 503 with `Retry-After`.
    #[arg(long, env = "SUNBEAM_REQUEST_TIMEOUT_MS", default_value_t = 30_000)]
    pub request_timeout_ms: u64,

    /// Milliseconds a client has to send a request's headers, from the connection's start
    /// or the previous response (slow-loris protection); then the connection is closed.
    #[arg(long, env = "SUNBEAM_HEADER_READ_TIMEOUT_MS", default_value_t = 10_000)]
    pub header_read_timeout_ms: u64,

    /// PostgreSQL: connections in this node's pool.
    #[arg(long, env = "SUNBEAM_DB_MAX_CONNECTIONS", default_value_t = 32)]
    pub db_max_connections: u32,

    /// PostgreSQL: milliseconds a request waits for a free connection (or for the
    /// database to come back) before it is answered 503 with `Retry-After`.
    #[arg(long, env = "SUNBEAM_DB_ACQUIRE_TIMEOUT_MS", default_value_t = 5_000)]
    pub db_acquire_timeout_ms: u64,
}

impl Default for LimitsConfig {
    /// The documented defaults above (rate limits on).
    fn default() -> Self {
        LimitsConfig {
            rate_limits: true,
            rate_limit_key_per_second: 100,
            rate_limit_key_burst: 200,
            rate_limit_app_per_second: 500,
            rate_limit_app_burst: 1000,
            rate_limit_user_per_second: 10,
            rate_limit_user_burst: 30,
            rate_limit_ip_per_second: 300,
            rate_limit_ip_burst: 600,
            max_header_bytes: 32 * 1024,
            request_timeout_ms: 30_000,
            header_read_timeout_ms: 10_000,
            db_max_connections: 32,
            db_acquire_timeout_ms: 5_000,
        }
    }
}

#[cfg(test)]
mod limits_tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        limits: LimitsConfig,
    }

    #[test]
    fn the_flag_defaults_are_the_documented_defaults() {
        let parsed = Cli::parse_from(["sunbeam"]).limits;
        let documented = LimitsConfig::default();
        assert_eq!(format!("{parsed:?}"), format!("{documented:?}"));
        assert!(!Cli::parse_from(["sunbeam", "--rate-limits", "off"]).limits.rate_limits);
    }
}
