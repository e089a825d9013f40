//! The end-user SDK API (`/sdk/v2/…`): sessions, login/merge/logout, messages, activity,
//! postback, config, CORS and the SDK's error shape.

use serde_json::{json, Value};

use crate::common::{bearer, hs256_jwt, Db, Spawn, TestApp};

struct Sdk {
    app: TestApp,
    app_id: String,
    key: (String, String),
}

async fn sdk() -> Sdk {
    sdk_on(Db::Sqlite).await.expect("sqlite is always available")
}

/// On PostgreSQL when it is reachable (None otherwise).
async fn sdk_on(db: Db) -> Option<Sdk> {
    let app = TestApp::spawn_with(Spawn { db, ..Spawn::default() }).await?;
    let app_id = app.create_app("Shop").await;
    let key = app.create_app_key(&app_id).await;
    Some(Sdk { app, app_id, key })
}

/// An anonymous user made through the SDK: (id, session token, conversation id).
struct Anon {
    id: String,
    token: String,
    conversation: String,
}

impl Anon {
    fn auth(&self) -> String {
        TestApp::basic(&self.id, &self.token)
    }
}

impl Sdk {
    fn path(&self, rest: &str) -> String {
        format!("/sdk/v2/apps/{}{rest}", self.app_id)
    }

    fn jwt(&self, external_id: &str) -> String {
        bearer(&hs256_jwt(&self.key.0, &self.key.1, json!({"scope": "user", "external_id": external_id})))
    }

    async fn anon(&self, client_id: &str) -> Anon {
        let (status, body) = self
            .app
            .call("POST", &self.path("/appusers"), None, Some(json!({"intent": "conversation:start", "client": {"id": client_id, "platform": "web", "info": {"vendor": "smooch"}}})))
            .await;
        assert_eq!(status, 201, "{body}");
        assert!(body["settings"]["realtime"]["baseUrl"].as_str().unwrap().ends_with("/faye"), "{body}");
        Anon {
            id: body["appUser"]["_id"].as_str().unwrap().to_string(),
            token: body["sessionToken"].as_str().unwrap().to_string(),
            conversation: body["conversation"]["_id"].as_str().unwrap().to_string(),
        }
    }

    async fn send(&self, auth: &str, conversation: &str, text: &str) -> Value {
        let (status, body) = self
            .app
            .call("POST", &self.path(&format!("/conversations/{conversation}/messages")), Some(auth), Some(json!({"message": {"type": "text", "text": text, "role": "appUser"}, "author": {"role": "appUser", "client": {"id": "b1"}}})))
            .await;
        assert_eq!(status, 201, "{body}");
        body["message"].clone()
    }

    async fn login(&self, external_id: &str, body: Value) -> (u16, Value) {
        self.app.call("POST", &self.path("/login"), Some(&self.jwt(external_id)), Some(body)).await
    }

    async fn events(&self, kind: &str) -> Vec<Value> {
        let all = self.app.store.events_after(&self.app_id, 0, 10_000).await.unwrap();
        // As a webhook that asked for full sources would receive it.
        let shaping = sunbeam::wire::webhook::Shaping { full_users: None, include_full_source: true };
        all.into_iter().filter(|e| e.trigger().as_str() == kind).map(|e| sunbeam::wire::webhook::payload(&e.event, &shaping)).collect()
    }
}

fn assert_sdk_error(status: u16, body: &Value, want_status: u16, want_code: &str) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body["error"]["code"], want_code, "{body}");
    assert!(body["error"]["description"].as_str().is_some_and(|d| !d.is_empty()), "{body}");
    assert!(body.get("errors").is_none(), "{body}");
}

#[tokio::test]
async fn a_session_token_reaches_its_own_user_only_and_never_v2() {
    let s = sdk().await;
    let a = s.anon("browser-a").await;
    let b = s.anon("browser-b").await;
    let (status, body) = s.app.call("GET", &s.path(&format!("/appusers/{}", a.id)), Some(&a.auth()), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["appUser"]["_id"], a.id.as_str());
    assert_eq!(body["appUser"]["clients"][0]["id"], "browser-a");
    assert_eq!(body["conversations"][0]["_id"], a.conversation.as_str());
    // Another user, another user's conversation, the business API, no credentials.
    let (status, body) = s.app.call("GET", &s.path(&format!("/appusers/{}", b.id)), Some(&a.auth()), None).await;
    assert_sdk_error(status, &body, 401, "invalid_auth");
    let (status, body) = s.app.call("GET", &s.path(&format!("/conversations/{}", b.conversation)), Some(&a.auth()), None).await;
    assert_sdk_error(status, &body, 404, "conversation_not_found");
    let (status, _) = s.app.call("GET", &format!("/v2/apps/{}/users/{}", s.app_id, a.id), Some(&a.auth()), None).await;
    assert_eq!(status, 401);
    let (status, _) = s.app.call("GET", &format!("/v2/apps/{}/users/{}", s.app_id, a.id), Some(&s.jwt("ann")), None).await;
    assert_eq!(status, 401);
    let (status, body) = s.app.call("GET", &s.path(&format!("/appusers/{}", a.id)), None, None).await;
    assert_sdk_error(status, &body, 401, "invalid_auth");
    let (status, body) = s.app.call("GET", &s.path(&format!("/appusers/{}", a.id)), Some(&TestApp::basic(&a.id, "wrong")), None).await;
    assert_sdk_error(status, &body, 401, "invalid_auth");
    // A business-scoped token is no end user's credential.
    let app_jwt = bearer(&hs256_jwt(&s.key.0, &s.key.1, json!({"scope": "app"})));
    let (status, body) = s.app.call("POST", &s.path("/login"), Some(&app_jwt), Some(json!({"userId": "x"}))).await;
    assert_sdk_error(status, &body, 403, "forbidden");
    // Profile updates go through the v2 user.
    let (status, body) = s.app.call("PUT", &s.path(&format!("/appusers/{}", a.id)), Some(&a.auth()), Some(json!({"givenName": "Ann", "properties": {"plan": "gold"}}))).await;
    assert_eq!(status, 200, "{body}");
    let (_, v2) = s.app.account("GET", &format!("/v2/apps/{}/users/{}", s.app_id, a.id), None).await;
    assert_eq!(v2["user"]["profile"]["givenName"], "Ann");
    assert_eq!(v2["user"]["metadata"]["plan"], "gold");
    // Bad bodies answer in the SDK's shape too.
    let (status, body) = s.app.raw("POST", &s.path("/appusers"), None, Some("application/json"), b"{nope".to_vec()).await;
    assert_sdk_error(status, &body, 400, "bad_request");
}

/// The SDK API and the realtime subscribe share one check (`domain::auth::verify_end_user`):
/// user JWTs are signed by an app key of the app they are used on.
#[tokio::test]
async fn user_jwts_are_signed_by_an_app_key_of_that_app() {
    let s = sdk().await;
    let user = json!({"scope": "user", "external_id": "ann"});
    let other = s.app.create_app("Other").await;
    let (other_kid, other_secret) = s.app.create_app_key(&other).await;
    let refused = [
        ("an account key", hs256_jwt(&s.app.account_id, &s.app.account_secret, user.clone())),
        ("another app's key", hs256_jwt(&other_kid, &other_secret, user.clone())),
        ("no external_id", hs256_jwt(&s.key.0, &s.key.1, json!({"scope": "user"}))),
        ("expired", hs256_jwt(&s.key.0, &s.key.1, json!({"scope": "user", "external_id": "ann", "exp": 1_000_000}))),
        ("an unknown key", hs256_jwt("app_5f0000000000000000000001", &s.key.1, user.clone())),
    ];
    for (what, token) in refused {
        let (status, body) = s.app.call("POST", &s.path("/login"), Some(&bearer(&token)), Some(json!({"userId": "ann"}))).await;
        assert_eq!(status, 401, "{what}: {body}");
        assert_sdk_error(status, &body, 401, "invalid_auth");
    }
    let (status, body) = s.login("ann", json!({"userId": "ann"})).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn messages_are_v2_messages_and_page_back_with_before() {
    messages_are_v2_messages_and_page_back_with_before_on(Db::Sqlite).await;
}

#[tokio::test]
async fn messages_are_v2_messages_and_page_back_with_before_on_postgres() {
    messages_are_v2_messages_and_page_back_with_before_on(Db::Postgres).await;
}

async fn messages_are_v2_messages_and_page_back_with_before_on(db: Db) {
    let Some(s) = sdk_on(db).await else { return };
    let a = s.anon("b1").await;
    let first = s.send(&a.auth(), &a.conversation, "hello").await;
    assert_eq!(first["role"], "appUser");
    assert_eq!(first["authorId"], a.id.as_str());
    assert_eq!(first["text"], "hello");
    assert_eq!(first["source"]["id"], "b1");
    assert!(first["received"].as_f64().unwrap() > 1.0e9);
    let (status, v2) = s.app.account("GET", &format!("/v2/apps/{}/conversations/{}/messages", s.app_id, a.conversation), None).await;
    assert_eq!(status, 200, "{v2}");
    assert_eq!(v2["messages"][0]["author"]["userId"], a.id.as_str());
    assert_eq!(v2["messages"][0]["content"]["text"], "hello");
    assert_eq!(v2["messages"][0]["source"]["type"], "web");
    for i in 0..104 {
        s.send(&a.auth(), &a.conversation, &format!("m{i}")).await;
    }
    let path = s.path(&format!("/conversations/{}/messages", a.conversation));
    let (status, page) = s.app.call("GET", &path, Some(&a.auth()), None).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["messages"].as_array().unwrap().len(), 100);
    assert_eq!(page["hasPrevious"], true);
    assert_eq!(page["messages"][99]["text"], "m103");
    let previous = page["previous"].as_str().unwrap();
    let (_, older) = s.app.call("GET", &format!("{path}?before={previous}"), Some(&a.auth()), None).await;
    let texts: Vec<&str> = older["messages"].as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap()).collect();
    assert_eq!(texts, ["hello", "m0", "m1", "m2", "m3"]);
    assert_eq!(older["hasPrevious"], false);
    // `before` as unix seconds: everything strictly older than the oldest held.
    let oldest = page["messages"][0]["received"].as_f64().unwrap();
    let (status, by_time) = s.app.call("GET", &format!("{path}?before={oldest}"), Some(&a.auth()), None).await;
    assert_eq!(status, 200, "{by_time}");
    for m in by_time["messages"].as_array().unwrap() {
        assert!(m["received"].as_f64().unwrap() < oldest);
    }
    let (status, body) = s.app.call("GET", &format!("{path}?before=soon"), Some(&a.auth()), None).await;
    assert_sdk_error(status, &body, 400, "bad_request");
}

#[tokio::test]
async fn login_upgrades_the_anonymous_user_in_place() {
    login_upgrades_the_anonymous_user_in_place_on(Db::Sqlite).await;
}

#[tokio::test]
async fn login_upgrades_the_anonymous_user_in_place_on_postgres() {
    login_upgrades_the_anonymous_user_in_place_on(Db::Postgres).await;
}

async fn login_upgrades_the_anonymous_user_in_place_on(db: Db) {
    let Some(s) = sdk_on(db).await else { return };
    let a = s.anon("b1").await;
    s.send(&a.auth(), &a.conversation, "before login").await;
    let (status, body) = s.login("ann", json!({"userId": "ann", "appUserId": a.id, "sessionToken": a.token, "client": {"id": "b1", "platform": "web"}})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["appUser"]["_id"], a.id.as_str());
    assert_eq!(body["appUser"]["userId"], "ann");
    assert!(body.get("sessionToken").is_none());
    assert_eq!(body["conversations"][0]["_id"], a.conversation.as_str());
    assert_eq!(body["conversations"][0]["messages"][0]["text"], "before login");
    // The session token no longer reaches the (now identified) user; the JWT does.
    let (status, _) = s.app.call("GET", &s.path(&format!("/appusers/{}", a.id)), Some(&a.auth()), None).await;
    assert_eq!(status, 401);
    assert!(!s.app.store.check_session(&s.app_id, &a.id, &a.token).await.unwrap());
    let (status, _) = s.app.call("GET", &s.path(&format!("/appusers/{}", a.id)), Some(&s.jwt("ann")), None).await;
    assert_eq!(status, 200);
    let (_, v2) = s.app.account("GET", &format!("/v2/apps/{}/users/ann", s.app_id), None).await;
    assert_eq!(v2["user"]["id"], a.id.as_str());
    assert_eq!(v2["user"]["authenticated"], true);
    let updates = s.events("user:update").await;
    assert_eq!(updates.len(), 1);
    assert_eq!(updates[0]["reason"], "authentication");
    assert_eq!(updates[0]["user"]["externalId"], "ann");
    // A JWT for someone else than the body's userId is refused.
    let (status, body) = s.login("ann", json!({"userId": "bob"})).await;
    assert_sdk_error(status, &body, 401, "invalid_auth");
}

#[tokio::test]
async fn login_merges_the_anonymous_user_into_an_existing_one() {
    login_merges_the_anonymous_user_into_an_existing_one_on(Db::Sqlite).await;
}

#[tokio::test]
async fn login_merges_the_anonymous_user_into_an_existing_one_on_postgres() {
    login_merges_the_anonymous_user_into_an_existing_one_on(Db::Postgres).await;
}

async fn login_merges_the_anonymous_user_into_an_existing_one_on(db: Db) {
    let Some(s) = sdk_on(db).await else { return };
    let bob = s.app.create_user(&s.app_id, Some("bob")).await;
    let (status, c) = s.app.account("POST", &format!("/v2/apps/{}/conversations", s.app_id), Some(json!({"type": "personal", "participants": [{"userId": bob}]}))).await;
    assert_eq!(status, 201, "{c}");
    let bob_conv = c["conversation"]["id"].as_str().unwrap().to_string();
    let (status, _) = s
        .app
        .account("POST", &format!("/v2/apps/{}/conversations/{bob_conv}/messages", s.app_id), Some(json!({"author": {"type": "business"}, "content": {"type": "text", "text": "hi bob"}})))
        .await;
    assert_eq!(status, 201);
    let a = s.anon("b1").await;
    s.send(&a.auth(), &a.conversation, "anon says").await;
    let (status, body) = s.login("bob", json!({"userId": "bob", "appUserId": a.id, "sessionToken": a.token, "client": {"id": "b1"}})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["appUser"]["_id"], bob.as_str());
    assert_eq!(body["conversations"].as_array().unwrap().len(), 1, "{body}");
    assert_eq!(body["conversations"][0]["_id"], bob_conv.as_str());
    let (_, v2) = s.app.account("GET", &format!("/v2/apps/{}/conversations/{bob_conv}/messages", s.app_id), None).await;
    let msgs = v2["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 2, "{v2}");
    assert_eq!(msgs[1]["content"]["text"], "anon says");
    assert_eq!(msgs[1]["author"]["userId"], bob.as_str());
    // The anonymous user and its token are gone.
    let (status, _) = s.app.call("GET", &s.path(&format!("/appusers/{}", a.id)), Some(&a.auth()), None).await;
    assert_eq!(status, 401);
    let (status, _) = s.app.account("GET", &format!("/v2/apps/{}/users/{}", s.app_id, a.id), None).await;
    assert_eq!(status, 404);
    let merges = s.events("user:merge").await;
    assert_eq!(merges.len(), 1);
    let m = &merges[0];
    assert_eq!(m["reason"], "sdkLogin");
    assert_eq!(m["mergedUsers"]["surviving"]["id"], bob.as_str());
    assert_eq!(m["mergedUsers"]["discarded"]["id"], a.id.as_str());
    assert_eq!(m["mergedConversations"]["surviving"]["id"], bob_conv.as_str());
    assert_eq!(m["mergedConversations"]["discarded"]["id"], a.conversation.as_str());
    let adds = s.events("client:add").await;
    let added = adds.iter().find(|e| e["reason"] == "sdkLogin" && e["user"]["id"] == bob.as_str()).unwrap_or_else(|| panic!("{adds:?}"));
    // Webhooks name the v2 client; the browser's own id is its device's guid.
    let (_, devices) = s.app.account("GET", &format!("/v2/apps/{}/users/{bob}/devices", s.app_id), None).await;
    let b1 = devices["devices"].as_array().unwrap().iter().find(|d| d["guid"] == "b1").unwrap_or_else(|| panic!("{devices}"));
    assert_eq!(b1["clientId"], added["client"]["id"], "{devices}");
}

#[tokio::test]
async fn one_browser_as_a_then_b_never_sees_a() {
    one_browser_as_a_then_b_never_sees_a_on(Db::Sqlite).await;
}

#[tokio::test]
async fn one_browser_as_a_then_b_never_sees_a_on_postgres() {
    one_browser_as_a_then_b_never_sees_a_on(Db::Postgres).await;
}

async fn one_browser_as_a_then_b_never_sees_a_on(db: Db) {
    let Some(s) = sdk_on(db).await else { return };
    let (status, body) = s.login("ann", json!({"userId": "ann", "client": {"id": "b1"}})).await;
    assert_eq!(status, 200, "{body}");
    let ann = body["appUser"]["_id"].as_str().unwrap().to_string();
    let (status, c) = s.app.call("POST", &s.path(&format!("/appusers/{ann}/conversation")), Some(&s.jwt("ann")), Some(json!({"intent": "conversation:start"}))).await;
    assert_eq!(status, 200, "{c}");
    let ann_conv = c["conversation"]["_id"].as_str().unwrap().to_string();
    s.send(&s.jwt("ann"), &ann_conv, "ann's secret").await;
    let (status, body) = s.app.call("POST", &s.path(&format!("/appusers/{ann}/logout")), Some(&s.jwt("ann")), Some(json!({"client": {"id": "b1"}}))).await;
    assert_eq!(status, 200, "{body}");
    let removes = s.events("client:remove").await;
    assert_eq!(removes.len(), 1);
    assert_eq!(removes[0]["reason"], "sdk");
    assert!(crate::common::is_hex_id(removes[0]["client"]["id"].as_str().unwrap()), "{removes:?}");
    assert_eq!(removes[0]["client"]["type"], "sdk");
    // After logout the next message starts a fresh anonymous user.
    let fresh = s.anon("b1").await;
    assert_ne!(fresh.id, ann);
    let (status, body) = s.app.call("GET", &s.path(&format!("/conversations/{}/messages", fresh.conversation)), Some(&fresh.auth()), None).await;
    assert_eq!(status, 200);
    assert!(body["messages"].as_array().unwrap().is_empty());
    // Logging in as B from the same browser shows B's history only.
    let (status, body) = s.login("bea", json!({"userId": "bea", "client": {"id": "b1"}})).await;
    assert_eq!(status, 200, "{body}");
    assert_ne!(body["appUser"]["_id"], ann.as_str());
    assert!(body["conversations"].as_array().unwrap().is_empty(), "{body}");
    let (status, body) = s.app.call("GET", &s.path(&format!("/conversations/{ann_conv}/messages")), Some(&s.jwt("bea")), None).await;
    assert_sdk_error(status, &body, 404, "conversation_not_found");
    let (status, _) = s.app.call("GET", &s.path(&format!("/appusers/{ann}")), Some(&s.jwt("bea")), None).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn typing_read_and_postback() {
    typing_read_and_postback_on(Db::Sqlite).await;
}

#[tokio::test]
async fn typing_read_and_postback_on_postgres() {
    typing_read_and_postback_on(Db::Postgres).await;
}

async fn typing_read_and_postback_on(db: Db) {
    let Some(s) = sdk_on(db).await else { return };
    let a = s.anon("b1").await;
    let (status, _) = s
        .app
        .account(
            "POST",
            &format!("/v2/apps/{}/conversations/{}/messages", s.app_id, a.conversation),
            Some(json!({"author": {"type": "business"}, "content": {"type": "text", "text": "Buy?", "actions": [{"type": "postback", "text": "Buy", "payload": "BUY"}]}})),
        )
        .await;
    assert_eq!(status, 201);
    let base = s.path(&format!("/conversations/{}", a.conversation));
    let (status, conv) = s.app.call("GET", &base, Some(&a.auth()), None).await;
    assert_eq!(status, 200, "{conv}");
    assert_eq!(conv["conversation"]["participants"][0]["appUserId"], a.id.as_str());
    assert_eq!(conv["conversation"]["participants"][0]["unreadCount"], 1);
    let message = &conv["messages"][0];
    assert_eq!(message["role"], "appMaker");
    let action_id = message["actions"][0]["_id"].as_str().unwrap().to_string();

    let (status, body) = s.app.call("POST", &format!("{base}/activity"), Some(&a.auth()), Some(json!({"activity": {"type": "typing:start"}, "author": {"role": "appUser"}}))).await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = s.app.call("POST", &format!("{base}/activity"), Some(&a.auth()), Some(json!({"activity": {"type": "conversation:read"}}))).await;
    assert_eq!(status, 200);
    let (status, body) = s.app.call("POST", &format!("{base}/activity"), Some(&a.auth()), Some(json!({"activity": {"type": "dancing"}}))).await;
    assert_sdk_error(status, &body, 400, "bad_request");
    let typing = s.events("conversation:typing").await;
    assert_eq!(typing[0]["activity"]["type"], "typing:start");
    assert_eq!(typing[0]["activity"]["author"]["userId"], a.id.as_str());
    assert_eq!(s.events("conversation:read").await.len(), 1);
    let (_, conv) = s.app.call("GET", &base, Some(&a.auth()), None).await;
    assert_eq!(conv["conversation"]["participants"][0]["unreadCount"], 0);

    let (status, body) = s.app.call("POST", &format!("{base}/postback"), Some(&a.auth()), Some(json!({"postback": {"actionId": action_id}, "author": {"role": "appUser", "client": {"id": "b1"}}}))).await;
    assert_eq!(status, 200, "{body}");
    let postbacks = s.events("conversation:postback").await;
    assert_eq!(postbacks.len(), 1);
    assert_eq!(postbacks[0]["postback"]["payload"], "BUY");
    assert_eq!(postbacks[0]["user"]["id"], a.id.as_str());
    assert_eq!(postbacks[0]["conversation"]["id"], a.conversation.as_str());
    assert_eq!(postbacks[0]["source"]["type"], "web");
    let (status, body) = s.app.call("POST", &format!("{base}/postback"), Some(&a.auth()), Some(json!({"postback": {"actionId": "nope"}}))).await;
    assert_sdk_error(status, &body, 400, "bad_request");
}

#[tokio::test]
async fn integration_config_cors_and_unknown_integrations() {
    let s = sdk().await;
    let (status, web) = s.app.account("POST", &format!("/v2/apps/{}/integrations", s.app_id), Some(json!({"type": "web", "brandColor": "112233"}))).await;
    assert_eq!(status, 201, "{web}");
    let web_id = web["integration"]["id"].as_str().unwrap();
    let (status, body) = s.app.call("GET", &format!("/sdk/v2/integrations/{web_id}/config"), None, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["config"]["app"]["_id"], s.app_id.as_str());
    assert_eq!(body["config"]["app"]["status"], "active");
    assert_eq!(body["config"]["integration"]["_id"], web_id);
    assert_eq!(body["config"]["integration"]["type"], "web");
    assert_eq!(body["config"]["integration"]["brandColor"], "112233");
    assert!(body["config"]["baseUrl"]["web"].as_str().unwrap().starts_with("http://"));
    let (status, body) = s.app.call("GET", "/sdk/v2/integrations/5f0000000000000000000001/config", None, None).await;
    assert_sdk_error(status, &body, 404, "integration_not_found");
    let (_, custom) = s.app.account("POST", &format!("/v2/apps/{}/integrations", s.app_id), Some(json!({"type": "custom", "webhooks": [{"target": "https://example.com/hook", "triggers": ["conversation:message"]}]}))).await;
    if let Some(id) = custom["integration"]["id"].as_str() {
        let (status, body) = s.app.call("GET", &format!("/sdk/v2/integrations/{id}/config"), None, None).await;
        assert_sdk_error(status, &body, 404, "integration_not_found");
    }

    let res = s
        .app
        .http
        .request(reqwest::Method::OPTIONS, s.app.url(&s.path("/appusers")))
        .header("origin", "https://shop.example")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "authorization,content-type,x-smooch-appid,x-smooch-clientid,x-smooch-sdk")
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{}", res.status());
    let h = res.headers();
    assert_eq!(h.get("access-control-allow-origin").unwrap(), "*");
    let allowed = h.get("access-control-allow-headers").unwrap().to_str().unwrap().to_ascii_lowercase();
    for name in ["authorization", "x-smooch-appid", "x-smooch-clientid", "x-smooch-sdk"] {
        assert!(allowed.contains(name), "{allowed}");
    }
    // Plain requests carry the CORS header too.
    let res = s.app.http.get(s.app.url(&format!("/sdk/v2/integrations/{web_id}/config"))).header("origin", "https://shop.example").send().await.unwrap();
    assert_eq!(res.headers().get("access-control-allow-origin").unwrap(), "*");
    // The SDK's headers: an app id that is not the path's is refused.
    let res = s.app.http.post(s.app.url(&s.path("/appusers"))).header("x-smooch-appid", "5f0000000000000000000009").json(&json!({})).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 400);
}
