//! `sunbeam doctor`: what an operator checks before and while running a deployment. Each
//! check prints one line, `ok`, `warn` or `FAIL`, with what was found; the command exits
//! non-zero when anything failed. It changes nothing: the store is opened without
//! migrating, and a missing master key file is reported, not created.

use std::time::Duration;

use crate::config::ServeConfig;
use crate::domain::time::now_ms;
use crate::store::{SecretBox, Store, StoreLimits};

/// Clocks further apart than this make ids, retries and the hub's windows misbehave.
const SKEW_WARN_MS: i64 = 500;
const SKEW_FAIL_MS: i64 = 5_000;

#[derive(Default)]
struct Report {
    failed: usize,
    warned: usize,
}

impl Report {
    fn ok(&mut self, what: &str, detail: impl std::fmt::Display) {
        println!("ok    {what}: {detail}");
    }
    fn warn(&mut self, what: &str, detail: impl std::fmt::Display) {
        self.warned += 1;
        println!("warn  {what}: {detail}");
    }
    fn fail(&mut self, what: &str, detail: impl std::fmt::Display) {
        self.failed += 1;
        println!("FAIL  {what}: {detail}");
    }
}

pub async fn run(config: ServeConfig) -> Result<(), String> {
    let mut r = Report::default();
    check(&config, &mut r).await;
    println!("\n{} failed, {} warnings", r.failed, r.warned);
    if r.failed > 0 {
        Err(format!("{} check(s) failed", r.failed))
    } else {
        Ok(())
    }
}

async fn check(config: &ServeConfig, r: &mut Report) {
    // Configuration.
    match config.validate() {
        Ok(()) => r.ok("configuration", format!("listen {}, store {}, log {:?} ({:?})", config.listen, redact(&config.database_url), config.log, config.log_format)),
        Err(e) => r.fail("configuration", e),
    }
    let key = match &config.master_key {
        Some(_) => {
            r.ok("master key", "from SUNBEAM_MASTER_KEY / master_key");
            crate::server::load_master_key(config).ok()
        }
        None => {
            let path = config.data_dir.join("master.key");
            if path.exists() {
                match crate::server::load_master_key(config) {
                    Ok(k) => {
                        r.ok("master key", format!("{}", path.display()));
                        Some(k)
                    }
                    Err(e) => {
                        r.fail("master key", e);
                        None
                    }
                }
            } else {
                r.warn("master key", format!("{} does not exist yet (serve creates it; every node of a cluster needs the same key: set SUNBEAM_MASTER_KEY)", path.display()));
                None
            }
        }
    };
    let files = crate::os::open_files_limit();
    match files {
        Some(n) if n < 4096 => r.warn("open files", format!("soft limit {n} now; serve raises it to the hard limit at start (each connection needs one)")),
        Some(n) => r.ok("open files", format!("soft limit {n}")),
        None => r.warn("open files", "unknown on this platform"),
    }

    // The store, without changing it.
    if let Some(path) = config.database_url.strip_prefix("sqlite://") {
        if !std::path::Path::new(path).exists() {
            r.warn("store", format!("{path} does not exist yet (serve creates it)"));
            return;
        }
    }
    let opened = tokio::time::timeout(Duration::from_secs(10), Store::open_unmigrated(&config.database_url, SecretBox::new(key.unwrap_or([0; 32])), StoreLimits::default())).await;
    let store = match opened {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return r.fail("store", format!("cannot open {}: {e}", redact(&config.database_url))),
        Err(_) => return r.fail("store", format!("{} did not answer within 10 s", redact(&config.database_url))),
    };
    match store.ping().await {
        Ok(()) => r.ok("store", format!("{} answers ({:?})", redact(&config.database_url), store.dialect())),
        Err(e) => {
            r.fail("store", e);
            return store.close().await;
        }
    }
    let current = match store.migration_status().await {
        Ok((applied, known)) => {
            let pending: Vec<i64> = known.iter().copied().filter(|v| !applied.contains(v)).collect();
            let unknown: Vec<i64> = applied.iter().copied().filter(|v| !known.contains(v)).collect();
            if !unknown.is_empty() {
                r.fail("migrations", format!("the database has versions {unknown:?} this build does not know: it was migrated by a newer sunbeam"));
                false
            } else if applied.is_empty() {
                r.warn("migrations", "an empty database: serve creates the schema at start");
                false
            } else if !pending.is_empty() {
                r.warn("migrations", format!("{pending:?} not applied yet (serve applies them at start)"));
                false
            } else {
                r.ok("migrations", format!("current (version {})", known.last().copied().unwrap_or(0)));
                true
            }
        }
        Err(e) => {
            r.fail("migrations", e);
            false
        }
    };

    if current {
        webhooks(&store, r).await;
    }
    clocks(&store, r).await;
    store.close().await;
}

async fn webhooks(store: &Store, r: &mut Report) {
    match store.unrouted_events().await {
        Ok(n) if n > 1000 => r.warn("webhook routing", format!("{n} events not yet routed (is a node running?)")),
        Ok(n) => r.ok("webhook routing", format!("{n} events not yet routed")),
        Err(e) => r.fail("webhook routing", e),
    }
    match store.webhook_statuses(None).await {
        Ok(all) => {
            let pending: i64 = all.iter().map(|w| w.pending).sum();
            let failed: i64 = all.iter().map(|w| w.failed).sum();
            let failing: Vec<_> = all.iter().filter(|w| w.consecutive_failures > 0 || w.parked_until.is_some()).collect();
            let detail = format!("{} webhooks, {pending} deliveries pending, {failed} failed for good in the last 7 days", all.len());
            if failing.is_empty() {
                r.ok("webhooks", detail);
            } else {
                r.warn("webhooks", format!("{detail}; {} failing now:", failing.len()));
                for w in failing.iter().take(20) {
                    let parked = w.parked_until.as_deref().map(|t| format!(", parked until {t}")).unwrap_or_default();
                    println!("        {} -> {} ({} failures in a row{parked}; last: {})", w.webhook_id, w.target, w.consecutive_failures, w.last_error.as_deref().unwrap_or("?"));
                }
                if failing.len() > 20 {
                    println!("        … see `sunbeam webhooks status`");
                }
            }
        }
        Err(e) => r.fail("webhooks", e),
    }
}

/// This machine's clock against the database's (PostgreSQL), which every node is compared
/// with: two nodes each within `SKEW_WARN_MS` of it are within twice that of each other.
async fn clocks(store: &Store, r: &mut Report) {
    match store.database_clock_ms().await {
        Ok(None) => r.ok("clock", "one node (SQLite): no other clock to agree with"),
        Ok(Some((db, rtt))) => {
            // The database read its clock about half a round trip before we got the answer.
            let local = now_ms() - (rtt.as_millis() as i64) / 2;
            let skew = local - db;
            let detail = format!("this machine is {skew:+} ms from the database's clock (±{} ms)", rtt.as_millis() / 2 + 1);
            match skew.abs() {
                s if s >= SKEW_FAIL_MS => r.fail("clock", detail),
                s if s >= SKEW_WARN_MS => r.warn("clock", format!("{detail}: run NTP on every node")),
                _ => r.ok("clock", detail),
            }
            match store.listening_nodes().await {
                Ok(nodes) if nodes.is_empty() => r.warn("nodes", "no node is listening for wake-ups now (none running?)"),
                Ok(nodes) => {
                    let names: Vec<String> = nodes.iter().map(|(n, since)| format!("{n} (up {} s)", (db - since).max(0) / 1000)).collect();
                    r.ok("nodes", format!("{} listening: {}; run `sunbeam doctor` on each to check its clock", nodes.len(), names.join(", ")))
                }
                Err(e) => r.warn("nodes", format!("cannot list them: {e}")),
            }
        }
        Err(e) => r.fail("clock", e),
    }
}

/// A database URL without its password.
pub fn redact(url: &str) -> String {
    match url.split_once('@') {
        Some((left, right)) if left.contains("://") => format!("{}://…@{right}", left.split("://").next().unwrap_or("")),
        _ => url.to_string(),
    }
}
