//! Two nodes on one fresh PostgreSQL database are one system: what is written through one
//! is read through the other, a realtime client on one hears what is committed through
//! the other (woken by LISTEN/NOTIFY, in commit order), and a webhook is delivered once.
//! Prints SKIPPED without PostgreSQL (outside CI).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};

use crate::common::{eventually, hs256_jwt, webhooks_drained, Db, Spawn, TestApp};
use crate::realtime::Ws;

/// Records every event id a webhook receives, with how often.
#[derive(Clone, Default)]
struct Receiver {
    seen: Arc<Mutex<Vec<(String, String)>>>,
}

async fn receive(State(r): State<Receiver>, body: String) -> &'static str {
    let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    for e in body["events"].as_array().into_iter().flatten() {
        r.seen.lock().unwrap().push((e["id"].as_str().unwrap_or("").to_string(), e["type"].as_str().unwrap_or("").to_string()));
    }
    "ok"
}

async fn receiver() -> (Receiver, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let r = Receiver::default();
    let app = Router::new().route("/hook", post(receive)).with_state(r.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (r, url)
}

#[tokio::test]
async fn two_nodes_on_one_postgres_are_one_system() {
    let Some(a) = TestApp::spawn_with(Spawn { db: Db::Postgres, ..Spawn::default() }).await else { return };
    // Node B's hub never polls (an hour): whatever it delivers, a NOTIFY from A woke it.
    let b = a.another_node(|c| c.realtime_poll_ms = 3_600_000).await;

    // Reads: what is written through one node is there through the other.
    let app_id = a.create_app("Cluster").await;
    let (status, got) = b.account("GET", &format!("/v2/apps/{app_id}"), None).await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["app"]["displayName"], "Cluster");
    let ann = b.create_user(&app_id, Some("ann")).await;
    let (status, got) = a.account("GET", &format!("/v2/apps/{app_id}/users/{ann}"), None).await;
    assert_eq!((status, got["user"]["externalId"].as_str()), (200, Some("ann")), "{got}");
    let (key_id, key_secret) = a.create_app_key(&app_id).await;
    let (status, c) = a.account("POST", &format!("/v2/apps/{app_id}/conversations"), Some(json!({"type": "sdkGroup", "participants": [{"userId": ann}]}))).await;
    assert_eq!(status, 201, "{c}");
    let conversation = format!("/v2/apps/{app_id}/conversations/{}", c["conversation"]["id"].as_str().unwrap());

    // A webhook made through B.
    let (hook, hook_url) = receiver().await;
    let (status, w) = b
        .account("POST", &format!("/v2/apps/{app_id}/integrations"), Some(json!({"type": "custom", "displayName": "hook", "webhooks": [{"target": hook_url, "triggers": ["conversation:message"]}]})))
        .await;
    assert_eq!(status, 201, "{w}");

    // Realtime: Ann's SDK on B (handshake, subscribe, a held connect over a WebSocket).
    let mut ws = Ws::connect(b.addr).await;
    let mut pushed = Vec::new();
    let r = ws.call(json!({"channel": "/meta/handshake", "version": "1.0", "supportedConnectionTypes": ["websocket"], "id": "h"}), &mut pushed).await;
    let client_id = r["clientId"].as_str().expect("handshake").to_string();
    let jwt = hs256_jwt(&key_id, &key_secret, json!({"scope": "user", "external_id": "ann"}));
    let channel = format!("/sdk/apps/{app_id}/appusers/{ann}");
    let r = ws.call(json!({"channel": "/meta/subscribe", "clientId": client_id, "subscription": channel, "ext": {"jwt": jwt}, "id": "s"}), &mut pushed).await;
    assert_eq!(r["successful"], true, "{r}");
    let connect = json!([{"channel": "/meta/connect", "clientId": client_id, "connectionType": "websocket", "id": "c"}]);
    ws.send(&connect).await;

    // Messages posted through A, concurrently (on PostgreSQL they commit out of `seq`
    // order, which the hub's late-commit window absorbs).
    let a = Arc::new(a);
    let total = 20;
    let posts: Vec<_> = (0..total)
        .map(|i| {
            let (a, path) = (a.clone(), format!("{conversation}/messages"));
            tokio::spawn(async move {
                let (status, body) = a.account("POST", &path, Some(json!({"author": {"type": "business"}, "content": {"type": "text", "text": format!("m{i}")}}))).await;
                assert_eq!(status, 201, "{body}");
            })
        })
        .collect();
    for p in posts {
        p.await.unwrap();
    }

    // B's client hears every one, in the order of the history.
    let mut live: Vec<String> = Vec::new();
    let collect = |batch: &[Value], live: &mut Vec<String>| {
        for m in batch.iter().filter(|m| m["channel"] == channel.as_str()) {
            for e in m["data"]["events"].as_array().into_iter().flatten().filter(|e| e["type"] == "message") {
                live.push(e["message"]["_id"].as_str().unwrap().to_string());
            }
        }
    };
    collect(&pushed, &mut live);
    while live.len() < total {
        let batch = tokio::time::timeout(crate::common::WAIT, ws.recv()).await.expect("pushes from node B").expect("socket open");
        let batch = batch.as_array().unwrap().clone();
        if batch.iter().any(|m| m["channel"] == "/meta/connect") {
            ws.send(&connect).await;
        }
        collect(&batch, &mut live);
    }
    let (_, history) = b.account("GET", &format!("{conversation}/messages"), None).await;
    let committed: Vec<String> = history["messages"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap().to_string()).collect();
    assert_eq!(committed.len(), total);
    assert_eq!(live, committed, "node B's client hears node A's commits in commit order");

    // Webhooks: each message once, whichever node sent it.
    webhooks_drained(&a.store).await;
    let seen = eventually("every message event at the webhook", || async {
        let seen = hook.seen.lock().unwrap().clone();
        if seen.len() >= total { Ok(seen) } else { Err(format!("{seen:?}")) }
    })
    .await;
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for (id, kind) in &seen {
        assert_eq!(kind, "conversation:message");
        *counts.entry(id).or_default() += 1;
    }
    assert_eq!((seen.len(), counts.len()), (total, total), "each event delivered once: {seen:?}");
}
