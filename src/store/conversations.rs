//! Conversations and participants.
//!
//! Lists are served by indexes, never scans: a user's conversations by
//! `participants_by_user (user_id, conversation_id)`, a conversation's participants by
//! `participants_by_conversation (conversation_id, id)`.

use serde_json::json;
use super::paging::fetch_page;
use super::sql::{self, Tx, Value};

use super::rows::{from_json, to_json};
use super::users::{find_user_by_tx, find_user_tx};
use super::switchboards::initial_control;
use super::{events, Store, StoreError, StoreResult};
use crate::domain::conversation::{Conversation, ConversationDetails, ConversationKind, LeaveRef, NewConversation, Participant, UserRef};
use crate::domain::error::{DomainError, Resource};
use crate::domain::event::{ConversationCreated, ConversationRemoved, CreationReason, Event, Membership, UserSummary};
use crate::domain::ids::new_id;
use crate::domain::pagination::{Page, PageRequest};
use crate::domain::switchboard::{Control, SwitchboardIntegration, SwitchboardIntegrationRef};
use crate::domain::time::now_ms;
use crate::domain::user::User;

/// A conversation's columns, and the switchboard integrations that are active and pending
/// in it (by primary key; NULL when there is none, or it was deleted since).
pub(crate) const CONVERSATION_COLUMNS: &str = "c.id, c.kind, c.is_default, c.body, c.business_last_read, c.created_at, c.last_updated_at, \
     (SELECT sa.body FROM switchboard_integrations sa WHERE sa.id = c.active_switchboard_integration_id) AS active_switchboard, \
     (SELECT sp.body FROM switchboard_integrations sp WHERE sp.id = c.pending_switchboard_integration_id) AS pending_switchboard";

pub(crate) fn conversation_from_row(row: &sql::Row) -> StoreResult<Conversation> {
    let kind: String = row.try_get("kind")?;
    let switchboard_integration = |column: &str| -> StoreResult<Option<SwitchboardIntegrationRef>> {
        let body: Option<String> = row.try_get(column)?;
        Ok(body.map(|b| from_json::<SwitchboardIntegration>(&b)).transpose()?.as_ref().map(SwitchboardIntegrationRef::from))
    };
    let control = Control { active_switchboard_integration: switchboard_integration("active_switchboard")?, pending_switchboard_integration: switchboard_integration("pending_switchboard")? };
    Ok(Conversation {
        id: row.try_get("id")?,
        kind: ConversationKind::parse(&kind).ok_or_else(|| StoreError::Corrupt(format!("conversation kind {kind}")))?,
        is_default: row.try_get::<i64, _>("is_default")? != 0,
        details: from_json(&row.try_get::<String, _>("body")?)?,
        business_last_read: row.try_get("business_last_read")?,
        created_at: row.try_get("created_at")?,
        last_updated_at: row.try_get("last_updated_at")?,
        control,
    })
}

const PARTICIPANT_COLUMNS: &str = "p.id, p.user_id, u.external_id, p.unread_count, p.last_read";

fn participant_from_row(row: &sql::Row) -> StoreResult<Participant> {
    Ok(Participant {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        user_external_id: row.try_get("external_id")?,
        unread_count: row.try_get("unread_count")?,
        last_read: row.try_get("last_read")?,
    })
}

pub(crate) async fn find_conversation_tx(c: &mut Tx<'_>, app_id: &str, id: &str) -> StoreResult<Conversation> {
    select_conversation_tx(c, app_id, id, "").await
}

/// Finds a conversation and locks its row until the transaction ends (see
/// [`Tx::for_update`]): for a transaction that rewrites it from what it read.
async fn lock_conversation_tx(c: &mut Tx<'_>, app_id: &str, id: &str) -> StoreResult<Conversation> {
    let lock = c.for_update();
    select_conversation_tx(c, app_id, id, lock).await
}

async fn select_conversation_tx(c: &mut Tx<'_>, app_id: &str, id: &str, lock: &str) -> StoreResult<Conversation> {
    let row = sql::query(format!("SELECT {CONVERSATION_COLUMNS} FROM conversations c WHERE c.app_id = $1 AND c.id = $2{lock}"))
        .bind(app_id)
        .bind(id)
        .fetch_optional(&mut *c)
        .await?;
    match row {
        Some(r) => conversation_from_row(&r),
        None => Err(StoreError::not_found(Resource::Conversation)),
    }
}

async fn find_participant_tx(c: &mut Tx<'_>, conversation_id: &str, user_id: &str) -> StoreResult<Option<Participant>> {
    let row = sql::query(&format!(
        "SELECT {PARTICIPANT_COLUMNS} FROM participants p JOIN users u ON u.id = p.user_id WHERE p.conversation_id = $1 AND p.user_id = $2"
    ))
    .bind(conversation_id)
    .bind(user_id)
    .fetch_optional(&mut *c)
    .await?;
    row.as_ref().map(participant_from_row).transpose()
}

async fn insert_participant(c: &mut Tx<'_>, app_id: &str, conversation_id: &str, user: &User, now: i64) -> StoreResult<Participant> {
    let id = new_id();
    sql::query("INSERT INTO participants (id, app_id, conversation_id, user_id, unread_count, created_at) VALUES ($1, $2, $3, $4, 0, $5)")
        .bind(&id)
        .bind(app_id)
        .bind(conversation_id)
        .bind(&user.id)
        .bind(now)
        .execute(&mut *c)
        .await?;
    Ok(Participant { id, user_id: user.id.clone(), user_external_id: user.external_id.clone(), unread_count: 0, last_read: None })
}

async fn resolve_user(c: &mut Tx<'_>, app_id: &str, r: &UserRef) -> StoreResult<User> {
    let (id, external) = r.parts();
    find_user_by_tx(c, app_id, id, external).await
}

impl Store {
    pub async fn create_conversation(&self, app_id: &str, new: NewConversation) -> StoreResult<(Conversation, Vec<Participant>)> {
        let app_id = app_id.to_string();
        self.write(move |c| {
            Box::pin(async move {
                let now = now_ms();
                let mut users = Vec::with_capacity(new.participants.len());
                for r in &new.participants {
                    users.push(resolve_user(c, &app_id, r).await?);
                }
                let is_default = match (new.kind, users.first()) {
                    (ConversationKind::Personal, Some(user)) => {
                        let existing: Option<(String,)> = sql::query_as(
                            "SELECT c.id FROM participants p JOIN conversations c ON c.id = p.conversation_id \
                             WHERE p.user_id = $1 AND c.kind = 'personal' LIMIT 1",
                        )
                        .bind(&user.id)
                        .fetch_optional(&mut *c)
                        .await?;
                        existing.is_none()
                    }
                    _ => false,
                };
                // While the app's switchboard is enabled, its default takes control.
                let (control_state, control) = initial_control(c, &app_id).await?;
                let conversation = Conversation {
                    id: new_id(),
                    kind: new.kind,
                    is_default,
                    details: new.details,
                    business_last_read: None,
                    created_at: now,
                    last_updated_at: now,
                    control,
                };
                sql::query(
                    "INSERT INTO conversations (id, app_id, kind, is_default, body, last_seq, message_count, created_at, last_updated_at, active_switchboard_integration_id) \
                     VALUES ($1, $2, $3, $4, $5, 0, 0, $6, $7, $8)",
                )
                .bind(&conversation.id)
                .bind(&app_id)
                .bind(conversation.kind.as_str())
                .bind(conversation.is_default as i64)
                .bind(to_json(&conversation.details))
                .bind(now)
                .bind(now)
                .bind(&control_state.active)
                .execute(&mut *c)
                .await?;
                let mut participants = Vec::with_capacity(users.len());
                for user in &users {
                    participants.push(insert_participant(c, &app_id, &conversation.id, user, now).await?);
                }
                let created = ConversationCreated {
                    conversation: (&conversation).into(),
                    user: users.first().filter(|_| conversation.kind == ConversationKind::Personal).map(UserSummary::from),
                    creation_reason: CreationReason::None,
                    source: json!({ "type": "api" }),
                };
                events::record(c, &app_id, &Event::ConversationCreated(created)).await?;
                Ok((conversation, participants))
            })
        })
        .await
    }

    pub async fn get_conversation(&self, app_id: &str, id: &str) -> StoreResult<Conversation> {
        let row = sql::query(&format!("SELECT {CONVERSATION_COLUMNS} FROM conversations c WHERE c.app_id = $1 AND c.id = $2"))
            .bind(app_id)
            .bind(id)
            .fetch_optional(self.reader())
            .await?;
        match row {
            Some(r) => conversation_from_row(&r),
            None => Err(StoreError::not_found(Resource::Conversation)),
        }
    }

    /// The conversations a user takes part in, by conversation id.
    pub async fn list_user_conversations(&self, app_id: &str, user: &UserRef, page: &PageRequest) -> StoreResult<Page<Conversation>> {
        let (id, external) = user.parts();
        let user_id = match (id, external) {
            (Some(id), _) => {
                let found: Option<(String,)> = sql::query_as("SELECT id FROM users WHERE app_id = $1 AND id = $2").bind(app_id).bind(id).fetch_optional(self.reader()).await?;
                found.map(|r| r.0)
            }
            (None, Some(e)) => {
                let found: Option<(String,)> =
                    sql::query_as("SELECT id FROM users WHERE app_id = $1 AND external_id = $2").bind(app_id).bind(e).fetch_optional(self.reader()).await?;
                found.map(|r| r.0)
            }
            _ => None,
        }
        .ok_or_else(|| StoreError::not_found(Resource::User))?;
        let base = format!("SELECT {CONVERSATION_COLUMNS} FROM participants p JOIN conversations c ON c.id = p.conversation_id WHERE p.user_id = $1");
        let rows = fetch_page(self.reader(), &base, "p.conversation_id", vec![Value::Text(user_id)], page).await?;
        let items = rows.iter().map(conversation_from_row).collect::<StoreResult<Vec<_>>>()?;
        Ok(Page::from_rows(items, page, |c| c.id.clone()))
    }

    /// UpdateConversation: reads the conversation under a row lock, applies `apply` to
    /// its details and writes them, in one transaction, so concurrent updates each start
    /// from the other's result instead of losing it.
    pub async fn patch_conversation<F>(&self, app_id: &str, id: &str, apply: F) -> StoreResult<Conversation>
    where
        F: FnOnce(&ConversationDetails) -> crate::domain::error::DomainResult<ConversationDetails> + Send + 'static,
    {
        let (app_id, id) = (app_id.to_string(), id.to_string());
        self.write(move |c| {
            Box::pin(async move {
                let current = lock_conversation_tx(c, &app_id, &id).await?;
                let details = apply(&current.details)?;
                sql::query("UPDATE conversations SET body = $1 WHERE id = $2").bind(to_json(&details)).bind(&current.id).execute(&mut *c).await?;
                Ok(Conversation { details, ..current })
            })
        })
        .await
    }

    /// Deletes a conversation with its messages and participations. The default
    /// conversation of a user cannot be deleted (400, as the spec says).
    pub async fn delete_conversation(&self, app_id: &str, id: &str) -> StoreResult<()> {
        let (app_id, id) = (app_id.to_string(), id.to_string());
        self.write(move |c| {
            Box::pin(async move {
                let conversation = find_conversation_tx(c, &app_id, &id).await?;
                if conversation.is_default {
                    return Err(DomainError::Rule(format!("Conversation {id} cannot be deleted because it is the default.")).into());
                }
                sql::query("DELETE FROM messages WHERE conversation_id = $1").bind(&id).execute(&mut *c).await?;
                // Its `for=message` files go with it (store/attachments.rs sweeps them).
                sql::query("UPDATE attachments SET state = 'doomed', state_at = $1 WHERE conversation_id = $2 AND for_message = 1 AND state <> 'doomed'")
                    .bind(now_ms())
                    .bind(&id)
                    .execute(&mut *c)
                    .await?;
                let participants: Vec<(String,)> = sql::query_as("SELECT user_id FROM participants WHERE conversation_id = $1 ORDER BY id").bind(&id).fetch_all(&mut *c).await?;
                sql::query("DELETE FROM participants WHERE conversation_id = $1").bind(&id).execute(&mut *c).await?;
                sql::query("DELETE FROM conversations WHERE id = $1").bind(&id).execute(&mut *c).await?;
                let removed = ConversationRemoved { conversation: (&conversation).into(), participants: participants.into_iter().map(|(u,)| u).collect() };
                events::record(c, &app_id, &Event::ConversationRemoved(removed)).await?;
                Ok(())
            })
        })
        .await
    }

    /// Adds a user to an sdkGroup conversation. Joining twice returns the existing
    /// participant (`false`) and records no second event.
    pub async fn join_conversation(&self, app_id: &str, conversation_id: &str, user: UserRef) -> StoreResult<(Participant, bool)> {
        let (app_id, conversation_id) = (app_id.to_string(), conversation_id.to_string());
        let max = self.limits.max_participants;
        self.write(move |c| {
            Box::pin(async move {
                let conversation = find_conversation_tx(c, &app_id, &conversation_id).await?;
                let user = resolve_user(c, &app_id, &user).await?;
                if conversation.kind != ConversationKind::SdkGroup {
                    return Err(DomainError::Rule("The endpoint only supports adding a participant to a sdkGroup conversation".into()).into());
                }
                if let Some(existing) = find_participant_tx(c, &conversation_id, &user.id).await? {
                    return Ok((existing, false));
                }
                let (n,): (i64,) = sql::query_as("SELECT COUNT(*) FROM participants WHERE conversation_id = $1").bind(&conversation_id).fetch_one(&mut *c).await?;
                if n >= max {
                    return Err(DomainError::Rule("Too many participants".into()).into());
                }
                let participant = insert_participant(c, &app_id, &conversation_id, &user, now_ms()).await?;
                let joined = Membership { conversation: (&conversation).into(), user: (&user).into() };
                events::record(c, &app_id, &Event::ParticipantJoined(joined)).await?;
                Ok((participant, true))
            })
        })
        .await
    }

    pub async fn leave_conversation(&self, app_id: &str, conversation_id: &str, who: LeaveRef) -> StoreResult<()> {
        let (app_id, conversation_id) = (app_id.to_string(), conversation_id.to_string());
        self.write(move |c| {
            Box::pin(async move {
                let conversation = find_conversation_tx(c, &app_id, &conversation_id).await?;
                let user_id = match &who {
                    LeaveRef::User(r) => resolve_user(c, &app_id, r).await?.id,
                    LeaveRef::Participant(pid) => {
                        let row: Option<(String,)> = sql::query_as("SELECT user_id FROM participants WHERE conversation_id = $1 AND id = $2")
                            .bind(&conversation_id)
                            .bind(pid)
                            .fetch_optional(&mut *c)
                            .await?;
                        row.ok_or_else(|| StoreError::not_found(Resource::Participant))?.0
                    }
                };
                if conversation.kind == ConversationKind::Personal {
                    return Err(DomainError::Rule("Participants cannot leave a personal conversation".into()).into());
                }
                let done = sql::query("DELETE FROM participants WHERE conversation_id = $1 AND user_id = $2")
                    .bind(&conversation_id)
                    .bind(&user_id)
                    .execute(&mut *c)
                    .await?;
                if done == 0 {
                    return Err(StoreError::not_found(Resource::Participant));
                }
                let user = find_user_tx(c, &app_id, &user_id).await?;
                let left = Membership { conversation: (&conversation).into(), user: (&user).into() };
                events::record(c, &app_id, &Event::ParticipantLeft(left)).await?;
                Ok(())
            })
        })
        .await
    }

    pub async fn list_participants(&self, app_id: &str, conversation_id: &str, page: &PageRequest) -> StoreResult<Page<Participant>> {
        self.get_conversation(app_id, conversation_id).await?;
        let base = format!("SELECT {PARTICIPANT_COLUMNS} FROM participants p JOIN users u ON u.id = p.user_id WHERE p.conversation_id = $1");
        let rows = fetch_page(self.reader(), &base, "p.id", vec![Value::Text(conversation_id.to_string())], page).await?;
        let items = rows.iter().map(participant_from_row).collect::<StoreResult<Vec<_>>>()?;
        Ok(Page::from_rows(items, page, |p| p.id.clone()))
    }

    /// The participants of a conversation as webhook/realtime consumers need them.
    pub async fn participant_user_ids(&self, conversation_id: &str) -> StoreResult<Vec<String>> {
        let rows: Vec<(String,)> = sql::query_as("SELECT user_id FROM participants WHERE conversation_id = $1 ORDER BY id LIMIT 1000")
            .bind(conversation_id)
            .fetch_all(self.reader())
            .await?;
        Ok(rows.into_iter().map(|r| r.0).collect())
    }
}

/// Used by messages and activities: the participant row of a user, if any.
pub(crate) async fn participant_of(c: &mut Tx<'_>, conversation_id: &str, user_id: &str) -> StoreResult<Option<Participant>> {
    find_participant_tx(c, conversation_id, user_id).await
}

