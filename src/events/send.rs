//! One HTTP attempt: POST the envelope to the target with `X-API-Key`, never follow a
//! redirect, read at most a little of the answer, give up after the timeout.

use std::error::Error as _;
use std::sync::Arc;

use reqwest::header::CONTENT_TYPE;

use super::policy::{Answer, DeliverySettings};
use super::target::{refuse_reason, PublicOnlyResolver};
use crate::store::webhooks::ClaimedBatch;

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

/// The envelope of a batch, `{app:{id}, webhook:{id, version}, events:[…]}` (the shape of
/// [`crate::wire::webhook::envelope`]), written around the stored event texts so they are
/// not parsed and printed again.
pub fn envelope_text(b: &ClaimedBatch) -> Vec<u8> {
    let quote = |s: &str| serde_json::to_string(s).expect("strings serialize");
    let size: usize = b.deliveries.iter().map(|d| d.event.len() + 1).sum();
    let mut out = String::with_capacity(size + 128);
    out.push_str("{\"app\":{\"id\":");
    out.push_str(&quote(&b.app_id));
    out.push_str("},\"webhook\":{\"id\":");
    out.push_str(&quote(&b.webhook_id));
    out.push_str(",\"version\":");
    out.push_str(&quote(&b.version));
    out.push_str("},\"events\":[");
    for (i, d) in b.deliveries.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&d.event);
    }
    out.push_str("]}");
    out.into_bytes()
}

/// Sends one batch (one request) and says what came back.
pub async fn send(client: &reqwest::Client, settings: &DeliverySettings, b: &ClaimedBatch) -> Answer {
    let url = match url::Url::parse(&b.target) {
        Ok(u) if u.scheme() == "http" || u.scheme() == "https" => u,
        _ => return Answer::Refused(format!("invalid target URL: {}", b.target)),
    };
    if settings.public_only {
        if let Some(reason) = refuse_reason(&url).await {
            return Answer::Refused(reason);
        }
    }
    let request = client.post(url).header("x-api-key", &b.secret).header(CONTENT_TYPE, "application/json").body(envelope_text(b));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::event::Trigger;
    use crate::store::webhooks::ClaimedDelivery;
    use crate::wire::webhook::envelope;
    use serde_json::json;

    #[test]
    fn the_envelope_text_is_the_wire_envelope() {
        let events = [
            json!({"id": "e1", "type": Trigger::ConversationMessage.as_str(), "payload": {"text": "a \"quoted\" ü"}}),
            json!({"id": "e2", "type": Trigger::UserRemove.as_str()}),
        ];
        let b = ClaimedBatch {
            webhook_id: "w\"1".into(),
            app_id: "app".into(),
            target: "http://x".into(),
            secret: "s".into(),
            version: "v2".into(),
            deliveries: events
                .iter()
                .enumerate()
                .map(|(i, e)| ClaimedDelivery { id: i as i64, attempts: 0, event_seq: i as i64, order_key: None, event: e.to_string() })
                .collect(),
        };
        let parsed: serde_json::Value = serde_json::from_slice(&envelope_text(&b)).unwrap();
        assert_eq!(parsed, envelope("app", "w\"1", "v2", events.to_vec()));
    }
}
