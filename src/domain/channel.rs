//! Operations that only a third-party channel can carry out: DownloadMessageRef (Apple
//! Messages for Business), PostConversionEvents (Meta: messenger, instagram, whatsapp)
//! and SyncUser (Zendesk). Sunbeam connects to none of them, so each request is checked
//! in full and then answered with the error a user or conversation without that channel
//! gets. No I/O.

use serde_json::{Map, Value};

use super::error::{DomainError, DomainResult};
use super::validate::Problems;

/// The channels PostConversionEvents reaches (the body's one key).
pub const CONVERSION_CHANNELS: &[&str] = &["messenger", "instagram", "whatsapp"];

fn required_string(obj: &Map<String, Value>, path: &str, key: &str, p: &mut Problems) -> Option<String> {
    match obj.get(key) {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(Value::String(_)) => {
            p.push(format!("{path}{key} must not be empty"));
            None
        }
        None | Some(Value::Null) => {
            p.push(format!("{path}{key} is required"));
            None
        }
        Some(_) => {
            p.push(format!("{path}{key} must be a string"));
            None
        }
    }
}

fn body_object(body: &Value) -> DomainResult<&Map<String, Value>> {
    body.as_object().ok_or_else(|| DomainError::invalid("The request body must be a JSON object"))
}

/// `downloadMessageRefBody`: `userId`, and `apple.interactiveDataRef` with `url`, `bid`,
/// `key`, `signature`, `owner`. Returns the user id.
pub fn parse_download_ref(body: &Value) -> DomainResult<String> {
    let body = body_object(body)?;
    let mut p = Problems::new();
    let user_id = required_string(body, "", "userId", &mut p);
    match body.get("apple") {
        None | Some(Value::Null) => p.push("apple is required: only the apple channel is supported"),
        Some(Value::Object(apple)) => match apple.get("interactiveDataRef") {
            Some(Value::Object(r)) => {
                for k in ["url", "bid", "key", "signature", "owner"] {
                    required_string(r, "apple.interactiveDataRef.", k, &mut p);
                }
            }
            None | Some(Value::Null) => p.push("apple.interactiveDataRef is required"),
            Some(_) => p.push("apple.interactiveDataRef must be an object"),
        },
        Some(_) => p.push("apple must be an object"),
    }
    p.finish()?;
    user_id.ok_or_else(|| DomainError::invalid("userId is required"))
}

/// `conversionEventsBody`: exactly one of `messenger`, `instagram`, `whatsapp`, each
/// `{payload: {data: [object, …]}}`. Returns the channel and how many events it holds.
pub fn parse_conversion_events(body: &Value) -> DomainResult<(String, usize)> {
    let body = body_object(body)?;
    let given: Vec<&str> = CONVERSION_CHANNELS.iter().copied().filter(|c| body.get(*c).is_some_and(|v| !v.is_null())).collect();
    let channel = match given.as_slice() {
        [one] => *one,
        [] => return Err(DomainError::invalid(format!("One of {} is required", CONVERSION_CHANNELS.join(", ")))),
        _ => return Err(DomainError::invalid(format!("Only one of {} may be given", CONVERSION_CHANNELS.join(", ")))),
    };
    let mut p = Problems::new();
    let mut count = 0;
    match &body[channel] {
        Value::Object(event) => match event.get("payload") {
            Some(Value::Object(payload)) => match payload.get("data") {
                Some(Value::Array(data)) => {
                    count = data.len();
                    if data.is_empty() {
                        p.push(format!("{channel}.payload.data must hold at least one event"));
                    }
                    for (i, item) in data.iter().enumerate() {
                        if !item.is_object() {
                            p.push(format!("{channel}.payload.data[{i}] must be an object"));
                        }
                    }
                }
                None | Some(Value::Null) => p.push(format!("{channel}.payload.data is required")),
                Some(_) => p.push(format!("{channel}.payload.data must be an array")),
            },
            None | Some(Value::Null) => p.push(format!("{channel}.payload is required")),
            Some(_) => p.push(format!("{channel}.payload must be an object")),
        },
        _ => p.push(format!("{channel} must be an object")),
    }
    p.finish()?;
    Ok((channel.to_string(), count))
}

/// `syncUserBody` (optional): `survivingZendeskId`, a string.
pub fn parse_sync_user(body: &Value) -> DomainResult<Option<String>> {
    let body = body_object(body)?;
    match body.get("survivingZendeskId") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if !s.is_empty() => Ok(Some(s.clone())),
        Some(Value::String(_)) => Err(DomainError::invalid("survivingZendeskId must not be empty")),
        Some(_) => Err(DomainError::invalid("survivingZendeskId must be a string")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn download_refs_need_every_apple_field() {
        let ok = json!({"userId": "u", "apple": {"interactiveDataRef": {"url": "https://x", "bid": "b", "key": "k", "signature": "s", "owner": "o"}}});
        assert_eq!(parse_download_ref(&ok).unwrap(), "u");
        let Err(DomainError::Invalid(problems)) = parse_download_ref(&json!({"apple": {"interactiveDataRef": {"url": 1}}})) else { panic!() };
        assert!(problems.iter().any(|p| p == "userId is required"));
        assert!(problems.iter().any(|p| p == "apple.interactiveDataRef.url must be a string"));
        assert!(problems.iter().any(|p| p == "apple.interactiveDataRef.owner is required"));
        assert!(parse_download_ref(&json!({"userId": "u"})).is_err());
    }

    #[test]
    fn conversion_events_name_one_meta_channel() {
        let ok = json!({"instagram": {"payload": {"data": [{"event_name": "TestEvent"}]}}});
        assert_eq!(parse_conversion_events(&ok).unwrap(), ("instagram".to_string(), 1));
        assert!(parse_conversion_events(&json!({})).is_err());
        assert!(parse_conversion_events(&json!({"messenger": {"payload": {"data": [{}]}}, "whatsapp": {"payload": {"data": [{}]}}})).is_err());
        assert!(parse_conversion_events(&json!({"whatsapp": {"payload": {"data": [1]}}})).is_err());
        assert!(parse_conversion_events(&json!({"whatsapp": {"payload": {}}})).is_err());
    }

    #[test]
    fn sync_bodies_are_optional() {
        assert_eq!(parse_sync_user(&json!({})).unwrap(), None);
        assert_eq!(parse_sync_user(&json!({"survivingZendeskId": "35436"})).unwrap().as_deref(), Some("35436"));
        assert!(parse_sync_user(&json!({"survivingZendeskId": 35436})).is_err());
    }
}
