//! The store's own thin query API, so that one SQL text runs on three executors:
//! the SQLite writer's `rusqlite` connection (synchronous, on the writer's own thread),
//! an `sqlx` connection in a PostgreSQL transaction, and the `sqlx` read pool.
//!
//! Why not `sqlx` everywhere: `sqlx`'s SQLite driver runs each statement on a worker
//! thread and costs a thread hand-off (~50 µs) per statement; the single SQLite writer
//! runs every write of the server, so it calls SQLite directly instead.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;

use futures::future::BoxFuture;
use sqlx::{AnyConnection, Column, Row as _, ValueRef};

use super::{Dialect, StoreError, StoreResult};

/// A bound parameter or a column value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A NULL remembers the type it stands for: PostgreSQL prepares a statement with the
    /// parameter types of its first use, and a NULL bound as the wrong type breaks it.
    Null(Kind),
    Int(i64),
    Real(f64),
    Text(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Int,
    Real,
    Text,
}

pub trait Bind {
    const KIND: Kind;
    fn into_value(self) -> Value;
}

impl Bind for i64 {
    const KIND: Kind = Kind::Int;
    fn into_value(self) -> Value {
        Value::Int(self)
    }
}
impl Bind for i32 {
    const KIND: Kind = Kind::Int;
    fn into_value(self) -> Value {
        Value::Int(self as i64)
    }
}
impl Bind for usize {
    const KIND: Kind = Kind::Int;
    fn into_value(self) -> Value {
        Value::Int(self as i64)
    }
}
impl Bind for bool {
    const KIND: Kind = Kind::Int;
    fn into_value(self) -> Value {
        Value::Int(self as i64)
    }
}
impl Bind for f64 {
    const KIND: Kind = Kind::Real;
    fn into_value(self) -> Value {
        Value::Real(self)
    }
}
impl Bind for String {
    const KIND: Kind = Kind::Text;
    fn into_value(self) -> Value {
        Value::Text(self)
    }
}
impl Bind for &String {
    const KIND: Kind = Kind::Text;
    fn into_value(self) -> Value {
        Value::Text(self.clone())
    }
}
impl Bind for &str {
    const KIND: Kind = Kind::Text;
    fn into_value(self) -> Value {
        Value::Text(self.to_string())
    }
}
impl<T: Bind> Bind for Option<T> {
    const KIND: Kind = T::KIND;
    fn into_value(self) -> Value {
        self.map_or(Value::Null(T::KIND), Bind::into_value)
    }
}
impl<T: Bind + Clone> Bind for &Option<T> {
    const KIND: Kind = T::KIND;
    fn into_value(self) -> Value {
        self.clone().map_or(Value::Null(T::KIND), Bind::into_value)
    }
}
impl Bind for Value {
    const KIND: Kind = Kind::Text;
    fn into_value(self) -> Value {
        self
    }
}
impl Bind for &i64 {
    const KIND: Kind = Kind::Int;
    fn into_value(self) -> Value {
        Value::Int(*self)
    }
}

/// Reading a column into a Rust value.
pub trait FromValue: Sized {
    fn from_value(v: &Value) -> StoreResult<Self>;
}

fn mismatch(want: &str, got: &Value) -> StoreError {
    StoreError::Corrupt(format!("expected {want}, found {got:?}"))
}

impl FromValue for i64 {
    fn from_value(v: &Value) -> StoreResult<Self> {
        match v {
            Value::Int(i) => Ok(*i),
            Value::Real(f) => Ok(*f as i64),
            other => Err(mismatch("an integer", other)),
        }
    }
}
impl FromValue for bool {
    fn from_value(v: &Value) -> StoreResult<Self> {
        i64::from_value(v).map(|i| i != 0)
    }
}
impl FromValue for f64 {
    fn from_value(v: &Value) -> StoreResult<Self> {
        match v {
            Value::Int(i) => Ok(*i as f64),
            Value::Real(f) => Ok(*f),
            other => Err(mismatch("a number", other)),
        }
    }
}
impl FromValue for String {
    fn from_value(v: &Value) -> StoreResult<Self> {
        match v {
            Value::Text(s) => Ok(s.clone()),
            other => Err(mismatch("text", other)),
        }
    }
}
impl<T: FromValue> FromValue for Option<T> {
    fn from_value(v: &Value) -> StoreResult<Self> {
        match v {
            Value::Null(_) => Ok(None),
            other => T::from_value(other).map(Some),
        }
    }
}

/// A result row.
#[derive(Debug, Clone)]
pub struct Row {
    columns: std::sync::Arc<Vec<String>>,
    values: Vec<Value>,
}

/// A column by name or by position.
pub trait ColumnIndex {
    fn position(&self, row: &Row) -> StoreResult<usize>;
}
impl ColumnIndex for &str {
    fn position(&self, row: &Row) -> StoreResult<usize> {
        row.columns.iter().position(|c| c == self).ok_or_else(|| StoreError::Corrupt(format!("no column {self}")))
    }
}
impl ColumnIndex for usize {
    fn position(&self, row: &Row) -> StoreResult<usize> {
        if *self < row.values.len() { Ok(*self) } else { Err(StoreError::Corrupt(format!("no column {self}"))) }
    }
}

impl Row {
    pub fn try_get<T: FromValue, I: ColumnIndex>(&self, index: I) -> StoreResult<T> {
        T::from_value(&self.values[index.position(self)?])
    }
}

/// Typed rows for `query_as`: tuples of `FromValue`s.
pub trait FromRow: Sized {
    fn from_row(row: &Row) -> StoreResult<Self>;
}

macro_rules! tuple_from_row {
    ($($t:ident $i:tt),*) => {
        impl<$($t: FromValue),*> FromRow for ($($t,)*) {
            fn from_row(row: &Row) -> StoreResult<Self> {
                Ok(($(row.try_get::<$t, usize>($i)?,)*))
            }
        }
    };
}
tuple_from_row!(A 0);
tuple_from_row!(A 0, B 1);
tuple_from_row!(A 0, B 1, C 2);
tuple_from_row!(A 0, B 1, C 2, D 3);
tuple_from_row!(A 0, B 1, C 2, D 3, E 4);
tuple_from_row!(A 0, B 1, C 2, D 3, E 4, F 5);
tuple_from_row!(A 0, B 1, C 2, D 3, E 4, F 5, G 6);
tuple_from_row!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7);
tuple_from_row!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8);
tuple_from_row!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9);
tuple_from_row!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10);
tuple_from_row!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10, L 11);

/// How many rows a statement over `n` items is written for: the next power of two. A
/// statement's text names its parameters, so one over any count would be a new statement
/// to parse and plan for most batches (and, on PostgreSQL, to prepare on each pooled
/// connection, a round trip more); by size class there are a few, each prepared once.
/// The rows past `n` are bound to NULL and match nothing.
pub fn size_class(n: usize) -> usize {
    n.max(1).next_power_of_two()
}

/// `$first, $first+1, …`: `count` numbered placeholders, for `IN (…)` lists and multi-row
/// `VALUES`.
pub fn placeholders(first: usize, count: usize) -> String {
    (first..first + count).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

/// `($first, …), ($first+width, …), …`: `rows` rows of `width` numbered placeholders each,
/// for a multi-row `VALUES` list.
pub fn value_rows(first: usize, width: usize, rows: usize) -> String {
    (0..rows).map(|i| format!("({})", placeholders(first + width * i, width))).collect::<Vec<_>>().join(", ")
}

/// Statement texts that differ only in their size class (see `size_class`), each built
/// once, on first use: a batch's statements have hundreds of placeholders, and building
/// them with `format!` every batch was ~4 % of PostMessage's instructions.
pub struct ClassTexts {
    texts: [std::sync::OnceLock<String>; 16],
    build: fn(usize) -> String,
}

impl ClassTexts {
    /// `build(class)` writes the text for `class` rows.
    pub const fn new(build: fn(usize) -> String) -> Self {
        ClassTexts { texts: [const { std::sync::OnceLock::new() }; 16], build }
    }

    /// The text for `class` rows (a power of two, as `size_class` answers).
    pub fn text(&self, class: usize) -> String {
        match self.texts.get(class.trailing_zeros() as usize) {
            Some(text) if class.is_power_of_two() => text.get_or_init(|| (self.build)(class)).clone(),
            _ => (self.build)(class),
        }
    }
}

/// Where a write's queries run: a connection inside its transaction.
pub struct Tx<'c> {
    conn: TxConn<'c>,
    /// Where the write says that it recorded outbox events, so that the store wakes the
    /// outbox readers once it has committed (see `events::record`).
    recorded: Option<Arc<EventMark>>,
}

/// What a write recorded in the outbox: whether it recorded events and, where the
/// connection tells (SQLite), the highest `seq` it gave one.
#[derive(Debug, Default)]
pub(crate) struct EventMark {
    recorded: AtomicBool,
    /// 0 while unknown.
    last_seq: AtomicI64,
}

/// A committed write's outbox events, as the store hears of them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EventsRecorded {
    /// The highest seq the write gave an event, where the database tells (SQLite).
    pub last_seq: Option<i64>,
}

impl EventMark {
    /// None when the write recorded no event.
    pub(crate) fn recorded(&self) -> Option<EventsRecorded> {
        let last_seq = Some(self.last_seq.load(Ordering::Relaxed)).filter(|&seq| seq > 0);
        self.recorded.load(Ordering::Relaxed).then_some(EventsRecorded { last_seq })
    }
}

enum TxConn<'c> {
    /// The SQLite writer's own connection.
    Lite(&'c mut rusqlite::Connection),
    /// An sqlx connection (PostgreSQL).
    Sqlx(&'c mut AnyConnection),
}

impl<'c> Tx<'c> {
    pub fn lite(conn: &'c mut rusqlite::Connection) -> Tx<'c> {
        Tx { conn: TxConn::Lite(conn), recorded: None }
    }

    pub fn sqlx(conn: &'c mut AnyConnection) -> Tx<'c> {
        Tx { conn: TxConn::Sqlx(conn), recorded: None }
    }

    /// Where to say that this write recorded an event.
    pub(crate) fn report_events_to(&mut self, mark: Arc<EventMark>) {
        self.recorded = Some(mark);
    }

    /// Called right after a statement that inserted outbox events. On SQLite the events'
    /// `seq` is the rowid, and the statement's last row has the highest: one writer
    /// commits in `seq` order, so once this write has committed every event up to that
    /// seq is visible (which spares the realtime hub a read per commit while nobody
    /// listens). PostgreSQL takes seqs from a sequence and commits out of their order,
    /// so there it is not known.
    pub(crate) fn note_event(&mut self) {
        let Some(mark) = &self.recorded else { return };
        mark.recorded.store(true, Ordering::Relaxed);
        if let TxConn::Lite(conn) = &self.conn {
            mark.last_seq.fetch_max(conn.last_insert_rowid(), Ordering::Relaxed);
        }
    }
}

impl Tx<'_> {
    /// Which database this transaction writes to.
    pub fn dialect(&self) -> Dialect {
        match self {
            Tx { conn: TxConn::Lite(_), .. } => Dialect::Sqlite,
            Tx { conn: TxConn::Sqlx(_), .. } => Dialect::Postgres,
        }
    }

    /// What to append to a `SELECT` of a row this transaction reads in order to rewrite
    /// it (read, apply a patch, write), so that concurrent rewrites of that row queue
    /// behind one another instead of each overwriting the other's change.
    ///
    /// PostgreSQL: a row lock held until the transaction ends. `FOR NO KEY UPDATE` rather
    /// than `FOR UPDATE`: it is the lock an `UPDATE` of non-key columns takes anyway, and
    /// unlike `FOR UPDATE` it does not block inserts of rows whose foreign key names this
    /// one (a message into the conversation being patched, a user into the app).
    /// SQLite: nothing; its one writer already runs every write transaction alone.
    pub fn for_update(&self) -> &'static str {
        match self.dialect() {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR NO KEY UPDATE",
        }
    }

    /// Runs several `;`-separated statements without parameters.
    pub async fn execute_batch(&mut self, sql: &str) -> StoreResult<()> {
        match &mut self.conn {
            TxConn::Lite(c) => c.execute_batch(sql).map_err(StoreError::from),
            TxConn::Sqlx(c) => {
                use sqlx::Executor;
                c.execute(sql).await?;
                Ok(())
            }
        }
    }
}

/// Something a query can run on: a transaction (`&mut Tx`) or the read pool.
pub trait Executor<'e>: Send {
    fn run<'q>(self, sql: &'q str, args: Vec<Value>, want_rows: bool) -> BoxFuture<'q, StoreResult<(u64, Vec<Row>)>>
    where
        'e: 'q;
}

impl<'e, 'c: 'e> Executor<'e> for &'e mut Tx<'c> {
    fn run<'q>(self, sql: &'q str, args: Vec<Value>, want_rows: bool) -> BoxFuture<'q, StoreResult<(u64, Vec<Row>)>>
    where
        'e: 'q,
    {
        Box::pin(async move {
            match &mut self.conn {
                TxConn::Lite(c) => run_lite(c, sql, &args, want_rows),
                TxConn::Sqlx(c) => run_sqlx(&mut **c, sql, args, want_rows).await,
            }
        })
    }
}

impl<'e> Executor<'e> for &'e sqlx::AnyPool {
    fn run<'q>(self, sql: &'q str, args: Vec<Value>, want_rows: bool) -> BoxFuture<'q, StoreResult<(u64, Vec<Row>)>>
    where
        'e: 'q,
    {
        Box::pin(async move {
            let mut conn = self.acquire().await?;
            run_sqlx(&mut conn, sql, args, want_rows).await
        })
    }
}

/// The `$n` parameters of a statement's text in the order SQLite numbers them (the order
/// of each one's first appearance), read the way SQLite's tokenizer reads them: not inside
/// string literals, quoted identifiers or comments. `None` for a text that has any other
/// kind of parameter (`?`, `:name`, `@name`, `$name`), or a `$` inside an identifier.
fn dollar_parameters(sql: &str) -> Option<Vec<usize>> {
    let bytes = sql.as_bytes();
    let mut order = Vec::new();
    let mut seen: Vec<bool> = Vec::new();
    let mut at = 0;
    let skip_to = |from: usize, end: &[u8]| -> usize {
        bytes[from..].windows(end.len()).position(|w| w == end).map_or(bytes.len(), |p| from + p + end.len())
    };
    while at < bytes.len() {
        match bytes[at] {
            // A doubled quote inside a literal reads as two literals back to back, which
            // skips the same text.
            b'\'' => at = skip_to(at + 1, b"'"),
            b'"' => at = skip_to(at + 1, b"\""),
            b'`' => at = skip_to(at + 1, b"`"),
            b'[' => at = skip_to(at + 1, b"]"),
            b'-' if bytes.get(at + 1) == Some(&b'-') => at = skip_to(at + 2, b"\n"),
            b'/' if bytes.get(at + 1) == Some(&b'*') => at = skip_to(at + 2, b"*/"),
            b'?' | b':' | b'@' => return None,
            b'$' => {
                if at > 0 && (bytes[at - 1].is_ascii_alphanumeric() || bytes[at - 1] == b'_' || bytes[at - 1] >= 0x80) {
                    return None;
                }
                let digits = bytes[at + 1..].iter().take_while(|b| b.is_ascii_digit()).count();
                let after = bytes.get(at + 1 + digits).copied().unwrap_or(b' ');
                if digits == 0 || after.is_ascii_alphabetic() || after == b'_' || after >= 0x80 {
                    return None;
                }
                let n: usize = sql[at + 1..at + 1 + digits].parse().ok()?;
                if n >= seen.len() {
                    seen.resize(n + 1, false);
                }
                if !std::mem::replace(&mut seen[n], true) {
                    order.push(n);
                }
                at += 1 + digits;
            }
            _ => at += 1,
        }
    }
    Some(order)
}

fn run_lite(c: &rusqlite::Connection, sql: &str, args: &[Value], want_rows: bool) -> StoreResult<(u64, Vec<Row>)> {
    let mut stmt = c.prepare_cached(sql)?;
    // `$n` is a named parameter to SQLite, numbered in order of first appearance; each is
    // bound to argument n so SQL may use them in any order. SQLite's own answer to "which
    // name has index i" walks its list of names, so asking it for every parameter is
    // quadratic: over a batch's few thousand parameters it was a tenth of the writer's
    // time. The text is read once instead, and SQLite asked only for the last name, to
    // confirm the reading (anything else falls back to asking it for each).
    let count = stmt.parameter_count();
    let order = dollar_parameters(sql).filter(|order| {
        order.len() == count && order.last().is_none_or(|&n| stmt.parameter_name(count).and_then(|name| name.strip_prefix('$')) == Some(n.to_string().as_str()))
    });
    for i in 1..=count {
        let n = match &order {
            Some(order) => order[i - 1],
            None => stmt.parameter_name(i).unwrap_or("").trim_start_matches(['$', '?']).parse().unwrap_or(i),
        };
        let v = args.get(n.wrapping_sub(1)).ok_or_else(|| StoreError::Corrupt(format!("missing parameter ${n} for: {sql}")))?;
        match v {
            Value::Null(_) => stmt.raw_bind_parameter(i, rusqlite::types::Null)?,
            Value::Int(x) => stmt.raw_bind_parameter(i, x)?,
            Value::Real(x) => stmt.raw_bind_parameter(i, x)?,
            Value::Text(x) => stmt.raw_bind_parameter(i, x.as_str())?,
        }
    }
    if !want_rows && stmt.column_count() == 0 {
        let n = stmt.raw_execute()?;
        return Ok((n as u64, Vec::new()));
    }
    let columns: std::sync::Arc<Vec<String>> = std::sync::Arc::new(stmt.column_names().into_iter().map(str::to_string).collect());
    let width = columns.len();
    let mut rows = stmt.raw_query();
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let mut values = Vec::with_capacity(width);
        for i in 0..width {
            values.push(match r.get_ref(i)? {
                rusqlite::types::ValueRef::Null => Value::Null(Kind::Text),
                rusqlite::types::ValueRef::Integer(x) => Value::Int(x),
                rusqlite::types::ValueRef::Real(x) => Value::Real(x),
                rusqlite::types::ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
                rusqlite::types::ValueRef::Blob(b) => Value::Text(String::from_utf8_lossy(b).into_owned()),
            });
        }
        out.push(Row { columns: columns.clone(), values });
    }
    drop(rows);
    Ok((c.changes(), out))
}

async fn run_sqlx(c: &mut AnyConnection, sql: &str, args: Vec<Value>, want_rows: bool) -> StoreResult<(u64, Vec<Row>)> {
    let mut q = sqlx::query(sql);
    for a in args {
        q = match a {
            Value::Null(Kind::Int) => q.bind(Option::<i64>::None),
            Value::Null(Kind::Real) => q.bind(Option::<f64>::None),
            Value::Null(Kind::Text) => q.bind(Option::<String>::None),
            Value::Int(x) => q.bind(x),
            Value::Real(x) => q.bind(x),
            Value::Text(x) => q.bind(x),
        };
    }
    if !want_rows {
        let done = q.execute(&mut *c).await?;
        return Ok((done.rows_affected(), Vec::new()));
    }
    let rows = q.fetch_all(&mut *c).await?;
    let Some(first) = rows.first() else { return Ok((0, Vec::new())) };
    let columns: std::sync::Arc<Vec<String>> = std::sync::Arc::new(first.columns().iter().map(|c| c.name().to_string()).collect());
    // Each column's type, read once: trying the row's value as each type in turn built (and
    // dropped) a formatted type-mismatch error per text cell, a fifth of a page's CPU.
    let kinds: Vec<sqlx::any::AnyTypeInfoKind> = first.columns().iter().map(|c| c.type_info().kind()).collect();
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let mut values = Vec::with_capacity(columns.len());
        for (i, kind) in kinds.iter().enumerate() {
            use sqlx::any::AnyTypeInfoKind as K;
            let raw = r.try_get_raw(i)?;
            let typed = if raw.is_null() {
                Some(Value::Null(Kind::Text))
            } else {
                match kind {
                    K::Text => r.try_get::<String, _>(i).ok().map(Value::Text),
                    K::BigInt => r.try_get::<i64, _>(i).ok().map(Value::Int),
                    K::Integer | K::SmallInt => r.try_get::<i32, _>(i).ok().map(|x| Value::Int(x as i64)),
                    K::Bool => r.try_get::<bool, _>(i).ok().map(|x| Value::Int(x as i64)),
                    K::Double => r.try_get::<f64, _>(i).ok().map(Value::Real),
                    _ => None,
                }
            };
            let v = if let Some(v) = typed {
                v
            } else if let Ok(x) = r.try_get::<i64, _>(i) {
                Value::Int(x)
            } else if let Ok(x) = r.try_get::<String, _>(i) {
                Value::Text(x)
            } else if let Ok(x) = r.try_get::<f64, _>(i) {
                Value::Real(x)
            } else if let Ok(x) = r.try_get::<bool, _>(i) {
                Value::Int(x as i64)
            } else if let Ok(x) = r.try_get::<i32, _>(i) {
                Value::Int(x as i64)
            } else {
                return Err(StoreError::Corrupt(format!("unsupported column type in: {sql}")));
            };
            values.push(v);
        }
        out.push(Row { columns: columns.clone(), values });
    }
    Ok((rows.len() as u64, out))
}

/// Reads of the SQLite file run on a few dedicated reader threads, each with its own
/// read-only connection (WAL: readers never wait for the writer, nor it for them). A read
/// is a blocking call (microseconds from the page cache, but a disk read or a long page
/// when it is not) and must never run on the async runtime's worker threads, where it
/// would stall every other request on that worker. Requests queue for the threads (a
/// bounded queue), so at most `threads` reads run at once.
pub struct LiteReaders {
    jobs: std::sync::Mutex<Option<tokio::sync::mpsc::Sender<ReadJob>>>,
}

type ReadJob = Box<dyn FnOnce(Option<&rusqlite::Connection>) + Send>;

impl LiteReaders {
    pub fn new(path: &str, threads: usize) -> Self {
        let (tx, rx) = tokio::sync::mpsc::channel::<ReadJob>(4096);
        let rx = Arc::new(std::sync::Mutex::new(rx));
        for i in 0..threads.max(1) {
            let (rx, path) = (rx.clone(), path.to_string());
            let spawned = std::thread::Builder::new().name(format!("sqlite-reader-{i}")).spawn(move || {
                // Opened on first use, and again after a failure to open (reported to the
                // read that needed it).
                let mut conn: Option<rusqlite::Connection> = None;
                loop {
                    // One thread waits on the queue at a time; the others wait for the lock.
                    let job = rx.lock().unwrap_or_else(|e| e.into_inner()).blocking_recv();
                    let Some(job) = job else { break };
                    if conn.is_none() {
                        conn = open_reader(&path).ok();
                    }
                    job(conn.as_ref());
                }
            });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a SQLite reader thread");
            }
        }
        LiteReaders { jobs: std::sync::Mutex::new(Some(tx)) }
    }

    /// Runs `read` on a reader thread's connection.
    pub async fn run<T: Send + 'static>(&self, read: impl FnOnce(&rusqlite::Connection) -> StoreResult<T> + Send + 'static) -> StoreResult<T> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job: ReadJob = Box::new(move |conn| {
            let out = match conn {
                Some(c) => read(c),
                None => Err(StoreError::Startup("cannot open a SQLite read connection".into())),
            };
            let _ = reply.send(out);
        });
        let queue = self.jobs.lock().unwrap_or_else(|e| e.into_inner()).clone().ok_or(StoreError::Closed)?;
        queue.send(job).await.map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Lets the reader threads finish what is queued and stop (closing their connections).
    pub fn close(&self) {
        self.jobs.lock().unwrap_or_else(|e| e.into_inner()).take();
    }
}

/// How much of the database file a reader maps (`PRAGMA mmap_size`). A reader's own page
/// cache is dropped each time the WAL has moved on, and history reaches far past it, so
/// without a mapping most page reads are a `pread` copying from the OS page cache; mapped,
/// they are memory reads (reader CPU per history page 83–203 → 74–75 µs). The mapped pages
/// are the OS page cache, counted in RSS as file pages, not memory of the server's own.
const READER_MMAP_BYTES: u64 = 256 << 20;

fn open_reader(path: &str) -> StoreResult<rusqlite::Connection> {
    let c = rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    c.execute_batch(&format!("PRAGMA busy_timeout = 10000; PRAGMA query_only = ON; PRAGMA mmap_size = {READER_MMAP_BYTES};"))?;
    c.set_prepared_statement_cache_capacity(128);
    Ok(c)
}

/// Where reads outside a transaction go.
#[derive(Clone, Copy)]
pub enum Reader<'a> {
    Sqlx(&'a sqlx::AnyPool),
    Lite(&'a LiteReaders),
}

impl<'e> Executor<'e> for Reader<'e> {
    fn run<'q>(self, sql: &'q str, args: Vec<Value>, want_rows: bool) -> BoxFuture<'q, StoreResult<(u64, Vec<Row>)>>
    where
        'e: 'q,
    {
        match self {
            Reader::Sqlx(pool) => pool.run(sql, args, want_rows),
            Reader::Lite(readers) => {
                let sql = sql.to_string();
                Box::pin(readers.run(move |conn| run_lite(conn, &sql, &args, want_rows)))
            }
        }
    }
}

/// A query being built: SQL text plus its parameters.
pub struct Query {
    sql: String,
    args: Vec<Value>,
}

pub fn query(sql: impl Into<String>) -> Query {
    Query { sql: sql.into(), args: Vec::new() }
}

impl Query {
    pub fn bind(mut self, v: impl Bind) -> Self {
        self.args.push(v.into_value());
        self
    }

    /// Binds `rows` rows of NULLs of the given kinds: the rows a statement written for a
    /// [`size_class`] has past its items.
    pub fn bind_null_rows(mut self, rows: usize, row: &[Kind]) -> Self {
        for _ in 0..rows {
            self.args.extend(row.iter().map(|&kind| Value::Null(kind)));
        }
        self
    }

    // Each run takes the query: its arguments (message texts, payloads) move to the
    // executor instead of being copied there, on the SQLite writer among others.

    /// Runs the statement; answers the number of rows it changed.
    pub async fn execute<'e, E: Executor<'e>>(self, e: E) -> StoreResult<u64> {
        Ok(e.run(&self.sql, self.args, false).await?.0)
    }

    pub async fn fetch_all<'e, E: Executor<'e>>(self, e: E) -> StoreResult<Vec<Row>> {
        Ok(e.run(&self.sql, self.args, true).await?.1)
    }

    pub async fn fetch_optional<'e, E: Executor<'e>>(self, e: E) -> StoreResult<Option<Row>> {
        Ok(self.fetch_all(e).await?.into_iter().next())
    }

    pub async fn fetch_one<'e, E: Executor<'e>>(self, e: E) -> StoreResult<Row> {
        let rows = e.run(&self.sql, self.args, true).await?.1;
        rows.into_iter().next().ok_or_else(|| StoreError::Corrupt(format!("no row from: {}", self.sql)))
    }
}

/// A query whose rows are read as tuples.
pub struct QueryAs<T> {
    inner: Query,
    _row: std::marker::PhantomData<fn() -> T>,
}

pub fn query_as<T: FromRow>(sql: impl Into<String>) -> QueryAs<T> {
    QueryAs { inner: query(sql), _row: std::marker::PhantomData }
}

impl<T: FromRow + Send> QueryAs<T> {
    pub fn bind(mut self, v: impl Bind) -> Self {
        self.inner = self.inner.bind(v);
        self
    }

    pub async fn fetch_all<'e, E: Executor<'e>>(self, e: E) -> StoreResult<Vec<T>> {
        self.inner.fetch_all(e).await?.iter().map(T::from_row).collect()
    }

    pub async fn fetch_optional<'e, E: Executor<'e>>(self, e: E) -> StoreResult<Option<T>> {
        self.inner.fetch_optional(e).await?.as_ref().map(T::from_row).transpose()
    }

    pub async fn fetch_one<'e, E: Executor<'e>>(self, e: E) -> StoreResult<T> {
        T::from_row(&self.inner.fetch_one(e).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::dollar_parameters;

    #[test]
    fn dollar_parameters_follow_first_appearance_outside_literals_and_comments() {
        assert_eq!(dollar_parameters("SELECT 1"), Some(vec![]));
        assert_eq!(dollar_parameters("UPDATE t SET a = $3, b = $1 WHERE c = $3 AND d = $2"), Some(vec![3, 1, 2]));
        assert_eq!(dollar_parameters("SELECT json_extract(body, '$.a'), 'it''s $9' FROM t -- $8\n WHERE x = $1 /* $7 */"), Some(vec![1]));
        assert_eq!(dollar_parameters("SELECT \"$5\", [$6], `$4` FROM t WHERE id = $10"), Some(vec![10]));
        for other in ["SELECT ?", "SELECT ?1", "SELECT :a", "SELECT @a", "SELECT $a", "SELECT a$1", "SELECT $1a"] {
            assert_eq!(dollar_parameters(other), None, "{other}");
        }
    }

    /// The reading agrees with SQLite's own numbering of each parameter.
    #[test]
    fn dollar_parameters_agree_with_sqlite() {
        let c = rusqlite::Connection::open_in_memory().unwrap();
        c.execute_batch("CREATE TABLE t (a, b, c, d)").unwrap();
        let rows = (0..40).map(|i| format!("(${}, ${}, ${}, ${})", 4 * i + 3, 4 * i + 1, 4 * i + 4, 4 * i + 2)).collect::<Vec<_>>().join(", ");
        for sql in [
            format!("INSERT INTO t (a, b, c, d) VALUES {rows}"),
            "UPDATE t SET a = CASE b WHEN $2 THEN $4 WHEN $3 THEN $5 END, c = $1 WHERE d IN ($2, $3) AND a <> '$6'".to_string(),
        ] {
            let stmt = c.prepare(&sql).unwrap();
            let ours = dollar_parameters(&sql).unwrap();
            let theirs: Vec<usize> = (1..=stmt.parameter_count()).map(|i| stmt.parameter_name(i).unwrap()[1..].parse().unwrap()).collect();
            assert_eq!(ours, theirs, "{sql}");
        }
    }
}
