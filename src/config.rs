//! Configuration, from one place: every setting is one field of [`ServeConfig`], with a
//! flag, an environment variable and a documented default (README "Configuration"), and
//! may also be given in a TOML file (`--config PATH` or `SUNBEAM_CONFIG`) under the
//! field's name. Precedence: flag, then environment, then file, then the default.
//!
//! Adding a setting is a field here (with its `#[arg(long, env = …)]`), its value in
//! [`ServeConfig::for_database`], a line in [`ServeConfig::validate`] when some values
//! are wrong, and a README row (a test checks every setting has one). The file needs no
//! code of its own: [`apply_file`] reads it through the same clap definitions, so a file
//! value is parsed exactly as the flag would be.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};

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

    /// Log lines as `text` (for people) or `json` (one object per line, for collectors).
    #[arg(long, env = "SUNBEAM_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Which log lines to keep: a tracing `EnvFilter` (`sunbeam=debug` adds a line per
    /// request, with its id).
    #[arg(long, env = "SUNBEAM_LOG", default_value = "sunbeam=info,warn")]
    pub log: String,

    /// Widget development: serve `messenger.js` (and its map) from this folder when the
    /// file is there, instead of the bundle compiled into the binary (web/bundle/).
    #[arg(long, env = "SUNBEAM_WEB_DIR")]
    pub web_dir: Option<PathBuf>,

    #[command(flatten)]
    pub attachments: AttachmentsConfig,

    /// Overload protection (rate limits, request limits); see [`LimitsConfig`].
    #[command(flatten)]
    pub limits: LimitsConfig,
}

/// Where uploaded files are stored (see README "Attachments"): a local folder unless an
/// S3 bucket is named.
#[derive(Debug, Clone, Default, Args)]
pub struct AttachmentsConfig {
    /// Folder for uploaded files when no S3 bucket is set. Unset: DATA_DIR/attachments.
    #[arg(id = "attachments_dir", long = "attachments-dir", env = "SUNBEAM_ATTACHMENTS_DIR")]
    pub dir: Option<PathBuf>,

    /// Store uploaded files in this S3-compatible bucket instead of the local folder.
    #[arg(id = "attachments_s3_bucket", long = "attachments-s3-bucket", env = "SUNBEAM_ATTACHMENTS_S3_BUCKET")]
    pub s3_bucket: Option<String>,

    /// The S3 endpoint, for S3-compatible servers (MinIO, Ceph, R2…), e.g.
    /// `http://127.0.0.1:9000` (path-style requests). Unset: AWS S3 of the region.
    #[arg(id = "attachments_s3_endpoint", long = "attachments-s3-endpoint", env = "SUNBEAM_ATTACHMENTS_S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,

    /// The bucket's region.
    #[arg(id = "attachments_s3_region", long = "attachments-s3-region", env = "SUNBEAM_ATTACHMENTS_S3_REGION", default_value = "us-east-1")]
    pub s3_region: String,

    /// Access key id. Unset: the AWS environment (`AWS_ACCESS_KEY_ID`, instance credentials).
    #[arg(id = "attachments_s3_access_key_id", long = "attachments-s3-access-key-id", env = "SUNBEAM_ATTACHMENTS_S3_ACCESS_KEY_ID")]
    pub s3_access_key_id: Option<String>,

    /// Secret access key. Unset: the AWS environment (`AWS_SECRET_ACCESS_KEY`…).
    #[arg(id = "attachments_s3_secret_access_key", long = "attachments-s3-secret-access-key", env = "SUNBEAM_ATTACHMENTS_S3_SECRET_ACCESS_KEY", hide_env_values = true)]
    pub s3_secret_access_key: Option<String>,

    /// Prefix of the object keys in the bucket (objects are `PREFIX{attachment id}`).
    #[arg(id = "attachments_s3_prefix", long = "attachments-s3-prefix", env = "SUNBEAM_ATTACHMENTS_S3_PREFIX", default_value = "attachments/")]
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
            log_format: LogFormat::Text,
            log: "sunbeam=info,warn".into(),
            web_dir: None,
            attachments: AttachmentsConfig { s3_region: "us-east-1".into(), s3_prefix: "attachments/".into(), ..AttachmentsConfig::default() },
            limits: LimitsConfig { rate_limits: false, ..LimitsConfig::default() },
        }
    }

    /// Refuses values no part of the server could work with, naming the setting.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |setting: &'static str, problem: String| Err(ConfigError { setting, problem });
        if !self.listen.rsplit_once(':').is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok()) {
            return bad("listen", format!("{:?} is not HOST:PORT", self.listen));
        }
        let db = &self.database_url;
        if !(db.starts_with("sqlite:") || db.starts_with("postgres://") || db.starts_with("postgresql://")) {
            return bad("database_url", "must start with sqlite:// or postgres://".into());
        }
        if let Some(k) = &self.master_key {
            let k = k.trim();
            if k.len() != 64 || !k.bytes().all(|b| b.is_ascii_hexdigit()) {
                return bad("master_key", "must be 64 hex characters (32 bytes)".into());
            }
        }
        if let Some(u) = &self.public_url {
            if !url::Url::parse(u).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some()) {
                return bad("public_url", format!("{u:?} is not an http(s) URL"));
            }
        }
        match (&self.account_key_id, &self.account_key_secret) {
            (Some(id), Some(secret)) => {
                if !id.starts_with("act_") {
                    return bad("account_key_id", "must start with act_".into());
                }
                if secret.len() < 16 {
                    return bad("account_key_secret", "must be at least 16 characters".into());
                }
            }
            (Some(_), None) => return bad("account_key_secret", "is needed with account_key_id".into()),
            (None, Some(_)) => return bad("account_key_id", "is needed with account_key_secret".into()),
            (None, None) => {}
        }
        if self.max_messages_per_conversation < 1 {
            return bad("max_messages_per_conversation", "must be at least 1".into());
        }
        if self.webhook_timeout_ms < 1 {
            return bad("webhook_timeout_ms", "must be at least 1".into());
        }
        if self.webhook_retry_delays_ms.contains(&0) {
            return bad("webhook_retry_delays_ms", "each wait must be at least 1 ms".into());
        }
        if self.realtime_poll_ms < 1 {
            return bad("realtime_poll_ms", "must be at least 1".into());
        }
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.log) {
            return bad("log", format!("{:?} is not a log filter: {e}", self.log));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// A setting with a value that cannot work: which setting (its name in the file; the
/// flag and variable are derived from it), and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub setting: &'static str,
    pub problem: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let flag = self.setting.replace('_', "-");
        let env = format!("SUNBEAM_{}", self.setting.to_ascii_uppercase());
        write!(f, "invalid setting `{}` (--{flag}, {env}): {}", self.setting, self.problem)
    }
}

/// The settings file named on the command line (`--config PATH`, `--config=PATH`) or
/// by `SUNBEAM_CONFIG`, parsed; None when there is none. Read before clap parses the
/// rest, because its values become clap's defaults.
pub fn file_from_args(args: &[std::ffi::OsString]) -> Result<Option<(PathBuf, toml::Table)>, String> {
    let mut path = std::env::var_os("SUNBEAM_CONFIG").filter(|p| !p.is_empty()).map(PathBuf::from);
    let mut it = args.iter().skip(1);
    while let Some(a) = it.next() {
        let a = a.to_string_lossy();
        if a == "--" {
            break;
        }
        if a == "--config" {
            path = it.next().map(PathBuf::from);
        } else if let Some(p) = a.strip_prefix("--config=") {
            path = Some(PathBuf::from(p));
        }
    }
    let Some(path) = path else { return Ok(None) };
    let text = std::fs::read_to_string(&path).map_err(|e| format!("cannot read the config file {}: {e}", path.display()))?;
    let table: toml::Table = toml::from_str(&text).map_err(|e| format!("the config file {} is not valid TOML: {e}", path.display()))?;
    Ok(Some((path, table)))
}

/// Makes each setting of `file` the default of its argument in every subcommand of `cmd`
/// that has it (flags and environment variables still win). Refuses, naming it, a
/// setting that does not exist or whose value the flag would refuse.
pub fn apply_file(mut cmd: clap::Command, path: &Path, file: &toml::Table) -> Result<clap::Command, String> {
    let settings = ServeConfig::augment_args(clap::Command::new("settings"));
    for (key, value) in file {
        let id = key.replace('-', "_");
        let Some(arg) = settings.get_arguments().find(|a| a.get_id().as_str() == id && a.get_long().is_some()) else {
            let known: Vec<&str> = settings.get_arguments().filter(|a| a.get_long().is_some()).map(|a| a.get_id().as_str()).collect();
            return Err(format!("{}: unknown setting `{key}` (known: {})", path.display(), known.join(", ")));
        };
        let values: Vec<String> = match value {
            toml::Value::Array(items) => items.iter().map(scalar).collect::<Option<_>>(),
            v => scalar(v).map(|s| vec![s]),
        }
        .ok_or_else(|| format!("{}: setting `{key}` must be a string, number or boolean (or a list of them)", path.display()))?;
        // Parsed as the flag would be, alone, so the error is this value's.
        let long = arg.get_long().unwrap_or_default();
        let probe = clap::Command::new("sunbeam").no_binary_name(true).arg(arg.clone().required(false));
        for v in &values {
            if let Err(e) = probe.clone().try_get_matches_from([OsStr::new(&format!("--{long}={v}"))]) {
                let why = e.to_string();
                let why = why.lines().next().unwrap_or("").trim_start_matches("error: ");
                return Err(format!("{}: invalid setting `{key}` = {v:?}: {why}", path.display()));
            }
        }
        let values: Vec<&'static str> = values.into_iter().map(|v| &*Box::leak(v.into_boxed_str())).collect();
        let names: Vec<String> = cmd.get_subcommands().filter(|c| c.get_arguments().any(|a| a.get_id().as_str() == id)).map(|c| c.get_name().to_string()).collect();
        for name in names {
            let values = values.clone();
            let id = id.clone();
            cmd = cmd.mut_subcommand(name, move |c| c.mut_arg(id, move |a| a.default_values(values)));
        }
    }
    Ok(cmd)
}

fn scalar(v: &toml::Value) -> Option<String> {
    match v {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Integer(i) => Some(i.to_string()),
        toml::Value::Float(f) => Some(f.to_string()),
        toml::Value::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{FromArgMatches, Parser, Subcommand};

    #[derive(Parser)]
    struct Cli {
        #[command(subcommand)]
        command: Cmd,
    }
    #[derive(Subcommand)]
    enum Cmd {
        Serve(ServeConfig),
    }

    fn parse(file: &str, args: &[&str]) -> Result<ServeConfig, String> {
        use clap::CommandFactory;
        let table: toml::Table = toml::from_str(file).map_err(|e| e.to_string())?;
        let cmd = apply_file(Cli::command(), Path::new("sunbeam.toml"), &table)?;
        let m = cmd.try_get_matches_from(std::iter::once("sunbeam").chain(std::iter::once("serve")).chain(args.iter().copied())).map_err(|e| e.to_string())?;
        let Cmd::Serve(c) = Cli::from_arg_matches(&m).map_err(|e| e.to_string())?.command;
        Ok(c)
    }

    #[test]
    fn the_file_sets_defaults_and_flags_win() {
        let c = parse("listen = \"0.0.0.0:9000\"\nwebhook_timeout_ms = 5000\nwebhook-public-only = true\nwebhook_retry_delays_ms = [10, 20]\nlog_format = \"json\"\n", &["--webhook-timeout-ms", "7"]).unwrap();
        assert_eq!(c.listen, "0.0.0.0:9000");
        assert_eq!(c.webhook_timeout_ms, 7, "the flag wins over the file");
        assert!(c.webhook_public_only);
        assert_eq!(c.webhook_retry_delays_ms, vec![10, 20]);
        assert_eq!(c.log_format, LogFormat::Json);
        assert_eq!(c.realtime_poll_ms, 500, "the default where neither says");
        c.validate().unwrap();
    }

    #[test]
    fn a_bad_file_value_or_an_unknown_setting_is_refused_by_name() {
        let e = parse("webhook_timeout_ms = \"soon\"", &[]).err().unwrap();
        assert!(e.contains("`webhook_timeout_ms`") && e.contains("soon"), "{e}");
        let e = parse("webhook_timeout = 5", &[]).err().unwrap();
        assert!(e.contains("unknown setting `webhook_timeout`"), "{e}");
        let e = parse("log_format = \"xml\"", &[]).err().unwrap();
        assert!(e.contains("`log_format`"), "{e}");
    }

    #[test]
    fn validation_names_the_setting() {
        let base = ServeConfig::for_database("sqlite://x.db", PathBuf::from("."));
        base.validate().unwrap();
        type Tweak = Box<dyn Fn(&mut ServeConfig)>;
        let cases: Vec<(Tweak, &str)> = vec![
            (Box::new(|c: &mut ServeConfig| c.listen = "nowhere".into()), "listen"),
            (Box::new(|c: &mut ServeConfig| c.database_url = "mysql://x".into()), "database_url"),
            (Box::new(|c: &mut ServeConfig| c.master_key = Some("abc".into())), "master_key"),
            (Box::new(|c: &mut ServeConfig| c.public_url = Some("ftp://x".into())), "public_url"),
            (Box::new(|c: &mut ServeConfig| c.account_key_id = Some("act_x".into())), "account_key_secret"),
            (Box::new(|c: &mut ServeConfig| c.webhook_timeout_ms = 0), "webhook_timeout_ms"),
            (Box::new(|c: &mut ServeConfig| c.log = "sunbeam=loud".into()), "log"),
        ];
        for (tweak, setting) in cases {
            let mut c = base.clone();
            tweak(&mut c);
            let e = c.validate().err().unwrap_or_else(|| panic!("{setting} accepted"));
            assert_eq!(e.setting, setting);
            assert!(e.to_string().contains(&format!("`{setting}`")), "{e}");
        }
    }

    #[test]
    fn every_setting_is_in_the_readme_with_its_variable() {
        let readme = include_str!("../README.md");
        let settings = ServeConfig::augment_args(clap::Command::new("settings"));
        for a in settings.get_arguments().filter(|a| a.get_long().is_some()) {
            let env = a.get_env().expect("every setting has a variable").to_string_lossy().to_string();
            assert!(readme.contains(&format!("`{env}`")), "README's configuration table lacks {env}");
            assert!(readme.contains(&format!("`{}`", a.get_id())), "README's configuration table lacks the file name `{}`", a.get_id());
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
    /// peer address of the connection, or behind one of `trusted_proxies` the address it
    /// forwarded for; 0 turns it off).
    #[arg(long, env = "SUNBEAM_RATE_LIMIT_IP_PER_SECOND", default_value_t = 300)]
    pub rate_limit_ip_per_second: u32,
    #[arg(long, env = "SUNBEAM_RATE_LIMIT_IP_BURST", default_value_t = 600)]
    pub rate_limit_ip_burst: u32,

    /// Load balancers and proxies, comma separated, as addresses or `address/prefix`
    /// networks (`10.0.0.0/8,::1`). A request whose peer is one of them is counted against
    /// the per-IP limit by its `X-Forwarded-For`: the right-most address there that is not
    /// itself a trusted proxy. Empty (the default): `X-Forwarded-For` is never read, so a
    /// client cannot pick its own address.
    #[arg(long, env = "SUNBEAM_TRUSTED_PROXIES", value_delimiter = ',', value_parser = ProxyNet::parse)]
    pub trusted_proxies: Vec<ProxyNet>,

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

/// An address or network of trusted proxies (`trusted_proxies`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyNet(ipnet::IpNet);

impl ProxyNet {
    pub fn parse(text: &str) -> Result<ProxyNet, String> {
        let text = text.trim();
        // A bare address is the network of that one host.
        let net = text.parse::<ipnet::IpNet>().or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from));
        net.map(ProxyNet).map_err(|_| format!("{text:?} is not an IP address or address/prefix (a prefix of at most 32 for IPv4, 128 for IPv6)"))
    }

    /// Whether `ip` is in this network (an IPv4-mapped IPv6 address counts as its IPv4 one).
    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        use std::net::IpAddr;
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        self.0.contains(&ip)
    }
}

impl std::fmt::Display for ProxyNet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
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
            trusted_proxies: Vec::new(),
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

    #[test]
    fn trusted_proxies_are_addresses_or_networks() {
        let parsed = Cli::parse_from(["sunbeam", "--trusted-proxies", "10.0.0.0/8,::1,192.168.1.7"]).limits.trusted_proxies;
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        assert_eq!(parsed.len(), 3);
        assert!(parsed[0].contains(ip("10.200.3.4")));
        assert!(!parsed[0].contains(ip("11.0.0.1")));
        assert!(parsed[0].contains(ip("::ffff:10.1.2.3")), "an IPv4-mapped peer is its IPv4 address");
        assert!(parsed[1].contains(ip("::1")) && !parsed[1].contains(ip("::2")));
        assert!(parsed[2].contains(ip("192.168.1.7")) && !parsed[2].contains(ip("192.168.1.8")));
        assert!(!parsed[2].contains(ip("::1")), "families never match each other");
        assert!(ProxyNet::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        assert!(ProxyNet::parse("::/0").unwrap().contains(ip("2001:db8::1")));
        for bad in ["10.0.0.0/33", "::1/129", "10.0.0/8", "proxy.local", "10.0.0.0/x"] {
            assert!(ProxyNet::parse(bad).is_err(), "{bad} was accepted");
        }
        let refused = match Cli::try_parse_from(["sunbeam", "--trusted-proxies", "10.0.0.0/99"]) {
            Ok(_) => panic!("a prefix of 99 was accepted"),
            Err(refusal) => refusal.to_string(),
        };
        assert!(refused.contains("--trusted-proxies"), "the refusal names the setting: {refused}");
    }

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
