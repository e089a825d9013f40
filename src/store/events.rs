//! The event outbox. [`record`] appends a typed event inside the transaction of the
//! change it reports (and so wakes the outbox readers after that commit); deliverers
//! read the rows after commit.

use super::sql::{self, Kind, Tx};
use super::StoreResult;
use crate::domain::event::{Event, Trigger};
use crate::domain::ids::new_id;
use crate::domain::time::now_ms;

/// An event as recorded.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    pub seq: i64,
    pub id: String,
    pub app_id: String,
    pub event: Event,
    pub created_at: i64,
}

impl StoredEvent {
    pub fn trigger(&self) -> Trigger {
        self.event.trigger()
    }
}

/// Records `event` of app `app_id` on the transaction's connection. The only way into
/// the outbox.
///
/// An event of an app that has no webhook as it commits is born routed (`routed_at` set):
/// no webhook can want it (a webhook hears the events after its creation), and the router
/// then neither reads it nor rewrites its row, which on the one SQLite writer was a second
/// write of every event of the apps that only use the SDKs.
pub(crate) async fn record(c: &mut Tx<'_>, app_id: &str, event: &Event) -> StoreResult<()> {
    static RECORD: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!("INSERT INTO events (id, app_id, kind, conversation_id, payload, created_at, routed_at) VALUES ($3, $1, $4, $5, $6, $2, {BORN_ROUTED})")
    });
    sql::query(RECORD.as_str())
        .bind(app_id)
        .bind(now_ms())
        .bind(new_id())
        .bind(event.trigger().as_str())
        .bind(event.conversation().map(|c| c.id.as_str()))
        .bind(event.encode())
        .execute(&mut *c)
        .await?;
    c.note_event();
    Ok(())
}

/// `routed_at` of a new event of app `$1` at time `$2`: unset while the app has a webhook
/// to route it to, else born routed (see [`record`]).
const BORN_ROUTED: &str = "CASE WHEN EXISTS (SELECT 1 FROM webhooks w WHERE w.app_id = $1) THEN NULL ELSE $2 END";

/// An event in the form the outbox stores it: its trigger, its conversation, its stored
/// text (`Event::encode`, or a faster path to the same text).
pub(crate) struct Encoded {
    pub trigger: Trigger,
    pub conversation_id: Option<String>,
    pub payload: String,
}

/// Records several events of app `app_id` in one statement, in order (their `seq`s follow
/// the order given): [`record`] for a batch of writes that is one write.
pub(crate) async fn record_many(c: &mut Tx<'_>, app_id: &str, events: &[Encoded]) -> StoreResult<()> {
    if events.is_empty() {
        return Ok(());
    }
    let now = now_ms();
    // $1 the app, $2 the time; then four parameters a row, and its place (the `seq`s follow
    // it). Rows past the events' count are NULL: the WHERE drops them.
    static INSERT: sql::ClassTexts = sql::ClassTexts::new(|class| {
        let rows = sql::value_rows(3, 5, class);
        format!(
            "INSERT INTO events (id, app_id, kind, conversation_id, payload, created_at, routed_at) \
             SELECT column1, $1, column2, column3, column4, $2, {BORN_ROUTED} FROM (VALUES {rows}) AS v WHERE column1 IS NOT NULL ORDER BY column5"
        )
    });
    let mut q = sql::query(INSERT.text(sql::size_class(events.len()))).bind(app_id).bind(now);
    for (place, event) in events.iter().enumerate() {
        q = q.bind(new_id()).bind(event.trigger.as_str()).bind(event.conversation_id.as_deref()).bind(event.payload.as_str()).bind(place as i64);
    }
    q = q.bind_null_rows(sql::size_class(events.len()) - events.len(), &[Kind::Text, Kind::Text, Kind::Text, Kind::Text, Kind::Int]);
    q.execute(&mut *c).await?;
    c.note_event();
    Ok(())
}

/// An outbox row as read: seq, id, app_id, kind, payload, created_at.
pub(crate) type EventRow = (i64, String, String, String, String, i64);

pub(crate) const EVENT_COLUMNS: &str = "seq, id, app_id, kind, payload, created_at";

/// Decodes outbox rows. A row this build cannot read is logged and left out, so that one
/// bad row never stops delivery of the others.
pub(crate) fn decode_rows(rows: Vec<EventRow>) -> Vec<StoredEvent> {
    rows.into_iter().filter_map(decode_row).collect()
}

fn decode_row((seq, id, app_id, kind, payload, created_at): EventRow) -> Option<StoredEvent> {
    match Event::decode(&kind, &payload) {
        Ok(event) => Some(StoredEvent { seq, id, app_id, event, created_at }),
        Err(e) => {
            tracing::error!(event = %id, kind = %kind, error = %e, "unreadable outbox event; skipped");
            None
        }
    }
}

impl super::Store {
    /// Events of every app after `after_seq`, oldest first, each with its seq (live fan-out
    /// reads this). Only the events of apps `wanted` answers true for are decoded: the
    /// fan-out of a node skips the apps nobody on it listens to, and still steps over their
    /// seqs.
    pub async fn events_since(&self, after_seq: i64, limit: i64, wanted: impl Fn(&str) -> bool) -> StoreResult<Vec<(i64, Option<StoredEvent>)>> {
        let q = sql::query_as::<EventRow>(format!("SELECT {EVENT_COLUMNS} FROM events WHERE seq > $1 ORDER BY seq LIMIT $2")).bind(after_seq).bind(limit);
        let rows = q.fetch_all(self.reader()).await?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let seq = row.0;
                let event = if wanted(&row.2) { decode_row(row) } else { None };
                (seq, event)
            })
            .collect())
    }

    /// The seqs of the events after `after_seq`, oldest first: what the fan-out steps over
    /// while nobody on its node listens (a primary-key range, no payload read).
    pub async fn event_seqs_since(&self, after_seq: i64, limit: i64) -> StoreResult<Vec<i64>> {
        let rows: Vec<(i64,)> = sql::query_as("SELECT seq FROM events WHERE seq > $1 ORDER BY seq LIMIT $2").bind(after_seq).bind(limit).fetch_all(self.reader()).await?;
        Ok(rows.into_iter().map(|r| r.0).collect())
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
        Ok(decode_rows(q.fetch_all(self.reader()).await?))
    }
}
