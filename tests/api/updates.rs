//! Concurrent PATCHes of one resource, each changing a different field: every change is
//! kept (an update reads, patches and writes in one transaction), on SQLite and PostgreSQL.

use serde_json::{json, Value};

use crate::common::{Db, Spawn, TestApp};

/// Rounds of concurrent PATCHes; each round changes every field again, to new values.
const ROUNDS: usize = 5;

/// Sends all `bodies` to `path` at once as PATCHes (with `auth`, else as the account)
/// and expects each to succeed.
async fn patch_at_once(app: &TestApp, auth: Option<&str>, paths: &[String], bodies: &[Value]) {
    let account = app.account_auth();
    let auth = auth.unwrap_or(&account);
    let calls = bodies.iter().enumerate().map(|(i, b)| app.call("PATCH", &paths[i % paths.len()], Some(auth), Some(b.clone())));
    let results = futures::future::join_all(calls).await;
    for (body, (status, got)) in bodies.iter().zip(&results) {
        assert_eq!(*status, 200, "PATCH {body}: {got}");
    }
}

async fn get(app: &TestApp, auth: Option<&str>, path: &str) -> Value {
    let account = app.account_auth();
    let (status, got) = app.call("GET", path, Some(auth.unwrap_or(&account)), None).await;
    assert_eq!(status, 200, "GET {path}: {got}");
    got
}

fn flag(r: usize) -> bool {
    r % 2 == 0
}

async fn users(app: &TestApp, app_id: &str) {
    let user_id = app.create_user(app_id, Some("ann")).await;
    // Half the PATCHes name the user by id, half by externalId.
    let paths = [format!("/v2/apps/{app_id}/users/{user_id}"), format!("/v2/apps/{app_id}/users/ann")];
    for r in 0..ROUNDS {
        let bodies = [
            json!({"profile": {"givenName": format!("Ann {r}")}}),
            json!({"profile": {"surname": format!("Lee {r}")}}),
            json!({"profile": {"email": format!("ann{r}@profile.example")}}),
            json!({"profile": {"avatarUrl": format!("https://example.com/{r}.png")}}),
            json!({"profile": {"locale": format!("fr-{r}")}}),
            json!({"metadata": {"round": r}}),
            json!({"toBeRetained": flag(r)}),
            json!({"signedUpAt": format!("2020-01-0{}T00:00:00.000Z", r + 1)}),
            json!({"identities": [{"type": "email", "value": format!("ann{r}@example.com")}]}),
        ];
        patch_at_once(app, None, &paths, &bodies).await;
        let u = &get(app, None, &paths[0]).await["user"];
        let want_profile = json!({
            "givenName": format!("Ann {r}"),
            "surname": format!("Lee {r}"),
            "email": format!("ann{r}@profile.example"),
            "avatarUrl": format!("https://example.com/{r}.png"),
            "locale": format!("fr-{r}"),
        });
        assert_eq!(u["profile"], want_profile, "round {r}: {u}");
        assert_eq!(u["metadata"], json!({"round": r}), "round {r}: {u}");
        assert_eq!(u["toBeRetained"], flag(r), "round {r}: {u}");
        assert_eq!(u["signedUpAt"], format!("2020-01-0{}T00:00:00.000Z", r + 1), "round {r}: {u}");
        assert_eq!(u["identities"][0]["value"], format!("ann{r}@example.com"), "round {r}: {u}");
        assert_eq!((u["id"].as_str(), u["externalId"].as_str()), (Some(user_id.as_str()), Some("ann")));
    }
}

async fn apps(app: &TestApp, app_id: &str) {
    let path = format!("/v2/apps/{app_id}");
    // Read once first, so the node holds a cached copy that must not be the base of an update.
    get(app, None, &path).await;
    for r in 0..ROUNDS {
        let bodies = [
            json!({"displayName": format!("Shop {r}")}),
            json!({"metadata": {"round": r}}),
            json!({"settings": {"conversationRetentionSeconds": 3600 + r}}),
            json!({"settings": {"maskCreditCardNumbers": !flag(r)}}),
            json!({"settings": {"useAnimalNames": flag(r)}}),
            json!({"settings": {"echoPostback": flag(r)}}),
            json!({"settings": {"multiConvoEnabled": true}}),
        ];
        patch_at_once(app, None, std::slice::from_ref(&path), &bodies).await;
        // Served from this node's cache, which must hold the committed result.
        let a = &get(app, None, &path).await["app"];
        assert_eq!(a["displayName"], format!("Shop {r}"), "round {r}: {a}");
        assert_eq!(a["metadata"], json!({"round": r}), "round {r}: {a}");
        let s = &a["settings"];
        assert_eq!(s["conversationRetentionSeconds"], 3600 + r, "round {r}: {a}");
        assert_eq!(s["maskCreditCardNumbers"], !flag(r), "round {r}: {a}");
        // (ignoreAutoConversationStart and appLocalizationEnabled are refused when true.)
        for f in ["useAnimalNames", "echoPostback"] {
            assert_eq!(s[f], flag(r), "round {r}, {f}: {a}");
        }
        assert_eq!(s["multiConvoEnabled"], true, "round {r}: {a}");
    }
}

async fn conversations(app: &TestApp, app_id: &str) {
    let (status, created) = app.account("POST", &format!("/v2/apps/{app_id}/conversations"), Some(json!({"type": "sdkGroup"}))).await;
    assert_eq!(status, 201, "{created}");
    let path = format!("/v2/apps/{app_id}/conversations/{}", created["conversation"]["id"].as_str().unwrap());
    for r in 0..ROUNDS {
        let bodies = [
            json!({"displayName": format!("Room {r}")}),
            json!({"description": format!("About {r}")}),
            json!({"iconUrl": format!("https://example.com/{r}.png")}),
            json!({"metadata": {"round": r}}),
        ];
        patch_at_once(app, None, std::slice::from_ref(&path), &bodies).await;
        let c = &get(app, None, &path).await["conversation"];
        assert_eq!(c["displayName"], format!("Room {r}"), "round {r}: {c}");
        assert_eq!(c["description"], format!("About {r}"), "round {r}: {c}");
        assert_eq!(c["iconUrl"], format!("https://example.com/{r}.png"), "round {r}: {c}");
        assert_eq!(c["metadata"], json!({"round": r}), "round {r}: {c}");
    }
}

async fn integrations(app: &TestApp, app_id: &str) {
    let (status, created) = app.account("POST", &format!("/v2/apps/{app_id}/integrations"), Some(json!({"type": "web", "displayName": "Site"}))).await;
    assert_eq!(status, 201, "{created}");
    let path = format!("/v2/apps/{app_id}/integrations/{}", created["integration"]["id"].as_str().unwrap());
    for r in 0..ROUNDS {
        // Hex colours made of the round's digit: 000000, 111111, …
        let (six, four) = (r.to_string().repeat(6), r.to_string().repeat(4));
        let bodies = [
            json!({"displayName": format!("Site {r}")}),
            json!({"brandColor": &six}),
            json!({"conversationColor": format!("ab{four}")}),
            json!({"actionColor": format!("cd{four}")}),
            json!({"buttonWidth": format!("{}", 50 + r)}),
            json!({"buttonHeight": format!("{}", 60 + r)}),
            json!({"businessName": format!("Business {r}")}),
            json!({"fixedIntroPane": flag(r)}),
            json!({"canUserSeeConversationList": flag(r)}),
        ];
        patch_at_once(app, None, std::slice::from_ref(&path), &bodies).await;
        let i = &get(app, None, &path).await["integration"];
        assert_eq!(i["displayName"], format!("Site {r}"), "round {r}: {i}");
        assert_eq!(i["brandColor"], six, "round {r}: {i}");
        assert_eq!(i["conversationColor"], format!("ab{four}"), "round {r}: {i}");
        assert_eq!(i["actionColor"], format!("cd{four}"), "round {r}: {i}");
        assert_eq!(i["buttonWidth"], format!("{}", 50 + r), "round {r}: {i}");
        assert_eq!(i["buttonHeight"], format!("{}", 60 + r), "round {r}: {i}");
        assert_eq!(i["businessName"], format!("Business {r}"), "round {r}: {i}");
        assert_eq!(i["fixedIntroPane"], flag(r), "round {r}: {i}");
        assert_eq!(i["canUserSeeConversationList"], flag(r), "round {r}: {i}");
    }
}

async fn webhooks(app: &TestApp, app_id: &str) {
    // Webhooks take app scope, not account scope.
    let (key, secret) = app.create_app_key(app_id).await;
    let auth = TestApp::basic(&key, &secret);
    let body = json!({"type": "custom", "webhooks": [{"target": "https://example.com/hook", "triggers": ["user:remove"]}]});
    let (status, created) = app.account("POST", &format!("/v2/apps/{app_id}/integrations"), Some(body)).await;
    assert_eq!(status, 201, "{created}");
    let integration = &created["integration"];
    let path = format!("/v2/apps/{app_id}/integrations/{}/webhooks/{}", integration["id"].as_str().unwrap(), integration["webhooks"][0]["id"].as_str().unwrap());
    let triggers = ["conversation:message", "conversation:create", "user:update", "user:merge", "conversation:read"];
    for r in 0..ROUNDS {
        let bodies = [
            json!({"target": format!("https://example.com/hook/{r}")}),
            json!({"triggers": [triggers[r]]}),
            json!({"includeFullUser": flag(r)}),
            json!({"includeFullSource": !flag(r)}),
        ];
        patch_at_once(app, Some(&auth), std::slice::from_ref(&path), &bodies).await;
        let w = &get(app, Some(&auth), &path).await["webhook"];
        assert_eq!(w["target"], format!("https://example.com/hook/{r}"), "round {r}: {w}");
        assert_eq!(w["triggers"], json!([triggers[r]]), "round {r}: {w}");
        assert_eq!(w["includeFullUser"], flag(r), "round {r}: {w}");
        assert_eq!(w["includeFullSource"], !flag(r), "round {r}: {w}");
        assert_eq!(w["secret"], integration["webhooks"][0]["secret"], "round {r}: {w}");
    }
}

async fn no_concurrent_patch_is_lost(app: &TestApp) {
    let shop = app.create_app("Shop").await;
    users(app, &shop).await;
    apps(app, &shop).await;
    conversations(app, &shop).await;
    // Integrations and webhooks in an app of their own, where no event ever fires (their
    // targets are not real).
    let hooks = app.create_app("Hooks").await;
    integrations(app, &hooks).await;
    webhooks(app, &hooks).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_patches_of_every_resource_lose_nothing_on_sqlite() {
    let app = TestApp::spawn().await;
    no_concurrent_patch_is_lost(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_patches_of_every_resource_lose_nothing_on_postgres() {
    let Some(app) = TestApp::spawn_with(Spawn { db: Db::Postgres, ..Spawn::default() }).await else { return };
    no_concurrent_patch_is_lost(&app).await;
}
