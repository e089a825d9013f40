//! The end-user SDK API (sdk-protocol §4) under `/sdk/v2/…`, on the same store as the
//! business API. Its own credentials (session token or user JWT — never accepted by
//! `/v2`), its own error shape `{"error":{"code","description"}}`, and CORS for the
//! SDK's headers.

use axum::extract::{FromRequest, FromRequestParts, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderName, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde_json::{json, Value};
use tower_http::cors::{Any, CorsLayer};

use super::error::ApiError;
use super::extract::{JsonBody, QueryMap};
use super::paging::base_url;
use super::AppState;
use crate::domain::app::App;
use crate::domain::auth::{verify_end_user, EndUserRefusal};
use crate::domain::conversation::{update_details, Conversation, ConversationDetails, ConversationKind, NewConversation, UserRef};
use crate::domain::error::{DomainError, Resource};
use crate::domain::ids::{is_id, new_id};
use crate::domain::integration::is_sdk;
use crate::domain::message::content::{parse_content, ContentOrigin};
use crate::domain::message::{ActivityKind, AuthorInput, NewActivity, NewMessage};
use crate::domain::sdk::{self as wire, Before, ClientInput, EndUserCredentials, SdkClient};
use crate::domain::time::now_ms;
use crate::domain::user::{new_user, User};
use crate::store::messages::MessageCursor;
use crate::store::StoreError;

/// Messages in one page of SDK history (`GET …/messages?before=<seconds>`).
const MESSAGES_PAGE: i64 = 100;
/// Conversations in one page of an SDK user's list (`offset` paging).
const CONVERSATIONS_PAGE: i64 = 10;

/// CORS for every SDK route (this module's and the SDK file upload's): any origin, the
/// SDK's own `x-smooch-*` headers.
pub(super) fn sdk_cors() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE, Method::OPTIONS])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::ACCEPT,
            HeaderName::from_static("x-smooch-appid"),
            HeaderName::from_static("x-smooch-clientid"),
            HeaderName::from_static("x-smooch-sdk"),
        ])
        .max_age(std::time::Duration::from_secs(600))
}

pub fn router() -> Router<AppState> {
    let cors = sdk_cors();
    Router::new()
        .route("/sdk/v2/integrations/{integration_id}/config", get(config).options(preflight))
        .route("/sdk/v2/apps/{app_id}/appusers", post(create_app_user).options(preflight))
        .route("/sdk/v2/apps/{app_id}/appusers/{user_id}", get(get_app_user).put(update_app_user).options(preflight))
        .route("/sdk/v2/apps/{app_id}/login", post(login).options(preflight))
        .route("/sdk/v2/apps/{app_id}/appusers/{user_id}/logout", post(logout).options(preflight))
        .route("/sdk/v2/apps/{app_id}/appusers/{user_id}/conversations", get(list_conversations).post(create_conversation).options(preflight))
        .route("/sdk/v2/apps/{app_id}/appusers/{user_id}/conversation", post(start_conversation).options(preflight))
        .route("/sdk/v2/apps/{app_id}/appusers/{user_id}/clients/{client_id}", put(put_client).options(preflight))
        .route("/sdk/v2/apps/{app_id}/conversations/{conversation_id}", get(get_conversation).put(update_conversation).options(preflight))
        .route("/sdk/v2/apps/{app_id}/conversations/{conversation_id}/subscribe", post(subscribe).options(preflight))
        .route("/sdk/v2/apps/{app_id}/conversations/{conversation_id}/messages", get(list_messages).post(post_message).options(preflight))
        .route("/sdk/v2/apps/{app_id}/conversations/{conversation_id}/activity", post(post_activity).options(preflight))
        .route("/sdk/v2/apps/{app_id}/conversations/{conversation_id}/postback", post(postback).options(preflight))
        .layer(cors)
}

/// Preflights are answered by the CORS layer; this only gives OPTIONS a route to reach it.
pub(super) async fn preflight() -> StatusCode {
    StatusCode::NO_CONTENT
}

// ---- errors ----

/// The SDK's error body: `{"error":{"code","description"}}`. Domain and store errors take
/// their status, code and text from the one mapping (`http/error.rs`); only the SDK's own
/// credential answers (`invalid_auth`, `forbidden`) are made here.
#[derive(Debug)]
pub struct SdkError {
    status: StatusCode,
    code: String,
    description: String,
    /// Seconds for `Retry-After` (429, 503).
    retry_after: Option<u64>,
}

impl SdkError {
    fn new(status: StatusCode, code: &str, description: impl Into<String>) -> Self {
        SdkError { status, code: code.into(), description: description.into(), retry_after: None }
    }
    fn unauthorized(description: &str) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "invalid_auth", description)
    }
    fn forbidden(description: &str) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", description)
    }
    fn not_found(resource: Resource) -> Self {
        DomainError::not_found(resource).into()
    }
    fn bad_request(description: &str) -> Self {
        DomainError::Rule(description.into()).into()
    }
}

/// A refused user JWT: 401 `invalid_auth` (the 5.x client then asks the page for a fresh
/// JWT), but 403 `forbidden` "Invalid scope" for an authentic token of a scope that is not
/// an end user's (sdk-protocol §3).
impl From<EndUserRefusal> for SdkError {
    fn from(r: EndUserRefusal) -> Self {
        match r {
            EndUserRefusal::NotUserScope => SdkError::forbidden(&r.to_string()),
            EndUserRefusal::Invalid
            | EndUserRefusal::BadSignature
            | EndUserRefusal::Expired
            | EndUserRefusal::NotYetValid
            | EndUserRefusal::NotAnAppKey
            | EndUserRefusal::OtherApp
            | EndUserRefusal::MissingExternalId => SdkError::unauthorized(&r.to_string()),
        }
    }
}

impl From<ApiError> for SdkError {
    fn from(e: ApiError) -> Self {
        let (code, title) = e.errors.into_iter().next().unwrap_or_else(|| ("internal_error".into(), "Something went wrong".into()));
        let code = if e.status == StatusCode::UNAUTHORIZED { "invalid_auth".to_string() } else { code };
        SdkError { status: e.status, code, description: title, retry_after: e.retry_after }
    }
}

impl From<DomainError> for SdkError {
    fn from(e: DomainError) -> Self {
        ApiError::from(e).into()
    }
}

impl From<StoreError> for SdkError {
    fn from(e: StoreError) -> Self {
        ApiError::from(e).into()
    }
}

impl IntoResponse for SdkError {
    fn into_response(self) -> Response {
        let mut res = (self.status, Json(json!({ "error": { "code": self.code, "description": self.description } }))).into_response();
        if let Some(seconds) = self.retry_after {
            res.headers_mut().insert(header::RETRY_AFTER, seconds.into());
        }
        res
    }
}

type SdkResult<T> = Result<T, SdkError>;

// ---- extractors ----

/// A JSON body (empty reads as `{}`), refused in the SDK's error shape.
struct Body(Value);

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = SdkError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        JsonBody::from_request(req, state).await.map(|JsonBody(v)| Body(v)).map_err(SdkError::from)
    }
}

/// The SDK's headers and credentials (§3), not yet checked against any user.
pub(super) struct Sdk {
    app_id: Option<String>,
    client_id: Option<String>,
    sdk: Option<String>,
    credentials: Option<EndUserCredentials>,
}

impl<S: Send + Sync> FromRequestParts<S> for Sdk {
    type Rejection = SdkError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let h = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty()).map(str::to_string);
        let credentials = match parts.headers.get(header::AUTHORIZATION) {
            None => None,
            Some(v) => {
                let v = v.to_str().map_err(|_| SdkError::unauthorized("Invalid authorization header"))?;
                Some(wire::parse_end_user_auth(v).map_err(SdkError::from)?)
            }
        };
        Ok(Sdk { app_id: h("x-smooch-appid"), client_id: h("x-smooch-clientid"), sdk: h("x-smooch-sdk"), credentials })
    }
}

/// Who the credentials prove.
enum EndUser {
    Anonymous(User),
    /// An identified user by externalId (the user may not exist yet).
    Identified(String),
}

impl Sdk {
    fn check_app(&self, app_id: &str) -> SdkResult<()> {
        match &self.app_id {
            Some(a) if a != app_id => Err(SdkError::bad_request("x-smooch-appid does not match the app of the path")),
            _ => Ok(()),
        }
    }

    fn client(&self, body: &Value) -> SdkResult<Option<ClientInput>> {
        Ok(wire::read_client(body, self.client_id.as_deref(), self.sdk.as_deref())?)
    }

    /// Verifies the credentials for `app_id`.
    async fn authenticate(&self, s: &AppState, app_id: &str) -> SdkResult<EndUser> {
        self.check_app(app_id)?;
        match &self.credentials {
            None => Err(SdkError::unauthorized("Authorization is required")),
            Some(EndUserCredentials::Session { app_user_id, token }) => {
                if !is_id(app_user_id) || !s.store.check_session(app_id, app_user_id, token).await? {
                    return Err(SdkError::unauthorized("Invalid session token"));
                }
                s.guard.rates.check_user(app_id, app_user_id)?;
                let user = s.store.get_user(app_id, app_user_id).await?;
                Ok(EndUser::Anonymous(user))
            }
            Some(EndUserCredentials::Jwt(jwt)) => {
                let grant = s.store.find_key_grant(&jwt.key_id).await?.ok_or_else(|| SdkError::unauthorized("Invalid JWT: unknown key"))?;
                let user = verify_end_user(jwt, &grant, app_id)?;
                s.guard.rates.check_user(app_id, &user.external_id)?;
                Ok(EndUser::Identified(user.external_id))
            }
        }
    }

    /// The authenticated user, which must exist (and be `path_user` when given).
    async fn user(&self, s: &AppState, app_id: &str, path_user: Option<&str>) -> SdkResult<User> {
        let user = match self.authenticate(s, app_id).await? {
            EndUser::Anonymous(u) => u,
            EndUser::Identified(external_id) => s
                .store
                .user_by_external_id(app_id, &external_id)
                .await?
                .ok_or_else(|| SdkError::not_found(Resource::User))?,
        };
        if let Some(p) = path_user {
            if p != user.id && user.external_id.as_deref() != Some(p) {
                return Err(SdkError::unauthorized("These credentials do not grant access to this user"));
            }
        }
        Ok(user)
    }

    /// The authenticated user and a conversation it takes part in.
    pub(super) async fn conversation(&self, s: &AppState, app_id: &str, conversation_id: &str) -> SdkResult<(User, Conversation)> {
        let user = self.user(s, app_id, None).await?;
        if !is_id(conversation_id) || !s.store.is_participant(conversation_id, &user.id).await? {
            return Err(SdkError::not_found(Resource::Conversation));
        }
        let conversation = s.store.get_conversation(app_id, conversation_id).await?;
        Ok((user, conversation))
    }
}

// ---- shared response pieces ----

async fn get_app(s: &AppState, app_id: &str) -> SdkResult<App> {
    if !is_id(app_id) {
        return Err(SdkError::not_found(Resource::App));
    }
    Ok(s.store.get_app(app_id).await?)
}

async fn conversation_json(s: &AppState, c: &Conversation, with_last: bool) -> SdkResult<Value> {
    let participants = s.store.sdk_participants(&c.id).await?;
    let last: Vec<Value> = if with_last { s.store.last_message(&c.id).await?.into_iter().collect() } else { Vec::new() };
    Ok(wire::sdk_conversation(c, &participants, Some(&last)))
}

/// `appUser`, `conversations`, `settings` (and `sessionToken` when given).
async fn user_response(s: &AppState, headers: &HeaderMap, user: &User, session_token: Option<String>) -> SdkResult<Value> {
    let clients = s.store.sdk_clients(&user.id).await?;
    let (conversations, has_more) = s.store.sdk_user_conversations(&user.id, 0, CONVERSATIONS_PAGE).await?;
    let mut list = Vec::with_capacity(conversations.len());
    for c in &conversations {
        list.push(conversation_json(s, c, true).await?);
    }
    let mut out = json!({
        "appUser": wire::app_user(user, &clients, !conversations.is_empty()),
        "conversations": list,
        "hasMore": has_more,
        "settings": wire::settings(&format!("{}{}", base_url(s, headers), super::faye::PATH)),
    });
    if let Some(t) = session_token {
        out["sessionToken"] = json!(t);
    }
    Ok(out)
}

/// Has the user any conversation yet? (One row tells.)
async fn has_conversation(s: &AppState, user: &User) -> SdkResult<bool> {
    Ok(!s.store.sdk_user_conversations(&user.id, 0, 1).await?.0.is_empty())
}

fn source_for(client: Option<&SdkClient>, body: &Value) -> Value {
    let integration = body["client"]["integrationId"].as_str().or_else(|| body["author"]["client"]["integrationId"].as_str());
    wire::message_source(client, integration)
}

async fn current_client(s: &AppState, sdk: &Sdk, user: &User, body: &Value) -> SdkResult<Option<SdkClient>> {
    let Some(input) = sdk.client(body)? else { return Ok(None) };
    if let Some(c) = s.store.sdk_client(&user.id, &input.client_id).await? {
        return Ok(Some(c));
    }
    Ok(Some(SdkClient::new(&input, now_ms())))
}

async fn new_personal_conversation(s: &AppState, app_id: &str, user: &User, details: ConversationDetails) -> SdkResult<Conversation> {
    let (c, _) = s
        .store
        .create_conversation(app_id, NewConversation { kind: ConversationKind::Personal, participants: vec![UserRef::Id(user.id.clone())], details })
        .await?;
    Ok(c)
}

// ---- handlers ----

async fn config(State(s): State<AppState>, Path(integration_id): Path<String>, headers: HeaderMap) -> SdkResult<Json<Value>> {
    let not_found = || SdkError::not_found(Resource::Integration);
    if !is_id(&integration_id) {
        return Err(not_found());
    }
    let app_id = s.store.integration_app(&integration_id).await?;
    let integration = s.store.get_integration(&app_id, &integration_id).await?;
    if !is_sdk(&integration.kind) {
        return Err(not_found());
    }
    let app = s.store.get_app(&app_id).await?;
    let mut shown = integration.to_wire(None);
    shown["_id"] = json!(integration.id);
    let base = base_url(&s, &headers);
    Ok(Json(json!({
        "config": {
            "app": {
                "_id": app.id,
                "name": app.display_name,
                "status": "active",
                "iconUrl": null,
                "settings": { "multiConvoEnabled": app.settings.multi_convo_enabled },
            },
            "baseUrl": { "web": base, "ios": base, "android": base },
            "integration": shown,
            "integrations": [],
            "restRetryPolicy": {
                "intervals": { "regular": 60, "aggressive": 15 },
                "backoffMultiplier": 2,
                "maxRetries": 5,
            },
        },
    })))
}

async fn create_app_user(State(s): State<AppState>, sdk: Sdk, Path(app_id): Path<String>, headers: HeaderMap, Body(body): Body) -> SdkResult<(StatusCode, Json<Value>)> {
    sdk.check_app(&app_id)?;
    let app = get_app(&s, &app_id).await?;
    let client = sdk.client(&body)?;
    let user_id = body["userId"].as_str().filter(|u| !u.is_empty());
    let fresh = new_user(new_id(), now_ms(), json!({}), app.settings.use_animal_names)?;
    let fresh = wire::update_app_user(&fresh, &body)?;
    let (user, token) = match user_id {
        // An identified user is created through its JWT, as a login would.
        Some(external_id) => {
            match sdk.authenticate(&s, &app_id).await? {
                EndUser::Identified(e) if e == external_id => {}
                _ => return Err(SdkError::unauthorized("A user with a userId must be created with a JWT for that userId")),
            }
            let source = json!({ "type": client.as_ref().map(|c| c.platform.as_str()).unwrap_or("web") });
            let outcome = s.store.sdk_login(&app_id, external_id, None, client, fresh, source).await?;
            (outcome.user, None)
        }
        None => {
            let (user, token, _) = s.store.sdk_create_user(&app_id, fresh, client).await?;
            (user, Some(token))
        }
    };
    let mut conversation = None;
    if body["intent"].as_str().is_some_and(|i| !i.is_empty()) && !has_conversation(&s, &user).await? {
        conversation = Some(new_personal_conversation(&s, &app_id, &user, ConversationDetails::default()).await?);
    }
    let mut out = user_response(&s, &headers, &user, token).await?;
    if let Some(c) = &conversation {
        out["conversation"] = conversation_json(&s, c, false).await?;
        out["messages"] = json!([]);
    }
    Ok((StatusCode::CREATED, Json(out)))
}

async fn get_app_user(State(s): State<AppState>, sdk: Sdk, Path((app_id, user_id)): Path<(String, String)>, headers: HeaderMap) -> SdkResult<Json<Value>> {
    let user = sdk.user(&s, &app_id, Some(&user_id)).await?;
    Ok(Json(user_response(&s, &headers, &user, None).await?))
}

async fn update_app_user(State(s): State<AppState>, sdk: Sdk, Path((app_id, user_id)): Path<(String, String)>, Body(body): Body) -> SdkResult<Json<Value>> {
    let user = sdk.user(&s, &app_id, Some(&user_id)).await?;
    // Checked against the copy just read (400 before any write), then applied to the row
    // as the transaction reads it, so concurrent updates keep each other's fields.
    wire::update_app_user(&user, &body)?;
    let saved = s.store.update_user(&app_id, &user.id, move |current| wire::update_app_user(current, &body)).await?;
    let clients = s.store.sdk_clients(&saved.id).await?;
    let started = has_conversation(&s, &saved).await?;
    Ok(Json(json!({ "appUser": wire::app_user(&saved, &clients, started) })))
}

async fn login(State(s): State<AppState>, sdk: Sdk, Path(app_id): Path<String>, headers: HeaderMap, Body(body): Body) -> SdkResult<Json<Value>> {
    let app = get_app(&s, &app_id).await?;
    let external_id = match sdk.authenticate(&s, &app_id).await? {
        EndUser::Identified(e) => e,
        EndUser::Anonymous(_) => return Err(SdkError::unauthorized("Login needs a user JWT")),
    };
    let parsed = wire::parse_login(&body);
    if parsed.user_id.as_deref().is_some_and(|u| u != external_id) {
        return Err(SdkError::unauthorized("The JWT is not for this userId"));
    }
    let client = sdk.client(&body)?;
    let source = json!({ "type": client.as_ref().map(|c| c.platform.as_str()).unwrap_or("web"), "integrationId": client.as_ref().and_then(|c| c.integration_id.clone()) });
    let fresh = new_user(new_id(), now_ms(), json!({}), app.settings.use_animal_names)?;
    let outcome = s.store.sdk_login(&app_id, &external_id, parsed.anonymous, client, fresh, source).await?;
    Ok(Json(user_response(&s, &headers, &outcome.user, None).await?))
}

async fn logout(State(s): State<AppState>, sdk: Sdk, Path((app_id, user_id)): Path<(String, String)>, Body(body): Body) -> SdkResult<Json<Value>> {
    let user = sdk.user(&s, &app_id, Some(&user_id)).await?;
    let client = sdk.client(&body)?;
    let source = json!({ "type": client.as_ref().map(|c| c.platform.as_str()).unwrap_or("web") });
    s.store.sdk_logout(&app_id, &user.id, client.map(|c| c.client_id), source).await?;
    Ok(Json(json!({})))
}

async fn list_conversations(State(s): State<AppState>, sdk: Sdk, Path((app_id, user_id)): Path<(String, String)>, q: QueryMap) -> SdkResult<Json<Value>> {
    let user = sdk.user(&s, &app_id, Some(&user_id)).await?;
    let offset = match q.get("offset") {
        None => 0,
        Some(o) => o.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| SdkError::bad_request("offset must be a non-negative integer"))?,
    };
    let (conversations, has_more) = s.store.sdk_user_conversations(&user.id, offset, CONVERSATIONS_PAGE).await?;
    let mut list = Vec::with_capacity(conversations.len());
    for c in &conversations {
        list.push(conversation_json(&s, c, true).await?);
    }
    Ok(Json(json!({ "conversations": list, "hasMore": has_more })))
}

async fn create_conversation(State(s): State<AppState>, sdk: Sdk, Path((app_id, user_id)): Path<(String, String)>, Body(body): Body) -> SdkResult<(StatusCode, Json<Value>)> {
    let app = get_app(&s, &app_id).await?;
    let user = sdk.user(&s, &app_id, Some(&user_id)).await?;
    if has_conversation(&s, &user).await? && !app.settings.multi_convo_enabled {
        return Err(SdkError::forbidden("Creating more conversations needs multiConvoEnabled"));
    }
    let mut fields = serde_json::Map::new();
    for k in ["displayName", "description", "iconUrl", "metadata"] {
        if let Some(v) = body.get(k) {
            fields.insert(k.into(), v.clone());
        }
    }
    let details = update_details(&ConversationDetails::default(), Value::Object(fields))?;
    let c = new_personal_conversation(&s, &app_id, &user, details).await?;
    Ok((StatusCode::CREATED, Json(json!({ "conversation": conversation_json(&s, &c, false).await? }))))
}

/// The singular form: the user's default conversation, started if needed.
async fn start_conversation(State(s): State<AppState>, sdk: Sdk, Path((app_id, user_id)): Path<(String, String)>) -> SdkResult<Json<Value>> {
    let user = sdk.user(&s, &app_id, Some(&user_id)).await?;
    let (existing, _) = s.store.sdk_user_conversations(&user.id, 0, CONVERSATIONS_PAGE).await?;
    let c = match existing.into_iter().find(|c| c.is_default) {
        Some(c) => c,
        None => new_personal_conversation(&s, &app_id, &user, ConversationDetails::default()).await?,
    };
    Ok(Json(json!({ "conversation": conversation_json(&s, &c, false).await?, "messages": [] })))
}

async fn put_client(State(s): State<AppState>, sdk: Sdk, Path((app_id, user_id, client_id)): Path<(String, String, String)>, Body(mut body): Body) -> SdkResult<Json<Value>> {
    let user = sdk.user(&s, &app_id, Some(&user_id)).await?;
    if !body["client"].is_object() {
        body["client"] = json!({});
    }
    body["client"]["id"] = json!(client_id);
    for k in ["integrationId", "pushNotificationToken", "platform", "info"] {
        if let Some(v) = body.get(k).cloned() {
            body["client"][k] = v;
        }
    }
    let input = sdk.client(&body)?.ok_or_else(|| SdkError::bad_request("client id is required"))?;
    let client = s.store.sdk_touch_client(&app_id, &user, input).await?;
    Ok(Json(json!({ "client": client.to_sdk() })))
}

/// A conversation with its newest page of messages (oldest first).
async fn conversation_page(s: &AppState, app_id: &str, c: &Conversation) -> SdkResult<Value> {
    let page = s.store.list_messages(app_id, &c.id, &MessageCursor::Newest).await?;
    let participants = s.store.sdk_participants(&c.id).await?;
    Ok(json!({
        "conversation": wire::sdk_conversation(c, &participants, None),
        "messages": page.items.iter().map(wire::sdk_message).collect::<Vec<_>>(),
        "hasPrevious": page.has_more,
        "previous": page.before_cursor,
        "hasNext": false,
        "next": null,
    }))
}

async fn get_conversation(State(s): State<AppState>, sdk: Sdk, Path((app_id, conversation_id)): Path<(String, String)>) -> SdkResult<Json<Value>> {
    let (_, c) = sdk.conversation(&s, &app_id, &conversation_id).await?;
    Ok(Json(conversation_page(&s, &app_id, &c).await?))
}

async fn update_conversation(State(s): State<AppState>, sdk: Sdk, Path((app_id, conversation_id)): Path<(String, String)>, Body(body): Body) -> SdkResult<Json<Value>> {
    let (_, c) = sdk.conversation(&s, &app_id, &conversation_id).await?;
    let mut fields = serde_json::Map::new();
    for k in ["displayName", "description", "iconUrl", "metadata"] {
        if let Some(v) = body.get(k) {
            fields.insert(k.into(), v.clone());
        }
    }
    let fields = Value::Object(fields);
    update_details(&c.details, fields.clone())?;
    let c = s.store.patch_conversation(&app_id, &c.id, move |current| update_details(current, fields)).await?;
    Ok(Json(json!({ "conversation": conversation_json(&s, &c, false).await? })))
}

/// Loads a conversation the user takes part in (joining others is not offered).
async fn subscribe(State(s): State<AppState>, sdk: Sdk, Path((app_id, conversation_id)): Path<(String, String)>) -> SdkResult<Json<Value>> {
    let (_, c) = sdk.conversation(&s, &app_id, &conversation_id).await?;
    Ok(Json(conversation_page(&s, &app_id, &c).await?))
}

async fn list_messages(State(s): State<AppState>, sdk: Sdk, Path((app_id, conversation_id)): Path<(String, String)>, q: QueryMap) -> SdkResult<Json<Value>> {
    let (_, c) = sdk.conversation(&s, &app_id, &conversation_id).await?;
    let (items, has_more) = match q.get("before").filter(|b| !b.is_empty()).map(wire::parse_before).transpose()? {
        None => {
            let page = s.store.list_messages(&app_id, &c.id, &MessageCursor::Newest).await?;
            (page.items, page.has_more)
        }
        Some(Before::Id(id)) => {
            let page = s.store.list_messages(&app_id, &c.id, &MessageCursor::Before(id)).await?;
            (page.items, page.has_more)
        }
        Some(Before::Ms(ms)) => s.store.messages_before_time(&c.id, ms, MESSAGES_PAGE).await?,
    };
    let previous = if has_more { items.first().and_then(|m| m["id"].as_str()).map(str::to_string) } else { None };
    let participants = s.store.sdk_participants(&c.id).await?;
    Ok(Json(json!({
        "messages": items.iter().map(wire::sdk_message).collect::<Vec<_>>(),
        "hasPrevious": has_more,
        "previous": previous,
        "hasNext": false,
        "next": null,
        "conversation": wire::sdk_conversation(&c, &participants, None),
    })))
}

fn user_author(user: &User) -> AuthorInput {
    AuthorInput::User { user_id: Some(user.id.clone()), user_external_id: None, display_name: None, avatar_url: None, subtypes: Vec::new() }
}

async fn post_message(State(s): State<AppState>, sdk: Sdk, Path((app_id, conversation_id)): Path<(String, String)>, headers: HeaderMap, Body(body): Body) -> SdkResult<(StatusCode, Json<Value>)> {
    post_user_message(&s, &sdk, &app_id, &conversation_id, &headers, body).await
}

/// Posts `body` (`{message, author?, client?}`) as the authenticated appUser; shared with
/// the file upload (`http/attachments.rs`).
pub(super) async fn post_user_message(s: &AppState, sdk: &Sdk, app_id: &str, conversation_id: &str, headers: &HeaderMap, body: Value) -> SdkResult<(StatusCode, Json<Value>)> {
    let app = get_app(s, app_id).await?;
    let (user, c) = sdk.conversation(s, app_id, conversation_id).await?;
    let post = wire::parse_message(&body, app.settings.mask_credit_card_numbers)?;
    if post.claimed_user.as_deref().is_some_and(|u| u != user.id) {
        return Err(SdkError::forbidden("A message can only be sent as the authenticated user"));
    }
    let client = current_client(s, sdk, &user, &body).await?;
    let source = source_for(client.as_ref(), &body);
    let mut new = NewMessage { author: user_author(&user), content: post.content, metadata: post.metadata, destination: None, override_: None, quoted_message: None, attachment: None };
    super::attachments::describe_media(s, headers, app_id, &mut new).await?;
    let message = s.store.post_message(app_id, &c.id, new, source).await?;
    let shown = wire::sdk_message(&message);
    Ok((StatusCode::CREATED, Json(json!({ "message": shown, "messages": [shown], "conversation": { "_id": c.id } }))))
}

async fn post_activity(State(s): State<AppState>, sdk: Sdk, Path((app_id, conversation_id)): Path<(String, String)>, Body(body): Body) -> SdkResult<Json<Value>> {
    let (user, c) = sdk.conversation(&s, &app_id, &conversation_id).await?;
    let kind: ActivityKind = wire::parse_activity(&body)?;
    s.store.post_activity(&app_id, &c.id, NewActivity { author: user_author(&user), kind }).await?;
    Ok(Json(json!({})))
}

async fn postback(State(s): State<AppState>, sdk: Sdk, Path((app_id, conversation_id)): Path<(String, String)>, Body(body): Body) -> SdkResult<Json<Value>> {
    let (user, c) = sdk.conversation(&s, &app_id, &conversation_id).await?;
    let postback = wire::parse_postback(&body)?;
    let client = current_client(&s, &sdk, &user, &body).await?;
    let source = source_for(client.as_ref(), &body);
    let (pressed, text) = s.store.sdk_postback(&app_id, &c.id, &user, postback, source.clone()).await?;
    // `echoPostback`: the press also goes into the history, as the user's message.
    let text = text.or_else(|| pressed["payload"].as_str().map(str::to_string)).filter(|t| !t.is_empty());
    if let (true, Some(text)) = (get_app(&s, &app_id).await?.settings.echo_postback, text) {
        let content = json!({ "type": "text", "text": text, "payload": pressed["payload"] });
        let content = parse_content(&content, ContentOrigin::WebMessenger, false)?;
        let new = NewMessage { author: user_author(&user), content, metadata: None, destination: None, override_: None, quoted_message: None, attachment: None };
        s.store.post_message(&app_id, &c.id, new, source).await?;
    }
    Ok(Json(json!({})))
}
