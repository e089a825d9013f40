//! PostMessage, many at a time.
//!
//! Business messages without an attachment — what integrations and agents post — are
//! queued here and written by one task, everything queued at once, as *one* write: one
//! `UPDATE` of the conversations involved (taking each a run of `seq`s), one multi-row
//! `INSERT` of the messages, one `UPDATE` of the unread counts and one multi-row `INSERT`
//! of their events, whatever the batch's size. One write is in flight at a time; what
//! arrives meanwhile is the next batch. On PostgreSQL that turns six loopback round trips
//! per message (each two context switches, the largest cost there) into seven per batch;
//! on SQLite it turns four statements per message on the one writer into four per batch.
//!
//! A message the batch does not take — its conversation is unknown, of another app, too
//! full for its share of the batch, or its app has a switchboard (whose control a message
//! may change) — is posted alone afterwards by [`Store::post_one`], which gives it the
//! answer it would have had anyway (404, 423, the switchboard's rules). Messages of one
//! conversation keep their order: a batch takes them in arrival order and its leftovers
//! are posted one after another.

use std::collections::HashMap;
use std::sync::{Arc, Weak};

use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use super::rows::from_json;
use super::sql::{self, Kind, Tx};
use super::{events, Store, StoreError, StoreParts, StoreResult};
use crate::domain::conversation::{ConversationDetails, ConversationKind};
use crate::domain::event::{ConversationRef, Event, Trigger};
use crate::domain::message::NewMessage;

/// How many messages one batch takes at most (a bound on the statements' size and on how
/// long its conversations stay locked).
const MAX_BATCH: usize = 128;

/// How many messages may wait for a batch; past that, PostMessage answers 503.
const QUEUE: usize = 16 * 1024;

/// A business message ready to store: its document is built, only its `seq` is missing.
pub(super) struct Ready {
    pub app_id: String,
    pub conversation_id: String,
    pub id: String,
    pub received: i64,
    /// The document's stored JSON text.
    pub text: String,
}

/// A queued message, with what posting it alone needs if the batch does not take it.
pub(super) struct Queued {
    pub ready: Ready,
    pub new: NewMessage,
    pub source: Value,
    pub reply: oneshot::Sender<StoreResult<String>>,
}

/// The queue in front of the batch task (started by the first message). One batch in
/// flight: with two or four (a lane per conversation hash) PostgreSQL posted no faster on
/// two cores, in smaller batches.
#[derive(Default)]
pub(super) struct MessageBatcher {
    queue: std::sync::OnceLock<mpsc::Sender<Queued>>,
}

impl MessageBatcher {
    pub(super) fn submit(&self, store: &Arc<StoreParts>, queued: Queued) -> StoreResult<()> {
        let queue = self.queue.get_or_init(|| {
            let (tx, rx) = mpsc::channel(QUEUE);
            // The task holds the store weakly: the queue lives in the store, so a strong
            // handle would keep both alive for ever.
            tokio::spawn(run(Arc::downgrade(store), rx));
            tx
        });
        queue.try_send(queued).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => StoreError::Busy("the message queue is full"),
            mpsc::error::TrySendError::Closed(_) => StoreError::Closed,
        })
    }
}

async fn run(store: Weak<StoreParts>, mut rx: mpsc::Receiver<Queued>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(q) => batch.push(q),
                Err(_) => break,
            }
        }
        let Some(parts) = store.upgrade() else { break };
        Store(parts).post_batch(std::mem::take(&mut batch)).await;
    }
    // The store is gone: whoever still waits hears that.
    for q in batch.drain(..) {
        let _ = q.reply.send(Err(StoreError::Closed));
    }
}

/// A message to post alone: where, its id and time, and what it was asked to be.
struct Alone {
    app_id: String,
    conversation_id: String,
    id: String,
    received: i64,
    new: NewMessage,
    source: Value,
    reply: oneshot::Sender<StoreResult<String>>,
}

impl Store {
    /// Writes a batch and answers each message; what it did not take is posted alone.
    async fn post_batch(&self, batch: Vec<Queued>) {
        let mut alone: Vec<Alone> = Vec::with_capacity(batch.len());
        let mut ready: Vec<Ready> = Vec::with_capacity(batch.len());
        for Queued { ready: r, new, source, reply } in batch {
            alone.push(Alone { app_id: r.app_id.clone(), conversation_id: r.conversation_id.clone(), id: r.id.clone(), received: r.received, new, source, reply });
            ready.push(r);
        }
        let limit = self.limits.max_messages_per_conversation;
        let written = self.write(move |c| Box::pin(async move { write_batch(c, ready, limit).await })).await;
        let leftovers: Vec<Alone> = match written {
            Ok(outcomes) => alone
                .into_iter()
                .zip(outcomes)
                .filter_map(|(a, outcome)| match outcome {
                    Ok(message) => {
                        let _ = a.reply.send(Ok(message));
                        None
                    }
                    Err(()) => Some(a),
                })
                .collect(),
            // The batch was undone whole: each message is posted alone and hears its own
            // outcome (a database that is away answers each of them 503).
            Err(e) => {
                tracing::warn!(error = %e, "a batch of messages failed; posting them one by one");
                alone
            }
        };
        if leftovers.is_empty() {
            return;
        }
        // Off the batch task, so the next batch need not wait; one after another, so
        // messages of one conversation keep their order.
        let store = self.clone();
        tokio::spawn(async move {
            for a in leftovers {
                let outcome = store.post_one(&a.app_id, &a.conversation_id, a.id, a.received, a.new, a.source).await;
                let _ = a.reply.send(outcome);
            }
        });
    }
}

/// One conversation's share of a batch.
struct Share {
    app_id: String,
    conversation_id: String,
    count: i64,
}

/// The batch's write: for each message (in order) its document's text once stored, or `Err(())`
/// when the batch leaves it to be posted alone.
async fn write_batch(c: &mut Tx<'_>, ready: Vec<Ready>, limit: i64) -> StoreResult<Vec<Result<String, ()>>> {
    // Each message's share (an index into `shares`).
    let mut shares: Vec<Share> = Vec::new();
    let mut share_of: Vec<usize> = Vec::with_capacity(ready.len());
    {
        let mut index: HashMap<(&str, &str), usize> = HashMap::new();
        for r in &ready {
            let at = *index.entry((&r.app_id, &r.conversation_id)).or_insert_with(|| {
                shares.push(Share { app_id: r.app_id.clone(), conversation_id: r.conversation_id.clone(), count: 0 });
                shares.len() - 1
            });
            shares[at].count += 1;
            share_of.push(at);
        }
    }
    // PostgreSQL: take the row locks in one order (by id), so two batches (on two nodes)
    // that share conversations queue behind each other instead of deadlocking.
    if !c.for_update().is_empty() {
        let mut ids: Vec<&str> = shares.iter().map(|s| s.conversation_id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        let class = sql::size_class(ids.len());
        let mut q = sql::query(format!("SELECT id FROM conversations WHERE id IN ({}) ORDER BY id{}", sql::placeholders(1, class), c.for_update()));
        for id in &ids {
            q = q.bind(*id);
        }
        q.bind_null_rows(class - ids.len(), &[Kind::Text]).fetch_all(&mut *c).await?;
    }
    let bumped = bump_conversations(c, &shares, limit, ready.iter().map(|r| r.received).max().unwrap_or(0)).await?;

    // Each taken message's seq: its conversation's first new seq, then one after another.
    let mut next_seq: HashMap<usize, i64> = bumped.iter().map(|(&at, b)| (at, b.last_seq - shares[at].count + 1)).collect();
    let mut taken: Vec<(usize, i64)> = Vec::new();
    for (i, at) in share_of.iter().enumerate() {
        if let Some(seq) = next_seq.get_mut(at) {
            taken.push((i, *seq));
            *seq += 1;
        }
    }
    if taken.is_empty() {
        return Ok(ready.iter().map(|_| Err(())).collect());
    }

    static INSERT: sql::ClassTexts = sql::ClassTexts::new(|class| {
        let rows = sql::value_rows(1, 5, class);
        format!("INSERT INTO messages (conversation_id, seq, id, body, received) SELECT column1, column2, column3, column4, column5 FROM (VALUES {rows}) AS v WHERE column1 IS NOT NULL")
    });
    let class = sql::size_class(taken.len());
    let mut insert = sql::query(INSERT.text(class));
    for &(i, seq) in &taken {
        let r = &ready[i];
        insert = insert.bind(&r.conversation_id).bind(seq).bind(&r.id).bind(r.text.as_str()).bind(r.received);
    }
    insert.bind_null_rows(class - taken.len(), &[Kind::Text, Kind::Int, Kind::Text, Kind::Text, Kind::Int]).execute(&mut *c).await?;

    // A business author has read nothing of its own: every participant has more unread.
    let counted: Vec<&Share> = shares.iter().enumerate().filter(|(at, _)| bumped.contains_key(at)).map(|(_, s)| s).collect();
    // Joined to the shares as rows: a `CASE` over them, and an `IN` list, made each row
    // compare its conversation with every share (quadratic in the batch).
    static UNREAD: sql::ClassTexts = sql::ClassTexts::new(|class| {
        let rows = sql::value_rows(1, 2, class);
        format!("UPDATE participants SET unread_count = unread_count + v.column2 FROM (VALUES {rows}) AS v WHERE participants.conversation_id = v.column1")
    });
    let class = sql::size_class(counted.len());
    let mut unread = sql::query(UNREAD.text(class));
    for s in &counted {
        unread = unread.bind(&s.conversation_id).bind(s.count);
    }
    unread.bind_null_rows(class - counted.len(), &[Kind::Text, Kind::Int]).execute(&mut *c).await?;

    // The events, app by app, in the messages' order; each written around its message's
    // stored text (the document is not serialised again here, on the writer).
    let mut by_app: Vec<(&str, Vec<events::Encoded>)> = Vec::new();
    for &(i, _) in &taken {
        let r = &ready[i];
        let b = &bumped[&share_of[i]];
        let conversation = ConversationRef::new(&r.conversation_id, b.kind, b.details.metadata.as_ref());
        let event = events::Encoded {
            trigger: Trigger::ConversationMessage,
            conversation_id: Some(r.conversation_id.clone()),
            payload: Event::encode_business_message_posted(&conversation, &r.text),
        };
        match by_app.iter_mut().find(|(app, _)| *app == b.app_id.as_str()) {
            Some((_, events)) => events.push(event),
            None => by_app.push((b.app_id.as_str(), vec![event])),
        }
    }
    for (app_id, events) in &by_app {
        events::record_many(c, app_id, events).await?;
    }
    let mut was_taken = vec![false; ready.len()];
    for &(i, _) in &taken {
        was_taken[i] = true;
    }
    Ok(ready.into_iter().zip(was_taken).map(|(r, took)| if took { Ok(r.text) } else { Err(()) }).collect())
}

/// A conversation the batch took messages for, as its `UPDATE` left it.
struct Bumped {
    app_id: String,
    last_seq: i64,
    kind: ConversationKind,
    details: ConversationDetails,
}

/// Takes a run of `seq`s in each conversation that is found in its app, has room for its
/// whole share, and whose app has no switchboard; answers those, by their share's index.
async fn bump_conversations(c: &mut Tx<'_>, shares: &[Share], limit: i64, now: i64) -> StoreResult<HashMap<usize, Bumped>> {
    // $1 the time, $2 the limit; then a row of three parameters a conversation: its app,
    // its id, its share. Joined as rows, not a `CASE` and an `OR` over the shares (which
    // made each conversation found compare itself with every share: quadratic in the batch).
    static BUMP: sql::ClassTexts = sql::ClassTexts::new(|class| {
        let rows = sql::value_rows(3, 3, class);
        format!(
            "UPDATE conversations SET last_seq = last_seq + v.column3, message_count = message_count + v.column3, last_updated_at = $1 \
             FROM (VALUES {rows}) AS v \
             WHERE conversations.app_id = v.column1 AND conversations.id = v.column2 AND conversations.message_count + v.column3 <= $2 \
             AND NOT EXISTS (SELECT 1 FROM switchboards s WHERE s.app_id = conversations.app_id) \
             RETURNING app_id, id, last_seq, kind, body"
        )
    });
    let class = sql::size_class(shares.len());
    let mut q = sql::query(BUMP.text(class)).bind(now).bind(limit);
    for s in shares {
        q = q.bind(&s.app_id).bind(&s.conversation_id).bind(s.count);
    }
    let q = q.bind_null_rows(class - shares.len(), &[Kind::Text, Kind::Text, Kind::Int]);
    let share_at: HashMap<(&str, &str), usize> = shares.iter().enumerate().map(|(at, s)| ((s.app_id.as_str(), s.conversation_id.as_str()), at)).collect();
    let mut bumped = HashMap::new();
    for row in q.fetch_all(&mut *c).await? {
        let app_id: String = row.try_get("app_id")?;
        let id: String = row.try_get("id")?;
        let Some(&at) = share_at.get(&(app_id.as_str(), id.as_str())) else {
            return Err(StoreError::Corrupt("a batch bumped a conversation it did not name".into()));
        };
        let kind = ConversationKind::parse(&row.try_get::<String, _>("kind")?).unwrap_or(ConversationKind::SdkGroup);
        let details: ConversationDetails = from_json(&row.try_get::<String, _>("body")?)?;
        bumped.insert(at, Bumped { app_id, last_seq: row.try_get("last_seq")?, kind, details });
    }
    Ok(bumped)
}
