//! Messages and activities over HTTP.

use serde_json::{json, Value};
use sunbeam::store::StoreLimits;

use crate::common::{assert_error, Spawn, TestApp};

struct Fixture {
    app: TestApp,
    app_id: String,
    ann: String,
    bob: String,
    base: String,
}

async fn fixture_with(limits: StoreLimits) -> Fixture {
    let app = TestApp::spawn_with(Spawn { limits, ..Spawn::default() }).await.unwrap();
    let app_id = app.create_app("Shop").await;
    let ann = app.create_user(&app_id, Some("ann")).await;
    let bob = app.create_user(&app_id, Some("bob")).await;
    let (status, c) = app
        .account("POST", &format!("/v2/apps/{app_id}/conversations"), Some(json!({"type": "sdkGroup", "participants": [{"userId": ann}, {"userId": bob}]})))
        .await;
    assert_eq!(status, 201, "{c}");
    let base = format!("/v2/apps/{app_id}/conversations/{}", c["conversation"]["id"].as_str().unwrap());
    Fixture { app, app_id, ann, bob, base }
}

async fn fixture() -> Fixture {
    fixture_with(StoreLimits::default()).await
}

fn business(text: &str) -> Value {
    json!({"author": {"type": "business"}, "content": {"type": "text", "text": text}})
}

impl Fixture {
    async fn post(&self, body: Value) -> (u16, Value) {
        self.app.account("POST", &format!("{}/messages", self.base), Some(body)).await
    }

    async fn participant(&self, user_id: &str) -> Value {
        let (_, list) = self.app.account("GET", &format!("{}/participants", self.base), None).await;
        list["participants"].as_array().unwrap().iter().find(|p| p["userId"] == user_id).cloned().unwrap()
    }
}

#[tokio::test]
async fn post_message_answers_the_message_and_moves_last_updated_at() {
    let f = fixture().await;
    let (_, before) = f.app.account("GET", &f.base, None).await;
    let (status, body) = f.post(business("hello")).await;
    assert_eq!(status, 201, "{body}");
    let m = &body["messages"][0];
    assert_eq!(m["content"], json!({"type": "text", "text": "hello"}));
    assert_eq!(m["author"]["type"], "business");
    assert_eq!(m["source"]["type"], "api:conversations");
    assert_eq!(m["id"].as_str().unwrap().len(), 24);
    assert!(m["received"].as_str().unwrap().ends_with('Z'));
    let (_, after) = f.app.account("GET", &f.base, None).await;
    assert!(after["conversation"]["lastUpdatedAt"].as_str() >= before["conversation"]["lastUpdatedAt"].as_str());
    assert_eq!(after["conversation"]["lastUpdatedAt"], m["received"]);
}

#[tokio::test]
async fn every_content_type_is_accepted() {
    let f = fixture().await;
    let link = json!({"type": "link", "text": "Open", "uri": "https://example.com"});
    let postback = json!({"type": "postback", "text": "Buy", "payload": "BUY"});
    let contents = [
        json!({"type": "text", "text": "hi", "actions": [postback, {"type": "reply", "text": "Yes", "payload": "YES"}, {"type": "locationRequest", "text": "Where?"}, {"type": "webview", "text": "W", "uri": "https://example.com/w", "fallback": "https://example.com"}, {"type": "buy", "text": "Pay", "amount": 1000, "currency": "usd"}, link]}),
        json!({"type": "image", "mediaUrl": "https://example.com/a.png", "altText": "a"}),
        json!({"type": "file", "mediaUrl": "https://example.com/a.pdf"}),
        json!({"type": "carousel", "items": [{"title": "One", "actions": [postback]}, {"title": "Two", "mediaUrl": "https://example.com/2.png", "actions": [link]}]}),
        json!({"type": "list", "items": [{"title": "One", "actions": [postback]}], "actions": [link]}),
        json!({"type": "location", "coordinates": {"lat": 45.5, "long": -73.6}, "location": {"name": "Office"}}),
        json!({"type": "form", "fields": [{"type": "text", "name": "name", "label": "Your name"}, {"type": "select", "name": "size", "label": "Size", "options": [{"name": "s", "label": "Small"}]}]}),
    ];
    for content in contents {
        let (status, body) = f.post(json!({"author": {"type": "business"}, "content": content.clone()})).await;
        assert_eq!(status, 201, "{content} -> {body}");
        assert_eq!(body["messages"][0]["content"]["type"], content["type"]);
    }
    let (status, body) = f.post(json!({"author": {"type": "business"}, "schema": "whatsapp", "content": {"type": "template", "template": {"name": "hello", "language": {"code": "en_US"}}}})).await;
    assert_eq!(status, 201, "{body}");
}

#[tokio::test]
async fn malformed_messages_are_refused_naming_the_field() {
    let f = fixture().await;
    let cases = [
        (json!({"content": {"type": "text", "text": "x"}}), "author"),
        (json!({"author": {"type": "business"}}), "content"),
        (json!({"author": {"type": "robot"}, "content": {"type": "text", "text": "x"}}), "author.type"),
        (json!({"author": {"type": "business"}, "content": {"type": "video"}}), "content.type"),
        (json!({"author": {"type": "business"}, "content": {"type": "text", "text": "x".repeat(4097)}}), "content.text"),
        (json!({"author": {"type": "business"}, "content": {"type": "image"}}), "content.mediaUrl"),
        (json!({"author": {"type": "business"}, "content": {"type": "image", "mediaUrl": "not a url"}}), "content.mediaUrl"),
        (json!({"author": {"type": "business"}, "content": {"type": "carousel", "items": []}}), "content.items"),
        (json!({"author": {"type": "business"}, "content": {"type": "carousel", "items": [{"title": "t", "actions": [{"type": "link", "text": "x", "uri": "nope"}]}]}}), "content.items[0].actions[0].uri"),
        (json!({"author": {"type": "business"}, "content": {"type": "location", "coordinates": {"lat": "north"}}}), "content.coordinates"),
        (json!({"author": {"type": "business"}, "content": {"type": "text", "text": "x", "actions": [{"type": "postback", "text": "x"}]}}), "content.actions[0].payload"),
        (json!({"author": {"type": "business"}, "content": {"type": "form", "fields": []}}), "content.fields"),
        (json!({"author": {"type": "business"}, "content": {"type": "text", "text": "x"}, "metadata": {"nested": {"a": 1}}}), "metadata"),
    ];
    for (body, field) in cases {
        let (status, got) = f.post(body.clone()).await;
        assert_error(status, &got, 400, "bad_request");
        let titles: Vec<&str> = got["errors"].as_array().unwrap().iter().filter_map(|e| e["title"].as_str()).collect();
        assert!(titles.iter().any(|t| t.contains(field)), "{body} should name {field}: {titles:?}");
    }
}

#[tokio::test]
async fn user_messages_count_as_unread_for_the_others_and_read_resets() {
    let f = fixture().await;
    let (status, body) = f.post(json!({"author": {"type": "user", "userExternalId": "ann"}, "content": {"type": "text", "text": "hi"}})).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["messages"][0]["author"]["userId"], f.ann.as_str());
    f.post(business("welcome")).await;
    assert_eq!(f.participant(&f.ann).await["unreadCount"], 1);
    assert_eq!(f.participant(&f.bob).await["unreadCount"], 2);

    let (status, body) = f.app.account("POST", &format!("{}/activity", f.base), Some(json!({"author": {"type": "user", "userId": f.bob}, "type": "conversation:read"}))).await;
    assert_eq!((status, body), (200, json!({})));
    let bob = f.participant(&f.bob).await;
    assert_eq!(bob["unreadCount"], 0);
    assert!(bob["lastRead"].as_str().is_some());

    let (status, _) = f.app.account("POST", &format!("{}/activity", f.base), Some(json!({"author": {"type": "business"}, "type": "conversation:read"}))).await;
    assert_eq!(status, 200);
    let (_, conv) = f.app.account("GET", &f.base, None).await;
    assert!(conv["conversation"]["businessLastRead"].as_str().is_some());
    let (status, _) = f.app.account("POST", &format!("{}/activity", f.base), Some(json!({"author": {"type": "business"}, "type": "typing:start"}))).await;
    assert_eq!(status, 200);
    // Typing is not a message.
    let (_, list) = f.app.account("GET", &format!("{}/messages", f.base), None).await;
    assert_eq!(list["messages"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn a_non_participant_cannot_author_a_message() {
    let f = fixture().await;
    f.app.create_user(&f.app_id, Some("eve")).await;
    let (status, body) = f.post(json!({"author": {"type": "user", "userExternalId": "eve"}, "content": {"type": "text", "text": "hi"}})).await;
    assert_error(status, &body, 400, "bad_request");
    let (status, body) = f.post(json!({"author": {"type": "user", "userExternalId": "ghost"}, "content": {"type": "text", "text": "hi"}})).await;
    assert_error(status, &body, 404, "user_not_found");
}

#[tokio::test]
async fn history_pages_backwards_from_the_newest_and_forwards() {
    let f = fixture().await;
    for i in 0..250 {
        let (status, _) = f.post(business(&format!("m{i}"))).await;
        assert_eq!(status, 201);
    }
    let texts = |page: &Value| page["messages"].as_array().unwrap().iter().map(|m| m["content"]["text"].as_str().unwrap().to_string()).collect::<Vec<_>>();
    let path = format!("{}/messages", f.base);
    let (_, newest) = f.app.account("GET", &path, None).await;
    assert_eq!(texts(&newest), (150..250).map(|i| format!("m{i}")).collect::<Vec<_>>());
    assert_eq!(newest["meta"]["hasMore"], true);
    let before = newest["meta"]["beforeCursor"].as_str().unwrap();
    assert!(newest["links"]["prev"].as_str().unwrap().contains(&format!("page[before]={before}")));
    let (_, middle) = f.app.account("GET", &format!("{path}?page[before]={before}"), None).await;
    assert_eq!(texts(&middle), (50..150).map(|i| format!("m{i}")).collect::<Vec<_>>());
    let before = middle["meta"]["beforeCursor"].as_str().unwrap();
    let (_, oldest) = f.app.account("GET", &format!("{path}?page[before]={before}"), None).await;
    assert_eq!(texts(&oldest), (0..50).map(|i| format!("m{i}")).collect::<Vec<_>>());
    assert_eq!(oldest["meta"]["hasMore"], false);
    assert!(oldest["links"].get("prev").is_none());
    // And forwards again from the oldest page's last message.
    let after = oldest["meta"]["afterCursor"].as_str().unwrap();
    let (_, forward) = f.app.account("GET", &format!("{path}?page[after]={after}"), None).await;
    assert_eq!(texts(&forward), (50..150).map(|i| format!("m{i}")).collect::<Vec<_>>());
    assert_eq!(forward["meta"]["hasMore"], true);
    let (status, body) = f.app.account("GET", &format!("{path}?page[after]={after}&page[before]={after}"), None).await;
    assert_error(status, &body, 400, "bad_request");
}

#[tokio::test]
async fn concurrent_posts_keep_one_total_order() {
    let f = fixture().await;
    let path = format!("{}/messages", f.base);
    let mut tasks = Vec::new();
    for w in 0..16 {
        let (http, url, auth) = (f.app.http.clone(), f.app.url(&path), f.app.account_auth());
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for i in 0..10 {
                let res = http.post(&url).header("authorization", &auth).json(&business(&format!("w{w}-{i}"))).send().await.unwrap();
                assert_eq!(res.status(), 201);
                let body: Value = res.json().await.unwrap();
                ids.push(body["messages"][0]["id"].as_str().unwrap().to_string());
            }
            ids
        }));
    }
    let mut per_writer = Vec::new();
    for t in tasks {
        per_writer.push(t.await.unwrap());
    }
    let (_, newest) = f.app.account("GET", &path, None).await;
    let (_, oldest) = f.app.account("GET", &format!("{path}?page[before]={}", newest["meta"]["beforeCursor"].as_str().unwrap()), None).await;
    let ids_of = |page: &Value| page["messages"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap().to_string()).collect::<Vec<_>>();
    let order: Vec<String> = ids_of(&oldest).into_iter().chain(ids_of(&newest)).collect();
    assert_eq!(order.len(), 160);
    // Each writer's own messages appear in the order it got its 201s.
    for ids in per_writer {
        let positions: Vec<usize> = ids.iter().map(|id| order.iter().position(|o| o == id).unwrap()).collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
    }
    // Paging back and forth gives the same order.
    let (_, forward) = f.app.account("GET", &format!("{path}?page[after]={}", order[0]), None).await;
    assert_eq!(ids_of(&forward), order[1..101]);
}

#[tokio::test]
async fn the_message_limit_answers_423_and_delete_all_makes_room() {
    let f = fixture_with(StoreLimits { max_messages_per_conversation: 3, ..StoreLimits::default() }).await;
    for i in 0..3 {
        assert_eq!(f.post(business(&format!("{i}"))).await.0, 201);
    }
    let (status, body) = f.post(business("one too many")).await;
    assert_error(status, &body, 423, "locked");
    assert_eq!(body["errors"][0]["title"], "Message limit of 3 per conversation reached.");
    let (_, list) = f.app.account("GET", &format!("{}/messages", f.base), None).await;
    let first = list["messages"][0]["id"].as_str().unwrap().to_string();
    let (status, body) = f.app.account("DELETE", &format!("{}/messages/{first}", f.base), None).await;
    assert_eq!((status, body), (200, json!({})));
    assert_eq!(f.post(business("fits again")).await.0, 201);
    let (status, body) = f.app.account("DELETE", &format!("{}/messages/{first}", f.base), None).await;
    assert_error(status, &body, 404, "not_found");
    let (status, _) = f.app.account("DELETE", &format!("{}/messages", f.base), None).await;
    assert_eq!(status, 200);
    let (_, list) = f.app.account("GET", &format!("{}/messages", f.base), None).await;
    assert_eq!(list["messages"], json!([]));
    assert_eq!(f.post(business("room")).await.0, 201);
}

#[tokio::test]
async fn deleting_a_conversation_deletes_its_messages() {
    let f = fixture().await;
    f.post(business("x")).await;
    let (status, _) = f.app.account("DELETE", &f.base, None).await;
    assert_eq!(status, 200);
    let (status, body) = f.app.account("GET", &format!("{}/messages", f.base), None).await;
    assert_error(status, &body, 404, "conversation_not_found");
}
