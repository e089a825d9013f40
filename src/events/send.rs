//! One HTTP attempt: POST the envelope to the target with `X-API-Key`, never follow a
//! redirect, read at most a little of the answer, give up after the timeout.

use std::error::Error as _;
use std::sync::Arc;

use reqwest::header::CONTENT_TYPE;

use super::policy::{Answer, DeliverySettings};
use super::target::{refuse_reason, PublicOnlyResolver};
use crate::domain::webhook::envelope;
use crate::store::webhooks::ClaimedDelivery;

/// The client every delivery of a node shares (connection pools per target).
pub fn build_client(settings: &DeliverySettings) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(settings.timeout)
        .connect_timeout(settings.timeout)
        // Proxy variables would route around the address policy; webhooks go direct.
        .no_proxy()
        .pool_max_idle_per_host(settings.per_target_concurrency.max(1))
        .user_agent(concat!("Sunbeam-Webhooks/", env!("CARGO_PKG_VERSION")));
    if settings.public_only {
        builder = builder.dns_resolver(Arc::new(PublicOnlyResolver));
    }
    builder.build().expect("the webhook HTTP client builds from static settings")
}

fn describe(e: &reqwest::Error) -> String {
    let mut out = if e.is_connect() { "connection failed".to_string() } else { "request failed".to_string() };
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out.chars().take(500).collect()
}

/// Sends one delivery and says what came back.
pub async fn send(client: &reqwest::Client, settings: &DeliverySettings, d: &ClaimedDelivery) -> Answer {
    let url = match url::Url::parse(&d.target) {
        Ok(u) if u.scheme() == "http" || u.scheme() == "https" => u,
        _ => return Answer::Refused(format!("invalid target URL: {}", d.target)),
    };
    if settings.public_only {
        if let Some(reason) = refuse_reason(&url).await {
            return Answer::Refused(reason);
        }
    }
    let body = envelope(&d.app_id, &d.webhook_id, &d.version, vec![d.event.clone()]);
    let request = client
        .post(url)
        .header("x-api-key", &d.secret)
        .header(CONTENT_TYPE, "application/json")
        .body(serde_json::to_vec(&body).expect("JSON values serialize"));
    let deadline = tokio::time::Instant::now() + settings.timeout;
    let mut response = match tokio::time::timeout_at(deadline, request.send()).await {
        Err(_) => return Answer::Timeout,
        Ok(Err(e)) if e.is_timeout() => return Answer::Timeout,
        Ok(Err(e)) => return Answer::Transport(describe(&e)),
        Ok(Ok(r)) => r,
    };
    let status = response.status().as_u16();
    // Drain a bounded amount so the connection can be reused; the content is not used,
    // and the status already decided the outcome.
    let mut read = 0usize;
    while read < settings.max_response_bytes {
        match tokio::time::timeout_at(deadline, response.chunk()).await {
            Ok(Ok(Some(chunk))) => read += chunk.len(),
            _ => break,
        }
    }
    Answer::Status(status)
}
