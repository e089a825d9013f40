//! What a newcomer meets first: the widget compiled into the binary, the hosted service's
//! `/sc` base path, both query encodings of the official clients, and errors that say
//! what to do instead.

use serde_json::{json, Value};

use crate::common::{assert_error, TestApp};

fn title(body: &Value) -> String {
    body["errors"][0]["title"].as_str().unwrap_or_default().to_string()
}

#[tokio::test]
async fn the_widget_bundle_and_the_demo_page_are_compiled_in() {
    let app = TestApp::spawn().await;
    let res = app.http.get(app.url("/web/messenger.js")).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("application/javascript"));
    assert_eq!(res.headers()["x-sunbeam-bundle"], "embedded");
    let committed = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/web/bundle/messenger.js")).unwrap();
    assert_eq!(res.bytes().await.unwrap().as_ref(), committed.as_slice(), "the committed bundle, byte for byte");
    let res = app.http.get(app.url("/web/messenger.js.map")).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let map: Value = res.json().await.unwrap();
    assert_eq!(map["version"], 3);
    let res = app.http.get(app.url("/web/demo")).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert!(res.text().await.unwrap().contains("name=\"integrationId\""));
}

#[tokio::test]
async fn the_api_answers_the_same_under_sc() {
    let app = TestApp::spawn().await;
    let app_id = app.create_app("Shop").await;
    let (status, plain) = app.account("GET", "/v2/apps", None).await;
    assert_eq!(status, 200, "{plain}");
    let (status, prefixed) = app.account("GET", "/sc/v2/apps", None).await;
    assert_eq!(status, 200, "{prefixed}");
    assert_eq!(plain, prefixed);
    let (status, got) = app.account("GET", &format!("/sc/v2/apps/{app_id}"), None).await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["app"]["id"], app_id.as_str());
    let (status, created) = app.account("POST", &format!("/sc/v2/apps/{app_id}/users"), Some(json!({"externalId": "bob"}))).await;
    assert_eq!(status, 201, "{created}");
    let (status, _) = app.account("GET", &format!("/v2/apps/{app_id}/users/bob"), None).await;
    assert_eq!(status, 200, "one store behind both paths");
    // The SDK API is there too, with its own error shape.
    let (status, body) = app.call("GET", &format!("/sc/sdk/v2/apps/{app_id}/appusers/nobody"), None, None).await;
    assert!(status == 401 || status == 404, "{status} {body}");
    assert!(body.get("error").is_some(), "{body}");
    // Errors name the path as the client sent it; /scx is not /sc.
    let (status, body) = app.account("GET", "/sc/v2/nothing", None).await;
    assert_error(status, &body, 404, "not_found");
    assert!(title(&body).contains("GET /sc/v2/nothing"), "{body}");
    let (status, body) = app.account("GET", "/scx/v2/apps", None).await;
    assert_error(status, &body, 404, "not_found");
}

#[tokio::test]
async fn pagination_links_keep_the_prefix_the_request_used() {
    let app = TestApp::spawn().await;
    for i in 0..3 {
        app.create_app(&format!("App {i}")).await;
    }
    let auth = app.account_auth();
    let (_, page) = app.account("GET", "/sc/v2/apps?page[size]=1", None).await;
    let next = page["links"]["next"].as_str().unwrap_or_else(|| panic!("{page}"));
    assert!(next.starts_with(&format!("{}/sc/v2/apps?", app.base)), "{next}");
    let (status, page2) = app.get_absolute(next, &auth).await;
    assert_eq!(status, 200, "{page2}");
    let prev = page2["links"]["prev"].as_str().unwrap_or_else(|| panic!("{page2}"));
    assert!(prev.starts_with(&format!("{}/sc/v2/apps?", app.base)), "{prev}");
    let (_, page) = app.account("GET", "/v2/apps?page[size]=1", None).await;
    let next = page["links"]["next"].as_str().unwrap();
    assert!(next.starts_with(&format!("{}/v2/apps?", app.base)), "{next}");
    // A client cannot pretend it used a prefix.
    let res = app.http.get(app.url("/v2/apps?page[size]=1")).header("authorization", &auth).header("x-sunbeam-base-prefix", "/evil").send().await.unwrap();
    let page: Value = res.json().await.unwrap();
    assert!(page["links"]["next"].as_str().unwrap().starts_with(&format!("{}/v2/apps?", app.base)), "{page}");
}

#[tokio::test]
async fn object_query_parameters_are_read_as_deep_objects_and_as_json() {
    let app = TestApp::spawn().await;
    let app_id = app.create_app("Shop").await;
    let user_id = app.create_user(&app_id, Some("bob")).await;
    for _ in 0..3 {
        let (status, body) = app
            .account("POST", &format!("/v2/apps/{app_id}/conversations"), Some(json!({"type": "personal", "participants": [{"userId": user_id}]})))
            .await;
        assert_eq!(status, 201, "{body}");
    }
    let enc = |s: &str| s.replace('{', "%7B").replace('}', "%7D").replace('"', "%22").replace(' ', "%20").replace(':', "%3A").replace(',', "%2C");
    let path = format!("/v2/apps/{app_id}/conversations");
    let (status, deep) = app.account("GET", &format!("{path}?filter[userExternalId]=bob&page[size]=2"), None).await;
    assert_eq!(status, 200, "{deep}");
    // As the Python client sends them: json.dumps, then percent-encoded.
    let query = format!("filter={}&page={}", enc(r#"{"userExternalId": "bob"}"#), enc(r#"{"size": 2}"#));
    let (status, json_encoded) = app.account("GET", &format!("{path}?{query}"), None).await;
    assert_eq!(status, 200, "{json_encoded}");
    assert_eq!(deep, json_encoded);
    assert_eq!(deep["conversations"].as_array().unwrap().len(), 2);
    // The cursor too; links come back in the deepObject form.
    let after = deep["meta"]["afterCursor"].as_str().unwrap();
    let query = format!("filter={}&page={}", enc(&format!(r#"{{"userId": "{user_id}"}}"#)), enc(&format!(r#"{{"after": "{after}", "size": 2}}"#)));
    let (status, rest) = app.account("GET", &format!("{path}?{query}"), None).await;
    assert_eq!(status, 200, "{rest}");
    assert_eq!(rest["conversations"].as_array().unwrap().len(), 1, "{rest}");
    let next = deep["links"]["next"].as_str().unwrap();
    assert!(next.contains("filter[userExternalId]=bob") && next.contains("page[size]=2"), "{next}");
    // Not an object: a 400 that shows both forms.
    for bad in ["filter=bob", &format!("filter={}", enc("[1]")), &format!("filter={}", enc(r#"{"userId": {"a": 1}}"#))] {
        let (status, body) = app.account("GET", &format!("{path}?{bad}"), None).await;
        assert_error(status, &body, 400, "bad_request");
        assert!(title(&body).contains("filter"), "{bad}: {body}");
    }
}

#[tokio::test]
async fn an_unsupported_query_parameter_is_a_400_naming_it() {
    let app = TestApp::spawn().await;
    let app_id = app.create_app("Shop").await;
    let (status, body) = app.account("GET", &format!("/v2/apps/{app_id}/conversations?filter[userID]=x"), None).await;
    assert_error(status, &body, 400, "bad_request");
    let t = title(&body);
    assert!(t.contains("filter[userID]") && t.contains("filter[userExternalId]"), "names the parameter and what is accepted: {body}");
    let (status, body) = app.account("GET", &format!("/v2/apps/{app_id}?verbose=1"), None).await;
    assert_error(status, &body, 400, "bad_request");
    assert!(title(&body).contains("verbose") && title(&body).contains("takes no query parameters"), "{body}");
    // JSON-encoded parameters are checked the same way.
    let (status, body) = app.account("GET", "/v2/apps?page=%7B%22sise%22%3A2%7D", None).await;
    assert_error(status, &body, 400, "bad_request");
    assert!(title(&body).contains("page[sise]"), "{body}");
    // Every parameter of the spec is accepted.
    for ok in ["/v2/apps?page[size]=2&page[after]=", "/v2/apps?filter[serviceAccountId]=x"] {
        let (status, body) = app.account("GET", ok, None).await;
        assert!(status != 400 || !title(&body).contains("Unsupported"), "{ok}: {body}");
    }
    let (status, body) = app.account("GET", &format!("/v2/apps/{app_id}/users/nobody?brandId=123"), None).await;
    assert_error(status, &body, 404, "user_not_found");
}

#[tokio::test]
async fn unknown_routes_name_the_method_and_the_path() {
    let app = TestApp::spawn().await;
    let (status, body) = app.account("DELETE", "/v2/nothing/here", None).await;
    assert_error(status, &body, 404, "not_found");
    assert!(title(&body).contains("DELETE /v2/nothing/here"), "{body}");
}

#[tokio::test]
async fn a_wrong_method_is_405_with_allow() {
    let app = TestApp::spawn().await;
    let app_id = app.create_app("Shop").await;
    for prefix in ["", "/sc"] {
        let res = app.http.put(app.url(&format!("{prefix}/v2/apps/{app_id}"))).header("authorization", app.account_auth()).send().await.unwrap();
        assert_eq!(res.status().as_u16(), 405);
        let allow = res.headers()["allow"].to_str().unwrap().to_string();
        let mut methods: Vec<&str> = allow.split(',').map(str::trim).collect();
        methods.sort();
        assert_eq!(methods, ["DELETE", "GET", "HEAD", "PATCH"], "{allow}");
        let body: Value = res.json().await.unwrap();
        assert_error(405, &body, 405, "method_not_allowed");
        let t = title(&body);
        assert!(t.contains("PUT") && t.contains(&format!("{prefix}/v2/apps/{app_id}")) && t.contains("PATCH"), "{body}");
    }
}

#[tokio::test]
async fn a_wrong_content_type_is_415_naming_the_expected_one() {
    let app = TestApp::spawn().await;
    let app_id = app.create_app("Shop").await;
    let auth = app.account_auth();
    let (status, body) = app.raw("POST", "/v2/apps", Some(&auth), Some("text/plain"), br#"{"displayName":"x"}"#.to_vec()).await;
    assert_error(status, &body, 415, "unsupported_media_type");
    assert!(title(&body).contains("text/plain") && title(&body).contains("application/json"), "{body}");
    let (status, body) = app.raw("POST", "/v2/apps", Some(&auth), None, br#"{"displayName":"x"}"#.to_vec()).await;
    assert_error(status, &body, 415, "unsupported_media_type");
    assert!(title(&body).contains("application/json"), "{body}");
    // An upload wants multipart.
    let (status, body) = app.raw("POST", &format!("/v2/apps/{app_id}/attachments?access=public"), Some(&auth), Some("application/json"), b"{}".to_vec()).await;
    assert_error(status, &body, 415, "unsupported_media_type");
    assert!(title(&body).contains("multipart/form-data"), "{body}");
}

#[tokio::test]
async fn get_app_leaves_out_the_zendesk_subdomain() {
    let app = TestApp::spawn().await;
    let app_id = app.create_app("Shop").await;
    let (status, body) = app.account("GET", &format!("/v2/apps/{app_id}"), None).await;
    assert_eq!(status, 200);
    // The spec types it as a string; Sunbeam has no Zendesk subdomain, so it is absent, never null.
    assert!(body["app"].get("subdomain").is_none(), "{body}");
}
