//! Authentication and authorization: every way a caller is refused, each beside a control
//! showing the same request succeeds with proper credentials.

use base64::Engine;
use serde_json::{json, Value};

use crate::common::{assert_error, bearer, handmade_jwt, hs256_jwt, TestApp};

fn now_s() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

/// An app with one app key: (app id, key id, key secret).
async fn app_with_key(app: &TestApp) -> (String, String, String) {
    let app_id = app.create_app("Auth").await;
    let (key_id, secret) = app.create_app_key(&app_id).await;
    (app_id, key_id, secret)
}

async fn get_app_as(app: &TestApp, app_id: &str, auth: Option<&str>) -> (u16, Value) {
    app.call("GET", &format!("/v2/apps/{app_id}"), auth, None).await
}

#[tokio::test]
async fn no_credentials_is_401_unauthorized_everywhere() {
    let app = TestApp::spawn().await;
    let app_id = app.create_app("Shop").await;
    for (method, path, body) in [
        ("GET", "/v2/apps".to_string(), None),
        ("POST", "/v2/apps".to_string(), Some(json!({"displayName": "x"}))),
        ("GET", format!("/v2/apps/{app_id}"), None),
        ("DELETE", format!("/v2/apps/{app_id}"), None),
        ("GET", format!("/v2/apps/{app_id}/keys"), None),
        ("POST", format!("/v2/apps/{app_id}/users"), Some(json!({}))),
        ("GET", format!("/v2/apps/{app_id}/users/someone"), None),
    ] {
        let (status, got) = app.call(method, &path, None, body).await;
        assert_error(status, &got, 401, "unauthorized");
    }
    // Nothing was created or deleted by the refused calls.
    let (status, list) = app.account("GET", "/v2/apps", None).await;
    assert_eq!(status, 200);
    assert_eq!(list["apps"].as_array().unwrap().len(), 1, "{list}");
}

#[tokio::test]
async fn basic_with_wrong_secret_or_unknown_key_is_401() {
    let app = TestApp::spawn().await;
    let (app_id, key_id, secret) = app_with_key(&app).await;
    // Control: the right secret works.
    let (status, _) = get_app_as(&app, &app_id, Some(&TestApp::basic(&key_id, &secret))).await;
    assert_eq!(status, 200);

    let cases = [
        TestApp::basic(&key_id, "not-the-secret"),
        TestApp::basic(&key_id, &format!("{secret}x")),
        TestApp::basic(&key_id, &secret[..secret.len() - 1]),
        TestApp::basic("app_000000000000000000000000", &secret),
        TestApp::basic(&app.account_id, &secret),
        TestApp::basic(&app.account_id, "wrong"),
        TestApp::basic("nobody", "nothing"),
    ];
    for auth in cases {
        let (status, got) = get_app_as(&app, &app_id, Some(&auth)).await;
        assert_error(status, &got, 401, "unauthorized");
    }
}

#[tokio::test]
async fn malformed_authorization_headers_are_401() {
    let app = TestApp::spawn().await;
    let (app_id, key_id, secret) = app_with_key(&app).await;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let cases = [
        String::new(),
        "Basic".to_string(),
        "Basic ".to_string(),
        "Basic !!!not-base64!!!".to_string(),
        format!("Basic {}", b64(&format!("{key_id}{secret}"))), // no colon
        format!("Basic {}", b64(&format!("{key_id}:"))),        // empty secret
        format!("Basic {}", b64(&format!(":{secret}"))),        // empty key id
        format!("Token {}", b64(&format!("{key_id}:{secret}"))),
        format!("{key_id}:{secret}"),
        "Bearer".to_string(),
        "Bearer not.a.jwt".to_string(),
        "Bearer abc".to_string(),
    ];
    for auth in cases {
        let (status, got) = get_app_as(&app, &app_id, Some(&auth)).await;
        assert_error(status, &got, 401, "unauthorized");
    }
}

#[tokio::test]
async fn a_valid_hs256_jwt_is_accepted_for_app_and_account_keys() {
    let app = TestApp::spawn().await;
    let (app_id, key_id, secret) = app_with_key(&app).await;
    let token = hs256_jwt(&key_id, &secret, json!({"scope": "app"}));
    let (status, got) = get_app_as(&app, &app_id, Some(&bearer(&token))).await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["app"]["id"], app_id);
    // A future expiry is fine.
    let token = hs256_jwt(&key_id, &secret, json!({"scope": "app", "exp": now_s() + 3600}));
    let (status, _) = get_app_as(&app, &app_id, Some(&bearer(&token))).await;
    assert_eq!(status, 200);

    let account = hs256_jwt(&app.account_id, &app.account_secret, json!({"scope": "account"}));
    let (status, got) = app.call("GET", "/v2/apps", Some(&bearer(&account)), None).await;
    assert_eq!(status, 200, "{got}");
}

#[tokio::test]
async fn forged_unsigned_and_foreign_algorithm_jwts_are_401() {
    let app = TestApp::spawn().await;
    let (app_id, key_id, secret) = app_with_key(&app).await;
    let claims = json!({"scope": "app"});

    let mut cases: Vec<(&str, String)> = vec![
        ("alg none, no signature", handmade_jwt(json!({"alg": "none", "typ": "JWT", "kid": key_id}), claims.clone(), "")),
        ("alg None", handmade_jwt(json!({"alg": "None", "typ": "JWT", "kid": key_id}), claims.clone(), "")),
        ("RS256 header", handmade_jwt(json!({"alg": "RS256", "typ": "JWT", "kid": key_id}), claims.clone(), "c2lnbmF0dXJl")),
    ];
    // HS512 and HS384 signed with the right secret: still not HS256.
    for alg in [jsonwebtoken::Algorithm::HS512, jsonwebtoken::Algorithm::HS384] {
        let mut h = jsonwebtoken::Header::new(alg);
        h.kid = Some(key_id.clone());
        let t = jsonwebtoken::encode(&h, &claims, &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes())).unwrap();
        cases.push(("HS512/HS384", t));
    }
    // No kid at all, and an empty one.
    let no_kid = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap();
    cases.push(("missing kid", no_kid));
    cases.push(("empty kid", hs256_jwt("", &secret, claims.clone())));
    cases.push(("unknown kid", hs256_jwt("app_000000000000000000000000", &secret, claims.clone())));
    cases.push(("bad signature", hs256_jwt(&key_id, "some-other-secret", claims.clone())));
    // A valid token with its signature swapped for another token's.
    let good = hs256_jwt(&key_id, &secret, claims.clone());
    let other = hs256_jwt(&key_id, &secret, json!({"scope": "app", "extra": 1}));
    let (head, _) = good.rsplit_once('.').unwrap();
    let (_, other_sig) = other.rsplit_once('.').unwrap();
    cases.push(("spliced signature", format!("{head}.{other_sig}")));
    cases.push(("expired", hs256_jwt(&key_id, &secret, json!({"scope": "app", "exp": now_s() - 60}))));
    cases.push(("missing scope", hs256_jwt(&key_id, &secret, json!({"appId": app_id}))));
    cases.push(("unknown scope", hs256_jwt(&key_id, &secret, json!({"scope": "admin"}))));
    cases.push(("account claimed by an app key", hs256_jwt(&key_id, &secret, json!({"scope": "account"}))));
    cases.push(("integration claimed by an app key", hs256_jwt(&key_id, &secret, json!({"scope": "integration"}))));
    cases.push(("app claimed by the account key", hs256_jwt(&app.account_id, &app.account_secret, json!({"scope": "app"}))));
    cases.push(("user scope", hs256_jwt(&key_id, &secret, json!({"scope": "user", "external_id": "bob"}))));
    cases.push(("appUser scope", hs256_jwt(&key_id, &secret, json!({"scope": "appUser", "userId": "bob"}))));
    cases.push(("user scope by the account key", hs256_jwt(&app.account_id, &app.account_secret, json!({"scope": "user", "external_id": "bob"}))));

    for (what, token) in cases {
        let (status, got) = get_app_as(&app, &app_id, Some(&bearer(&token))).await;
        assert_eq!(status, 401, "{what}: {got}");
        assert_error(status, &got, 401, "unauthorized");
    }
}

#[tokio::test]
async fn account_scope_claimed_by_an_app_key_cannot_reach_account_operations() {
    let app = TestApp::spawn().await;
    let (_, key_id, secret) = app_with_key(&app).await;
    let token = hs256_jwt(&key_id, &secret, json!({"scope": "account"}));
    let (status, got) = app.call("POST", "/v2/apps", Some(&bearer(&token)), Some(json!({"displayName": "Sneaky"}))).await;
    assert_error(status, &got, 401, "unauthorized");
    let (status, got) = app.call("GET", "/v2/apps", Some(&bearer(&token)), None).await;
    assert_error(status, &got, 401, "unauthorized");
    let (_, list) = app.account("GET", "/v2/apps", None).await;
    assert_eq!(list["apps"].as_array().unwrap().len(), 1, "no app was created: {list}");
}

#[tokio::test]
async fn user_tokens_are_refused_on_every_v2_route() {
    let app = TestApp::spawn().await;
    let (app_id, key_id, secret) = app_with_key(&app).await;
    app.create_user(&app_id, Some("bob")).await;
    for claims in [json!({"scope": "user", "external_id": "bob"}), json!({"scope": "appUser", "userId": "bob"})] {
        let auth = bearer(&hs256_jwt(&key_id, &secret, claims));
        for (method, path, body) in [
            ("GET", format!("/v2/apps/{app_id}/users/bob"), None),
            ("PATCH", format!("/v2/apps/{app_id}/users/bob"), Some(json!({"profile": {"givenName": "Mallory"}}))),
            ("POST", format!("/v2/apps/{app_id}/users"), Some(json!({"externalId": "eve"}))),
            ("GET", format!("/v2/apps/{app_id}"), None),
        ] {
            let (status, got) = app.call(method, &path, Some(&auth), body).await;
            assert_error(status, &got, 401, "unauthorized");
        }
    }
    let (_, got) = app.account("GET", &format!("/v2/apps/{app_id}/users/bob"), None).await;
    assert!(got["user"]["profile"].get("givenName").is_none(), "the refused PATCH changed nothing: {got}");
    let (status, _) = app.account("GET", &format!("/v2/apps/{app_id}/users/eve"), None).await;
    assert_eq!(status, 404, "the refused POST created nothing");
}

#[tokio::test]
async fn a_deleted_app_key_stops_working_at_once() {
    let app = TestApp::spawn().await;
    let (app_id, key_id, secret) = app_with_key(&app).await;
    let basic = TestApp::basic(&key_id, &secret);
    let jwt = bearer(&hs256_jwt(&key_id, &secret, json!({"scope": "app"})));
    // Used (and so cached) before the deletion.
    assert_eq!(get_app_as(&app, &app_id, Some(&basic)).await.0, 200);
    assert_eq!(get_app_as(&app, &app_id, Some(&jwt)).await.0, 200);

    let (status, got) = app.account("DELETE", &format!("/v2/apps/{app_id}/keys/{key_id}"), None).await;
    assert_eq!((status, got), (200, json!({})));

    for auth in [&basic, &jwt] {
        let (status, got) = get_app_as(&app, &app_id, Some(auth)).await;
        assert_error(status, &got, 401, "unauthorized");
        let (status, got) = app.call("POST", &format!("/v2/apps/{app_id}/users"), Some(auth), Some(json!({}))).await;
        assert_error(status, &got, 401, "unauthorized");
    }
    // Another key of the same app is unaffected.
    let (k2, s2) = app.create_app_key(&app_id).await;
    assert_eq!(get_app_as(&app, &app_id, Some(&TestApp::basic(&k2, &s2))).await.0, 200);
}

#[tokio::test]
async fn an_app_key_on_another_app_is_403_forbidden() {
    let app = TestApp::spawn().await;
    let (mine, key_id, secret) = app_with_key(&app).await;
    let theirs = app.create_app("Theirs").await;
    let their_user = app.create_user(&theirs, Some("carol")).await;
    for auth in [TestApp::basic(&key_id, &secret), bearer(&hs256_jwt(&key_id, &secret, json!({"scope": "app"})))] {
        // Control: its own app works.
        assert_eq!(get_app_as(&app, &mine, Some(&auth)).await.0, 200);
        for (method, path, body) in [
            ("GET", format!("/v2/apps/{theirs}"), None),
            ("PATCH", format!("/v2/apps/{theirs}"), Some(json!({"displayName": "Owned"}))),
            ("POST", format!("/v2/apps/{theirs}/users"), Some(json!({"externalId": "x"}))),
            ("GET", format!("/v2/apps/{theirs}/users/{their_user}"), None),
            ("GET", format!("/v2/apps/{theirs}/users/carol"), None),
            ("DELETE", format!("/v2/apps/{theirs}/users/carol"), None),
            ("GET", format!("/v2/apps/{theirs}/users?filter[identities.email]=a@b.co"), None),
            // An app that does not exist is still not this key's app.
            ("GET", "/v2/apps/000000000000000000000000".to_string(), None),
        ] {
            let (status, got) = app.call(method, &path, Some(&auth), body).await;
            assert_error(status, &got, 403, "forbidden");
        }
    }
    let (_, got) = app.account("GET", &format!("/v2/apps/{theirs}"), None).await;
    assert_eq!(got["app"]["displayName"], "Theirs");
    assert_eq!(app.account("GET", &format!("/v2/apps/{theirs}/users/carol"), None).await.0, 200);
}

#[tokio::test]
async fn an_app_key_on_account_only_operations_is_403() {
    let app = TestApp::spawn().await;
    let (app_id, key_id, secret) = app_with_key(&app).await;
    let (other_key, _) = app.create_app_key(&app_id).await;
    for auth in [TestApp::basic(&key_id, &secret), bearer(&hs256_jwt(&key_id, &secret, json!({"scope": "app"})))] {
        for (method, path, body) in [
            ("POST", "/v2/apps".to_string(), Some(json!({"displayName": "Mine now"}))),
            ("GET", "/v2/apps".to_string(), None),
            ("DELETE", format!("/v2/apps/{app_id}"), None),
            ("POST", format!("/v2/apps/{app_id}/keys"), Some(json!({"displayName": "more"}))),
            ("GET", format!("/v2/apps/{app_id}/keys"), None),
            ("GET", format!("/v2/apps/{app_id}/keys/{other_key}"), None),
            ("DELETE", format!("/v2/apps/{app_id}/keys/{other_key}"), None),
            ("GET", format!("/v2/apps/{app_id}/keys/{key_id}"), None),
        ] {
            let (status, got) = app.call(method, &path, Some(&auth), body).await;
            assert_error(status, &got, 403, "forbidden");
        }
    }
    // Nothing happened: one app, two keys, the app still there.
    let (_, apps) = app.account("GET", "/v2/apps", None).await;
    assert_eq!(apps["apps"].as_array().unwrap().len(), 1);
    let (_, keys) = app.account("GET", &format!("/v2/apps/{app_id}/keys"), None).await;
    assert_eq!(keys["keys"].as_array().unwrap().len(), 2, "{keys}");
    // Control: what an app key may do on its own app.
    let auth = TestApp::basic(&key_id, &secret);
    let (status, got) = app.call("PATCH", &format!("/v2/apps/{app_id}"), Some(&auth), Some(json!({"displayName": "Renamed"}))).await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["app"]["displayName"], "Renamed");
}

#[tokio::test]
async fn the_account_key_reaches_every_app() {
    let app = TestApp::spawn().await;
    let a = app.create_app("A").await;
    let b = app.create_app("B").await;
    for id in [&a, &b] {
        let (status, got) = app.account("GET", &format!("/v2/apps/{id}"), None).await;
        assert_eq!(status, 200);
        assert_eq!(&got["app"]["id"], id);
    }
}
