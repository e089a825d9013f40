//! Small parsing helpers shared by every request body: they collect all the problems of
//! one body so a client sees them together in one 400.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::error::DomainError;

/// A field of a PATCH body: absent, explicitly `null`, or a value.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Patch<T> {
    #[default]
    Missing,
    Null,
    Value(T),
}

impl<T> Patch<T> {
    pub fn is_missing(&self) -> bool {
        matches!(self, Patch::Missing)
    }
    pub fn as_option(&self) -> Option<&T> {
        match self {
            Patch::Value(v) => Some(v),
            _ => None,
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Patch<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match Option::<T>::deserialize(d)? {
            Some(v) => Patch::Value(v),
            None => Patch::Null,
        })
    }
}

/// Collects validation failures; `finish` turns them into one `DomainError::Invalid`.
#[derive(Default, Debug)]
pub struct Problems(Vec<String>);

impl Problems {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, msg: impl Into<String>) {
        self.0.push(msg.into());
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Checks a string's length in characters.
    pub fn length(&mut self, field: &str, value: &str, min: usize, max: usize) {
        let n = value.chars().count();
        if n < min {
            self.push(format!("{field} must be at least {min} characters long"));
        } else if n > max {
            self.push(format!("{field} must be at most {max} characters long"));
        }
    }

    pub fn optional_length(&mut self, field: &str, value: Option<&String>, min: usize, max: usize) {
        if let Some(v) = value {
            self.length(field, v, min, max);
        }
    }

    pub fn uri(&mut self, field: &str, value: &str, max: usize) {
        self.length(field, value, 1, max);
        if !is_uri(value) {
            self.push(format!("{field} must be a valid URI"));
        }
    }

    pub fn email(&mut self, field: &str, value: &str) {
        self.length(field, value, 1, 128);
        if !is_email(value) {
            self.push(format!("{field} must be a valid email address"));
        }
    }

    pub fn finish(self) -> Result<(), DomainError> {
        if self.0.is_empty() { Ok(()) } else { Err(DomainError::Invalid(self.0)) }
    }
}

/// An absolute URI with a scheme, as JSON Schema's `format: uri` asks.
pub fn is_uri(s: &str) -> bool {
    match url::Url::parse(s) {
        Ok(u) => !u.scheme().is_empty() && !s.chars().any(char::is_whitespace),
        Err(_) => false,
    }
}

pub fn is_http_url(s: &str) -> bool {
    matches!(url::Url::parse(s), Ok(u) if (u.scheme() == "http" || u.scheme() == "https") && u.host_str().is_some())
}

/// A pragmatic email check: one `@`, a non-empty local part, a dotted domain, no spaces.
pub fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else { return false };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// What NUL means, decided once for every store: U+0000 is not text. PostgreSQL's text
/// columns cannot hold it and SQLite's would truncate it in some readers, so a request
/// that carries it anywhere (a body's string or field name, a query parameter, a path
/// segment, a credential) is refused with a 400 naming where it was, the same on both
/// backends, before it reaches the store.
pub const NUL_TEXT: &str = "may not contain the NUL character (\\u0000)";

/// Refuses `text` (the `field` named) when it contains NUL; see [`NUL_TEXT`].
pub fn refuse_nul(field: &str, text: &str) -> Result<(), DomainError> {
    if text.contains('\0') {
        Err(DomainError::invalid(format!("{field} {NUL_TEXT}")))
    } else {
        Ok(())
    }
}

/// Refuses a JSON document holding NUL in any string or field name, naming the first
/// such place as `from_value` names fields (`metadata.note`, `items[0].title`).
pub fn refuse_nul_in_json(value: &Value) -> Result<(), DomainError> {
    fn walk(value: &Value, path: &mut String) -> Result<(), DomainError> {
        let here = |path: &str| if path.is_empty() { "The request body".to_string() } else { path.to_string() };
        match value {
            Value::String(s) => refuse_nul(&here(path), s),
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let len = path.len();
                    path.push_str(&format!("[{i}]"));
                    walk(item, path)?;
                    path.truncate(len);
                }
                Ok(())
            }
            Value::Object(fields) => {
                for (name, item) in fields {
                    if name.contains('\0') {
                        let within = if path.is_empty() { "the request body".to_string() } else { path.clone() };
                        return Err(DomainError::invalid(format!("A field name in {within} {NUL_TEXT}")));
                    }
                    let len = path.len();
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(name);
                    walk(item, path)?;
                    path.truncate(len);
                }
                Ok(())
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => Ok(()),
        }
    }
    walk(value, &mut String::new())
}

/// Deserializes a JSON value into `T`, naming the offending field on failure.
pub fn from_value<T: serde::de::DeserializeOwned>(value: Value) -> Result<T, DomainError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        if path == "." || path.is_empty() {
            DomainError::invalid(format!("Invalid request body: {inner}"))
        } else {
            DomainError::invalid(format!("Invalid value for {path}: {inner}"))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_and_uris() {
        assert!(is_email("a@b.co"));
        assert!(!is_email("a@b"));
        assert!(!is_email("a b@c.de"));
        assert!(!is_email("@c.de"));
        assert!(is_uri("https://example.com/x.png"));
        assert!(!is_uri("not a uri"));
        assert!(is_http_url("http://127.0.0.1:9000/hook"));
        assert!(!is_http_url("ftp://example.com"));
    }

    #[test]
    fn problems_collect_every_field() {
        let mut p = Problems::new();
        p.length("displayName", "", 1, 100);
        p.email("profile.email", "nope");
        match p.finish() {
            Err(DomainError::Invalid(v)) => assert_eq!(v.len(), 2),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn patch_distinguishes_null_from_missing() {
        #[derive(Deserialize)]
        struct B {
            #[serde(default)]
            a: Patch<String>,
            #[serde(default)]
            b: Patch<String>,
        }
        let b: B = serde_json::from_str(r#"{"a":null}"#).unwrap();
        assert_eq!(b.a, Patch::Null);
        assert_eq!(b.b, Patch::Missing);
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// Any JSON document whose text holds no NUL.
        fn json_without_nul() -> impl Strategy<Value = Value> {
            let text = "[^\\x00]{0,12}";
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::from),
                any::<i64>().prop_map(Value::from),
                text.prop_map(Value::from),
            ];
            leaf.prop_recursive(4, 48, 6, move |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                    prop::collection::btree_map(text, inner, 0..6).prop_map(|m| Value::Object(m.into_iter().collect())),
                ]
            })
        }

        /// Puts a NUL into the `n`th string (or field name) of `value`, counting in
        /// document order; returns whether there was one to change.
        fn plant_nul(value: &mut Value, n: &mut usize) -> bool {
            match value {
                Value::String(s) => {
                    if *n == 0 {
                        s.push('\0');
                        return true;
                    }
                    *n -= 1;
                    false
                }
                Value::Array(items) => items.iter_mut().any(|i| plant_nul(i, n)),
                Value::Object(fields) => {
                    let keys: Vec<String> = fields.keys().cloned().collect();
                    for k in keys {
                        if *n == 0 {
                            let v = fields.remove(&k).unwrap();
                            fields.insert(format!("{k}\0"), v);
                            return true;
                        }
                        *n -= 1;
                        if plant_nul(fields.get_mut(&k).unwrap(), n) {
                            return true;
                        }
                    }
                    false
                }
                _ => false,
            }
        }

        proptest! {
            #[test]
            fn text_without_nul_passes(v in json_without_nul()) {
                prop_assert_eq!(refuse_nul_in_json(&v), Ok(()));
            }

            #[test]
            fn a_nul_anywhere_is_refused_with_one_message_naming_it(mut v in json_without_nul(), at in 0usize..40) {
                let mut n = at;
                if plant_nul(&mut v, &mut n) {
                    match refuse_nul_in_json(&v) {
                        Err(DomainError::Invalid(msgs)) => {
                            prop_assert_eq!(msgs.len(), 1);
                            prop_assert!(msgs[0].contains(NUL_TEXT), "{}", msgs[0]);
                        }
                        other => prop_assert!(false, "NUL passed: {other:?} for {v}"),
                    }
                }
            }

            #[test]
            fn refuse_nul_agrees_with_contains(s in "\\PC{0,20}", nul in any::<bool>()) {
                let s = if nul { format!("{s}\0") } else { s };
                prop_assert_eq!(refuse_nul("f", &s).is_err(), s.contains('\0'));
            }

            #[test]
            fn an_email_never_holds_whitespace_or_a_second_at(s in "\\PC{0,30}") {
                if is_email(&s) {
                    prop_assert!(!s.chars().any(char::is_whitespace));
                    prop_assert_eq!(s.matches('@').count(), 1);
                }
            }

            #[test]
            fn from_value_never_panics_and_names_a_field(v in json_without_nul()) {
                #[derive(serde::Deserialize, Debug)]
                #[allow(dead_code)]
                struct Body { name: String, n: Option<u32> }
                if let Err(e) = from_value::<Body>(v) {
                    prop_assert!(matches!(e, DomainError::Invalid(ref m) if m.len() == 1));
                }
            }
        }
    }
}
