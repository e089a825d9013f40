//! OAuth Endpoints: Authorize (`GET /oauth/authorize`, then the consent page at
//! `/oauth/consent`), GetToken (`POST /oauth/token`), RevokeAccess
//! (`DELETE /oauth/authorization`), and GetTokenInfo (`GET /v2/tokenInfo`) for every kind
//! of credential. The flow is described in `domain::oauth`.
//!
//! The hosted service authenticates the account owner with its browser session; Sunbeam
//! has no sessions, so the consent form asks for a key that may decide for the app (an
//! account key, or a key of that app) and uses it for that one request.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use std::collections::HashMap;

use super::error::{ApiError, ApiResult};
use super::extract::{Caller, QueryMap};
use super::AppState;
use crate::domain::auth::{authenticate, Credentials, KeyOwner};
use crate::domain::error::DomainError;
use crate::domain::oauth::{access_token_claims, consent_page, error_page, mint_access_token, redirect_with, Consent, OAuthClient};
use crate::domain::time::now_ms;
use crate::store::StoreError;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/oauth/authorize", get(authorize))
        .route("/oauth/consent", get(consent).post(decide))
        .route("/oauth/token", post(token))
        .route("/oauth/authorization", delete(revoke))
        .route("/v2/tokenInfo", get(token_info))
}

/// An HTML page with the headers a page that takes secrets needs.
fn html(status: StatusCode, body: String) -> Response {
    let mut res = (status, body).into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // The form posts here and is then redirected to the partner, so no form-action.
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"));
    res
}

/// `302 Found` to `location`, with the spec's plain-text body.
fn found(location: &str) -> Response {
    let mut res = (StatusCode::FOUND, format!("Found. Redirecting to {location}")).into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(v) = HeaderValue::from_str(location) {
        h.insert(header::LOCATION, v);
    }
    res
}

/// The partner and the redirect URI a request names, or the page explaining why not.
async fn partner(s: &AppState, client_id: Option<&str>, redirect_uri: Option<&str>) -> Result<(OAuthClient, String), Response> {
    let bad = |m: &str| html(StatusCode::BAD_REQUEST, error_page(m));
    let Some(client_id) = client_id.filter(|c| !c.is_empty()) else { return Err(bad("client_id is required.")) };
    let client = match s.store.oauth_client(client_id).await {
        Ok(Some(c)) => c,
        Ok(None) => return Err(bad("This client_id is not registered on this server.")),
        Err(e) => return Err(ApiError::from(e).into_response()),
    };
    match client.redirect_uri(redirect_uri) {
        Ok(uri) => Ok((client, uri)),
        Err(DomainError::Invalid(m)) => Err(bad(&format!("{}.", m.join("; ")))),
        Err(e) => Err(bad(&e.to_string())),
    }
}

async fn authorize(State(s): State<AppState>, q: QueryMap) -> Response {
    let (client, redirect_uri) = match partner(&s, q.get("client_id"), q.get("redirect_uri")).await {
        Ok(p) => p,
        Err(page) => return page,
    };
    let state = q.get("state");
    if q.get("response_type") != Some("code") {
        return found(&redirect_with(&redirect_uri, &[("error", Some("unsupported_response_type")), ("state", state)]));
    }
    let consent = redirect_with(
        "http://consent.invalid/oauth/consent",
        &[("client_id", Some(&client.client_id)), ("redirect_uri", Some(&redirect_uri)), ("state", state)],
    );
    // Relative to this server: only the path and query of the placeholder are kept.
    let location = consent.strip_prefix("http://consent.invalid").unwrap_or("/oauth/consent").to_string();
    found(&location)
}

async fn consent(State(s): State<AppState>, q: QueryMap) -> Response {
    match partner(&s, q.get("client_id"), q.get("redirect_uri")).await {
        Ok((client, redirect_uri)) => {
            let page = consent_page(&Consent { client: &client, redirect_uri: &redirect_uri, state: q.get("state"), app_id: q.get("app_id"), error: None });
            html(StatusCode::OK, page)
        }
        Err(page) => page,
    }
}

/// The consent form's answer: deny, or prove the right to decide for the app and get a
/// code sent back to the partner.
async fn decide(State(s): State<AppState>, body: Bytes) -> Response {
    let form: HashMap<String, String> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    // NUL is not text (`validate::NUL_TEXT`): a field holding it reads as not given.
    let f = |k: &str| form.get(k).map(String::as_str).filter(|v| !v.is_empty() && !v.contains('\0'));
    let (client, redirect_uri) = match partner(&s, f("client_id"), f("redirect_uri")).await {
        Ok(p) => p,
        Err(page) => return page,
    };
    let state = f("state");
    if f("decision") != Some("allow") {
        return found(&redirect_with(&redirect_uri, &[("error", Some("access_denied")), ("state", state)]));
    }
    let refuse = |status: StatusCode, message: &str| {
        html(status, consent_page(&Consent { client: &client, redirect_uri: &redirect_uri, state, app_id: f("app_id"), error: Some(message) }))
    };
    let (Some(app_id), Some(key_id), Some(secret)) = (f("app_id"), f("key_id"), f("key_secret")) else {
        return refuse(StatusCode::BAD_REQUEST, "The app id, key id and key secret are all required.");
    };
    let cannot = "Those credentials cannot approve access to that app.";
    let grant = match s.store.find_key_grant(key_id).await {
        Ok(Some(g)) => g,
        Ok(None) => return refuse(StatusCode::UNAUTHORIZED, cannot),
        Err(e) => return ApiError::from(e).into_response(),
    };
    let credentials = Credentials::Basic { key_id: key_id.to_string(), secret: secret.to_string() };
    let may_decide = match authenticate(&credentials, &grant) {
        Ok(p) => match &p.owner {
            KeyOwner::Account => true,
            KeyOwner::App { app_id: own } => own == app_id,
            KeyOwner::Integration { .. } => false,
        },
        Err(_) => false,
    };
    if !may_decide {
        return refuse(StatusCode::UNAUTHORIZED, cannot);
    }
    match s.store.get_app(app_id).await {
        Ok(_) => {}
        Err(StoreError::Domain(DomainError::NotFound(..))) => return refuse(StatusCode::NOT_FOUND, "There is no app with that id."),
        Err(e) => return ApiError::from(e).into_response(),
    }
    match s.store.issue_oauth_code(&client.client_id, app_id, &redirect_uri).await {
        Ok(code) => found(&redirect_with(&redirect_uri, &[("code", Some(&code)), ("state", state)])),
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// GetToken's body: JSON as the spec says, or a form as OAuth clients send it.
fn token_fields(headers: &HeaderMap, body: &[u8]) -> ApiResult<HashMap<String, String>> {
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_ascii_lowercase();
    if ct.starts_with("application/x-www-form-urlencoded") {
        return serde_urlencoded::from_bytes(body).map_err(|_| ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", "The form body could not be read"));
    }
    let value: Value = serde_json::from_slice(body).map_err(|_| ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", "The body must be a JSON object"))?;
    let Value::Object(map) = value else { return Err(ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", "The body must be a JSON object")) };
    let mut out = HashMap::new();
    for (k, v) in map {
        match v {
            Value::String(s) => {
                out.insert(k, s);
            }
            Value::Null => {}
            _ => return Err(ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", format!("{k} must be a string"))),
        }
    }
    Ok(out)
}

async fn token(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> ApiResult<Response> {
    let fields = token_fields(&headers, &body)?;
    if let Some((k, _)) = fields.iter().find(|(k, v)| k.contains('\0') || v.contains('\0')) {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", format!("{} {}", k.replace('\0', ""), crate::domain::validate::NUL_TEXT)));
    }
    let f = |k: &str| fields.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let missing: Vec<&str> = ["code", "grant_type", "client_id", "client_secret"].into_iter().filter(|k| f(k).is_none()).collect();
    if !missing.is_empty() {
        let errors = missing.iter().map(|k| ("invalid_request".to_string(), format!("{k} is required"))).collect();
        return Err(ApiError::many(StatusCode::BAD_REQUEST, errors));
    }
    if f("grant_type") != Some("authorization_code") {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "unsupported_grant_type", "grant_type must be authorization_code"));
    }
    let (client_id, secret, code) = (f("client_id").unwrap_or(""), f("client_secret").unwrap_or(""), f("code").unwrap_or(""));
    let grant = s.store.exchange_oauth_code(client_id, secret, code).await.map_err(|e| match e {
        StoreError::Domain(DomainError::Unauthorized(t)) => ApiError::new(StatusCode::UNAUTHORIZED, "invalid_client", t),
        StoreError::Domain(DomainError::Rule(t)) => ApiError::new(StatusCode::BAD_REQUEST, "invalid_grant", t),
        other => other.into(),
    })?;
    let claims = access_token_claims(&grant.app_id, client_id, now_ms());
    let token = mint_access_token(&grant.key_id, &grant.key_secret, &claims);
    let mut res = Json(json!({ "access_token": token, "token_type": "Bearer" })).into_response();
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}

async fn revoke(State(s): State<AppState>, Caller(caller): Caller) -> ApiResult<Json<Value>> {
    let KeyOwner::Integration { app_id, integration_id } = &caller.owner else {
        return Err(DomainError::Forbidden("RevokeAccess takes the integration's own credentials (integration scope)".into()).into());
    };
    if let Some(url) = s.store.revoke_oauth_integration(app_id, integration_id).await? {
        notify_removed(url, app_id.clone(), integration_id.clone());
    }
    Ok(Json(json!({})))
}

/// Tells the partner's `removeUrl`, once and best effort, that its access is gone.
fn notify_removed(url: String, app_id: String, integration_id: String) {
    tokio::spawn(async move {
        let client = reqwest::Client::builder().timeout(std::time::Duration::from_secs(10)).redirect(reqwest::redirect::Policy::none()).build();
        let Ok(client) = client else { return };
        let body = json!({ "appId": app_id, "integrationId": integration_id });
        if let Err(e) = client.post(&url).json(&body).send().await {
            tracing::warn!(error = %e, "oauth: the partner's removeUrl could not be told");
        }
    });
}

/// GetTokenInfo: the app the credentials are bound to (an app key, an integration key,
/// a JWT signed by either, an OAuth access token). Account keys reach every app.
async fn token_info(State(s): State<AppState>, Caller(caller): Caller) -> ApiResult<Json<Value>> {
    let app_id = match &caller.owner {
        KeyOwner::App { app_id } | KeyOwner::Integration { app_id, .. } => app_id,
        KeyOwner::Account => {
            return Err(ApiError::bad_request("Account credentials are not bound to one app: tokenInfo describes the app of an app, integration or OAuth credential"))
        }
    };
    // Without `subdomain`: the spec types it as a string, and a self-hosted app has no
    // Zendesk subdomain (as GetApp leaves it out).
    let app = s.store.get_app(app_id).await?;
    Ok(Json(json!({ "app": app })))
}
