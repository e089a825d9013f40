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

// ---- serving: ranges, validators, content types ----

fn objects(app: &TestApp) -> Vec<String> {
    match std::fs::read_dir(app.data_dir().join("attachments")) {
        // Not the `.legacy-imported` marker.
        Ok(dir) => dir.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).filter(|n| !n.starts_with('.')).collect(),
        Err(_) => Vec::new(),
    }
}

/// Runs one sweep of the attachments the server doomed (the server's own sweeper runs
/// each minute).
async fn sweep(app: &TestApp) -> usize {
    let storage = sunbeam::attachments::local::LocalStorage::new(app.data_dir().join("attachments"));
    let attachments = sunbeam::attachments::Attachments::new(app.store.clone(), std::sync::Arc::new(storage));
    attachments.sweep_once(sunbeam::domain::time::now_ms()).await.expect("sweep")
}

async fn upload_ok(app: &TestApp, app_id: &str, query: &str, name: &str, bytes: &[u8]) -> String {
    let body = multipart(&[("source", Some(name), None, bytes)]);
    let (status, res) = upload(app, app_id, query, Some(&app.account_auth()), body).await;
    assert_eq!(status, 201, "{res}");
    res["attachment"]["mediaUrl"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn files_are_served_in_ranges_with_validators_and_their_sniffed_type() {
    let app = TestApp::spawn().await;
    let app_id = app.create_app("Files").await;
    // Named .txt, but the bytes are a PNG: served as what they are.
    let url = upload_ok(&app, &app_id, "?access=public", "looks.txt", PNG).await;
    let size = PNG.len();

    let res = app.http.get(&url).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let h = res.headers().clone();
    assert_eq!(h["content-type"], "image/png");
    assert_eq!(h["accept-ranges"], "bytes");
    assert_eq!(h["content-length"], size.to_string().as_str());
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert!(h["cache-control"].to_str().unwrap().contains("max-age"), "{h:?}");
    let etag = h["etag"].to_str().unwrap().to_string();
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");

    let get = |range: &'static str| app.http.get(&url).header("range", range).send();
    let res = get("bytes=0-3").await.unwrap();
    assert_eq!(res.status().as_u16(), 206);
    assert_eq!(res.headers()["content-range"], format!("bytes 0-3/{size}").as_str());
    assert_eq!(res.bytes().await.unwrap().as_ref(), &PNG[..4]);
    let res = get("bytes=-3").await.unwrap();
    assert_eq!(res.status().as_u16(), 206);
    assert_eq!(res.headers()["content-range"], format!("bytes {}-{}/{size}", size - 3, size - 1).as_str());
    assert_eq!(res.bytes().await.unwrap().as_ref(), &PNG[size - 3..]);
    let res = get("bytes=5-").await.unwrap();
    assert_eq!(res.bytes().await.unwrap().as_ref(), &PNG[5..]);
    let res = get("bytes=9999-").await.unwrap();
    assert_eq!(res.status().as_u16(), 416);
    assert_eq!(res.headers()["content-range"], format!("bytes */{size}").as_str());
    // Several ranges: the whole file.
    let res = get("bytes=0-1,3-4").await.unwrap();
    assert_eq!(res.status().as_u16(), 200);
    // If-Range naming another version: the whole file.
    let res = app.http.get(&url).header("range", "bytes=0-1").header("if-range", "\"other\"").send().await.unwrap();
    assert_eq!(res.status().as_u16(), 200);

    let res = app.http.get(&url).header("if-none-match", &etag).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 304);
    assert_eq!(res.headers()["etag"], etag.as_str());
    let res = app.http.get(&url).header("if-none-match", "\"stale\"").send().await.unwrap();
    assert_eq!(res.status().as_u16(), 200);

    let res = app.http.head(&url).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(res.headers()["content-length"], size.to_string().as_str());

    // Also under the hosted service's base path.
    let sc = url.replace("/attachments/", "/sc/attachments/");
    assert_eq!(fetch(&app, &sc).await.2, PNG);
}

#[tokio::test]
async fn no_url_reaches_outside_the_media_folder() {
    let app = TestApp::spawn().await;
    let app_id = app.create_app("Files").await;
    let url = upload_ok(&app, &app_id, "?access=public", "../../../secret.txt", b"mine").await;
    assert!(url.ends_with("/secret.txt"), "{url}");
    let id = url.rsplit('/').nth(1).unwrap().to_string();
    // The object is the id, inside the folder, and nothing else is written.
    assert_eq!(objects(&app), vec![id.clone()]);
    std::fs::write(app.data_dir().join("outside.txt"), b"not yours").unwrap();
    for path in [
        format!("/attachments/{id}/..%2F..%2Foutside.txt"),
        format!("/attachments/{id}/../../outside.txt"),
        "/attachments/..%2F..%2Foutside.txt/x".to_string(),
        "/attachments/../outside.txt".to_string(),
        format!("/attachments/{id}%2F..%2F..%2Foutside.txt/x"),
        "/attachments/000000000000000000000000/secret.txt".to_string(),
    ] {
        let (status, _, body) = fetch(&app, &app.url(&path)).await;
        assert!(status == 404 || status == 400, "{path}: {status}");
        assert!(!String::from_utf8_lossy(&body).contains("not yours"), "{path}");
    }
    // DeleteAttachment cannot name a path either.
    let (status, _) = app.account("POST", &format!("/v2/apps/{app_id}/attachments/remove"), Some(json!({"mediaUrl": format!("{}/attachments/{id}/../../outside.txt", app.base)}))).await;
    assert_eq!(status, 400);
    assert!(app.data_dir().join("outside.txt").exists());
}

#[tokio::test]
async fn a_file_over_50_mb_is_refused_with_413_and_leaves_nothing() {
    let app = TestApp::spawn().await;
    let app_id = app.create_app("Files").await;
    let huge = vec![7u8; 50 * 1024 * 1024 + 1];
    let res = app
        .http
        .post(app.url(&format!("/v2/apps/{app_id}/attachments?access=public")))
        .header("authorization", app.account_auth())
        .header("content-type", content_type())
        .body(multipart(&[("source", Some("huge.bin"), None, &huge)]))
        .send()
        .await
        .expect("the answer arrives: the body is read, not cut off");
    let status = res.status().as_u16();
    let body: Value = res.json().await.unwrap();
    assert_error(status, &body, 413, "payload_too_large");
    assert!(objects(&app).is_empty(), "{:?}", objects(&app));
    assert!(app.store.attachments_to_sweep(i64::MAX / 2, 10).await.unwrap().is_empty());
    // Exactly 50 MB fits.
    let max = vec![1u8; 50 * 1024 * 1024];
    let url = upload_ok(&app, &app_id, "?access=public", "max.bin", &max).await;
    let res = app.http.head(&url).send().await.unwrap();
    assert_eq!(res.headers()["content-length"], (50 * 1024 * 1024).to_string().as_str());
}

// ---- refusals while the client is still sending ----

/// Sends a request of `body_len` bytes over a raw connection, writing all of it before
/// reading, and returns the whole response text. Panics if a write fails (EPIPE, reset).
async fn send_whole_body(addr: std::net::SocketAddr, head: String, body_len: usize) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut rd, mut wr) = stream.into_split();
    let writer = tokio::spawn(async move {
        wr.write_all(head.as_bytes()).await?;
        let chunk = vec![b'x'; 64 * 1024];
        let mut left = body_len;
        while left > 0 {
            let n = left.min(chunk.len());
            wr.write_all(&chunk[..n]).await?;
            left -= n;
        }
        wr.flush().await?;
        Ok::<_, std::io::Error>(wr)
    });
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    // Read until the headers and the (small) error body are in.
    loop {
        let n = rd.read(&mut buf).await.unwrap_or(0);
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&answer);
        if let Some((headers, body)) = text.split_once("\r\n\r\n") {
            let len = headers.lines().find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse::<usize>().unwrap()));
            if len.is_some_and(|len| body.len() >= len) {
                break;
            }
        }
    }
    let wr = writer.await.unwrap().expect("every byte of the body was accepted: no EPIPE or reset while sending");
    drop(wr);
    String::from_utf8_lossy(&answer).into_owned()
}

fn request_head(path: &str, auth: Option<&str>, body_len: usize) -> String {
    let auth = auth.map(|a| format!("authorization: {a}\r\n")).unwrap_or_default();
    format!("POST {path} HTTP/1.1\r\nhost: localhost\r\n{auth}content-type: {}\r\ncontent-length: {body_len}\r\n\r\n", content_type())
}

#[tokio::test]
async fn a_refused_upload_is_answered_after_its_body_not_with_a_broken_pipe() {
    let app = TestApp::spawn().await;
    let app_id = app.create_app("Files").await;
    let len = 8 * 1024 * 1024;
    let path = format!("/v2/apps/{app_id}/attachments?access=public");

    let answer = send_whole_body(app.addr, request_head(&path, None, len), len).await;
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(answer.contains("\"errors\""), "{answer}");

    let wrong = TestApp::basic(&app.account_id, "wrong-secret");
    let answer = send_whole_body(app.addr, request_head(&path, Some(&wrong), len), len).await;
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");

    let private = format!("/v2/apps/{app_id}/attachments?access=private");
    let answer = send_whole_body(app.addr, request_head(&private, Some(&app.account_auth()), len), len).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");

    let unknown_app = "/v2/apps/000000000000000000000000/attachments?access=public";
    let answer = send_whole_body(app.addr, request_head(unknown_app, Some(&app.account_auth()), len), len).await;
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");

    let answer = send_whole_body(app.addr, request_head(&format!("{path}&bogus=1"), Some(&app.account_auth()), len), len).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");

    let sdk = format!("/sdk/v2/apps/{app_id}/conversations/000000000000000000000000/files");
    let answer = send_whole_body(app.addr, request_head(&sdk, None, len), len).await;
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    // The body was not multipart at all: a 400 too, after reading it.
    assert!(objects(&app).is_empty());
}

// ---- mediaType, mediaSize and deletion with the owners ----

async fn conversation_of(app: &TestApp, app_id: &str, user: &str) -> String {
    let (status, c) = app
        .account("POST", &format!("/v2/apps/{app_id}/conversations"), Some(json!({"type": "sdkGroup", "participants": [{"userId": user}]})))
        .await;
    assert_eq!(status, 201, "{c}");
    c["conversation"]["id"].as_str().unwrap().to_string()
}

async fn post_media(app: &TestApp, app_id: &str, conversation: &str, kind: &str, url: &str, author: Value) -> Value {
    let body = json!({"author": author, "content": {"type": kind, "mediaUrl": url, "mediaType": "lies/lies", "mediaSize": 1}});
    let (status, res) = app.account("POST", &format!("/v2/apps/{app_id}/conversations/{conversation}/messages"), Some(body)).await;
    assert_eq!(status, 201, "{res}");
    res["messages"][0].clone()
}

fn business() -> Value {
    json!({"type": "business"})
}

#[tokio::test]
async fn messages_that_reference_our_media_get_its_type_and_size() {
    let app = TestApp::spawn().await;
    let app_id = app.create_app("Files").await;
    let user = app.create_user(&app_id, Some("ann")).await;
    let conversation = conversation_of(&app, &app_id, &user).await;
    let url = upload_ok(&app, &app_id, "?access=public", "photo.png", PNG).await;
    let m = post_media(&app, &app_id, &conversation, "image", &url, business()).await;
    assert_eq!(m["content"]["mediaType"], "image/png", "{m}");
    assert_eq!(m["content"]["mediaSize"], PNG.len(), "{m}");
    let pdf = upload_ok(&app, &app_id, "?access=public", "r.pdf", b"%PDF-1.4 tiny").await;
    let m = post_media(&app, &app_id, &conversation, "file", &pdf, business()).await;
    assert_eq!((m["content"]["mediaType"].as_str(), m["content"]["mediaSize"].as_u64()), (Some("application/pdf"), Some(13)), "{m}");
    // Someone else's URL: the client's read-only claims are dropped, nothing invented.
    let m = post_media(&app, &app_id, &conversation, "image", "https://example.com/x.png", business()).await;
    assert!(m["content"].get("mediaType").is_none() && m["content"].get("mediaSize").is_none(), "{m}");
    // History says the same.
    let (_, list) = app.account("GET", &format!("/v2/apps/{app_id}/conversations/{conversation}/messages"), None).await;
    let first = &list["messages"][0];
    assert_eq!(first["content"]["mediaSize"], PNG.len(), "{list}");
    // Files not uploaded for=message outlive their messages.
    let (status, _) = app.account("DELETE", &format!("/v2/apps/{app_id}/conversations/{conversation}/messages"), None).await;
    assert_eq!(status, 200);
    assert_eq!(fetch(&app, &url).await.0, 200);
}

#[tokio::test]
async fn files_for_messages_are_deleted_with_their_message_conversation_user_and_app() {
    let app = TestApp::spawn().await;
    let app_id = app.create_app("Files").await;
    let user = app.create_user(&app_id, Some("ann")).await;
    let conversation = conversation_of(&app, &app_id, &user).await;
    let for_message = format!("?access=public&for=message&conversationId={conversation}");

    // With its message.
    let url = upload_ok(&app, &app_id, &for_message, "a.png", PNG).await;
    let m = post_media(&app, &app_id, &conversation, "image", &url, business()).await;
    let (status, _) = app.account("DELETE", &format!("/v2/apps/{app_id}/conversations/{conversation}/messages/{}", m["id"].as_str().unwrap()), None).await;
    assert_eq!(status, 200);
    assert_eq!(fetch(&app, &url).await.0, 404, "not served from the moment its message is gone");
    assert_eq!(objects(&app).len(), 1);
    assert_eq!(sweep(&app).await, 1);
    assert!(objects(&app).is_empty(), "the object is gone after the sweep");

    // With its conversation, referenced or not.
    let referenced = upload_ok(&app, &app_id, &for_message, "b.png", PNG).await;
    post_media(&app, &app_id, &conversation, "image", &referenced, json!({"type": "user", "userId": user})).await;
    let waiting = upload_ok(&app, &app_id, &for_message, "c.png", PNG).await;
    let plain = upload_ok(&app, &app_id, "?access=public", "d.png", PNG).await;
    let (status, _) = app.account("DELETE", &format!("/v2/apps/{app_id}/conversations/{conversation}"), None).await;
    assert_eq!(status, 200);
    assert_eq!((fetch(&app, &referenced).await.0, fetch(&app, &waiting).await.0, fetch(&app, &plain).await.0), (404, 404, 200));
    assert_eq!(sweep(&app).await, 2);

    // With its user.
    let elsewhere = conversation_of(&app, &app_id, &user).await;
    let by_user = upload_ok(&app, &app_id, "?access=public&for=message", "e.png", PNG).await;
    post_media(&app, &app_id, &elsewhere, "image", &by_user, json!({"type": "user", "userId": user})).await;
    let (status, _) = app.account("DELETE", &format!("/v2/apps/{app_id}/users/{user}"), None).await;
    assert_eq!(status, 200);
    assert_eq!(fetch(&app, &by_user).await.0, 404);

    // By the retention sweep, with the messages it deletes.
    let bob = app.create_user(&app_id, Some("bob")).await;
    let kept = conversation_of(&app, &app_id, &bob).await;
    let retained = upload_ok(&app, &app_id, "?access=public&for=message", "f.png", PNG).await;
    post_media(&app, &app_id, &kept, "image", &retained, business()).await;
    let (status, res) = app.account("PATCH", &format!("/v2/apps/{app_id}"), Some(json!({"settings": {"conversationRetentionSeconds": 60}}))).await;
    assert_eq!(status, 200, "{res}");
    app.store.sweep_retention(sunbeam::domain::time::now_ms() + 120_000).await.unwrap();
    assert_eq!(fetch(&app, &retained).await.0, 404);

    // With its app: every file of it.
    let (status, _) = app.account("DELETE", &format!("/v2/apps/{app_id}"), None).await;
    assert_eq!(status, 200);
    assert_eq!(fetch(&app, &plain).await.0, 404);
    sweep(&app).await;
    assert!(objects(&app).is_empty(), "{:?}", objects(&app));
}

#[tokio::test]
async fn an_sdk_upload_has_type_and_size_and_goes_with_its_message() {
    let app = TestApp::spawn().await;
    let app_id = app.create_app("Shop").await;
    let (status, user) = app
        .call("POST", &format!("/sdk/v2/apps/{app_id}/appusers"), None, Some(json!({"intent": "conversation:start", "client": {"id": "c1", "platform": "web"}})))
        .await;
    assert_eq!(status, 201, "{user}");
    let sdk_auth = TestApp::basic(user["appUser"]["_id"].as_str().unwrap(), user["sessionToken"].as_str().unwrap());
    let conversation = user["conversation"]["_id"].as_str().unwrap().to_string();
    let body = multipart(&[("source", Some("cat.png"), Some("image/png"), PNG)]);
    let (status, res) = app.raw("POST", &format!("/sdk/v2/apps/{app_id}/conversations/{conversation}/files"), Some(&sdk_auth), Some(&content_type()), body).await;
    assert_eq!(status, 201, "{res}");
    let url = res["message"]["mediaUrl"].as_str().unwrap().to_string();
    let (_, list) = app.account("GET", &format!("/v2/apps/{app_id}/conversations/{conversation}/messages"), None).await;
    let m = list["messages"].as_array().unwrap().iter().find(|m| m["content"]["type"] == "image").unwrap_or_else(|| panic!("{list}")).clone();
    assert_eq!((m["content"]["mediaType"].as_str(), m["content"]["mediaSize"].as_u64()), (Some("image/png"), Some(PNG.len() as u64)), "{m}");
    let (status, _) = app.account("DELETE", &format!("/v2/apps/{app_id}/conversations/{conversation}/messages/{}", m["id"].as_str().unwrap()), None).await;
    assert_eq!(status, 200);
    assert_eq!(fetch(&app, &url).await.0, 404);
}

// ---- S3-compatible storage (against moto's server, which scripts/test starts) ----

/// The S3-compatible test server's URL (`SUNBEAM_TEST_MOTO_SERVER`, set by scripts/test).
/// Absent: the test says SKIPPED, except under CI, where it must be there.
fn moto_server() -> Option<String> {
    match std::env::var("SUNBEAM_TEST_MOTO_SERVER") {
        Ok(url) if !url.is_empty() => Some(url.trim_end_matches('/').to_string()),
        _ if std::env::var("CI").as_deref() == Ok("true") => panic!("SUNBEAM_TEST_MOTO_SERVER is not set: under CI, scripts/test must start the S3 test server"),
        _ => {
            let name = std::thread::current().name().unwrap_or("(this test)").to_string();
            eprintln!("test {name} ... SKIPPED (no S3 test server: set SUNBEAM_TEST_MOTO_SERVER, as scripts/test does)");
            None
        }
    }
}

fn s3_config(endpoint: &str, bucket: &str) -> sunbeam::config::AttachmentsConfig {
    sunbeam::config::AttachmentsConfig {
        dir: None,
        s3_bucket: Some(bucket.into()),
        s3_endpoint: Some(endpoint.into()),
        s3_region: "us-east-1".into(),
        s3_access_key_id: Some("testing".into()),
        s3_secret_access_key: Some("testing".into()),
        s3_prefix: "media/".into(),
    }
}

#[tokio::test]
async fn attachments_live_in_an_s3_bucket_when_one_is_configured() {
    let Some(endpoint) = moto_server() else { return };
    let bucket = format!("sunbeam-{}", sunbeam::domain::ids::new_id());
    let http = reqwest::Client::new();
    let made = http.put(format!("{endpoint}/{bucket}")).send().await.expect("the S3 test server answers");
    assert!(made.status().is_success(), "create bucket: {}", made.status());
    let config = s3_config(&endpoint, &bucket);
    // The bucket as another client sees it (signed requests).
    let bucket_client = object_store::aws::AmazonS3Builder::new()
        .with_bucket_name(&bucket)
        .with_endpoint(&endpoint)
        .with_allow_http(true)
        .with_region("us-east-1")
        .with_access_key_id("testing")
        .with_secret_access_key("testing")
        .build()
        .unwrap();
    let object = |id: &str| object_store::path::Path::from(format!("media/{id}"));
    use futures::StreamExt;
    use object_store::ObjectStore;

    let app = TestApp::spawn_with(crate::common::Spawn { attachments: Some(config.clone()), ..Default::default() }).await.unwrap();
    let app_id = app.create_app("Bucket").await;

    // A small file: one PUT; served by Sunbeam, ranges included.
    let url = upload_ok(&app, &app_id, "?access=public", "photo.png", PNG).await;
    let id = url.rsplit('/').nth(1).unwrap().to_string();
    let (status, ct, bytes) = fetch(&app, &url).await;
    assert_eq!((status, ct.as_str(), bytes.as_slice()), (200, "image/png", PNG));
    let in_bucket = bucket_client.get(&object(&id)).await.expect("the object is under the prefix and its id");
    assert_eq!(in_bucket.bytes().await.unwrap().as_ref(), PNG, "the object is the file");
    assert!(objects(&app).is_empty(), "nothing on local disk");
    let res = app.http.get(&url).header("range", "bytes=1-3").send().await.unwrap();
    assert_eq!(res.status().as_u16(), 206);
    assert_eq!(res.bytes().await.unwrap().as_ref(), &PNG[1..4]);

    // A file of several multipart parts.
    let big: Vec<u8> = (0..12 * 1024 * 1024 + 7).map(|i| (i % 253) as u8).collect();
    let big_url = upload_ok(&app, &app_id, "?access=public", "big.bin", &big).await;
    let (status, _, bytes) = fetch(&app, &big_url).await;
    assert_eq!(status, 200);
    assert!(bytes == big, "the multipart object reads back whole");
    let res = app.http.get(&big_url).header("range", "bytes=10485760-10485769").send().await.unwrap();
    assert_eq!(res.bytes().await.unwrap().as_ref(), &big[10_485_760..10_485_770]);

    // DeleteAttachment removes the object.
    let (status, _) = app.account("POST", &format!("/v2/apps/{app_id}/attachments/remove"), Some(json!({"mediaUrl": url}))).await;
    assert_eq!(status, 200);
    assert_eq!(fetch(&app, &url).await.0, 404);
    assert!(matches!(bucket_client.head(&object(&id)).await, Err(object_store::Error::NotFound { .. })));

    // A for=message file goes with its message, through the sweep.
    let user = app.create_user(&app_id, Some("ann")).await;
    let conversation = conversation_of(&app, &app_id, &user).await;
    let linked = upload_ok(&app, &app_id, "?access=public&for=message", "x.png", PNG).await;
    let linked_id = linked.rsplit('/').nth(1).unwrap().to_string();
    let m = post_media(&app, &app_id, &conversation, "image", &linked, business()).await;
    assert_eq!(m["content"]["mediaSize"], PNG.len());
    let (status, _) = app.account("DELETE", &format!("/v2/apps/{app_id}/conversations/{conversation}/messages/{}", m["id"].as_str().unwrap()), None).await;
    assert_eq!(status, 200);
    assert_eq!(fetch(&app, &linked).await.0, 404);
    let attachments = sunbeam::attachments::Attachments::from_config(&config, app.data_dir(), app.store.clone()).unwrap();
    assert!(attachments.sweep_once(sunbeam::domain::time::now_ms()).await.unwrap() >= 1);
    assert!(matches!(bucket_client.head(&object(&linked_id)).await, Err(object_store::Error::NotFound { .. })));

    // Too large: refused, and no object is left behind (the multipart upload is aborted).
    let huge = vec![3u8; 50 * 1024 * 1024 + 1];
    let (status, body) = upload(&app, &app_id, "?access=public", Some(&app.account_auth()), multipart(&[("source", Some("huge.bin"), None, &huge)])).await;
    assert_error(status, &body, 413, "payload_too_large");
    let listing: Vec<_> = bucket_client.list(None).map(|o| o.unwrap().location.to_string()).collect().await;
    let big_id = big_url.rsplit('/').nth(1).unwrap();
    assert_eq!(listing, vec![format!("media/{big_id}")], "only big.bin is left");
}

#[tokio::test]
async fn an_upload_interrupted_by_a_crash_is_swept_after_an_hour() {
    let app = TestApp::spawn().await;
    let app_id = app.create_app("Files").await;
    // What a crash mid-upload leaves: an `uploading` row and a partial file.
    let stuck = sunbeam::domain::attachment::Attachment {
        id: sunbeam::domain::ids::new_id(),
        app_id: app_id.clone(),
        name: "half.bin".into(),
        media_type: "application/octet-stream".into(),
        size: 0,
        for_message: false,
        conversation_id: None,
        message_id: None,
        user_id: None,
        state: sunbeam::domain::attachment::AttachmentState::Uploading,
        created_at: sunbeam::domain::time::now_ms(),
    };
    app.store.begin_attachment(&stuck).await.unwrap();
    std::fs::create_dir_all(app.data_dir().join("attachments")).unwrap();
    std::fs::write(app.data_dir().join("attachments").join(format!("{}.part", stuck.id)), b"half").unwrap();
    assert_eq!(fetch(&app, &format!("{}/attachments/{}/half.bin", app.base, stuck.id)).await.0, 404, "never served");

    let storage = sunbeam::attachments::local::LocalStorage::new(app.data_dir().join("attachments"));
    let attachments = sunbeam::attachments::Attachments::new(app.store.clone(), std::sync::Arc::new(storage));
    let now = sunbeam::domain::time::now_ms();
    assert_eq!(attachments.sweep_once(now).await.unwrap(), 0, "an upload in progress is left alone");
    assert_eq!(objects(&app).len(), 1);
    assert_eq!(attachments.sweep_once(now + sunbeam::domain::attachment::STALE_UPLOAD_MS + 1000).await.unwrap(), 1);
    assert!(objects(&app).is_empty());
    assert!(app.store.get_attachment(&stuck.id).await.unwrap().is_none());
}

#[tokio::test]
async fn files_stored_before_attachments_had_rows_are_still_served_and_deletable() {
    let app = TestApp::spawn().await;
    let app_id = app.create_app("Files").await;
    // The first local store's layout: `{id}/data` and `{id}/meta` (type, name, owner).
    let root = app.data_dir().join("attachments");
    let _ = std::fs::remove_file(root.join(".legacy-imported"));
    let (owned, ownerless) = (sunbeam::domain::ids::new_id(), sunbeam::domain::ids::new_id());
    for (id, meta) in [(&owned, format!("image/png\nold.png\n{app_id}\n")), (&ownerless, "text/plain\nnotes.txt\n".to_string())] {
        std::fs::create_dir_all(root.join(id)).unwrap();
        std::fs::write(root.join(id).join("data"), PNG).unwrap();
        std::fs::write(root.join(id).join("meta"), meta).unwrap();
    }
    // What start-up does.
    let attachments = sunbeam::attachments::Attachments::local(app.store.clone(), sunbeam::attachments::local::LocalStorage::new(root.clone()));
    assert_eq!(attachments.import_legacy().await.unwrap(), 2);
    assert_eq!(attachments.import_legacy().await.unwrap(), 0, "once");

    let url = format!("{}/attachments/{owned}/old.png", app.base);
    let (status, ct, bytes) = fetch(&app, &url).await;
    assert_eq!((status, ct.as_str(), bytes.as_slice()), (200, "image/png", PNG));
    let res = app.http.get(&url).header("range", "bytes=2-4").send().await.unwrap();
    assert_eq!(res.bytes().await.unwrap().as_ref(), &PNG[2..5]);
    assert_eq!(fetch(&app, &format!("{}/attachments/{ownerless}/notes.txt", app.base)).await.0, 200);
    // A message that references it gets its type and size.
    let user = app.create_user(&app_id, Some("ann")).await;
    let conversation = conversation_of(&app, &app_id, &user).await;
    let m = post_media(&app, &app_id, &conversation, "image", &url, business()).await;
    assert_eq!(m["content"]["mediaSize"], PNG.len());

    let (status, _) = app.account("POST", &format!("/v2/apps/{app_id}/attachments/remove"), Some(json!({"mediaUrl": url}))).await;
    assert_eq!(status, 200);
    assert_eq!(fetch(&app, &url).await.0, 404);
    assert!(!root.join(&owned).exists(), "its folder is gone");
    // No app owns the other one.
    let (status, _) = app.account("POST", &format!("/v2/apps/{app_id}/attachments/remove"), Some(json!({"mediaUrl": format!("{}/attachments/{ownerless}/notes.txt", app.base)}))).await;
    assert_eq!(status, 404);
}
