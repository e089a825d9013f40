//! `metadata`: a flat object of strings, numbers and booleans, at most 4 KB serialized.

use serde_json::{Map, Value};

use super::validate::Problems;

pub const METADATA_MAX_BYTES: usize = 4096;

/// Checks metadata; `owner` names it in the message the way the hosted service does
/// ("App metadata is limited to 4096 bytes in size.").
pub fn check_metadata(problems: &mut Problems, field: &str, owner: &str, metadata: &Map<String, Value>) {
    for (k, v) in metadata {
        if matches!(v, Value::Object(_) | Value::Array(_)) {
            problems.push(format!("{field}.{k} must be a string, number or boolean: metadata is a flat object"));
        }
    }
    let size = serde_json::to_vec(metadata).map(|v| v.len()).unwrap_or(usize::MAX);
    if size > METADATA_MAX_BYTES {
        problems.push(format!("{owner} metadata is limited to {METADATA_MAX_BYTES} bytes in size."));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn flat_small_metadata_passes_and_nested_or_big_fails() {
        let mut p = Problems::new();
        let ok = json!({"lang": "en", "n": 1, "b": true, "z": null});
        check_metadata(&mut p, "metadata", "App", ok.as_object().unwrap());
        assert!(p.is_empty());
        let nested = json!({"a": {"b": 1}});
        check_metadata(&mut p, "metadata", "App", nested.as_object().unwrap());
        let big = json!({"a": "x".repeat(5000)});
        check_metadata(&mut p, "metadata", "App", big.as_object().unwrap());
        assert!(p.finish().is_err());
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn scalar() -> impl Strategy<Value = Value> {
            prop_oneof![any::<bool>().prop_map(Value::from), any::<i32>().prop_map(Value::from), "\\PC{0,20}".prop_map(Value::from)]
        }

        proptest! {
            #[test]
            fn flat_metadata_passes_exactly_when_it_fits(m in prop::collection::btree_map("[a-z]{1,10}", scalar(), 0..40)) {
                let map: Map<String, Value> = m.into_iter().collect();
                let mut p = Problems::new();
                check_metadata(&mut p, "metadata", "App", &map);
                let fits = serde_json::to_vec(&map).unwrap().len() <= METADATA_MAX_BYTES;
                prop_assert_eq!(p.is_empty(), fits);
            }

            #[test]
            fn a_nested_value_is_always_refused(m in prop::collection::btree_map("[a-z]{1,10}", scalar(), 0..5), key in "[A-Z]{1,5}") {
                let mut map: Map<String, Value> = m.into_iter().collect();
                map.insert(key, serde_json::json!({"nested": 1}));
                let mut p = Problems::new();
                check_metadata(&mut p, "metadata", "App", &map);
                prop_assert!(!p.is_empty());
            }
        }
    }
}
