//! Channel-only operations: DownloadMessageRef, PostConversionEvents, SyncUser. Each
//! request is validated in full, its conversation and user are looked up, and then it is
//! answered as for a user without that channel: no Apple, Meta or Zendesk connection
//! exists in Sunbeam (see `domain::channel`).

use axum::extract::{Path, State};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::Value;

use super::apps::authorize;
use super::error::{ApiError, ApiResult};
use super::extract::{Caller, JsonBody};
use super::AppState;
use crate::domain::auth::ACCOUNT_APP_INTEGRATION;
use crate::domain::channel::{parse_conversion_events, parse_download_ref, parse_sync_user};
use crate::domain::error::{DomainError, Resource};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v2/apps/{app_id}/conversations/{conversation_id}/download", post(download_message_ref))
        .route("/v2/apps/{app_id}/conversations/{conversation_id}/conversionEvents", post(conversion_events))
        .route("/v2/apps/{app_id}/users/{user}/sync", post(sync_user))
}

async fn download_message_ref(
    State(s): State<AppState>,
    Caller(caller): Caller,
    Path((app_id, conversation_id)): Path<(String, String)>,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    authorize(&s, &caller, &app_id, ACCOUNT_APP_INTEGRATION).await?;
    let user_id = parse_download_ref(&body)?;
    let conversation = s.store.get_conversation(&app_id, &conversation_id).await?;
    let user = s.store.get_user(&app_id, &user_id).await?;
    if !s.store.participant_user_ids(&conversation.id).await?.contains(&user.id) {
        return Err(DomainError::not_found(Resource::Participant).into());
    }
    if !s.store.active_client_types(&app_id, &user).await?.iter().any(|t| t == "apple") {
        return Err(ApiError::bad_request(format!(
            "User {} has no apple client: DownloadMessageRef fetches data through Apple Messages for Business, which this server does not connect to",
            user.id
        )));
    }
    // Unreachable while no channel client can become active here.
    Err(ApiError::bad_request("The apple channel is not connected"))
}

async fn conversion_events(
    State(s): State<AppState>,
    Caller(caller): Caller,
    Path((app_id, conversation_id)): Path<(String, String)>,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    authorize(&s, &caller, &app_id, ACCOUNT_APP_INTEGRATION).await?;
    let (channel, _events) = parse_conversion_events(&body)?;
    let conversation = s.store.get_conversation(&app_id, &conversation_id).await?;
    for user_id in s.store.participant_user_ids(&conversation.id).await? {
        let user = s.store.get_user(&app_id, &user_id).await?;
        if s.store.active_client_types(&app_id, &user).await?.contains(&channel) {
            return Err(ApiError::bad_request(format!("The {channel} channel is not connected")));
        }
    }
    Err(ApiError::bad_request(format!(
        "Conversation {} has no {channel} client: conversion events go to Meta through the {channel} channel, which this server does not connect to",
        conversation.id
    )))
}

async fn sync_user(State(s): State<AppState>, Caller(caller): Caller, Path((app_id, zendesk_id)): Path<(String, String)>, JsonBody(body): JsonBody) -> ApiResult<Json<Value>> {
    authorize(&s, &caller, &app_id, ACCOUNT_APP_INTEGRATION).await?;
    parse_sync_user(&body)?;
    // A zendeskId comes from Zendesk Help Center authentication, which Sunbeam does not
    // have: no user here carries one.
    Err(ApiError::new(
        axum::http::StatusCode::NOT_FOUND,
        "user_not_found",
        format!("No user has zendeskId {zendesk_id}: zendeskIds come from Zendesk Help Center authentication, which this server does not have"),
    ))
}
