//! The live fan-out: one task per node reads the event outbox and publishes what the SDKs
//! should hear to the channels of the users concerned.
//!
//! It wakes on [`Store::events_committed`] (commits on this node, and on other nodes of a
//! PostgreSQL cluster through LISTEN/NOTIFY: `store::cluster`) and on a slow poll (the
//! fallback while that signal is down), reads with
//! [`Store::events_since`] (decoding only the events of apps someone on this node listens
//! to; while nobody does, only their seqs, or nothing where the store knows how far commits
//! reach) and keeps its cursor in memory, starting at
//! [`Store::last_event_seq`]: delivery is live, not a replay (the SDKs refetch history
//! when their transport comes up). Events are published in the order they become visible,
//! which is commit order; within a conversation that is message order.
//!
//! **Late commits (PostgreSQL).** `seq` comes from a sequence taken at INSERT time, so a
//! transaction holding seq 10 may commit after one holding seq 11 is visible. The cursor
//! therefore has two parts (see [`Cursor`]): `settled`, below which everything has been
//! seen, and the seqs seen above it. While a hole is open above `settled`, every read
//! starts from `settled` (on each wake, and every [`HubSettings::recheck`]) and only
//! unseen events are delivered (dedupe by seq, unique per event); events of other
//! conversations above the hole are not held back. A hole is given up once the event just
//! above it has been visible for [`HubSettings::gap_wait`] (a rolled-back transaction burns
//! a seq for good; a commit later than that is not delivered live, and the SDKs refetch
//! on reconnect). On SQLite commits are serialised and holes do not occur.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::bayeux::Bayeux;
use super::sdk::user_channel;
use crate::store::events::StoredEvent;
use crate::wire::sdk::{plan, Membership};
use crate::store::{Store, StoreResult};

#[derive(Debug, Clone)]
pub struct HubSettings {
    /// Look for events this often even without a wake-up.
    pub poll_interval: Duration,
    /// Events read per query.
    pub batch: i64,
    /// A hole in `seq` is given up once the event above it has been visible this long.
    pub gap_wait: Duration,
    /// While a hole is open, read again at least this often (it may be filled by a commit
    /// on another node, which does not wake this one).
    pub recheck: Duration,
}

impl Default for HubSettings {
    fn default() -> Self {
        HubSettings { poll_interval: Duration::from_millis(500), batch: 500, gap_wait: Duration::from_secs(5), recheck: Duration::from_millis(50) }
    }
}

/// Where the hub is in the outbox. Pure, so its rules are tested alone.
#[derive(Debug)]
pub struct Cursor {
    /// Every event with `seq <= settled` has been delivered or given up.
    settled: i64,
    /// Events seen above `settled`, with when each was first seen.
    seen: BTreeMap<i64, Instant>,
}

impl Cursor {
    pub fn new(start: i64) -> Cursor {
        Cursor { settled: start, seen: BTreeMap::new() }
    }

    pub fn settled(&self) -> i64 {
        self.settled
    }

    /// The highest seq seen.
    pub fn head(&self) -> i64 {
        self.seen.keys().next_back().copied().unwrap_or(self.settled)
    }

    /// Is there a hole below seen events?
    pub fn has_gap(&self) -> bool {
        !self.seen.is_empty()
    }

    /// Records an event; true when it is new (deliver it), false for one already seen or
    /// at/below `settled` (seen, or given up on).
    pub fn admit(&mut self, seq: i64, now: Instant) -> bool {
        if seq <= self.settled || self.seen.contains_key(&seq) {
            return false;
        }
        self.seen.insert(seq, now);
        true
    }

    /// Settles everything up to `head`, which is known to be committed, unread: while
    /// nobody on this node listens there is nothing to deliver, only a place to keep.
    pub fn skip_to(&mut self, head: i64) {
        if head > self.settled {
            self.settled = head;
            self.seen.retain(|&seq, _| seq > head);
        }
    }

    /// Moves `settled` over every contiguous seen seq, and over holes whose upper neighbour
    /// has been visible for `gap_wait`.
    pub fn settle(&mut self, now: Instant, gap_wait: Duration) {
        while let Some((&seq, &first_seen)) = self.seen.first_key_value() {
            if seq == self.settled + 1 || now.saturating_duration_since(first_seen) >= gap_wait {
                if seq != self.settled + 1 {
                    tracing::debug!(from = self.settled + 1, to = seq - 1, "realtime: giving up a hole in the event sequence");
                }
                self.settled = seq;
                self.seen.pop_first();
            } else {
                break;
            }
        }
    }
}

/// The running hub.
pub struct Hub {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Hub {
    /// Starts at the current end of the outbox.
    pub async fn start(store: Store, bayeux: Arc<Bayeux>, settings: HubSettings) -> StoreResult<Hub> {
        let start = store.last_event_seq().await?;
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(run(store, bayeux, settings, Cursor::new(start), stopped));
        Ok(Hub { stop, task })
    }

    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

async fn run(store: Store, bayeux: Arc<Bayeux>, settings: HubSettings, mut cursor: Cursor, mut stopped: watch::Receiver<bool>) {
    let wake = store.events_committed();
    let mut fanout = Fanout::new(store.clone(), bayeux);
    let mut failures = 0u32;
    loop {
        if *stopped.borrow() {
            break;
        }
        // Registered before reading, so a commit during the read wakes the next wait.
        let notified = wake.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();

        match drain(&store, &mut cursor, &mut fanout, &settings).await {
            Ok(()) => failures = 0,
            Err(e) => {
                failures += 1;
                if failures == 1 || failures.is_multiple_of(100) {
                    tracing::warn!(error = %e, "realtime: cannot read the event outbox");
                }
            }
        }
        cursor.settle(Instant::now(), settings.gap_wait);

        let wait = if cursor.has_gap() { settings.recheck } else { settings.poll_interval };
        let wait = if failures > 0 { wait.max(Duration::from_millis(200 * u64::from(failures.min(25)))) } else { wait };
        tokio::select! {
            _ = &mut notified => {}
            _ = tokio::time::sleep(wait) => {}
            _ = stopped.changed() => {}
        }
    }
}

/// Reads what is new and publishes it. While a hole is open it reads from `settled`, so a
/// late commit is delivered before anything after it in `seq`: within a conversation, an
/// event can only be visible once the conversation's previous events are (they held its
/// row lock), so one read from below the hole returns them in order.
async fn drain(store: &Store, cursor: &mut Cursor, fanout: &mut Fanout, settings: &HubSettings) -> StoreResult<()> {
    let mut from = if cursor.has_gap() { cursor.settled() } else { cursor.head() };
    loop {
        // Only the events of apps someone on this node listens to are read whole. While
        // nobody does, the cursor only keeps its place: without a read where the store
        // knows how far commits reach (SQLite), else by reading the seqs.
        let events = if fanout.bayeux.has_user_channels() {
            let bayeux = fanout.bayeux.clone();
            store.events_since(from, settings.batch, |app| bayeux.has_app_subscribers(app)).await?
        } else if let Some(head) = store.visible_event_head() {
            cursor.skip_to(head);
            return Ok(());
        } else {
            store.event_seqs_since(from, settings.batch).await?.into_iter().map(|seq| (seq, None)).collect()
        };
        let full = events.len() as i64 >= settings.batch;
        let last = events.last().map(|e| e.0);
        fanout.deliver(cursor, events).await;
        match last {
            Some(last) if full => from = last,
            _ => return Ok(()),
        }
    }
}

/// Remembered participants of recent conversations, for `conversation:remove` (whose
/// participants are gone from the store by the time it is read).
const MEMO_CAP: usize = 10_000;

struct Fanout {
    store: Store,
    bayeux: Arc<Bayeux>,
    memo: HashMap<String, Vec<String>>,
    memo_order: VecDeque<String>,
}

impl Fanout {
    fn new(store: Store, bayeux: Arc<Bayeux>) -> Fanout {
        Fanout { store, bayeux, memo: HashMap::new(), memo_order: VecDeque::new() }
    }

    /// Publishes the events read whole; the others (of apps nobody here listens to) only
    /// move the cursor.
    async fn deliver(&mut self, cursor: &mut Cursor, events: Vec<(i64, Option<StoredEvent>)>) {
        // Participants are looked up once per conversation per batch.
        let mut batch: HashMap<String, Vec<String>> = HashMap::new();
        let now = Instant::now();
        for (seq, event) in events {
            if !cursor.admit(seq, now) {
                continue;
            }
            if let Some(e) = event {
                self.deliver_one(&e, &mut batch).await;
            }
        }
    }

    async fn participants(&mut self, conversation_id: &str, batch: &mut HashMap<String, Vec<String>>) -> Vec<String> {
        if let Some(p) = batch.get(conversation_id) {
            return p.clone();
        }
        let found = match self.store.participant_user_ids(conversation_id).await {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(conversation = conversation_id, error = %e, "realtime: cannot read participants");
                Vec::new()
            }
        };
        let found = if found.is_empty() { self.memo.get(conversation_id).cloned().unwrap_or_default() } else { found };
        self.remember(conversation_id, &found);
        batch.insert(conversation_id.to_string(), found.clone());
        found
    }

    fn remember(&mut self, conversation_id: &str, users: &[String]) {
        if users.is_empty() {
            return;
        }
        if self.memo.insert(conversation_id.to_string(), users.to_vec()).is_none() {
            self.memo_order.push_back(conversation_id.to_string());
            while self.memo_order.len() > MEMO_CAP {
                if let Some(old) = self.memo_order.pop_front() {
                    self.memo.remove(&old);
                }
            }
        }
    }

    async fn deliver_one(&mut self, e: &StoredEvent, batch: &mut HashMap<String, Vec<String>>) {
        let Some(plan) = plan(&e.event, e.created_at) else { return };
        let bayeux = self.bayeux.clone();
        let publish = |user: &str, event: &Value| {
            bayeux.publish(&user_channel(&e.app_id, user), &e.id, &json!({ "events": [event] }));
        };
        for (user, event) in &plan.direct {
            publish(user, event);
        }
        if let (Some(event), Some(cid)) = (&plan.to_participants, &plan.conversation_id) {
            let mut users = self.participants(cid, batch).await;
            // Keep this batch's view in step with membership changes it delivers.
            match plan.membership {
                Membership::Joined => {
                    for (u, _) in &plan.direct {
                        if !users.contains(u) {
                            users.push(u.clone());
                        }
                    }
                }
                Membership::Left => users.retain(|u| !plan.direct.iter().any(|(d, _)| d == u)),
                Membership::Unchanged | Membership::Removed => {}
            }
            for u in users.iter().filter(|u| !plan.skip.contains(u)) {
                publish(u, event);
            }
            if plan.membership == Membership::Removed {
                batch.remove(cid);
                self.memo.remove(cid);
            } else {
                self.remember(cid, &users);
                batch.insert(cid.clone(), users);
            }
        }
        if plan.membership == Membership::Removed {
            if let Some(cid) = &plan.conversation_id {
                batch.remove(cid);
                self.memo.remove(cid);
            }
        }
        if let Some(u) = &plan.close_user {
            self.bayeux.close_channel(&user_channel(&e.app_id, u));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WAIT: Duration = Duration::from_secs(10);

    #[test]
    fn contiguous_events_settle_at_once() {
        let t = Instant::now();
        let mut c = Cursor::new(5);
        assert!(c.admit(6, t));
        assert!(c.admit(7, t));
        assert!(!c.admit(7, t), "dedupe");
        assert!(!c.admit(5, t), "already settled");
        c.settle(t, WAIT);
        assert_eq!(c.settled(), 7);
        assert_eq!(c.head(), 7);
        assert!(!c.has_gap());
    }

    #[test]
    fn a_hole_is_waited_for_then_filled_late() {
        let t = Instant::now();
        let mut c = Cursor::new(10);
        assert!(c.admit(12, t));
        assert!(c.admit(13, t));
        c.settle(t + Duration::from_secs(1), WAIT);
        assert_eq!(c.settled(), 10);
        assert_eq!(c.head(), 13);
        assert!(c.has_gap());
        // The late commit of 11 shows up: delivered (new), and everything settles.
        assert!(c.admit(11, t + Duration::from_secs(2)));
        assert!(!c.admit(12, t + Duration::from_secs(2)), "re-read of the window is deduped");
        c.settle(t + Duration::from_secs(2), WAIT);
        assert_eq!(c.settled(), 13);
        assert!(!c.has_gap());
    }

    #[test]
    fn a_hole_that_never_fills_is_given_up() {
        let t = Instant::now();
        let mut c = Cursor::new(10);
        c.admit(12, t);
        c.admit(15, t + Duration::from_secs(5));
        c.settle(t + WAIT, WAIT);
        // 11 given up (12 seen 10 s ago); 13-14 still awaited (15 seen only 5 s ago).
        assert_eq!(c.settled(), 12);
        assert!(c.has_gap());
        c.settle(t + WAIT + Duration::from_secs(5), WAIT);
        assert_eq!(c.settled(), 15);
        // Too late now: an event below `settled` is not delivered.
        assert!(!c.admit(11, t + WAIT * 2));
    }

    #[test]
    fn skipping_to_a_committed_head_settles_below_it_and_keeps_what_is_above() {
        let t = Instant::now();
        let mut c = Cursor::new(10);
        c.admit(12, t);
        c.admit(20, t);
        c.skip_to(15);
        assert_eq!(c.settled(), 15);
        assert_eq!(c.head(), 20, "a seq above the head stays seen");
        assert!(!c.admit(14, t), "below the head is settled");
        c.skip_to(9);
        assert_eq!(c.settled(), 15, "a head behind the cursor does not move it back");
    }
}
