//! Messages and activities.
//!
//! Order is the per-conversation sequence `conversations.last_seq`, bumped in the
//! transaction that inserts the message: on SQLite the single writer serialises it, on
//! PostgreSQL the row lock of that UPDATE does. History pages are range scans of the
//! primary key `(conversation_id, seq)`; a cursor id is resolved through `messages_by_id`.

use serde_json::{json, Value};
use super::sql::{self, Tx};

use super::conversations::{find_conversation_tx, participant_of};
use super::rows::{from_json, to_json};
use super::switchboards::control_at_activity;
use super::users::find_user_by_tx;
use super::message_batch::{Queued, Ready};
use super::{events, Store, StoreError, StoreResult};
use crate::domain::conversation::ConversationKind;
use crate::domain::event::{Activity, ActivityAuthor, ActivityDetails, ConversationRef, Event, MessagePosted, UserSummary};
use crate::domain::error::{DomainError, Resource};
use crate::domain::ids::new_id;
use crate::domain::message::{build_message, ActivityKind, AuthorInput, NewActivity, NewMessage};
use crate::domain::pagination::Page;
use crate::domain::switchboard::ControlState;
use crate::domain::time::now_ms;
use crate::domain::user::User;

/// ListMessages pages are a fixed 100, as the spec says.
pub const MESSAGE_PAGE: i64 = 100;

/// A message as stored: its id and its document's JSON text (the wire form).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    pub id: String,
    pub body: String,
}

/// Where a message page starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageCursor {
    Newest,
    Before(String),
    After(String),
}

/// Resolves a user author and checks it takes part in the conversation.
async fn author_user(c: &mut Tx<'_>, app_id: &str, conversation_id: &str, author: &AuthorInput) -> StoreResult<Option<User>> {
    let AuthorInput::User { user_id, user_external_id, .. } = author else { return Ok(None) };
    let user = find_user_by_tx(c, app_id, user_id.as_deref(), user_external_id.as_deref()).await?;
    if participant_of(c, conversation_id, &user.id).await?.is_none() {
        return Err(DomainError::Rule("The author is not a participant of the conversation".into()).into());
    }
    Ok(Some(user))
}

impl Store {
    /// Appends a message; answers 423 once the conversation holds the limit. Answers the
    /// message's document.
    pub async fn post_message(&self, app_id: &str, conversation_id: &str, new: NewMessage, source: Value) -> StoreResult<Value> {
        from_json(&self.post_message_text(app_id, conversation_id, new, source).await?)
    }

    /// [`Store::post_message`], answering the document's stored JSON text (its wire form,
    /// which PostMessage's response is written around).
    ///
    /// A business message without an attachment is written in a batch with the others
    /// queued at the time (`message_batch`); every other message, and one the batch does
    /// not take, is posted alone ([`Store::post_one`]).
    pub async fn post_message_text(&self, app_id: &str, conversation_id: &str, new: NewMessage, source: Value) -> StoreResult<String> {
        let id = new_id();
        let now = now_ms();
        if new.attachment.is_some() || matches!(new.author, AuthorInput::User { .. }) {
            return self.post_one(app_id, conversation_id, id, now, new, source).await;
        }
        let text = to_json(&build_message(&id, now, &new, None, source.clone()));
        let ready = Ready { app_id: app_id.to_string(), conversation_id: conversation_id.to_string(), id, received: now, text };
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.message_batcher.submit(&self.0, Queued { ready, new, source, reply })?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Appends one message in a write of its own.
    ///
    /// The writer's share is kept small: the id, the time and (for a business author) the
    /// document and its JSON text are made before the write is queued; inside, one UPDATE
    /// both checks the conversation (found, not full) and takes the next `seq`, and the
    /// switchboard is read only when the app has one. Every refusal happens before the
    /// first change, so the write needs no savepoint (`write_checked`).
    pub(super) async fn post_one(&self, app_id: &str, conversation_id: &str, id: String, now: i64, new: NewMessage, source: Value) -> StoreResult<String> {
        let (app_id, conversation_id) = (app_id.to_string(), conversation_id.to_string());
        let limit = self.limits.max_messages_per_conversation;
        // A user author's document shows the user as stored, so it is built inside.
        let prebuilt = match new.author {
            AuthorInput::User { .. } => None,
            _ => {
                let message = build_message(&id, now, &new, None, source.clone());
                let text = to_json(&message);
                Some((message, text))
            }
        };
        self.write_checked(move |c| {
            Box::pin(async move {
                let user = author_user(c, &app_id, &conversation_id, &new.author).await?;
                let bumped = sql::query(
                    "UPDATE conversations SET last_seq = last_seq + 1, message_count = message_count + 1, last_updated_at = $1 \
                     WHERE app_id = $2 AND id = $3 AND message_count < $4 \
                     RETURNING last_seq, kind, body, active_switchboard_integration_id, pending_switchboard_integration_id, \
                     EXISTS (SELECT 1 FROM switchboards s WHERE s.app_id = $2) AS has_switchboard",
                )
                .bind(now)
                .bind(&app_id)
                .bind(&conversation_id)
                .bind(limit)
                .fetch_optional(&mut *c)
                .await?;
                let Some(row) = bumped else {
                    // Either the conversation is unknown or it is full.
                    find_conversation_tx(c, &app_id, &conversation_id).await?;
                    return Err(DomainError::Locked(format!("Message limit of {limit} per conversation reached.")).into());
                };
                let seq: i64 = row.try_get("last_seq")?;
                let kind = ConversationKind::parse(&row.try_get::<String, _>("kind")?).unwrap_or(ConversationKind::SdkGroup);
                let details: crate::domain::conversation::ConversationDetails = from_json(&row.try_get::<String, _>("body")?)?;
                // A message is the activity that hands a conversation nobody controls to the
                // switchboard's default; the event names who is in control as it arrives.
                let control = if row.try_get::<bool, _>("has_switchboard")? {
                    let stored = ControlState { active: row.try_get("active_switchboard_integration_id")?, pending: row.try_get("pending_switchboard_integration_id")? };
                    control_at_activity(c, &app_id, &conversation_id, stored).await?
                } else {
                    Default::default()
                };
                let (message, text) = match prebuilt {
                    Some(built) => built,
                    None => {
                        let message = build_message(&id, now, &new, user.as_ref(), source);
                        let text = to_json(&message);
                        (message, text)
                    }
                };
                sql::query("INSERT INTO messages (conversation_id, seq, id, body, received) VALUES ($1, $2, $3, $4, $5)")
                    .bind(&conversation_id)
                    .bind(seq)
                    .bind(&id)
                    .bind(text.as_str())
                    .bind(now)
                    .execute(&mut *c)
                    .await?;
                if let Some(attachment) = &new.attachment {
                    // Its `for=message` file now lives and dies with this message.
                    sql::query("UPDATE attachments SET message_id = $1, conversation_id = $2, user_id = $3 WHERE id = $4 AND app_id = $5 AND for_message = 1 AND message_id IS NULL AND state = 'ready'")
                        .bind(&id)
                        .bind(&conversation_id)
                        .bind(user.as_ref().map(|u| u.id.clone()))
                        .bind(attachment)
                        .bind(&app_id)
                        .execute(&mut *c)
                        .await?;
                }
                // The author has read what they wrote; everyone else has one more unread.
                let author_id = user.as_ref().map(|u| u.id.as_str()).unwrap_or("");
                sql::query("UPDATE participants SET unread_count = unread_count + 1 WHERE conversation_id = $1 AND user_id <> $2")
                    .bind(&conversation_id)
                    .bind(author_id)
                    .execute(&mut *c)
                    .await?;
                let posted = MessagePosted {
                    conversation: ConversationRef::new(&conversation_id, kind, details.metadata.as_ref()).with_control(control),
                    message,
                    author_user: user.as_ref().map(UserSummary::from),
                };
                events::record(c, &app_id, &Event::MessagePosted(posted)).await?;
                Ok(text)
            })
        })
        .await
    }

    /// One page of history, oldest first within the page, as documents.
    pub async fn list_messages(&self, app_id: &str, conversation_id: &str, cursor: &MessageCursor) -> StoreResult<Page<Value>> {
        let page = self.list_message_texts(app_id, conversation_id, cursor).await?;
        let items = page.items.iter().map(|m| from_json::<Value>(&m.body)).collect::<StoreResult<Vec<_>>>()?;
        Ok(Page { items, has_more: page.has_more, after_cursor: page.after_cursor, before_cursor: page.before_cursor })
    }

    /// One page of history as the stored JSON texts, which are the wire form (written only
    /// by `post_message` and the rewrites of this store, all through `to_json`): ListMessages
    /// concatenates them into its response instead of parsing and re-serialising 100
    /// documents. The happy path is one statement (one trip to a reader thread): the
    /// conversation's app and the cursor's `seq` are subqueries; only an empty page asks
    /// again, to tell an empty conversation from an unknown one or a bad cursor.
    pub async fn list_message_texts(&self, app_id: &str, conversation_id: &str, cursor: &MessageCursor) -> StoreResult<Page<StoredMessage>> {
        let limit = MESSAGE_PAGE + 1;
        const OWNED: &str = "EXISTS (SELECT 1 FROM conversations c WHERE c.id = $1 AND c.app_id = $2)";
        const CURSOR_SEQ: &str = "(SELECT m.seq FROM messages m WHERE m.id = $4 AND m.conversation_id = $1)";
        let (sql, cursor_id, backwards) = match cursor {
            MessageCursor::Newest => (format!("SELECT id, body FROM messages WHERE conversation_id = $1 AND {OWNED} ORDER BY seq DESC LIMIT $3"), None, true),
            MessageCursor::Before(id) => {
                (format!("SELECT id, body FROM messages WHERE conversation_id = $1 AND {OWNED} AND seq < {CURSOR_SEQ} ORDER BY seq DESC LIMIT $3"), Some(id), true)
            }
            MessageCursor::After(id) => (format!("SELECT id, body FROM messages WHERE conversation_id = $1 AND {OWNED} AND seq > {CURSOR_SEQ} ORDER BY seq LIMIT $3"), Some(id), false),
        };
        let mut q = sql::query_as::<(String, String)>(sql).bind(conversation_id).bind(app_id).bind(limit);
        if let Some(id) = cursor_id {
            q = q.bind(id);
        }
        let rows = q.fetch_all(self.reader()).await?;
        if rows.is_empty() {
            self.get_conversation(app_id, conversation_id).await?;
            if let Some(id) = cursor_id {
                let known: Option<(i64,)> =
                    sql::query_as("SELECT seq FROM messages WHERE id = $1 AND conversation_id = $2").bind(id).bind(conversation_id).fetch_optional(self.reader()).await?;
                if known.is_none() {
                    return Err(DomainError::invalid("Invalid page query parameters: unknown message cursor").into());
                }
            }
        }
        let mut items: Vec<StoredMessage> = rows.into_iter().map(|(id, body)| StoredMessage { id, body }).collect();
        let has_more = items.len() as i64 > MESSAGE_PAGE;
        items.truncate(MESSAGE_PAGE as usize);
        if backwards {
            items.reverse();
        }
        let (first, last) = (items.first().map(|m| m.id.clone()), items.last().map(|m| m.id.clone()));
        let page = match cursor {
            MessageCursor::Newest => Page { has_more, before_cursor: if has_more { first } else { None }, after_cursor: None, items },
            MessageCursor::Before(_) => Page { has_more, before_cursor: if has_more { first } else { None }, after_cursor: last, items },
            MessageCursor::After(_) => Page { has_more, after_cursor: if has_more { last } else { None }, before_cursor: first, items },
        };
        Ok(page)
    }

    pub async fn delete_message(&self, app_id: &str, conversation_id: &str, message_id: &str) -> StoreResult<()> {
        let (app_id, conversation_id, message_id) = (app_id.to_string(), conversation_id.to_string(), message_id.to_string());
        self.write(move |c| {
            Box::pin(async move {
                find_conversation_tx(c, &app_id, &conversation_id).await?;
                let done = sql::query("DELETE FROM messages WHERE conversation_id = $1 AND id = $2").bind(&conversation_id).bind(&message_id).execute(&mut *c).await?;
                if done == 0 {
                    return Err(StoreError::not_found(Resource::Message));
                }
                // Its `for=message` files go with it (store/attachments.rs sweeps them).
                sql::query("UPDATE attachments SET state = 'doomed', state_at = $1 WHERE message_id = $2 AND for_message = 1 AND state <> 'doomed'")
                    .bind(now_ms())
                    .bind(&message_id)
                    .execute(&mut *c)
                    .await?;
                sql::query("UPDATE conversations SET message_count = message_count - 1 WHERE id = $1").bind(&conversation_id).execute(&mut *c).await?;
                Ok(())
            })
        })
        .await
    }

    pub async fn delete_all_messages(&self, app_id: &str, conversation_id: &str) -> StoreResult<()> {
        let (app_id, conversation_id) = (app_id.to_string(), conversation_id.to_string());
        self.write(move |c| {
            Box::pin(async move {
                find_conversation_tx(c, &app_id, &conversation_id).await?;
                sql::query("DELETE FROM messages WHERE conversation_id = $1").bind(&conversation_id).execute(&mut *c).await?;
                sql::query("UPDATE attachments SET state = 'doomed', state_at = $1 WHERE conversation_id = $2 AND message_id IS NOT NULL AND for_message = 1 AND state <> 'doomed'")
                    .bind(now_ms())
                    .bind(&conversation_id)
                    .execute(&mut *c)
                    .await?;
                sql::query("UPDATE conversations SET message_count = 0 WHERE id = $1").bind(&conversation_id).execute(&mut *c).await?;
                sql::query("UPDATE participants SET unread_count = 0 WHERE conversation_id = $1").bind(&conversation_id).execute(&mut *c).await?;
                Ok(())
            })
        })
        .await
    }

    /// Read receipts and typing. `conversation:read` moves `lastRead`/`unreadCount`
    /// (user) or `businessLastRead` (business); typing changes nothing but is recorded
    /// as an event for webhooks and live clients.
    pub async fn post_activity(&self, app_id: &str, conversation_id: &str, activity: NewActivity) -> StoreResult<()> {
        let (app_id, conversation_id) = (app_id.to_string(), conversation_id.to_string());
        self.write(move |c| {
            Box::pin(async move {
                let conversation = find_conversation_tx(c, &app_id, &conversation_id).await?;
                let user = author_user(c, &app_id, &conversation_id, &activity.author).await?;
                let now = now_ms();
                if activity.kind == ActivityKind::Read {
                    match &user {
                        Some(u) => {
                            sql::query("UPDATE participants SET unread_count = 0, last_read = $1 WHERE conversation_id = $2 AND user_id = $3")
                                .bind(now)
                                .bind(&conversation_id)
                                .bind(&u.id)
                                .execute(&mut *c)
                                .await?;
                        }
                        None => {
                            sql::query("UPDATE conversations SET business_last_read = $1 WHERE id = $2").bind(now).bind(&conversation_id).execute(&mut *c).await?;
                        }
                    }
                }
                let author = match &user {
                    Some(u) => ActivityAuthor::User { user: u.into() },
                    None => ActivityAuthor::Business,
                };
                let details = ActivityDetails { kind: activity.kind, author, source: json!({ "type": "api" }) };
                events::record(c, &app_id, &Event::ActivityPosted(Activity { conversation: (&conversation).into(), activity: details })).await?;
                Ok(())
            })
        })
        .await
    }
}
