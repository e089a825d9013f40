//! Bulk loading, for `sunbeam bench`'s flat-cost scenario: many messages (and their
//! outbox events, already routed) into existing conversations, in large multi-row
//! statements — the store as a long-running deployment would have it, in seconds rather
//! than hours of PostMessage calls. Not an API operation.

use serde_json::Value;

use super::sql;
use super::{Store, StoreResult};
use crate::domain::conversation::ConversationKind;
use crate::domain::event::{ConversationRef, Event, MessagePosted, Trigger};
use crate::domain::ids::new_id;
use crate::domain::time::now_ms;

/// Rows per multi-row INSERT (7 parameters each, well under both databases' limits).
const CHUNK: usize = 200;

impl Store {
    /// Appends `per_conversation` copies of the message document `doc` (each with its own
    /// id) to each conversation, with one `conversation:message` outbox event each,
    /// marked routed. One transaction per conversation.
    pub async fn bulk_load_messages(&self, app_id: &str, conversations: &[String], per_conversation: usize, doc: &Value) -> StoreResult<usize> {
        let mut loaded = 0;
        for conversation in conversations {
            let now = now_ms();
            let mut rows = Vec::with_capacity(per_conversation);
            for _ in 0..per_conversation {
                let id = new_id();
                let mut message = doc.clone();
                message["id"] = Value::String(id.clone());
                let body = message.to_string();
                let event = Event::MessagePosted(MessagePosted { conversation: ConversationRef::new(conversation, ConversationKind::SdkGroup, None), message, author_user: None });
                rows.push((id, body, event.encode()));
            }
            let (app_id, conversation) = (app_id.to_string(), conversation.clone());
            loaded += self
                .write(move |c| {
                    Box::pin(async move {
                        let (last,): (i64,) = sql::query_as("SELECT last_seq FROM conversations WHERE id = $1").bind(&conversation).fetch_one(&mut *c).await?;
                        let mut seq = last;
                        for chunk in rows.chunks(CHUNK) {
                            let mut messages = String::from("INSERT INTO messages (conversation_id, seq, id, body, received) VALUES ");
                            let mut events = String::from("INSERT INTO events (id, app_id, kind, conversation_id, payload, created_at, routed_at) VALUES ");
                            for i in 0..chunk.len() {
                                let sep = if i > 0 { ", " } else { "" };
                                messages.push_str(&format!("{sep}({})", sql::placeholders(i * 5 + 1, 5)));
                                events.push_str(&format!("{sep}({})", sql::placeholders(i * 7 + 1, 7)));
                            }
                            let (mut m, mut e) = (sql::query(messages), sql::query(events));
                            for (id, body, payload) in chunk {
                                seq += 1;
                                m = m.bind(&conversation).bind(seq).bind(id).bind(body).bind(now);
                                e = e.bind(new_id()).bind(&app_id).bind(Trigger::ConversationMessage.as_str()).bind(&conversation).bind(payload).bind(now).bind(now);
                            }
                            m.execute(&mut *c).await?;
                            e.execute(&mut *c).await?;
                        }
                        let n = seq - last;
                        sql::query("UPDATE conversations SET last_seq = $1, message_count = message_count + $2, last_updated_at = $3 WHERE id = $4")
                            .bind(seq)
                            .bind(n)
                            .bind(now)
                            .bind(&conversation)
                            .execute(&mut *c)
                            .await?;
                        Ok(n as usize)
                    })
                })
                .await?;
        }
        Ok(loaded)
    }
}
