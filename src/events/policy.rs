//! The delivery policy: settings, the retry schedule and how an answer is judged. Pure.

use std::time::Duration;

use rand::Rng;

use crate::config::ServeConfig;
use crate::domain::delivery::{CircuitPolicy, Health, Verdict};

/// Everything the dispatcher can be tuned with. `Default` is the spec's policy: 5
/// attempts over about 15 minutes (retries after ~1, 2, 4 and 8 minutes, ±20 %), a 20 s
/// timeout.
#[derive(Debug, Clone)]
pub struct DeliverySettings {
    /// Waits before the 2nd, 3rd… attempt; attempts = this length + 1.
    pub retry_delays: Vec<Duration>,
    /// Each wait is scaled by a random factor in [1 - jitter, 1 + jitter].
    pub jitter: f64,
    /// No answer within this counts as a failure (and is retried).
    pub timeout: Duration,
    /// Only deliver to public addresses (refuse loopback, private, link-local…).
    pub public_only: bool,
    /// At most this many requests in flight per webhook on one node.
    pub per_target_concurrency: usize,
    /// At most this many events in one request (the envelope's `events` array). Due
    /// events of one webhook travel together; those of one conversation in order.
    pub max_batch: usize,
    /// At most this many requests in flight on one node.
    pub max_in_flight: usize,
    /// Failures in a row that park a webhook (its circuit opens)…
    pub circuit_threshold: i64,
    /// …for this long, doubling with each further failure up to `circuit_max_park`.
    pub circuit_park: Duration,
    pub circuit_max_park: Duration,
    /// Events routed per transaction.
    pub route_batch: i64,
    /// Even without a wake-up, look for work this often (events from other nodes,
    /// expired leases).
    pub poll_interval: Duration,
    /// How long a claimed delivery stays reserved to its node.
    pub lease: Duration,
    /// Response bodies are read (and dropped) up to this many bytes.
    pub max_response_bytes: usize,
    /// Finished deliveries and their attempts are kept this long.
    pub retention: Duration,
    /// A delivery still pending after this long (a parked target) is given up.
    pub max_pending_age: Duration,
    /// How often retention runs.
    pub prune_interval: Duration,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        let minute = Duration::from_secs(60);
        DeliverySettings {
            retry_delays: vec![minute, 2 * minute, 4 * minute, 8 * minute],
            jitter: 0.2,
            timeout: Duration::from_secs(20),
            public_only: false,
            per_target_concurrency: 4,
            max_batch: 100,
            max_in_flight: 256,
            circuit_threshold: 10,
            circuit_park: minute,
            circuit_max_park: 15 * minute,
            route_batch: 200,
            poll_interval: Duration::from_secs(2),
            lease: Duration::from_secs(60),
            max_response_bytes: 64 * 1024,
            retention: Duration::from_secs(7 * 24 * 3600),
            max_pending_age: Duration::from_secs(24 * 3600),
            prune_interval: Duration::from_secs(600),
        }
    }
}

impl DeliverySettings {
    /// The settings an operator configured (`SUNBEAM_WEBHOOK_*`), defaults elsewhere.
    pub fn from_config(config: &ServeConfig) -> Self {
        let mut s = DeliverySettings { public_only: config.webhook_public_only, ..Default::default() };
        s.timeout = Duration::from_millis(config.webhook_timeout_ms.max(1));
        if !config.webhook_retry_delays_ms.is_empty() {
            s.retry_delays = config.webhook_retry_delays_ms.iter().map(|ms| Duration::from_millis(*ms)).collect();
        }
        // A lease must outlive the request it covers; a park follows the retry pace.
        s.lease = s.timeout * 2 + Duration::from_secs(10);
        let first = s.retry_delays.first().copied().unwrap_or(Duration::from_secs(60));
        let last = s.retry_delays.last().copied().unwrap_or(first);
        s.circuit_park = first;
        s.circuit_max_park = last.max(first);
        s.poll_interval = s.poll_interval.min(first.max(Duration::from_millis(20)));
        s
    }

    pub fn max_attempts(&self) -> i64 {
        self.retry_delays.len() as i64 + 1
    }

    /// The wait before attempt `made + 1`, after `made` attempts (1-based), jittered.
    pub fn backoff(&self, made: i64, rng: &mut impl Rng) -> Duration {
        self.backoff_scaled(made, self.jitter_factor(rng))
    }

    /// A random factor in [1 - jitter, 1 + jitter].
    pub fn jitter_factor(&self, rng: &mut impl Rng) -> f64 {
        if self.jitter > 0.0 { rng.gen_range((1.0 - self.jitter)..=(1.0 + self.jitter)) } else { 1.0 }
    }

    /// The wait before attempt `made + 1`, scaled by `factor` (see `jitter_factor`).
    pub fn backoff_scaled(&self, made: i64, factor: f64) -> Duration {
        let idx = (made.max(1) - 1) as usize;
        let base = self.retry_delays.get(idx).or(self.retry_delays.last()).copied().unwrap_or(Duration::from_secs(60));
        base.mul_f64(factor.max(0.0))
    }

    pub fn circuit(&self) -> CircuitPolicy {
        CircuitPolicy {
            threshold: self.circuit_threshold,
            park_ms: self.circuit_park.as_millis() as i64,
            max_park_ms: self.circuit_max_park.as_millis() as i64,
        }
    }
}

/// What came back from one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Status(u16),
    /// No answer within the timeout.
    Timeout,
    /// Could not connect, or the exchange broke off.
    Transport(String),
    /// Sunbeam refuses to call this target (e.g. a private address in public-only mode).
    Refused(String),
}

/// The statuses the spec calls non-recoverable: never retried.
pub const NON_RECOVERABLE: &[u16] = &[400, 401, 403, 404, 406];

/// Judges an answer after `made` attempts (this one included).
pub fn judge(answer: &Answer, made: i64, max_attempts: i64) -> (Verdict, Health) {
    let retry_or_fail = |health| if made < max_attempts { (Verdict::Retry { at: 0 }, health) } else { (Verdict::Failed, health) };
    match answer {
        Answer::Status(s) if (200..300).contains(s) => (Verdict::Delivered, Health::Up),
        Answer::Status(s) if NON_RECOVERABLE.contains(s) => (Verdict::Failed, Health::Neutral),
        Answer::Status(_) | Answer::Timeout | Answer::Transport(_) => retry_or_fail(Health::Down),
        Answer::Refused(_) => (Verdict::Failed, Health::Neutral),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_schedule_spans_about_fifteen_minutes() {
        let s = DeliverySettings::default();
        assert_eq!(s.max_attempts(), 5);
        let total: Duration = s.retry_delays.iter().sum();
        assert_eq!(total, Duration::from_secs(15 * 60));
        let mut rng = rand::thread_rng();
        for made in 1..5 {
            let d = s.backoff(made, &mut rng);
            let base = s.retry_delays[(made - 1) as usize];
            assert!(d >= base.mul_f64(0.8) && d <= base.mul_f64(1.2), "{d:?} vs {base:?}");
        }
    }

    #[test]
    fn verdicts() {
        assert_eq!(judge(&Answer::Status(200), 1, 5).0, Verdict::Delivered);
        assert_eq!(judge(&Answer::Status(204), 5, 5).0, Verdict::Delivered);
        for s in NON_RECOVERABLE {
            assert_eq!(judge(&Answer::Status(*s), 1, 5), (Verdict::Failed, Health::Neutral));
        }
        assert!(matches!(judge(&Answer::Status(500), 1, 5).0, Verdict::Retry { .. }));
        assert!(matches!(judge(&Answer::Status(429), 4, 5).0, Verdict::Retry { .. }));
        assert!(matches!(judge(&Answer::Status(302), 1, 5).0, Verdict::Retry { .. }));
        assert!(matches!(judge(&Answer::Timeout, 1, 5).0, Verdict::Retry { .. }));
        assert_eq!(judge(&Answer::Status(500), 5, 5), (Verdict::Failed, Health::Down));
        assert_eq!(judge(&Answer::Refused("private".into()), 1, 5).0, Verdict::Failed);
    }

    #[test]
    fn circuit_parks_after_the_threshold_and_doubles() {
        let c = CircuitPolicy { threshold: 3, park_ms: 100, max_park_ms: 350 };
        assert_eq!(c.park_for(2), None);
        assert_eq!(c.park_for(3), Some(100));
        assert_eq!(c.park_for(4), Some(200));
        assert_eq!(c.park_for(9), Some(350));
    }
}
