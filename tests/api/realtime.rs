//! Realtime (Bayeux on `/faye`) against the real server: long-polling, JSONP and
//! WebSocket (a minimal RFC 6455 client below, independent of the server's library),
//! subscribe authorisation with user JWTs, and delivery of what the v2 API commits.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::{hs256_jwt, Db, Spawn, TestApp};

struct Fixture {
    app: TestApp,
    app_id: String,
    ann: String,
    bob: String,
    key_id: String,
    key_secret: String,
    /// `/v2/apps/{app}/conversations/{id}` of an sdkGroup with ann and bob.
    conversation: String,
    conversation_id: String,
}

async fn fixture() -> Fixture {
    fixture_on(Db::Sqlite).await.expect("sqlite is always available")
}

/// None when the database is not reachable (PostgreSQL outside CI).
async fn fixture_on(db: Db) -> Option<Fixture> {
    let app = TestApp::spawn_with(Spawn { db, ..Spawn::default() }).await?;
    let app_id = app.create_app("Shop").await;
    let (key_id, key_secret) = app.create_app_key(&app_id).await;
    let ann = app.create_user(&app_id, Some("ann")).await;
    let bob = app.create_user(&app_id, Some("bob")).await;
    let mut f = Fixture { app, app_id, ann, bob, key_id, key_secret, conversation: String::new(), conversation_id: String::new() };
    // Live delivery races with subscribing: an event committed just before a client
    // subscribes may still reach it. So the fixture waits, on a probe client of Ann's, until
    // its own `conversation:added` has been published; clients the tests subscribe later
    // start after it.
    let probe = f.subscribed_client(&f.ann.clone(), "ann").await;
    let held = f.connect(&probe);
    let (status, c) = f
        .app
        .account("POST", &format!("/v2/apps/{}/conversations", f.app_id), Some(json!({"type": "sdkGroup", "participants": [{"userId": f.ann}, {"userId": f.bob}]})))
        .await;
    assert_eq!(status, 201, "{c}");
    f.conversation_id = c["conversation"]["id"].as_str().unwrap().to_string();
    f.conversation = format!("/v2/apps/{}/conversations/{}", f.app_id, f.conversation_id);
    let mut heard = events(&within("the fixture's conversation:added", held).await.unwrap());
    while !heard.iter().any(|e| e["type"] == "conversation:added") {
        heard = events(&within("the fixture's conversation:added", f.connect(&probe)).await.unwrap());
    }
    f.faye(json!([{"channel": "/meta/disconnect", "clientId": probe}])).await;
    Some(f)
}

impl Fixture {
    fn jwt(&self, external_id: &str) -> String {
        hs256_jwt(&self.key_id, &self.key_secret, json!({"scope": "user", "external_id": external_id}))
    }

    fn channel(&self, user_id: &str) -> String {
        format!("/sdk/apps/{}/appusers/{}", self.app_id, user_id)
    }

    /// One long-polling request: the replies.
    async fn faye(&self, messages: Value) -> Vec<Value> {
        let res = self.app.http.post(self.app.url("/faye")).json(&messages).send().await.expect("request");
        assert_eq!(res.status(), 200);
        assert!(res.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
        let body: Value = res.json().await.expect("json");
        body.as_array().expect("an array of messages").clone()
    }

    async fn handshake(&self) -> String {
        let r = self.faye(json!([{"channel": "/meta/handshake", "version": "1.0", "supportedConnectionTypes": ["long-polling", "websocket"], "id": "1"}])).await;
        assert_eq!(r[0]["successful"], true, "{r:?}");
        r[0]["clientId"].as_str().unwrap().to_string()
    }

    async fn subscribe(&self, client_id: &str, channel: &str, ext: Value) -> Value {
        let r = self.faye(json!([{"channel": "/meta/subscribe", "clientId": client_id, "subscription": channel, "ext": ext, "id": "2"}])).await;
        assert_eq!(r.len(), 1, "{r:?}");
        r[0].clone()
    }

    async fn subscribed_client(&self, user_id: &str, external_id: &str) -> String {
        let cid = self.handshake().await;
        let r = self.subscribe(&cid, &self.channel(user_id), json!({"appId": self.app_id, "appUserId": user_id, "jwt": self.jwt(external_id)})).await;
        assert_eq!(r["successful"], true, "{r}");
        cid
    }

    /// A held `/meta/connect` in the background; its replies once it returns.
    fn connect(&self, client_id: &str) -> tokio::task::JoinHandle<Vec<Value>> {
        let http = self.app.http.clone();
        let url = self.app.url("/faye");
        let msg = json!([{"channel": "/meta/connect", "clientId": client_id, "connectionType": "long-polling", "id": "3"}]);
        tokio::spawn(async move {
            let res = http.post(url).json(&msg).send().await.expect("request");
            res.json::<Value>().await.expect("json").as_array().unwrap().clone()
        })
    }

    async fn post_text(&self, text: &str) -> String {
        let (status, body) = self
            .app
            .account("POST", &format!("{}/messages", self.conversation), Some(json!({"author": {"type": "business"}, "content": {"type": "text", "text": text}})))
            .await;
        assert_eq!(status, 201, "{body}");
        body["messages"][0]["id"].as_str().unwrap().to_string()
    }
}

/// The SDK events carried by a batch of Bayeux messages.
fn events(messages: &[Value]) -> Vec<Value> {
    messages.iter().filter(|m| m["channel"].as_str().is_some_and(|c| c.starts_with("/sdk/"))).flat_map(|m| m["data"]["events"].as_array().cloned().unwrap_or_default()).collect()
}

async fn within<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), f).await.unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

#[tokio::test]
async fn long_polling_connect_delivers_a_message_posted_through_the_v2_api() {
    let f = fixture().await;
    let cid = f.subscribed_client(&f.ann, "ann").await;
    // That a connect with nothing to deliver is held is shown over the WebSocket below,
    // where the server's order of replies proves it; here: it answers with what comes.
    let held = f.connect(&cid);
    let message_id = f.post_text("hello").await;
    let replies = within("the connect", held).await.unwrap();
    assert_eq!(replies[0]["channel"], "/meta/connect");
    assert_eq!(replies[0]["successful"], true);
    assert_eq!(replies[0]["advice"]["reconnect"], "retry");
    let published = &replies[1];
    assert_eq!(published["channel"], f.channel(&f.ann));
    let evs = events(&replies);
    assert_eq!(evs.len(), 1, "{replies:?}");
    let e = &evs[0];
    assert_eq!(e["type"], "message");
    assert_eq!(e["conversation"]["_id"], f.conversation_id.as_str());
    assert_eq!(e["message"]["_id"], message_id.as_str());
    assert_eq!(e["message"]["text"], "hello");
    assert_eq!(e["message"]["type"], "text");
    assert_eq!(e["message"]["role"], "appMaker");
    assert!(e["message"]["received"].as_f64().unwrap() > 1.5e9);
}

#[tokio::test]
async fn subscribing_needs_credentials_for_that_very_channel() {
    let f = fixture().await;
    let cid = f.handshake().await;
    let bob_channel = f.channel(&f.bob);
    // Ann's token on Bob's channel.
    let r = f.subscribe(&cid, &bob_channel, json!({"appUserId": f.bob, "jwt": f.jwt("ann")})).await;
    assert_eq!(r["successful"], false);
    assert_eq!(r["error"], format!("403:{bob_channel}:Forbidden channel"));
    // Saying you are Ann while subscribing to Bob.
    let r = f.subscribe(&cid, &bob_channel, json!({"appUserId": f.ann, "jwt": f.jwt("ann")})).await;
    assert_eq!(r["error"], format!("403:{bob_channel}:Forbidden channel"));
    // No credentials, a forged token, a session token (none exist yet).
    for ext in [json!(null), json!({"appUserId": f.bob}), json!({"jwt": hs256_jwt(&f.key_id, "not the secret", json!({"scope": "user", "external_id": "bob"}))}), json!({"appUserId": f.bob, "sessionToken": "abc"})] {
        let r = f.subscribe(&cid, &bob_channel, ext.clone()).await;
        assert_eq!(r["successful"], false, "{ext}");
        assert_eq!(r["error"], "401::Unauthorized", "{ext}");
    }
    // A token signed by another app's key.
    let other = f.app.create_app("Other").await;
    let (kid, secret) = f.app.create_app_key(&other).await;
    let r = f.subscribe(&cid, &bob_channel, json!({"jwt": hs256_jwt(&kid, &secret, json!({"scope": "user", "external_id": "bob"}))})).await;
    assert_eq!(r["error"], format!("403:{bob_channel}:Forbidden channel"));
    // The legacy claim form works, for the right user.
    let legacy = hs256_jwt(&f.key_id, &f.key_secret, json!({"scope": "appUser", "userId": "bob"}));
    let r = f.subscribe(&cid, &bob_channel, json!({"appUserId": f.bob, "jwt": legacy})).await;
    assert_eq!(r["successful"], true, "{r}");
    // Channels other than user channels are not offered.
    let r = f.subscribe(&cid, &format!("/sdk/apps/{}/appusers/*", f.app_id), json!({"jwt": f.jwt("bob")})).await;
    assert_eq!(r["successful"], false);
    // An unknown client is told to handshake again, with the string the SDKs look for.
    let r = f.subscribe("nosuchclient", &bob_channel, json!({"jwt": f.jwt("bob")})).await;
    assert_eq!(r["error"], "401:nosuchclient:Unknown client");
    assert_eq!(r["advice"]["reconnect"], "handshake");
}

/// The same rule as the SDK API's (`domain::auth::verify_end_user`): only an app key of the
/// channel's app signs user tokens; an authentic token of a business scope is forbidden.
#[tokio::test]
async fn subscribe_tokens_follow_the_sdk_apis_rule() {
    let f = fixture().await;
    let cid = f.handshake().await;
    let bob_channel = f.channel(&f.bob);
    let bob = json!({"scope": "user", "external_id": "bob"});
    for (what, token) in [
        ("an account key", hs256_jwt(&f.app.account_id, &f.app.account_secret, bob.clone())),
        ("expired", hs256_jwt(&f.key_id, &f.key_secret, json!({"scope": "user", "external_id": "bob", "exp": 1_000_000}))),
        ("no external_id", hs256_jwt(&f.key_id, &f.key_secret, json!({"scope": "user"}))),
    ] {
        let r = f.subscribe(&cid, &bob_channel, json!({"appUserId": f.bob, "jwt": token})).await;
        assert_eq!(r["error"], "401::Unauthorized", "{what}: {r}");
    }
    let business = hs256_jwt(&f.key_id, &f.key_secret, json!({"scope": "app"}));
    let r = f.subscribe(&cid, &bob_channel, json!({"appUserId": f.bob, "jwt": business})).await;
    assert_eq!(r["error"], format!("403:{bob_channel}:Forbidden channel"));
}

#[tokio::test]
async fn an_anonymous_sdk_user_subscribes_with_its_session_token() {
    let f = fixture().await;
    let (status, body) = f
        .app
        .call("POST", &format!("/sdk/v2/apps/{}/appusers", f.app_id), None, Some(json!({"intent": "conversation:start", "client": {"id": "browser1", "platform": "web"}})))
        .await;
    assert_eq!(status, 201, "{body}");
    let (user, token) = (body["appUser"]["_id"].as_str().unwrap().to_string(), body["sessionToken"].as_str().unwrap().to_string());
    let conversation = body["conversation"]["_id"].as_str().unwrap().to_string();
    let cid = f.handshake().await;
    // Its token does not open anyone else's channel.
    let r = f.subscribe(&cid, &f.channel(&f.ann), json!({"appUserId": f.ann, "sessionToken": token})).await;
    assert_eq!(r["error"], "401::Unauthorized");
    let r = f.subscribe(&cid, &f.channel(&user), json!({"appId": f.app_id, "appUserId": user, "sessionToken": token})).await;
    assert_eq!(r["successful"], true, "{r}");
    let poll = f.connect(&cid);
    let (status, body) = f
        .app
        .account("POST", &format!("/v2/apps/{}/conversations/{conversation}/messages", f.app_id), Some(json!({"author": {"type": "business"}, "content": {"type": "text", "text": "hi there"}})))
        .await;
    assert_eq!(status, 201, "{body}");
    let evs = events(&within("the reply", poll).await.unwrap());
    assert_eq!(evs[0]["message"]["text"], "hi there");
    assert_eq!(evs[0]["conversation"]["_id"], conversation.as_str());
}

#[tokio::test]
async fn others_do_not_hear_about_conversations_they_are_not_in() {
    let f = fixture().await;
    let carl = f.app.create_user(&f.app_id, Some("carl")).await;
    let carl_cid = f.subscribed_client(&carl, "carl").await;
    let ann_cid = f.subscribed_client(&f.ann, "ann").await;
    let ann_poll = f.connect(&ann_cid);
    f.post_text("not for carl").await;
    assert_eq!(events(&within("ann", ann_poll).await.unwrap()).len(), 1);
    let r = f.faye(json!([{"channel": "/meta/connect", "clientId": carl_cid, "connectionType": "long-polling", "advice": {"timeout": 0}}])).await;
    assert_eq!(r.len(), 1, "nothing for carl: {r:?}");
}

#[tokio::test]
async fn typing_and_read_activities_arrive() {
    let f = fixture().await;
    let cid = f.subscribed_client(&f.ann, "ann").await;
    let activity = |author: Value, kind: &str| json!({"author": author, "type": kind});
    let poll = f.connect(&cid);
    let (status, body) = f.app.account("POST", &format!("{}/activity", f.conversation), Some(activity(json!({"type": "business"}), "typing:start"))).await;
    assert_eq!(status, 200, "{body}");
    let evs = events(&within("typing", poll).await.unwrap());
    assert_eq!(evs.len(), 1);
    assert_eq!(evs[0]["type"], "activity");
    assert_eq!(evs[0]["conversation"]["_id"], f.conversation_id.as_str());
    assert_eq!(evs[0]["activity"]["type"], "typing:start");
    assert_eq!(evs[0]["activity"]["role"], "appMaker");
    // Bob's read receipt reaches Ann (and Bob's other devices).
    let bob_cid = f.subscribed_client(&f.bob, "bob").await;
    let ann_poll = f.connect(&cid);
    let bob_poll = f.connect(&bob_cid);
    let (status, body) = f.app.account("POST", &format!("{}/activity", f.conversation), Some(activity(json!({"type": "user", "userId": f.bob}), "conversation:read"))).await;
    assert_eq!(status, 200, "{body}");
    for (who, poll) in [("ann", ann_poll), ("bob", bob_poll)] {
        let evs = events(&within(who, poll).await.unwrap());
        assert_eq!(evs.len(), 1, "{who}: {evs:?}");
        let a = &evs[0]["activity"];
        assert_eq!((a["type"].as_str(), a["role"].as_str(), a["appUserId"].as_str(), a["userId"].as_str()), (Some("conversation:read"), Some("appUser"), Some(f.bob.as_str()), Some("bob")));
        assert!(a["lastRead"].as_f64().unwrap() > 1.5e9);
    }
}

/// Concurrent posts to two conversations: every event arrives, and each conversation's
/// in the order its history shows (commit order). On PostgreSQL, transactions commit out
/// of `seq` order here, which the hub's trailing window absorbs.
async fn events_come_in_commit_order_on(db: Db) {
    let Some(f) = fixture_on(db).await else { return };
    let f = std::sync::Arc::new(f);
    let (status, c) = f
        .app
        .account("POST", &format!("/v2/apps/{}/conversations", f.app_id), Some(json!({"type": "sdkGroup", "participants": [{"userId": f.ann}]})))
        .await;
    assert_eq!(status, 201, "{c}");
    let second = format!("/v2/apps/{}/conversations/{}", f.app_id, c["conversation"]["id"].as_str().unwrap());
    let cid = f.subscribed_client(&f.ann, "ann").await;
    let mut posts = Vec::new();
    for i in 0..40 {
        let f = f.clone();
        let path = if i % 2 == 0 { f.conversation.clone() } else { second.clone() };
        posts.push(tokio::spawn(async move {
            let (status, body) = f
                .app
                .account("POST", &format!("{path}/messages"), Some(json!({"author": {"type": "business"}, "content": {"type": "text", "text": format!("m{i}")}})))
                .await;
            assert_eq!(status, 201, "{body}");
        }));
    }
    for p in posts {
        p.await.unwrap();
    }
    let mut got: Vec<(String, String)> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(15);
    while got.len() < 40 && Instant::now() < deadline {
        let r = f.faye(json!([{"channel": "/meta/connect", "clientId": cid, "connectionType": "long-polling"}])).await;
        // (The second conversation's `conversation:added` may arrive too: live delivery
        // races with the subscription.)
        got.extend(
            events(&r)
                .into_iter()
                .filter(|e| e["type"] == "message")
                .map(|e| (e["conversation"]["_id"].as_str().unwrap().to_string(), e["message"]["_id"].as_str().unwrap().to_string())),
        );
    }
    assert_eq!(got.len(), 40, "every message arrives once: {got:?}");
    for path in [&f.conversation, &second] {
        let (_, history) = f.app.account("GET", &format!("{path}/messages"), None).await;
        let committed: Vec<String> = history["messages"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap().to_string()).collect();
        let conversation_id = path.rsplit('/').next().unwrap();
        let live: Vec<String> = got.iter().filter(|(c, _)| c == conversation_id).map(|(_, m)| m.clone()).collect();
        assert_eq!(committed.len(), 20);
        assert_eq!(live, committed);
    }
}

#[tokio::test]
async fn events_come_in_commit_order() {
    events_come_in_commit_order_on(Db::Sqlite).await;
}

#[tokio::test]
async fn events_come_in_commit_order_on_postgres() {
    events_come_in_commit_order_on(Db::Postgres).await;
}

#[tokio::test]
async fn joining_and_leaving_are_announced() {
    let f = fixture().await;
    let carl = f.app.create_user(&f.app_id, Some("carl")).await;
    let ann_cid = f.subscribed_client(&f.ann, "ann").await;
    let carl_cid = f.subscribed_client(&carl, "carl").await;
    let ann_poll = f.connect(&ann_cid);
    let carl_poll = f.connect(&carl_cid);
    let (status, body) = f.app.account("POST", &format!("{}/join", f.conversation), Some(json!({"userId": carl}))).await;
    assert_eq!(status, 201, "{body}");
    let to_ann = events(&within("ann", ann_poll).await.unwrap());
    assert_eq!(to_ann[0]["type"], "participant:added");
    assert_eq!(to_ann[0]["participant"]["appUserId"], carl.as_str());
    let to_carl = events(&within("carl", carl_poll).await.unwrap());
    assert_eq!(to_carl[0]["type"], "conversation:added");
    assert_eq!(to_carl[0]["conversation"]["_id"], f.conversation_id.as_str());
    // Now Carl hears messages; after leaving he is told, and hears no more.
    let carl_poll = f.connect(&carl_cid);
    f.post_text("welcome").await;
    assert_eq!(events(&within("carl", carl_poll).await.unwrap())[0]["type"], "message");
    let carl_poll = f.connect(&carl_cid);
    let (status, body) = f.app.account("POST", &format!("{}/leave", f.conversation), Some(json!({"userId": carl}))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(events(&within("carl", carl_poll).await.unwrap())[0]["type"], "conversation:removed");
}

#[tokio::test]
async fn deleting_a_conversation_is_announced_to_who_was_in_it() {
    let f = fixture().await;
    // Made while nobody of the app is subscribed (the fixture's probe has left), so the
    // live fan-out has never seen it: the removal itself must say who was in it.
    let (status, c) = f.app.account("POST", &format!("/v2/apps/{}/conversations", f.app_id), Some(json!({"type": "sdkGroup", "participants": [{"userId": f.ann}]}))).await;
    assert_eq!(status, 201, "{c}");
    let id = c["conversation"]["id"].as_str().unwrap().to_string();
    let ann_cid = f.subscribed_client(&f.ann, "ann").await;
    let mut poll = f.connect(&ann_cid);
    let (status, body) = f.app.account("DELETE", &format!("/v2/apps/{}/conversations/{id}", f.app_id), None).await;
    assert_eq!(status, 200, "{body}");
    loop {
        let heard = events(&within("ann's conversation:removed", poll).await.unwrap());
        if heard.iter().any(|e| e["type"] == "conversation:removed" && e["conversation"]["_id"] == id.as_str()) {
            break;
        }
        poll = f.connect(&ann_cid);
    }
}

#[tokio::test]
async fn jsonp_callback_polling_and_cors() {
    let f = fixture().await;
    let handshake = json!([{"channel": "/meta/handshake", "version": "1.0", "supportedConnectionTypes": ["callback-polling"]}]).to_string();
    let res = f
        .app
        .http
        .get(f.app.url("/faye"))
        .query(&[("message", handshake.as_str()), ("jsonp", "__jsonp1__")])
        .header("origin", "https://shop.example")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/javascript"));
    assert_eq!(res.headers()["access-control-allow-origin"], "https://shop.example");
    assert_eq!(res.headers()["access-control-allow-credentials"], "true");
    let body = res.text().await.unwrap();
    let inner = body.strip_prefix("/**/__jsonp1__(").and_then(|b| b.strip_suffix(");")).unwrap_or_else(|| panic!("not JSONP: {body}"));
    let replies: Value = serde_json::from_str(inner).unwrap();
    assert_eq!(replies[0]["successful"], true);
    assert!(replies[0]["supportedConnectionTypes"].as_array().unwrap().contains(&json!("callback-polling")));
    // A callback that is not an identifier is refused.
    let res = f.app.http.get(f.app.url("/faye")).query(&[("message", handshake.as_str()), ("jsonp", "alert(1)")]).send().await.unwrap();
    assert_eq!(res.status(), 400);
    // Preflight, and the CORS transport's form-encoded POST.
    let res = f
        .app
        .http
        .request(reqwest::Method::OPTIONS, f.app.url("/faye"))
        .header("origin", "https://shop.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["access-control-allow-origin"], "https://shop.example");
    assert!(res.headers()["access-control-allow-methods"].to_str().unwrap().contains("POST"));
    let form = format!("message={}", url_encode(&handshake));
    let res = f.app.http.post(f.app.url("/faye")).header("content-type", "text/plain;charset=UTF-8").body(form).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let replies: Value = res.json().await.unwrap();
    assert_eq!(replies[0]["successful"], true);
    // Garbage is a 400, not a 500.
    let res = f.app.http.post(f.app.url("/faye")).header("content-type", "application/json").body("{nope").send().await.unwrap();
    assert_eq!(res.status(), 400);
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

// ---- WebSocket ----

/// A minimal RFC 6455 client: text frames out (masked), frames in.
pub struct Ws {
    stream: TcpStream,
}

impl Ws {
    pub async fn connect(addr: SocketAddr) -> Ws {
        Self::over(TcpStream::connect(addr).await.expect("connect"), addr).await
    }

    pub async fn over(mut stream: TcpStream, addr: SocketAddr) -> Ws {
        let req = format!(
            "GET /faye HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        stream.write_all(req.as_bytes()).await.expect("write");
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            stream.read_exact(&mut byte).await.expect("read the upgrade response");
            head.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&head);
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        assert!(head.to_ascii_lowercase().contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="), "{head}");
        Ws { stream }
    }

    pub async fn send(&mut self, v: &Value) {
        let payload = v.to_string().into_bytes();
        let mut frame = vec![0x81u8];
        let mask = [0x12u8, 0x34, 0x56, 0x78];
        match payload.len() {
            n if n < 126 => frame.push(0x80 | n as u8),
            n if n < 65536 => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                frame.push(0x80 | 127);
                frame.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        frame.extend_from_slice(&mask);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.stream.write_all(&frame).await.expect("send");
    }

    /// The next text frame, parsed (answers pings on the way); None when closed.
    pub async fn recv(&mut self) -> Option<Value> {
        loop {
            let mut h = [0u8; 2];
            self.stream.read_exact(&mut h).await.ok()?;
            let opcode = h[0] & 0x0f;
            let mut len = (h[1] & 0x7f) as u64;
            if len == 126 {
                let mut b = [0u8; 2];
                self.stream.read_exact(&mut b).await.ok()?;
                len = u16::from_be_bytes(b) as u64;
            } else if len == 127 {
                let mut b = [0u8; 8];
                self.stream.read_exact(&mut b).await.ok()?;
                len = u64::from_be_bytes(b);
            }
            assert_eq!(h[1] & 0x80, 0, "server frames are not masked");
            let mut payload = vec![0u8; len as usize];
            self.stream.read_exact(&mut payload).await.ok()?;
            match opcode {
                0x1 => return Some(serde_json::from_slice(&payload).expect("JSON text frame")),
                0x8 => return None,
                0x9 => {
                    let mut pong = vec![0x8a, 0x80 | payload.len() as u8, 0, 0, 0, 0];
                    pong.extend_from_slice(&payload);
                    self.stream.write_all(&pong).await.ok()?;
                }
                _ => {}
            }
        }
    }

    /// Handshakes for the websocket transport and subscribes to `channel` with `ext`;
    /// answers the client id and the subscribe reply (anything else that arrives goes to
    /// `other`).
    pub async fn subscribe(&mut self, channel: &str, ext: Value, other: &mut Vec<Value>) -> (String, Value) {
        let r = self.call(json!({"channel": "/meta/handshake", "version": "1.0", "supportedConnectionTypes": ["websocket"], "id": "h"}), other).await;
        let client_id = r["clientId"].as_str().expect("handshake").to_string();
        let r = self.call(json!({"channel": "/meta/subscribe", "clientId": client_id, "subscription": channel, "ext": ext, "id": "s"}), other).await;
        (client_id, r)
    }

    /// Sends a `/meta/connect` for `client_id`, which the server holds until it has
    /// something to push; answers the message, to send again after each connect reply.
    pub async fn hold_connect(&mut self, client_id: &str) -> Value {
        let connect = json!([{"channel": "/meta/connect", "clientId": client_id, "connectionType": "websocket", "id": "c"}]);
        self.send(&connect).await;
        connect
    }

    /// Sends one message and returns the reply to it (by `id`), keeping anything else
    /// that arrives meanwhile in `other`.
    pub async fn call(&mut self, msg: Value, other: &mut Vec<Value>) -> Value {
        let id = msg["id"].clone();
        self.send(&json!([msg])).await;
        loop {
            let batch = self.recv().await.expect("socket open");
            let mut found = None;
            for m in batch.as_array().expect("an array").iter() {
                if m["id"] == id && m.get("successful").is_some() && found.is_none() {
                    found = Some(m.clone());
                } else {
                    other.push(m.clone());
                }
            }
            if let Some(r) = found {
                return r;
            }
        }
    }
}

#[tokio::test]
async fn websocket_delivers_messages_and_typing_as_they_commit() {
    let f = fixture().await;
    let mut ws = Ws::connect(f.app.addr).await;
    let mut pushed = Vec::new();
    let r = ws.call(json!({"channel": "/meta/handshake", "version": "1.0", "supportedConnectionTypes": ["websocket"], "id": "1"}), &mut pushed).await;
    assert_eq!(r["successful"], true, "{r}");
    let cid = r["clientId"].as_str().unwrap().to_string();
    let r = ws
        .call(json!({"channel": "/meta/subscribe", "clientId": cid, "subscription": f.channel(&f.ann), "ext": {"appUserId": f.ann, "jwt": f.jwt("ann")}, "id": "2"}), &mut pushed)
        .await;
    assert_eq!(r["successful"], true, "{r}");
    // Someone else's channel, over the socket too.
    let r = ws.call(json!({"channel": "/meta/subscribe", "clientId": cid, "subscription": f.channel(&f.bob), "ext": {"jwt": f.jwt("ann")}, "id": "3"}), &mut pushed).await;
    assert_eq!(r["successful"], false);
    // A held connect: the socket's messages are handled in order, so by the reply to the
    // message sent after it the connect has been handled, and a connect answered at once
    // would have been answered first.
    ws.send(&json!([{"channel": "/meta/connect", "clientId": cid, "connectionType": "websocket", "id": "4"}])).await;
    let r = ws.call(json!({"channel": "/meta/unsubscribe", "clientId": cid, "subscription": f.channel(&f.bob), "id": "4b"}), &mut pushed).await;
    assert!(r.get("successful").is_some(), "{r}");
    assert!(!pushed.iter().any(|m| m["id"] == "4"), "a connect with nothing to deliver is held: {pushed:?}");
    // Messages are pushed on the socket as they are published.
    let message_id = f.post_text("over the socket").await;
    f.app.account("POST", &format!("{}/activity", f.conversation), Some(json!({"author": {"type": "business"}, "type": "typing:start"}))).await;
    let mut evs = events(&pushed);
    while evs.len() < 2 {
        let batch = within("a push", ws.recv()).await.expect("socket open");
        evs.extend(events(batch.as_array().unwrap()));
    }
    assert_eq!(evs[0]["type"], "message");
    assert_eq!(evs[0]["message"]["_id"], message_id.as_str());
    assert_eq!(evs[0]["message"]["text"], "over the socket");
    assert_eq!(evs[1]["type"], "activity");
    assert_eq!(evs[1]["activity"]["type"], "typing:start");
    assert_eq!(evs[1]["activity"]["role"], "appMaker");
    // A second connect answers the held one; disconnect ends the client.
    let r = ws.call(json!({"channel": "/meta/disconnect", "clientId": cid, "id": "5"}), &mut pushed).await;
    assert_eq!(r["successful"], true);
    let r = f.faye(json!([{"channel": "/meta/connect", "clientId": cid, "connectionType": "long-polling"}])).await;
    assert_eq!(r[0]["error"], format!("401:{cid}:Unknown client"));
}

#[tokio::test]
async fn a_long_polling_client_can_move_to_a_websocket() {
    // What the faye client does: handshake over HTTP, then carry on over a socket.
    let f = fixture().await;
    let cid = f.subscribed_client(&f.ann, "ann").await;
    let mut ws = Ws::connect(f.app.addr).await;
    let mut pushed = Vec::new();
    let id = json!("c1");
    ws.send(&json!([{"channel": "/meta/connect", "clientId": cid, "connectionType": "websocket", "advice": {"timeout": 0}, "id": id}])).await;
    let first = within("the connect reply", ws.recv()).await.unwrap();
    assert_eq!(first[0]["id"], id);
    assert_eq!(first[0]["successful"], true);
    f.post_text("pushed").await;
    while events(&pushed).is_empty() {
        let batch = within("a push", ws.recv()).await.expect("socket open");
        pushed.extend(batch.as_array().unwrap().iter().cloned());
    }
    assert_eq!(events(&pushed)[0]["message"]["text"], "pushed");
}

// ---- Benchmark: idle connections per GiB ----

fn rss_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn open_files_limit() -> u64 {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    limits.lines().find(|l| l.starts_with("Max open files")).and_then(|l| l.split_whitespace().nth(3)).and_then(|n| n.parse().ok()).unwrap_or(0)
}

/// The server as its own process (so its RSS is its alone), killed on drop.
struct ServerProcess {
    child: std::process::Child,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn_server(account: (&str, &str)) -> ServerProcess {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_sunbeam"))
        .arg("serve")
        .env("SUNBEAM_LISTEN", "127.0.0.1:0")
        .env("SUNBEAM_DATABASE_URL", format!("sqlite://{}/sunbeam.db", dir.path().display()))
        .env("SUNBEAM_DATA_DIR", dir.path())
        .env("SUNBEAM_ACCOUNT_KEY_ID", account.0)
        .env("SUNBEAM_ACCOUNT_KEY_SECRET", account.1)
        .env("SUNBEAM_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start sunbeam serve");
    let stdout = child.stdout.take().unwrap();
    let mut lines = std::io::BufReader::new(stdout).lines();
    let addr = loop {
        let line = lines.next().expect("the server printed its address").unwrap();
        if let Some(rest) = line.split("listening on http://").nth(1) {
            break rest.split_whitespace().next().unwrap().parse().unwrap();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    ServerProcess { child, addr, _dir: dir }
}

/// Opens `SUNBEAM_BENCH_CONNECTIONS` (default 50,000) WebSocket clients that handshake,
/// subscribe with a user JWT and hold a connect, as idle SDKs do, then measures the
/// server's RSS and checks a message still reaches every client of one user.
/// Each process needs a descriptor per connection: `ulimit -n 60000` first where allowed
/// (else it measures what fits and projects to 50,000), then
/// `cargo test --release --test api realtime::idle_connections -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "benchmark: run with --ignored --nocapture (and a high ulimit -n)"]
async fn idle_connections_fit_in_a_gibibyte() {
    const TARGET: usize = 50_000;
    // Each end (this process, the server) needs a descriptor per connection. Where the
    // open-files limit cannot be raised that far (a sandbox without CAP_SYS_RESOURCE), the
    // bench measures as many as fit and projects the per-connection cost to the target.
    let limit = open_files_limit() as usize;
    let fit = limit.saturating_sub(500);
    let n: usize = std::env::var("SUNBEAM_BENCH_CONNECTIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(TARGET.min(fit));
    assert!(n <= fit, "{n} connections need an open-files limit of at least {} (ulimit -n)", n + 500);
    let users = 500usize.min(n.max(1));
    let account = ("act_benchbenchbenchbench01", "bench-secret-bench-secret");
    let server = spawn_server(account);
    let addr = server.addr;
    let pid = server.child.id();
    let http = reqwest::Client::new();
    let auth = TestApp::basic(account.0, account.1);
    let call = |method: reqwest::Method, path: String, body: Value| {
        let req = http.request(method, format!("http://{addr}{path}")).header("authorization", auth.clone()).json(&body);
        async move {
            let res = req.send().await.expect("request");
            assert!(res.status().is_success(), "{}", res.status());
            res.json::<Value>().await.expect("json")
        }
    };
    let app = call(reqwest::Method::POST, "/v2/apps".into(), json!({"displayName": "bench"})).await;
    let app_id = app["app"]["id"].as_str().unwrap().to_string();
    let key = call(reqwest::Method::POST, format!("/v2/apps/{app_id}/keys"), json!({"displayName": "bench"})).await;
    let (kid, secret) = (key["key"]["id"].as_str().unwrap().to_string(), key["key"]["secret"].as_str().unwrap().to_string());
    let mut user_ids = Vec::with_capacity(users);
    for chunk in (0..users).collect::<Vec<_>>().chunks(32) {
        let made = futures::future::join_all(chunk.iter().map(|i| call(reqwest::Method::POST, format!("/v2/apps/{app_id}/users"), json!({"externalId": format!("u{i}")})))).await;
        user_ids.extend(made.iter().map(|u| u["user"]["id"].as_str().unwrap().to_string()));
    }
    let conversation = call(reqwest::Method::POST, format!("/v2/apps/{app_id}/conversations"), json!({"type": "personal", "participants": [{"userId": user_ids[0]}]})).await;
    let conversation_id = conversation["conversation"]["id"].as_str().unwrap().to_string();
    let baseline = rss_kib(pid, "VmRSS:");

    let received = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let ready = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(200));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let (gate, received, ready) = (gate.clone(), received.clone(), ready.clone());
        let user = user_ids[i % users].clone();
        let channel = format!("/sdk/apps/{app_id}/appusers/{user}");
        let jwt = hs256_jwt(&kid, &secret, json!({"scope": "user", "external_id": format!("u{}", i % users)}));
        tasks.push(tokio::spawn(async move {
            let permit = gate.acquire_owned().await.unwrap();
            // Past ~28k ports per source address, use another loopback source.
            let socket = tokio::net::TcpSocket::new_v4().unwrap();
            socket.bind(SocketAddr::from(([127, 0, 0, 1 + (i / 20_000) as u8], 0))).unwrap();
            let stream = socket.connect(addr).await.expect("connect");
            let mut ws = Ws::over(stream, addr).await;
            let (cid, r) = ws.subscribe(&channel, json!({"jwt": jwt}), &mut Vec::new()).await;
            assert_eq!(r["successful"], true, "{r}");
            let connect = ws.hold_connect(&cid).await;
            ready.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            drop(permit);
            // Idle: answer each connect reply with the next connect, count deliveries.
            while let Some(batch) = ws.recv().await {
                for m in batch.as_array().into_iter().flatten() {
                    if m["channel"] == "/meta/connect" {
                        ws.send(&connect).await;
                    } else if m["channel"].as_str().is_some_and(|c| c.starts_with("/sdk/")) {
                        received.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    while ready.load(std::sync::atomic::Ordering::Relaxed) < n {
        assert!(started.elapsed() < Duration::from_secs(600), "only {} of {n} connected", ready.load(std::sync::atomic::Ordering::Relaxed));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let connect_time = started.elapsed();
    // Not a synchronisation (nothing below depends on it): the last connects are still
    // being read by the server, and the measurement is of memory at rest.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss = rss_kib(pid, "VmRSS:");
    let hwm = rss_kib(pid, "VmHWM:");

    // Still live at that size: every client of user 0 gets a message.
    let expected = (0..n).filter(|i| i % users == 0).count();
    let sent = Instant::now();
    call(reqwest::Method::POST, format!("/v2/apps/{app_id}/conversations/{conversation_id}/messages"), json!({"author": {"type": "business"}, "content": {"type": "text", "text": "to everyone of u0"}})).await;
    while received.load(std::sync::atomic::Ordering::Relaxed) < expected && sent.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let delivered = received.load(std::sync::atomic::Ordering::Relaxed);
    let fanout_time = sent.elapsed();
    let per_connection = rss.saturating_sub(baseline) as f64 / n as f64;
    let projected = baseline as f64 + per_connection * TARGET.max(n) as f64;
    println!(
        "realtime idle bench: {n} WebSocket clients (subscribed, connect held) in {:.1}s; server RSS {} MiB (before: {} MiB, peak {} MiB) = {:.1} KiB per connection; projected at {}: {:.0} MiB; a message reached {delivered}/{expected} clients of one user in {} ms",
        connect_time.as_secs_f64(),
        rss / 1024,
        baseline / 1024,
        hwm / 1024,
        per_connection,
        TARGET.max(n),
        projected / 1024.0,
        fanout_time.as_millis()
    );
    assert_eq!(delivered, expected);
    assert!(rss < 1024 * 1024, "server RSS {} MiB with {n} idle connections", rss / 1024);
    assert!(projected < 1024.0 * 1024.0, "projected server RSS {:.0} MiB at {TARGET} idle connections", projected / 1024.0);
    for t in tasks {
        t.abort();
    }
}

#[tokio::test]
async fn a_browser_merged_by_login_hears_who_it_is_now() {
    let f = fixture().await;
    let (status, body) = f
        .app
        .call("POST", &format!("/sdk/v2/apps/{}/appusers", f.app_id), None, Some(json!({"intent": "conversation:start", "client": {"id": "browser9", "platform": "web"}})))
        .await;
    assert_eq!(status, 201, "{body}");
    let (user, token) = (body["appUser"]["_id"].as_str().unwrap().to_string(), body["sessionToken"].as_str().unwrap().to_string());
    let cid = f.handshake().await;
    let r = f.subscribe(&cid, &f.channel(&user), json!({"appId": f.app_id, "appUserId": user, "sessionToken": token})).await;
    assert_eq!(r["successful"], true, "{r}");
    let poll = f.connect(&cid);
    // The anonymous visitor logs in as ann, who exists: it is merged into ann.
    let res = f
        .app
        .http
        .post(f.app.url(&format!("/sdk/v2/apps/{}/login", f.app_id)))
        .header("authorization", format!("Bearer {}", f.jwt("ann")))
        .json(&json!({"userId": "ann", "appUserId": user, "sessionToken": token, "client": {"id": "browser9", "platform": "web"}}))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{}", res.text().await.unwrap());
    let evs = events(&within("the merge notice", poll).await.unwrap());
    let link = evs.iter().find(|e| e["type"] == "link").unwrap_or_else(|| panic!("no link event in {evs:?}"));
    assert_eq!(link["appUser"]["_id"], f.ann.as_str());
    assert_eq!(link["appUser"]["userId"], "ann");
}
