//! Apps: CreateApp, ListApps (cursor pagination), GetApp, UpdateApp, DeleteApp.

use serde_json::{json, Value};

use crate::common::{assert_error, is_hex_id, TestApp};

#[tokio::test]
async fn create_app_returns_the_app_with_default_settings() {
    let app = TestApp::spawn().await;
    let (status, got) = app.account("POST", "/v2/apps", Some(json!({"displayName": "Shop", "metadata": {"tier": "gold", "seats": 3, "vip": true}}))).await;
    assert_eq!(status, 201, "{got}");
    let a = &got["app"];
    assert!(is_hex_id(a["id"].as_str().unwrap()));
    assert_eq!(a["displayName"], "Shop");
    assert_eq!(a["metadata"], json!({"tier": "gold", "seats": 3, "vip": true}));
    let s = &a["settings"];
    assert_eq!(s["maskCreditCardNumbers"], true, "{s}");
    for off in ["useAnimalNames", "echoPostback", "ignoreAutoConversationStart", "multiConvoEnabled", "appLocalizationEnabled", "endSessionEnabled", "disableConversationReopen"] {
        assert_eq!(s[off], false, "{off}: {s}");
    }
    // GET shows the same app (without `subdomain`: a self-hosted app has no Zendesk one).
    let id = a["id"].as_str().unwrap();
    let (status, fetched) = app.account("GET", &format!("/v2/apps/{id}"), None).await;
    assert_eq!(status, 200);
    assert!(!fetched["app"].as_object().unwrap().contains_key("subdomain"), "{fetched}");
    for k in ["id", "displayName", "settings", "metadata"] {
        assert_eq!(fetched["app"][k], got["app"][k], "{k}");
    }
}

#[tokio::test]
async fn create_app_with_settings_keeps_them() {
    let app = TestApp::spawn().await;
    let (status, got) = app
        .account(
            "POST",
            "/v2/apps",
            Some(json!({"displayName": "Multi", "settings": {"multiConvoEnabled": true, "echoPostback": true, "conversationRetentionSeconds": 3600, "maskCreditCardNumbers": false}})),
        )
        .await;
    assert_eq!(status, 201, "{got}");
    let s = &got["app"]["settings"];
    assert_eq!((s["multiConvoEnabled"].clone(), s["echoPostback"].clone()), (json!(true), json!(true)));
    assert_eq!(s["conversationRetentionSeconds"], 3600);
    assert_eq!(s["maskCreditCardNumbers"], false);
    let id = got["app"]["id"].as_str().unwrap();
    let (_, fetched) = app.account("GET", &format!("/v2/apps/{id}"), None).await;
    assert_eq!(fetched["app"]["settings"], got["app"]["settings"]);
}

#[tokio::test]
async fn create_app_validates_the_body() {
    let app = TestApp::spawn().await;
    for body in [
        json!({}),
        json!({"displayName": null}),
        json!({"displayName": ""}),
        json!({"displayName": "x".repeat(101)}),
        json!({"displayName": "x", "settings": {"bogusSetting": true}}),
        json!({"displayName": "x", "settings": {"conversationRetentionSeconds": -1}}),
        json!({"displayName": "x", "settings": {"endSessionEnabled": true}}),
        json!({"displayName": "x", "settings": {"disableConversationReopen": true}}),
        json!({"displayName": "x", "metadata": {"nested": {"a": 1}}}),
        json!({"displayName": "x", "metadata": {"list": [1, 2]}}),
    ] {
        let (status, got) = app.account("POST", "/v2/apps", Some(body.clone())).await;
        assert_error(status, &got, 400, "bad_request");
    }
    let (_, got) = app.account("POST", "/v2/apps", Some(json!({}))).await;
    assert_eq!(got["errors"][0]["title"], "should have required property 'displayName'");
    // 100 characters is the limit, inclusive.
    let (status, _) = app.account("POST", "/v2/apps", Some(json!({"displayName": "é".repeat(100)}))).await;
    assert_eq!(status, 201);
    let (_, list) = app.account("GET", "/v2/apps", None).await;
    assert_eq!(list["apps"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn metadata_over_4096_bytes_is_refused() {
    let app = TestApp::spawn().await;
    // {"k":"…"} is 8 bytes of framing.
    let at_limit = json!({"displayName": "x", "metadata": {"k": "a".repeat(4096 - 8)}});
    let (status, got) = app.account("POST", "/v2/apps", Some(at_limit)).await;
    assert_eq!(status, 201, "exactly 4096 bytes is allowed: {got}");
    let id = got["app"]["id"].as_str().unwrap().to_string();
    let over = json!({"displayName": "x", "metadata": {"k": "a".repeat(4096 - 7)}});
    let (status, got) = app.account("POST", "/v2/apps", Some(over)).await;
    assert_error(status, &got, 400, "bad_request");
    assert_eq!(got["errors"][0]["title"], "App metadata is limited to 4096 bytes in size.");
    // Multi-byte characters count in bytes.
    let (status, got) = app.account("PATCH", &format!("/v2/apps/{id}"), Some(json!({"metadata": {"k": "é".repeat(2100)}}))).await;
    assert_error(status, &got, 400, "bad_request");
    let (_, fetched) = app.account("GET", &format!("/v2/apps/{id}"), None).await;
    assert_eq!(fetched["app"]["metadata"]["k"].as_str().unwrap().len(), 4096 - 8, "the refused PATCH left it alone");
}

#[tokio::test]
async fn update_app_changes_only_what_is_sent() {
    let app = TestApp::spawn().await;
    let (_, got) = app.account("POST", "/v2/apps", Some(json!({"displayName": "Shop", "metadata": {"a": "1"}}))).await;
    let id = got["app"]["id"].as_str().unwrap().to_string();
    let path = format!("/v2/apps/{id}");

    let (status, got) = app.account("PATCH", &path, Some(json!({"settings": {"useAnimalNames": true, "echoPostback": true}}))).await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["app"]["displayName"], "Shop");
    assert_eq!(got["app"]["metadata"], json!({"a": "1"}));
    assert_eq!(got["app"]["settings"]["useAnimalNames"], true);
    assert_eq!(got["app"]["settings"]["echoPostback"], true);
    assert_eq!(got["app"]["settings"]["maskCreditCardNumbers"], true, "untouched settings keep their value");

    let (status, got) = app.account("PATCH", &path, Some(json!({"displayName": "Store", "metadata": {"b": 2}}))).await;
    assert_eq!(status, 200);
    assert_eq!(got["app"]["displayName"], "Store");
    assert_eq!(got["app"]["metadata"], json!({"b": 2}), "metadata is replaced, not merged");
    assert_eq!(got["app"]["settings"]["useAnimalNames"], true);

    let (status, got) = app.account("PATCH", &path, Some(json!({"metadata": null}))).await;
    assert_eq!(status, 200);
    assert!(got["app"]["metadata"].is_null(), "{got}");

    // An empty PATCH is a no-op.
    let (status, same) = app.account("PATCH", &path, Some(json!({}))).await;
    assert_eq!(status, 200);
    assert_eq!(same["app"], got["app"]);

    let (_, fetched) = app.account("GET", &path, None).await;
    assert_eq!(fetched["app"]["displayName"], "Store");
    assert_eq!(fetched["app"]["settings"]["echoPostback"], true);
}

#[tokio::test]
async fn update_app_refuses_bad_values_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let id = app.create_app("Shop").await;
    let path = format!("/v2/apps/{id}");
    for body in [
        json!({"displayName": null}),
        json!({"displayName": ""}),
        json!({"displayName": "New", "settings": {"unknownSetting": 1}}),
        json!({"displayName": "New", "settings": {"useAnimalNames": "yes"}}),
        json!({"displayName": "New", "settings": {"endSessionEnabled": true}}),
        json!({"displayName": "New", "metadata": {"deep": {"x": 1}}}),
    ] {
        let (status, got) = app.account("PATCH", &path, Some(body.clone())).await;
        assert_error(status, &got, 400, "bad_request");
    }
    let (_, fetched) = app.account("GET", &path, None).await;
    assert_eq!(fetched["app"]["displayName"], "Shop");
    assert_eq!(fetched["app"]["settings"]["endSessionEnabled"], false);
}

#[tokio::test]
async fn multi_convo_enabled_is_irreversible() {
    let app = TestApp::spawn().await;
    let id = app.create_app("Shop").await;
    let path = format!("/v2/apps/{id}");
    // Off → off is fine; off → on is fine.
    assert_eq!(app.account("PATCH", &path, Some(json!({"settings": {"multiConvoEnabled": false}}))).await.0, 200);
    let (status, got) = app.account("PATCH", &path, Some(json!({"settings": {"multiConvoEnabled": true}}))).await;
    assert_eq!(status, 200);
    assert_eq!(got["app"]["settings"]["multiConvoEnabled"], true);
    // On → off is refused, and the setting stays on.
    let (status, got) = app.account("PATCH", &path, Some(json!({"settings": {"multiConvoEnabled": false}}))).await;
    assert_error(status, &got, 400, "bad_request");
    assert!(got["errors"][0]["title"].as_str().unwrap().contains("multiConvoEnabled"), "{got}");
    let (_, fetched) = app.account("GET", &path, None).await;
    assert_eq!(fetched["app"]["settings"]["multiConvoEnabled"], true);
    // On → on is fine.
    let (status, got) = app.account("PATCH", &path, Some(json!({"settings": {"multiConvoEnabled": true}}))).await;
    assert_eq!(status, 200, "{got}");
    // The settings that need it mean nothing here, even with it on: refused, named.
    for name in ["endSessionEnabled", "disableConversationReopen", "appLocalizationEnabled", "ignoreAutoConversationStart"] {
        let (status, got) = app.account("PATCH", &path, Some(json!({"settings": {name: true}}))).await;
        assert_error(status, &got, 400, "bad_request");
        assert!(got["errors"][0]["title"].as_str().unwrap().contains(&format!("settings.{name} is not supported")), "{got}");
        let (status, got) = app.account("PATCH", &path, Some(json!({"settings": {name: false}}))).await;
        assert_eq!(status, 200, "{got}");
    }
}

#[tokio::test]
async fn get_update_delete_of_an_unknown_app_are_404() {
    let app = TestApp::spawn().await;
    for id in ["000000000000000000000000", "not-an-id"] {
        let path = format!("/v2/apps/{id}");
        let (status, got) = app.account("GET", &path, None).await;
        assert_error(status, &got, 404, "app_not_found");
        let (status, got) = app.account("PATCH", &path, Some(json!({"displayName": "x"}))).await;
        assert_error(status, &got, 404, "app_not_found");
        let (status, got) = app.account("DELETE", &path, None).await;
        assert_error(status, &got, 404, "app_not_found");
        let (status, got) = app.account("GET", &format!("{path}/keys"), None).await;
        assert_error(status, &got, 404, "app_not_found");
        let (status, got) = app.account("POST", &format!("{path}/users"), Some(json!({}))).await;
        assert_error(status, &got, 404, "app_not_found");
    }
}

fn ids_of(body: &Value) -> Vec<String> {
    body["apps"].as_array().unwrap_or_else(|| panic!("{body}")).iter().map(|a| a["id"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn list_apps_pages_forwards_and_backwards_across_page_boundaries() {
    let app = TestApp::spawn().await;
    let mut all = Vec::new();
    for i in 0..8 {
        all.push(app.create_app(&format!("App {i}")).await);
    }
    let auth = app.account_auth();

    // Forwards with links.next, 3 at a time: 3 + 3 + 2.
    let (status, p1) = app.account("GET", "/v2/apps?page[size]=3", None).await;
    assert_eq!(status, 200, "{p1}");
    assert_eq!(ids_of(&p1), all[0..3]);
    assert_eq!(p1["meta"]["hasMore"], true);
    assert_eq!(p1["meta"]["afterCursor"], all[2].as_str());
    assert!(p1["links"].get("prev").is_none() && p1["meta"].get("beforeCursor").is_none(), "first page has nothing before: {p1}");
    let next = p1["links"]["next"].as_str().unwrap_or_else(|| panic!("{p1}"));
    assert!(next.starts_with(&format!("{}/v2/apps?", app.base)), "absolute URL: {next}");
    assert!(next.contains(&format!("page[after]={}", all[2])), "{next}");

    let (status, p2) = app.get_absolute(next, &auth).await;
    assert_eq!(status, 200, "{p2}");
    assert_eq!(ids_of(&p2), all[3..6], "links.next keeps the page size");
    assert_eq!(p2["meta"]["hasMore"], true);
    let prev = p2["links"]["prev"].as_str().unwrap_or_else(|| panic!("{p2}"));
    assert!(prev.starts_with(&format!("{}/v2/apps?", app.base)), "{prev}");
    assert!(prev.contains(&format!("page[before]={}", all[3])), "{prev}");

    let (_, p3) = app.get_absolute(p2["links"]["next"].as_str().unwrap(), &auth).await;
    assert_eq!(ids_of(&p3), all[6..8]);
    assert_eq!(p3["meta"]["hasMore"], false);
    assert!(p3["links"].get("next").is_none() && p3["meta"].get("afterCursor").is_none(), "last page has nothing after: {p3}");

    // Backwards from the last page with links.prev: 3 + 3, then the first 2 with hasMore false.
    let (_, b1) = app.get_absolute(p3["links"]["prev"].as_str().unwrap(), &auth).await;
    assert_eq!(ids_of(&b1), all[3..6]);
    assert_eq!(b1["meta"]["hasMore"], true, "more exist before: {b1}");
    assert_eq!(b1["meta"]["beforeCursor"], all[3].as_str());
    assert_eq!(b1["meta"]["afterCursor"], all[5].as_str());
    let (_, b2) = app.get_absolute(b1["links"]["prev"].as_str().unwrap(), &auth).await;
    assert_eq!(ids_of(&b2), all[0..3]);
    assert_eq!(b2["meta"]["hasMore"], false, "nothing before the first app: {b2}");
    assert!(b2["links"].get("prev").is_none(), "{b2}");
    // And forwards again from a page reached backwards.
    let (_, f) = app.get_absolute(b2["links"]["next"].as_str().unwrap(), &auth).await;
    assert_eq!(ids_of(&f), all[3..6]);

    // Explicit cursors in the middle of the list.
    let (_, mid) = app.account("GET", &format!("/v2/apps?page[size]=2&page[after]={}", all[4]), None).await;
    assert_eq!(ids_of(&mid), all[5..7]);
    assert_eq!(mid["meta"]["hasMore"], true);
    let (_, mid) = app.account("GET", &format!("/v2/apps?page[size]=2&page[before]={}", all[4]), None).await;
    assert_eq!(ids_of(&mid), all[2..4]);
    assert_eq!(mid["meta"]["hasMore"], true);
    let (_, mid) = app.account("GET", &format!("/v2/apps?page[size]=4&page[before]={}", all[4]), None).await;
    assert_eq!(ids_of(&mid), all[0..4]);
    assert_eq!(mid["meta"]["hasMore"], false, "exactly the rest: {mid}");
    // A page that ends exactly at the last app has no more after it.
    let (_, end) = app.account("GET", &format!("/v2/apps?page[size]=2&page[after]={}", all[5]), None).await;
    assert_eq!(ids_of(&end), all[6..8]);
    assert_eq!(end["meta"]["hasMore"], false);
    // Past either end: empty.
    let (_, none) = app.account("GET", &format!("/v2/apps?page[after]={}", all[7]), None).await;
    assert!(ids_of(&none).is_empty());
    assert_eq!(none["meta"]["hasMore"], false);
}

#[tokio::test]
async fn list_apps_defaults_to_25_per_page() {
    let app = TestApp::spawn().await;
    let mut all = Vec::new();
    for i in 0..27 {
        all.push(app.create_app(&format!("App {i}")).await);
    }
    let (_, p) = app.account("GET", "/v2/apps", None).await;
    assert_eq!(ids_of(&p), all[0..25]);
    assert_eq!(p["meta"]["hasMore"], true);
    let (_, p) = app.get_absolute(p["links"]["next"].as_str().unwrap(), &app.account_auth()).await;
    assert_eq!(ids_of(&p), all[25..27]);
    assert_eq!(p["meta"]["hasMore"], false);
    let (_, p) = app.account("GET", "/v2/apps?page[size]=100", None).await;
    assert_eq!(ids_of(&p), all);
    assert_eq!(p["meta"]["hasMore"], false);
    assert!(p["links"].as_object().map_or(true, |l| l.is_empty()), "{}", p["links"]);
}

#[tokio::test]
async fn list_apps_refuses_invalid_page_parameters() {
    let app = TestApp::spawn().await;
    let a = app.create_app("A").await;
    let b = app.create_app("B").await;
    for q in [
        format!("page[after]={a}&page[before]={b}"),
        "page[size]=0".into(),
        "page[size]=101".into(),
        "page[size]=-1".into(),
        "page[size]=ten".into(),
        "page[size]=2.5".into(),
        "page[after]=short".into(),
        format!("page[after]={}", a.to_uppercase()),
        format!("page[before]={a}0"),
    ] {
        let (status, got) = app.account("GET", &format!("/v2/apps?{q}"), None).await;
        assert_error(status, &got, 400, "bad_request");
    }
    // The bounds themselves are fine.
    assert_eq!(app.account("GET", "/v2/apps?page[size]=1", None).await.0, 200);
    assert_eq!(app.account("GET", "/v2/apps?page[size]=100", None).await.0, 200);
    // Percent-encoded brackets are the same parameter.
    let (status, got) = app.account("GET", "/v2/apps?page%5Bsize%5D=1", None).await;
    assert_eq!(status, 200);
    assert_eq!(ids_of(&got), vec![a]);
}

#[tokio::test]
async fn delete_app_removes_it_with_its_keys_and_users() {
    let app = TestApp::spawn().await;
    let doomed = app.create_app("Doomed").await;
    let kept = app.create_app("Kept").await;
    let (key_id, secret) = app.create_app_key(&doomed).await;
    let (kept_key, kept_secret) = app.create_app_key(&kept).await;
    let doomed_user = app.create_user(&doomed, Some("shared")).await;
    let kept_user = app.create_user(&kept, Some("shared")).await;
    let auth = TestApp::basic(&key_id, &secret);
    // The key works (and is cached) before the deletion.
    assert_eq!(app.call("GET", &format!("/v2/apps/{doomed}"), Some(&auth), None).await.0, 200);

    let (status, got) = app.account("DELETE", &format!("/v2/apps/{doomed}"), None).await;
    assert_eq!((status, got), (200, json!({})));

    let (status, got) = app.account("GET", &format!("/v2/apps/{doomed}"), None).await;
    assert_error(status, &got, 404, "app_not_found");
    let (status, got) = app.account("DELETE", &format!("/v2/apps/{doomed}"), None).await;
    assert_error(status, &got, 404, "app_not_found");
    // Its key no longer authenticates, its users and keys are gone from the store.
    let (status, got) = app.call("GET", &format!("/v2/apps/{doomed}"), Some(&auth), None).await;
    assert_error(status, &got, 401, "unauthorized");
    assert!(app.store.find_key_grant(&key_id).await.unwrap().is_none());
    assert!(app.store.get_user(&doomed, &doomed_user).await.is_err());
    assert!(app.store.list_app_keys(&doomed).await.unwrap().is_empty());
    let (_, list) = app.account("GET", "/v2/apps", None).await;
    assert_eq!(ids_of(&list), vec![kept.clone()]);

    // The other app is untouched.
    let kept_auth = TestApp::basic(&kept_key, &kept_secret);
    let (status, got) = app.call("GET", &format!("/v2/apps/{kept}/users/shared"), Some(&kept_auth), None).await;
    assert_eq!(status, 200);
    assert_eq!(got["user"]["id"], kept_user.as_str());
}

#[tokio::test]
async fn list_apps_by_service_account_is_forbidden_without_service_accounts() {
    let app = TestApp::spawn().await;
    app.create_app("A").await;
    let (status, got) = app.account("GET", "/v2/apps?filter[serviceAccountId]=svc_000000000000000000000000", None).await;
    assert_error(status, &got, 403, "forbidden");
}
