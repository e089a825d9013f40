//! The switchboard over HTTP: Switchboards and Switchboard Integrations (CRUD, the spec's
//! rules, scopes), the control actions walked through every transition and every refusal,
//! conversations showing who is in control, and, end to end with real receivers on
//! loopback, which integration's webhook hears what.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};

use crate::common::{assert_error, TestApp};

// ---- fixtures ----

/// A custom integration (its one webhook posting `triggers` to `target`) and an API key
/// of its own (integration scope).
struct Linked {
    integration_id: String,
    auth: String,
}

async fn custom(app: &TestApp, app_id: &str, target: &str, triggers: &[&str]) -> Linked {
    let body = json!({"type": "custom", "webhooks": [{"target": target, "triggers": triggers}]});
    let (status, out) = app.account("POST", &format!("/v2/apps/{app_id}/integrations"), Some(body)).await;
    assert_eq!(status, 201, "{out}");
    let integration_id = out["integration"]["id"].as_str().unwrap().to_string();
    let (status, key) = app.account("POST", &format!("/v2/apps/{app_id}/integrations/{integration_id}/keys"), Some(json!({"displayName": "own"}))).await;
    assert_eq!(status, 201, "{key}");
    let auth = TestApp::basic(key["key"]["id"].as_str().unwrap(), key["key"]["secret"].as_str().unwrap());
    Linked { integration_id, auth }
}

async fn ok(app: &TestApp, method: &str, path: &str, body: Option<Value>) -> Value {
    let (status, out) = app.account(method, path, body).await;
    assert!(status == 200 || status == 201, "{method} {path}: {status} {out}");
    out
}

async fn create_switchboard(app: &TestApp, app_id: &str) -> String {
    let out = ok(app, "POST", &format!("/v2/apps/{app_id}/switchboards"), None).await;
    out["switchboard"]["id"].as_str().unwrap().to_string()
}

async fn create_sbi(app: &TestApp, app_id: &str, sb: &str, body: Value) -> Value {
    let (status, out) = app.account("POST", &format!("/v2/apps/{app_id}/switchboards/{sb}/switchboardIntegrations"), Some(body)).await;
    assert_eq!(status, 201, "{out}");
    out["switchboardIntegration"].clone()
}

fn id_of(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

/// An app whose enabled switchboard chains bot → agent → human (→ bot), bot the default.
/// `targets` are the three webhooks' targets; `standby` says which take standby events.
struct Board {
    app_id: String,
    switchboard: String,
    bot: (Linked, String),
    agent: (Linked, String),
    human: (Linked, String),
}

const ALL_TRIGGERS: &[&str] = &[
    "conversation:create",
    "conversation:message",
    "switchboard:passControl",
    "switchboard:passControl:failure",
    "switchboard:offerControl",
    "switchboard:offerControl:failure",
    "switchboard:acceptControl",
    "switchboard:acceptControl:failure",
    "switchboard:releaseControl",
];

async fn board(app: &TestApp, targets: [&str; 3], standby: [bool; 3]) -> Board {
    let app_id = app.create_app("Desk").await;
    let bot = custom(app, &app_id, targets[0], ALL_TRIGGERS).await;
    let agent = custom(app, &app_id, targets[1], ALL_TRIGGERS).await;
    let human = custom(app, &app_id, targets[2], ALL_TRIGGERS).await;
    let sb = create_switchboard(app, &app_id).await;
    let h = create_sbi(app, &app_id, &sb, json!({"name": "human", "integrationId": human.integration_id, "deliverStandbyEvents": standby[2]})).await;
    let a = create_sbi(app, &app_id, &sb, json!({"name": "agent", "integrationId": agent.integration_id, "deliverStandbyEvents": standby[1], "nextSwitchboardIntegrationId": id_of(&h)}))
        .await;
    let b = create_sbi(app, &app_id, &sb, json!({"name": "bot", "integrationId": bot.integration_id, "deliverStandbyEvents": standby[0], "nextSwitchboardIntegrationId": id_of(&a)})).await;
    let sbis = format!("/v2/apps/{app_id}/switchboards/{sb}/switchboardIntegrations");
    ok(app, "PATCH", &format!("{sbis}/{}", id_of(&h)), Some(json!({"nextSwitchboardIntegrationId": id_of(&b)}))).await;
    ok(app, "PATCH", &format!("/v2/apps/{app_id}/switchboards/{sb}"), Some(json!({"enabled": true, "defaultSwitchboardIntegrationId": id_of(&b)}))).await;
    Board { app_id, switchboard: sb, bot: (bot, id_of(&b)), agent: (agent, id_of(&a)), human: (human, id_of(&h)) }
}

impl Board {
    async fn personal(&self, app: &TestApp) -> (String, String) {
        let user = app.create_user(&self.app_id, None).await;
        let out = ok(app, "POST", &format!("/v2/apps/{}/conversations", self.app_id), Some(json!({"type": "personal", "participants": [{"userId": user}]}))).await;
        (out["conversation"]["id"].as_str().unwrap().to_string(), user)
    }

    fn action(&self, conversation: &str, action: &str) -> String {
        format!("/v2/apps/{}/conversations/{conversation}/{action}", self.app_id)
    }

    async fn act(&self, app: &TestApp, auth: Option<&str>, conversation: &str, action: &str, body: Value) -> (u16, Value) {
        let account = app.account_auth();
        app.call("POST", &self.action(conversation, action), Some(auth.unwrap_or(&account)), Some(body)).await
    }

    async fn act_ok(&self, app: &TestApp, auth: Option<&str>, conversation: &str, action: &str, body: Value) {
        let (status, out) = self.act(app, auth, conversation, action, body).await;
        assert_eq!((status, &out), (200, &json!({})), "{action}");
    }

    async fn conversation(&self, app: &TestApp, id: &str) -> Value {
        ok(app, "GET", &format!("/v2/apps/{}/conversations/{id}", self.app_id), None).await["conversation"].clone()
    }

    /// (active name, pending name) as GetConversation shows them.
    async fn control(&self, app: &TestApp, id: &str) -> (Option<String>, Option<String>) {
        let c = self.conversation(app, id).await;
        let name = |k: &str| c.get(k).map(|s| s["name"].as_str().unwrap().to_string());
        (name("activeSwitchboardIntegration"), name("pendingSwitchboardIntegration"))
    }

    async fn say(&self, app: &TestApp, conversation: &str, user: &str, text: &str) {
        let body = json!({"author": {"type": "user", "userId": user}, "content": {"type": "text", "text": text}});
        ok(app, "POST", &format!("/v2/apps/{}/conversations/{conversation}/messages", self.app_id), Some(body)).await;
    }
}

fn names(active: Option<&str>, pending: Option<&str>) -> (Option<String>, Option<String>) {
    (active.map(str::to_string), pending.map(str::to_string))
}

const NOWHERE: [&str; 3] = ["https://example.com/bot", "https://example.com/agent", "https://example.com/human"];

// ---- Switchboards ----

#[tokio::test]
async fn an_app_has_one_switchboard_created_disabled_and_enabled_only_with_a_default() {
    let app = TestApp::spawn().await;
    let app_id = app.create_app("Desk").await;
    let base = format!("/v2/apps/{app_id}/switchboards");
    assert_eq!(ok(&app, "GET", &base, None).await, json!({"switchboards": []}));

    let (status, created) = app.account("POST", &base, None).await;
    assert_eq!(status, 201, "{created}");
    let sb = created["switchboard"].clone();
    assert_eq!(sb, json!({"id": sb["id"], "enabled": false}));
    assert!(crate::common::is_hex_id(sb["id"].as_str().unwrap()));
    let (status, again) = app.account("POST", &base, None).await;
    assert_error(status, &again, 400, "bad_request");
    assert_eq!(again["errors"][0]["title"], "Only one switchboard can be created per app");
    assert_eq!(ok(&app, "GET", &base, None).await, json!({"switchboards": [sb]}));

    let one = format!("{base}/{}", id_of(&sb));
    let (status, out) = app.account("PATCH", &one, Some(json!({"enabled": true}))).await;
    assert_error(status, &out, 400, "bad_request");
    assert_eq!(out["errors"][0]["title"], "Enabled switchboard must have an associated default switchboardIntegration");
    let (status, out) = app.account("PATCH", &one, Some(json!({"defaultSwitchboardIntegrationId": "5ef21b86e933b7355c11c604"}))).await;
    assert_error(status, &out, 404, "switchboard_integration_not_found");
    let (status, out) = app.account("PATCH", &one, Some(json!({"enabled": "yes"}))).await;
    assert_error(status, &out, 400, "bad_request");
    let (status, out) = app.account("PATCH", &format!("{base}/5ef21b86e933b7355c11c604"), Some(json!({"enabled": false}))).await;
    assert_error(status, &out, 404, "switchboard_not_found");

    let bot = custom(&app, &app_id, "https://example.com/bot", &["conversation:message"]).await;
    let sbi = create_sbi(&app, &app_id, &id_of(&sb), json!({"name": "bot", "integrationId": bot.integration_id})).await;
    let enabled = ok(&app, "PATCH", &one, Some(json!({"enabled": true, "defaultSwitchboardIntegrationId": id_of(&sbi)}))).await;
    assert_eq!(enabled["switchboard"], json!({"id": sb["id"], "enabled": true, "defaultSwitchboardIntegrationId": id_of(&sbi)}));
    let disabled = ok(&app, "PATCH", &one, Some(json!({"enabled": false}))).await;
    assert_eq!(disabled["switchboard"]["enabled"], false);
    assert_eq!(disabled["switchboard"]["defaultSwitchboardIntegrationId"], id_of(&sbi));

    // Deleting it takes its switchboard integrations along.
    assert_eq!(ok(&app, "DELETE", &one, None).await, json!({}));
    assert_eq!(ok(&app, "GET", &base, None).await, json!({"switchboards": []}));
    let (status, out) = app.account("DELETE", &one, None).await;
    assert_error(status, &out, 404, "switchboard_not_found");
    let (status, out) = app.account("GET", &format!("{one}/switchboardIntegrations"), None).await;
    assert_error(status, &out, 404, "switchboard_not_found");
    // And a new one may be made.
    let (status, _) = app.account("POST", &base, None).await;
    assert_eq!(status, 201);
}

#[tokio::test]
async fn switchboards_take_account_and_app_keys_never_integration_keys() {
    let app = TestApp::spawn().await;
    let app_id = app.create_app("Desk").await;
    let other = app.create_app("Other").await;
    let (kid, secret) = app.create_app_key(&app_id).await;
    let app_auth = TestApp::basic(&kid, &secret);
    let bot = custom(&app, &app_id, "https://example.com/bot", &["conversation:message"]).await;

    let base = format!("/v2/apps/{app_id}/switchboards");
    let (status, created) = app.call("POST", &base, Some(&app_auth), None).await;
    assert_eq!(status, 201, "{created}");
    let sb = id_of(&created["switchboard"]);
    for (method, path, body) in [
        ("GET", base.clone(), None),
        ("POST", base.clone(), None),
        ("PATCH", format!("{base}/{sb}"), Some(json!({"enabled": false}))),
        ("DELETE", format!("{base}/{sb}"), None),
        ("GET", format!("{base}/{sb}/switchboardIntegrations"), None),
        ("POST", format!("{base}/{sb}/switchboardIntegrations"), Some(json!({"name": "x", "integrationId": bot.integration_id}))),
    ] {
        let (status, out) = app.call(method, &path, Some(&bot.auth), body.clone()).await;
        assert_error(status, &out, 403, "forbidden");
        // Another app's key reaches nothing here either.
        let (status, out) = app.call(method, &path.replace(&app_id, &other), Some(&app_auth), body).await;
        assert_error(status, &out, 403, "forbidden");
    }
    let (status, out) = app.account("GET", "/v2/apps/5ef21b86e933b7355c11c604/switchboards", None).await;
    assert_error(status, &out, 404, "app_not_found");
    let (status, out) = app.call("GET", &base, None, None).await;
    assert_error(status, &out, 401, "unauthorized");
}

// ---- Switchboard Integrations ----

#[tokio::test]
async fn switchboard_integrations_link_by_id_or_type_and_follow_the_specs_rules() {
    let app = TestApp::spawn().await;
    let app_id = app.create_app("Desk").await;
    let sb = create_switchboard(&app, &app_id).await;
    let base = format!("/v2/apps/{app_id}/switchboards/{sb}/switchboardIntegrations");
    let bot = custom(&app, &app_id, "https://example.com/bot", &["conversation:message"]).await;
    let web = ok(&app, "POST", &format!("/v2/apps/{app_id}/integrations"), Some(json!({"type": "web"}))).await["integration"]["id"].as_str().unwrap().to_string();

    let b = create_sbi(&app, &app_id, &sb, json!({"name": "bot", "integrationId": bot.integration_id})).await;
    assert_eq!(b, json!({"id": b["id"], "name": "bot", "integrationId": bot.integration_id, "integrationType": "custom", "deliverStandbyEvents": true}));
    let w = create_sbi(&app, &app_id, &sb, json!({"name": "web-messenger_1", "integrationType": "web", "deliverStandbyEvents": false, "nextSwitchboardIntegrationId": id_of(&b), "messageHistoryCount": 5})).await;
    assert_eq!(
        w,
        json!({"id": w["id"], "name": "web-messenger_1", "integrationId": web, "integrationType": "web", "deliverStandbyEvents": false,
               "nextSwitchboardIntegrationId": id_of(&b), "messageHistoryCount": 5})
    );
    assert_eq!(ok(&app, "GET", &base, None).await, json!({"switchboardIntegrations": [b, w]}));

    let spare = custom(&app, &app_id, "https://example.com/spare", &["conversation:message"]).await;
    for (body, status, code) in [
        (json!({"integrationId": spare.integration_id}), 400, "bad_request"),
        (json!({"name": "spare"}), 400, "bad_request"),
        (json!({"name": "spare", "integrationId": spare.integration_id, "integrationType": "custom"}), 400, "bad_request"),
        (json!({"name": "with space", "integrationId": spare.integration_id}), 400, "bad_request"),
        (json!({"name": "next", "integrationId": spare.integration_id}), 400, "bad_request"),
        (json!({"name": "x".repeat(129), "integrationId": spare.integration_id}), 400, "bad_request"),
        (json!({"name": "spare", "integrationId": spare.integration_id, "messageHistoryCount": 11}), 400, "bad_request"),
        (json!({"name": "spare", "integrationId": spare.integration_id, "deliverStandbyEvents": 1}), 400, "bad_request"),
        // Names are unique in a switchboard, and an integration is linked once.
        (json!({"name": "bot", "integrationId": spare.integration_id}), 400, "bad_request"),
        (json!({"name": "bot2", "integrationId": bot.integration_id}), 400, "bad_request"),
        (json!({"name": "spare", "integrationId": spare.integration_id, "nextSwitchboardIntegrationId": "5ef21b86e933b7355c11c604"}), 400, "bad_request"),
        (json!({"name": "spare", "integrationId": "5ef21b86e933b7355c11c604"}), 404, "integration_not_found"),
        (json!({"name": "spare", "integrationType": "whatsapp"}), 404, "integration_not_found"),
        // The app has two custom integrations (one already linked): the type is ambiguous.
        (json!({"name": "spare", "integrationType": "custom"}), 400, "bad_request"),
    ] {
        let (s, out) = app.account("POST", &base, Some(body.clone())).await;
        assert_error(s, &out, status, code);
        assert!(!out.to_string().contains("internal"), "{body}: {out}");
    }
    let (s, out) = app.account("POST", &format!("/v2/apps/{app_id}/switchboards/5ef21b86e933b7355c11c604/switchboardIntegrations"), Some(json!({"name": "x", "integrationId": spare.integration_id}))).await;
    assert_error(s, &out, 404, "switchboard_not_found");

    // Update: rename, relink, unset next, change the history count; the same rules hold.
    let one = format!("{base}/{}", id_of(&w));
    let updated = ok(&app, "PATCH", &one, Some(json!({"name": "messenger", "integrationId": spare.integration_id, "nextSwitchboardIntegrationId": null, "messageHistoryCount": null}))).await;
    assert_eq!(
        updated["switchboardIntegration"],
        json!({"id": w["id"], "name": "messenger", "integrationId": spare.integration_id, "integrationType": "custom", "deliverStandbyEvents": false})
    );
    for (body, status, code) in [
        (json!({"name": "bot"}), 400, "bad_request"),
        (json!({"integrationId": bot.integration_id}), 400, "bad_request"),
        (json!({"integrationId": web, "integrationType": "web"}), 400, "bad_request"),
        (json!({"nextSwitchboardIntegrationId": id_of(&w)}), 400, "bad_request"),
        (json!({"name": null}), 400, "bad_request"),
    ] {
        let (s, out) = app.account("PATCH", &one, Some(body)).await;
        assert_error(s, &out, status, code);
    }
    let (s, out) = app.account("PATCH", &format!("{base}/5ef21b86e933b7355c11c604"), Some(json!({"name": "x"}))).await;
    assert_error(s, &out, 404, "switchboard_integration_not_found");

    // Delete: not the default, not anyone's next.
    ok(&app, "PATCH", &format!("/v2/apps/{app_id}/switchboards/{sb}"), Some(json!({"defaultSwitchboardIntegrationId": id_of(&b)}))).await;
    ok(&app, "PATCH", &one, Some(json!({"nextSwitchboardIntegrationId": id_of(&b)}))).await;
    let (s, out) = app.account("DELETE", &format!("{base}/{}", id_of(&b)), None).await;
    assert_error(s, &out, 400, "bad_request");
    ok(&app, "PATCH", &format!("{base}/{}", id_of(&b)), Some(json!({"nextSwitchboardIntegrationId": id_of(&w)}))).await;
    let (s, out) = app.account("DELETE", &one, None).await;
    assert_error(s, &out, 400, "bad_request");
    assert!(out["errors"][0]["title"].as_str().unwrap().contains("nextSwitchboardIntegrationId"), "{out}");
    ok(&app, "PATCH", &format!("{base}/{}", id_of(&b)), Some(json!({"nextSwitchboardIntegrationId": null}))).await;
    assert_eq!(ok(&app, "DELETE", &one, None).await, json!({}));
    let (s, out) = app.account("DELETE", &one, None).await;
    assert_error(s, &out, 404, "switchboard_integration_not_found");
    assert_eq!(ok(&app, "GET", &base, None).await["switchboardIntegrations"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_switchboard_holds_at_most_ten_integrations() {
    let app = TestApp::spawn().await;
    let app_id = app.create_app("Desk").await;
    let sb = create_switchboard(&app, &app_id).await;
    let base = format!("/v2/apps/{app_id}/switchboards/{sb}/switchboardIntegrations");
    let mut last = String::new();
    for n in 0..11 {
        last = ok(&app, "POST", &format!("/v2/apps/{app_id}/integrations"), Some(json!({"type": "web", "displayName": format!("site {n}")}))).await["integration"]["id"]
            .as_str()
            .unwrap()
            .to_string();
        if n < 10 {
            create_sbi(&app, &app_id, &sb, json!({"name": format!("site-{n}"), "integrationId": last})).await;
        }
    }
    let (status, out) = app.account("POST", &base, Some(json!({"name": "site-10", "integrationId": last}))).await;
    assert_error(status, &out, 400, "too_many_switchboard_integrations");
    assert_eq!(out["errors"][0]["title"], "Switchboard has reached the max number of switchboard integrations (10)");
}

// ---- control: every transition ----

#[tokio::test]
async fn control_walks_pass_offer_accept_release_and_back_to_the_default() {
    let app = TestApp::spawn().await;
    let b = board(&app, NOWHERE, [false, false, false]).await;
    let (c, user) = b.personal(&app).await;

    // A new conversation starts with the default in control, on every conversation view.
    let conversation = b.conversation(&app, &c).await;
    assert_eq!(
        conversation["activeSwitchboardIntegration"],
        json!({"id": b.bot.1, "name": "bot", "integrationId": b.bot.0.integration_id, "integrationType": "custom"})
    );
    assert!(conversation.get("pendingSwitchboardIntegration").is_none(), "{conversation}");
    let listed = ok(&app, "GET", &format!("/v2/apps/{}/conversations?filter[userId]={user}", b.app_id), None).await;
    assert_eq!(listed["conversations"][0]["activeSwitchboardIntegration"]["name"], "bot");

    // pass by `next`, then offer, accept, release.
    b.act_ok(&app, None, &c, "passControl", json!({"switchboardIntegration": "next", "metadata": {"reason": "escalate"}})).await;
    assert_eq!(b.control(&app, &c).await, names(Some("agent"), None));
    b.act_ok(&app, None, &c, "offerControl", json!({"switchboardIntegration": "human"})).await;
    assert_eq!(b.control(&app, &c).await, names(Some("agent"), Some("human")));
    // A new offer replaces the earlier one.
    b.act_ok(&app, None, &c, "offerControl", json!({"switchboardIntegration": b.bot.1})).await;
    assert_eq!(b.control(&app, &c).await, names(Some("agent"), Some("bot")));
    b.act_ok(&app, None, &c, "offerControl", json!({"switchboardIntegration": "next"})).await;
    assert_eq!(b.control(&app, &c).await, names(Some("agent"), Some("human")));
    b.act_ok(&app, Some(&b.human.0.auth), &c, "acceptControl", json!({})).await;
    assert_eq!(b.control(&app, &c).await, names(Some("human"), None));
    // A pass lets a pending offer lapse.
    b.act_ok(&app, None, &c, "offerControl", json!({"switchboardIntegration": "agent"})).await;
    b.act_ok(&app, None, &c, "passControl", json!({"switchboardIntegration": b.bot.1})).await;
    assert_eq!(b.control(&app, &c).await, names(Some("bot"), None));
    // All three are custom integrations: their type names none of them.
    let (status, out) = b.act(&app, None, &c, "passControl", json!({"switchboardIntegration": "custom"})).await;
    assert_error(status, &out, 400, "bad_request");
    b.act_ok(&app, Some(&b.bot.0.auth), &c, "releaseControl", json!({"metadata": {"done": true}})).await;
    assert_eq!(b.control(&app, &c).await, names(None, None));
    // A release body is optional.
    let (status, out) = app.call("POST", &b.action(&c, "releaseControl"), Some(&app.account_auth()), None).await;
    assert_eq!((status, out), (200, json!({})));

    // The next message hands the conversation back to the default.
    b.say(&app, &c, &user, "hello again").await;
    assert_eq!(b.control(&app, &c).await, names(Some("bot"), None));
}

#[tokio::test]
async fn conversations_before_the_switchboard_or_after_their_integration_is_deleted_go_to_the_default_at_their_next_message() {
    let app = TestApp::spawn().await;
    let app_id = app.create_app("Desk").await;
    let user = app.create_user(&app_id, None).await;
    let early = ok(&app, "POST", &format!("/v2/apps/{app_id}/conversations"), Some(json!({"type": "personal", "participants": [{"userId": user}]}))).await;
    let early = early["conversation"]["id"].as_str().unwrap().to_string();

    let bot = custom(&app, &app_id, "https://example.com/bot", &["conversation:message"]).await;
    let agent = custom(&app, &app_id, "https://example.com/agent", &["conversation:message"]).await;
    let sb = create_switchboard(&app, &app_id).await;
    let b = create_sbi(&app, &app_id, &sb, json!({"name": "bot", "integrationId": bot.integration_id})).await;
    let a = create_sbi(&app, &app_id, &sb, json!({"name": "agent", "integrationId": agent.integration_id})).await;
    // Created while the switchboard is disabled: nobody takes control.
    let group = ok(&app, "POST", &format!("/v2/apps/{app_id}/conversations"), Some(json!({"type": "sdkGroup", "participants": [{"userId": user}]}))).await;
    assert!(group["conversation"].get("activeSwitchboardIntegration").is_none(), "{group}");
    let group = group["conversation"]["id"].as_str().unwrap().to_string();
    ok(&app, "PATCH", &format!("/v2/apps/{app_id}/switchboards/{sb}"), Some(json!({"enabled": true, "defaultSwitchboardIntegrationId": id_of(&b)}))).await;

    let get = |id: String| {
        let app = &app;
        let path = format!("/v2/apps/{app_id}/conversations/{id}");
        async move { ok(app, "GET", &path, None).await["conversation"].clone() }
    };
    assert!(get(early.clone()).await.get("activeSwitchboardIntegration").is_none());
    let say = |id: String| {
        let app = &app;
        let path = format!("/v2/apps/{app_id}/conversations/{id}/messages");
        let body = json!({"author": {"type": "business"}, "content": {"type": "text", "text": "hi"}});
        async move { ok(app, "POST", &path, Some(body)).await }
    };
    say(early.clone()).await;
    say(group.clone()).await;
    assert_eq!(get(early.clone()).await["activeSwitchboardIntegration"]["name"], "bot");
    assert_eq!(get(group.clone()).await["activeSwitchboardIntegration"]["name"], "bot");

    // The agent takes control, then is deleted: nobody holds it until the next message.
    let pass = format!("/v2/apps/{app_id}/conversations/{early}/passControl");
    let (status, _) = app.call("POST", &pass, Some(&agent.auth), Some(json!({"switchboardIntegration": "agent"}))).await;
    assert_eq!(status, 200);
    assert_eq!(get(early.clone()).await["activeSwitchboardIntegration"]["name"], "agent");
    ok(&app, "DELETE", &format!("/v2/apps/{app_id}/switchboards/{sb}/switchboardIntegrations/{}", id_of(&a)), None).await;
    assert!(get(early.clone()).await.get("activeSwitchboardIntegration").is_none());
    say(early.clone()).await;
    assert_eq!(get(early.clone()).await["activeSwitchboardIntegration"]["name"], "bot");
}

// ---- control: every refusal ----

#[tokio::test]
async fn integrations_are_refused_what_they_do_not_hold_and_bad_targets_are_refused() {
    let app = TestApp::spawn().await;
    let b = board(&app, NOWHERE, [false, false, false]).await;
    let (c, _) = b.personal(&app).await;
    let outsider = custom(&app, &b.app_id, "https://example.com/outsider", &["conversation:message"]).await;

    // Release: only the active integration (bot) may.
    for auth in [&b.agent.0.auth, &b.human.0.auth, &outsider.auth] {
        let (status, out) = b.act(&app, Some(auth), &c, "releaseControl", json!({})).await;
        assert_error(status, &out, 403, "forbidden");
    }
    // Accept: only the pending one, and only when there is one.
    let (status, out) = b.act(&app, Some(&b.agent.0.auth), &c, "acceptControl", json!({})).await;
    assert_error(status, &out, 403, "forbidden");
    let (status, out) = b.act(&app, None, &c, "acceptControl", json!({})).await;
    assert_error(status, &out, 400, "bad_request");
    assert_eq!(out["errors"][0]["title"], "There is no pendingSwitchboardIntegration");
    b.act_ok(&app, Some(&b.bot.0.auth), &c, "offerControl", json!({"switchboardIntegration": "human"})).await;
    for auth in [&b.agent.0.auth, &b.bot.0.auth, &outsider.auth] {
        let (status, out) = b.act(&app, Some(auth), &c, "acceptControl", json!({})).await;
        assert_error(status, &out, 403, "forbidden");
    }
    assert_eq!(b.control(&app, &c).await, names(Some("bot"), Some("human")));
    b.act_ok(&app, Some(&b.human.0.auth), &c, "acceptControl", json!({})).await;
    // Accepting again is a retry, not an error.
    b.act_ok(&app, Some(&b.human.0.auth), &c, "acceptControl", json!({})).await;
    assert_eq!(b.control(&app, &c).await, names(Some("human"), None));

    // Offer: not to the one in control.
    let (status, out) = b.act(&app, None, &c, "offerControl", json!({"switchboardIntegration": "human"})).await;
    assert_error(status, &out, 400, "bad_request");
    assert_eq!(out["errors"][0]["title"], "Cannot offer control to the active switchboard integration.");

    // Targets: unknown names are 404, ambiguous types and bad bodies 400.
    for action in ["passControl", "offerControl"] {
        let (status, out) = b.act(&app, None, &c, action, json!({"switchboardIntegration": "nobody"})).await;
        assert_error(status, &out, 404, "switchboard_integration_not_found");
        let (status, out) = b.act(&app, None, &c, action, json!({"switchboardIntegration": "custom"})).await;
        assert_error(status, &out, 400, "bad_request");
        for body in [json!({}), json!({"switchboardIntegration": ""}), json!({"switchboardIntegration": 3}), json!({"switchboardIntegration": "bot", "metadata": {"a": {"b": 1}}})] {
            let (status, out) = b.act(&app, None, &c, action, body).await;
            assert_error(status, &out, 400, "bad_request");
        }
    }
    let (status, out) = b.act(&app, None, &c, "releaseControl", json!({"metadata": {"big": "x".repeat(5000)}})).await;
    assert_error(status, &out, 400, "bad_request");
    assert_eq!(b.control(&app, &c).await, names(Some("human"), None), "nothing refused changed anything");

    // Unknown conversations, apps; no switchboard; a disabled one.
    let (status, out) = b.act(&app, None, "5ef21b86e933b7355c11c604", "passControl", json!({"switchboardIntegration": "bot"})).await;
    assert_error(status, &out, 404, "conversation_not_found");
    let (status, out) = app.call("POST", "/v2/apps/5ef21b86e933b7355c11c604/conversations/x/passControl", Some(&app.account_auth()), Some(json!({"switchboardIntegration": "bot"}))).await;
    assert_error(status, &out, 404, "app_not_found");
    ok(&app, "PATCH", &format!("/v2/apps/{}/switchboards/{}", b.app_id, b.switchboard), Some(json!({"enabled": false}))).await;
    let (status, out) = b.act(&app, None, &c, "passControl", json!({"switchboardIntegration": "bot"})).await;
    assert_error(status, &out, 400, "bad_request");
    ok(&app, "DELETE", &format!("/v2/apps/{}/switchboards/{}", b.app_id, b.switchboard), None).await;
    let (status, out) = b.act(&app, None, &c, "passControl", json!({"switchboardIntegration": "bot"})).await;
    assert_error(status, &out, 404, "switchboard_not_found");
    // With the switchboard gone, nobody is shown in control.
    assert_eq!(b.control(&app, &c).await, names(None, None));
}

#[tokio::test]
async fn a_repeated_pass_to_next_from_the_integration_that_passed_is_disregarded() {
    let app = TestApp::spawn().await;
    let b = board(&app, NOWHERE, [false, false, false]).await;
    let (c, _) = b.personal(&app).await;
    b.act_ok(&app, Some(&b.bot.0.auth), &c, "passControl", json!({"switchboardIntegration": "next"})).await;
    b.act_ok(&app, Some(&b.bot.0.auth), &c, "passControl", json!({"switchboardIntegration": "next"})).await;
    assert_eq!(b.control(&app, &c).await, names(Some("agent"), None), "the retry did not pass control on to human");
    // An integration not in control may take it for itself.
    b.act_ok(&app, Some(&b.human.0.auth), &c, "passControl", json!({"switchboardIntegration": "human"})).await;
    assert_eq!(b.control(&app, &c).await, names(Some("human"), None));
    // The business has no identity for a retry to be told apart: `next` moves on.
    b.act_ok(&app, None, &c, "passControl", json!({"switchboardIntegration": "next"})).await;
    assert_eq!(b.control(&app, &c).await, names(Some("bot"), None));
}

// ---- end to end: who hears what ----

/// A webhook receiver on loopback that keeps every event it is sent, in order.
#[derive(Clone, Default)]
struct Receiver {
    events: Arc<Mutex<Vec<Value>>>,
}

async fn receive(State(r): State<Receiver>, body: String) -> &'static str {
    let envelope: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    r.events.lock().unwrap().extend(envelope["events"].as_array().cloned().unwrap_or_default());
    "ok"
}

impl Receiver {
    async fn start() -> (Receiver, String) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let r = Receiver::default();
        let app = Router::new().route("/hook", post(receive)).with_state(r.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (r, url)
    }

    fn events(&self) -> Vec<Value> {
        self.events.lock().unwrap().clone()
    }

    /// Waits (up to 20 s) until an event satisfying `pred` has come, then returns all so far.
    async fn wait_for(&self, what: &str, pred: impl Fn(&Value) -> bool) -> Vec<Value> {
        for _ in 0..2000 {
            let events = self.events();
            if events.iter().any(&pred) {
                return events;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("timed out waiting for {what}; got {:#?}", self.events());
    }
}

/// Each event as `type` plus, for messages, their text (`"conversation:message m1"`).
fn story(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| match e["payload"]["message"]["content"]["text"].as_str() {
            Some(text) => format!("{} {text}", e["type"].as_str().unwrap()),
            None => e["type"].as_str().unwrap().to_string(),
        })
        .collect()
}

fn of_type<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["type"] == kind).collect()
}

#[tokio::test]
async fn webhooks_hear_conversation_events_only_while_in_control_or_with_standby_events_and_every_switchboard_event() {
    let app = TestApp::spawn().await;
    let (bot_rx, bot_url) = Receiver::start().await;
    let (agent_rx, agent_url) = Receiver::start().await;
    let (human_rx, human_url) = Receiver::start().await;
    let (outsider_rx, outsider_url) = Receiver::start().await;
    // bot and agent take no standby events; human takes them.
    let b = board(&app, [&bot_url, &agent_url, &human_url], [false, false, true]).await;
    custom(&app, &b.app_id, &outsider_url, &["conversation:message", "conversation:create"]).await;

    let (c, user) = b.personal(&app).await;
    b.say(&app, &c, &user, "m1").await;
    b.act_ok(&app, Some(&b.bot.0.auth), &c, "passControl", json!({"switchboardIntegration": "next", "metadata": {"why": "escalate"}})).await;
    b.say(&app, &c, &user, "m2").await;
    let (status, _) = b.act(&app, Some(&b.agent.0.auth), &c, "offerControl", json!({"switchboardIntegration": "agent", "metadata": {"try": 1}})).await;
    assert_eq!(status, 400, "offering control to the active one fails");
    b.act_ok(&app, Some(&b.agent.0.auth), &c, "offerControl", json!({"switchboardIntegration": "human"})).await;
    b.act_ok(&app, Some(&b.human.0.auth), &c, "acceptControl", json!({"metadata": {"agent": "Ann"}})).await;
    b.say(&app, &c, &user, "m3").await;
    b.act_ok(&app, Some(&b.human.0.auth), &c, "releaseControl", json!({})).await;
    b.say(&app, &c, &user, "m4").await;
    // A last switchboard event reaches everyone: once it has come, everything routed to a
    // webhook before it has come too (a conversation's events reach a webhook in order).
    b.act_ok(&app, None, &c, "offerControl", json!({"switchboardIntegration": "agent"})).await;
    let last = |e: &Value| e["type"] == "switchboard:offerControl" && e["payload"]["conversation"]["pendingSwitchboardIntegration"]["name"] == "agent";

    let switchboard_events = [
        "switchboard:passControl",
        "switchboard:offerControl:failure",
        "switchboard:offerControl",
        "switchboard:acceptControl",
        "switchboard:releaseControl",
    ];
    let with = |before: &[&str], after: &[&str]| -> Vec<String> { before.iter().chain(after).map(|s| s.to_string()).collect() };

    let bot = bot_rx.wait_for("the last offer", last).await;
    // bot: in control at creation, for m1 and again for m4 (the default after the release).
    assert_eq!(
        story(&bot),
        with(
            &["conversation:create", "conversation:message m1"],
            &[switchboard_events.as_slice(), &["conversation:message m4", "switchboard:offerControl"]].concat()
        )
    );
    let agent = agent_rx.wait_for("the last offer", last).await;
    assert_eq!(
        story(&agent),
        with(
            &["switchboard:passControl", "conversation:message m2"],
            &["switchboard:offerControl:failure", "switchboard:offerControl", "switchboard:acceptControl", "switchboard:releaseControl", "switchboard:offerControl"]
        )
    );
    let human = human_rx.wait_for("the last offer", last).await;
    assert_eq!(
        story(&human),
        with(
            &["conversation:create", "conversation:message m1", "switchboard:passControl", "conversation:message m2"],
            &[
                "switchboard:offerControl:failure",
                "switchboard:offerControl",
                "switchboard:acceptControl",
                "conversation:message m3",
                "switchboard:releaseControl",
                "conversation:message m4",
                "switchboard:offerControl",
            ]
        )
    );
    let outsider = outsider_rx.wait_for("m4", |e| e["payload"]["message"]["content"]["text"] == "m4").await;
    assert_eq!(story(&outsider), ["conversation:create", "conversation:message m1", "conversation:message m2", "conversation:message m3", "conversation:message m4"]);

    // Payloads: who was in control, as the event happened, and the callers' metadata.
    let active_of = |e: &Value| e["payload"]["conversation"]["activeSwitchboardIntegration"]["name"].as_str().map(str::to_string);
    let messages: Vec<Option<String>> = of_type(&outsider, "conversation:message").into_iter().map(active_of).collect();
    assert_eq!(messages, [Some("bot"), Some("agent"), Some("human"), Some("bot")].map(|n| n.map(str::to_string)));
    let pass = of_type(&human, "switchboard:passControl")[0];
    assert_eq!(
        pass["payload"],
        json!({"conversation": {"id": c, "type": "personal", "metadata": null,
            "activeSwitchboardIntegration": {"id": b.agent.1, "name": "agent", "integrationId": b.agent.0.integration_id, "integrationType": "custom"}},
            "metadata": {"why": "escalate"}})
    );
    let failure = of_type(&agent, "switchboard:offerControl:failure")[0];
    assert_eq!(failure["payload"]["error"], json!({"code": "switchboard_invalid_target", "message": "Cannot offer control to the active switchboard integration."}));
    assert_eq!(failure["payload"]["metadata"], json!({"try": 1}));
    assert_eq!(active_of(failure).as_deref(), Some("agent"));
    let offer = of_type(&agent, "switchboard:offerControl")[0];
    assert_eq!(active_of(offer).as_deref(), Some("agent"));
    assert_eq!(offer["payload"]["conversation"]["pendingSwitchboardIntegration"]["name"], "human");
    assert!(offer["payload"].get("metadata").is_none(), "no metadata given, none shown");
    let accept = of_type(&bot, "switchboard:acceptControl")[0];
    assert_eq!((active_of(accept).as_deref(), &accept["payload"]["metadata"]), (Some("human"), &json!({"agent": "Ann"})));
    assert!(accept["payload"]["conversation"].get("pendingSwitchboardIntegration").is_none());
    let release = of_type(&bot, "switchboard:releaseControl")[0];
    assert!(release["payload"]["conversation"].get("activeSwitchboardIntegration").is_none(), "{release}");
    let created = of_type(&outsider, "conversation:create")[0];
    assert_eq!(active_of(created).as_deref(), Some("bot"));

    // Without a switchboard, every integration hears everything again.
    ok(&app, "DELETE", &format!("/v2/apps/{}/switchboards/{}", b.app_id, b.switchboard), None).await;
    b.say(&app, &c, &user, "m5").await;
    for rx in [&bot_rx, &agent_rx, &human_rx] {
        let events = rx.wait_for("m5", |e| e["payload"]["message"]["content"]["text"] == "m5").await;
        let m5 = events.iter().find(|e| e["payload"]["message"]["content"]["text"] == "m5").unwrap();
        assert!(m5["payload"]["conversation"].get("activeSwitchboardIntegration").is_none());
    }
}

#[tokio::test]
async fn a_disabled_switchboard_gates_nobody() {
    let app = TestApp::spawn().await;
    let (bot_rx, bot_url) = Receiver::start().await;
    let (agent_rx, agent_url) = Receiver::start().await;
    let b = board(&app, [&bot_url, &agent_url, "https://example.com/human"], [false, false, false]).await;
    let (c, user) = b.personal(&app).await;
    // Once the bot has heard of the conversation, its creation has been routed (gated
    // while the switchboard was on).
    bot_rx.wait_for("the conversation", |e| e["type"] == "conversation:create").await;
    ok(&app, "PATCH", &format!("/v2/apps/{}/switchboards/{}", b.app_id, b.switchboard), Some(json!({"enabled": false}))).await;
    b.say(&app, &c, &user, "while disabled").await;
    for rx in [&bot_rx, &agent_rx] {
        rx.wait_for("the message", |e| e["payload"]["message"]["content"]["text"] == "while disabled").await;
    }
    // The agent, on standby, heard it only because the switchboard is off.
    assert_eq!(story(&agent_rx.events()), ["conversation:message while disabled"]);
}
