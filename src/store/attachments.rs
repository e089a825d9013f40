//! Attachment rows (`attachments`): what each stored object is, who owns it, and where
//! it is in its life (`domain::attachment::AttachmentState`).
//!
//! The owners' deletions (DeleteMessage, DeleteAllMessages, DeleteConversation,
//! DeleteUser, DeleteApp, the retention sweep) mark their files `doomed` in their own
//! transactions, with one `UPDATE attachments …` each; the sweeper
//! (`crate::attachments::start_sweeper`) deletes the objects and then the rows, so a crash at any
//! point leaves a row to sweep and never an object nobody knows about.

use super::sql::{self, Row};
use super::{Store, StoreError, StoreResult};
use crate::domain::attachment::{Attachment, AttachmentState};
use crate::domain::error::Resource;
use crate::domain::time::now_ms;

const COLUMNS: &str = "id, app_id, name, media_type, size, for_message, conversation_id, message_id, user_id, state, created_at";

fn from_row(row: &Row) -> StoreResult<Attachment> {
    let state: String = row.try_get("state")?;
    Ok(Attachment {
        id: row.try_get("id")?,
        app_id: row.try_get("app_id")?,
        name: row.try_get("name")?,
        media_type: row.try_get("media_type")?,
        size: u64::try_from(row.try_get::<i64, _>("size")?).unwrap_or(0),
        for_message: row.try_get::<i64, _>("for_message")? != 0,
        conversation_id: row.try_get("conversation_id")?,
        message_id: row.try_get("message_id")?,
        user_id: row.try_get("user_id")?,
        state: AttachmentState::parse(&state).ok_or_else(|| StoreError::Corrupt(format!("attachment state {state}")))?,
        created_at: row.try_get("created_at")?,
    })
}

impl Store {
    /// Records an upload about to be written (`uploading`, never served). A
    /// `conversation_id` must name a conversation of the app.
    pub async fn begin_attachment(&self, a: &Attachment) -> StoreResult<()> {
        let a = a.clone();
        self.write(move |c| {
            Box::pin(async move {
                if let Some(conversation) = &a.conversation_id {
                    let found = sql::query("SELECT id FROM conversations WHERE app_id = $1 AND id = $2").bind(&a.app_id).bind(conversation).fetch_optional(&mut *c).await?;
                    if found.is_none() {
                        return Err(StoreError::not_found(Resource::Conversation));
                    }
                }
                let now = now_ms();
                sql::query(format!("INSERT INTO attachments ({COLUMNS}, state_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"))
                    .bind(&a.id)
                    .bind(&a.app_id)
                    .bind(&a.name)
                    .bind(&a.media_type)
                    .bind(0i64)
                    .bind(i64::from(a.for_message))
                    .bind(&a.conversation_id)
                    .bind(None::<String>)
                    .bind(None::<String>)
                    .bind(AttachmentState::Uploading.as_str())
                    .bind(now)
                    .bind(now)
                    .execute(&mut *c)
                    .await?;
                Ok(())
            })
        })
        .await
    }

    /// Records a file stored before attachments had rows (`crate::attachments::local`'s
    /// legacy layout) as `ready`; a row that exists already is kept.
    pub async fn import_attachment(&self, a: &Attachment) -> StoreResult<()> {
        let a = a.clone();
        self.write(move |c| {
            Box::pin(async move {
                sql::query(format!("INSERT INTO attachments ({COLUMNS}, state_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (id) DO NOTHING"))
                    .bind(&a.id)
                    .bind(&a.app_id)
                    .bind(&a.name)
                    .bind(&a.media_type)
                    .bind(i64::try_from(a.size).unwrap_or(i64::MAX))
                    .bind(i64::from(a.for_message))
                    .bind(None::<String>)
                    .bind(None::<String>)
                    .bind(None::<String>)
                    .bind(AttachmentState::Ready.as_str())
                    .bind(a.created_at)
                    .bind(a.created_at)
                    .execute(&mut *c)
                    .await?;
                Ok(())
            })
        })
        .await
    }

    /// The upload's bytes are stored: it becomes `ready`. Fails (404 app) when its owner
    /// went away meanwhile; the row is then `doomed` and swept.
    pub async fn finish_attachment(&self, id: &str, media_type: &str, size: u64) -> StoreResult<Attachment> {
        let (id, media_type) = (id.to_string(), media_type.to_string());
        self.write(move |c| {
            Box::pin(async move {
                let row = sql::query(format!(
                    "UPDATE attachments SET state = 'ready', state_at = $1, media_type = $2, size = $3 WHERE id = $4 AND state = 'uploading' RETURNING {COLUMNS}"
                ))
                .bind(now_ms())
                .bind(&media_type)
                .bind(i64::try_from(size).unwrap_or(i64::MAX))
                .bind(&id)
                .fetch_optional(&mut *c)
                .await?;
                match row {
                    Some(r) => from_row(&r),
                    None => Err(StoreError::not_found(Resource::App)),
                }
            })
        })
        .await
    }

    /// A stored attachment, in whatever state.
    pub async fn get_attachment(&self, id: &str) -> StoreResult<Option<Attachment>> {
        let row = sql::query(format!("SELECT {COLUMNS} FROM attachments WHERE id = $1")).bind(id).fetch_optional(self.reader()).await?;
        row.as_ref().map(from_row).transpose()
    }

    /// DeleteAttachment: dooms the ready attachment `id` named `name` of `app_id`; `false`
    /// when there is none.
    pub async fn doom_attachment(&self, app_id: &str, id: &str, name: &str) -> StoreResult<bool> {
        let (app_id, id, name) = (app_id.to_string(), id.to_string(), name.to_string());
        self.write(move |c| {
            Box::pin(async move {
                let done = sql::query("UPDATE attachments SET state = 'doomed', state_at = $1 WHERE id = $2 AND app_id = $3 AND name = $4 AND state = 'ready'")
                    .bind(now_ms())
                    .bind(&id)
                    .bind(&app_id)
                    .bind(&name)
                    .execute(&mut *c)
                    .await?;
                Ok(done > 0)
            })
        })
        .await
    }

    /// An upload that failed: its (partial) object is to be swept.
    pub async fn abandon_attachment(&self, id: &str) -> StoreResult<()> {
        let id = id.to_string();
        self.write(move |c| {
            Box::pin(async move {
                sql::query("UPDATE attachments SET state = 'doomed', state_at = $1 WHERE id = $2 AND state <> 'doomed'").bind(now_ms()).bind(&id).execute(&mut *c).await?;
                Ok(())
            })
        })
        .await
    }

    /// Up to `limit` attachments whose objects are to be deleted: the doomed ones, and
    /// uploads interrupted before `stale_before` (epoch ms).
    pub async fn attachments_to_sweep(&self, stale_before: i64, limit: i64) -> StoreResult<Vec<String>> {
        let rows: Vec<(String,)> = sql::query_as(
            "SELECT id FROM attachments WHERE state <> 'ready' AND (state = 'doomed' OR (state = 'uploading' AND state_at < $1)) LIMIT $2",
        )
        .bind(stale_before)
        .bind(limit)
        .fetch_all(self.reader())
        .await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    /// Forgets swept attachments (their objects are gone). Ready ones are kept.
    pub async fn forget_attachments(&self, ids: Vec<String>) -> StoreResult<()> {
        if ids.is_empty() {
            return Ok(());
        }
        self.write(move |c| {
            Box::pin(async move {
                let list = sql::placeholders(1, ids.len());
                let mut q = sql::query(format!("DELETE FROM attachments WHERE state <> 'ready' AND id IN ({list})"));
                for id in &ids {
                    q = q.bind(id);
                }
                q.execute(&mut *c).await?;
                Ok(())
            })
        })
        .await
    }
}
