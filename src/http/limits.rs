//! Overload protection at the edge: rate limits per caller (API key, app, end user) and
//! per client address, from the `governor` crate (GCRA, one cell per key), and the limits
//! on one request (header bytes, time). Configured by [`LimitsConfig`].
//!
//! Where each limit is checked:
//! - per IP: [`per_ip`], a middleware, before anything else is read;
//! - per key and per app: the business API's `Caller` extractor, after the credentials are
//!   verified, so that a forged or foreign credential never spends a real key's budget and a
//!   burst from one key never throttles another;
//! - per end user and per app: the SDK API's extractor, after verification.
//!
//! Every refusal is 429 `too_many_requests` in the caller's error envelope, with
//! `Retry-After` in whole seconds (at least 1).

use std::future::Future;
use std::hash::Hash;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::error::ApiError;
use crate::config::{LimitsConfig, ProxyNet};

/// Which budget a request was over; names it in the 429's title.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    Key,
    App,
    User,
    Ip,
}

impl Budget {
    fn title(self) -> &'static str {
        match self {
            Budget::Key => "Too many requests with this API key",
            Budget::App => "Too many requests to this app",
            Budget::User => "Too many requests from this user",
            Budget::Ip => "Too many requests from this address",
        }
    }
}

/// One keyed limiter, swept of idle keys now and then so that its memory stays bounded
/// by the keys active within about one burst period.
struct Keyed<K: Hash + Eq + Clone> {
    limiter: DefaultKeyedRateLimiter<K>,
    checks: AtomicU64,
}

/// Keys are swept every this many checks.
const SWEEP_EVERY: u64 = 8192;

impl<K: Hash + Eq + Clone> Keyed<K> {
    fn new(per_second: u32, burst: u32) -> Option<Self> {
        let rate = NonZeroU32::new(per_second)?;
        let burst = NonZeroU32::new(burst.max(1)).unwrap_or(rate);
        Some(Keyed { limiter: RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst)), checks: AtomicU64::new(0) })
    }

    /// `Err(wait)` when `key` is over its rate.
    fn check(&self, key: &K) -> Result<(), Duration> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.limiter.retain_recent();
            self.limiter.shrink_to_fit();
        }
        self.limiter.check_key(key).map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }
}

/// Everything the edge limits need, from [`LimitsConfig`] (one field of `AppState`).
#[derive(Clone)]
pub struct Guard {
    pub rates: RateLimits,
    pub max_header_bytes: usize,
    pub request_timeout: Duration,
    trusted_proxies: Arc<[ProxyNet]>,
}

impl Guard {
    pub fn new(config: &LimitsConfig) -> Self {
        Guard {
            rates: RateLimits::new(config),
            max_header_bytes: config.max_header_bytes,
            request_timeout: Duration::from_millis(config.request_timeout_ms.max(1)),
            trusted_proxies: config.trusted_proxies.clone().into(),
        }
    }

    /// The address a request is counted by: the peer, or when the peer is a trusted proxy,
    /// the right-most `X-Forwarded-For` hop that is not one (each proxy appends the address
    /// it heard from, so hops left of the first untrusted one are the client's to invent).
    fn client_address(&self, peer: IpAddr, headers: &axum::http::HeaderMap) -> IpAddr {
        let trusted = |ip: IpAddr| self.trusted_proxies.iter().any(|net| net.contains(ip));
        if self.trusted_proxies.is_empty() || !trusted(peer) {
            return peer;
        }
        let mut client = peer;
        let hops = headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).collect::<Vec<_>>();
        for hop in hops.iter().rev() {
            // An unreadable hop ends the trusted chain: count the last proxy that passed it on.
            let Ok(ip) = hop.trim().parse::<IpAddr>() else { break };
            client = ip;
            if !trusted(ip) {
                break;
            }
        }
        client
    }
}

/// The server's rate limiters (cheap to clone; all clones share them). `off` checks nothing.
#[derive(Clone)]
pub struct RateLimits(Option<Arc<Limiters>>);

struct Limiters {
    key: Option<Keyed<String>>,
    app: Option<Keyed<String>>,
    user: Option<Keyed<String>>,
    ip: Option<Keyed<IpAddr>>,
}

impl RateLimits {
    pub fn new(config: &LimitsConfig) -> Self {
        if !config.rate_limits {
            return Self::off();
        }
        RateLimits(Some(Arc::new(Limiters {
            key: Keyed::new(config.rate_limit_key_per_second, config.rate_limit_key_burst),
            app: Keyed::new(config.rate_limit_app_per_second, config.rate_limit_app_burst),
            user: Keyed::new(config.rate_limit_user_per_second, config.rate_limit_user_burst),
            ip: Keyed::new(config.rate_limit_ip_per_second, config.rate_limit_ip_burst),
        })))
    }

    pub fn off() -> Self {
        RateLimits(None)
    }

    fn check<K: Hash + Eq + Clone>(&self, budget: Budget, pick: impl Fn(&Limiters) -> Option<&Keyed<K>>, key: &K) -> Result<(), ApiError> {
        let Some(limiters) = &self.0 else { return Ok(()) };
        match pick(limiters).map(|l| l.check(key)) {
            Some(Err(wait)) => Err(too_many(budget, wait)),
            _ => Ok(()),
        }
    }

    /// A verified business-API caller: its key, then the app its request is for (if any).
    pub fn check_key(&self, key_id: &str, app_id: Option<&str>) -> Result<(), ApiError> {
        self.check(Budget::Key, |l| l.key.as_ref(), &key_id.to_string())?;
        match app_id {
            Some(app) => self.check_app(app),
            None => Ok(()),
        }
    }

    /// Any request that reaches app `app_id`.
    pub fn check_app(&self, app_id: &str) -> Result<(), ApiError> {
        self.check(Budget::App, |l| l.app.as_ref(), &app_id.to_string())
    }

    /// A verified end user of app `app_id` (their user id, or external id for a JWT).
    pub fn check_user(&self, app_id: &str, user: &str) -> Result<(), ApiError> {
        self.check(Budget::User, |l| l.user.as_ref(), &format!("{app_id}/{user}"))?;
        self.check_app(app_id)
    }

    pub fn check_ip(&self, ip: IpAddr) -> Result<(), ApiError> {
        self.check(Budget::Ip, |l| l.ip.as_ref(), &ip)
    }
}

/// 429 in the spec's envelope, `Retry-After` rounded up to whole seconds.
fn too_many(budget: Budget, wait: Duration) -> ApiError {
    let seconds = wait.as_millis().div_ceil(1000).max(1) as u64;
    ApiError::new(StatusCode::TOO_MANY_REQUESTS, "too_many_requests", format!("{}: retry in {seconds} s", budget.title())).retry_after(seconds)
}

/// The app a request path is for: `/v2/apps/{appId}/…` or `/sdk/v2/apps/{appId}/…`.
pub fn app_of_path(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("/v2/apps/").or_else(|| path.strip_prefix("/sdk/v2/apps/"))?;
    let app = rest.split('/').next()?;
    (!app.is_empty()).then_some(app)
}

/// The edge's limits, outermost first — the headers' size (431), the per-IP rate (429),
/// the request's time (503) — around `next`. Called by the edge middleware
/// (`http::edge`), not a middleware of its own: each layer clones the service inside it
/// and boxes its future on every request.
pub async fn edge<Fut: Future<Output = Response>>(guard: &Guard, req: Request, next: impl FnOnce(Request) -> Fut) -> Response {
    if let Some(refused) = header_size(guard, &req).or_else(|| per_ip(guard, &req)) {
        return refused;
    }
    time_limit(guard, req, next).await
}

/// Whether the request is for the SDK API, which answers in its own error shape.
fn is_sdk(path: &str) -> bool {
    path.starts_with("/sdk/") || path.starts_with("/sc/sdk/")
}

/// The per-IP limit, by the connection's peer address (or, behind a trusted proxy, by
/// `X-Forwarded-For`: [`Guard::client_address`]).
fn per_ip(guard: &Guard, req: &Request) -> Option<Response> {
    let peer = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip())?;
    let e = guard.rates.check_ip(guard.client_address(peer, req.headers())).err()?;
    Some(if is_sdk(req.uri().path()) { super::sdk::SdkError::from(e).into_response() } else { e.into_response() })
}

/// Refuses a request whose headers together exceed `max` bytes, with 431.
fn header_size(guard: &Guard, req: &Request) -> Option<Response> {
    let max = guard.max_header_bytes;
    let size: usize = req.headers().iter().map(|(k, v)| k.as_str().len() + v.len() + 4).sum();
    (size > max).then(|| {
        ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "request_header_fields_too_large",
            format!("The request headers total {size} bytes; at most {max} are accepted"),
        )
        .into_response()
    })
}

/// Answers 503 with `Retry-After` when a request takes longer than `timeout` (its work is
/// dropped). Realtime's `/faye` holds connections open by design and is not timed.
async fn time_limit<Fut: Future<Output = Response>>(guard: &Guard, req: Request, next: impl FnOnce(Request) -> Fut) -> Response {
    let timeout = guard.request_timeout;
    let path = req.uri().path();
    if path == "/faye" || path.starts_with("/faye/") || path == "/sc/faye" || path.starts_with("/sc/faye/") {
        return next(req).await;
    }
    let sdk = is_sdk(path);
    match tokio::time::timeout(timeout, next(req)).await {
        Ok(res) => res,
        Err(_) => {
            let e = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "service_unavailable", "The request took too long; try again").retry_after(1);
            if sdk {
                super::sdk::SdkError::from(e).into_response()
            } else {
                e.into_response()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(key: u32, burst: u32) -> LimitsConfig {
        LimitsConfig { rate_limit_key_per_second: key, rate_limit_key_burst: burst, ..LimitsConfig::default() }
    }

    #[test]
    fn a_burst_from_one_key_does_not_throttle_another() {
        let limits = RateLimits::new(&config(1, 3));
        for _ in 0..3 {
            assert!(limits.check_key("k1", None).is_ok());
        }
        let refused = limits.check_key("k1", None).unwrap_err();
        assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(refused.retry_after, Some(1));
        assert!(limits.check_key("k2", None).is_ok());
    }

    #[test]
    fn off_and_zero_rates_check_nothing() {
        let off = RateLimits::new(&LimitsConfig { rate_limits: false, ..config(1, 1) });
        let zero = RateLimits::new(&config(0, 0));
        for _ in 0..10 {
            assert!(off.check_key("k", None).is_ok());
            assert!(zero.check_key("k", None).is_ok());
        }
    }

    #[test]
    fn the_app_of_a_path() {
        assert_eq!(app_of_path("/v2/apps/a1/users"), Some("a1"));
        assert_eq!(app_of_path("/sdk/v2/apps/a1"), Some("a1"));
        assert_eq!(app_of_path("/v2/apps"), None);
        assert_eq!(app_of_path("/v2/apps/"), None);
    }
}
