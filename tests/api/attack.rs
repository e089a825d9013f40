//! Hostile input, one table: every way a caller may try to get in with a credential it
//! does not hold, and every malformed request an attacker or a bug may send. Each row is
//! refused with the status it names (in the spec's envelope when the server itself
//! answers), on SQLite and on PostgreSQL, and the server is healthy afterwards.

use base64::Engine;
use serde_json::{json, Value};

use crate::common::{assert_error, bearer, handmade_jwt, hs256_jwt, Db, Spawn, TestApp};

fn now_s() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

fn b64url(v: &Value) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
}

/// One hostile request and the answer it must get.
struct Row {
    what: &'static str,
    method: &'static str,
    path: String,
    auth: Option<String>,
    headers: Vec<(&'static str, String)>,
    content_type: Option<&'static str>,
    body: Vec<u8>,
    status: u16,
    /// The envelope's code, when the answer is ours (hyper answers 431 itself, bodiless).
    code: Option<&'static str>,
}

impl Row {
    fn get(what: &'static str, path: String, auth: Option<String>, status: u16, code: &'static str) -> Row {
        Row { what, method: "GET", path, auth, headers: vec![], content_type: None, body: vec![], status, code: Some(code) }
    }
}

/// Sends a row; a server that cuts the connection instead of answering fails the row.
async fn send(app: &TestApp, row: &Row) -> Result<(u16, Value), String> {
    let mut req = app.http.request(row.method.parse().unwrap(), app.url(&row.path));
    if let Some(a) = &row.auth {
        req = req.header("authorization", a);
    }
    for (k, v) in &row.headers {
        req = req.header(*k, v);
    }
    if let Some(ct) = row.content_type {
        req = req.header("content-type", ct);
    }
    let res = req.body(row.body.clone()).send().await.map_err(|e| format!("no answer: {e:?}"))?;
    let status = res.status().as_u16();
    let text = res.text().await.map_err(|e| format!("no body: {e}"))?;
    Ok((status, serde_json::from_str(&text).unwrap_or(Value::String(text))))
}

#[tokio::test]
async fn every_hostile_request_is_refused_on_sqlite() {
    attack_table(Db::Sqlite).await;
}

#[tokio::test]
async fn every_hostile_request_is_refused_on_postgres() {
    attack_table(Db::Postgres).await;
}

async fn attack_table(db: Db) {
    let Some(app) = TestApp::spawn_with(Spawn { db, ..Spawn::default() }).await else { return };
    let app_id = app.create_app("Target").await;
    let (kid, secret) = app.create_app_key(&app_id).await;
    let other_app = app.create_app("Other").await;
    let (other_kid, other_secret) = app.create_app_key(&other_app).await;
    let (status, anon) = app
        .call("POST", &format!("/sdk/v2/apps/{app_id}/appusers"), None, Some(json!({"client": {"id": "b1", "platform": "web"}})))
        .await;
    assert_eq!(status, 201, "{anon}");
    let session = TestApp::basic(anon["appUser"]["_id"].as_str().unwrap(), anon["sessionToken"].as_str().unwrap());
    let (status, conv) = app.account("POST", &format!("/v2/apps/{app_id}/conversations"), Some(json!({"type": "personal", "participants": [{"userId": anon["appUser"]["_id"]}]}))).await;
    assert_eq!(status, 201, "{conv}");
    let conv_id = conv["conversation"]["id"].as_str().unwrap().to_string();

    let app_path = format!("/v2/apps/{app_id}");
    let messages = format!("/v2/apps/{app_id}/conversations/{conv_id}/messages");
    let good = TestApp::basic(&kid, &secret);
    let jwt = |claims: Value| bearer(&hs256_jwt(&kid, &secret, claims));
    let signed_hs512 = {
        let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS512);
        h.kid = Some(kid.clone());
        bearer(&jsonwebtoken::encode(&h, &json!({"scope": "app"}), &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes())).unwrap())
    };
    let tampered = {
        // A genuine app-scoped token whose payload is swapped for an account claim.
        let genuine = hs256_jwt(&kid, &secret, json!({"scope": "app"}));
        let parts: Vec<&str> = genuine.split('.').collect();
        bearer(&format!("{}.{}.{}", parts[0], b64url(&json!({"scope": "account"})), parts[2]))
    };
    let post_json = |what: &'static str, body: Vec<u8>, status: u16, code: &'static str| Row {
        what,
        method: "POST",
        path: messages.clone(),
        auth: Some(good.clone()),
        headers: vec![],
        content_type: Some("application/json"),
        body,
        status,
        code: Some(code),
    };
    let deep = format!("{}{}", "{\"a\":".repeat(10_000), "}".repeat(10_000)).into_bytes();
    let nul_text = br#"{"author": {"type": "business"}, "content": {"type": "text", "text": "a\u0000b"}}"#.to_vec();
    let nul_key = br#"{"author": {"type": "business"}, "content": {"type": "text", "text": "hi"}, "metadata": {"a\u0000": 1}}"#.to_vec();
    let ten_mb = {
        let mut b = br#"{"author": {"type": "business"}, "content": {"type": "text", "text": ""#.to_vec();
        b.extend(std::iter::repeat(b'x').take(10 * 1024 * 1024));
        b.extend(br#""}}"#);
        b
    };

    let rows = vec![
        Row::get("alg none", app_path.clone(), Some(bearer(&handmade_jwt(json!({"alg": "none", "kid": kid}), json!({"scope": "app"}), ""))), 401, "unauthorized"),
        Row::get("alg RS256 in the header", app_path.clone(), Some(bearer(&handmade_jwt(json!({"alg": "RS256", "typ": "JWT", "kid": kid}), json!({"scope": "app"}), "c2lnbmF0dXJl"))), 401, "unauthorized"),
        Row::get("alg HS512, signed with the real secret", app_path.clone(), Some(signed_hs512), 401, "unauthorized"),
        Row::get("no kid", app_path.clone(), Some(bearer(&jsonwebtoken::encode(&jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256), &json!({"scope": "app"}), &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes())).unwrap())), 401, "unauthorized"),
        Row::get("an unknown kid", app_path.clone(), Some(bearer(&hs256_jwt("app_000000000000000000000000", &secret, json!({"scope": "app"})))), 401, "unauthorized"),
        Row::get("expired", app_path.clone(), Some(jwt(json!({"scope": "app", "exp": now_s() - 60}))), 401, "unauthorized"),
        Row::get("not yet valid (nbf an hour ahead)", app_path.clone(), Some(jwt(json!({"scope": "app", "nbf": now_s() + 3600}))), 401, "unauthorized"),
        Row::get("tampered payload", app_path.clone(), Some(tampered), 401, "unauthorized"),
        Row::get("scope escalation: an app key's JWT claiming account", "/v2/apps".into(), Some(jwt(json!({"scope": "account"}))), 401, "unauthorized"),
        Row::get("scope escalation: an app key on an account operation", "/v2/apps".into(), Some(good.clone()), 403, "forbidden"),
        Row::get("another app's key (Basic)", app_path.clone(), Some(TestApp::basic(&other_kid, &other_secret)), 403, "forbidden"),
        Row::get("another app's key (JWT)", app_path.clone(), Some(bearer(&hs256_jwt(&other_kid, &other_secret, json!({"scope": "app"})))), 403, "forbidden"),
        Row::get("a user JWT on the business API", app_path.clone(), Some(jwt(json!({"scope": "user", "external_id": "ann"}))), 401, "unauthorized"),
        Row::get("an SDK session on the business API", app_path.clone(), Some(session), 401, "unauthorized"),
        Row::get("Basic with an empty secret", app_path.clone(), Some(TestApp::basic(&kid, "")), 401, "unauthorized"),
        Row::get("Basic with a key id holding NUL", app_path.clone(), Some(TestApp::basic(&format!("{kid}\0"), &secret)), 401, "unauthorized"),
        Row::get("a JWT whose kid holds NUL", app_path.clone(), Some(bearer(&hs256_jwt(&format!("{kid}\0"), &secret, json!({"scope": "app"})))), 401, "unauthorized"),
        Row {
            what: "Basic with a 1 MB secret",
            auth: Some(TestApp::basic(&kid, &"s".repeat(1024 * 1024))),
            code: None,
            ..Row::get("", app_path.clone(), None, 431, "")
        },
        Row {
            what: "a 100 kB header",
            auth: Some(good.clone()),
            headers: vec![("x-padding", "p".repeat(100 * 1024))],
            ..Row::get("", app_path.clone(), None, 431, "request_header_fields_too_large")
        },
        Row::get("NUL in a path segment", format!("/v2/apps/{app_id}/users/a%00b"), Some(good.clone()), 400, "bad_request"),
        Row::get("NUL in a query parameter", format!("/v2/apps/{app_id}/conversations?filter[userId]=a%00b"), Some(good.clone()), 400, "bad_request"),
        Row::get("NUL in an SDK path segment", format!("/sdk/v2/apps/{app_id}/appusers/a%00b"), None, 400, "bad_request"),
        post_json("NUL inside a JSON string", nul_text, 400, "bad_request"),
        post_json("NUL inside a JSON field name", nul_key, 400, "bad_request"),
        post_json("10,000-deep JSON", deep, 400, "bad_request"),
        post_json("a 10 MB body", ten_mb, 413, "payload_too_large"),
    ];

    for row in &rows {
        let (status, body) = send(&app, row).await.unwrap_or_else(|e| panic!("{}: {e}", row.what));
        match row.code {
            Some(code) if row.path.starts_with("/sdk/") => {
                assert_eq!(status, row.status, "{}: {body}", row.what);
                assert_eq!(body["error"]["code"], code, "{}: {body}", row.what);
            }
            Some(code) => {
                assert_eq!(status, row.status, "{}: {body}", row.what);
                assert_error(status, &body, row.status, code);
            }
            None => assert_eq!(status, row.status, "{}: {body}", row.what),
        }
    }

    // Healthy afterwards: the same key still works, reads and writes.
    let (status, body) = app.call("GET", "/health", None, None).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = app.call("GET", &app_path, Some(&good), None).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = app.call("GET", &app_path, Some(&jwt(json!({"scope": "app", "nbf": now_s() - 60}))), None).await;
    assert_eq!(status, 200, "a JWT valid since a minute ago works: {body}");
    let (status, body) = app
        .call("POST", &messages, Some(&good), Some(json!({"author": {"type": "business"}, "content": {"type": "text", "text": "still here"}})))
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = app.call("GET", &messages, Some(&good), None).await;
    assert_eq!(status, 200, "{body}");
    let texts: Vec<&str> = body["messages"].as_array().unwrap().iter().filter_map(|m| m["content"]["text"].as_str()).collect();
    assert_eq!(texts, vec!["still here"], "no hostile row left a message behind");
}
