//! A web integration's `originWhitelist`: "When set, only the origins from this list
//! will be able to initialize the Web Messenger. If unset, all origins are whitelisted."
//! Entries are RFC 6454 serialized origins (`https://example.com`, `http://localhost:8080`).
//! No I/O.

use serde_json::Value;

/// An origin in its serialized form (`scheme://host[:port]`, lower case, default port
/// dropped), or `None` if `s` is not an http(s) origin.
pub fn normalize(s: &str) -> Option<String> {
    let u = url::Url::parse(s.trim()).ok()?;
    if u.scheme() != "http" && u.scheme() != "https" {
        return None;
    }
    match u.origin() {
        o @ url::Origin::Tuple(..) => Some(o.ascii_serialization()),
        url::Origin::Opaque(_) => None,
    }
}

/// Does one integration's whitelist (`originWhitelist` as stored: absent, null, or a
/// list) let `origin` in? An empty list counts as unset.
pub fn allows(whitelist: Option<&Value>, origin: &str) -> bool {
    let list: Vec<&str> = whitelist.and_then(Value::as_array).map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
    if list.is_empty() {
        return true;
    }
    let Some(origin) = normalize(origin) else { return false };
    list.iter().filter_map(|o| normalize(o)).any(|o| o == origin)
}

/// An app's verdict: allowed when it has no web integration, or when one of its web
/// integrations allows the origin.
pub fn app_allows<'a>(whitelists: impl IntoIterator<Item = Option<&'a Value>>, origin: &str) -> bool {
    let mut any = false;
    for w in whitelists {
        any = true;
        if allows(w, origin) {
            return true;
        }
    }
    !any
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn origins_compare_in_their_serialized_form() {
        let list = json!(["https://Shop.example", "http://localhost:8080"]);
        assert!(allows(Some(&list), "https://shop.example"));
        assert!(allows(Some(&list), "https://shop.example:443"));
        assert!(allows(Some(&list), "http://localhost:8080"));
        assert!(!allows(Some(&list), "http://localhost:8081"));
        assert!(!allows(Some(&list), "https://evil.example"));
        assert!(!allows(Some(&list), "null"));
        assert!(allows(None, "https://anything.example") && allows(Some(&json!(null)), "x") && allows(Some(&json!([])), "x"));
    }

    #[test]
    fn an_app_allows_what_any_of_its_web_integrations_allows() {
        let a = json!(["https://a.example"]);
        let b = json!(["https://b.example"]);
        assert!(app_allows([Some(&a), Some(&b)], "https://b.example"));
        assert!(!app_allows([Some(&a), Some(&b)], "https://c.example"));
        assert!(app_allows([Some(&a), None], "https://c.example"));
        assert!(app_allows(std::iter::empty(), "https://c.example"));
    }
}
