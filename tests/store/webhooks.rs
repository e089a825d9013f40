//! Webhook delivery state in the store, driven by hand: routing outbox events to
//! deliveries, claiming them under leases, and finishing them with each verdict; a lease
//! that lapses passes the delivery to another node, and a late finish cannot undo that
//! node's result; expiry never overtakes a delivery in flight.

use std::collections::HashMap;

use serde_json::{json, Value};
use sunbeam::domain::app::new_app;
use sunbeam::domain::conversation::parse_new_conversation;
use sunbeam::domain::ids::new_id;
use sunbeam::domain::integration::new_integration;
use sunbeam::domain::message::parse_message_post;
use sunbeam::domain::time::now_ms;
use sunbeam::domain::user::new_user;
use sunbeam::store::webhooks::{AttemptRecord, CircuitPolicy, ClaimRequest, ClaimedBatch, DeliveryOutcome, Health, Verdict, WebhookStatus};
use sunbeam::store::Store;

const CIRCUIT: CircuitPolicy = CircuitPolicy { threshold: 10, park_ms: 60_000, max_park_ms: 900_000 };

/// An app with a custom integration whose webhook wants `conversation:message`, and a
/// user in two conversations: (app, webhook id, webhook secret, [conversation a, b]).
async fn setup(store: &Store) -> (String, String, String, [String; 2]) {
    let app = store.create_app(new_app(new_id(), json!({"displayName": "A"})).unwrap()).await.unwrap().id;
    let (integration, webhook) =
        new_integration(new_id(), new_id(), json!({"type": "custom", "webhooks": [{"target": "https://example.com/hook", "triggers": ["conversation:message"]}]})).unwrap();
    let webhook = webhook.unwrap();
    store.create_integration(&app, integration, Some(webhook.clone())).await.unwrap();
    let ann = store.create_user(&app, new_user(new_id(), now_ms(), json!({"externalId": "ann"}), false).unwrap()).await.unwrap().id;
    let mut convs = Vec::new();
    for _ in 0..2 {
        let (c, _) = store.create_conversation(&app, parse_new_conversation(json!({"type": "sdkGroup", "participants": [{"userId": ann}]}), 10).unwrap()).await.unwrap();
        convs.push(c.id);
    }
    (app, webhook.id, webhook.secret, [convs[0].clone(), convs[1].clone()])
}

async fn post(store: &Store, app: &str, conv: &str, text: &str) {
    let m = parse_message_post(json!({"author": {"type": "business"}, "content": {"type": "text", "text": text}}), &Default::default()).unwrap();
    store.post_message(app, conv, m, json!({"type": "api:conversations"})).await.unwrap();
}

fn claim(owner: &str, now: i64, lease_ms: i64) -> ClaimRequest {
    ClaimRequest { owner: owner.into(), now, lease_ms, limit: 10, in_flight: HashMap::new(), per_target: 4, max_batch: 100, circuit_threshold: CIRCUIT.threshold }
}

fn finish(webhook_id: &str, node: &str, status: u16, health: Health, outcomes: &[(i64, i64, Verdict)]) -> AttemptRecord {
    AttemptRecord {
        webhook_id: webhook_id.into(),
        node: node.into(),
        started_at: now_ms(),
        duration_ms: 3,
        status: Some(status),
        error: None,
        health,
        deliveries: outcomes.iter().map(|(id, attempt, verdict)| DeliveryOutcome { delivery_id: *id, attempt: *attempt, verdict: *verdict }).collect(),
    }
}

/// The text of each event of a batch, in its order.
fn texts(b: &ClaimedBatch) -> Vec<String> {
    b.deliveries.iter().map(|d| serde_json::from_str::<Value>(&d.event).unwrap()["payload"]["message"]["content"]["text"].as_str().unwrap().to_string()).collect()
}

async fn status(store: &Store, webhook_id: &str) -> WebhookStatus {
    store.webhook_statuses(None).await.unwrap().into_iter().find(|s| s.webhook_id == webhook_id).unwrap()
}

async fn counts(store: &Store, webhook_id: &str) -> (i64, i64, i64) {
    let s = status(store, webhook_id).await;
    (s.pending, s.delivered, s.failed)
}

async fn delivery(store: &Store) {
    let (app, webhook_id, secret, [a, b]) = setup(store).await;
    // Only subscribed events become deliveries: the conversations' creation does not.
    assert!(store.unrouted_events().await.unwrap() > 0);
    let routed = store.route_events(100).await.unwrap();
    assert!(routed.webhooks.is_empty(), "{routed:?}");
    assert_eq!(store.unrouted_events().await.unwrap(), 0);
    assert_eq!(counts(store, &webhook_id).await, (0, 0, 0));

    post(store, &app, &a, "a0").await;
    post(store, &app, &a, "a1").await;
    post(store, &app, &b, "b0").await;
    assert_eq!(store.unrouted_events().await.unwrap(), 3);
    let routed = store.route_events(100).await.unwrap();
    assert_eq!((routed.events, routed.webhooks.clone()), (3, vec![webhook_id.clone()]));
    assert!(!store.has_unrouted_events().await.unwrap());
    assert_eq!(store.route_events(100).await.unwrap().events, 0, "routed once");
    assert_eq!(counts(store, &webhook_id).await, (3, 0, 0));

    // One claim: one batch of the webhook, in event order, with what it needs to send.
    let t = now_ms();
    assert!(store.has_due_deliveries(t).await.unwrap());
    let batches = store.claim_deliveries(claim("n1", t, 60_000)).await.unwrap();
    assert_eq!(batches.len(), 1, "{batches:?}");
    let batch = &batches[0];
    assert_eq!((batch.webhook_id.as_str(), batch.app_id.as_str(), batch.target.as_str(), batch.secret.as_str(), batch.version.as_str()), (webhook_id.as_str(), app.as_str(), "https://example.com/hook", secret.as_str(), "v2"));
    assert_eq!(texts(batch), ["a0", "a1", "b0"]);
    assert!(batch.deliveries.iter().all(|d| d.attempts == 0));
    let event: Value = serde_json::from_str(&batch.deliveries[0].event).unwrap();
    assert_eq!(event["type"], "conversation:message");
    assert_eq!(event["payload"]["conversation"]["id"], a.as_str());
    assert!(event["id"].as_str().is_some_and(|id| id.len() == 24));
    // Leased: nothing more to claim, for this node or another.
    assert!(!store.has_due_deliveries(t).await.unwrap());
    assert!(store.claim_deliveries(claim("n2", t + 1, 60_000)).await.unwrap().is_empty());

    // Each verdict: a0 delivered, b0 failed for good, a1 back for a retry later.
    let ids: Vec<i64> = batch.deliveries.iter().map(|d| d.id).collect();
    let retry_at = t + 10_000;
    store.finish_attempt(finish(&webhook_id, "n1", 500, Health::Down, &[(ids[0], 1, Verdict::Delivered), (ids[1], 1, Verdict::Retry { at: retry_at }), (ids[2], 1, Verdict::Failed)]), CIRCUIT).await.unwrap();
    assert_eq!(counts(store, &webhook_id).await, (1, 1, 1));
    let s = status(store, &webhook_id).await;
    assert_eq!((s.consecutive_failures, s.last_error.as_deref(), s.parked_until), (1, Some("HTTP 500"), None));
    let attempts = store.webhook_attempts(&webhook_id, 10).await.unwrap();
    let mut states: Vec<(i64, i64, &str, Option<i64>)> = attempts.iter().map(|x| (x.delivery_id, x.attempt, x.state.as_str(), x.status)).collect();
    states.sort();
    assert_eq!(states, [(ids[0], 1, "delivered", Some(500)), (ids[1], 1, "pending", Some(500)), (ids[2], 1, "failed", Some(500))]);
    assert!(attempts.iter().all(|x| x.node == "n1" && x.trigger == "conversation:message"));

    // The retry is due at its time, not before; it comes back with its attempt counted.
    assert_eq!(store.next_delivery_wake(t).await.unwrap(), Some(retry_at));
    assert!(!store.has_due_deliveries(retry_at - 1).await.unwrap());
    assert!(store.claim_deliveries(claim("n1", retry_at - 1, 60_000)).await.unwrap().is_empty());
    let again = store.claim_deliveries(claim("n1", retry_at, 60_000)).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!((texts(&again[0]), again[0].deliveries[0].id, again[0].deliveries[0].attempts), (vec!["a1".to_string()], ids[1], 1));
    store.finish_attempt(finish(&webhook_id, "n1", 200, Health::Up, &[(ids[1], 2, Verdict::Delivered)]), CIRCUIT).await.unwrap();
    assert_eq!(counts(store, &webhook_id).await, (0, 2, 1));
    let s = status(store, &webhook_id).await;
    assert_eq!(s.consecutive_failures, 0, "a success closes the circuit");
    assert!(s.last_success_at.is_some());
    assert_eq!(store.next_delivery_wake(retry_at).await.unwrap(), None, "nothing left to wake for");
    assert!(store.claim_deliveries(claim("n1", retry_at + 86_400_000, 60_000)).await.unwrap().is_empty(), "finished deliveries are never claimed again");
}

story!(routing_claiming_and_each_verdict, delivery);

/// A retry holds back its conversation's later deliveries: a line goes in order.
async fn line_order(store: &Store) {
    let (app, webhook_id, _, [a, b]) = setup(store).await;
    store.route_events(100).await.unwrap();
    post(store, &app, &a, "a0").await;
    store.route_events(100).await.unwrap();
    let t = now_ms();
    let first = store.claim_deliveries(claim("n1", t, 60_000)).await.unwrap();
    assert_eq!(texts(&first[0]), ["a0"]);
    // While a0 is out, a1 commits; it may not overtake it, but b0 may go.
    post(store, &app, &a, "a1").await;
    post(store, &app, &b, "b0").await;
    store.route_events(100).await.unwrap();
    let t = now_ms();
    let meanwhile = store.claim_deliveries(claim("n1", t, 60_000)).await.unwrap();
    assert_eq!(meanwhile.iter().map(texts).collect::<Vec<_>>(), [["b0"]]);
    // a0 fails and waits for a retry: a1 still waits behind it.
    let retry_at = t + 10_000;
    store.finish_attempt(finish(&webhook_id, "n1", 503, Health::Down, &[(first[0].deliveries[0].id, 1, Verdict::Retry { at: retry_at })]), CIRCUIT).await.unwrap();
    assert!(store.claim_deliveries(claim("n1", t + 1, 60_000)).await.unwrap().is_empty(), "a1 must not overtake a0");
    assert!(store.claim_deliveries(claim("n1", retry_at - 1, 60_000)).await.unwrap().is_empty(), "a1 must not overtake a0");
    // At a0's time both go, in order, in one batch.
    let both = store.claim_deliveries(claim("n1", retry_at, 60_000)).await.unwrap();
    assert_eq!(both.iter().map(texts).collect::<Vec<_>>(), [["a0", "a1"]]);
    assert_eq!(both[0].deliveries.iter().map(|d| d.attempts).collect::<Vec<_>>(), [1, 0]);
}

story!(a_retry_holds_back_its_conversation, line_order);

/// A node that stops answering loses its lease: after it lapses another node claims the
/// same delivery, and the first node's late finish cannot undo the second's result.
async fn lease(store: &Store) {
    let (app, webhook_id, _, [a, _]) = setup(store).await;
    post(store, &app, &a, "a0").await;
    store.route_events(100).await.unwrap();
    let t = now_ms();
    let lease_ms = 1_000;
    let mine = store.claim_deliveries(claim("n1", t, lease_ms)).await.unwrap();
    let id = mine[0].deliveries[0].id;
    // Within the lease nobody else gets it.
    assert!(store.claim_deliveries(claim("n2", t + lease_ms - 1, lease_ms)).await.unwrap().is_empty());
    assert!(store.claim_deliveries(claim("n2", t + lease_ms, lease_ms)).await.unwrap().is_empty(), "the lease holds up to its end");
    // After it, another node claims the same delivery, still at its first attempt.
    let theirs = store.claim_deliveries(claim("n2", t + lease_ms + 1, lease_ms)).await.unwrap();
    assert_eq!(theirs.len(), 1);
    assert_eq!((theirs[0].deliveries[0].id, theirs[0].deliveries[0].attempts, texts(&theirs[0])), (id, 0, vec!["a0".to_string()]));
    // n2 delivers it.
    store.finish_attempt(finish(&webhook_id, "n2", 200, Health::Up, &[(id, 1, Verdict::Delivered)]), CIRCUIT).await.unwrap();
    assert_eq!(counts(store, &webhook_id).await, (0, 1, 0));
    // n1's answer comes at last, a failure: the delivery stays delivered…
    store.finish_attempt(finish(&webhook_id, "n1", 500, Health::Down, &[(id, 1, Verdict::Retry { at: t + 10_000 })]), CIRCUIT).await.unwrap();
    assert_eq!(counts(store, &webhook_id).await, (0, 1, 0));
    store.finish_attempt(finish(&webhook_id, "n1", 400, Health::Neutral, &[(id, 1, Verdict::Failed)]), CIRCUIT).await.unwrap();
    assert_eq!(counts(store, &webhook_id).await, (0, 1, 0));
    // …and is never handed out again.
    assert!(store.claim_deliveries(claim("n3", t + 86_400_000, lease_ms)).await.unwrap().is_empty());
    let attempts = store.webhook_attempts(&webhook_id, 10).await.unwrap();
    assert!(attempts.iter().all(|x| x.state == "delivered"), "{attempts:?}");
    assert!(attempts.iter().any(|x| x.node == "n2" && x.status == Some(200)), "{attempts:?}");
}

story!(a_lapsed_lease_passes_the_delivery_on_and_a_late_finish_cannot_undo_it, lease);

/// Expiry fails deliveries pending too long, but along each line it stops at one in
/// flight: a line's finished deliveries stay a prefix of it.
async fn expiry(store: &Store) {
    let (app, webhook_id, _, [a, b]) = setup(store).await;
    post(store, &app, &a, "a0").await;
    store.route_events(100).await.unwrap();
    let t = now_ms();
    let out = store.claim_deliveries(claim("n1", t, 60_000)).await.unwrap();
    assert_eq!(texts(&out[0]), ["a0"]);
    post(store, &app, &a, "a1").await;
    post(store, &app, &b, "b0").await;
    store.route_events(100).await.unwrap();
    // Everything is older than the cut-off; a0 is in flight (leased until t + 60 s).
    let now = t + 1_000;
    let (expired, forgotten) = store.prune_deliveries(now, now_ms() + 1, 0).await.unwrap();
    assert_eq!((expired, forgotten), (1, 0), "only b0: a1 waits behind a0");
    assert_eq!(counts(store, &webhook_id).await, (2, 0, 1));
    // Once a0 is finished, a1 is no longer held.
    store.finish_attempt(finish(&webhook_id, "n1", 200, Health::Up, &[(out[0].deliveries[0].id, 1, Verdict::Delivered)]), CIRCUIT).await.unwrap();
    let (expired, _) = store.prune_deliveries(now, now_ms() + 1, 0).await.unwrap();
    assert_eq!(expired, 1);
    assert_eq!(counts(store, &webhook_id).await, (0, 1, 2));
    // Finished rows are forgotten after the retention, with their attempts.
    let (_, forgotten) = store.prune_deliveries(now, 0, i64::MAX).await.unwrap();
    assert_eq!(forgotten, 3);
    assert_eq!(counts(store, &webhook_id).await, (0, 0, 0));
    assert!(store.webhook_attempts(&webhook_id, 10).await.unwrap().is_empty());
}

story!(expiry_stops_at_a_delivery_in_flight, expiry);

/// The events of an app with no webhook are born routed: the router has nothing to read
/// or rewrite for them, and a webhook created later hears only what follows it.
async fn born_routed(store: &Store) {
    let app = store.create_app(new_app(new_id(), json!({"displayName": "No hooks"})).unwrap()).await.unwrap().id;
    let (c, _) = store.create_conversation(&app, parse_new_conversation(json!({"type": "sdkGroup"}), 10).unwrap()).await.unwrap();
    post(store, &app, &c.id, "before").await;
    assert_eq!(store.unrouted_events().await.unwrap(), 0, "nothing waits for the router");
    assert_eq!(store.route_events(100).await.unwrap().events, 0);

    let (integration, webhook) =
        new_integration(new_id(), new_id(), json!({"type": "custom", "webhooks": [{"target": "https://example.com/hook", "triggers": ["conversation:message"]}]})).unwrap();
    let webhook = webhook.unwrap();
    store.create_integration(&app, integration, Some(webhook.clone())).await.unwrap();
    post(store, &app, &c.id, "after").await;
    assert_eq!(store.unrouted_events().await.unwrap(), 1, "an app with a webhook routes its events");
    let routed = store.route_events(100).await.unwrap();
    assert_eq!((routed.events, routed.webhooks), (1, vec![webhook.id.clone()]));
    let batches = store.claim_deliveries(claim("n1", now_ms(), 60_000)).await.unwrap();
    assert_eq!(batches.len(), 1, "{batches:?}");
    assert_eq!(texts(&batches[0]), ["after"]);
}

story!(events_of_an_app_without_webhooks_are_born_routed, born_routed);
