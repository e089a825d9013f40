//! Every operation of the spec has a route: each (method, path, operationId) is read
//! from `shared/spec/sunshine-openapi-v2.yaml` and sent a well-formed request with real
//! ids made in setup. An answer fails when it is 405, 5xx, or the router's fallback (404
//! whose title names no such route) — an unknown *resource* (404 `*_not_found`) or a
//! refusal (400, 403…) still proves the operation is there.
//!
//! The spec sits in `shared/spec/` beside the repository (`../shared`, or `../../shared`
//! from a worktree under `wt/`), or at `SUNBEAM_SPEC`. Outside CI its absence skips the
//! test; under CI it fails.

use std::collections::HashMap;
use std::path::PathBuf;

use serde_json::{json, Value};
use sunbeam::domain::oauth::OAuthClient;

use crate::common::{bearer, TestApp};

/// One operation of the spec.
#[derive(Debug, Clone)]
struct Operation {
    method: String,
    path: String,
    id: String,
}

fn spec_path() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("SUNBEAM_SPEC") {
        return Some(PathBuf::from(p));
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    // The shared spec beside the repository when it is there, else the verbatim copy that
    // the schemathesis run uses (so a lone clone checks the same 68 operations).
    [
        root.join("../shared/spec/sunshine-openapi-v2.yaml"),
        root.join("../../shared/spec/sunshine-openapi-v2.yaml"),
        root.join("conformance/schemathesis/sunshine-openapi-v2.yaml"),
    ]
    .into_iter()
    .find(|p| p.exists())
}

/// The operations under `paths:`, read by indentation: a path is a two-space key
/// starting with `/`, a method a four-space key, its `operationId` at six spaces.
fn operations(yaml: &str) -> Vec<Operation> {
    const METHODS: &[&str] = &["get", "put", "post", "delete", "patch", "head", "options"];
    let mut out = Vec::new();
    let mut in_paths = false;
    let (mut path, mut method): (Option<String>, Option<String>) = (None, None);
    for line in yaml.lines() {
        if !line.starts_with(' ') && !line.trim().is_empty() {
            in_paths = line.trim_end() == "paths:";
            continue;
        }
        if !in_paths {
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        let key = line.trim().trim_end_matches(':').trim_matches('\'').trim_matches('"');
        match indent {
            2 if key.starts_with('/') => {
                path = Some(key.to_string());
                method = None;
            }
            4 if METHODS.contains(&key) => method = Some(key.to_uppercase()),
            4 => method = None,
            6 => {
                if let (Some(rest), Some(p), Some(m)) = (line.trim().strip_prefix("operationId:"), &path, &method) {
                    out.push(Operation { method: m.clone(), path: p.clone(), id: rest.trim().to_string() });
                }
            }
            _ => {}
        }
    }
    out
}

const BOUNDARY: &str = "sunbeamcoverageboundary";

fn multipart_png() -> Vec<u8> {
    const PNG: &[u8] = &[0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, b'I', b'H', b'D', b'R'];
    let mut body = format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"source\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\n").into_bytes();
    body.extend_from_slice(PNG);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    body
}

/// Real ids for every path parameter, some per operation (deletes get their own
/// throwaway resource so that later operations still find theirs).
struct Ids {
    common: HashMap<&'static str, String>,
    per_op: HashMap<(&'static str, &'static str), String>,
    app_auth: String,
    oauth_token: String,
    oauth_code: String,
    oauth_secret: String,
    media_url: String,
}

async fn create(app: &TestApp, path: &str, body: Value, pick: &str) -> String {
    let (status, got) = app.account("POST", path, Some(body)).await;
    assert!(status == 201 || status == 200, "setup {path}: {status} {got}");
    got.pointer(pick).and_then(Value::as_str).unwrap_or_else(|| panic!("setup {path}: no {pick} in {got}")).to_string()
}

async fn setup(app: &TestApp) -> Ids {
    let app_id = app.create_app("Coverage").await;
    let spare_app = app.create_app("Spare").await;
    let v2 = |rest: &str| format!("/v2/apps/{app_id}{rest}");
    let (key_id, key_secret) = app.create_app_key(&app_id).await;
    let (spare_key, _) = app.create_app_key(&app_id).await;
    let app_auth = TestApp::basic(&key_id, &key_secret);

    // An SDK user (so it has a client and a device), its personal conversation.
    let web = create(app, &v2("/integrations"), json!({"type": "web"}), "/integration/id").await;
    let (status, anon) = app.call("POST", &format!("/sdk/v2/apps/{app_id}/appusers"), None, Some(json!({"intent": "conversation:start", "client": {"id": "cov-browser", "integrationId": web}}))).await;
    assert_eq!(status, 201, "{anon}");
    let user = anon["appUser"]["_id"].as_str().unwrap().to_string();
    let conversation = anon["conversation"]["_id"].as_str().unwrap().to_string();
    let (_, devices) = app.account("GET", &v2(&format!("/users/{user}/devices")), None).await;
    let device = devices["devices"][0]["id"].as_str().unwrap().to_string();
    let other = app.create_user(&app_id, Some("cov-other")).await;
    let spare_user = app.create_user(&app_id, Some("cov-spare")).await;
    let group = create(app, &v2("/conversations"), json!({"type": "sdkGroup", "participants": [{"userId": other}]}), "/conversation/id").await;
    let spare_group = create(app, &v2("/conversations"), json!({"type": "sdkGroup"}), "/conversation/id").await;
    // DeleteAllMessages empties the personal conversation first; DeleteMessage has its own.
    let message = create(app, &v2(&format!("/conversations/{group}/messages")), json!({"author": {"type": "business"}, "content": {"type": "text", "text": "hi"}}), "/messages/0/id").await;

    let hook = json!({"target": "https://example.com/hook", "triggers": ["conversation:message"]});
    let custom = create(app, &v2("/integrations"), json!({"type": "custom", "webhooks": [hook]}), "/integration/id").await;
    let spare_custom = create(app, &v2("/integrations"), json!({"type": "custom", "webhooks": [hook]}), "/integration/id").await;
    let int_key = create(app, &v2(&format!("/integrations/{custom}/keys")), json!({"displayName": "k"}), "/key/id").await;
    let spare_int_key = create(app, &v2(&format!("/integrations/{custom}/keys")), json!({"displayName": "k2"}), "/key/id").await;
    let (_, hooks) = app.call("GET", &v2(&format!("/integrations/{custom}/webhooks")), Some(&app_auth), None).await;
    let webhook = hooks["webhooks"][0]["id"].as_str().unwrap().to_string();
    let (status, spare_hook) = app.call("POST", &v2(&format!("/integrations/{custom}/webhooks")), Some(&app_auth), Some(hook.clone())).await;
    assert_eq!(status, 201, "{spare_hook}");
    let spare_webhook = spare_hook["webhook"]["id"].as_str().unwrap().to_string();

    // A channel link to remove (CreateClient itself uses a second integration).
    let whatsapp = create(app, &v2("/integrations"), json!({"type": "whatsapp"}), "/integration/id").await;
    let whatsapp2 = create(app, &v2("/integrations"), json!({"type": "whatsapp"}), "/integration/id").await;
    let link = |integration: &str| json!({"matchCriteria": {"type": "whatsapp", "integrationId": integration, "phoneNumber": "+15550001234"}, "confirmation": {"type": "immediate"}, "target": {"conversationId": conversation}});
    let channel_client = create(app, &v2(&format!("/users/{user}/clients")), link(&whatsapp), "/client/id").await;

    // An uploaded file to delete.
    let res = app
        .http
        .post(app.url(&v2("/attachments?access=public")))
        .header("authorization", app.account_auth())
        .header("content-type", format!("multipart/form-data; boundary={BOUNDARY}"))
        .body(multipart_png())
        .send()
        .await
        .unwrap();
    let uploaded: Value = res.json().await.unwrap_or(Value::Null);
    let media_url = uploaded["attachment"]["mediaUrl"].as_str().unwrap_or("https://example.com/none.png").to_string();

    // An OAuth partner: one code for GetToken, one token for RevokeAccess.
    let partner = OAuthClient { client_id: "cov-partner".into(), name: "Coverage".into(), redirect_uris: vec!["https://partner.example/cb".into()], remove_url: None };
    let oauth_secret = app.store.create_oauth_client(partner).await.unwrap();
    let browser = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let mut codes = Vec::new();
    for _ in 0..2 {
        let res = browser
            .post(app.url("/oauth/consent"))
            .form(&[("client_id", "cov-partner"), ("app_id", &app_id), ("key_id", &key_id), ("key_secret", &key_secret), ("decision", "allow")])
            .send()
            .await
            .unwrap();
        let location = res.headers()["location"].to_str().unwrap().to_string();
        let code = url::Url::parse(&location).unwrap().query_pairs().find(|(k, _)| k == "code").unwrap().1.into_owned();
        codes.push(code);
    }
    let (status, token) = app.call("POST", "/oauth/token", None, Some(json!({"code": codes[0], "grant_type": "authorization_code", "client_id": "cov-partner", "client_secret": oauth_secret}))).await;
    assert_eq!(status, 200, "{token}");

    let unknown = "5f0000000000000000000001".to_string();
    let common = HashMap::from([
        ("appId", app_id.clone()),
        ("keyId", key_id.clone()),
        ("conversationId", conversation),
        ("messageId", message),
        ("integrationId", custom.clone()),
        ("webhookId", webhook),
        ("switchboardId", unknown.clone()),
        ("switchboardIntegrationId", unknown),
        ("userIdOrExternalId", user),
        ("clientId", channel_client),
        ("deviceId", device),
        ("zendeskId", "35436".to_string()),
    ]);
    let per_op = HashMap::from([
        (("DeleteApp", "appId"), spare_app),
        (("DeleteAppKey", "keyId"), spare_key),
        (("GetCustomIntegrationKey", "keyId"), int_key),
        (("DeleteCustomIntegrationKey", "keyId"), spare_int_key),
        (("DeleteConversation", "conversationId"), spare_group),
        (("JoinConversation", "conversationId"), group.clone()),
        (("LeaveConversation", "conversationId"), group.clone()),
        (("ListParticipants", "conversationId"), group.clone()),
        (("DeleteMessage", "conversationId"), group),
        (("DeleteIntegration", "integrationId"), spare_custom),
        (("DeleteWebhook", "webhookId"), spare_webhook),
        (("DeleteUser", "userIdOrExternalId"), spare_user),
        (("CreateClient", "integrationId"), whatsapp2),
        (("JoinConversation", "userId"), app.create_user(&app_id, Some("cov-joiner")).await),
        (("LeaveConversation", "userId"), other),
    ]);
    Ids {
        common,
        per_op,
        app_auth,
        oauth_token: token["access_token"].as_str().unwrap().to_string(),
        oauth_code: codes[1].clone(),
        oauth_secret,
        media_url,
    }
}

impl Ids {
    fn get(&self, op: &str, name: &str) -> String {
        self.per_op
            .iter()
            .find(|((o, n), _)| *o == op && *n == name)
            .map(|(_, v)| v.clone())
            .or_else(|| self.common.get(name).cloned())
            .unwrap_or_else(|| panic!("no id for {{{name}}} of {op}"))
    }

    fn path(&self, op: &Operation) -> String {
        let mut out = String::new();
        let mut rest = op.path.as_str();
        while let Some(start) = rest.find('{') {
            let end = rest[start..].find('}').map(|e| start + e).expect("a closed {param}");
            out.push_str(&rest[..start]);
            out.push_str(&self.get(&op.id, &rest[start + 1..end]));
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        out
    }

    /// A well-formed body (and query) for each operation that takes one.
    fn body(&self, op: &Operation) -> (Option<Value>, &'static str) {
        let conversation = self.get(&op.id, "conversationId");
        let body = match op.id.as_str() {
            "CreateApp" => json!({"displayName": "Made"}),
            "UpdateApp" => json!({"displayName": "Renamed"}),
            "CreateAppKey" | "CreateCustomIntegrationKey" => json!({"displayName": "key"}),
            "DeleteAttachment" => json!({"mediaUrl": self.media_url}),
            "CreateConversation" => json!({"type": "sdkGroup"}),
            "UpdateConversation" => json!({"displayName": "Talk"}),
            "JoinConversation" | "LeaveConversation" => json!({"userId": self.get(&op.id, "userId")}),
            "PostMessage" => json!({"author": {"type": "business"}, "content": {"type": "text", "text": "hello"}}),
            "PostActivity" => json!({"author": {"type": "business"}, "type": "typing:start"}),
            "PassControl" | "OfferControl" => json!({"switchboardIntegration": "next", "metadata": {"k": "v"}}),
            "AcceptControl" | "ReleaseControl" => json!({"metadata": {"k": "v"}}),
            "DownloadMessageRef" => json!({"userId": self.get(&op.id, "userIdOrExternalId"), "apple": {"interactiveDataRef": {"url": "https://x.example", "bid": "b", "key": "k", "signature": "s", "owner": "o"}}}),
            "PostConversionEvents" => json!({"whatsapp": {"payload": {"data": [{"event_name": "Purchase"}]}}}),
            "CreateIntegration" => json!({"type": "custom", "webhooks": [{"target": "https://example.com/h", "triggers": ["conversation:message"]}]}),
            "UpdateIntegration" => json!({"displayName": "Renamed"}),
            "CreateWebhook" => json!({"target": "https://example.com/h2", "triggers": ["conversation:create"]}),
            "UpdateWebhook" => json!({"triggers": ["conversation:message", "conversation:create"]}),
            "UpdateSwitchboard" => json!({"enabled": false}),
            "CreateSwitchboardIntegration" => json!({"name": "bot", "integrationId": self.get(&op.id, "integrationId")}),
            "UpdateSwitchboardIntegration" => json!({"deliverStandbyEvents": false}),
            "CreateUser" => json!({"externalId": "cov-made"}),
            "UpdateUser" => json!({"profile": {"givenName": "Ann"}}),
            "CreateClient" => json!({
                "matchCriteria": {"type": "whatsapp", "integrationId": self.get(&op.id, "integrationId"), "phoneNumber": "+15550001235"},
                "confirmation": {"type": "immediate"},
                "target": {"conversationId": conversation}
            }),
            "SyncUser" => json!({}),
            "GetToken" => json!({"code": self.oauth_code, "grant_type": "authorization_code", "client_id": "cov-partner", "client_secret": self.oauth_secret}),
            _ => return (None, self.query(op)),
        };
        (Some(body), self.query(op))
    }

    fn query(&self, op: &Operation) -> &'static str {
        match op.id.as_str() {
            "ListConversations" => "filter[userExternalId]=cov-other",
            "ListUsers" => "filter[identities.email]=ann@example.com",
            "UploadAttachment" => "access=public",
            "Authorize" => "response_type=code&client_id=cov-partner",
            _ => "",
        }
    }

    fn auth(&self, app: &TestApp, op: &Operation) -> Option<String> {
        match op.id.as_str() {
            "Authorize" | "GetToken" => None,
            "RevokeAccess" => Some(bearer(&self.oauth_token)),
            "GetTokenInfo" | "CreateWebhook" | "ListWebhooks" | "GetWebhook" | "UpdateWebhook" | "DeleteWebhook" => Some(self.app_auth.clone()),
            _ => Some(app.account_auth()),
        }
    }
}

#[tokio::test]
async fn every_operation_of_the_spec_has_a_route() {
    let Some(spec) = spec_path().filter(|p| p.exists()) else {
        assert!(std::env::var("CI").is_err(), "the spec (shared/spec/ or conformance/schemathesis/sunshine-openapi-v2.yaml) must be readable under CI");
        println!("skipped: shared/spec/sunshine-openapi-v2.yaml is not beside the repository (set SUNBEAM_SPEC)");
        return;
    };
    let ops = operations(&std::fs::read_to_string(&spec).expect("read the spec"));
    assert_eq!(ops.len(), 68, "the spec has 68 operations; read {}: {ops:?}", ops.len());
    let mut ids: Vec<&str> = ops.iter().map(|o| o.id.as_str()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 68, "operationIds are unique");

    let app = TestApp::spawn().await;
    let fixtures = setup(&app).await;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let mut missing = Vec::new();
    for op in &ops {
        let path = fixtures.path(op);
        let (body, query) = fixtures.body(op);
        let url = if query.is_empty() { app.url(&path) } else { app.url(&format!("{path}?{query}")) };
        let mut req = http.request(op.method.parse().unwrap(), url);
        if let Some(a) = fixtures.auth(&app, op) {
            req = req.header("authorization", a);
        }
        req = match (op.id.as_str(), body) {
            ("UploadAttachment", _) => req.header("content-type", format!("multipart/form-data; boundary={BOUNDARY}")).body(multipart_png()),
            (_, Some(b)) => req.json(&b),
            (_, None) => req,
        };
        let res = req.send().await.expect("request");
        let status = res.status().as_u16();
        let text = res.text().await.unwrap_or_default();
        let fallback = status == 404 && text.contains(sunbeam::http::NO_ROUTE);
        let routed = !fallback && status != 405 && status < 500;
        println!("{:<32} {:<6} {:<90} {status}", op.id, op.method, op.path);
        if !routed {
            missing.push(format!("{} {} {} → {status} {text}", op.id, op.method, op.path));
        }
    }
    println!("{} of {} operations routed", ops.len() - missing.len(), ops.len());
    assert!(missing.is_empty(), "{} operations have no route:\n{}", missing.len(), missing.join("\n"));
}

#[test]
fn the_spec_reader_finds_methods_and_ids_under_paths_only() {
    let yaml = "openapi: 3.0.2\npaths:\n  /v2/apps:\n    parameters:\n      - $ref: x\n    post:\n      tags:\n        - Apps\n      operationId: CreateApp\n    get:\n      operationId: ListApps\n  '/v2/x/{id}':\n    delete:\n      summary: s\n      operationId: DeleteX\ncomponents:\n  schemas:\n    get:\n      operationId: NotAnOperation\n";
    let ops = operations(yaml);
    let got: Vec<(String, String, String)> = ops.into_iter().map(|o| (o.method, o.path, o.id)).collect();
    assert_eq!(
        got,
        vec![
            ("POST".into(), "/v2/apps".into(), "CreateApp".into()),
            ("GET".into(), "/v2/apps".into(), "ListApps".into()),
            ("DELETE".into(), "/v2/x/{id}".into(), "DeleteX".into()),
        ]
    );
}
