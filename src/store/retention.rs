//! `conversationRetentionSeconds`: messages of a conversation idle for longer than its
//! app's retention are deleted by a periodic sweep (`crate::retention`). The
//! conversation stays, empty; its `lastUpdatedAt` still tells when it was last active.
//!
//! The sweep reads the apps that set a retention, then takes their idle conversations
//! from `conversations_to_retain (app_id, last_updated_at) WHERE message_count > 0`, a
//! bounded batch per transaction. Deleting is idempotent, so nodes of a cluster may
//! sweep at the same time.

use super::rows::from_json;
use super::sql;
use super::{Store, StoreResult};
use crate::domain::app::AppSettings;

/// Conversations emptied per transaction.
const BATCH: i64 = 200;

impl Store {
    /// Deletes the messages of every conversation idle since before its app's retention
    /// (counted back from `now`, epoch ms). Returns how many conversations were emptied.
    pub async fn sweep_retention(&self, now: i64) -> StoreResult<usize> {
        let apps: Vec<(String, String)> = sql::query_as("SELECT id, settings FROM apps").fetch_all(self.reader()).await?;
        let mut emptied = 0;
        for (app_id, settings) in apps {
            let settings: AppSettings = from_json(&settings)?;
            let Some(seconds) = settings.conversation_retention_seconds.filter(|s| *s > 0) else { continue };
            let cutoff = now.saturating_sub(i64::try_from(seconds.saturating_mul(1000)).unwrap_or(i64::MAX));
            loop {
                let app = app_id.clone();
                let n = self
                    .write(move |c| {
                        Box::pin(async move {
                            let idle: Vec<(String,)> = sql::query_as(
                                "SELECT id FROM conversations WHERE app_id = $1 AND last_updated_at < $2 AND message_count > 0 ORDER BY last_updated_at LIMIT $3",
                            )
                            .bind(&app)
                            .bind(cutoff)
                            .bind(BATCH)
                            .fetch_all(&mut *c)
                            .await?;
                            for (id,) in &idle {
                                sql::query("DELETE FROM messages WHERE conversation_id = $1").bind(id).execute(&mut *c).await?;
                                // The deleted messages' `for=message` files go with them.
                                sql::query("UPDATE attachments SET state = 'doomed', state_at = $1 WHERE conversation_id = $2 AND message_id IS NOT NULL AND for_message = 1 AND state <> 'doomed'")
                                    .bind(now)
                                    .bind(id)
                                    .execute(&mut *c)
                                    .await?;
                                sql::query("UPDATE conversations SET message_count = 0 WHERE id = $1").bind(id).execute(&mut *c).await?;
                                sql::query("UPDATE participants SET unread_count = 0 WHERE conversation_id = $1").bind(id).execute(&mut *c).await?;
                            }
                            Ok(idle.len())
                        })
                    })
                    .await?;
                emptied += n;
                if (n as i64) < BATCH {
                    break;
                }
            }
        }
        Ok(emptied)
    }
}
