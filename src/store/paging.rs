//! Cursor pages over an id-ordered index, one shape for every paginated list.

use super::sql::{self, Reader, Row, Value};
use super::StoreResult;
use crate::domain::pagination::{Cursor, PageRequest};

/// Fetches one page plus one row (so the caller can tell whether more follow), in
/// ascending `key` order. `select` is a query ending in a `WHERE` condition whose
/// parameters are `args` (`$1…$n`); the cursor condition, order and limit are appended.
pub(crate) async fn fetch_page(exec: Reader<'_>, select: &str, key: &str, args: Vec<Value>, page: &PageRequest) -> StoreResult<Vec<Row>> {
    let n = args.len();
    let (sql, cursor, backwards) = match &page.cursor {
        Cursor::Start => (format!("{select} ORDER BY {key} LIMIT ${}", n + 1), None, false),
        Cursor::After(id) => (format!("{select} AND {key} > ${} ORDER BY {key} LIMIT ${}", n + 1, n + 2), Some(id), false),
        Cursor::Before(id) => (format!("{select} AND {key} < ${} ORDER BY {key} DESC LIMIT ${}", n + 1, n + 2), Some(id), true),
    };
    let mut q = sql::query(sql);
    for a in args {
        q = q.bind(a);
    }
    if let Some(id) = cursor {
        q = q.bind(id.as_str());
    }
    let mut rows = q.bind(page.size + 1).fetch_all(exec).await?;
    if backwards {
        rows.reverse();
    }
    Ok(rows)
}
