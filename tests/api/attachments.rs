//! Attachments: UploadAttachment (`POST /v2/apps/{appId}/attachments`), serving the files,
//! and the SDK's file upload that posts an image/file message as the appUser.

use serde_json::{json, Value};

use crate::common::{assert_error, TestApp};

const BOUNDARY: &str = "sunbeamtestboundary7MA4YWxkTrZu0gW";

/// One part: (part name, file name, content type, bytes).
type FormPart<'a> = (&'a str, Option<&'a str>, Option<&'a str>, &'a [u8]);

/// A `multipart/form-data` body.
fn multipart(parts: &[FormPart]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, file_name, content_type, bytes) in parts {
        out.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
        match file_name {
            Some(f) => out.extend_from_slice(format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\n").as_bytes()),
            None => out.extend_from_slice(format!("Content-Disposition: form-data; name=\"{name}\"\r\n").as_bytes()),
        }
        if let Some(ct) = content_type {
            out.extend_from_slice(format!("Content-Type: {ct}\r\n").as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(bytes);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    out
}

fn content_type() -> String {
    format!("multipart/form-data; boundary={BOUNDARY}")
}

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR fake png bytes \0\xff";

async fn upload(app: &TestApp, app_id: &str, query: &str, auth: Option<&str>, body: Vec<u8>) -> (u16, Value) {
    app.raw("POST", &format!("/v2/apps/{app_id}/attachments{query}"), auth, Some(&content_type()), body).await
}

async fn fetch(app: &TestApp, url: &str) -> (u16, String, Vec<u8>) {
    let res = app.http.get(url).send().await.expect("request");
    let status = res.status().as_u16();
    let ct = res.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    (status, ct, res.bytes().await.expect("body").to_vec())
}

#[tokio::test]
async fn an_upload_is_served_back_byte_for_byte() {
    let app = TestApp::spawn().await;
    let app_id = app.create_app("Files").await;
    let auth = app.account_auth();
    let body = multipart(&[("source", Some("photo.png"), Some("image/png"), PNG)]);
    let (status, res) = upload(&app, &app_id, "?access=public&for=message", Some(&auth), body).await;
    assert_eq!(status, 201, "{res}");
    assert_eq!(res["attachment"]["mediaType"], "image/png", "{res}");
    let url = res["attachment"]["mediaUrl"].as_str().unwrap().to_string();
    assert!(url.starts_with(&format!("{}/attachments/", app.base)) && url.ends_with("/photo.png"), "{url}");

    let (status, ct, bytes) = fetch(&app, &url).await;
    assert_eq!(status, 200);
    assert_eq!(ct, "image/png");
    assert_eq!(bytes, PNG);

    // The type comes from the part when the name says nothing; unknown names are 404s.
    let body = multipart(&[("source", Some("notes"), Some("text/plain"), b"hello")]);
    let (status, res) = upload(&app, &app_id, "?access=public", Some(&auth), body).await;
    assert_eq!(status, 201, "{res}");
    assert_eq!(res["attachment"]["mediaType"], "text/plain");
    let (_, ct, bytes) = fetch(&app, res["attachment"]["mediaUrl"].as_str().unwrap()).await;
    assert_eq!((ct.as_str(), bytes.as_slice()), ("text/plain", &b"hello"[..]));
    let (status, _, _) = fetch(&app, &url.replace("/photo.png", "/other.png")).await;
    assert_eq!(status, 404);
    let (status, _, _) = fetch(&app, &app.url("/attachments/..%2F..%2Fetc/passwd")).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn access_and_source_are_required_and_credentials_too() {
    let app = TestApp::spawn().await;
    let app_id = app.create_app("Files").await;
    let auth = app.account_auth();
    let file = || multipart(&[("source", Some("a.txt"), Some("text/plain"), b"x")]);

    let (status, body) = upload(&app, &app_id, "", Some(&auth), file()).await;
    assert_error(status, &body, 400, "bad_request");
    let (status, body) = upload(&app, &app_id, "?access=private", Some(&auth), file()).await;
    assert_error(status, &body, 400, "bad_request");
    let (status, body) = upload(&app, &app_id, "?access=public", Some(&auth), multipart(&[("other", None, None, b"x")])).await;
    assert_error(status, &body, 400, "bad_request");
    // Not multipart at all: 415, naming the type an upload takes.
    let (status, body) = app.raw("POST", &format!("/v2/apps/{app_id}/attachments?access=public"), Some(&auth), Some("application/json"), b"{}".to_vec()).await;
    assert_error(status, &body, 415, "unsupported_media_type");

    let (status, body) = upload(&app, &app_id, "?access=public", None, file()).await;
    assert_error(status, &body, 401, "unauthorized");

    // An app key of another app has no access to this one.
    let other = app.create_app("Other").await;
    let (kid, secret) = app.create_app_key(&other).await;
    let (status, _) = upload(&app, &app_id, "?access=public", Some(&TestApp::basic(&kid, &secret)), file()).await;
    assert!(status == 401 || status == 403 || status == 404, "{status}");
    // Its own key may upload.
    let (status, body) = upload(&app, &other, "?access=public", Some(&TestApp::basic(&kid, &secret)), file()).await;
    assert_eq!(status, 201, "{body}");
}

#[tokio::test]
async fn a_name_cannot_escape_the_folder() {
    let app = TestApp::spawn().await;
    let app_id = app.create_app("Files").await;
    let body = multipart(&[("source", Some("../../etc/passwd"), None, b"root:x:0:0")]);
    let (status, res) = upload(&app, &app_id, "?access=public", Some(&app.account_auth()), body).await;
    assert_eq!(status, 201, "{res}");
    let url = res["attachment"]["mediaUrl"].as_str().unwrap();
    let rest = url.strip_prefix(&format!("{}/attachments/", app.base)).unwrap();
    let (id, name) = rest.split_once('/').unwrap();
    assert!(crate::common::is_hex_id(id), "{url}");
    assert_eq!(name, "passwd");
    assert_eq!(res["attachment"]["mediaType"], "application/octet-stream");
    let (status, _, bytes) = fetch(&app, url).await;
    assert_eq!((status, bytes.as_slice()), (200, &b"root:x:0:0"[..]));
}

#[tokio::test]
async fn an_sdk_user_sends_an_image() {
    let app = TestApp::spawn().await;
    let app_id = app.create_app("Shop").await;
    let (status, user) = app
        .call("POST", &format!("/sdk/v2/apps/{app_id}/appusers"), None, Some(json!({"intent": "conversation:start", "client": {"id": "c1", "platform": "web"}})))
        .await;
    assert_eq!(status, 201, "{user}");
    let user_id = user["appUser"]["_id"].as_str().unwrap().to_string();
    let token = user["sessionToken"].as_str().unwrap().to_string();
    let conversation = user["conversation"]["_id"].as_str().unwrap().to_string();
    let sdk_auth = TestApp::basic(&user_id, &token);
    let path = format!("/sdk/v2/apps/{app_id}/conversations/{conversation}/files");

    let author = json!({"role": "appUser", "appUserId": user_id, "client": {"id": "c1", "platform": "web"}}).to_string();
    let message = json!({"metadata": {"k": "v"}}).to_string();
    let body = multipart(&[
        ("author", None, None, author.as_bytes()),
        ("message", None, None, message.as_bytes()),
        ("source", Some("cat.png"), Some("image/png"), PNG),
    ]);
    // No credentials: refused in the SDK's shape, nothing posted.
    let (status, res) = app.raw("POST", &path, None, Some(&content_type()), body.clone()).await;
    assert_eq!(status, 401, "{res}");
    assert_eq!(res["error"]["code"], "invalid_auth", "{res}");

    let (status, res) = app.raw("POST", &path, Some(&sdk_auth), Some(&content_type()), body).await;
    assert_eq!(status, 201, "{res}");
    let url = res["message"]["mediaUrl"].as_str().unwrap_or_else(|| panic!("{res}")).to_string();
    assert_eq!(res["message"]["type"], "image", "{res}");
    assert_eq!(res["conversation"]["_id"], conversation.as_str());

    let (status, ct, bytes) = fetch(&app, &url).await;
    assert_eq!((status, ct.as_str()), (200, "image/png"));
    assert_eq!(bytes, PNG);

    let (status, list) = app.account("GET", &format!("/v2/apps/{app_id}/conversations/{conversation}/messages"), None).await;
    assert_eq!(status, 200, "{list}");
    let posted = list["messages"].as_array().unwrap().iter().find(|m| m["content"]["type"] == "image").unwrap_or_else(|| panic!("{list}"));
    assert_eq!(posted["content"]["mediaUrl"], url.as_str(), "{posted}");
    assert_eq!(posted["author"]["type"], "user", "{posted}");
    assert_eq!(posted["author"]["userId"], user_id.as_str(), "{posted}");
    assert_eq!(posted["metadata"]["k"], "v", "{posted}");

    // A non-image becomes a file message; a missing source is a 400 in the SDK's shape.
    let body = multipart(&[("message", None, None, b"{}"), ("source", Some("report.pdf"), None, b"%PDF-1.4")]);
    let (status, res) = app.raw("POST", &path, Some(&sdk_auth), Some(&content_type()), body).await;
    assert_eq!(status, 201, "{res}");
    assert_eq!(res["message"]["type"], "file", "{res}");
    let body = multipart(&[("message", None, None, b"{}")]);
    let (status, res) = app.raw("POST", &path, Some(&sdk_auth), Some(&content_type()), body).await;
    assert_eq!(status, 400, "{res}");
    assert_eq!(res["error"]["code"], "bad_request", "{res}");
}

#[tokio::test]
async fn files_larger_than_json_bodies_are_accepted_up_to_50_mb() {
    let app = TestApp::spawn().await;
    let app_id = app.create_app("Files").await;
    let auth = app.account_auth();
    let big: Vec<u8> = (0..3 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    let (status, res) = upload(&app, &app_id, "?access=public", Some(&auth), multipart(&[("source", Some("big.bin"), None, &big)])).await;
    assert_eq!(status, 201, "{res}");
    let (_, _, bytes) = fetch(&app, res["attachment"]["mediaUrl"].as_str().unwrap()).await;
    assert!(bytes == big, "served bytes differ");

    let huge = vec![7u8; 50 * 1024 * 1024 + 1];
    let req = app
        .http
        .post(app.url(&format!("/v2/apps/{app_id}/attachments?access=public")))
        .header("authorization", &auth)
        .header("content-type", content_type())
        .body(multipart(&[("source", Some("huge.bin"), None, &huge)]));
    // The server may answer before reading the whole body; either way nothing is stored.
    let sent = req.send().await;
    if let Ok(res) = sent {
        assert_eq!(res.status().as_u16(), 413);
        let body: Value = res.json().await.unwrap();
        assert_error(413, &body, 413, "payload_too_large");
    }
}

#[tokio::test]
async fn an_attachment_is_deleted_by_its_media_url_and_only_by_its_app() {
    let app = TestApp::spawn().await;
    let app_id = app.create_app("Files").await;
    let other_app = app.create_app("Other").await;
    let auth = app.account_auth();
    let body = multipart(&[("source", Some("gone.txt"), Some("text/plain"), b"bye")]);
    let (status, res) = upload(&app, &app_id, "?access=public", Some(&auth), body).await;
    assert_eq!(status, 201, "{res}");
    let url = res["attachment"]["mediaUrl"].as_str().unwrap().to_string();
    let remove = |app_id: &str| format!("/v2/apps/{app_id}/attachments/remove");

    // Another app's request finds nothing to delete, and the file stays.
    let (status, res) = app.account("POST", &remove(&other_app), Some(json!({"mediaUrl": url}))).await;
    assert_eq!((status, res["errors"][0]["code"].as_str()), (404, Some("not_found")), "{res}");
    assert_eq!(fetch(&app, &url).await.0, 200);

    // A URL that is not ours is a 400 naming it; a missing or mistyped one too.
    let (status, res) = app.account("POST", &remove(&app_id), Some(json!({"mediaUrl": "https://badhost.com/image.png"}))).await;
    assert_eq!(status, 400, "{res}");
    assert_eq!(res["errors"][0]["title"], "Unsupported media URL for attachment deletion: https://badhost.com/image.png");
    assert_eq!(app.account("POST", &remove(&app_id), Some(json!({}))).await.0, 400);
    assert_eq!(app.account("POST", &remove(&app_id), Some(json!({"mediaUrl": 3}))).await.0, 400);

    let (status, res) = app.account("POST", &remove(&app_id), Some(json!({"mediaUrl": url}))).await;
    assert_eq!((status, &res), (200, &json!({})));
    assert_eq!(fetch(&app, &url).await.0, 404, "the file is no longer served");
    let (status, _) = app.account("POST", &remove(&app_id), Some(json!({"mediaUrl": url}))).await;
    assert_eq!(status, 404, "deleting twice finds nothing the second time");
}
