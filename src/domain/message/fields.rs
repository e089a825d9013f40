//! Reading one JSON object field by field, naming every problem by its path.
//!
//! Message bodies are read by hand rather than through `serde` structs: serde stops at the
//! first wrong field, and a client posting a carousel wants to hear about every broken item
//! in one 400. Each reader pushes its own problem and returns `None`, so callers go on.

use serde_json::{Map, Number, Value};

use crate::domain::metadata::check_metadata;
use crate::domain::validate::{is_uri, Problems};

/// `base.key`, or `key` at the root of the body.
pub(super) fn join(base: &str, key: &str) -> String {
    if base.is_empty() { key.to_string() } else { format!("{base}.{key}") }
}

/// One JSON object being read, with the path that names its fields in error messages.
pub(super) struct Fields<'a> {
    map: &'a Map<String, Value>,
    base: String,
}

impl<'a> Fields<'a> {
    pub fn new(map: &'a Map<String, Value>, base: impl Into<String>) -> Self {
        Fields { map, base: base.into() }
    }

    /// Reads `value` as an object, or records that it is not one.
    pub fn of(value: &'a Value, path: &str, p: &mut Problems) -> Option<Self> {
        match value {
            Value::Object(map) => Some(Fields::new(map, path)),
            _ => {
                p.push(format!("{path} must be an object"));
                None
            }
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn path(&self, key: &str) -> String {
        join(&self.base, key)
    }

    /// The value of `key`. An explicit `null` counts as absent: generated clients often
    /// serialise unset optional fields that way, and nothing in a message body gives
    /// `null` a meaning of its own.
    pub fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    pub fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Records "`key` is required" when it is absent; true when present.
    pub fn require(&self, key: &str, p: &mut Problems) -> bool {
        let present = self.has(key);
        if !present {
            p.push(format!("{} is required", self.path(key)));
        }
        present
    }

    fn typed<T>(&self, key: &str, p: &mut Problems, what: &str, read: impl Fn(&'a Value) -> Option<T>) -> Option<T> {
        let value = self.get(key)?;
        let out = read(value);
        if out.is_none() {
            p.push(format!("{} must be {what}", self.path(key)));
        }
        out
    }

    pub fn string(&self, key: &str, p: &mut Problems) -> Option<&'a str> {
        self.typed(key, p, "a string", Value::as_str)
    }

    pub fn required_string(&self, key: &str, p: &mut Problems) -> Option<&'a str> {
        if self.require(key, p) { self.string(key, p) } else { None }
    }

    /// A string of `min..=max` characters.
    pub fn sized_string(&self, key: &str, min: usize, max: usize, required: bool, p: &mut Problems) -> Option<&'a str> {
        let s = if required { self.required_string(key, p) } else { self.string(key, p) }?;
        if length_ok(s, min, max) {
            Some(s)
        } else {
            p.length(&self.path(key), s, min, max);
            None
        }
    }

    /// An absolute URI of at most `max` characters.
    pub fn uri(&self, key: &str, max: usize, required: bool, p: &mut Problems) -> Option<&'a str> {
        let s = if required { self.required_string(key, p) } else { self.string(key, p) }?;
        if length_ok(s, 1, max) && is_uri(s) {
            Some(s)
        } else {
            p.uri(&self.path(key), s, max);
            None
        }
    }

    pub fn boolean(&self, key: &str, p: &mut Problems) -> Option<bool> {
        self.typed(key, p, "a boolean", Value::as_bool)
    }

    /// A JSON integer; `8000.0` is accepted since JSON itself does not tell them apart.
    pub fn integer(&self, key: &str, p: &mut Problems) -> Option<i64> {
        self.typed(key, p, "an integer", |v| {
            v.as_i64().or_else(|| v.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15).map(|f| f as i64))
        })
    }

    /// A JSON number, kept as written so it is echoed back unchanged.
    pub fn number(&self, key: &str, p: &mut Problems) -> Option<&'a Number> {
        self.typed(key, p, "a number", |v| match v {
            Value::Number(n) => Some(n),
            _ => None,
        })
    }

    pub fn raw_object(&self, key: &str, p: &mut Problems) -> Option<&'a Map<String, Value>> {
        self.typed(key, p, "an object", Value::as_object)
    }

    pub fn object(&self, key: &str, p: &mut Problems) -> Option<Fields<'a>> {
        self.raw_object(key, p).map(|m| Fields::new(m, self.path(key)))
    }

    /// An array of `min..=max` items. A wrong count is recorded but the items are still
    /// returned, so their own problems are reported in the same response.
    pub fn array(&self, key: &str, min: usize, max: usize, p: &mut Problems) -> Option<&'a [Value]> {
        let items = self.typed(key, p, "an array", Value::as_array)?;
        if items.len() < min {
            p.push(format!("{} must contain at least {min} item{}", self.path(key), if min == 1 { "" } else { "s" }));
        } else if items.len() > max {
            p.push(format!("{} must contain at most {max} items", self.path(key)));
        }
        Some(items)
    }

    /// A string from a fixed list.
    pub fn one_of(&self, key: &str, allowed: &[&str], p: &mut Problems) -> Option<&'a str> {
        let s = self.string(key, p)?;
        if allowed.contains(&s) {
            Some(s)
        } else {
            p.push(format!("{} must be one of {}", self.path(key), allowed.join(", ")));
            None
        }
    }

    /// `metadata`: flat and at most 4 KB. `owner` starts the size message; nested objects
    /// pass their own path so the message still names where the problem is.
    pub fn metadata(&self, owner: &str, p: &mut Problems) -> Option<Map<String, Value>> {
        let m = self.raw_object("metadata", p)?;
        check_metadata(p, &self.path("metadata"), owner, m);
        Some(m.clone())
    }
}

/// The same rule as `Problems::length`, asked beforehand so a reader knows whether to
/// keep the value.
fn length_ok(s: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&s.chars().count())
}

/// Copies `value` into `out` under `key` when there is one.
pub(super) fn put(out: &mut Map<String, Value>, key: &str, value: Option<impl Into<Value>>) {
    if let Some(v) = value {
        out.insert(key.to_string(), v.into());
    }
}
