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
    let (meta, links) = meta_links(&page, base, path, extra_query);
    let items: Vec<Value> = page.items.into_iter().map(show).collect();
    json!({ name: items, "meta": meta, "links": links })
}

/// [`list_body`] for items that already are JSON text (stored documents in their wire
/// form): the body is written around them, not parsed and re-serialised.
pub fn list_body_text(name: &str, page: &Page<&str>, base: &str, path: &str, extra_query: &str) -> String {
    let (meta, links) = meta_links(page, base, path, extra_query);
    let (meta, links) = (Value::Object(meta).to_string(), Value::Object(links).to_string());
    let mut out = String::with_capacity(page.items.iter().map(|i| i.len() + 1).sum::<usize>() + meta.len() + links.len() + name.len() + 32);
    out.push_str("{\"");
    out.push_str(name);
    out.push_str("\":[");
    for (i, item) in page.items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(item);
    }
    out.push_str("],\"meta\":");
    out.push_str(&meta);
    out.push_str(",\"links\":");
    out.push_str(&links);
    out.push('}');
    out
}

fn meta_links<T>(page: &Page<T>, base: &str, path: &str, extra_query: &str) -> (Map<String, Value>, Map<String, Value>) {
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
    (meta, links)
}
