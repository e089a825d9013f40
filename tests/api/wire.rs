//! The wire format: the error envelope for every refusal, body limits and media types,
//! id and datetime shapes, and `200 {}` for deletes.

use serde_json::{json, Value};

use crate::common::{assert_error, is_hex_id, is_ms_datetime, TestApp};

fn titles(body: &Value) -> Vec<String> {
    body["errors"].as_array().map(|a| a.iter().map(|e| e["title"].as_str().unwrap_or_default().to_string()).collect()).unwrap_or_default()
}

/// Every error of the envelope has a code and a non-empty title, and nothing else sits beside `errors`.
fn assert_envelope(body: &Value) {
    let obj = body.as_object().unwrap_or_else(|| panic!("not an object: {body}"));
    assert_eq!(obj.keys().collect::<Vec<_>>(), vec!["errors"], "{body}");
    for e in body["errors"].as_array().unwrap() {
        assert!(e["code"].as_str().is_some_and(|c| !c.is_empty() && c.chars().all(|ch| ch.is_ascii_lowercase() || ch == '_')), "{body}");
        assert!(e["title"].as_str().is_some_and(|t| !t.is_empty()), "{body}");
    }
}

#[tokio::test]
async fn unknown_routes_are_404_in_the_envelope() {
    let app = TestApp::spawn().await;
    let app_id = app.create_app("Shop").await;
    for path in ["/nope", "/v2", "/v2/nothing", "/v1/apps", &format!("/v2/apps/{app_id}/nothing"), &format!("/v2/apps/{app_id}/keys/a/b")] {
        for auth in [None, Some(app.account_auth())] {
            let (status, body) = app.call("GET", path, auth.as_deref(), None).await;
            assert_error(status, &body, 404, "not_found");
            assert_envelope(&body);
        }
    }
}

#[tokio::test]
async fn a_wrong_method_is_refused_in_the_envelope() {
    let app = TestApp::spawn().await;
    let (status, body) = app.account("PUT", "/v2/apps", Some(json!({"displayName": "x"}))).await;
    assert_eq!(status, 405, "{body}");
    assert_envelope(&body);
}

#[tokio::test]
async fn malformed_json_is_400_bad_request() {
    let app = TestApp::spawn().await;
    let app_id = app.create_app("Shop").await;
    let auth = app.account_auth();
    for raw in [&b"{"[..], b"{\"displayName\": }", b"not json", b"{\"displayName\": \"x\",}", b"\xff\xfe{}"] {
        let (status, body) = app.raw("POST", "/v2/apps", Some(&auth), Some("application/json"), raw.to_vec()).await;
        assert_error(status, &body, 400, "bad_request");
        assert_envelope(&body);
        let (status, body) = app.raw("POST", &format!("/v2/apps/{app_id}/users"), Some(&auth), Some("application/json"), raw.to_vec()).await;
        assert_error(status, &body, 400, "bad_request");
    }
    // JSON that is not an object.
    for raw in ["[]", "\"x\"", "5", "null", "[{\"displayName\":\"x\"}]"] {
        let (status, body) = app.raw("POST", "/v2/apps", Some(&auth), Some("application/json"), raw.as_bytes().to_vec()).await;
        assert_error(status, &body, 400, "bad_request");
    }
    let (_, list) = app.account("GET", "/v2/apps", None).await;
    assert_eq!(list["apps"].as_array().unwrap().len(), 1, "nothing was created: {list}");
}

#[tokio::test]
async fn wrong_types_are_400_naming_the_field() {
    let app = TestApp::spawn().await;
    let app_id = app.create_app("Shop").await;
    let cases: Vec<(&str, String, Value, &str)> = vec![
        ("POST", "/v2/apps".into(), json!({"displayName": 5}), "displayName"),
        ("POST", "/v2/apps".into(), json!({"displayName": "x", "settings": {"echoPostback": "yes"}}), "echoPostback"),
        ("POST", "/v2/apps".into(), json!({"displayName": "x", "metadata": "flat?"}), "metadata"),
        ("PATCH", format!("/v2/apps/{app_id}"), json!({"displayName": ["a"]}), "displayName"),
        ("POST", format!("/v2/apps/{app_id}/users"), json!({"profile": {"email": "x"}}), "profile.email"),
        ("POST", format!("/v2/apps/{app_id}/users"), json!({"profile": {"email": 7}}), "profile.email"),
        ("POST", format!("/v2/apps/{app_id}/users"), json!({"externalId": 5}), "externalId"),
        ("POST", format!("/v2/apps/{app_id}/users"), json!({"toBeRetained": "yes"}), "toBeRetained"),
        ("POST", format!("/v2/apps/{app_id}/keys"), json!({"displayName": true}), "displayName"),
    ];
    for (method, path, body, field) in cases {
        let (status, got) = app.account(method, &path, Some(body.clone())).await;
        assert_error(status, &got, 400, "bad_request");
        assert!(titles(&got).iter().any(|t| t.contains(field)), "{body} → the title must name {field}: {got}");
    }
}

#[tokio::test]
async fn several_problems_come_back_together_in_one_400() {
    let app = TestApp::spawn().await;
    let app_id = app.create_app("Shop").await;
    let (status, got) = app
        .account(
            "POST",
            &format!("/v2/apps/{app_id}/users"),
            Some(json!({"externalId": "", "profile": {"email": "x", "avatarUrl": "nope", "givenName": ""}})),
        )
        .await;
    assert_error(status, &got, 400, "bad_request");
    let t = titles(&got);
    assert!(t.len() >= 4, "{got}");
    for field in ["externalId", "profile.email", "profile.avatarUrl", "profile.givenName"] {
        assert!(t.iter().any(|x| x.contains(field)), "missing {field}: {got}");
    }
    assert!(got["errors"].as_array().unwrap().iter().all(|e| e["code"] == "bad_request"), "{got}");

    let (status, got) = app
        .account("POST", "/v2/apps", Some(json!({"displayName": "", "metadata": {"big": "x".repeat(5000)}, "settings": {"conversationRetentionSeconds": -1}})))
        .await;
    assert_error(status, &got, 400, "bad_request");
    assert!(titles(&got).len() >= 3, "{got}");
}

#[tokio::test]
async fn a_body_over_100kb_is_413_in_the_envelope() {
    let app = TestApp::spawn().await;
    let app_id = app.create_app("Shop").await;
    let huge = json!({"displayName": "x", "metadata": {"blob": "a".repeat(150 * 1024)}}).to_string().into_bytes();
    let (status, body) = app.raw("POST", "/v2/apps", Some(&app.account_auth()), Some("application/json"), huge.clone()).await;
    assert_eq!(status, 413, "{body}");
    assert_envelope(&body);
    let (status, body) = app.raw("PATCH", &format!("/v2/apps/{app_id}"), Some(&app.account_auth()), Some("application/json"), huge).await;
    assert_eq!(status, 413, "{body}");
    assert_envelope(&body);
    // Just under the limit the body is read, and refused only for its metadata.
    let under = json!({"displayName": "x", "metadata": {"blob": "a".repeat(90 * 1024)}}).to_string().into_bytes();
    let (status, body) = app.raw("POST", "/v2/apps", Some(&app.account_auth()), Some("application/json"), under).await;
    assert_error(status, &body, 400, "bad_request");
    assert!(titles(&body).iter().any(|t| t.contains("4096")), "{body}");
}

#[tokio::test]
async fn the_limit_is_exactly_100kb() {
    let app = TestApp::spawn().await;
    // A body of exactly `len` bytes: valid JSON, refused for its metadata if read.
    let body_of = |len: usize| {
        let frame = json!({"displayName": "x", "metadata": {"blob": ""}}).to_string().len();
        json!({"displayName": "x", "metadata": {"blob": "a".repeat(len - frame)}}).to_string().into_bytes()
    };
    let at = body_of(100 * 1024);
    assert_eq!(at.len(), 102_400);
    let (status, body) = app.raw("POST", "/v2/apps", Some(&app.account_auth()), Some("application/json"), at).await;
    assert_error(status, &body, 400, "bad_request");
    let over = body_of(100 * 1024 + 1);
    let (status, body) = app.raw("POST", "/v2/apps", Some(&app.account_auth()), Some("application/json"), over).await;
    assert_eq!(status, 413, "{body}");
    assert_envelope(&body);
}

#[tokio::test]
async fn a_non_json_content_type_is_refused_in_the_envelope() {
    let app = TestApp::spawn().await;
    let app_id = app.create_app("Shop").await;
    let body = br#"{"displayName":"x"}"#.to_vec();
    for ct in [Some("text/plain"), Some("application/x-www-form-urlencoded"), Some("multipart/form-data; boundary=x"), None] {
        let (status, got) = app.raw("POST", "/v2/apps", Some(&app.account_auth()), ct, body.clone()).await;
        assert!(status == 415 || status == 400, "{ct:?}: {status} {got}");
        assert_envelope(&got);
        let (status, got) = app.raw("POST", &format!("/v2/apps/{app_id}/users"), Some(&app.account_auth()), ct, b"{}".to_vec()).await;
        assert!(status == 415 || status == 400, "{ct:?}: {status} {got}");
    }
    // With a charset parameter it is still JSON.
    let (status, got) = app.raw("POST", "/v2/apps", Some(&app.account_auth()), Some("application/json; charset=utf-8"), body).await;
    assert_eq!(status, 201, "{got}");
}

#[tokio::test]
async fn ids_are_24_lowercase_hex_and_key_ids_carry_their_prefix() {
    let app = TestApp::spawn().await;
    let app_id = app.create_app("Shop").await;
    assert!(is_hex_id(&app_id), "{app_id}");
    let (key_id, secret) = app.create_app_key(&app_id).await;
    let hex = key_id.strip_prefix("app_").unwrap_or_else(|| panic!("{key_id}"));
    assert!(is_hex_id(hex), "{key_id}");
    assert!(secret.len() >= 24, "{secret}");
    assert!(app.account_id.starts_with("act_") && is_hex_id(&app.account_id[4..]), "{}", app.account_id);
    let user_id = app.create_user(&app_id, None).await;
    assert!(is_hex_id(&user_id), "{user_id}");
    let mut ids = vec![app_id.clone(), user_id.clone()];
    for _ in 0..20 {
        ids.push(app.create_user(&app_id, None).await);
    }
    let unique: std::collections::HashSet<_> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len());
}

#[tokio::test]
async fn datetimes_have_milliseconds_and_z() {
    let app = TestApp::spawn().await;
    let app_id = app.create_app("Shop").await;
    let (status, got) = app.account("POST", &format!("/v2/apps/{app_id}/users"), Some(json!({}))).await;
    assert_eq!(status, 201);
    let signed = got["user"]["signedUpAt"].as_str().unwrap();
    assert!(is_ms_datetime(signed), "{signed}");
    // A client-given time with an offset comes back normalised to UTC with milliseconds.
    let (status, got) = app
        .account("POST", &format!("/v2/apps/{app_id}/users"), Some(json!({"externalId": "t", "signedUpAt": "2020-06-26T16:33:47+02:00"})))
        .await;
    assert_eq!(status, 201, "{got}");
    assert_eq!(got["user"]["signedUpAt"], "2020-06-26T14:33:47.000Z");
    let (_, got) = app.account("GET", &format!("/v2/apps/{app_id}/users/t"), None).await;
    assert_eq!(got["user"]["signedUpAt"], "2020-06-26T14:33:47.000Z");
    let (status, got) = app.account("POST", &format!("/v2/apps/{app_id}/users"), Some(json!({"signedUpAt": "yesterday"}))).await;
    assert_error(status, &got, 400, "bad_request");
}

#[tokio::test]
async fn deletes_answer_200_with_an_empty_object() {
    let app = TestApp::spawn().await;
    let app_id = app.create_app("Shop").await;
    let (key_id, _) = app.create_app_key(&app_id).await;
    app.create_user(&app_id, Some("bob")).await;
    for path in [format!("/v2/apps/{app_id}/keys/{key_id}"), format!("/v2/apps/{app_id}/users/bob"), format!("/v2/apps/{app_id}")] {
        let res = app.http.delete(app.url(&path)).header("authorization", app.account_auth()).send().await.unwrap();
        assert_eq!(res.status().as_u16(), 200, "{path}");
        let ct = res.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
        assert!(ct.starts_with("application/json"), "{path}: {ct}");
        assert_eq!(res.text().await.unwrap(), "{}", "{path}");
    }
}

#[tokio::test]
async fn error_responses_are_json() {
    let app = TestApp::spawn().await;
    let res = app.http.get(app.url("/v2/apps")).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 401);
    let ct = res.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    assert!(ct.starts_with("application/json"), "{ct}");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body, json!({"errors": [{"code": "unauthorized", "title": "Authorization is required"}]}));
}

#[tokio::test]
async fn axum_rejections_come_in_the_envelope_too() {
    let app = TestApp::spawn().await;
    // A path segment that is not UTF-8 is refused by the router's extractor, not by us.
    let (status, body) = app.account("GET", "/v2/apps/%FF%FE/users/x", None).await;
    assert_error(status, &body, 400, "bad_request");
}
