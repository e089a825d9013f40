//! PostgreSQL faults, on a throwaway PostgreSQL of this test's own (`initdb` into a temp
//! dir, its own port, run as the `postgres` user when the test runs as root): its
//! connections killed with `pg_terminate_backend`, then the whole database stopped and
//! started again. The shared PostgreSQL other tests use is never touched.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::common::{eventually, report_skipped};
use crate::{assert_listed_in_order, posters, Api, Process};

/// The newest `/usr/lib/postgresql/*/bin` holding `initdb` and `pg_ctl`.
fn pg_bin() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql").ok()?.filter_map(|e| Some(e.ok()?.path().join("bin"))).filter(|b| b.join("initdb").exists() && b.join("pg_ctl").exists()).collect();
    dirs.sort();
    dirs.pop()
}

struct Throwaway {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
    _dir: tempfile::TempDir,
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Runs a PostgreSQL tool, as `postgres` when we are root (PostgreSQL refuses root).
fn run(bin: &Path, tool: &str, args: &[&str]) -> std::process::Output {
    let exe = bin.join(tool);
    let mut cmd = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(&exe);
        c
    } else {
        Command::new(&exe)
    };
    cmd.args(args).stdin(Stdio::null()).output().unwrap_or_else(|e| panic!("run {tool}: {e}"))
}

impl Throwaway {
    fn start() -> Option<Throwaway> {
        let Some(bin) = pg_bin() else {
            if std::env::var("CI").is_ok() {
                panic!("the fault tests need PostgreSQL's initdb and pg_ctl under /usr/lib/postgresql/*/bin");
            }
            report_skipped("no initdb/pg_ctl under /usr/lib/postgresql/*/bin");
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        if is_root() {
            let c = std::ffi::CString::new(dir.path().as_os_str().as_encoded_bytes()).unwrap();
            let pw = unsafe { libc::getpwnam(c"postgres".as_ptr()) };
            assert!(!pw.is_null(), "running as root needs a postgres user to run PostgreSQL as");
            // SAFETY: pw is a valid passwd entry; c a valid path.
            unsafe { assert_eq!(libc::chown(c.as_ptr(), (*pw).pw_uid, (*pw).pw_gid), 0) };
        }
        let data = dir.path().join("data");
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let out = run(&bin, "initdb", &["-D", data.to_str().unwrap(), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]);
        assert!(out.status.success(), "initdb: {}", String::from_utf8_lossy(&out.stderr));
        let pg = Throwaway { bin, data, port, _dir: dir };
        pg.pg_ctl_start();
        Some(pg)
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn pg_ctl_start(&self) {
        let opts = format!("-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off", self.port, self._dir.path().display());
        let log = self._dir.path().join("log");
        let out = run(&self.bin, "pg_ctl", &["-D", self.data.to_str().unwrap(), "-o", &opts, "-l", log.to_str().unwrap(), "-w", "-t", "30", "start"]);
        assert!(out.status.success(), "pg_ctl start: {} {}", String::from_utf8_lossy(&out.stdout), std::fs::read_to_string(&log).unwrap_or_default());
    }

    fn stop(&self) {
        let out = run(&self.bin, "pg_ctl", &["-D", self.data.to_str().unwrap(), "-m", "fast", "-w", "-t", "30", "stop"]);
        assert!(out.status.success(), "pg_ctl stop: {}", String::from_utf8_lossy(&out.stderr));
    }
}

impl Drop for Throwaway {
    fn drop(&mut self) {
        let _ = run(&self.bin, "pg_ctl", &["-D", self.data.to_str().unwrap(), "-m", "immediate", "-w", "stop"]);
    }
}

async fn terminate_backends(url: &str) -> i64 {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(url).await.expect("connect to the throwaway PostgreSQL");
    let (n,): (i64,) = sqlx::query_as(
        "SELECT count(pg_terminate_backend(pid))::BIGINT FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_connections_and_a_stopped_database_answer_503_and_recover_without_a_restart() {
    let Some(pg) = Throwaway::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let server = Process::start(dir.path(), &pg.url());
    let api = Api::new(&server.base);
    let (app, conv) = api.fixture(&[]).await;

    // Clients post throughout; every answer is 201 or a clean 503.
    let stop = Arc::new(AtomicBool::new(false));
    let tasks = posters(&api, &app, &conv, stop.clone());
    let count = || async { api.try_call("GET", &format!("/v2/apps/{app}/conversations/{conv}/messages"), None).await.map(|r| (r.0, r.1["messages"].as_array().map_or(0, Vec::len))) };
    eventually("some messages before the faults", || async {
        match count().await {
            Ok((200, n)) if n >= 20 => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;

    // 1. Every connection of the server killed under it.
    let killed = terminate_backends(&pg.url()).await;
    assert!(killed > 0, "the server had connections to kill");
    eventually("a write succeeding again after pg_terminate_backend", || async {
        match api.post(&app, &conv, "after terminate").await {
            Ok((201, _, _)) => Ok(()),
            Ok((503, _, Some(_))) => Err("503 with Retry-After".to_string()),
            other => panic!("only 201 or 503 with Retry-After: {other:?}"),
        }
    })
    .await;

    // 2. The database gone for a while.
    pg.stop();
    for _ in 0..3 {
        let (status, body, retry_after) = api.post(&app, &conv, "while stopped").await.expect("an answer");
        assert_eq!(status, 503, "{body}");
        assert!(retry_after.is_some(), "503 carries Retry-After");
        assert_eq!(body["errors"][0]["code"], "service_unavailable", "{body}");
    }
    let (status, body, _) = api.try_call("GET", &format!("/v2/apps/{app}/conversations/{conv}/messages"), None).await.unwrap();
    assert_eq!(status, 503, "reads too: {body}");

    // 3. Back: the same server process recovers by itself.
    pg.pg_ctl_start();
    eventually("a write succeeding once PostgreSQL is back", || async {
        match api.post(&app, &conv, "after restart").await {
            Ok((201, _, _)) => Ok(()),
            Ok((503, _, _)) => Err("503".to_string()),
            other => panic!("only 201 or 503: {other:?}"),
        }
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    let mut acked = vec![];
    for t in tasks {
        acked.push(t.await.unwrap());
    }
    let listed = api.all_messages(&app, &conv).await;
    assert_listed_in_order(&listed, &acked);
    drop(server);
}
