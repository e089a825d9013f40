//! What stored settings promise: retention really deletes, `echoPostback` echoes, a web
//! integration's `originWhitelist` holds on the SDK API and `/faye`; and the
//! channel-only operations answer as for users without those channels.

use serde_json::{json, Value};

use crate::common::{assert_error, TestApp};

async fn app_with(settings: Value) -> (TestApp, String) {
    let app = TestApp::spawn().await;
    let (status, got) = app.account("POST", "/v2/apps", Some(json!({"displayName": "Shop", "settings": settings}))).await;
    assert_eq!(status, 201, "{got}");
    let id = got["app"]["id"].as_str().unwrap().to_string();
    (app, id)
}

async fn conversation_with_messages(app: &TestApp, app_id: &str, n: usize) -> String {
    let (_, c) = app.account("POST", &format!("/v2/apps/{app_id}/conversations"), Some(json!({"type": "sdkGroup"}))).await;
    let id = c["conversation"]["id"].as_str().unwrap().to_string();
    for i in 0..n {
        let body = json!({"author": {"type": "business"}, "content": {"type": "text", "text": format!("m{i}")}});
        assert_eq!(app.account("POST", &format!("/v2/apps/{app_id}/conversations/{id}/messages"), Some(body)).await.0, 201);
    }
    id
}

async fn message_count(app: &TestApp, app_id: &str, conversation: &str) -> usize {
    let (status, got) = app.account("GET", &format!("/v2/apps/{app_id}/conversations/{conversation}/messages"), None).await;
    assert_eq!(status, 200, "{got}");
    got["messages"].as_array().unwrap().len()
}

#[tokio::test]
async fn retention_deletes_the_messages_of_idle_conversations_only() {
    let (app, kept_app) = app_with(json!({})).await;
    let (status, got) = app.account("POST", "/v2/apps", Some(json!({"displayName": "Brief", "settings": {"conversationRetentionSeconds": 60}}))).await;
    assert_eq!(status, 201, "{got}");
    let brief = got["app"]["id"].as_str().unwrap().to_string();
    let idle = conversation_with_messages(&app, &brief, 3).await;
    let kept = conversation_with_messages(&app, &kept_app, 2).await;
    let now = sunbeam::domain::time::now_ms();

    // Not idle long enough yet: nothing goes.
    assert_eq!(app.store.sweep_retention(now + 30_000).await.unwrap(), 0);
    assert_eq!(message_count(&app, &brief, &idle).await, 3);
    // A minute and more of silence: the messages go, the conversation stays.
    assert_eq!(app.store.sweep_retention(now + 61_000).await.unwrap(), 1);
    assert_eq!(message_count(&app, &brief, &idle).await, 0);
    assert_eq!(app.account("GET", &format!("/v2/apps/{brief}/conversations/{idle}"), None).await.0, 200);
    // Apps without a retention keep everything, however old.
    assert_eq!(app.store.sweep_retention(now + 10 * 365 * 86_400_000).await.unwrap(), 0);
    assert_eq!(message_count(&app, &kept_app, &kept).await, 2);
    // A conversation that talks again is kept until it is idle again.
    let body = json!({"author": {"type": "business"}, "content": {"type": "text", "text": "again"}});
    assert_eq!(app.account("POST", &format!("/v2/apps/{brief}/conversations/{idle}/messages"), Some(body)).await.0, 201);
    assert_eq!(app.store.sweep_retention(sunbeam::domain::time::now_ms() + 1_000).await.unwrap(), 0);
    assert_eq!(message_count(&app, &brief, &idle).await, 1);
}

#[tokio::test]
async fn echo_postback_puts_the_press_into_the_history() {
    for echo in [false, true] {
        let (app, app_id) = app_with(json!({"echoPostback": echo})).await;
        let (status, anon) = app.call("POST", &format!("/sdk/v2/apps/{app_id}/appusers"), None, Some(json!({"intent": "conversation:start", "client": {"id": "b1"}}))).await;
        assert_eq!(status, 201, "{anon}");
        let (user, token) = (anon["appUser"]["_id"].as_str().unwrap(), anon["sessionToken"].as_str().unwrap());
        let conversation = anon["conversation"]["_id"].as_str().unwrap();
        let offer = json!({"author": {"type": "business"}, "content": {"type": "text", "text": "Buy?", "actions": [{"type": "postback", "text": "Buy now", "payload": "BUY"}]}});
        assert_eq!(app.account("POST", &format!("/v2/apps/{app_id}/conversations/{conversation}/messages"), Some(offer)).await.0, 201);
        let auth = TestApp::basic(user, token);
        let (_, conv) = app.call("GET", &format!("/sdk/v2/apps/{app_id}/conversations/{conversation}"), Some(&auth), None).await;
        let action = conv["messages"][0]["actions"][0]["_id"].as_str().unwrap().to_string();
        let (status, got) = app.call("POST", &format!("/sdk/v2/apps/{app_id}/conversations/{conversation}/postback"), Some(&auth), Some(json!({"postback": {"actionId": action}}))).await;
        assert_eq!(status, 200, "{got}");
        let (_, history) = app.account("GET", &format!("/v2/apps/{app_id}/conversations/{conversation}/messages"), None).await;
        let messages = history["messages"].as_array().unwrap();
        if echo {
            assert_eq!(messages.len(), 2, "{history}");
            let echoed = &messages[1];
            assert_eq!(echoed["author"]["type"], "user");
            assert_eq!(echoed["author"]["userId"], user);
            assert_eq!(echoed["content"]["text"], "Buy now");
            assert_eq!(echoed["content"]["payload"], "BUY");
        } else {
            assert_eq!(messages.len(), 1, "{history}");
        }
    }
}

#[tokio::test]
async fn the_origin_whitelist_holds_on_the_sdk_api_and_on_faye() {
    let (app, app_id) = app_with(json!({})).await;
    let (status, web) = app.account("POST", &format!("/v2/apps/{app_id}/integrations"), Some(json!({"type": "web", "originWhitelist": ["https://shop.example"]}))).await;
    assert_eq!(status, 201, "{web}");
    let web_id = web["integration"]["id"].as_str().unwrap().to_string();
    let create = |origin: Option<&'static str>| {
        let mut req = app.http.post(app.url(&format!("/sdk/v2/apps/{app_id}/appusers"))).json(&json!({"client": {"id": "b1"}}));
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        req.send()
    };
    let res = create(Some("https://evil.example")).await.unwrap();
    assert_eq!(res.status().as_u16(), 403);
    assert!(res.headers().get("access-control-allow-origin").is_none());
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "forbidden", "{body}");
    let res = create(Some("https://shop.example")).await.unwrap();
    assert_eq!(res.status().as_u16(), 201);
    assert!(res.headers().get("access-control-allow-origin").is_some());
    let anon: Value = res.json().await.unwrap();
    assert_eq!(create(None).await.unwrap().status().as_u16(), 201, "no Origin: not a browser");

    // Preflights from other origins get no CORS answer.
    let preflight = |origin: &'static str| {
        app.http
            .request(reqwest::Method::OPTIONS, app.url(&format!("/sdk/v2/integrations/{web_id}/config")))
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .send()
    };
    let res = preflight("https://evil.example").await.unwrap();
    assert_eq!(res.status().as_u16(), 403);
    assert!(res.headers().get("access-control-allow-origin").is_none());
    let res = preflight("https://shop.example").await.unwrap();
    assert!(res.status().is_success());
    assert!(res.headers().get("access-control-allow-origin").is_some());
    // Removing the whitelist opens the app again.
    assert_eq!(app.account("PATCH", &format!("/v2/apps/{app_id}/integrations/{web_id}"), Some(json!({"originWhitelist": null}))).await.0, 200);
    assert_eq!(create(Some("https://evil.example")).await.unwrap().status().as_u16(), 201);
    assert_eq!(app.account("PATCH", &format!("/v2/apps/{app_id}/integrations/{web_id}"), Some(json!({"originWhitelist": ["https://shop.example"]}))).await.0, 200);

    // /faye: the subscribe of a page from another origin is refused; the client cannot
    // claim an origin of its own in `ext`.
    let user = anon["appUser"]["_id"].as_str().unwrap();
    let token = anon["sessionToken"].as_str().unwrap();
    let channel = format!("/sdk/apps/{app_id}/appusers/{user}");
    for (origin, ok) in [("https://evil.example", false), ("https://shop.example", true)] {
        let faye = |messages: Value| app.http.post(app.url("/faye")).header("origin", origin).json(&messages).send();
        let hs: Value = faye(json!([{"channel": "/meta/handshake", "version": "1.0", "supportedConnectionTypes": ["long-polling"]}])).await.unwrap().json().await.unwrap();
        let cid = hs[0]["clientId"].as_str().unwrap();
        let ext = json!({"appId": app_id, "appUserId": user, "sessionToken": token, "sunbeam:origin": "https://shop.example"});
        let sub: Value = faye(json!([{"channel": "/meta/subscribe", "clientId": cid, "subscription": channel, "ext": ext}])).await.unwrap().json().await.unwrap();
        assert_eq!(sub[0]["successful"], ok, "{origin}: {sub}");
        if !ok {
            assert_eq!(sub[0]["error"], format!("403:{channel}:Forbidden origin"));
        }
    }
}

#[tokio::test]
async fn channel_only_operations_are_validated_then_refused_as_for_users_without_the_channel() {
    let (app, app_id) = app_with(json!({})).await;
    let user = app.create_user(&app_id, Some("ann")).await;
    let (_, c) = app.account("POST", &format!("/v2/apps/{app_id}/conversations"), Some(json!({"type": "personal", "participants": [{"userId": user}]}))).await;
    let conversation = c["conversation"]["id"].as_str().unwrap().to_string();
    let base = format!("/v2/apps/{app_id}/conversations/{conversation}");

    // DownloadMessageRef: the whole body is checked, then the user has no apple client.
    let (status, got) = app.account("POST", &format!("{base}/download"), Some(json!({"apple": {"interactiveDataRef": {"url": 1}}}))).await;
    assert_error(status, &got, 400, "bad_request");
    assert!(got["errors"].as_array().unwrap().len() >= 5, "{got}");
    let good = json!({"userId": user, "apple": {"interactiveDataRef": {"url": "https://p61-content.icloud.com/x", "bid": "b", "key": "k", "signature": "s", "owner": "o"}}});
    let (status, got) = app.account("POST", &format!("{base}/download"), Some(good.clone())).await;
    assert_error(status, &got, 400, "bad_request");
    assert!(got["errors"][0]["title"].as_str().unwrap().contains("has no apple client"), "{got}");
    let (status, got) = app.account("POST", &format!("/v2/apps/{app_id}/conversations/5f0000000000000000000001/download"), Some(good.clone())).await;
    assert_error(status, &got, 404, "conversation_not_found");
    let mut stranger = good.clone();
    stranger["userId"] = json!("5f0000000000000000000001");
    let (status, got) = app.account("POST", &format!("{base}/download"), Some(stranger)).await;
    assert_error(status, &got, 404, "user_not_found");

    // PostConversionEvents: one Meta channel with events, then no such client here.
    let (status, got) = app.account("POST", &format!("{base}/conversionEvents"), Some(json!({"instagram": {"payload": {}}}))).await;
    assert_error(status, &got, 400, "bad_request");
    let (status, got) = app.account("POST", &format!("{base}/conversionEvents"), Some(json!({}))).await;
    assert_error(status, &got, 400, "bad_request");
    let events = json!({"instagram": {"payload": {"data": [{"action_source": "business_messaging", "event_name": "TestEvent", "event_time": 1752161233, "messaging_channel": "instagram"}]}}});
    let (status, got) = app.account("POST", &format!("{base}/conversionEvents"), Some(events)).await;
    assert_error(status, &got, 400, "bad_request");
    assert!(got["errors"][0]["title"].as_str().unwrap().contains("has no instagram client"), "{got}");

    // SyncUser: no user here has a zendeskId.
    let (status, got) = app.account("POST", &format!("/v2/apps/{app_id}/users/35436/sync"), Some(json!({"survivingZendeskId": 1}))).await;
    assert_error(status, &got, 400, "bad_request");
    let (status, got) = app.account("POST", &format!("/v2/apps/{app_id}/users/35436/sync"), None).await;
    assert_error(status, &got, 404, "user_not_found");
    let (status, got) = app.account("POST", &format!("/v2/apps/{app_id}/users/35436/sync"), Some(json!({"survivingZendeskId": "35437"}))).await;
    assert_error(status, &got, 404, "user_not_found");
    // Credentials still come first.
    let (status, got) = app.call("POST", &format!("/v2/apps/{app_id}/users/35436/sync"), None, None).await;
    assert_error(status, &got, 401, "unauthorized");
}
