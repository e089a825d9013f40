//! A user's clients and devices (Clients and Devices tags): the SDK installs of
//! `sdk_clients` (one v2 `sdk` client and one device each) and the channel links of
//! `channel_clients` (CreateClient). Also what depends on them: participants'
//! `clientAssociations`, PostMessage's `destination`, and DeleteUserPersonalInformation,
//! which scrubs the user, its clients and the client details kept with its messages.
//!
//! ListClients pages over both tables at once by client id (`sdk_clients_by_user_id`,
//! `channel_clients_by_user`).

use std::collections::HashMap;

use serde_json::Value;

use super::conversations::{find_conversation_tx, participant_of};
use super::paging::fetch_page;
use super::rows::{from_json, to_json};
use super::sql::{self, Tx};
use super::users::find_user_tx;
use super::{events, Store, StoreError, StoreResult};
use crate::domain::client::{ChannelClient, ClientRecord, NewChannelClient};
use crate::domain::conversation::ConversationKind;
use crate::domain::error::{DomainError, Resource};
use crate::domain::event::{ClientChange, ClientChangeReason, Event};
use crate::domain::ids::{is_id, new_id};
use crate::domain::pagination::{Page, PageRequest};
use crate::domain::sdk::SdkClient;
use crate::domain::time::now_ms;
use crate::domain::user::{scrub_personal_information, User};

/// Both kinds of client of one user, as one id-ordered list.
const CLIENTS: &str = "SELECT id, body, kind FROM (\
    SELECT id, user_id, body, 'sdk' AS kind FROM sdk_clients \
    UNION ALL SELECT id, user_id, body, 'channel' AS kind FROM channel_clients) AS clients \
    WHERE user_id = $1";

fn record_from_row(row: &sql::Row) -> StoreResult<ClientRecord> {
    let body: String = row.try_get("body")?;
    Ok(match row.try_get::<String, _>("kind")?.as_str() {
        "sdk" => ClientRecord::Sdk(from_json(&body)?),
        _ => ClientRecord::Channel(from_json(&body)?),
    })
}

fn device_not_found() -> StoreError {
    StoreError::not_found(Resource::Device)
}

/// The sdk clients of a user, inside a transaction.
async fn sdk_clients_tx(c: &mut Tx<'_>, user_id: &str) -> StoreResult<Vec<SdkClient>> {
    let rows: Vec<(String,)> = sql::query_as("SELECT body FROM sdk_clients WHERE user_id = $1").bind(user_id).fetch_all(&mut *c).await?;
    rows.iter().map(|(b,)| from_json(b)).collect()
}

/// A stored message whose author is `user_id`, with the client and device details of
/// its source cleared (`None` when nothing changes).
fn scrub_message_source(body: &str, user_id: &str) -> StoreResult<Option<String>> {
    let mut m: Value = from_json(body)?;
    if m["author"]["userId"].as_str() != Some(user_id) {
        return Ok(None);
    }
    let mut changed = false;
    if let Some(client) = m.pointer_mut("/source/client").and_then(Value::as_object_mut) {
        for k in ["displayName", "avatarUrl", "info", "raw"] {
            if client.get(k).is_some_and(|v| !v.is_null()) {
                client.insert(k.into(), Value::Null);
                changed = true;
            }
        }
    }
    if let Some(device) = m.pointer_mut("/source/device").and_then(Value::as_object_mut) {
        if device.get("info").is_some_and(|v| !v.is_null()) {
            device.insert("info".into(), Value::Null);
            changed = true;
        }
    }
    Ok(changed.then(|| to_json(&m)))
}

impl Store {
    /// Gives SDK clients stored before clients had v2 ids their client and device ids.
    /// Runs when the store opens; finds nothing to do after the first time.
    pub(crate) async fn backfill_client_ids(&self) -> StoreResult<()> {
        self.write(|c| {
            Box::pin(async move {
                let rows: Vec<(String, String, String)> =
                    sql::query_as("SELECT user_id, client_id, body FROM sdk_clients WHERE id IS NULL").fetch_all(&mut *c).await?;
                for (user_id, client_id, body) in rows {
                    let mut client: SdkClient = from_json(&body)?;
                    client.v2_id.get_or_insert_with(new_id);
                    client.device_id.get_or_insert_with(new_id);
                    sql::query("UPDATE sdk_clients SET id = $1, device_id = $2, body = $3 WHERE user_id = $4 AND client_id = $5")
                        .bind(client.v2_id.clone())
                        .bind(client.device_id.clone())
                        .bind(to_json(&client))
                        .bind(&user_id)
                        .bind(&client_id)
                        .execute(&mut *c)
                        .await?;
                }
                Ok(())
            })
        })
        .await
    }

    /// ListClients: a page of a user's clients, SDK installs and channel links, by id.
    pub async fn list_clients(&self, app_id: &str, user: &str, page: &PageRequest) -> StoreResult<Page<ClientRecord>> {
        let user = self.get_user(app_id, user).await?;
        let rows = fetch_page(self.reader(), CLIENTS, "id", vec![sql::Value::Text(user.id.clone())], page).await?;
        let items = rows.iter().map(record_from_row).collect::<StoreResult<Vec<_>>>()?;
        Ok(Page::from_rows(items, page, |c| c.to_v2()["id"].as_str().unwrap_or_default().to_string()))
    }

    /// CreateClient: a pending link to a channel for a user, toward one of its
    /// conversations; records `client:add` (reason `channelLinking`).
    pub async fn create_channel_client(&self, app_id: &str, user: &str, new: NewChannelClient, source: Value) -> StoreResult<ChannelClient> {
        let (app_id, user) = (app_id.to_string(), user.to_string());
        self.write(move |c| {
            Box::pin(async move {
                let user = find_user_tx(c, &app_id, &user).await?;
                if !is_id(&new.integration_id) {
                    return Err(StoreError::not_found(Resource::Integration));
                }
                let kind: Option<(String,)> = sql::query_as("SELECT kind FROM integrations WHERE app_id = $1 AND id = $2")
                    .bind(&app_id)
                    .bind(&new.integration_id)
                    .fetch_optional(&mut *c)
                    .await?;
                let Some((kind,)) = kind else { return Err(StoreError::not_found(Resource::Integration)) };
                if kind != new.kind {
                    return Err(StoreError::rule(format!("matchCriteria.integrationId must name an integration of type {} (it names a {kind} integration)", new.kind)));
                }
                if !is_id(&new.conversation_id) {
                    return Err(StoreError::not_found(Resource::Conversation));
                }
                let conversation = find_conversation_tx(c, &app_id, &new.conversation_id).await?;
                if participant_of(c, &conversation.id, &user.id).await?.is_none() {
                    return Err(StoreError::not_found(Resource::Participant));
                }
                let client = new.into_client(new_id());
                let inserted = sql::query("INSERT INTO channel_clients (id, app_id, user_id, integration_id, body, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
                    .bind(&client.id)
                    .bind(&app_id)
                    .bind(&user.id)
                    .bind(&client.integration_id)
                    .bind(to_json(&client))
                    .bind(now_ms())
                    .execute(&mut *c)
                    .await;
                match inserted {
                    Err(e) if super::is_unique_violation(&e) => {
                        return Err(StoreError::conflict("The user already has a client for this integration; remove it before linking again"))
                    }
                    other => other?,
                };
                let added = ClientChange {
                    user: (&user).into(),
                    client: ClientRecord::Channel(client.clone()),
                    reason: ClientChangeReason::ChannelLinking,
                    source,
                    conversation: Some((&conversation).into()),
                };
                events::record(c, &app_id, &Event::ClientAdded(added)).await?;
                Ok(client)
            })
        })
        .await
    }

    /// RemoveClient: removes a channel client (`client:remove`, reason `api`). SDK
    /// clients belong to their install and are refused, as the spec says.
    pub async fn remove_client(&self, app_id: &str, user: &str, client_id: &str, source: Value) -> StoreResult<()> {
        let (app_id, user, client_id) = (app_id.to_string(), user.to_string(), client_id.to_string());
        self.write(move |c| {
            Box::pin(async move {
                let user = find_user_tx(c, &app_id, &user).await?;
                let sdk: Option<(String,)> =
                    sql::query_as("SELECT id FROM sdk_clients WHERE user_id = $1 AND id = $2").bind(&user.id).bind(&client_id).fetch_optional(&mut *c).await?;
                if sdk.is_some() {
                    return Err(StoreError::rule("Cannot remove a client of type 'sdk'"));
                }
                let row: Option<(String,)> = sql::query_as("SELECT body FROM channel_clients WHERE user_id = $1 AND id = $2")
                    .bind(&user.id)
                    .bind(&client_id)
                    .fetch_optional(&mut *c)
                    .await?;
                let Some((body,)) = row else { return Err(StoreError::not_found(Resource::Client)) };
                let client: ChannelClient = from_json(&body)?;
                sql::query("DELETE FROM channel_clients WHERE id = $1").bind(&client_id).execute(&mut *c).await?;
                let removed = ClientChange { user: (&user).into(), client: ClientRecord::Channel(client), reason: ClientChangeReason::Api, source, conversation: None };
                events::record(c, &app_id, &Event::ClientRemoved(removed)).await?;
                Ok(())
            })
        })
        .await
    }

    /// ListDevices: the user's SDK installs, most recently seen first.
    pub async fn list_devices(&self, app_id: &str, user: &str) -> StoreResult<Vec<SdkClient>> {
        let user = self.get_user(app_id, user).await?;
        let rows: Vec<(String,)> =
            sql::query_as("SELECT body FROM sdk_clients WHERE user_id = $1 ORDER BY last_seen DESC, client_id").bind(&user.id).fetch_all(self.reader()).await?;
        rows.iter().map(|(b,)| from_json(b)).collect()
    }

    pub async fn get_device(&self, app_id: &str, user: &str, device_id: &str) -> StoreResult<SdkClient> {
        let user = self.get_user(app_id, user).await?;
        if !is_id(device_id) {
            return Err(device_not_found());
        }
        let row: Option<(String,)> = sql::query_as("SELECT body FROM sdk_clients WHERE user_id = $1 AND device_id = $2")
            .bind(&user.id)
            .bind(device_id)
            .fetch_optional(self.reader())
            .await?;
        row.map(|(b,)| from_json(&b)).transpose()?.ok_or_else(device_not_found)
    }

    /// The SDK clients of each of `user_ids` (for participants' `clientAssociations`).
    pub async fn sdk_clients_of(&self, user_ids: &[String]) -> StoreResult<HashMap<String, Vec<SdkClient>>> {
        let mut out: HashMap<String, Vec<SdkClient>> = HashMap::new();
        for id in user_ids {
            if out.contains_key(id) {
                continue;
            }
            let rows: Vec<(String,)> = sql::query_as("SELECT body FROM sdk_clients WHERE user_id = $1").bind(id).fetch_all(self.reader()).await?;
            out.insert(id.clone(), rows.iter().map(|(b,)| from_json(b)).collect::<StoreResult<_>>()?);
        }
        Ok(out)
    }

    /// PostMessage's `destination`: a business message to a personal conversation may
    /// only target an integration (by id or type) its user has a client on, or
    /// `integrationType: "none"` (a silent message).
    pub async fn check_destination(&self, app_id: &str, conversation_id: &str, destination: &Value) -> StoreResult<()> {
        let conversation = self.get_conversation(app_id, conversation_id).await?;
        if conversation.kind != ConversationKind::Personal {
            return Ok(());
        }
        let wanted_type = destination["integrationType"].as_str();
        if wanted_type == Some("none") {
            return Ok(());
        }
        let users = self.participant_user_ids(&conversation.id).await?;
        let mut integrations: Vec<(Option<String>, String)> = Vec::new();
        for user in &users {
            for client in self.sdk_clients_of(std::slice::from_ref(user)).await?.remove(user).unwrap_or_default() {
                if client.status == "active" {
                    integrations.push((client.integration_id.clone(), client.platform.clone()));
                }
            }
        }
        // Channel clients exist here only as pending links: none is attached yet.
        let mut kinds = HashMap::new();
        for (id, platform) in &integrations {
            let kind = match id {
                Some(id) if is_id(id) => {
                    let row: Option<(String,)> =
                        sql::query_as("SELECT kind FROM integrations WHERE app_id = $1 AND id = $2").bind(app_id).bind(id).fetch_optional(self.reader()).await?;
                    row.map(|r| r.0).unwrap_or_else(|| platform.clone())
                }
                _ => platform.clone(),
            };
            kinds.insert(id.clone(), kind);
        }
        let found = match (destination["integrationId"].as_str(), wanted_type) {
            (Some(id), _) => integrations.iter().any(|(i, _)| i.as_deref() == Some(id)),
            (None, Some(t)) => kinds.values().any(|k| k == t),
            (None, None) => true,
        };
        if found {
            return Ok(());
        }
        let named = match (destination["integrationId"].as_str(), wanted_type) {
            (Some(id), _) => format!("integration {id}"),
            (None, Some(t)) => format!("an integration of type {t}"),
            (None, None) => "that integration".into(),
        };
        Err(DomainError::Rule(format!("The user has no client for {named} attached to this conversation")).into())
    }

    /// The client types through which a user can be reached right now (`sdk`, or a
    /// channel type once a link is confirmed: never, here).
    pub async fn active_client_types(&self, app_id: &str, user: &User) -> StoreResult<Vec<String>> {
        let mut out = Vec::new();
        let rows: Vec<(String, String)> = sql::query_as(
            "SELECT body, 'sdk' AS kind FROM sdk_clients WHERE user_id = $1 AND app_id = $2 \
             UNION ALL SELECT body, 'channel' AS kind FROM channel_clients WHERE user_id = $3 AND app_id = $4",
        )
        .bind(&user.id)
        .bind(app_id)
        .bind(&user.id)
        .bind(app_id)
        .fetch_all(self.reader())
        .await?;
        for (body, kind) in rows {
            if kind == "sdk" {
                let c: SdkClient = from_json(&body)?;
                if c.status == "active" {
                    out.push("sdk".to_string());
                }
            } else {
                let c: ChannelClient = from_json(&body)?;
                if c.status == "active" {
                    out.push(c.kind);
                }
            }
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// DeleteUserPersonalInformation, in one transaction: the user's profile, metadata
    /// and identities; each client's `displayName`, `avatarUrl`, `info` and `raw`; and
    /// the same details of the client and device kept in the `source` of the user's
    /// messages. History stays.
    pub async fn delete_personal_information(&self, app_id: &str, user: &str) -> StoreResult<User> {
        let (app_id, user) = (app_id.to_string(), user.to_string());
        self.write(move |c| {
            Box::pin(async move {
                let user = scrub_personal_information(&find_user_tx(c, &app_id, &user).await?);
                sql::query("UPDATE users SET body = $1 WHERE app_id = $2 AND id = $3").bind(to_json(&user)).bind(&app_id).bind(&user.id).execute(&mut *c).await?;
                sql::query("DELETE FROM user_identities WHERE user_id = $1").bind(&user.id).execute(&mut *c).await?;
                for mut client in sdk_clients_tx(c, &user.id).await? {
                    client.info.clear();
                    sql::query("UPDATE sdk_clients SET body = $1 WHERE user_id = $2 AND client_id = $3")
                        .bind(to_json(&client))
                        .bind(&user.id)
                        .bind(&client.id)
                        .execute(&mut *c)
                        .await?;
                }
                let rows: Vec<(String, String)> = sql::query_as("SELECT id, body FROM channel_clients WHERE user_id = $1").bind(&user.id).fetch_all(&mut *c).await?;
                for (id, body) in rows {
                    let mut client: ChannelClient = from_json(&body)?;
                    client.scrub();
                    sql::query("UPDATE channel_clients SET body = $1 WHERE id = $2").bind(to_json(&client)).bind(&id).execute(&mut *c).await?;
                }
                let conversations: Vec<(String,)> =
                    sql::query_as("SELECT conversation_id FROM participants WHERE user_id = $1").bind(&user.id).fetch_all(&mut *c).await?;
                let pattern = format!("%{}%", user.id);
                for (conversation_id,) in conversations {
                    let rows: Vec<(i64, String)> = sql::query_as("SELECT seq, body FROM messages WHERE conversation_id = $1 AND body LIKE $2")
                        .bind(&conversation_id)
                        .bind(&pattern)
                        .fetch_all(&mut *c)
                        .await?;
                    for (seq, body) in rows {
                        if let Some(body) = scrub_message_source(&body, &user.id)? {
                            sql::query("UPDATE messages SET body = $1 WHERE conversation_id = $2 AND seq = $3").bind(&body).bind(&conversation_id).bind(seq).execute(&mut *c).await?;
                        }
                    }
                }
                Ok(user)
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_the_users_own_messages_lose_their_client_details() {
        let body = json!({
            "id": "m", "author": {"type": "user", "userId": "u1"},
            "source": {"type": "web", "client": {"id": "c", "info": {"URL": "x"}, "raw": {"platform": "web"}}, "device": {"guid": "g", "info": {"userAgent": "y"}}}
        })
        .to_string();
        let out: Value = serde_json::from_str(&scrub_message_source(&body, "u1").unwrap().unwrap()).unwrap();
        assert_eq!(out["source"]["client"]["info"], Value::Null);
        assert_eq!(out["source"]["client"]["id"], "c");
        assert_eq!(out["source"]["device"]["info"], Value::Null);
        assert_eq!(out["source"]["device"]["guid"], "g");
        assert!(scrub_message_source(&body, "u2").unwrap().is_none());
    }
}
