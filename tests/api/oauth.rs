//! OAuth for partners: authorize → consent → code → token, the token's scope,
//! RevokeAccess, and GetTokenInfo for every kind of credential.

use serde_json::{json, Value};
use sunbeam::domain::oauth::OAuthClient;

use crate::common::{assert_error, bearer, hs256_jwt, TestApp};

const REDIRECT: &str = "https://partner.example/callback";

struct Fixture {
    app: TestApp,
    app_id: String,
    app_key: (String, String),
    secret: String,
    /// Does not follow redirects, so each step of the flow can be seen.
    browser: reqwest::Client,
}

async fn fixture() -> Fixture {
    let app = TestApp::spawn().await;
    let app_id = app.create_app("Shop").await;
    let app_key = app.create_app_key(&app_id).await;
    let client = OAuthClient { client_id: "shoplifter".into(), name: "Shop Lifter".into(), redirect_uris: vec![REDIRECT.into()], remove_url: None };
    let secret = app.store.create_oauth_client(client).await.unwrap();
    let browser = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    Fixture { app, app_id, app_key, secret, browser }
}

fn query_of(location: &str) -> std::collections::HashMap<String, String> {
    let url = url::Url::parse(location).unwrap();
    url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

impl Fixture {
    async fn consent(&self, form: &[(&str, &str)]) -> reqwest::Response {
        self.browser.post(self.app.url("/oauth/consent")).form(form).send().await.unwrap()
    }

    /// Runs the browser part of the flow with the app key; returns the code.
    async fn code(&self) -> String {
        let res = self
            .consent(&[
                ("client_id", "shoplifter"),
                ("redirect_uri", REDIRECT),
                ("state", "xyz"),
                ("app_id", &self.app_id),
                ("key_id", &self.app_key.0),
                ("key_secret", &self.app_key.1),
                ("decision", "allow"),
            ])
            .await;
        assert_eq!(res.status().as_u16(), 302);
        let location = res.headers()["location"].to_str().unwrap().to_string();
        assert!(location.starts_with(REDIRECT), "{location}");
        let q = query_of(&location);
        assert_eq!(q["state"], "xyz");
        q["code"].clone()
    }

    async fn token(&self, body: Value) -> (u16, Value) {
        self.app.call("POST", "/oauth/token", None, Some(body)).await
    }

    async fn access_token(&self) -> String {
        let code = self.code().await;
        let (status, got) = self.token(json!({"code": code, "grant_type": "authorization_code", "client_id": "shoplifter", "client_secret": self.secret})).await;
        assert_eq!(status, 200, "{got}");
        assert_eq!(got["token_type"], "Bearer");
        got["access_token"].as_str().unwrap().to_string()
    }
}

#[tokio::test]
async fn the_authorization_flow_ends_in_an_integration_scoped_token() {
    let f = fixture().await;
    // Authorize: 302 to the consent page, as the spec's example answers.
    let res = f.browser.get(f.app.url("/oauth/authorize")).query(&[("response_type", "code"), ("client_id", "shoplifter"), ("state", "xyz")]).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 302);
    let location = res.headers()["location"].to_str().unwrap().to_string();
    assert!(location.starts_with("/oauth/consent?"), "{location}");
    assert!(res.text().await.unwrap().starts_with("Found. Redirecting to /oauth/consent"));
    let page = f.browser.get(f.app.url(&location)).send().await.unwrap();
    assert_eq!(page.status().as_u16(), 200);
    assert_eq!(page.headers()["x-frame-options"], "DENY");
    assert!(page.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let html = page.text().await.unwrap();
    assert!(html.contains("Shop Lifter") && html.contains("name=\"state\" value=\"xyz\""), "{html}");

    // What cannot go back to the partner stays here; what can goes back with `state`.
    for q in [vec![("response_type", "code"), ("client_id", "nobody")], vec![("response_type", "code"), ("client_id", "shoplifter"), ("redirect_uri", "https://evil.example/")]] {
        let res = f.browser.get(f.app.url("/oauth/authorize")).query(&q).send().await.unwrap();
        assert_eq!(res.status().as_u16(), 400);
        assert!(res.headers().get("location").is_none());
    }
    let res = f.browser.get(f.app.url("/oauth/authorize")).query(&[("response_type", "token"), ("client_id", "shoplifter"), ("state", "s")]).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 302);
    let q = query_of(res.headers()["location"].to_str().unwrap());
    assert_eq!((q["error"].as_str(), q["state"].as_str()), ("unsupported_response_type", "s"));
    let res = f.consent(&[("client_id", "shoplifter"), ("state", "s"), ("decision", "deny")]).await;
    let q = query_of(res.headers()["location"].to_str().unwrap());
    assert_eq!(q["error"], "access_denied");
    assert!(!q.contains_key("code"));
    // Wrong secret, or a key of another app: the page again, no code.
    let other_app = f.app.create_app("Other").await;
    let other_key = f.app.create_app_key(&other_app).await;
    for (key, secret) in [(f.app_key.0.as_str(), "wrong"), (other_key.0.as_str(), other_key.1.as_str())] {
        let res = f.consent(&[("client_id", "shoplifter"), ("app_id", &f.app_id), ("key_id", key), ("key_secret", secret), ("decision", "allow")]).await;
        assert_eq!(res.status().as_u16(), 401);
        assert!(res.text().await.unwrap().contains("cannot approve"));
    }

    // The code, once, for the partner's own credentials.
    let code = f.code().await;
    let (status, got) = f.token(json!({"code": code, "grant_type": "authorization_code", "client_id": "shoplifter", "client_secret": "nope"})).await;
    assert_error(status, &got, 401, "invalid_client");
    let (status, got) = f.token(json!({"code": code, "grant_type": "password", "client_id": "shoplifter", "client_secret": f.secret})).await;
    assert_error(status, &got, 400, "unsupported_grant_type");
    let (status, got) = f.token(json!({"grant_type": "authorization_code"})).await;
    assert_error(status, &got, 400, "invalid_request");
    assert_eq!(got["errors"].as_array().unwrap().len(), 3, "{got}");
    let (status, got) = f.token(json!({"code": code, "grant_type": "authorization_code", "client_id": "shoplifter", "client_secret": f.secret})).await;
    assert_eq!(status, 200, "{got}");
    let token = got["access_token"].as_str().unwrap().to_string();
    let (status, got) = f.token(json!({"code": code, "grant_type": "authorization_code", "client_id": "shoplifter", "client_secret": f.secret})).await;
    assert_error(status, &got, 400, "invalid_grant");
    // Forms work too (what OAuth libraries send).
    let code = f.code().await;
    let res = f.browser.post(f.app.url("/oauth/token")).form(&[("code", code.as_str()), ("grant_type", "authorization_code"), ("client_id", "shoplifter"), ("client_secret", &f.secret)]).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 200);

    // The token is an integration's: users, conversations, its own webhooks; not the app.
    let auth = bearer(&token);
    let (status, info) = f.app.call("GET", "/v2/tokenInfo", Some(&auth), None).await;
    assert_eq!(status, 200, "{info}");
    assert_eq!(info["app"]["id"], f.app_id.as_str());
    // No `subdomain` (typed string by the spec): a self-hosted app has none.
    assert!(!info["app"].as_object().unwrap().contains_key("subdomain"), "{info}");
    let (status, user) = f.app.call("POST", &format!("/v2/apps/{}/users", f.app_id), Some(&auth), Some(json!({"externalId": "ann"}))).await;
    assert_eq!(status, 201, "{user}");
    let (status, hook) = f
        .app
        .call("POST", &format!("/v2/apps/{}/integrations/me/webhooks", f.app_id), Some(&auth), Some(json!({"target": "https://partner.example/hook", "triggers": ["conversation:message"]})))
        .await;
    assert_eq!(status, 201, "{hook}");
    let (status, got) = f.app.call("GET", &format!("/v2/apps/{}", f.app_id), Some(&auth), None).await;
    assert_error(status, &got, 403, "forbidden");
    let (status, got) = f.app.call("GET", &format!("/v2/apps/{other_app}/users/ann"), Some(&auth), None).await;
    assert_error(status, &got, 403, "forbidden");
    // The owner sees the partner as an integration whose type is its client id.
    let (_, list) = f.app.account("GET", &format!("/v2/apps/{}/integrations", f.app_id), None).await;
    let partner = list["integrations"].as_array().unwrap().iter().find(|i| i["type"] == "shoplifter").cloned().unwrap();
    assert_eq!(partner["displayName"], "Shop Lifter");
    let integration_id = partner["id"].as_str().unwrap().to_string();
    // Approving again reuses the integration (and its webhooks).
    let second = f.access_token().await;
    let (_, list) = f.app.account("GET", &format!("/v2/apps/{}/integrations", f.app_id), None).await;
    assert_eq!(list["integrations"].as_array().unwrap().iter().filter(|i| i["type"] == "shoplifter").count(), 1);
    let (status, hooks) = f.app.call("GET", &format!("/v2/apps/{}/integrations/me/webhooks", f.app_id), Some(&bearer(&second)), None).await;
    assert_eq!(status, 200);
    assert_eq!(hooks["webhooks"].as_array().unwrap().len(), 1);

    // RevokeAccess: only the integration itself; then its webhooks and tokens are gone.
    let app_auth = TestApp::basic(&f.app_key.0, &f.app_key.1);
    let (status, got) = f.app.call("DELETE", "/oauth/authorization", Some(&app_auth), None).await;
    assert_error(status, &got, 403, "forbidden");
    let (status, got) = f.app.call("DELETE", "/oauth/authorization", Some(&auth), None).await;
    assert_eq!((status, got), (200, json!({})));
    let (status, got) = f.app.call("GET", "/v2/tokenInfo", Some(&auth), None).await;
    assert_error(status, &got, 401, "unauthorized");
    let (status, got) = f.app.account("GET", &format!("/v2/apps/{}/integrations/{integration_id}", f.app_id), None).await;
    assert_error(status, &got, 404, "integration_not_found");
    assert!(f.app.store.webhooks_of_app(&f.app_id).await.unwrap().is_empty());
    // A custom integration's key is not an OAuth grant.
    let (_, custom) = f
        .app
        .account("POST", &format!("/v2/apps/{}/integrations", f.app_id), Some(json!({"type": "custom", "webhooks": [{"target": "https://example.com/h", "triggers": ["conversation:message"]}]})))
        .await;
    let custom_id = custom["integration"]["id"].as_str().unwrap();
    let (_, key) = f.app.account("POST", &format!("/v2/apps/{}/integrations/{custom_id}/keys", f.app_id), Some(json!({"displayName": "k"}))).await;
    let int_auth = TestApp::basic(key["key"]["id"].as_str().unwrap(), key["key"]["secret"].as_str().unwrap());
    let (status, got) = f.app.call("DELETE", "/oauth/authorization", Some(&int_auth), None).await;
    assert_error(status, &got, 400, "bad_request");
}

#[tokio::test]
async fn token_info_answers_for_every_kind_of_credential() {
    let f = fixture().await;
    let (_, custom) = f
        .app
        .account("POST", &format!("/v2/apps/{}/integrations", f.app_id), Some(json!({"type": "custom", "webhooks": [{"target": "https://example.com/h", "triggers": ["conversation:message"]}]})))
        .await;
    let custom_id = custom["integration"]["id"].as_str().unwrap();
    let (_, key) = f.app.account("POST", &format!("/v2/apps/{}/integrations/{custom_id}/keys", f.app_id), Some(json!({"displayName": "k"}))).await;
    let int_key = (key["key"]["id"].as_str().unwrap().to_string(), key["key"]["secret"].as_str().unwrap().to_string());
    let oauth = f.access_token().await;
    let credentials = [
        TestApp::basic(&f.app_key.0, &f.app_key.1),
        bearer(&hs256_jwt(&f.app_key.0, &f.app_key.1, json!({"scope": "app"}))),
        TestApp::basic(&int_key.0, &int_key.1),
        bearer(&hs256_jwt(&int_key.0, &int_key.1, json!({"scope": "integration"}))),
        bearer(&oauth),
    ];
    for auth in &credentials {
        let (status, got) = f.app.call("GET", "/v2/tokenInfo", Some(auth), None).await;
        assert_eq!(status, 200, "{auth}: {got}");
        assert_eq!(got["app"]["id"], f.app_id.as_str());
        assert_eq!(got["app"]["displayName"], "Shop");
    }
    // Account credentials reach every app, so name none.
    let (status, got) = f.app.call("GET", "/v2/tokenInfo", Some(&f.app.account_auth()), None).await;
    assert_error(status, &got, 400, "bad_request");
    let account_jwt = bearer(&hs256_jwt(&f.app.account_id, &f.app.account_secret, json!({"scope": "account"})));
    let (status, got) = f.app.call("GET", "/v2/tokenInfo", Some(&account_jwt), None).await;
    assert_error(status, &got, 400, "bad_request");
    for auth in [None, Some("Basic bm9wZTpub3Bl".to_string()), Some(bearer(&hs256_jwt(&f.app_key.0, "forged", json!({"scope": "app"}))))] {
        let (status, got) = f.app.call("GET", "/v2/tokenInfo", auth.as_deref(), None).await;
        assert_error(status, &got, 401, "unauthorized");
    }
}
