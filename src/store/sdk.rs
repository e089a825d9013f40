//! The end-user SDK's own state: session tokens of anonymous users (only their SHA-256 is
//! kept; revocable) and SDK clients (one per browser/device `clientId`), plus the SDK's
//! login — upgrade in place or merge into an existing user — and logout.
//!
//! Everything else the SDK does (conversations, messages, activities) goes through the
//! same store operations as the v2 business API: one user model.

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::conversations::{conversation_from_row, find_conversation_tx, CONVERSATION_COLUMNS};
use super::rows::{from_json, to_json};
use super::sql::{self, Tx};
use super::users::{find_user_tx, insert_user_tx, rewrite_user_tx};
use super::{events, Store, StoreError, StoreResult};
use crate::domain::conversation::{Conversation, Participant};
use crate::domain::error::{DomainError, Resource};
use crate::domain::event::{ClientChange, ClientChangeReason, Event, MergeReason, MergedUsers, Postback, UserUpdateReason, UserUpdated, UsersMerged};
use crate::domain::ids::new_secret;
use crate::domain::sdk::{find_action, ClientInput, PostbackRef, SdkClient};
use crate::domain::time::now_ms;
use crate::domain::user::User;

fn hash_token(token: &str) -> String {
    Sha256::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

fn user_from_row(row: &sql::Row) -> StoreResult<User> {
    from_json(&row.try_get::<String, _>("body")?)
}

async fn insert_session(c: &mut Tx<'_>, app_id: &str, user_id: &str) -> StoreResult<String> {
    let token = new_secret();
    sql::query("INSERT INTO sdk_sessions (token_hash, app_id, user_id, created_at) VALUES ($1, $2, $3, $4)")
        .bind(hash_token(&token))
        .bind(app_id)
        .bind(user_id)
        .bind(now_ms())
        .execute(&mut *c)
        .await?;
    Ok(token)
}

async fn revoke_sessions(c: &mut Tx<'_>, user_id: &str) -> StoreResult<()> {
    sql::query("UPDATE sdk_sessions SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL").bind(now_ms()).bind(user_id).execute(&mut *c).await?;
    Ok(())
}

/// The anonymous user a live session token proves, if it does.
async fn session_user_tx(c: &mut Tx<'_>, app_id: &str, user_id: &str, token: &str) -> StoreResult<Option<User>> {
    let row = sql::query(
        "SELECT u.body FROM sdk_sessions s JOIN users u ON u.id = s.user_id \
         WHERE s.token_hash = $1 AND s.user_id = $2 AND s.app_id = $3 AND s.revoked_at IS NULL AND u.external_id IS NULL",
    )
    .bind(hash_token(token))
    .bind(user_id)
    .bind(app_id)
    .fetch_optional(&mut *c)
    .await?;
    row.as_ref().map(user_from_row).transpose()
}

/// What attaching a client did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Attach {
    Added,
    Reactivated,
    Refreshed,
}

async fn upsert_client(c: &mut Tx<'_>, app_id: &str, user_id: &str, input: &ClientInput, now: i64) -> StoreResult<(SdkClient, Attach)> {
    let row: Option<(String,)> =
        sql::query_as("SELECT body FROM sdk_clients WHERE user_id = $1 AND client_id = $2").bind(user_id).bind(&input.client_id).fetch_optional(&mut *c).await?;
    let (mut client, attach) = match row {
        Some((body,)) => {
            let mut client: SdkClient = from_json(&body)?;
            let was_active = client.status == "active";
            client.refresh(input, now);
            (client, if was_active { Attach::Refreshed } else { Attach::Reactivated })
        }
        None => (SdkClient::new(input, now), Attach::Added),
    };
    client.v2_id.get_or_insert_with(crate::domain::ids::new_id);
    client.device_id.get_or_insert_with(crate::domain::ids::new_id);
    sql::query(
        "INSERT INTO sdk_clients (user_id, client_id, app_id, body, last_seen, id, device_id) VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (user_id, client_id) DO UPDATE SET body = excluded.body, last_seen = excluded.last_seen, id = excluded.id, device_id = excluded.device_id",
    )
    .bind(user_id)
    .bind(&input.client_id)
    .bind(app_id)
    .bind(to_json(&client))
    .bind(now)
    .bind(client.v2_id.clone())
    .bind(client.device_id.clone())
    .execute(&mut *c)
    .await?;
    Ok((client, attach))
}

/// Detaches a browser's client from every user of the app but `keep_user` (one browser,
/// one user at a time), recording `client:remove`.
async fn detach_elsewhere(c: &mut Tx<'_>, app_id: &str, client_id: &str, keep_user: &str, source: &Value) -> StoreResult<()> {
    let rows: Vec<(String, String)> = sql::query_as("SELECT user_id, body FROM sdk_clients WHERE app_id = $1 AND client_id = $2 AND user_id <> $3")
        .bind(app_id)
        .bind(client_id)
        .bind(keep_user)
        .fetch_all(&mut *c)
        .await?;
    for (user_id, body) in rows {
        let mut client: SdkClient = from_json(&body)?;
        client.status = "inactive".into();
        sql::query("DELETE FROM sdk_clients WHERE user_id = $1 AND client_id = $2").bind(&user_id).bind(client_id).execute(&mut *c).await?;
        let user = find_user_tx(c, app_id, &user_id).await?;
        let removed = ClientChange { user: (&user).into(), client: client.into(), reason: ClientChangeReason::Sdk, source: source.clone(), conversation: None };
        events::record(c, app_id, &Event::ClientRemoved(removed)).await?;
    }
    Ok(())
}

async fn attach_client(c: &mut Tx<'_>, app_id: &str, user: &User, input: &ClientInput, source: &Value, login: bool) -> StoreResult<SdkClient> {
    detach_elsewhere(c, app_id, &input.client_id, &user.id, source).await?;
    let (client, attach) = upsert_client(c, app_id, &user.id, input, now_ms()).await?;
    match attach {
        Attach::Added if login => {
            let added = ClientChange { user: user.into(), client: client.clone().into(), reason: ClientChangeReason::SdkLogin, source: source.clone(), conversation: None };
            events::record(c, app_id, &Event::ClientAdded(added)).await?;
        }
        Attach::Reactivated => {
            let updated = ClientChange { user: user.into(), client: client.clone().into(), reason: ClientChangeReason::Confirmed, source: source.clone(), conversation: None };
            events::record(c, app_id, &Event::ClientUpdated(updated)).await?;
        }
        _ => {}
    }
    Ok(client)
}

/// A stored message with its author moved from `from` to `to`, if it was `from`'s.
fn reauthor(body: &str, from: &str, to: &str) -> StoreResult<Option<String>> {
    let mut m: Value = from_json(body)?;
    if m["author"]["userId"].as_str() == Some(from) {
        m["author"]["userId"] = json!(to);
        return Ok(Some(to_json(&m)));
    }
    Ok(None)
}

/// Moves everything of `discarded` into `surviving` (conversations, messages):
/// the discarded user's default personal conversation is appended to the surviving one's
/// when both exist; other conversations change hands. Returns `mergedConversations`.
async fn merge_users(c: &mut Tx<'_>, app_id: &str, surviving: &User, discarded: &User) -> StoreResult<Option<Value>> {
    let convs: Vec<(String, String, i64)> = sql::query_as(
        "SELECT c.id, c.kind, c.is_default FROM participants p JOIN conversations c ON c.id = p.conversation_id WHERE p.user_id = $1 ORDER BY c.id",
    )
    .bind(&discarded.id)
    .fetch_all(&mut *c)
    .await?;
    let surviving_default: Option<(String,)> = sql::query_as(
        "SELECT c.id FROM participants p JOIN conversations c ON c.id = p.conversation_id \
         WHERE p.user_id = $1 AND c.kind = 'personal' AND c.is_default = 1 LIMIT 1",
    )
    .bind(&surviving.id)
    .fetch_optional(&mut *c)
    .await?;
    let mut merged = None;
    for (conv_id, kind, is_default) in convs {
        match (&surviving_default, kind == "personal" && is_default != 0) {
            (Some((into,)), true) => {
                let target = find_conversation_tx(c, app_id, into).await?;
                let gone = find_conversation_tx(c, app_id, &conv_id).await?;
                let rows: Vec<(String, String, i64)> =
                    sql::query_as("SELECT id, body, received FROM messages WHERE conversation_id = $1 ORDER BY seq").bind(&conv_id).fetch_all(&mut *c).await?;
                sql::query("DELETE FROM messages WHERE conversation_id = $1").bind(&conv_id).execute(&mut *c).await?;
                let (last_seq,): (i64,) = sql::query_as("SELECT last_seq FROM conversations WHERE id = $1").bind(into).fetch_one(&mut *c).await?;
                let n = rows.len() as i64;
                let mut newest = target.last_updated_at;
                for (i, (id, body, received)) in rows.into_iter().enumerate() {
                    let body = reauthor(&body, &discarded.id, &surviving.id)?.unwrap_or(body);
                    newest = newest.max(received);
                    sql::query("INSERT INTO messages (conversation_id, seq, id, body, received) VALUES ($1, $2, $3, $4, $5)")
                        .bind(into)
                        .bind(last_seq + 1 + i as i64)
                        .bind(&id)
                        .bind(&body)
                        .bind(received)
                        .execute(&mut *c)
                        .await?;
                }
                sql::query("UPDATE conversations SET last_seq = last_seq + $1, message_count = message_count + $2, last_updated_at = $3 WHERE id = $4")
                    .bind(n)
                    .bind(n)
                    .bind(newest)
                    .bind(into)
                    .execute(&mut *c)
                    .await?;
                // Its files follow its messages.
                sql::query("UPDATE attachments SET conversation_id = $1 WHERE conversation_id = $2").bind(into).bind(&conv_id).execute(&mut *c).await?;
                sql::query("DELETE FROM participants WHERE conversation_id = $1").bind(&conv_id).execute(&mut *c).await?;
                sql::query("DELETE FROM conversations WHERE id = $1").bind(&conv_id).execute(&mut *c).await?;
                merged = Some(json!({ "surviving": target.truncated(), "discarded": gone.truncated() }));
            }
            _ => {
                let both: Option<(String,)> = sql::query_as("SELECT id FROM participants WHERE conversation_id = $1 AND user_id = $2")
                    .bind(&conv_id)
                    .bind(&surviving.id)
                    .fetch_optional(&mut *c)
                    .await?;
                if both.is_some() {
                    sql::query("DELETE FROM participants WHERE conversation_id = $1 AND user_id = $2").bind(&conv_id).bind(&discarded.id).execute(&mut *c).await?;
                } else {
                    sql::query("UPDATE participants SET user_id = $1 WHERE conversation_id = $2 AND user_id = $3")
                        .bind(&surviving.id)
                        .bind(&conv_id)
                        .bind(&discarded.id)
                        .execute(&mut *c)
                        .await?;
                }
                let pattern = format!("%{}%", discarded.id);
                let rows: Vec<(i64, String)> = sql::query_as("SELECT seq, body FROM messages WHERE conversation_id = $1 AND body LIKE $2")
                    .bind(&conv_id)
                    .bind(&pattern)
                    .fetch_all(&mut *c)
                    .await?;
                for (seq, body) in rows {
                    if let Some(body) = reauthor(&body, &discarded.id, &surviving.id)? {
                        sql::query("UPDATE messages SET body = $1 WHERE conversation_id = $2 AND seq = $3").bind(&body).bind(&conv_id).bind(seq).execute(&mut *c).await?;
                    }
                }
            }
        }
    }
    // The discarded user's clients go with it; the logging-in client is attached to the
    // surviving user afterwards (`client:add`, reason `sdkLogin`).
    revoke_sessions(c, &discarded.id).await?;
    // Its messages are the surviving user's now, and so are their files.
    sql::query("UPDATE attachments SET user_id = $1 WHERE user_id = $2").bind(&surviving.id).bind(&discarded.id).execute(&mut *c).await?;
    sql::query("DELETE FROM users WHERE id = $1").bind(&discarded.id).execute(&mut *c).await?;
    Ok(merged)
}

/// What a login did (sdk-protocol §6).
#[derive(Debug, Clone, PartialEq)]
pub enum LoginKind {
    /// No user had the externalId and there was no anonymous user: one was created.
    Created,
    /// The anonymous user became the identified one (same id, same history).
    Upgraded,
    /// The anonymous user was merged into the existing identified user.
    Merged { discarded: String },
    /// The identified user existed; nothing anonymous to bring along.
    Existing,
}

#[derive(Debug, Clone)]
pub struct LoginOutcome {
    pub user: User,
    pub kind: LoginKind,
    pub client: Option<SdkClient>,
}

impl Store {
    /// Is `token` a live session token of the anonymous user `app_user_id` of `app_id`?
    /// (For the SDK API and the realtime subscribe check. An identified user never
    /// passes, whatever tokens it once had.)
    pub async fn check_session(&self, app_id: &str, app_user_id: &str, token: &str) -> StoreResult<bool> {
        let row: Option<(String,)> = sql::query_as(
            "SELECT s.user_id FROM sdk_sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.token_hash = $1 AND s.user_id = $2 AND s.app_id = $3 AND s.revoked_at IS NULL AND u.external_id IS NULL",
        )
        .bind(hash_token(token))
        .bind(app_user_id)
        .bind(app_id)
        .fetch_optional(self.reader())
        .await?;
        Ok(row.is_some())
    }

    /// Creates an anonymous SDK user with a fresh session token (returned in the clear,
    /// once) and attaches its client.
    pub async fn sdk_create_user(&self, app_id: &str, user: User, client: Option<ClientInput>) -> StoreResult<(User, String, Option<SdkClient>)> {
        let app_id = app_id.to_string();
        self.write(move |c| {
            Box::pin(async move {
                insert_user_tx(c, &app_id, &user).await?;
                let token = insert_session(c, &app_id, &user.id).await?;
                let client = match &client {
                    Some(input) => Some(attach_client(c, &app_id, &user, input, &json!({ "type": input.platform }), false).await?),
                    None => None,
                };
                Ok((user, token, client))
            })
        })
        .await
    }

    /// Logs an SDK client in as `external_id` (the JWT already verified): upgrades the
    /// proven anonymous user in place, or merges it into the existing user (`user:merge`,
    /// its session token revoked), or creates the user. `fresh` is used when creating.
    /// Anonymous credentials that do not check out are ignored (nothing is merged).
    pub async fn sdk_login(&self, app_id: &str, external_id: &str, anonymous: Option<(String, String)>, client: Option<ClientInput>, fresh: User, source: Value) -> StoreResult<LoginOutcome> {
        let (app_id, external_id) = (app_id.to_string(), external_id.to_string());
        self.write(move |c| {
            Box::pin(async move {
                let existing = sql::query("SELECT body FROM users WHERE app_id = $1 AND external_id = $2").bind(&app_id).bind(&external_id).fetch_optional(&mut *c).await?;
                let existing = existing.as_ref().map(user_from_row).transpose()?;
                let anon = match &anonymous {
                    Some((uid, token)) => session_user_tx(c, &app_id, uid, token).await?,
                    None => None,
                };
                let (mut user, kind) = match (existing, anon) {
                    (None, Some(mut a)) => {
                        a.external_id = Some(external_id.clone());
                        a.authenticated = true;
                        rewrite_user_tx(c, &app_id, &a).await?;
                        revoke_sessions(c, &a.id).await?;
                        let updated = UserUpdated { user: (&a).into(), reason: UserUpdateReason::Authentication, source: source.clone() };
                        events::record(c, &app_id, &Event::UserUpdated(updated)).await?;
                        (a, LoginKind::Upgraded)
                    }
                    (None, None) => {
                        let mut u = fresh;
                        u.external_id = Some(external_id.clone());
                        u.authenticated = true;
                        insert_user_tx(c, &app_id, &u).await?;
                        (u, LoginKind::Created)
                    }
                    (Some(s), Some(a)) => {
                        let merged_conversations = merge_users(c, &app_id, &s, &a).await?;
                        let discarded = a.id.clone();
                        let merged = UsersMerged {
                            merged_users: MergedUsers { surviving: s.clone(), discarded: a },
                            merged_conversations,
                            reason: MergeReason::SdkLogin,
                            source: source.clone(),
                        };
                        events::record(c, &app_id, &Event::UsersMerged(merged)).await?;
                        (s, LoginKind::Merged { discarded })
                    }
                    (Some(s), None) => (s, LoginKind::Existing),
                };
                if !user.authenticated {
                    user.authenticated = true;
                    rewrite_user_tx(c, &app_id, &user).await?;
                }
                let client = match &client {
                    Some(input) => Some(attach_client(c, &app_id, &user, input, &source, true).await?),
                    None => None,
                };
                Ok(LoginOutcome { user, kind, client })
            })
        })
        .await
    }

    /// Detaches a client from a user (`client:remove`, reason `sdk`); without a client
    /// id, every SDK client of the user. Anonymous users also lose their session tokens.
    pub async fn sdk_logout(&self, app_id: &str, user_id: &str, client_id: Option<String>, source: Value) -> StoreResult<()> {
        let (app_id, user_id) = (app_id.to_string(), user_id.to_string());
        self.write(move |c| {
            Box::pin(async move {
                let user = find_user_tx(c, &app_id, &user_id).await?;
                let rows: Vec<(String,)> = match &client_id {
                    Some(cid) => sql::query_as("SELECT body FROM sdk_clients WHERE user_id = $1 AND client_id = $2").bind(&user.id).bind(cid).fetch_all(&mut *c).await?,
                    None => sql::query_as("SELECT body FROM sdk_clients WHERE user_id = $1").bind(&user.id).fetch_all(&mut *c).await?,
                };
                for (body,) in rows {
                    let mut client: SdkClient = from_json(&body)?;
                    client.status = "inactive".into();
                    sql::query("DELETE FROM sdk_clients WHERE user_id = $1 AND client_id = $2").bind(&user.id).bind(&client.id).execute(&mut *c).await?;
                    let removed = ClientChange { user: (&user).into(), client: client.into(), reason: ClientChangeReason::Sdk, source: source.clone(), conversation: None };
                    events::record(c, &app_id, &Event::ClientRemoved(removed)).await?;
                }
                if user.external_id.is_none() {
                    revoke_sessions(c, &user.id).await?;
                }
                Ok(())
            })
        })
        .await
    }

    /// Records what a client says about itself (info, push token, last seen).
    pub async fn sdk_touch_client(&self, app_id: &str, user: &User, input: ClientInput) -> StoreResult<SdkClient> {
        let (app_id, user) = (app_id.to_string(), user.clone());
        self.write(move |c| {
            Box::pin(async move {
                let source = json!({ "type": input.platform });
                attach_client(c, &app_id, &user, &input, &source, false).await
            })
        })
        .await
    }

    pub async fn sdk_clients(&self, user_id: &str) -> StoreResult<Vec<SdkClient>> {
        let rows: Vec<(String,)> = sql::query_as("SELECT body FROM sdk_clients WHERE user_id = $1 ORDER BY client_id").bind(user_id).fetch_all(self.reader()).await?;
        rows.iter().map(|(b,)| from_json(b)).collect()
    }

    pub async fn sdk_client(&self, user_id: &str, client_id: &str) -> StoreResult<Option<SdkClient>> {
        let row: Option<(String,)> =
            sql::query_as("SELECT body FROM sdk_clients WHERE user_id = $1 AND client_id = $2").bind(user_id).bind(client_id).fetch_optional(self.reader()).await?;
        row.map(|(b,)| from_json(&b)).transpose()
    }

    /// A user's conversations, most recently updated first, `offset` paging; `true` when
    /// more follow.
    pub async fn sdk_user_conversations(&self, user_id: &str, offset: i64, limit: i64) -> StoreResult<(Vec<Conversation>, bool)> {
        let rows = sql::query(&format!(
            "SELECT {CONVERSATION_COLUMNS} FROM participants p JOIN conversations c ON c.id = p.conversation_id \
             WHERE p.user_id = $1 ORDER BY c.last_updated_at DESC, c.id DESC LIMIT $2 OFFSET $3"
        ))
        .bind(user_id)
        .bind(limit + 1)
        .bind(offset)
        .fetch_all(self.reader())
        .await?;
        let mut items = rows.iter().map(conversation_from_row).collect::<StoreResult<Vec<_>>>()?;
        let more = items.len() as i64 > limit;
        items.truncate(limit as usize);
        Ok((items, more))
    }

    /// Every participant of a conversation (at most the participant limit).
    pub async fn sdk_participants(&self, conversation_id: &str) -> StoreResult<Vec<Participant>> {
        let rows: Vec<(String, String, Option<String>, i64, Option<i64>)> = sql::query_as(
            "SELECT p.id, p.user_id, u.external_id, p.unread_count, p.last_read FROM participants p JOIN users u ON u.id = p.user_id \
             WHERE p.conversation_id = $1 ORDER BY p.id",
        )
        .bind(conversation_id)
        .fetch_all(self.reader())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, user_id, user_external_id, unread_count, last_read)| Participant { id, user_id, user_external_id, unread_count, last_read })
            .collect())
    }

    pub async fn is_participant(&self, conversation_id: &str, user_id: &str) -> StoreResult<bool> {
        let row: Option<(String,)> = sql::query_as("SELECT id FROM participants WHERE conversation_id = $1 AND user_id = $2")
            .bind(conversation_id)
            .bind(user_id)
            .fetch_optional(self.reader())
            .await?;
        Ok(row.is_some())
    }

    /// The newest message of a conversation.
    pub async fn last_message(&self, conversation_id: &str) -> StoreResult<Option<Value>> {
        let row: Option<(String,)> =
            sql::query_as("SELECT body FROM messages WHERE conversation_id = $1 ORDER BY seq DESC LIMIT 1").bind(conversation_id).fetch_optional(self.reader()).await?;
        row.map(|(b,)| from_json(&b)).transpose()
    }

    /// Up to `limit` messages received before `before_ms`, oldest first; `true` when older
    /// ones remain.
    pub async fn messages_before_time(&self, conversation_id: &str, before_ms: i64, limit: i64) -> StoreResult<(Vec<Value>, bool)> {
        let rows: Vec<(String,)> = sql::query_as("SELECT body FROM messages WHERE conversation_id = $1 AND received < $2 ORDER BY seq DESC LIMIT $3")
            .bind(conversation_id)
            .bind(before_ms)
            .bind(limit + 1)
            .fetch_all(self.reader())
            .await?;
        let mut items = rows.iter().map(|(b,)| from_json::<Value>(b)).collect::<StoreResult<Vec<_>>>()?;
        let more = items.len() as i64 > limit;
        items.truncate(limit as usize);
        items.reverse();
        Ok((items, more))
    }

    /// A postback from an end user: resolves the action it names and records
    /// `conversation:postback`. Returns `{payload, metadata}` and the action's text.
    pub async fn sdk_postback(&self, app_id: &str, conversation_id: &str, user: &User, postback: PostbackRef, source: Value) -> StoreResult<(Value, Option<String>)> {
        let (app_id, conversation_id, user) = (app_id.to_string(), conversation_id.to_string(), user.clone());
        self.write(move |c| {
            Box::pin(async move {
                let conversation = find_conversation_tx(c, &app_id, &conversation_id).await?;
                let mut text = None;
                let postback = match postback {
                    PostbackRef::Payload { payload, metadata } => json!({ "payload": payload, "metadata": metadata }),
                    PostbackRef::Action(action_id) => {
                        let message_id = crate::domain::sdk::action_message_id(&action_id).ok_or_else(|| DomainError::invalid("postback.actionId is not an action of this conversation"))?;
                        let row: Option<(String,)> = sql::query_as("SELECT body FROM messages WHERE id = $1 AND conversation_id = $2")
                            .bind(message_id)
                            .bind(&conversation_id)
                            .fetch_optional(&mut *c)
                            .await?;
                        let message: Value = match row {
                            Some((b,)) => from_json(&b)?,
                            None => return Err(StoreError::not_found(Resource::Message)),
                        };
                        let action = find_action(&message, &action_id).filter(|a| a["type"] == "postback").ok_or_else(|| DomainError::invalid("postback.actionId does not name a postback action"))?;
                        text = action["text"].as_str().map(str::to_string);
                        json!({ "payload": action["payload"], "metadata": action.get("metadata").cloned().unwrap_or(Value::Null) })
                    }
                };
                let received = Postback { conversation: (&conversation).into(), postback: postback.clone(), user, source };
                events::record(c, &app_id, &Event::PostbackReceived(received)).await?;
                Ok((postback, text))
            })
        })
        .await
    }

    /// The user whose externalId is exactly `external_id` (never matched by id).
    pub async fn user_by_external_id(&self, app_id: &str, external_id: &str) -> StoreResult<Option<User>> {
        let row = sql::query("SELECT body FROM users WHERE app_id = $1 AND external_id = $2").bind(app_id).bind(external_id).fetch_optional(self.reader()).await?;
        row.as_ref().map(user_from_row).transpose()
    }

    /// The app an integration belongs to.
    pub async fn integration_app(&self, integration_id: &str) -> StoreResult<String> {
        let row: Option<(String,)> = sql::query_as("SELECT app_id FROM integrations WHERE id = $1").bind(integration_id).fetch_optional(self.reader()).await?;
        row.map(|r| r.0).ok_or_else(|| StoreError::not_found(Resource::Integration))
    }
}
