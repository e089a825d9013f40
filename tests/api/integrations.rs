//! Integrations and Custom Integration API Keys over HTTP.

use serde_json::{json, Value};

use crate::common::{assert_error, TestApp};

fn custom_body(target: &str) -> Value {
    json!({"type": "custom", "displayName": "Bot", "webhooks": [{"target": target, "triggers": ["conversation:message"]}]})
}

async fn create(app: &TestApp, app_id: &str, body: Value) -> (u16, Value) {
    app.account("POST", &format!("/v2/apps/{app_id}/integrations"), Some(body)).await
}

async fn create_ok(app: &TestApp, app_id: &str, body: Value) -> Value {
    let (status, out) = create(app, app_id, body).await;
    assert_eq!(status, 201, "{out}");
    out["integration"].clone()
}

#[tokio::test]
async fn custom_integrations_come_with_their_one_webhook() {
    let app = TestApp::spawn().await;
    let app_id = app.create_app("Shop").await;
    let i = create_ok(&app, &app_id, custom_body("https://example.com/hook")).await;
    assert_eq!((i["type"].as_str(), i["status"].as_str(), i["displayName"].as_str()), (Some("custom"), Some("active"), Some("Bot")));
    assert_eq!(i["id"].as_str().unwrap().len(), 24);
    let hook = &i["webhooks"][0];
    assert_eq!(hook["version"], "v2");
    assert_eq!(hook["target"], "https://example.com/hook");
    assert_eq!(hook["triggers"], json!(["conversation:message"]));
    assert_eq!(hook["secret"].as_str().unwrap().len(), 32);
    assert_eq!((hook["includeFullUser"].as_bool(), hook["includeFullSource"].as_bool()), (Some(false), Some(false)));

    let id = i["id"].as_str().unwrap();
    let (status, got) = app.account("GET", &format!("/v2/apps/{app_id}/integrations/{id}"), None).await;
    assert_eq!(status, 200);
    assert_eq!(got["integration"], i);

    for (body, why) in [
        (json!({"type": "custom"}), "no webhooks"),
        (json!({"type": "custom", "webhooks": []}), "zero webhooks"),
        (json!({"type": "custom", "webhooks": [{"target": "https://e.com", "triggers": ["user:remove"]}, {"target": "https://e.com", "triggers": ["user:remove"]}]}), "two webhooks"),
        (json!({"type": "custom", "webhooks": [{"target": "mailto:x@e.com", "triggers": ["user:remove"]}]}), "not http"),
        (json!({"type": "custom", "webhooks": [{"target": "https://e.com", "triggers": ["*"]}]}), "wildcard"),
        (json!({"displayName": "x"}), "no type"),
        (json!({"type": "custom", "displayName": "x".repeat(101), "webhooks": [{"target": "https://e.com", "triggers": ["user:remove"]}]}), "long name"),
    ] {
        let (status, body) = create(&app, &app_id, body).await;
        assert_error(status, &body, 400, "bad_request");
        assert!(!why.is_empty());
    }
    let (status, body) = create(&app, &app_id, json!({"type": "fax"})).await;
    assert_error(status, &body, 400, "bad_request");
    assert_eq!(body["errors"][0]["title"], "Invalid integration type");
}

#[tokio::test]
async fn sdk_and_channel_types_keep_defaults_and_hide_secrets() {
    let app = TestApp::spawn().await;
    let app_id = app.create_app("Shop").await;
    let web = create_ok(&app, &app_id, json!({"type": "web", "displayName": "Site", "brandColor": "112233", "originWhitelist": ["https://shop.example"]})).await;
    assert_eq!(web["status"], "active");
    assert_eq!(web["brandColor"], "112233");
    assert_eq!(web["conversationColor"], "0099ff");
    assert_eq!(web["displayStyle"], "button");
    assert_eq!(web["buttonWidth"], "58");
    assert_eq!(web["prechatCapture"]["enabled"], false);
    assert_eq!(web["showAIDisclaimer"], true);
    let (status, body) = create(&app, &app_id, json!({"type": "web", "displayStyle": "bubble"})).await;
    assert_error(status, &body, 400, "bad_request");

    let ios = create_ok(&app, &app_id, json!({"type": "ios", "certificate": "Y2VydA==", "password": "p4ss", "production": true})).await;
    assert!(ios.get("certificate").is_none() && ios.get("password").is_none(), "{ios}");
    assert_eq!(ios["production"], true);

    let tg = create_ok(&app, &app_id, json!({"type": "telegram", "token": "123:secret"})).await;
    assert_eq!(tg["status"], "inactive");
    assert!(tg.get("token").is_none(), "{tg}");
    let tg_id = tg["id"].as_str().unwrap();
    let (_, got) = app.account("GET", &format!("/v2/apps/{app_id}/integrations/{tg_id}"), None).await;
    assert!(got["integration"].get("token").is_none());

    let wa = create_ok(&app, &app_id, json!({"type": "whatsapp", "accountId": "42"})).await;
    assert_eq!(wa["hsmFallbackLanguage"], "en_US");
    let ms = create_ok(&app, &app_id, json!({"type": "messenger", "pageAccessToken": "pat", "appId": "app", "appSecret": "shh"})).await;
    assert_eq!(ms["appId"], "app");
    assert!(ms.get("appSecret").is_none() && ms.get("pageAccessToken").is_none());

    for body in [
        json!({"type": "telegram"}),
        json!({"type": "messenger", "appId": "a", "appSecret": "s"}),
        json!({"type": "twilio", "accountSid": "AC1"}),
        json!({"type": "mailgun", "apiKey": "k", "domain": "d.example"}),
        json!({"type": "twitter", "tier": "gold", "consumerKey": "a", "consumerSecret": "b", "accessTokenKey": "c", "accessTokenSecret": "d"}),
        json!({"type": "apple", "businessId": "b", "apiSecret": "s", "mspId": "m", "authenticationMessageSecret": "short"}),
    ] {
        let (status, out) = create(&app, &app_id, body.clone()).await;
        assert_error(status, &out, 400, "bad_request");
    }

    // Updates are read by the stored type; a field the type cannot change is refused.
    let web_id = web["id"].as_str().unwrap();
    let (status, out) = app.account("PATCH", &format!("/v2/apps/{app_id}/integrations/{web_id}"), Some(json!({"displayStyle": "tab", "displayName": null}))).await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["integration"]["displayStyle"], "tab");
    assert!(out["integration"].get("displayName").is_none());
    let (status, out) = app.account("PATCH", &format!("/v2/apps/{app_id}/integrations/{tg_id}"), Some(json!({"token": "new"}))).await;
    assert_error(status, &out, 400, "bad_request");
    let (status, out) = app.account("PATCH", &format!("/v2/apps/{app_id}/integrations/{tg_id}"), Some(json!({"displayName": "Telegram"}))).await;
    assert_eq!((status, out["integration"]["displayName"].as_str()), (200, Some("Telegram")));
    let (status, out) = app.account("PATCH", &format!("/v2/apps/{app_id}/integrations/000000000000000000000000"), Some(json!({}))).await;
    assert_error(status, &out, 404, "integration_not_found");
}

#[tokio::test]
async fn listing_pages_and_filters_by_type() {
    let app = TestApp::spawn().await;
    let app_id = app.create_app("Shop").await;
    let custom = create_ok(&app, &app_id, custom_body("https://example.com/hook")).await;
    create_ok(&app, &app_id, json!({"type": "web"})).await;
    create_ok(&app, &app_id, json!({"type": "viber", "token": "t"})).await;
    let base = format!("/v2/apps/{app_id}/integrations");

    let (status, all) = app.account("GET", &base, None).await;
    assert_eq!(status, 200);
    assert_eq!(all["integrations"].as_array().unwrap().len(), 3);
    assert_eq!(all["meta"]["hasMore"], false);
    assert_eq!(all["integrations"][0]["webhooks"], custom["webhooks"]);

    let (_, some) = app.account("GET", &format!("{base}?filter[types]=custom,web"), None).await;
    let types: Vec<&str> = some["integrations"].as_array().unwrap().iter().map(|i| i["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["custom", "web"]);
    let (status, body) = app.account("GET", &format!("{base}?filter[types]=custom,pigeon"), None).await;
    assert_error(status, &body, 400, "bad_request");

    let (_, first) = app.account("GET", &format!("{base}?page[size]=2"), None).await;
    assert_eq!(first["integrations"].as_array().unwrap().len(), 2);
    assert_eq!(first["meta"]["hasMore"], true);
    let after = first["meta"]["afterCursor"].as_str().unwrap();
    let (_, second) = app.account("GET", &format!("{base}?page[size]=2&page[after]={after}"), None).await;
    assert_eq!(second["integrations"].as_array().unwrap().len(), 1);
    assert_eq!(second["integrations"][0]["type"], "viber");
    assert_eq!(second["meta"]["hasMore"], false);

    // Deleting takes the integration (and its webhooks) away.
    let id = custom["id"].as_str().unwrap();
    let (status, body) = app.account("DELETE", &format!("{base}/{id}"), None).await;
    assert_eq!((status, body), (200, json!({})));
    let (status, body) = app.account("GET", &format!("{base}/{id}"), None).await;
    assert_error(status, &body, 404, "integration_not_found");
    let (status, body) = app.account("DELETE", &format!("{base}/{id}"), None).await;
    assert_error(status, &body, 404, "integration_not_found");
}

#[tokio::test]
async fn integration_keys_exist_only_for_custom_and_authenticate_in_integration_scope() {
    let app = TestApp::spawn().await;
    let app_id = app.create_app("Shop").await;
    let other_app = app.create_app("Other").await;
    let custom = create_ok(&app, &app_id, custom_body("https://example.com/hook")).await;
    let web = create_ok(&app, &app_id, json!({"type": "web"})).await;
    let (cid, wid) = (custom["id"].as_str().unwrap(), web["id"].as_str().unwrap());
    let keys = format!("/v2/apps/{app_id}/integrations/{cid}/keys");

    let (status, created) = app.account("POST", &keys, Some(json!({"displayName": "bot key"}))).await;
    assert_eq!(status, 201, "{created}");
    let key = created["key"].clone();
    let key_id = key["id"].as_str().unwrap();
    assert!(key_id.starts_with("int_") && key_id.len() == 28, "{key_id}");
    assert!(key["secret"].as_str().unwrap().len() >= 32);
    let (_, listed) = app.account("GET", &keys, None).await;
    assert_eq!(listed["keys"], json!([key]));
    let (status, got) = app.account("GET", &format!("{keys}/{key_id}"), None).await;
    assert_eq!((status, &got["key"]), (200, &key));

    for (method, body) in [("POST", Some(json!({"displayName": "k"}))), ("GET", None)] {
        let (status, out) = app.account(method, &format!("/v2/apps/{app_id}/integrations/{wid}/keys"), body).await;
        assert_error(status, &out, 400, "bad_request");
        assert_eq!(out["errors"][0]["title"], "API keys are available only for custom integrations");
    }
    let (status, out) = app.account("POST", &keys, Some(json!({}))).await;
    assert_error(status, &out, 400, "bad_request");

    // What an integration key reaches: users of its app, not the app itself, not other apps.
    let auth = TestApp::basic(key_id, key["secret"].as_str().unwrap());
    let (status, out) = app.call("POST", &format!("/v2/apps/{app_id}/users"), Some(&auth), Some(json!({"externalId": "zed"}))).await;
    assert_eq!(status, 201, "{out}");
    for path in [format!("/v2/apps/{app_id}"), format!("/v2/apps/{app_id}/integrations"), format!("/v2/apps/{app_id}/integrations/{cid}/keys")] {
        let (status, out) = app.call("GET", &path, Some(&auth), None).await;
        assert_error(status, &out, 403, "forbidden");
    }
    let (status, out) = app.call("POST", &format!("/v2/apps/{other_app}/users"), Some(&auth), Some(json!({}))).await;
    assert_error(status, &out, 403, "forbidden");

    // At most ten keys.
    for n in 1..10 {
        let (status, _) = app.account("POST", &keys, Some(json!({"displayName": format!("k{n}")}))).await;
        assert_eq!(status, 201);
    }
    let (status, out) = app.account("POST", &keys, Some(json!({"displayName": "eleventh"}))).await;
    assert_error(status, &out, 400, "bad_request");

    // A deleted key stops working at once; so do the keys of a deleted integration.
    let (status, _) = app.account("DELETE", &format!("{keys}/{key_id}"), None).await;
    assert_eq!(status, 200);
    let (status, out) = app.call("GET", &format!("/v2/apps/{app_id}/users/zed"), Some(&auth), None).await;
    assert_error(status, &out, 401, "unauthorized");
    let (status, out) = app.account("GET", &format!("{keys}/{key_id}"), None).await;
    assert_error(status, &out, 404, "not_found");
    let (_, listed) = app.account("GET", &keys, None).await;
    let survivor = listed["keys"][0].clone();
    let survivor_auth = TestApp::basic(survivor["id"].as_str().unwrap(), survivor["secret"].as_str().unwrap());
    let (status, _) = app.call("GET", &format!("/v2/apps/{app_id}/users/zed"), Some(&survivor_auth), None).await;
    assert_eq!(status, 200);
    let (status, _) = app.account("DELETE", &format!("/v2/apps/{app_id}/integrations/{cid}"), None).await;
    assert_eq!(status, 200);
    let (status, out) = app.call("GET", &format!("/v2/apps/{app_id}/users/zed"), Some(&survivor_auth), None).await;
    assert_error(status, &out, 401, "unauthorized");
}

#[tokio::test]
async fn app_keys_manage_integrations_of_their_own_app_only() {
    let app = TestApp::spawn().await;
    let app_id = app.create_app("Shop").await;
    let other_app = app.create_app("Other").await;
    let (kid, secret) = app.create_app_key(&app_id).await;
    let auth = TestApp::basic(&kid, &secret);
    let (status, out) = app.call("POST", &format!("/v2/apps/{app_id}/integrations"), Some(&auth), Some(json!({"type": "unity"}))).await;
    assert_eq!(status, 201, "{out}");
    assert_eq!(out["integration"]["canUserSeeConversationList"], true);
    let (status, out) = app.call("GET", &format!("/v2/apps/{other_app}/integrations"), Some(&auth), None).await;
    assert_error(status, &out, 403, "forbidden");
    let (status, out) = app.call("GET", &format!("/v2/apps/{app_id}/integrations"), None, None).await;
    assert_error(status, &out, 401, "unauthorized");
}
