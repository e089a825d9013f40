//! Prometheus metrics (`GET /metrics`), through the `metrics` facade and its Prometheus
//! exporter. Every name is spelled here and nowhere else: the rest of the code calls the
//! small functions below, so an instrumented spot is one line, and
//! `deploy/grafana/sunbeam.json` (checked by `tests/api/observability.rs`) queries only
//! these names.
//!
//! The recorder is process-wide (the `metrics` facade has one global recorder): several
//! servers in one process (tests) share it.

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram, Unit};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

pub const HTTP_REQUESTS: &str = "sunbeam_http_requests_total";
pub const HTTP_DURATION: &str = "sunbeam_http_request_duration_seconds";
pub const STORE_WRITE_DURATION: &str = "sunbeam_store_write_duration_seconds";
pub const STORE_WRITE_ERRORS: &str = "sunbeam_store_write_errors_total";
pub const STORE_BATCH_SIZE: &str = "sunbeam_store_write_batch_size";
pub const STORE_BATCH_DURATION: &str = "sunbeam_store_write_batch_duration_seconds";
pub const WEBHOOK_QUEUE: &str = "sunbeam_webhook_queue_depth";
pub const WEBHOOK_ATTEMPTS: &str = "sunbeam_webhook_attempts_total";
pub const WEBHOOK_ATTEMPT_DURATION: &str = "sunbeam_webhook_attempt_duration_seconds";
pub const REALTIME_CONNECTIONS: &str = "sunbeam_realtime_connections";
pub const REALTIME_CLIENTS: &str = "sunbeam_realtime_clients";
pub const REALTIME_DROPPED: &str = "sunbeam_realtime_dropped_slow_clients_total";
pub const REALTIME_PUBLISHED: &str = "sunbeam_realtime_events_published_total";
pub const CLUSTER_NOTIFY: &str = "sunbeam_cluster_notifications_sent_total";
pub const CLUSTER_WAKEUPS: &str = "sunbeam_cluster_wakeups_total";
pub const CLUSTER_LISTENING: &str = "sunbeam_cluster_listening";
pub const OPEN_FILES_LIMIT: &str = "sunbeam_open_files_limit";

/// Seconds: 0.5 ms to 30 s.
const LATENCY_BUCKETS: &[f64] = &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];
/// Writes per group commit: 1 to the SQLite writer's 1024.
const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0];

const UPKEEP_EVERY: Duration = Duration::from_secs(5);

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the recorder (once per process) and returns its handle; None if another
/// recorder was installed first (an embedding program's own).
pub fn init() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
                .and_then(|b| b.set_buckets_for_metric(Matcher::Full(STORE_BATCH_SIZE.into()), BATCH_BUCKETS));
            let recorder = match builder {
                Ok(b) => b.build_recorder(),
                Err(e) => {
                    tracing::warn!(error = %e, "metrics: cannot configure the exporter");
                    return None;
                }
            };
            let handle = recorder.handle();
            if let Err(e) = metrics::set_global_recorder(recorder) {
                tracing::warn!(error = %e, "metrics: another recorder is installed; /metrics is empty");
                return None;
            }
            describe();
            // Histograms keep their samples until upkeep folds them into the buckets: do it
            // now and then even when nobody scrapes, so memory stays flat. A thread, not a
            // task: the recorder outlives any one runtime (tests start many).
            let upkeep = handle.clone();
            let _ = std::thread::Builder::new().name("metrics-upkeep".into()).spawn(move || loop {
                std::thread::sleep(UPKEEP_EVERY);
                upkeep.run_upkeep();
            });
            Some(handle)
        })
        .as_ref()
}

/// The Prometheus text exposition of everything recorded in this process.
pub fn render() -> String {
    match init() {
        Some(h) => {
            h.run_upkeep();
            h.render()
        }
        None => String::new(),
    }
}

fn describe() {
    describe_counter!(HTTP_REQUESTS, "HTTP requests answered, by route template, method and status");
    describe_histogram!(HTTP_DURATION, Unit::Seconds, "HTTP request latency, by route template and method");
    describe_histogram!(STORE_WRITE_DURATION, Unit::Seconds, "Store writes: from submission to durable commit, as the caller waits");
    describe_counter!(STORE_WRITE_ERRORS, "Store writes that failed (rolled back or not committed)");
    describe_histogram!(STORE_BATCH_SIZE, Unit::Count, "Writes committed together in one transaction (SQLite group commit; 1 on PostgreSQL)");
    describe_histogram!(STORE_BATCH_DURATION, Unit::Seconds, "Time to run and commit one write transaction");
    describe_gauge!(WEBHOOK_QUEUE, Unit::Count, "Webhook deliveries pending (in flight or waiting for a retry), cluster-wide, read at scrape time");
    describe_counter!(WEBHOOK_ATTEMPTS, "Webhook delivery attempts, by outcome");
    describe_histogram!(WEBHOOK_ATTEMPT_DURATION, Unit::Seconds, "Webhook attempt latency (request to answer)");
    describe_gauge!(REALTIME_CONNECTIONS, Unit::Count, "Open realtime WebSockets on this node");
    describe_gauge!(REALTIME_CLIENTS, Unit::Count, "Bayeux clients known to this node");
    describe_counter!(REALTIME_DROPPED, "Realtime clients dropped because they did not keep up");
    describe_counter!(REALTIME_PUBLISHED, "Messages published to realtime channels on this node");
    describe_counter!(CLUSTER_NOTIFY, "NOTIFY wake-ups sent to the other nodes, by result");
    describe_counter!(CLUSTER_WAKEUPS, "Wake-ups received from other nodes (LISTEN)");
    describe_gauge!(CLUSTER_LISTENING, Unit::Count, "1 while this node's LISTEN connection is up (PostgreSQL)");
    describe_gauge!(OPEN_FILES_LIMIT, Unit::Count, "The process's soft open-files limit (each connection needs one)");
    // Present from the start, so a dashboard shows zeros rather than "no data".
    counter!(REALTIME_DROPPED).absolute(0);
    counter!(STORE_WRITE_ERRORS).absolute(0);
    gauge!(REALTIME_CONNECTIONS).set(0.0);
    counter!(CLUSTER_WAKEUPS).absolute(0);
    counter!(CLUSTER_NOTIFY, "result" => "ok").absolute(0);
    counter!(CLUSTER_NOTIFY, "result" => "error").absolute(0);
    gauge!(CLUSTER_LISTENING).set(0.0);
}

/// One answered HTTP request; `route` is the route template (`/v2/apps/{appId}`), never
/// the raw path (whose ids would make a series per resource).
pub fn http_request(route: &str, method: &str, status: u16, elapsed: Duration) {
    let seconds = elapsed.as_secs_f64();
    // Only once this module's recorder is in: a handle taken before would be a no-op one.
    if !matches!(HANDLE.get(), Some(Some(_))) {
        let series = HttpHandles::of(route, method, status);
        series.requests.increment(1);
        series.duration.record(seconds);
        return;
    }
    HTTP_HANDLES.with(|handles| {
        let mut handles = handles.borrow_mut();
        let of_route = match handles.get_mut(route) {
            Some(of_route) => of_route,
            None => handles.entry(route.to_string()).or_default(),
        };
        let at = match of_route.iter().position(|h| h.method == method && h.status == status) {
            Some(at) => at,
            None => {
                of_route.push(HttpHandles::of(route, method, status));
                of_route.len() - 1
            }
        };
        of_route[at].requests.increment(1);
        of_route[at].duration.record(seconds);
    });
}

/// A request's two series, for one route, method and status.
struct HttpHandles {
    method: String,
    status: u16,
    requests: metrics::Counter,
    duration: metrics::Histogram,
}

impl HttpHandles {
    /// Names the two series and finds them in the registry.
    fn of(route: &str, method: &str, status: u16) -> HttpHandles {
        HttpHandles {
            method: method.to_string(),
            status,
            requests: counter!(HTTP_REQUESTS, "route" => route.to_string(), "method" => method.to_string(), "status" => status.to_string()),
            duration: histogram!(HTTP_DURATION, "route" => route.to_string(), "method" => method.to_string()),
        }
    }
}

thread_local! {
    /// The series' handles by route, kept by each thread: naming a series (three label
    /// strings) and finding it in the registry cost more than recording into it.
    static HTTP_HANDLES: std::cell::RefCell<std::collections::HashMap<String, Vec<HttpHandles>>> = Default::default();
}

/// One store write as its caller saw it.
pub fn store_write(ok: bool, elapsed: Duration) {
    histogram!(STORE_WRITE_DURATION).record(elapsed.as_secs_f64());
    if !ok {
        counter!(STORE_WRITE_ERRORS).increment(1);
    }
}

/// One write transaction of the backend: how many writes it carried, how long it took.
pub fn store_batch(writes: usize, elapsed: Duration) {
    histogram!(STORE_BATCH_SIZE).record(writes as f64);
    histogram!(STORE_BATCH_DURATION).record(elapsed.as_secs_f64());
}

pub fn webhook_queue(pending: i64) {
    gauge!(WEBHOOK_QUEUE).set(pending as f64);
}

/// One webhook attempt: `outcome` is `delivered`, `retry` or `failed` (what happens to the
/// delivery), `reason` what the target did (`2xx`, `http_4xx`, `http_5xx`, `timeout`,
/// `connect`, `refused`…).
pub fn webhook_attempt(outcome: &'static str, reason: &'static str, elapsed: Duration) {
    counter!(WEBHOOK_ATTEMPTS, "outcome" => outcome, "reason" => reason).increment(1);
    histogram!(WEBHOOK_ATTEMPT_DURATION).record(elapsed.as_secs_f64());
}

/// The realtime state of this node: open WebSockets, Bayeux clients, and the Bayeux
/// core's own running totals (published, dropped slow clients).
pub fn realtime_state(sockets: usize, stats: &crate::realtime::bayeux::Stats) {
    gauge!(REALTIME_CONNECTIONS).set(sockets as f64);
    gauge!(REALTIME_CLIENTS).set(stats.clients as f64);
    counter!(REALTIME_DROPPED).absolute(stats.dropped_slow);
    counter!(REALTIME_PUBLISHED).absolute(stats.published);
}

pub fn cluster_notify(ok: bool) {
    counter!(CLUSTER_NOTIFY, "result" => if ok { "ok" } else { "error" }).increment(1);
}

pub fn cluster_wakeup() {
    counter!(CLUSTER_WAKEUPS).increment(1);
}

pub fn cluster_listening(up: bool) {
    gauge!(CLUSTER_LISTENING).set(if up { 1.0 } else { 0.0 });
}

pub fn open_files_limit(limit: u64) {
    gauge!(OPEN_FILES_LIMIT).set(limit as f64);
}
