//! App keys: CreateAppKey, ListAppKeys, GetAppKey, DeleteAppKey.

use serde_json::{json, Value};

use crate::common::{assert_error, is_hex_id, TestApp};

fn keys_path(app_id: &str) -> String {
    format!("/v2/apps/{app_id}/keys")
}

#[tokio::test]
async fn a_key_shows_its_secret_on_create_get_and_list() {
    let app = TestApp::spawn().await;
    let app_id = app.create_app("Shop").await;
    let (status, created) = app.account("POST", &keys_path(&app_id), Some(json!({"displayName": "Backend"}))).await;
    assert_eq!(status, 201, "{created}");
    let key = &created["key"];
    let id = key["id"].as_str().unwrap();
    assert!(id.starts_with("app_") && is_hex_id(&id[4..]), "{id}");
    assert_eq!(key["displayName"], "Backend");
    let secret = key["secret"].as_str().unwrap();
    assert!(secret.len() >= 24, "{secret}");

    let (status, got) = app.account("GET", &format!("{}/{id}", keys_path(&app_id)), None).await;
    assert_eq!(status, 200);
    assert_eq!(got, json!({"key": {"id": id, "displayName": "Backend", "secret": secret}}));

    let (status, list) = app.account("GET", &keys_path(&app_id), None).await;
    assert_eq!(status, 200);
    assert_eq!(list, json!({"keys": [{"id": id, "displayName": "Backend", "secret": secret}]}));

    // Two keys never share a secret, and the secret authenticates.
    let (_, other_secret) = app.create_app_key(&app_id).await;
    assert_ne!(other_secret, secret);
    let (status, _) = app.call("GET", &format!("/v2/apps/{app_id}"), Some(&TestApp::basic(id, secret)), None).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn create_key_requires_a_display_name() {
    let app = TestApp::spawn().await;
    let app_id = app.create_app("Shop").await;
    for body in [json!({}), json!({"displayName": ""}), json!({"displayName": null}), json!({"displayName": 5}), json!({"displayName": "k".repeat(101)})] {
        let (status, got) = app.account("POST", &keys_path(&app_id), Some(body.clone())).await;
        assert_error(status, &got, 400, "bad_request");
    }
    let (_, list) = app.account("GET", &keys_path(&app_id), None).await;
    assert_eq!(list["keys"], json!([]));
}

#[tokio::test]
async fn an_app_has_at_most_ten_keys() {
    let app = TestApp::spawn().await;
    let app_id = app.create_app("Shop").await;
    let other = app.create_app("Other").await;
    let mut ids = Vec::new();
    for i in 0..10 {
        let (status, got) = app.account("POST", &keys_path(&app_id), Some(json!({"displayName": format!("k{i}")}))).await;
        assert_eq!(status, 201, "key {i}: {got}");
        ids.push(got["key"]["id"].as_str().unwrap().to_string());
    }
    let (status, got) = app.account("POST", &keys_path(&app_id), Some(json!({"displayName": "eleventh"}))).await;
    assert_error(status, &got, 400, "bad_request");
    let (_, list) = app.account("GET", &keys_path(&app_id), None).await;
    let listed: Vec<&str> = list["keys"].as_array().unwrap().iter().map(|k| k["id"].as_str().unwrap()).collect();
    assert_eq!(listed, ids, "ten keys, in creation order");
    assert!(list["keys"].as_array().unwrap().iter().all(|k| k["secret"].as_str().is_some_and(|s| !s.is_empty())));
    // The limit is per app.
    assert_eq!(app.account("POST", &keys_path(&other), Some(json!({"displayName": "x"}))).await.0, 201);
    // Deleting one makes room for one.
    assert_eq!(app.account("DELETE", &format!("{}/{}", keys_path(&app_id), ids[4]), None).await.0, 200);
    assert_eq!(app.account("POST", &keys_path(&app_id), Some(json!({"displayName": "again"}))).await.0, 201);
    let (status, got) = app.account("POST", &keys_path(&app_id), Some(json!({"displayName": "twelfth"}))).await;
    assert_error(status, &got, 400, "bad_request");
}

#[tokio::test]
async fn concurrent_key_creation_still_stops_at_ten() {
    let app = TestApp::spawn().await;
    let app_id = app.create_app("Shop").await;
    let path = keys_path(&app_id);
    let calls = (0..20).map(|i| app.account("POST", &path, Some(json!({"displayName": format!("k{i}")}))));
    let results: Vec<(u16, Value)> = futures::future::join_all(calls).await;
    let created = results.iter().filter(|(s, _)| *s == 201).count();
    let refused = results.iter().filter(|(s, b)| *s == 400 && b["errors"][0]["code"] == "bad_request").count();
    assert_eq!((created, refused), (10, 10), "{results:?}");
    let (_, list) = app.account("GET", &path, None).await;
    assert_eq!(list["keys"].as_array().unwrap().len(), 10);
}

#[tokio::test]
async fn unknown_keys_are_404() {
    let app = TestApp::spawn().await;
    let app_id = app.create_app("Shop").await;
    let other = app.create_app("Other").await;
    let (their_key, their_secret) = app.create_app_key(&other).await;
    for key in ["app_000000000000000000000000", "nonsense", their_key.as_str()] {
        let path = format!("{}/{key}", keys_path(&app_id));
        let (status, got) = app.account("GET", &path, None).await;
        assert_error(status, &got, 404, "not_found");
        let (status, got) = app.account("DELETE", &path, None).await;
        assert_error(status, &got, 404, "not_found");
    }
    // Deleting another app's key through this app did nothing.
    let (status, _) = app.call("GET", &format!("/v2/apps/{other}"), Some(&TestApp::basic(&their_key, &their_secret)), None).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn delete_key_removes_it_from_get_and_list() {
    let app = TestApp::spawn().await;
    let app_id = app.create_app("Shop").await;
    let (a, _) = app.create_app_key(&app_id).await;
    let (b, _) = app.create_app_key(&app_id).await;
    let (status, got) = app.account("DELETE", &format!("{}/{a}", keys_path(&app_id)), None).await;
    assert_eq!((status, got), (200, json!({})));
    let (status, got) = app.account("GET", &format!("{}/{a}", keys_path(&app_id)), None).await;
    assert_error(status, &got, 404, "not_found");
    let (status, got) = app.account("DELETE", &format!("{}/{a}", keys_path(&app_id)), None).await;
    assert_error(status, &got, 404, "not_found");
    let (_, list) = app.account("GET", &keys_path(&app_id), None).await;
    let listed: Vec<&str> = list["keys"].as_array().unwrap().iter().map(|k| k["id"].as_str().unwrap()).collect();
    assert_eq!(listed, vec![b.as_str()]);
}
