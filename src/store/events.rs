//! The event outbox. Rows are appended inside the transaction of the change they
//! report; deliverers read them after commit.

use serde_json::Value;
use super::sql::{self, Tx};

use super::rows::to_json;
use super::StoreResult;
use crate::domain::ids::new_id;
use crate::domain::time::now_ms;

/// An event as recorded.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    pub seq: i64,
    pub id: String,
    pub app_id: String,
    pub kind: String,
    pub conversation_id: Option<String>,
    pub payload: Value,
    pub created_at: i64,
}

/// Appends one event on the transaction's connection.
pub(crate) async fn append(c: &mut Tx<'_>, app_id: &str, kind: &str, conversation_id: Option<&str>, payload: &Value) -> StoreResult<()> {
    sql::query("INSERT INTO events (id, app_id, kind, conversation_id, payload, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(new_id())
        .bind(app_id)
        .bind(kind)
        .bind(conversation_id)
        .bind(to_json(payload))
        .bind(now_ms())
        .execute(&mut *c)
        .await?;
    Ok(())
}

type EventRow = (i64, String, String, String, Option<String>, String, i64);

const EVENT_COLUMNS: &str = "seq, id, app_id, kind, conversation_id, payload, created_at";

fn to_events(rows: Vec<EventRow>) -> StoreResult<Vec<StoredEvent>> {
    rows.into_iter()
        .map(|(seq, id, app_id, kind, conversation_id, payload, created_at)| {
            Ok(StoredEvent { seq, id, app_id, kind, conversation_id, payload: super::rows::from_json(&payload)?, created_at })
        })
        .collect()
}

impl super::Store {
    /// Events of every app after `after_seq`, oldest first (live fan-out reads this).
    pub async fn events_since(&self, after_seq: i64, limit: i64) -> StoreResult<Vec<StoredEvent>> {
        let q = sql::query_as::<EventRow>(format!("SELECT {EVENT_COLUMNS} FROM events WHERE seq > $1 ORDER BY seq LIMIT $2")).bind(after_seq).bind(limit);
        to_events(q.fetch_all(self.reader()).await?)
    }

    /// The newest event's sequence number (0 when there is none).
    pub async fn last_event_seq(&self) -> StoreResult<i64> {
        let (n,): (Option<i64>,) = sql::query_as("SELECT MAX(seq) FROM events").fetch_one(self.reader()).await?;
        Ok(n.unwrap_or(0))
    }

    /// Events of an app after `after_seq`, oldest first.
    pub async fn events_after(&self, app_id: &str, after_seq: i64, limit: i64) -> StoreResult<Vec<StoredEvent>> {
        let q = sql::query_as::<EventRow>(format!("SELECT {EVENT_COLUMNS} FROM events WHERE app_id = $1 AND seq > $2 ORDER BY seq LIMIT $3"))
            .bind(app_id)
            .bind(after_seq)
            .bind(limit);
        to_events(q.fetch_all(self.reader()).await?)
    }
}
