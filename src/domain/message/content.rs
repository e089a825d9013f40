//! Message `content`: the nine types of the spec's discriminated `content`, and the six
//! action types they carry.
//!
//! Reading a content builds a fresh object from the fields the spec defines for its type.
//! Read-only fields sent by a client (`mediaType`/`mediaSize` of images and files, the
//! fallback `text` of carousels, `submitted` of forms) are ignored and regenerated; unknown
//! fields are dropped rather than refused, since no schema of the spec forbids additional
//! properties, and storing them would show clients fields the spec does not define.

use serde_json::{Map, Value};

use super::card_mask::mask_in_content;
use super::fields::{put, Fields};
use super::rich_text::{html_to_text, markdown_to_html};
use crate::domain::error::DomainResult;
use crate::domain::validate::Problems;

/// Every content type of the spec, in the order of its discriminator mapping.
pub const CONTENT_TYPES: &[&str] = &["text", "carousel", "file", "form", "formResponse", "image", "list", "location", "template"];

const ALL_ACTIONS: &[&str] = &["buy", "link", "locationRequest", "postback", "reply", "webview"];
/// The spec's `actionSubset`: what carousel/list items and list messages may carry.
const ITEM_ACTIONS: &[&str] = &["buy", "link", "postback", "webview"];

/// The longest `text`, `htmlText` and `markdownText` the spec allows.
const TEXT_MAX: usize = 4096;

/// Who is sending the content. The spec says `formResponse` "cannot be sent via the
/// API": only the Web Messenger sends it, answering a form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentOrigin {
    Api,
    WebMessenger,
}

/// Reads one content object on its own (for callers other than PostMessage, such as the
/// Web Messenger's message endpoint), masking card numbers when `mask_cards` is set.
pub fn parse_content(value: &Value, origin: ContentOrigin, mask_cards: bool) -> DomainResult<Value> {
    let mut p = Problems::new();
    let content = read_content(value, "content", origin, &mut p);
    p.finish()?;
    let mut content = Value::Object(content.unwrap_or_default());
    if mask_cards {
        mask_in_content(&mut content);
    }
    Ok(content)
}

/// State shared by the whole of one message while it is read.
struct Ctx {
    /// How many webview actions asked to open on receipt: at most one may.
    open_on_receive: usize,
}

/// Reads `value` as a content at `path`, recording every problem. Returns the content as
/// it will be stored, or `None` when it is not even an object of a known type.
pub(super) fn read_content(value: &Value, path: &str, origin: ContentOrigin, p: &mut Problems) -> Option<Map<String, Value>> {
    let f = Fields::of(value, path, p)?;
    let kind = if f.require("type", p) { f.one_of("type", CONTENT_TYPES, p)? } else { return None };
    let mut out = Map::new();
    out.insert("type".into(), kind.into());
    let mut ctx = Ctx { open_on_receive: 0 };
    match kind {
        "text" => text(&f, &mut out, &mut ctx, p),
        "image" => media(&f, &mut out, true, &mut ctx, p),
        "file" => media(&f, &mut out, false, &mut ctx, p),
        "carousel" => carousel(&f, &mut out, &mut ctx, p),
        "list" => list(&f, &mut out, &mut ctx, p),
        "location" => location(&f, &mut out, p),
        "form" => form(&f, &mut out, p),
        "formResponse" => match origin {
            ContentOrigin::Api => {
                p.push(format!(
                    "{} formResponse cannot be sent via the API: formResponse messages are only sent by the Web Messenger in reply to a form",
                    f.path("type")
                ));
                return None;
            }
            ContentOrigin::WebMessenger => form_response(&f, &mut out, p),
        },
        "template" => {
            if f.require("template", p) {
                put(&mut out, "template", f.raw_object("template", p).cloned().map(Value::Object));
            }
        }
        _ => unreachable!("one_of only returns listed types"),
    }
    if kind != "formResponse" {
        put(&mut out, "blockChatInput", f.boolean("blockChatInput", p));
    }
    if ctx.open_on_receive > 1 {
        p.push(format!("{} may have at most one webview action with openOnReceive set to true", f.base()));
    }
    Some(out)
}

fn is_blank(s: Option<&str>) -> bool {
    s.is_none_or(|s| s.trim().is_empty())
}

/// `text`, `htmlText` and `markdownText`, shared by text, image and file messages.
/// Markdown is converted to `htmlText`; without a `text`, one is derived from the HTML
/// for channels that cannot show rich text.
fn rich_text(f: &Fields, out: &mut Map<String, Value>, p: &mut Problems) {
    let text = f.sized_string("text", 0, TEXT_MAX, false, p);
    let html = f.sized_string("htmlText", 0, TEXT_MAX, false, p);
    let markdown = f.sized_string("markdownText", 0, TEXT_MAX, false, p);
    if f.has("htmlText") && f.has("markdownText") {
        p.push(format!("{} cannot be used together with {}", f.path("markdownText"), f.path("htmlText")));
    }
    let html = match (html, markdown) {
        (Some(h), _) => Some(h.to_string()),
        (None, Some(md)) => {
            let converted = markdown_to_html(md);
            if converted.chars().count() > TEXT_MAX {
                p.push(format!("{} must be at most {TEXT_MAX} characters long once converted to htmlText", f.path("markdownText")));
            }
            Some(converted)
        }
        (None, None) => None,
    };
    let text = match (text, &html) {
        (Some(t), _) if !t.is_empty() => Some(t.to_string()),
        (_, Some(h)) => Some(html_to_text(h)).filter(|t| !t.is_empty()),
        (t, None) => t.map(str::to_string),
    };
    put(out, "text", text);
    put(out, "htmlText", html);
}

fn text(f: &Fields, out: &mut Map<String, Value>, ctx: &mut Ctx, p: &mut Problems) {
    rich_text(f, out, p);
    let actions = actions(f, "actions", ALL_ACTIONS, 0, usize::MAX, ctx, p);
    let has_actions = actions.as_ref().is_some_and(|a| !a.is_empty());
    put(out, "actions", actions);
    put(out, "payload", f.string("payload", p));
    let has_text = !is_blank(f.get("text").and_then(Value::as_str));
    if !has_text && !has_actions && !f.has("htmlText") && !f.has("markdownText") {
        p.push(format!(
            "{} is required unless {}, {} or {} is provided",
            f.path("text"),
            f.path("actions"),
            f.path("htmlText"),
            f.path("markdownText")
        ));
    }
}

/// Image and file messages. Only images carry actions (the spec's `fileMessage` has none).
fn media(f: &Fields, out: &mut Map<String, Value>, with_actions: bool, ctx: &mut Ctx, p: &mut Problems) {
    let media_url = f.uri("mediaUrl", usize::MAX, true, p);
    put(out, "mediaUrl", media_url);
    // "The field will be saved by default with the file name as the value."
    let alt = f.sized_string("altText", 0, 128, false, p).map(str::to_string).or_else(|| media_url.and_then(file_name));
    put(out, "altText", alt);
    rich_text(f, out, p);
    if with_actions {
        put(out, "actions", actions(f, "actions", ALL_ACTIONS, 0, usize::MAX, ctx, p));
    }
    put(out, "attachmentId", f.string("attachmentId", p));
}

/// The last path segment of a URL, percent-decoded and cut to the 128 characters
/// `altText` allows.
fn file_name(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    let segment = parsed.path_segments()?.rev().find(|s| !s.is_empty())?.to_string();
    let bytes = segment.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                decoded.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        decoded.push(bytes[i]);
        i += 1;
    }
    let name: String = String::from_utf8_lossy(&decoded).chars().take(128).collect();
    Some(name)
}

fn carousel(f: &Fields, out: &mut Map<String, Value>, ctx: &mut Ctx, p: &mut Problems) {
    let items = items(f, ctx, p);
    if let Some(settings) = f.object("displaySettings", p) {
        let mut s = Map::new();
        put(&mut s, "imageAspectRatio", settings.one_of("imageAspectRatio", &["horizontal", "square"], p));
        out.insert("displaySettings".into(), Value::Object(s));
    }
    if let Some(items) = items {
        out.insert("text".into(), items_fallback(&items).into());
        out.insert("items".into(), Value::Array(items));
    }
}

fn list(f: &Fields, out: &mut Map<String, Value>, ctx: &mut Ctx, p: &mut Problems) {
    let items = items(f, ctx, p);
    put(out, "actions", actions(f, "actions", ITEM_ACTIONS, 0, 10, ctx, p));
    if let Some(items) = items {
        out.insert("text".into(), items_fallback(&items).into());
        out.insert("items".into(), Value::Array(items));
    }
}

/// The `text` of a carousel or list, for channels that show neither. The spec's example
/// (`carousel-2`) numbers the items, shows title and description, and lists link actions
/// as "text: uri"; postbacks are left out ("the raw text fallback does not include any
/// images or postback message actions"). A webview shows its `fallback` URI, the one
/// meant for channels that cannot open webviews; buy actions cannot work in plain text.
fn items_fallback(items: &[Value]) -> String {
    let blocks: Vec<String> = items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let mut lines = vec![format!("{}. {}", i + 1, item["title"].as_str().unwrap_or_default())];
            if let Some(d) = item["description"].as_str() {
                lines.push(d.to_string());
            }
            for action in item["actions"].as_array().map(Vec::as_slice).unwrap_or_default() {
                let target = match action["type"].as_str() {
                    Some("link") => action["uri"].as_str(),
                    Some("webview") => action["fallback"].as_str(),
                    _ => None,
                };
                if let Some(target) = target {
                    lines.push(format!("{}: {target}", action["text"].as_str().unwrap_or_default()));
                }
            }
            lines.join("\n")
        })
        .collect();
    blocks.join("\n\n")
}

fn items(f: &Fields, ctx: &mut Ctx, p: &mut Problems) -> Option<Vec<Value>> {
    if !f.require("items", p) {
        return None;
    }
    let items = f.array("items", 1, 10, p)?;
    Some(items.iter().enumerate().filter_map(|(i, v)| item(v, &format!("{}[{i}]", f.path("items")), ctx, p)).collect())
}

fn item(value: &Value, path: &str, ctx: &mut Ctx, p: &mut Problems) -> Option<Value> {
    let f = Fields::of(value, path, p)?;
    let mut out = Map::new();
    put(&mut out, "title", f.sized_string("title", 1, 128, true, p));
    put(&mut out, "description", f.sized_string("description", 0, 128, false, p));
    put(&mut out, "mediaUrl", f.uri("mediaUrl", 2048, false, p));
    put(&mut out, "mediaType", f.sized_string("mediaType", 0, 128, false, p));
    put(&mut out, "altText", f.sized_string("altText", 0, 128, false, p));
    put(&mut out, "size", f.one_of("size", &["compact", "large"], p));
    if f.require("actions", p) {
        put(&mut out, "actions", actions(&f, "actions", ITEM_ACTIONS, 1, 3, ctx, p));
    }
    put(&mut out, "metadata", f.metadata(path, p));
    Some(Value::Object(out))
}

fn actions(f: &Fields, key: &str, allowed: &[&str], min: usize, max: usize, ctx: &mut Ctx, p: &mut Problems) -> Option<Vec<Value>> {
    let list = f.array(key, min, max, p)?;
    let base = f.path(key);
    Some(list.iter().enumerate().filter_map(|(i, v)| action(v, &format!("{base}[{i}]"), allowed, ctx, p)).collect())
}

fn action(value: &Value, path: &str, allowed: &[&str], ctx: &mut Ctx, p: &mut Problems) -> Option<Value> {
    let f = Fields::of(value, path, p)?;
    let text = f.required_string("text", p);
    if !f.require("type", p) {
        return None;
    }
    let kind = f.string("type", p)?;
    if !allowed.contains(&kind) {
        let hint = if ALL_ACTIONS.contains(&kind) { format!(" ({kind} actions are only allowed on text and image messages)") } else { String::new() };
        p.push(format!("{} must be one of {}{hint}", f.path("type"), allowed.join(", ")));
        return None;
    }
    let mut out = Map::new();
    out.insert("type".into(), kind.into());
    put(&mut out, "text", text);
    match kind {
        "postback" => {
            put(&mut out, "payload", f.required_string("payload", p));
        }
        "reply" => {
            put(&mut out, "payload", f.required_string("payload", p));
            put(&mut out, "iconUrl", f.uri("iconUrl", 2048, false, p));
        }
        "link" => {
            put(&mut out, "uri", f.uri("uri", usize::MAX, true, p));
            put(&mut out, "default", f.boolean("default", p));
            put(&mut out, "extraChannelOptions", extra_channel_options(&f, p));
        }
        "webview" => {
            put(&mut out, "uri", f.uri("uri", usize::MAX, true, p));
            put(&mut out, "fallback", f.uri("fallback", usize::MAX, true, p));
            put(&mut out, "size", f.one_of("size", &["compact", "tall", "full"], p));
            let open = f.boolean("openOnReceive", p);
            if open == Some(true) {
                ctx.open_on_receive += 1;
            }
            put(&mut out, "openOnReceive", open);
            put(&mut out, "default", f.boolean("default", p));
            put(&mut out, "extraChannelOptions", extra_channel_options(&f, p));
        }
        "buy" => {
            if f.require("amount", p) {
                if let Some(amount) = f.integer("amount", p) {
                    if amount > 0 {
                        out.insert("amount".into(), amount.into());
                    } else {
                        p.push(format!("{} must be a positive amount in cents", f.path("amount")));
                    }
                }
            }
            // The spec asks for lowercase ISO 4217 but its own example says "CAD"; both
            // are accepted and stored lowercase.
            if let Some(currency) = f.string("currency", p) {
                if currency.len() == 3 && currency.chars().all(|c| c.is_ascii_alphabetic()) {
                    out.insert("currency".into(), currency.to_ascii_lowercase().into());
                } else {
                    p.push(format!("{} must be a three-letter ISO 4217 currency code", f.path("currency")));
                }
            }
        }
        "locationRequest" => {}
        _ => unreachable!("checked against ALL_ACTIONS"),
    }
    put(&mut out, "metadata", f.metadata(path, p));
    Some(Value::Object(out))
}

/// `extraChannelOptions`: the Messenger options are checked, the object is kept as sent
/// since it is passed through to the channel.
fn extra_channel_options(f: &Fields, p: &mut Problems) -> Option<Value> {
    let options = f.object("extraChannelOptions", p)?;
    if let Some(messenger) = options.object("messenger", p) {
        messenger.boolean("messenger_extensions", p);
        messenger.one_of("webview_share_button", &["hide"], p);
    }
    f.get("extraChannelOptions").cloned()
}

fn location(f: &Fields, out: &mut Map<String, Value>, p: &mut Problems) {
    let coordinates = if f.require("coordinates", p) { f.object("coordinates", p) } else { None };
    if let Some(c) = coordinates {
        let lat = if c.require("lat", p) { c.number("lat", p) } else { None };
        let long = if c.require("long", p) { c.number("long", p) } else { None };
        let in_range = |n: Option<&serde_json::Number>, limit: f64, key: &str, p: &mut Problems| match n {
            Some(n) if n.as_f64().is_some_and(|x| (-limit..=limit).contains(&x)) => Some(n.clone()),
            Some(_) => {
                p.push(format!("{} must be between -{limit} and {limit}", c.path(key)));
                None
            }
            None => None,
        };
        let lat = in_range(lat, 90.0, "lat", p);
        let long = in_range(long, 180.0, "long", p);
        if let (Some(lat), Some(long)) = (lat, long) {
            // Numbers are printed as the client wrote them, as in the spec's example.
            out.insert("text".into(), format!("Location shared:\nhttps://maps.google.com/maps?q={lat},{long}").into());
            let mut coords = Map::new();
            coords.insert("lat".into(), Value::Number(lat));
            coords.insert("long".into(), Value::Number(long));
            out.insert("coordinates".into(), Value::Object(coords));
        }
    }
    if let Some(l) = f.object("location", p) {
        let mut place = Map::new();
        put(&mut place, "address", l.string("address", p));
        put(&mut place, "name", l.string("name", p));
        out.insert("location".into(), Value::Object(place));
    }
}

/// The shared part of `formMessageField` and `formResponseMessageField`; checks that
/// names are unique across the form.
fn field_head<'a>(value: &'a Value, path: &str, names: &mut Vec<(String, String)>, p: &mut Problems) -> Option<(Fields<'a>, Map<String, Value>)> {
    let f = Fields::of(value, path, p)?;
    let mut out = Map::new();
    put(&mut out, "type", if f.require("type", p) { f.one_of("type", &["email", "select", "text"], p) } else { None });
    let name = f.sized_string("name", 1, 128, true, p);
    if let Some(name) = name {
        match names.iter().find(|(n, _)| n == name) {
            Some((_, first)) => p.push(format!("{} \"{name}\" is already used by {first}; field names must be unique", f.path("name"))),
            None => names.push((name.to_string(), path.to_string())),
        }
    }
    put(&mut out, "name", name);
    put(&mut out, "label", f.sized_string("label", 1, 128, true, p));
    Some((f, out))
}

fn form(f: &Fields, out: &mut Map<String, Value>, p: &mut Problems) {
    put(out, "text", f.string("text", p));
    // A form starts unsubmitted; a formResponse answering it is what changes that.
    out.insert("submitted".into(), false.into());
    if !f.require("fields", p) {
        return;
    }
    let Some(list) = f.array("fields", 1, 20, p) else { return };
    let mut names = Vec::new();
    let fields: Vec<Value> = list
        .iter()
        .enumerate()
        .filter_map(|(i, v)| form_field(v, &format!("{}[{i}]", f.path("fields")), &mut names, p))
        .collect();
    out.insert("fields".into(), Value::Array(fields));
}

fn form_field(value: &Value, path: &str, names: &mut Vec<(String, String)>, p: &mut Problems) -> Option<Value> {
    let (f, mut out) = field_head(value, path, names, p)?;
    put(&mut out, "placeholder", f.sized_string("placeholder", 1, 128, false, p));
    let size = |key: &str, p: &mut Problems| {
        let n = f.integer(key, p)?;
        if (1..=256).contains(&n) {
            Some(n)
        } else {
            p.push(format!("{} must be between 1 and 256", f.path(key)));
            None
        }
    };
    let (min, max) = (size("minSize", p), size("maxSize", p));
    if let (Some(lo), Some(hi)) = (min, max) {
        if lo > hi {
            p.push(format!("{} must not be greater than {}", f.path("minSize"), f.path("maxSize")));
        }
    }
    put(&mut out, "minSize", min);
    put(&mut out, "maxSize", max);
    put(&mut out, "format", f.one_of("format", &["integer", "decimal"], p));
    let options = f.array("options", 0, 200, p);
    if let Some(options) = options {
        let mut seen: Vec<&str> = Vec::new();
        let mut kept = Vec::new();
        for (i, option) in options.iter().enumerate() {
            let Some(o) = Fields::of(option, &format!("{}[{i}]", f.path("options")), p) else { continue };
            let label = o.sized_string("label", 1, 128, true, p);
            let name = o.sized_string("name", 1, 128, true, p);
            if let Some(name) = name {
                if seen.contains(&name) {
                    p.push(format!("{} \"{name}\" is used by another option of this field", o.path("name")));
                }
                seen.push(name);
            }
            let mut out = Map::new();
            put(&mut out, "label", label);
            put(&mut out, "name", name);
            kept.push(Value::Object(out));
        }
        out.insert("options".into(), Value::Array(kept));
    }
    // The spec does not say so, but a select field without options cannot be answered.
    if out.get("type").and_then(Value::as_str) == Some("select") && options.is_none_or(|o| o.is_empty()) {
        p.push(format!("{} must list at least one option when type is select", f.path("options")));
    }
    Some(Value::Object(out))
}

fn form_response(f: &Fields, out: &mut Map<String, Value>, p: &mut Problems) {
    if !f.require("fields", p) {
        return;
    }
    let Some(list) = f.array("fields", 1, 20, p) else { return };
    let mut names = Vec::new();
    let mut lines = Vec::new();
    let mut fields = Vec::new();
    for (i, v) in list.iter().enumerate() {
        let path = format!("{}[{i}]", f.path("fields"));
        let Some((field, mut answer)) = field_head(v, &path, &mut names, p) else { continue };
        let shown = match answer.get("type").and_then(Value::as_str) {
            Some("text") => {
                let t = field.sized_string("text", 1, 256, true, p);
                put(&mut answer, "text", t);
                t.map(str::to_string)
            }
            Some("email") => {
                let e = field.required_string("email", p);
                if let Some(e) = e {
                    p.email(&field.path("email"), e);
                }
                put(&mut answer, "email", e);
                e.map(str::to_string)
            }
            Some("select") => {
                let chosen = if field.require("select", p) { field.array("select", 1, 200, p) } else { None };
                let chosen: Vec<Value> = chosen
                    .unwrap_or_default()
                    .iter()
                    .enumerate()
                    .filter_map(|(j, o)| Fields::of(o, &format!("{}[{j}]", field.path("select")), p).map(|_| o.clone()))
                    .collect();
                let shown: Vec<&str> = chosen.iter().filter_map(|o| o["label"].as_str().or(o["name"].as_str())).collect();
                let shown = shown.join(", ");
                answer.insert("select".into(), Value::Array(chosen));
                Some(shown)
            }
            _ => None,
        };
        // `quotedMessageId` is write-only: the caller reads it from the body to find the
        // form being answered; it is not part of the stored content.
        if let (Some(label), Some(shown)) = (answer.get("label").and_then(Value::as_str), shown) {
            lines.push(format!("{label}: {shown}"));
        }
        fields.push(Value::Object(answer));
    }
    out.insert("fields".into(), Value::Array(fields));
    out.insert("textFallback".into(), lines.join("\n").into());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::error::DomainError;
    use serde_json::json;

    fn ok(content: Value) -> Value {
        parse_content(&content, ContentOrigin::Api, false).unwrap_or_else(|e| panic!("{content} refused: {e:?}"))
    }

    fn problems(content: Value) -> Vec<String> {
        match parse_content(&content, ContentOrigin::Api, false) {
            Err(DomainError::Invalid(v)) => v,
            other => panic!("{content} was not refused: {other:?}"),
        }
    }

    /// Refused, with at least one problem starting with `field`.
    fn refused(content: Value, field: &str) {
        let v = problems(content.clone());
        assert!(v.iter().any(|m| m.starts_with(field)), "{content}: expected a problem naming {field}, got {v:?}");
    }

    #[test]
    fn text_from_the_spec_example() {
        assert_eq!(ok(json!({"type": "text", "text": "Hello!"})), json!({"type": "text", "text": "Hello!"}));
        let with_actions = ok(json!({"type": "text", "text": "Pick one", "blockChatInput": true, "payload": "P", "actions": [
            {"type": "reply", "text": "Tacos", "payload": "TACOS", "iconUrl": "https://example.org/taco.png"},
            {"type": "locationRequest", "text": "Share location"},
            {"type": "buy", "text": "Buy vinegar", "amount": 8000, "currency": "CAD"},
            {"type": "webview", "text": "Open", "uri": "https://example.org/w", "fallback": "https://example.org/f", "size": "tall", "openOnReceive": true},
            {"type": "link", "text": "Site", "uri": "https://example.org", "default": true,
             "extraChannelOptions": {"messenger": {"messenger_extensions": true, "webview_share_button": "hide"}}},
            {"type": "postback", "text": "Go", "payload": "GO", "metadata": {"k": "v"}}
        ]}));
        assert_eq!(with_actions["actions"].as_array().unwrap().len(), 6);
        assert_eq!(with_actions["actions"][2]["currency"], "cad");
        assert_eq!(with_actions["actions"][3]["openOnReceive"], true);
        assert_eq!(with_actions["actions"][4]["extraChannelOptions"]["messenger"]["webview_share_button"], "hide");
        assert_eq!(with_actions["actions"][5]["metadata"], json!({"k": "v"}));
        assert_eq!(with_actions["blockChatInput"], true);
        // Actions alone are enough.
        ok(json!({"type": "text", "actions": [{"type": "reply", "text": "Yes", "payload": "Y"}]}));
    }

    #[test]
    fn text_rules() {
        refused(json!({"type": "text"}), "content.text is required unless");
        refused(json!({"type": "text", "text": ""}), "content.text is required unless");
        refused(json!({"type": "text", "text": "x".repeat(4097)}), "content.text must be at most 4096");
        refused(json!({"type": "text", "text": 5}), "content.text must be a string");
        refused(json!({"type": "text", "htmlText": "x".repeat(4097)}), "content.htmlText");
        refused(json!({"type": "text", "htmlText": "<b>a</b>", "markdownText": "**a**"}), "content.markdownText cannot be used together");
        refused(json!({"type": "text", "text": "a", "blockChatInput": "yes"}), "content.blockChatInput must be a boolean");
        refused(json!({"type": "text", "text": "a", "actions": {}}), "content.actions must be an array");
        // 1500 `<` become 6000 characters of `&lt;`.
        refused(json!({"type": "text", "markdownText": "<".repeat(1500)}), "content.markdownText must be at most 4096 characters long once converted");
    }

    #[test]
    fn markdown_becomes_html_and_text_is_derived() {
        let c = ok(json!({"type": "text", "markdownText": "# Hello!\nVisit **our** [site](https://example.org)"}));
        assert_eq!(c["htmlText"], "<h1>Hello!</h1>Visit <strong>our</strong> <a href=\"https://example.org\">site</a>");
        assert_eq!(c["text"], "Hello!\nVisit our site (https://example.org)");
        assert!(c.get("markdownText").is_none(), "markdownText is write-only");
        let c = ok(json!({"type": "text", "htmlText": "<h1>Hello!</h1>"}));
        assert_eq!(c["text"], "Hello!");
        let c = ok(json!({"type": "text", "text": "Plain", "htmlText": "<b>Rich</b>"}));
        assert_eq!(c["text"], "Plain");
    }

    #[test]
    fn image_and_file_from_the_spec_examples() {
        let image = ok(json!({"type": "image", "text": "Hello!", "mediaUrl": "https://example.org/image.jpg", "altText": "A wonderful image",
                              "mediaType": "image/jpg", "mediaSize": 627328}));
        assert_eq!(image, json!({"type": "image", "text": "Hello!", "mediaUrl": "https://example.org/image.jpg", "altText": "A wonderful image"}));
        let file = ok(json!({"type": "file", "text": "Here's our FAQ!", "mediaUrl": "https://example.org/FAQ.pdf", "altText": "FAQ.pdf"}));
        assert_eq!(file["altText"], "FAQ.pdf");
        // altText defaults to the file name.
        let file = ok(json!({"type": "file", "mediaUrl": "https://example.org/docs/My%20FAQ.pdf?x=1"}));
        assert_eq!(file["altText"], "My FAQ.pdf");
        // Files have no actions in the spec; they are dropped, not stored.
        let file = ok(json!({"type": "file", "mediaUrl": "https://example.org/a.pdf", "actions": [{"type": "link"}]}));
        assert!(file.get("actions").is_none());
        let image = ok(json!({"type": "image", "mediaUrl": "https://example.org/a.png", "actions": [{"type": "reply", "text": "Yes", "payload": "Y"}]}));
        assert_eq!(image["actions"][0]["type"], "reply");
    }

    #[test]
    fn image_and_file_rules() {
        refused(json!({"type": "image"}), "content.mediaUrl is required");
        refused(json!({"type": "file", "mediaUrl": "not a uri"}), "content.mediaUrl must be a valid URI");
        refused(json!({"type": "image", "mediaUrl": "https://example.org/a.png", "altText": "x".repeat(129)}), "content.altText must be at most 128");
        refused(json!({"type": "image", "mediaUrl": 3}), "content.mediaUrl must be a string");
    }

    fn taco_items() -> Value {
        json!([
            {"title": "Tacos", "description": "Get your tacos today!", "mediaUrl": "https://example.org/image.jpg", "altText": "A giant taco", "size": "compact",
             "actions": [{"text": "Select", "type": "postback", "payload": "TACOS"}, {"text": "More info", "type": "link", "uri": "https://example.org"}]},
            {"title": "Ramen", "description": "Get your ramen today!", "mediaUrl": "https://example.org/image.jpg", "altText": "A chicken vegetable ramen bowl", "size": "compact",
             "actions": [{"text": "Select", "type": "postback", "payload": "RAMEN"}, {"text": "More info", "type": "link", "uri": "https://example.org"}]}
        ])
    }

    const TACO_FALLBACK: &str =
        "1. Tacos\nGet your tacos today!\nMore info: https://example.org\n\n2. Ramen\nGet your ramen today!\nMore info: https://example.org";

    #[test]
    fn carousel_from_the_spec_example_gets_its_fallback_text() {
        let c = ok(json!({"type": "carousel", "items": taco_items(), "text": "ignored", "displaySettings": {"imageAspectRatio": "square"}}));
        assert_eq!(c["text"], TACO_FALLBACK);
        assert_eq!(c["items"], taco_items());
        assert_eq!(c["displaySettings"]["imageAspectRatio"], "square");
    }

    #[test]
    fn carousel_rules() {
        refused(json!({"type": "carousel"}), "content.items is required");
        refused(json!({"type": "carousel", "items": []}), "content.items must contain at least 1 item");
        let eleven: Vec<Value> = (0..11).map(|_| taco_items()[0].clone()).collect();
        refused(json!({"type": "carousel", "items": eleven}), "content.items must contain at most 10 items");
        let mut items = taco_items();
        items[0]["title"] = json!("");
        items[1]["actions"][1]["uri"] = json!("nope");
        let v = problems(json!({"type": "carousel", "items": items}));
        assert!(v.contains(&"content.items[0].title must be at least 1 characters long".to_string()), "{v:?}");
        assert!(v.contains(&"content.items[1].actions[1].uri must be a valid URI".to_string()), "{v:?}");
        let mut items = taco_items();
        items[0]["actions"] = json!([]);
        refused(json!({"type": "carousel", "items": items}), "content.items[0].actions must contain at least 1 item");
        let mut items = taco_items();
        items[0]["actions"] = json!([{"type": "reply", "text": "a", "payload": "b"}]);
        refused(json!({"type": "carousel", "items": items}), "content.items[0].actions[0].type must be one of buy, link, postback, webview");
        let mut items = taco_items();
        items[0]["size"] = json!("huge");
        items[0]["mediaUrl"] = json!(format!("https://example.org/{}", "a".repeat(2048)));
        items[1]["description"] = json!("d".repeat(129));
        items[1].as_object_mut().unwrap().remove("title");
        let v = problems(json!({"type": "carousel", "items": items, "displaySettings": {"imageAspectRatio": "tall"}}));
        for field in ["content.items[0].size", "content.items[0].mediaUrl", "content.items[1].description", "content.items[1].title", "content.displaySettings.imageAspectRatio"] {
            assert!(v.iter().any(|m| m.starts_with(field)), "{field} not in {v:?}");
        }
        let mut items = taco_items();
        items[0]["actions"] = json!(vec![json!({"type": "postback", "text": "a", "payload": "b"}); 4]);
        refused(json!({"type": "carousel", "items": items}), "content.items[0].actions must contain at most 3 items");
    }

    #[test]
    fn list_from_the_spec_example() {
        let mut items = taco_items();
        for item in items.as_array_mut().unwrap() {
            item.as_object_mut().unwrap().remove("altText");
        }
        let c = ok(json!({"type": "list", "items": items, "actions": [{"type": "postback", "text": "More", "payload": "MORE"}]}));
        assert_eq!(c["text"], TACO_FALLBACK);
        assert_eq!(c["actions"][0]["payload"], "MORE");
        refused(json!({"type": "list", "items": items, "actions": [{"type": "locationRequest", "text": "Where?"}]}), "content.actions[0].type");
        refused(json!({"type": "list", "items": 3}), "content.items must be an array");
    }

    #[test]
    fn webview_in_a_fallback_shows_its_fallback_uri() {
        let items = json!([{"title": "Shop", "actions": [
            {"type": "webview", "text": "Open", "uri": "https://example.org/w", "fallback": "https://example.org/f"},
            {"type": "buy", "text": "Buy", "amount": 100}]}]);
        assert_eq!(ok(json!({"type": "carousel", "items": items}))["text"], "1. Shop\nOpen: https://example.org/f");
    }

    #[test]
    fn action_rules() {
        let with = |action: Value| json!({"type": "text", "text": "t", "actions": [action]});
        refused(with(json!({"type": "postback", "text": "a"})), "content.actions[0].payload is required");
        refused(with(json!({"type": "reply", "payload": "a"})), "content.actions[0].text is required");
        refused(with(json!({"type": "reply", "text": "a", "payload": "b", "iconUrl": "x"})), "content.actions[0].iconUrl must be a valid URI");
        refused(with(json!({"type": "link", "text": "a"})), "content.actions[0].uri is required");
        refused(with(json!({"type": "link", "text": "a", "uri": "https://x.org", "default": "yes"})), "content.actions[0].default must be a boolean");
        refused(
            with(json!({"type": "link", "text": "a", "uri": "https://x.org", "extraChannelOptions": {"messenger": {"webview_share_button": "show"}}})),
            "content.actions[0].extraChannelOptions.messenger.webview_share_button must be one of hide",
        );
        refused(with(json!({"type": "webview", "text": "a", "uri": "https://x.org"})), "content.actions[0].fallback is required");
        refused(with(json!({"type": "webview", "text": "a", "uri": "https://x.org", "fallback": "https://x.org", "size": "big"})), "content.actions[0].size must be one of compact, tall, full");
        refused(with(json!({"type": "buy", "text": "a"})), "content.actions[0].amount is required");
        refused(with(json!({"type": "buy", "text": "a", "amount": 9.99})), "content.actions[0].amount must be an integer");
        refused(with(json!({"type": "buy", "text": "a", "amount": 0})), "content.actions[0].amount must be a positive amount");
        refused(with(json!({"type": "buy", "text": "a", "amount": 1, "currency": "dollars"})), "content.actions[0].currency");
        refused(with(json!({"type": "share", "text": "a"})), "content.actions[0].type must be one of buy, link, locationRequest, postback, reply, webview");
        refused(with(json!({"text": "a"})), "content.actions[0].type is required");
        refused(with(json!("postback")), "content.actions[0] must be an object");
        refused(with(json!({"type": "postback", "text": "a", "payload": "b", "metadata": {"nested": {"x": 1}}})), "content.actions[0].metadata.nested");
        let webview = json!({"type": "webview", "text": "a", "uri": "https://x.org", "fallback": "https://x.org", "openOnReceive": true});
        refused(json!({"type": "text", "text": "t", "actions": [webview.clone(), webview]}), "content may have at most one webview action with openOnReceive");
    }

    #[test]
    fn location_from_the_spec_example() {
        let c = ok(json!({"type": "location", "coordinates": {"lat": 45.5261583, "long": -73.595346},
                          "location": {"address": "5333 avenue Casgrain", "name": "Zendesk Montréal"}}));
        assert_eq!(c["text"], "Location shared:\nhttps://maps.google.com/maps?q=45.5261583,-73.595346");
        assert_eq!(c["location"]["name"], "Zendesk Montréal");
        assert_eq!(c["coordinates"]["long"], json!(-73.595346));
        refused(json!({"type": "location"}), "content.coordinates is required");
        refused(json!({"type": "location", "coordinates": {"lat": 1}}), "content.coordinates.long is required");
        refused(json!({"type": "location", "coordinates": {"lat": "45", "long": 1}}), "content.coordinates.lat must be a number");
        refused(json!({"type": "location", "coordinates": {"lat": 91, "long": 1}}), "content.coordinates.lat must be between -90 and 90");
        refused(json!({"type": "location", "coordinates": {"lat": 1, "long": -180.5}}), "content.coordinates.long must be between -180 and 180");
        refused(json!({"type": "location", "coordinates": {"lat": 1, "long": 1}, "location": {"name": 4}}), "content.location.name must be a string");
    }

    #[test]
    fn form_from_the_spec_example() {
        let c = ok(json!({"type": "form", "blockChatInput": true, "fields": [
            {"type": "text", "name": "full_name", "label": "Your name?", "placeholder": "Type your name...", "minSize": 1, "maxSize": 30},
            {"type": "email", "name": "email_address", "label": "Your email?", "placeholder": "email@example.com"},
            {"type": "select", "name": "meal", "label": "Meal?", "options": [{"label": "Tacos", "name": "tacos"}, {"label": "Ramen", "name": "ramen"}]}
        ]}));
        assert_eq!(c["submitted"], false);
        assert_eq!(c["blockChatInput"], true);
        assert_eq!(c["fields"][0], json!({"type": "text", "name": "full_name", "label": "Your name?", "placeholder": "Type your name...", "minSize": 1, "maxSize": 30}));
        assert_eq!(c["fields"][2]["options"][1]["name"], "ramen");
    }

    #[test]
    fn form_rules() {
        let field = json!({"type": "text", "name": "n", "label": "L"});
        refused(json!({"type": "form"}), "content.fields is required");
        refused(json!({"type": "form", "fields": []}), "content.fields must contain at least 1 item");
        refused(json!({"type": "form", "fields": vec![field.clone(); 21]}), "content.fields must contain at most 20 items");
        refused(json!({"type": "form", "fields": [field.clone(), field.clone()]}), "content.fields[1].name \"n\" is already used by content.fields[0]");
        refused(json!({"type": "form", "fields": [{"type": "date", "name": "n", "label": "L"}]}), "content.fields[0].type must be one of email, select, text");
        refused(json!({"type": "form", "fields": [{"type": "text", "name": "n"}]}), "content.fields[0].label is required");
        refused(json!({"type": "form", "fields": [{"type": "text", "name": "x".repeat(129), "label": "L"}]}), "content.fields[0].name must be at most 128");
        refused(json!({"type": "form", "fields": [{"type": "text", "name": "n", "label": "L", "maxSize": 300}]}), "content.fields[0].maxSize must be between 1 and 256");
        refused(json!({"type": "form", "fields": [{"type": "text", "name": "n", "label": "L", "minSize": 0}]}), "content.fields[0].minSize must be between 1 and 256");
        refused(json!({"type": "form", "fields": [{"type": "text", "name": "n", "label": "L", "minSize": 20, "maxSize": 10}]}), "content.fields[0].minSize must not be greater");
        refused(json!({"type": "form", "fields": [{"type": "text", "name": "n", "label": "L", "placeholder": ""}]}), "content.fields[0].placeholder");
        refused(json!({"type": "form", "fields": [{"type": "select", "name": "n", "label": "L"}]}), "content.fields[0].options must list at least one option");
        let too_many: Vec<Value> = (0..201).map(|i| json!({"label": "o", "name": format!("o{i}")})).collect();
        refused(json!({"type": "form", "fields": [{"type": "select", "name": "n", "label": "L", "options": too_many}]}), "content.fields[0].options must contain at most 200");
        refused(
            json!({"type": "form", "fields": [{"type": "select", "name": "n", "label": "L", "options": [{"label": "a", "name": "a"}, {"label": "b", "name": "a"}]}]}),
            "content.fields[0].options[1].name",
        );
    }

    #[test]
    fn form_response_is_refused_from_the_api_but_read_from_the_web_messenger() {
        let body = json!({"type": "formResponse", "fields": [
            {"type": "text", "name": "full_name", "label": "Your name?", "text": "Ada", "quotedMessageId": "5f748c1a2b5315fc007e7977"},
            {"type": "email", "name": "email_address", "label": "Your email?", "email": "ada@example.org"},
            {"type": "select", "name": "meal", "label": "Meal?", "select": [{"label": "Tacos", "name": "tacos"}]}
        ]});
        let v = problems(body.clone());
        assert_eq!(v.len(), 1);
        assert!(v[0].starts_with("content.type formResponse cannot be sent via the API"), "{v:?}");
        let c = parse_content(&body, ContentOrigin::WebMessenger, false).unwrap();
        assert_eq!(c["textFallback"], "Your name?: Ada\nYour email?: ada@example.org\nMeal?: Tacos");
        assert!(c["fields"][0].get("quotedMessageId").is_none());
        assert!(c.get("blockChatInput").is_none());
        let bad = json!({"type": "formResponse", "fields": [{"type": "email", "name": "e", "label": "E", "email": "nope"}]});
        match parse_content(&bad, ContentOrigin::WebMessenger, false) {
            Err(DomainError::Invalid(v)) => assert!(v[0].starts_with("content.fields[0].email"), "{v:?}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn template_keeps_the_template_object() {
        let template = json!({"namespace": "XXXXXXXX_XXXX_XXXX_XXXX_XXXXXXXXXXXX", "name": "hello_world",
                              "language": {"policy": "deterministic", "code": "en_US"}});
        let c = ok(json!({"type": "template", "template": template}));
        assert_eq!(c["template"], template);
        refused(json!({"type": "template"}), "content.template is required");
        refused(json!({"type": "template", "template": "hello_world"}), "content.template must be an object");
    }

    #[test]
    fn unknown_or_missing_types_are_named() {
        refused(json!({"type": "video"}), "content.type must be one of text, carousel, file, form, formResponse, image, list, location, template");
        refused(json!({"text": "hi"}), "content.type is required");
        refused(json!("hi"), "content must be an object");
    }

    #[test]
    fn masking_when_asked() {
        let c = parse_content(&json!({"type": "text", "text": "card 4242 4242 4242 4242"}), ContentOrigin::Api, true).unwrap();
        assert_eq!(c["text"], "card **** **** **** 4242");
        let c = parse_content(&json!({"type": "text", "text": "card 4242 4242 4242 4242"}), ContentOrigin::Api, false).unwrap();
        assert_eq!(c["text"], "card 4242 4242 4242 4242");
    }
}
