//! Conversations and participants over HTTP.

use serde_json::json;

use crate::common::{assert_error, TestApp};

async fn conversation(app: &TestApp, app_id: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
    app.account("POST", &format!("/v2/apps/{app_id}/conversations"), Some(body)).await
}

#[tokio::test]
async fn personal_conversations_have_one_participant_and_a_default() {
    let app = TestApp::spawn().await;
    let app_id = app.create_app("Shop").await;
    let user = app.create_user(&app_id, Some("ann")).await;
    let (status, first) = conversation(&app, &app_id, json!({"type": "personal", "participants": [{"userExternalId": "ann"}], "displayName": "Help"})).await;
    assert_eq!(status, 201, "{first}");
    let c = &first["conversation"];
    assert_eq!((c["type"].as_str(), c["isDefault"].as_bool(), c["displayName"].as_str()), (Some("personal"), Some(true), Some("Help")));
    assert!(c["createdAt"].as_str().unwrap().ends_with('Z'));
    let (status, second) = conversation(&app, &app_id, json!({"type": "personal", "participants": [{"userId": user}]})).await;
    assert_eq!(status, 201);
    assert_eq!(second["conversation"]["isDefault"], false);

    let (status, body) = conversation(&app, &app_id, json!({"type": "personal"})).await;
    assert_error(status, &body, 400, "bad_request");
    let (status, body) = conversation(&app, &app_id, json!({"type": "personal", "participants": [{"userExternalId": "nobody"}]})).await;
    assert_error(status, &body, 404, "user_not_found");

    // Nobody joins a personal conversation, and the default one cannot be deleted.
    let other = app.create_user(&app_id, Some("bob")).await;
    let first_id = first["conversation"]["id"].as_str().unwrap();
    let (status, body) = app.account("POST", &format!("/v2/apps/{app_id}/conversations/{first_id}/join"), Some(json!({"userId": other}))).await;
    assert_error(status, &body, 400, "bad_request");
    let (status, body) = app.account("DELETE", &format!("/v2/apps/{app_id}/conversations/{first_id}"), None).await;
    assert_error(status, &body, 400, "bad_request");
    let second_id = second["conversation"]["id"].as_str().unwrap();
    let (status, body) = app.account("DELETE", &format!("/v2/apps/{app_id}/conversations/{second_id}"), None).await;
    assert_eq!((status, body), (200, json!({})));
    let (status, body) = app.account("GET", &format!("/v2/apps/{app_id}/conversations/{second_id}"), None).await;
    assert_error(status, &body, 404, "conversation_not_found");
}

#[tokio::test]
async fn sdk_groups_take_joins_and_leaves_by_every_key() {
    let app = TestApp::spawn().await;
    let app_id = app.create_app("Shop").await;
    let ann = app.create_user(&app_id, Some("ann")).await;
    let bob = app.create_user(&app_id, Some("bob")).await;
    let cat = app.create_user(&app_id, None).await;
    let (status, created) = conversation(&app, &app_id, json!({"type": "sdkGroup", "participants": [{"userId": ann}]})).await;
    assert_eq!(status, 201, "{created}");
    let id = created["conversation"]["id"].as_str().unwrap().to_string();
    let base = format!("/v2/apps/{app_id}/conversations/{id}");

    let (status, joined) = app.account("POST", &format!("{base}/join"), Some(json!({"userExternalId": "bob", "subscribeSDKClient": false}))).await;
    assert_eq!(status, 201, "{joined}");
    let p = &joined["participant"];
    assert_eq!((p["userId"].as_str(), p["userExternalId"].as_str(), p["unreadCount"].as_i64()), (Some(bob.as_str()), Some("bob"), Some(0)));
    assert_eq!(p["clientAssociations"], json!([]));
    // Joining twice gives the same participant back.
    let (status, again) = app.account("POST", &format!("{base}/join"), Some(json!({"userId": bob}))).await;
    assert_eq!(status, 201);
    assert_eq!(again["participant"]["id"], p["id"]);
    let (status, _) = app.account("POST", &format!("{base}/join"), Some(json!({"userId": cat}))).await;
    assert_eq!(status, 201);

    let (_, list) = app.account("GET", &format!("{base}/participants"), None).await;
    assert_eq!(list["participants"].as_array().unwrap().len(), 3);

    // Leave by userExternalId, by userId, by participantId.
    let (status, body) = app.account("POST", &format!("{base}/leave"), Some(json!({"userExternalId": "bob"}))).await;
    assert_eq!((status, body), (200, json!({})));
    let (status, body) = app.account("POST", &format!("{base}/leave"), Some(json!({"userExternalId": "bob"}))).await;
    assert_error(status, &body, 404, "not_found");
    let (status, _) = app.account("POST", &format!("{base}/leave"), Some(json!({"userId": cat}))).await;
    assert_eq!(status, 200);
    let (_, list) = app.account("GET", &format!("{base}/participants"), None).await;
    let participant_id = list["participants"][0]["id"].as_str().unwrap().to_string();
    let (status, _) = app.account("POST", &format!("{base}/leave"), Some(json!({"participantId": participant_id}))).await;
    assert_eq!(status, 200);
    let (_, list) = app.account("GET", &format!("{base}/participants"), None).await;
    assert_eq!(list["participants"], json!([]));
}

#[tokio::test]
async fn groups_cap_participants_at_ten() {
    let app = TestApp::spawn().await;
    let app_id = app.create_app("Shop").await;
    let mut parts = Vec::new();
    for i in 0..11 {
        parts.push(app.create_user(&app_id, Some(&format!("u{i}"))).await);
    }
    let ten: Vec<_> = parts[..10].iter().map(|u| json!({"userId": u})).collect();
    let (status, body) = conversation(&app, &app_id, json!({"type": "sdkGroup", "participants": ten})).await;
    assert_eq!(status, 201, "{body}");
    let id = body["conversation"]["id"].as_str().unwrap();
    let (status, body) = app.account("POST", &format!("/v2/apps/{app_id}/conversations/{id}/join"), Some(json!({"userId": parts[10]}))).await;
    assert_error(status, &body, 400, "bad_request");
    assert_eq!(body["errors"][0]["title"], "Too many participants");
}

#[tokio::test]
async fn list_conversations_of_a_user_pages_both_ways() {
    let app = TestApp::spawn().await;
    let app_id = app.create_app("Shop").await;
    let ann = app.create_user(&app_id, Some("ann")).await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        let (_, c) = conversation(&app, &app_id, json!({"type": "sdkGroup", "participants": [{"userId": ann}]})).await;
        ids.push(c["conversation"]["id"].as_str().unwrap().to_string());
    }
    let path = format!("/v2/apps/{app_id}/conversations");
    let (status, body) = app.account("GET", &format!("{path}?filter[userExternalId]=ann&page[size]=2"), None).await;
    assert_eq!(status, 200, "{body}");
    let got: Vec<_> = body["conversations"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_string()).collect();
    assert_eq!(got, ids[..2]);
    assert_eq!(body["meta"]["hasMore"], true);
    let next = body["links"]["next"].as_str().unwrap();
    assert!(next.starts_with("http://") && next.contains("filter[userExternalId]=ann"), "{next}");
    let after = body["meta"]["afterCursor"].as_str().unwrap();
    let (_, body) = app.account("GET", &format!("{path}?filter[userId]={ann}&page[size]=2&page[after]={after}"), None).await;
    let got: Vec<_> = body["conversations"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_string()).collect();
    assert_eq!(got, ids[2..4]);
    let (_, body) = app.account("GET", &format!("{path}?filter[userId]={ann}&page[size]=2&page[before]={}", ids[4]), None).await;
    let got: Vec<_> = body["conversations"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_string()).collect();
    assert_eq!(got, ids[2..4]);
    assert_eq!(body["meta"]["hasMore"], true);

    let (status, body) = app.account("GET", &path, None).await;
    assert_error(status, &body, 400, "bad_request");
    let (status, body) = app.account("GET", &format!("{path}?filter[userId]=000000000000000000000000"), None).await;
    assert_error(status, &body, 404, "user_not_found");
}

#[tokio::test]
async fn update_conversation_validates_and_deleting_a_user_removes_participations() {
    let app = TestApp::spawn().await;
    let app_id = app.create_app("Shop").await;
    let ann = app.create_user(&app_id, Some("ann")).await;
    let (_, c) = conversation(&app, &app_id, json!({"type": "sdkGroup", "participants": [{"userId": ann}]})).await;
    let id = c["conversation"]["id"].as_str().unwrap();
    let path = format!("/v2/apps/{app_id}/conversations/{id}");
    let (status, body) = app.account("PATCH", &path, Some(json!({"displayName": "Team", "metadata": {"tier": "gold"}}))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!((body["conversation"]["displayName"].as_str(), body["conversation"]["metadata"]["tier"].as_str()), (Some("Team"), Some("gold")));
    let (status, body) = app.account("PATCH", &path, Some(json!({"iconUrl": "not a url"}))).await;
    assert_error(status, &body, 400, "bad_request");
    assert!(body["errors"][0]["title"].as_str().unwrap().contains("iconUrl"));

    let (status, _) = app.account("DELETE", &format!("/v2/apps/{app_id}/users/{ann}"), None).await;
    assert_eq!(status, 200);
    let (_, list) = app.account("GET", &format!("{path}/participants"), None).await;
    assert_eq!(list["participants"], json!([]));
}
