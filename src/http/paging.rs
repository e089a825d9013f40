//! `meta` and `links` of paginated lists.

use axum::http::HeaderMap;
use serde_json::{json, Map, Value};

use super::extract::QueryMap;
use super::AppState;
use crate::domain::pagination::Page;

/// Set on requests that came in under a base-path prefix (`/sc`, see `http::base_paths`),
/// which removes any copy a client sent.
pub const BASE_PREFIX_HEADER: &str = "x-sunbeam-base-prefix";

/// The base URL for absolute links, with the prefix the request used (`…/sc`), so that
/// following a link stays on the base path the client was configured with.
pub fn base_url(state: &AppState, headers: &HeaderMap) -> String {
    let prefix = headers.get(BASE_PREFIX_HEADER).and_then(|h| h.to_str().ok()).unwrap_or("");
    if let Some(u) = &state.public_url {
        return format!("{}{prefix}", u.trim_end_matches('/'));
    }
    let host = headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("localhost");
    format!("http://{host}{prefix}")
}

/// The query that links must carry besides the cursor: the filters already encoded
/// (`&`-joined) plus the page size the client asked for, so following `links.next`
/// keeps both.
pub fn carried_query(filters: &str, q: &QueryMap) -> String {
    let size = q.get("page[size]").map(|s| format!("page[size]={s}"));
    [Some(filters.to_string()).filter(|f| !f.is_empty()), size].into_iter().flatten().collect::<Vec<_>>().join("&")
}

/// `{ <name>: [...], meta: {...}, links: {...} }` for a page of items. `extra_query`
/// carries filters that must survive into the links (already encoded, `&`-joined).
pub fn list_body<T>(name: &str, page: Page<T>, show: impl Fn(T) -> Value, base: &str, path: &str, extra_query: &str) -> Value {
    let mut meta = Map::new();
    meta.insert("hasMore".into(), Value::Bool(page.has_more));
    let mut links = Map::new();
    let link = |k: &str, cursor: &str| {
        let sep = if extra_query.is_empty() { String::new() } else { format!("{extra_query}&") };
        format!("{base}{path}?{sep}page[{k}]={cursor}")
    };
    if let Some(c) = &page.after_cursor {
        meta.insert("afterCursor".into(), Value::String(c.clone()));
        links.insert("next".into(), Value::String(link("after", c)));
    }
    if let Some(c) = &page.before_cursor {
        meta.insert("beforeCursor".into(), Value::String(c.clone()));
        links.insert("prev".into(), Value::String(link("before", c)));
    }
    let items: Vec<Value> = page.items.into_iter().map(show).collect();
    json!({ name: items, "meta": meta, "links": links })
}
