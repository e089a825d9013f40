//! Users: CreateUser, ListUsers, GetUser, UpdateUser, DeleteUser, DeleteUserPersonalInformation.

use serde_json::{json, Value};

use crate::common::{assert_error, is_hex_id, is_ms_datetime, Db, Spawn, TestApp};

fn users(app_id: &str) -> String {
    format!("/v2/apps/{app_id}/users")
}

fn user(app_id: &str, who: &str) -> String {
    format!("/v2/apps/{app_id}/users/{who}")
}

#[tokio::test]
async fn an_empty_body_creates_an_anonymous_user() {
    let app = TestApp::spawn().await;
    let app_id = app.create_app("Shop").await;
    let (status, got) = app.account("POST", &users(&app_id), Some(json!({}))).await;
    assert_eq!(status, 201, "{got}");
    let u = &got["user"];
    assert!(is_hex_id(u["id"].as_str().unwrap()));
    assert!(u["externalId"].is_null(), "{u}");
    assert_eq!(u["authenticated"], false);
    assert_eq!(u["profile"], json!({}));
    assert_eq!(u["metadata"], json!({}));
    assert_eq!(u["identities"], json!([]));
    assert_eq!(u["toBeRetained"], false);
    assert!(is_ms_datetime(u["signedUpAt"].as_str().unwrap()), "{u}");
    // Several anonymous users coexist.
    let (status, second) = app.account("POST", &users(&app_id), Some(json!({}))).await;
    assert_eq!(status, 201);
    assert_ne!(second["user"]["id"], u["id"]);
    // And with no body at all.
    let (status, _) = app.raw("POST", &users(&app_id), Some(&app.account_auth()), None, Vec::new()).await;
    assert_eq!(status, 201);
}

#[tokio::test]
async fn an_identified_user_is_found_by_id_and_by_external_id() {
    let app = TestApp::spawn().await;
    let app_id = app.create_app("Shop").await;
    let body = json!({
        "externalId": "bob-42",
        "signedUpAt": "2021-03-04T05:06:07.089Z",
        "toBeRetained": true,
        "profile": {"givenName": "Bob", "surname": "Smith", "email": "bob@example.com", "avatarUrl": "https://example.com/bob.png", "locale": "en-US"},
        "metadata": {"plan": "pro", "visits": 3, "beta": false},
    });
    let (status, created) = app.account("POST", &users(&app_id), Some(body)).await;
    assert_eq!(status, 201, "{created}");
    let u = &created["user"];
    assert_eq!(u["externalId"], "bob-42");
    assert_eq!(u["signedUpAt"], "2021-03-04T05:06:07.089Z");
    assert_eq!(u["toBeRetained"], true);
    assert_eq!(u["profile"], json!({"givenName": "Bob", "surname": "Smith", "email": "bob@example.com", "avatarUrl": "https://example.com/bob.png", "locale": "en-US"}));
    assert_eq!(u["metadata"], json!({"plan": "pro", "visits": 3, "beta": false}));
    let id = u["id"].as_str().unwrap();
    for who in [id, "bob-42"] {
        let (status, got) = app.account("GET", &user(&app_id, who), None).await;
        assert_eq!(status, 200, "{who}");
        assert_eq!(got["user"], *u, "{who}");
    }
    // An externalId needing escaping in the path.
    let (status, _) = app.account("POST", &users(&app_id), Some(json!({"externalId": "ann smith@x"}))).await;
    assert_eq!(status, 201);
    let (status, got) = app.account("GET", &user(&app_id, "ann%20smith%40x"), None).await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["user"]["externalId"], "ann smith@x");
}

#[tokio::test]
async fn an_app_key_manages_users_of_its_own_app() {
    let app = TestApp::spawn().await;
    let app_id = app.create_app("Shop").await;
    let (k, s) = app.create_app_key(&app_id).await;
    let auth = TestApp::basic(&k, &s);
    let (status, got) = app.call("POST", &users(&app_id), Some(&auth), Some(json!({"externalId": "kim"}))).await;
    assert_eq!(status, 201, "{got}");
    let (status, got) = app.call("PATCH", &user(&app_id, "kim"), Some(&auth), Some(json!({"profile": {"givenName": "Kim"}}))).await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["user"]["profile"]["givenName"], "Kim");
    assert_eq!(app.call("DELETE", &user(&app_id, "kim"), Some(&auth), None).await.0, 200);
}

#[tokio::test]
async fn a_duplicate_external_id_is_409_conflict_per_app() {
    let app = TestApp::spawn().await;
    let a = app.create_app("A").await;
    let b = app.create_app("B").await;
    let first = app.create_user(&a, Some("dup")).await;
    let (status, got) = app.account("POST", &users(&a), Some(json!({"externalId": "dup", "profile": {"givenName": "Second"}}))).await;
    assert_error(status, &got, 409, "conflict");
    assert_eq!(got["errors"][0]["title"], "User already exists");
    let (_, got) = app.account("GET", &user(&a, "dup"), None).await;
    assert_eq!(got["user"]["id"], first.as_str());
    assert!(got["user"]["profile"].get("givenName").is_none(), "the first user was not overwritten: {got}");
    // Another app may use the same externalId; externalIds are case-sensitive.
    assert_eq!(app.account("POST", &users(&b), Some(json!({"externalId": "dup"}))).await.0, 201);
    assert_eq!(app.account("POST", &users(&a), Some(json!({"externalId": "DUP"}))).await.0, 201);
}

async fn fifty_parallel_creates_of_one_external_id(app: &TestApp) {
    let app_id = app.create_app("Race").await;
    let path = users(&app_id);
    let calls = (0..50).map(|i| app.account("POST", &path, Some(json!({"externalId": "racer", "metadata": {"n": i}}))));
    let results: Vec<(u16, Value)> = futures::future::join_all(calls).await;
    let winners: Vec<&Value> = results.iter().filter(|(s, _)| *s == 201).map(|(_, b)| b).collect();
    let conflicts = results.iter().filter(|(s, b)| *s == 409 && b["errors"][0]["code"] == "conflict").count();
    assert_eq!((winners.len(), conflicts), (1, 49), "{results:?}");
    let (status, got) = app.account("GET", &user(&app_id, "racer"), None).await;
    assert_eq!(status, 200);
    assert_eq!(got["user"], winners[0]["user"], "the stored user is the winner");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_parallel_creates_give_one_201_and_49_409s_on_sqlite() {
    let app = TestApp::spawn().await;
    fifty_parallel_creates_of_one_external_id(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_parallel_creates_give_one_201_and_49_409s_on_postgres() {
    let Some(app) = TestApp::spawn_with(Spawn { db: Db::Postgres, ..Spawn::default() }).await else { return };
    fifty_parallel_creates_of_one_external_id(&app).await;
}

#[tokio::test]
async fn create_user_validates_the_body() {
    let app = TestApp::spawn().await;
    let app_id = app.create_app("Shop").await;
    let cases: Vec<(Value, &str)> = vec![
        (json!({"externalId": ""}), "externalId"),
        (json!({"externalId": "x".repeat(1025)}), "externalId"),
        (json!({"externalId": null, "brandId": "b".repeat(25)}), "brandId"),
        (json!({"profile": {"email": "x"}}), "profile.email"),
        (json!({"profile": {"email": "a@b"}}), "profile.email"),
        (json!({"profile": {"email": format!("{}@example.com", "a".repeat(120))}}), "profile.email"),
        (json!({"profile": {"avatarUrl": "not a url"}}), "profile.avatarUrl"),
        (json!({"profile": {"givenName": ""}}), "profile.givenName"),
        (json!({"profile": {"surname": "s".repeat(129)}}), "profile.surname"),
        (json!({"profile": {"locale": "l".repeat(65)}}), "profile.locale"),
        (json!({"profile": "Bob"}), "profile"),
        (json!({"metadata": {"deep": {"x": 1}}}), "metadata"),
        (json!({"metadata": {"k": "a".repeat(5000)}}), "User metadata is limited to 4096 bytes"),
        (json!({"signedUpAt": "not a date"}), "signedUpAt"),
    ];
    for (body, field) in cases {
        let (status, got) = app.account("POST", &users(&app_id), Some(body.clone())).await;
        assert_error(status, &got, 400, "bad_request");
        assert!(got["errors"].as_array().unwrap().iter().any(|e| e["title"].as_str().unwrap().contains(field)), "{body}: {got}");
    }
    // Bounds that are allowed.
    let (status, got) = app
        .account("POST", &users(&app_id), Some(json!({"externalId": "x".repeat(1024), "profile": {"givenName": "g".repeat(128), "locale": "l".repeat(64)}})))
        .await;
    assert_eq!(status, 201, "{got}");
}

#[tokio::test]
async fn update_user_by_id_or_external_id_merges_the_profile() {
    let app = TestApp::spawn().await;
    let app_id = app.create_app("Shop").await;
    let (_, created) = app
        .account("POST", &users(&app_id), Some(json!({"externalId": "ann", "profile": {"givenName": "Ann", "surname": "Lee"}, "metadata": {"a": 1}})))
        .await;
    let id = created["user"]["id"].as_str().unwrap().to_string();

    let (status, got) = app.account("PATCH", &user(&app_id, "ann"), Some(json!({"profile": {"surname": null, "locale": "fr-CA"}}))).await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["user"]["profile"], json!({"givenName": "Ann", "locale": "fr-CA"}));
    assert_eq!(got["user"]["metadata"], json!({"a": 1}), "untouched");

    let (status, got) = app.account("PATCH", &user(&app_id, &id), Some(json!({"metadata": {"b": "2"}, "toBeRetained": true}))).await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["user"]["metadata"], json!({"b": "2"}));
    assert_eq!(got["user"]["toBeRetained"], true);
    assert_eq!(got["user"]["externalId"], "ann");
    assert_eq!(got["user"]["id"], id.as_str());

    let (_, fetched) = app.account("GET", &user(&app_id, "ann"), None).await;
    assert_eq!(fetched["user"], got["user"]);
}

#[tokio::test]
async fn update_user_refuses_bad_values_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let app_id = app.create_app("Shop").await;
    app.account("POST", &users(&app_id), Some(json!({"externalId": "ann", "profile": {"givenName": "Ann"}}))).await;
    for body in [
        json!({"externalId": "other"}),
        json!({"profile": {"givenName": "Zed", "email": "nope"}}),
        json!({"profile": {"givenName": "Zed", "avatarUrl": "nope"}}),
        json!({"profile": {"givenName": 5}}),
        json!({"metadata": {"k": "a".repeat(5000)}}),
        json!({"signedUpAt": "soon"}),
    ] {
        let (status, got) = app.account("PATCH", &user(&app_id, "ann"), Some(body.clone())).await;
        assert_error(status, &got, 400, "bad_request");
    }
    let (_, got) = app.account("GET", &user(&app_id, "ann"), None).await;
    assert_eq!(got["user"]["profile"], json!({"givenName": "Ann"}));
    assert_eq!(got["user"]["externalId"], "ann");
    let (status, got) = app.account("GET", &user(&app_id, "other"), None).await;
    assert_error(status, &got, 404, "user_not_found");
}

#[tokio::test]
async fn unknown_users_are_404_user_not_found() {
    let app = TestApp::spawn().await;
    let app_id = app.create_app("Shop").await;
    let other = app.create_app("Other").await;
    let theirs = app.create_user(&other, Some("theirs")).await;
    for who in ["000000000000000000000000", "nobody", theirs.as_str(), "theirs"] {
        let (status, got) = app.account("GET", &user(&app_id, who), None).await;
        assert_error(status, &got, 404, "user_not_found");
        let (status, got) = app.account("PATCH", &user(&app_id, who), Some(json!({"metadata": {}}))).await;
        assert_error(status, &got, 404, "user_not_found");
        let (status, got) = app.account("DELETE", &user(&app_id, who), None).await;
        assert_error(status, &got, 404, "user_not_found");
        let (status, got) = app.account("DELETE", &format!("{}/personalinformation", user(&app_id, who)), None).await;
        assert_error(status, &got, 404, "user_not_found");
    }
    assert_eq!(app.account("GET", &user(&other, "theirs"), None).await.0, 200);
}

#[tokio::test]
async fn an_id_takes_precedence_over_an_equal_external_id() {
    let app = TestApp::spawn().await;
    let app_id = app.create_app("Shop").await;
    let first = app.create_user(&app_id, None).await;
    // A second user whose externalId is the first user's id.
    let second = app.create_user(&app_id, Some(&first)).await;
    let (_, got) = app.account("GET", &user(&app_id, &first), None).await;
    assert_eq!(got["user"]["id"], first.as_str());
    let (_, got) = app.account("GET", &user(&app_id, &second), None).await;
    assert_eq!(got["user"]["id"], second.as_str());
}

#[tokio::test]
async fn list_users_finds_email_identities_case_insensitively() {
    let app = TestApp::spawn().await;
    let app_id = app.create_app("Shop").await;
    let other = app.create_app("Other").await;
    let (_, ann) = app
        .account("POST", &users(&app_id), Some(json!({"externalId": "ann", "identities": [{"type": "email", "value": "Ann@Example.com"}]})))
        .await;
    let ann_id = ann["user"]["id"].as_str().unwrap().to_string();
    // Same address only in the profile: not an identity.
    app.account("POST", &users(&app_id), Some(json!({"externalId": "bob", "profile": {"email": "ann@example.com"}}))).await;
    // Same identity in another app.
    app.account("POST", &users(&other), Some(json!({"identities": [{"type": "email", "value": "ann@example.com"}]}))).await;

    for q in ["ann@example.com", "ANN@EXAMPLE.COM", "Ann@Example.com", "ann%40example.com"] {
        let (status, got) = app.account("GET", &format!("{}?filter[identities.email]={q}", users(&app_id)), None).await;
        assert_eq!(status, 200, "{got}");
        let found: Vec<&str> = got["users"].as_array().unwrap().iter().map(|u| u["id"].as_str().unwrap()).collect();
        assert_eq!(found, vec![ann_id.as_str()], "{q}: {got}");
        assert_eq!(got["users"][0]["identities"][0]["value"], "Ann@Example.com", "stored as given");
        assert!(got.get("meta").is_none() && got.get("links").is_none(), "ListUsers is not paginated: {got}");
    }
    let (status, got) = app.account("GET", &format!("{}?filter[identities.email]=zed@example.com", users(&app_id)), None).await;
    assert_eq!((status, got), (200, json!({"users": []})));

    // An identity added by update is found; one removed is not.
    app.account("PATCH", &user(&app_id, "bob"), Some(json!({"identities": [{"type": "email", "value": "bob@work.io"}]}))).await;
    let (_, got) = app.account("GET", &format!("{}?filter[identities.email]=BOB@work.io", users(&app_id)), None).await;
    assert_eq!(got["users"][0]["externalId"], "bob", "{got}");
    app.account("PATCH", &user(&app_id, "bob"), Some(json!({"identities": []}))).await;
    let (_, got) = app.account("GET", &format!("{}?filter[identities.email]=bob@work.io", users(&app_id)), None).await;
    assert_eq!(got["users"], json!([]));
}

#[tokio::test]
async fn list_users_requires_the_email_filter() {
    let app = TestApp::spawn().await;
    let app_id = app.create_app("Shop").await;
    app.create_user(&app_id, Some("ann")).await;
    for q in ["", "?filter[identities.email]=", "?filter[email]=ann@example.com", "?page[size]=10"] {
        let (status, got) = app.account("GET", &format!("{}{q}", users(&app_id)), None).await;
        assert_error(status, &got, 400, "bad_request");
    }
}

#[tokio::test]
async fn delete_personal_information_scrubs_but_keeps_the_record() {
    let app = TestApp::spawn().await;
    let app_id = app.create_app("Shop").await;
    let (_, created) = app
        .account(
            "POST",
            &users(&app_id),
            Some(json!({
                "externalId": "ann",
                "signedUpAt": "2021-01-01T00:00:00.000Z",
                "profile": {"givenName": "Ann", "surname": "Lee", "email": "ann@example.com", "avatarUrl": "https://x.io/a.png", "locale": "en"},
                "metadata": {"ssn": "123"},
                "identities": [{"type": "email", "value": "ann@example.com"}],
            })),
        )
        .await;
    let id = created["user"]["id"].as_str().unwrap().to_string();
    let (status, got) = app.account("DELETE", &format!("{}/personalinformation", user(&app_id, "ann")), None).await;
    assert_eq!(status, 200, "{got}");
    let u = &got["user"];
    assert_eq!(u["id"], id.as_str());
    assert_eq!(u["externalId"], "ann");
    assert_eq!(u["profile"], json!({}));
    assert_eq!(u["metadata"], json!({}));
    assert_eq!(u["identities"], json!([]));
    assert_eq!(u["signedUpAt"], "2021-01-01T00:00:00.000Z");
    let (_, fetched) = app.account("GET", &user(&app_id, &id), None).await;
    assert_eq!(fetched["user"], *u);
    let (_, found) = app.account("GET", &format!("{}?filter[identities.email]=ann@example.com", users(&app_id)), None).await;
    assert_eq!(found["users"], json!([]), "the scrubbed identity is not searchable");
}

#[tokio::test]
async fn use_animal_names_gives_an_unnamed_user_a_stable_name() {
    let app = TestApp::spawn().await;
    let (_, created) = app.account("POST", "/v2/apps", Some(json!({"displayName": "Zoo", "settings": {"useAnimalNames": true}}))).await;
    let zoo = created["app"]["id"].as_str().unwrap().to_string();
    let (status, got) = app.account("POST", &users(&zoo), Some(json!({}))).await;
    assert_eq!(status, 201);
    let profile = got["user"]["profile"].clone();
    let given = profile["givenName"].as_str().unwrap_or_else(|| panic!("{got}"));
    let surname = profile["surname"].as_str().unwrap_or_else(|| panic!("{got}"));
    assert!(!given.is_empty() && !surname.is_empty());
    let id = got["user"]["id"].as_str().unwrap();
    for _ in 0..2 {
        let (_, again) = app.account("GET", &user(&zoo, id), None).await;
        assert_eq!(again["user"]["profile"], profile, "stable");
    }
    // Updating something else keeps the name.
    let (_, updated) = app.account("PATCH", &user(&zoo, id), Some(json!({"metadata": {"x": 1}}))).await;
    assert_eq!(updated["user"]["profile"], profile);
    // A user who brings a name keeps it.
    let (_, named) = app.account("POST", &users(&zoo), Some(json!({"profile": {"givenName": "Ann"}}))).await;
    assert_eq!(named["user"]["profile"], json!({"givenName": "Ann"}));
    // Without the setting, no name is made up.
    let plain = app.create_app("Plain").await;
    let (_, got) = app.account("POST", &users(&plain), Some(json!({}))).await;
    assert_eq!(got["user"]["profile"], json!({}));
}

#[tokio::test]
async fn delete_user_then_get_is_404_and_the_external_id_is_free_again() {
    let app = TestApp::spawn().await;
    let app_id = app.create_app("Shop").await;
    let by_id = app.create_user(&app_id, Some("gone")).await;
    let by_ext = app.create_user(&app_id, Some("also-gone")).await;
    let stays = app.create_user(&app_id, Some("stays")).await;

    let (status, got) = app.account("DELETE", &user(&app_id, &by_id), None).await;
    assert_eq!((status, got), (200, json!({})));
    let (status, got) = app.account("DELETE", &user(&app_id, "also-gone"), None).await;
    assert_eq!((status, got), (200, json!({})));
    for who in [by_id.as_str(), "gone", by_ext.as_str(), "also-gone"] {
        let (status, got) = app.account("GET", &user(&app_id, who), None).await;
        assert_error(status, &got, 404, "user_not_found");
        let (status, got) = app.account("DELETE", &user(&app_id, who), None).await;
        assert_error(status, &got, 404, "user_not_found");
    }
    let (_, got) = app.account("GET", &user(&app_id, "stays"), None).await;
    assert_eq!(got["user"]["id"], stays.as_str());
    // The externalId can be used again, by a new user.
    let (status, got) = app.account("POST", &users(&app_id), Some(json!({"externalId": "gone"}))).await;
    assert_eq!(status, 201, "{got}");
    assert_ne!(got["user"]["id"], by_id.as_str());
}
