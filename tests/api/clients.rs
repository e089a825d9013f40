//! Clients and devices: SDK installs as `sdk` clients and devices, channel links through
//! CreateClient (pending, honestly), RemoveClient's refusals, participants'
//! `clientAssociations`, DeleteUserPersonalInformation down to message sources, and
//! PostMessage's `destination`.

use serde_json::{json, Value};

use crate::common::{assert_error, is_hex_id, is_ms_datetime, TestApp};

struct Fixture {
    app: TestApp,
    app_id: String,
    web_id: String,
}

async fn fixture() -> Fixture {
    let app = TestApp::spawn().await;
    let app_id = app.create_app("Shop").await;
    let (status, web) = app.account("POST", &format!("/v2/apps/{app_id}/integrations"), Some(json!({"type": "web"}))).await;
    assert_eq!(status, 201, "{web}");
    let web_id = web["integration"]["id"].as_str().unwrap().to_string();
    Fixture { app, app_id, web_id }
}

/// An anonymous SDK user of browser `browser`: (user id, session token, conversation id).
struct Anon {
    id: String,
    token: String,
    conversation: String,
}

impl Fixture {
    fn v2(&self, rest: &str) -> String {
        format!("/v2/apps/{}{rest}", self.app_id)
    }

    async fn anon(&self, browser: &str, info: Value) -> Anon {
        let body = json!({"intent": "conversation:start", "client": {"id": browser, "platform": "web", "integrationId": self.web_id, "info": info}});
        let (status, body) = self.app.call("POST", &format!("/sdk/v2/apps/{}/appusers", self.app_id), None, Some(body)).await;
        assert_eq!(status, 201, "{body}");
        Anon {
            id: body["appUser"]["_id"].as_str().unwrap().to_string(),
            token: body["sessionToken"].as_str().unwrap().to_string(),
            conversation: body["conversation"]["_id"].as_str().unwrap().to_string(),
        }
    }

    /// Another install (browser or phone) of the same SDK user.
    async fn another_install(&self, a: &Anon, browser: &str, platform: &str) {
        let path = format!("/sdk/v2/apps/{}/appusers/{}/clients/{browser}", self.app_id, a.id);
        let body = json!({"client": {"platform": platform, "integrationId": self.web_id, "info": {"appVersion": "2.1"}}, "pushNotificationToken": "tok"});
        let (status, body) = self.app.call("PUT", &path, Some(&TestApp::basic(&a.id, &a.token)), Some(body)).await;
        assert_eq!(status, 200, "{body}");
    }

    async fn events(&self, kind: &str) -> Vec<Value> {
        let all = self.app.store.events_after(&self.app_id, 0, 10_000).await.unwrap();
        let shaping = sunbeam::wire::webhook::Shaping { full_users: None, include_full_source: true };
        all.into_iter().filter(|e| e.trigger().as_str() == kind).map(|e| sunbeam::wire::webhook::payload(&e.event, &shaping)).collect()
    }

    async fn integration(&self, body: Value) -> String {
        let (status, got) = self.app.account("POST", &self.v2("/integrations"), Some(body)).await;
        assert_eq!(status, 201, "{got}");
        got["integration"]["id"].as_str().unwrap().to_string()
    }
}

#[tokio::test]
async fn each_sdk_install_is_an_sdk_client_and_a_device() {
    let f = fixture().await;
    let a = f.anon("browser-one", json!({"vendor": "smooch", "URL": "shop.example"})).await;
    f.another_install(&a, "phone-two", "ios").await;

    let (status, list) = f.app.account("GET", &f.v2(&format!("/users/{}/clients", a.id)), None).await;
    assert_eq!(status, 200, "{list}");
    let clients = list["clients"].as_array().unwrap();
    assert_eq!(clients.len(), 2, "{list}");
    for c in clients {
        assert!(is_hex_id(c["id"].as_str().unwrap()), "{c}");
        assert_eq!(c["type"], "sdk");
        assert_eq!(c["status"], "active");
        assert!(is_ms_datetime(c["lastSeen"].as_str().unwrap()) && is_ms_datetime(c["linkedAt"].as_str().unwrap()), "{c}");
    }
    assert_eq!(list["meta"]["hasMore"], false);

    // Cursor pagination, as the spec says.
    let (_, first) = f.app.account("GET", &format!("{}?page[size]=1", f.v2(&format!("/users/{}/clients", a.id))), None).await;
    assert_eq!(first["clients"].as_array().unwrap().len(), 1);
    assert_eq!(first["meta"]["hasMore"], true);
    let next = first["links"]["next"].as_str().unwrap().to_string();
    let (status, second) = f.app.get_absolute(&next, &f.app.account_auth()).await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["clients"].as_array().unwrap().len(), 1);
    assert_ne!(second["clients"][0]["id"], first["clients"][0]["id"]);
    let (status, bad) = f.app.account("GET", &format!("{}?page[after]=short", f.v2(&format!("/users/{}/clients", a.id))), None).await;
    assert_error(status, &bad, 400, "bad_request");

    // Devices: one per install, the most recently seen first, each naming its client.
    let (status, devices) = f.app.account("GET", &f.v2(&format!("/users/{}/devices", a.id)), None).await;
    assert_eq!(status, 200, "{devices}");
    let devices = devices["devices"].as_array().unwrap().clone();
    assert_eq!(devices.len(), 2);
    assert_eq!(devices[0]["guid"], "phone-two");
    assert_eq!(devices[0]["type"], "ios");
    assert_eq!(devices[0]["pushNotificationToken"], "tok");
    assert_eq!(devices[0]["appVersion"], "2.1");
    assert_eq!(devices[1]["guid"], "browser-one");
    assert_eq!(devices[1]["type"], "web");
    assert_eq!(devices[1]["info"]["vendor"], "smooch");
    assert_eq!(devices[1]["integrationId"], f.web_id.as_str());
    let client_ids: Vec<&Value> = clients.iter().map(|c| &c["id"]).collect();
    for d in &devices {
        assert!(is_hex_id(d["id"].as_str().unwrap()));
        assert!(client_ids.contains(&&d["clientId"]), "{d}");
        let (status, one) = f.app.account("GET", &f.v2(&format!("/users/{}/devices/{}", a.id, d["id"].as_str().unwrap())), None).await;
        assert_eq!(status, 200, "{one}");
        assert_eq!(&one["device"], d);
    }
    let (status, none) = f.app.account("GET", &f.v2(&format!("/users/{}/devices/5f0000000000000000000001", a.id)), None).await;
    assert_error(status, &none, 404, "device_not_found");

    // The participant's associations: its clients, primary (last seen) first.
    let (status, parts) = f.app.account("GET", &f.v2(&format!("/conversations/{}/participants", a.conversation)), None).await;
    assert_eq!(status, 200, "{parts}");
    let assoc = parts["participants"][0]["clientAssociations"].as_array().unwrap();
    assert_eq!(assoc.len(), 2, "{parts}");
    assert_eq!(assoc[0], json!({"type": "sdk", "clientId": devices[0]["clientId"]}));
    assert_eq!(assoc[1], json!({"type": "sdk", "clientId": devices[1]["clientId"]}));

    // An SDK client belongs to its install: RemoveClient refuses it.
    let sdk_client = clients[0]["id"].as_str().unwrap();
    let (status, refused) = f.app.account("DELETE", &f.v2(&format!("/users/{}/clients/{sdk_client}", a.id)), None).await;
    assert_error(status, &refused, 400, "bad_request");
    assert_eq!(refused["errors"][0]["title"], "Cannot remove a client of type 'sdk'");
    let (status, missing) = f.app.account("DELETE", &f.v2(&format!("/users/{}/clients/5f0000000000000000000001", a.id)), None).await;
    assert_error(status, &missing, 404, "client_not_found");
    let (status, nobody) = f.app.account("GET", &f.v2("/users/nobody/clients"), None).await;
    assert_error(status, &nobody, 404, "user_not_found");

    // Webhooks see the v2 client id, not the browser's own id.
    let added = f.events("client:update").await.into_iter().chain(f.events("client:add").await).collect::<Vec<_>>();
    for e in added {
        assert!(is_hex_id(e["client"]["id"].as_str().unwrap()), "{e}");
    }
}

#[tokio::test]
async fn create_client_starts_a_link_that_says_it_cannot_complete() {
    let f = fixture().await;
    let whatsapp = f.integration(json!({"type": "whatsapp"})).await;
    let mailgun = f.integration(json!({"type": "mailgun", "apiKey": "key", "domain": "mg.example", "incomingAddress": "in@mg.example"})).await;
    let user = f.app.create_user(&f.app_id, Some("ann")).await;
    let (status, conv) = f.app.account("POST", &f.v2("/conversations"), Some(json!({"type": "personal", "participants": [{"userId": user}]}))).await;
    assert_eq!(status, 201, "{conv}");
    let conversation = conv["conversation"]["id"].as_str().unwrap().to_string();
    let path = f.v2("/users/ann/clients");
    let body = |integration: &str| {
        json!({
            "matchCriteria": {"type": "whatsapp", "integrationId": integration, "primary": true, "phoneNumber": "+1 212-555-2368"},
            "confirmation": {"type": "immediate"},
            "target": {"conversationId": conversation}
        })
    };

    let (status, created) = f.app.account("POST", &path, Some(body(&whatsapp))).await;
    assert_eq!(status, 201, "{created}");
    let client = &created["client"];
    assert!(is_hex_id(client["id"].as_str().unwrap()));
    assert_eq!((client["type"].as_str(), client["status"].as_str(), client["integrationId"].as_str()), (Some("whatsapp"), Some("pending"), Some(whatsapp.as_str())));
    assert_eq!(client["raw"]["linkStatus"], "unavailable");
    assert!(client["raw"]["linkStatusReason"].as_str().unwrap().contains("no connection to whatsapp"), "{client}");
    assert_eq!(client["raw"]["matchCriteria"]["phoneNumber"], "+1 212-555-2368");

    let added = f.events("client:add").await;
    assert_eq!(added.len(), 1);
    assert_eq!(added[0]["reason"], "channelLinking");
    assert_eq!(added[0]["conversation"]["id"], conversation.as_str());
    assert_eq!(added[0]["user"]["id"], user.as_str());
    assert_eq!(added[0]["client"]["status"], "pending");

    let (_, list) = f.app.account("GET", &path, None).await;
    assert_eq!(list["clients"].as_array().unwrap().len(), 1);
    assert_eq!(list["clients"][0]["id"], client["id"]);
    // Pending links are attached to no conversation yet.
    let (_, parts) = f.app.account("GET", &f.v2(&format!("/conversations/{conversation}/participants")), None).await;
    assert_eq!(parts["participants"][0]["clientAssociations"], json!([]));

    // Refusals: a second link, a wrong type, unknown things, a foreign conversation, bad bodies.
    let (status, got) = f.app.account("POST", &path, Some(body(&whatsapp))).await;
    assert_error(status, &got, 409, "conflict");
    let (status, got) = f.app.account("POST", &path, Some(body(&mailgun))).await;
    assert_error(status, &got, 400, "bad_request");
    assert!(got["errors"][0]["title"].as_str().unwrap().contains("type whatsapp"), "{got}");
    let (status, got) = f.app.account("POST", &path, Some(body("5f0000000000000000000001"))).await;
    assert_error(status, &got, 404, "integration_not_found");
    let other = f.app.create_user(&f.app_id, Some("bob")).await;
    let (status, got) = f.app.account("POST", &f.v2(&format!("/users/{other}/clients")), Some(body(&whatsapp))).await;
    assert_error(status, &got, 404, "not_found");
    let mut b = body(&whatsapp);
    b["target"]["conversationId"] = json!("5f0000000000000000000001");
    let (status, got) = f.app.account("POST", &f.v2(&format!("/users/{other}/clients")), Some(b)).await;
    assert_error(status, &got, 404, "conversation_not_found");
    let (status, got) = f.app.account("POST", &path, Some(json!({"matchCriteria": {"type": "telegram"}, "confirmation": {}, "target": {}}))).await;
    assert_error(status, &got, 400, "bad_request");
    assert!(got["errors"].as_array().unwrap().len() >= 3, "every problem at once: {got}");
    let (status, got) = f.app.account("POST", &f.v2("/users/nobody/clients"), Some(body(&whatsapp))).await;
    assert_error(status, &got, 404, "user_not_found");

    // RemoveClient takes a channel client away: client:remove, reason api.
    let id = client["id"].as_str().unwrap();
    let (status, got) = f.app.account("DELETE", &format!("{path}/{id}"), None).await;
    assert_eq!((status, got), (200, json!({})));
    let removed = f.events("client:remove").await;
    assert_eq!(removed.len(), 1);
    assert_eq!((removed[0]["reason"].as_str(), removed[0]["client"]["id"].as_str()), (Some("api"), Some(id)));
    let (_, list) = f.app.account("GET", &path, None).await;
    assert_eq!(list["clients"], json!([]));
    // Deleting the integration takes its links with it.
    let (status, _) = f.app.account("POST", &path, Some(body(&whatsapp))).await;
    assert_eq!(status, 201);
    assert_eq!(f.app.account("DELETE", &f.v2(&format!("/integrations/{whatsapp}")), None).await.0, 200);
    let (_, list) = f.app.account("GET", &path, None).await;
    assert_eq!(list["clients"], json!([]));
}

#[tokio::test]
async fn personal_information_goes_from_the_user_its_clients_and_its_message_sources() {
    let f = fixture().await;
    let a = f.anon("browser-one", json!({"vendor": "smooch", "userAgent": "Firefox", "currentUrl": "https://shop.example/me"})).await;
    let auth = TestApp::basic(&a.id, &a.token);
    let (status, _) = f.app.call("PUT", &format!("/sdk/v2/apps/{}/appusers/{}", f.app_id, a.id), Some(&auth), Some(json!({"givenName": "Ann", "email": "ann@example.com"}))).await;
    assert_eq!(status, 200);
    let (status, sent) = f
        .app
        .call(
            "POST",
            &format!("/sdk/v2/apps/{}/conversations/{}/messages", f.app_id, a.conversation),
            Some(&auth),
            Some(json!({"message": {"type": "text", "text": "hello", "role": "appUser"}, "author": {"role": "appUser", "client": {"id": "browser-one"}}})),
        )
        .await;
    assert_eq!(status, 201, "{sent}");
    let stored = |f: &Fixture| {
        let (app_id, conversation) = (f.app_id.clone(), a.conversation.clone());
        let store = f.app.store.clone();
        async move {
            let page = store.list_messages(&app_id, &conversation, &sunbeam::store::messages::MessageCursor::Newest).await.unwrap();
            page.items.into_iter().find(|m| m["author"]["type"] == "user").unwrap()
        }
    };
    let before = stored(&f).await;
    assert_eq!(before["source"]["client"]["info"]["userAgent"], "Firefox", "{before}");
    assert_eq!(before["source"]["device"]["guid"], "browser-one", "{before}");

    let (status, got) = f.app.account("DELETE", &f.v2(&format!("/users/{}/personalinformation", a.id)), None).await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["user"]["profile"], json!({}));
    assert_eq!(got["user"]["metadata"], json!({}));
    assert_eq!(got["user"]["id"], a.id.as_str());

    let (_, clients) = f.app.account("GET", &f.v2(&format!("/users/{}/clients", a.id)), None).await;
    let c = &clients["clients"][0];
    assert!(c["displayName"].is_null() && c["avatarUrl"].is_null(), "{c}");
    assert_eq!(c["info"], json!({}));
    let (_, devices) = f.app.account("GET", &f.v2(&format!("/users/{}/devices", a.id)), None).await;
    assert_eq!(devices["devices"][0]["info"], json!({}));

    let after = stored(&f).await;
    assert_eq!(after["content"]["text"], "hello", "history stays");
    assert!(after["source"]["client"]["info"].is_null() && after["source"]["client"]["raw"].is_null(), "{after}");
    assert!(after["source"]["device"]["info"].is_null(), "{after}");
    assert_eq!(after["source"]["device"]["guid"], "browser-one", "the SDK still recognises its own sends");
    let (status, got) = f.app.account("DELETE", &f.v2("/users/nobody/personalinformation"), None).await;
    assert_error(status, &got, 404, "user_not_found");
}

#[tokio::test]
async fn destination_needs_a_client_of_the_user_on_that_integration() {
    let f = fixture().await;
    let whatsapp = f.integration(json!({"type": "whatsapp"})).await;
    let a = f.anon("browser-one", json!({})).await;
    let path = f.v2(&format!("/conversations/{}/messages", a.conversation));
    let post = |destination: Value| json!({"author": {"type": "business"}, "content": {"type": "text", "text": "hi"}, "destination": destination});
    for ok in [json!({"integrationId": f.web_id}), json!({"integrationType": "web"}), json!({"integrationType": "none"})] {
        let (status, got) = f.app.account("POST", &path, Some(post(ok.clone()))).await;
        assert_eq!(status, 201, "{ok}: {got}");
    }
    for refused in [json!({"integrationId": whatsapp}), json!({"integrationType": "whatsapp"}), json!({"integrationId": "5f0000000000000000000001"})] {
        let (status, got) = f.app.account("POST", &path, Some(post(refused.clone()))).await;
        assert_error(status, &got, 400, "bad_request");
        assert!(got["errors"][0]["title"].as_str().unwrap().contains("has no client"), "{refused}: {got}");
    }
    // Only personal conversations take a destination into account.
    let (_, group) = f.app.account("POST", &f.v2("/conversations"), Some(json!({"type": "sdkGroup"}))).await;
    let group = group["conversation"]["id"].as_str().unwrap();
    let (status, got) = f.app.account("POST", &f.v2(&format!("/conversations/{group}/messages")), Some(post(json!({"integrationType": "whatsapp"})))).await;
    assert_eq!(status, 201, "{got}");
}
