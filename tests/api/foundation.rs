use serde_json::json;

use crate::common::{assert_error, TestApp};

#[tokio::test]
async fn health_answers_once_the_store_does() {
    let app = TestApp::spawn().await;
    let (status, _) = app.call("GET", "/health", None, None).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn newcomer_flow_app_key_user_by_external_id() {
    let app = TestApp::spawn().await;
    let app_id = app.create_app("Shop").await;
    let (key_id, secret) = app.create_app_key(&app_id).await;
    assert!(key_id.starts_with("app_"));
    let auth = TestApp::basic(&key_id, &secret);
    let (status, body) = app.call("POST", &format!("/v2/apps/{app_id}/users"), Some(&auth), Some(json!({"externalId": "bob"}))).await;
    assert_eq!(status, 201, "{body}");
    let (status, got) = app.call("GET", &format!("/v2/apps/{app_id}/users/bob"), Some(&auth), None).await;
    assert_eq!(status, 200);
    assert_eq!(got["user"]["id"], body["user"]["id"]);
    let (status, body) = app.call("GET", "/v2/apps/000000000000000000000000/users/bob", Some(&auth), None).await;
    assert_error(status, &body, 403, "forbidden");
}
