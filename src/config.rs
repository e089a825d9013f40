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

    /// Milliseconds between the realtime hub's looks at the outbox when nothing woke it. A
    /// commit on this node wakes it at once, and on PostgreSQL so does one on another node
    /// (LISTEN/NOTIFY); the poll is the fallback while that signal is down.
    #[arg(long, env = "SUNBEAM_REALTIME_POLL_MS", default_value_t = 500)]
    pub realtime_poll_ms: u64,

    /// Widget development: serve `messenger.js` (and its map) from this folder when the
    /// file is there, instead of the bundle compiled into the binary (web/bundle/).
    #[arg(long, env = "SUNBEAM_WEB_DIR")]
    pub web_dir: Option<PathBuf>,

    #[command(flatten)]
    pub attachments: AttachmentsConfig,
}

/// Where uploaded files are stored (see README "Attachments"): a local folder unless an
/// S3 bucket is named.
#[derive(Debug, Clone, Default, Args)]
pub struct AttachmentsConfig {
    /// Folder for uploaded files when no S3 bucket is set. Unset: DATA_DIR/attachments.
    #[arg(long = "attachments-dir", env = "SUNBEAM_ATTACHMENTS_DIR")]
    pub dir: Option<PathBuf>,

    /// Store uploaded files in this S3-compatible bucket instead of the local folder.
    #[arg(long = "attachments-s3-bucket", env = "SUNBEAM_ATTACHMENTS_S3_BUCKET")]
    pub s3_bucket: Option<String>,

    /// The S3 endpoint, for S3-compatible servers (MinIO, Ceph, R2…), e.g.
    /// `http://127.0.0.1:9000` (path-style requests). Unset: AWS S3 of the region.
    #[arg(long = "attachments-s3-endpoint", env = "SUNBEAM_ATTACHMENTS_S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,

    /// The bucket's region.
    #[arg(long = "attachments-s3-region", env = "SUNBEAM_ATTACHMENTS_S3_REGION", default_value = "us-east-1")]
    pub s3_region: String,

    /// Access key id. Unset: the AWS environment (`AWS_ACCESS_KEY_ID`, instance credentials).
    #[arg(long = "attachments-s3-access-key-id", env = "SUNBEAM_ATTACHMENTS_S3_ACCESS_KEY_ID")]
    pub s3_access_key_id: Option<String>,

    /// Secret access key. Unset: the AWS environment (`AWS_SECRET_ACCESS_KEY`…).
    #[arg(long = "attachments-s3-secret-access-key", env = "SUNBEAM_ATTACHMENTS_S3_SECRET_ACCESS_KEY", hide_env_values = true)]
    pub s3_secret_access_key: Option<String>,

    /// Prefix of the object keys in the bucket (objects are `PREFIX{attachment id}`).
    #[arg(long = "attachments-s3-prefix", env = "SUNBEAM_ATTACHMENTS_S3_PREFIX", default_value = "attachments/")]
    pub s3_prefix: String,
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
            realtime_poll_ms: 500,
            web_dir: None,
            attachments: AttachmentsConfig { s3_region: "us-east-1".into(), s3_prefix: "attachments/".into(), ..AttachmentsConfig::default() },
        }
    }
}
