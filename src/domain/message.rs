//! Messages: the `messagePost` body, every content type and action type of the spec,
//! and the message document as stored and shown.
//!
//! The types and signatures below are the contract the store and http layers use. The
//! content types themselves live in `content`; `fields` reads JSON with paths,
//! `rich_text` converts markdown and HTML, `card_mask` hides card numbers.

pub mod content;

mod card_mask;
mod fields;
mod rich_text;

use serde_json::{Map, Value};

use self::card_mask::mask_in_content;
use self::content::ContentOrigin;
use self::fields::{put, Fields};
use super::app::AppSettings;
use super::error::{DomainError, DomainResult};
use super::time::format_ms;
use super::user::User;
use super::validate::Problems;

/// Who a message or activity claims to come from, as posted.
#[derive(Debug, Clone, PartialEq)]
pub enum AuthorInput {
    Business {
        display_name: Option<String>,
        avatar_url: Option<String>,
        subtypes: Vec<String>,
    },
    User {
        user_id: Option<String>,
        user_external_id: Option<String>,
        display_name: Option<String>,
        avatar_url: Option<String>,
        subtypes: Vec<String>,
    },
}

impl AuthorInput {
    pub fn is_user(&self) -> bool {
        matches!(self, AuthorInput::User { .. })
    }
}

/// A validated PostMessage body.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMessage {
    pub author: AuthorInput,
    /// The content as it will be stored: validated, write-only fields (markdownText)
    /// converted, server-generated fields (fallback `text` of carousel/list/location,
    /// `textFallback` of formResponse) filled in, credit card numbers masked when the app
    /// asks for it.
    pub content: Value,
    pub metadata: Option<Map<String, Value>>,
    pub destination: Option<Value>,
    pub override_: Option<Value>,
    pub quoted_message: Option<Value>,
    /// The id of an attachment uploaded `for=message` that this message's `mediaUrl`
    /// names: linked to the message when it is stored, and deleted with it.
    pub attachment: Option<String>,
}

/// Parses and validates a PostMessage body (`messagePost`). Every problem is named by
/// its field path, e.g. "content.items[0].actions[1].uri must be a valid URI".
pub fn parse_message_post(body: Value, settings: &AppSettings) -> DomainResult<NewMessage> {
    let Value::Object(map) = &body else { return Err(DomainError::invalid("The request body must be a JSON object")) };
    let f = Fields::new(map, "");
    let mut p = Problems::new();
    let author = if f.require("author", &mut p) { read_author(&f, "author", &mut p) } else { None };
    let content = match f.get("content") {
        Some(c) => content::read_content(c, "content", ContentOrigin::Api, &mut p),
        None => {
            p.push("content is required");
            None
        }
    };
    let content_type = content.as_ref().and_then(|c| c.get("type")).and_then(Value::as_str);
    // `schema: "whatsapp"` says the content is a native WhatsApp template; the two only
    // make sense together.
    match (f.string("schema", &mut p), content_type) {
        (Some(s), _) if s != WHATSAPP_SCHEMA => p.push(format!("schema must be \"{WHATSAPP_SCHEMA}\"")),
        (Some(_), Some(t)) if t != "template" => p.push(format!("schema \"{WHATSAPP_SCHEMA}\" is only supported with content.type template")),
        (None, Some("template")) => p.push(format!("schema must be \"{WHATSAPP_SCHEMA}\" when content.type is template")),
        _ => {}
    }
    let metadata = f.metadata("Message", &mut p);
    let destination = read_destination(&f, &mut p);
    if destination.is_some() && author.as_ref().is_some_and(AuthorInput::is_user) {
        // "Only applicable if the author role is `business`": a user message comes from
        // the user's own channel, so targeting one means nothing.
        p.push("destination is only supported when author.type is business");
    }
    let override_ = read_override(&f, &mut p);
    let quoted_message = read_quoted_message(&f, &mut p);
    p.finish()?;
    let (Some(author), Some(content)) = (author, content) else {
        // Unreachable: both record a problem whenever they return None.
        return Err(DomainError::invalid("author and content are required"));
    };
    let mut content = Value::Object(content);
    if settings.mask_credit_card_numbers {
        mask_in_content(&mut content);
    }
    Ok(NewMessage { author, content, metadata, destination, override_, quoted_message, attachment: None })
}

const WHATSAPP_SCHEMA: &str = "whatsapp";

/// The spec's author subtypes. `agent` and `bot` are described as "available in
/// responses only", but nothing says a request naming them is wrong, so they are kept.
const SUBTYPES: &[&str] = &["AI", "activity", "agent", "bot"];

/// Reads the `author` of a message or an activity.
fn read_author(parent: &Fields, key: &str, p: &mut Problems) -> Option<AuthorInput> {
    let f = parent.object(key, p)?;
    let kind = if f.require("type", p) { f.one_of("type", &["business", "user"], p) } else { None };
    let subtypes = read_subtypes(&f, p);
    // The author schema puts no length on displayName (unlike the shared `displayName`).
    let display_name = f.string("displayName", p).map(str::to_string);
    let avatar_url = f.uri("avatarUrl", 2048, false, p).map(str::to_string);
    let user_id = f.sized_string("userId", 1, 1024, false, p).map(str::to_string);
    let user_external_id = f.sized_string("userExternalId", 1, 1024, false, p).map(str::to_string);
    // brandId only disambiguates a brand-separated userExternalId; `AuthorInput` has no
    // place for it, so it is checked here and otherwise left to the caller.
    f.sized_string("brandId", 1, 24, false, p);
    match kind? {
        "business" => {
            for k in ["userId", "userExternalId"] {
                if f.has(k) {
                    p.push(format!("{} is only supported when {} is user", f.path(k), f.path("type")));
                }
            }
            Some(AuthorInput::Business { display_name, avatar_url, subtypes })
        }
        _ => {
            match (f.has("userId"), f.has("userExternalId")) {
                (true, true) => p.push(format!("{} cannot be given together with {}", f.path("userId"), f.path("userExternalId"))),
                (false, false) => p.push(format!("{} or {} is required when {} is user", f.path("userId"), f.path("userExternalId"), f.path("type"))),
                _ => {}
            }
            Some(AuthorInput::User { user_id, user_external_id, display_name, avatar_url, subtypes })
        }
    }
}

fn read_subtypes(f: &Fields, p: &mut Problems) -> Vec<String> {
    let Some(list) = f.array("subtypes", 0, usize::MAX, p) else { return Vec::new() };
    let path = f.path("subtypes");
    let mut out: Vec<String> = Vec::new();
    for (i, v) in list.iter().enumerate() {
        match v.as_str() {
            Some(s) if SUBTYPES.contains(&s) => {
                if out.iter().any(|o| o == s) {
                    p.push(format!("{path} must not contain {s} twice"));
                } else {
                    out.push(s.to_string());
                }
            }
            _ => p.push(format!("{path}[{i}] must be one of {}", SUBTYPES.join(", "))),
        }
    }
    out
}

/// `destination`: exactly one of `integrationId` and `integrationType` (the spec's
/// `oneOf`), kept as given; whether it exists is the caller's question.
fn read_destination(parent: &Fields, p: &mut Problems) -> Option<Value> {
    let f = parent.object("destination", p)?;
    let id = f.sized_string("integrationId", 1, 1024, false, p);
    let kind = f.sized_string("integrationType", 1, 1024, false, p);
    match (f.has("integrationId"), f.has("integrationType")) {
        (true, true) => {
            p.push("destination must have either integrationId or integrationType, not both");
            None
        }
        (false, false) => {
            p.push("destination must have an integrationId or an integrationType");
            None
        }
        _ => {
            let mut out = Map::new();
            put(&mut out, "integrationId", id);
            put(&mut out, "integrationType", kind);
            Some(Value::Object(out))
        }
    }
}

/// `override`: raw channel payloads, kept as given once their shape is right.
fn read_override(parent: &Fields, p: &mut Problems) -> Option<Value> {
    let f = parent.object("override", p)?;
    for channel in ["apple", "line", "messenger", "whatsapp"] {
        if let Some(c) = f.object(channel, p) {
            c.raw_object("payload", p);
            if channel == "apple" {
                for (i, v) in c.array("withCapabilities", 0, usize::MAX, p).unwrap_or_default().iter().enumerate() {
                    if !v.as_str().is_some_and(|s| APPLE_CAPABILITIES.contains(&s)) {
                        p.push(format!("{}[{i}] must be one of {}", c.path("withCapabilities"), APPLE_CAPABILITIES.join(", ")));
                    }
                }
            }
        }
    }
    parent.get("override").cloned()
}

const APPLE_CAPABILITIES: &[&str] = &["LIST", "TIME", "FORM", "QUICK", "AUTH2"];

/// `quotedMessage`: `{type: "message", message}` or `{type: "externalMessageId",
/// externalMessageId}`, kept as given. Not in the spec's `messagePost`, but part of the
/// `message` it stores; accepted so the caller can decide what quoting means.
fn read_quoted_message(parent: &Fields, p: &mut Problems) -> Option<Value> {
    let f = parent.object("quotedMessage", p)?;
    let kind = if f.require("type", p) { f.one_of("type", &["message", "externalMessageId"], p) } else { None };
    match kind? {
        "message" => {
            if f.require("message", p) {
                f.raw_object("message", p)?;
            }
        }
        _ => {
            f.required_string("externalMessageId", p)?;
        }
    }
    parent.get("quotedMessage").cloned()
}

/// The stored/shown `message` document: `{id, received, author, content, source,
/// metadata?, quotedMessage?}`. `author_user` is the resolved user for user authors
/// (its id goes in `author.userId`, its name in `author.displayName` when none was given).
/// `source` is `{"type": "api:conversations"}` for API posts.
pub fn build_message(id: &str, received_ms: i64, message: &NewMessage, author_user: Option<&User>, source: Value) -> Value {
    let mut author = Map::new();
    // Write-only fields (`userExternalId`, `brandId`) are never shown.
    let (kind, subtypes, display_name, avatar_url) = match &message.author {
        AuthorInput::Business { display_name, avatar_url, subtypes } => ("business", subtypes, display_name.clone(), avatar_url.clone()),
        AuthorInput::User { user_id, display_name, avatar_url, subtypes, .. } => {
            put(&mut author, "userId", author_user.map(|u| u.id.clone()).or_else(|| user_id.clone()));
            let name = display_name.clone().or_else(|| author_user.and_then(User::display_name));
            let avatar = avatar_url.clone().or_else(|| author_user.and_then(|u| u.profile.avatar_url.clone()));
            ("user", subtypes, name, avatar)
        }
    };
    author.insert("type".into(), kind.into());
    if !subtypes.is_empty() {
        author.insert("subtypes".into(), subtypes.clone().into());
    }
    put(&mut author, "displayName", display_name);
    put(&mut author, "avatarUrl", avatar_url);
    let mut doc = Map::new();
    doc.insert("id".into(), id.into());
    doc.insert("received".into(), format_ms(received_ms).into());
    doc.insert("author".into(), Value::Object(author));
    doc.insert("content".into(), message.content.clone());
    doc.insert("source".into(), source);
    put(&mut doc, "metadata", message.metadata.clone());
    put(&mut doc, "quotedMessage", message.quoted_message.clone());
    Value::Object(doc)
}

/// The kinds of PostActivity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActivityKind {
    Read,
    TypingStart,
    TypingStop,
}

impl ActivityKind {
    pub fn as_str(self) -> &'static str {
        match self {
            // PostActivity's own vocabulary; the spec spells the read receipt like the
            // trigger it fires (`domain::event` imports this module, not the reverse).
            ActivityKind::Read => "conversation:read",
            ActivityKind::TypingStart => "typing:start",
            ActivityKind::TypingStop => "typing:stop",
        }
    }

    pub const ALL: [ActivityKind; 3] = [ActivityKind::Read, ActivityKind::TypingStart, ActivityKind::TypingStop];

    pub fn parse(name: &str) -> Option<ActivityKind> {
        ActivityKind::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

impl serde::Serialize for ActivityKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for ActivityKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        ActivityKind::parse(&name).ok_or_else(|| serde::de::Error::custom(format!("unknown activity type {name}")))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewActivity {
    pub author: AuthorInput,
    pub kind: ActivityKind,
}

/// Parses a PostActivity body (`activityPost`).
pub fn parse_activity_post(body: Value) -> DomainResult<NewActivity> {
    let Value::Object(map) = &body else { return Err(DomainError::invalid("The request body must be a JSON object")) };
    let f = Fields::new(map, "");
    let mut p = Problems::new();
    let author = if f.require("author", &mut p) { read_author(&f, "author", &mut p) } else { None };
    let names: Vec<&str> = ActivityKind::ALL.iter().map(|k| k.as_str()).collect();
    let kind = if f.require("type", &mut p) { f.one_of("type", &names, &mut p) } else { None };
    let kind = kind.and_then(ActivityKind::parse);
    if kind.is_some_and(|k| k != ActivityKind::Read) && author.as_ref().is_some_and(AuthorInput::is_user) {
        // "If the author type is `user`, only `conversation:read` is supported": a user's
        // typing comes from their channel, not from the API.
        p.push("type must be conversation:read when author.type is user: typing activities are only supported for business authors");
    }
    p.finish()?;
    match (author, kind) {
        (Some(author), Some(kind)) => Ok(NewActivity { author, kind }),
        // Unreachable: both record a problem whenever they return None.
        _ => Err(DomainError::invalid("author and type are required")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::user::Profile;
    use serde_json::json;

    fn settings(mask: bool) -> AppSettings {
        AppSettings { mask_credit_card_numbers: mask, ..AppSettings::default() }
    }

    fn post(body: Value) -> NewMessage {
        parse_message_post(body.clone(), &settings(true)).unwrap_or_else(|e| panic!("{body} refused: {e:?}"))
    }

    fn problems(body: Value) -> Vec<String> {
        match parse_message_post(body.clone(), &settings(true)) {
            Err(DomainError::Invalid(v)) => v,
            other => panic!("{body} was not refused: {other:?}"),
        }
    }

    fn refused(body: Value, field: &str) {
        let v = problems(body.clone());
        assert!(v.iter().any(|m| m.starts_with(field)), "{body}: expected a problem naming {field}, got {v:?}");
    }

    fn business_text() -> Value {
        json!({"author": {"type": "business"}, "content": {"type": "text", "text": "Hello!"}})
    }

    #[test]
    fn every_spec_example_body_is_accepted() {
        let items = json!([{"title": "Tacos", "description": "Get your tacos today!", "mediaUrl": "https://example.org/image.jpg", "size": "compact",
                            "actions": [{"text": "Select", "type": "postback", "payload": "TACOS"}, {"text": "More info", "type": "link", "uri": "https://example.org"}]}]);
        let contents = [
            json!({"type": "text", "text": "Hello!"}),
            json!({"type": "carousel", "items": items}),
            json!({"type": "file", "text": "Here's our FAQ!", "mediaUrl": "https://example.org/FAQ.pdf", "altText": "FAQ.pdf"}),
            json!({"type": "form", "blockChatInput": true, "fields": [
                {"type": "text", "name": "full_name", "label": "Your name?", "placeholder": "Type your name...", "minSize": 1, "maxSize": 30},
                {"type": "email", "name": "email_address", "label": "Your email?", "placeholder": "email@example.com"}]}),
            json!({"type": "image", "text": "Hello!", "mediaUrl": "https://example.org/image.jpg", "altText": "A wonderful image"}),
            json!({"type": "list", "items": items}),
            json!({"type": "location", "coordinates": {"lat": 45.5261583, "long": -73.595346},
                   "location": {"address": "5333 avenue Casgrain", "name": "Zendesk Montréal"}}),
        ];
        for content in contents {
            let m = post(json!({"author": {"type": "business"}, "content": content.clone()}));
            assert_eq!(m.content["type"], content["type"]);
            assert_eq!(m.author, AuthorInput::Business { display_name: None, avatar_url: None, subtypes: vec![] });
        }
        let template = post(json!({"author": {"type": "business"}, "schema": "whatsapp", "content": {"type": "template", "template": {
            "namespace": "XXXXXXXX_XXXX_XXXX_XXXX_XXXXXXXXXXXX", "name": "hello_world", "language": {"policy": "deterministic", "code": "en_US"},
            "component": [{"type": "body", "parameters": [{"type": "text", "text": "My User Name"}]}]}}}));
        assert_eq!(template.content["template"]["name"], "hello_world");
    }

    #[test]
    fn optional_top_level_fields_are_kept() {
        let m = post(json!({
            "author": {"type": "business", "displayName": "Steve", "avatarUrl": "https://www.gravatar.com/image.jpg", "subtypes": ["AI"]},
            "content": {"type": "text", "text": "Hi"},
            "metadata": {"lang": "en-ca", "n": 1},
            "destination": {"integrationType": "none"},
            "override": {"whatsapp": {"payload": {"type": "text"}}, "apple": {"payload": {}, "withCapabilities": ["LIST"]}},
            "quotedMessage": {"type": "externalMessageId", "externalMessageId": "wamid.1"},
            "unknownField": true
        }));
        assert_eq!(
            m.author,
            AuthorInput::Business { display_name: Some("Steve".into()), avatar_url: Some("https://www.gravatar.com/image.jpg".into()), subtypes: vec!["AI".into()] }
        );
        assert_eq!(m.metadata.unwrap()["lang"], "en-ca");
        assert_eq!(m.destination, Some(json!({"integrationType": "none"})));
        assert_eq!(m.override_.unwrap()["whatsapp"]["payload"]["type"], "text");
        assert_eq!(m.quoted_message.unwrap()["externalMessageId"], "wamid.1");
        let m = post(json!({"author": {"type": "business"}, "content": {"type": "text", "text": "Hi"}, "destination": {"integrationId": "582dedf230e788746891281a"},
                            "quotedMessage": {"type": "message", "message": {"id": "5e552ef595e5206375bb835d"}}}));
        assert_eq!(m.destination, Some(json!({"integrationId": "582dedf230e788746891281a"})));
        assert!(m.quoted_message.is_some());
    }

    #[test]
    fn top_level_rules() {
        refused(json!({"content": {"type": "text", "text": "x"}}), "author is required");
        refused(json!({"author": {"type": "business"}}), "content is required");
        refused(json!({"author": "business", "content": {"type": "text", "text": "x"}}), "author must be an object");
        let mut b = business_text();
        b["metadata"] = json!({"a": {"b": 1}});
        refused(b.clone(), "metadata.a must be a string, number or boolean");
        b["metadata"] = json!({"a": "x".repeat(5000)});
        refused(b.clone(), "Message metadata is limited to 4096 bytes in size.");
        b["metadata"] = json!([1]);
        refused(b, "metadata must be an object");
        let mut b = business_text();
        b["destination"] = json!({"integrationId": "a", "integrationType": "whatsapp"});
        refused(b.clone(), "destination must have either");
        b["destination"] = json!({});
        refused(b.clone(), "destination must have an integrationId");
        b["destination"] = json!({"integrationType": 4});
        refused(b, "destination.integrationType must be a string");
        let mut b = business_text();
        b["override"] = json!({"messenger": {"payload": "x"}, "apple": {"withCapabilities": ["MAP"]}});
        let v = problems(b);
        assert!(v.iter().any(|m| m.starts_with("override.messenger.payload must be an object")), "{v:?}");
        assert!(v.iter().any(|m| m.starts_with("override.apple.withCapabilities[0] must be one of")), "{v:?}");
        let mut b = business_text();
        b["quotedMessage"] = json!({"type": "externalMessageId"});
        refused(b.clone(), "quotedMessage.externalMessageId is required");
        b["quotedMessage"] = json!({"type": "reply"});
        refused(b, "quotedMessage.type must be one of message, externalMessageId");
        assert!(matches!(parse_message_post(json!([1]), &settings(false)), Err(DomainError::Invalid(_))));
    }

    #[test]
    fn schema_and_template_go_together() {
        refused(json!({"author": {"type": "business"}, "content": {"type": "template", "template": {}}}), "schema must be \"whatsapp\" when content.type is template");
        refused(json!({"author": {"type": "business"}, "schema": "whatsapp", "content": {"type": "text", "text": "x"}}), "schema \"whatsapp\" is only supported");
        refused(json!({"author": {"type": "business"}, "schema": "line", "content": {"type": "template", "template": {}}}), "schema must be \"whatsapp\"");
    }

    #[test]
    fn author_rules() {
        let with = |author: Value| json!({"author": author, "content": {"type": "text", "text": "x"}});
        let m = post(with(json!({"type": "user", "userId": "5963c0d619a30a2e00de36b8", "displayName": "Ada"})));
        assert_eq!(
            m.author,
            AuthorInput::User { user_id: Some("5963c0d619a30a2e00de36b8".into()), user_external_id: None, display_name: Some("Ada".into()), avatar_url: None, subtypes: vec![] }
        );
        let m = post(with(json!({"type": "user", "userExternalId": "your-own-id", "brandId": "9477922990333"})));
        assert!(matches!(m.author, AuthorInput::User { user_external_id: Some(ref e), .. } if e == "your-own-id"));
        refused(with(json!({"type": "user"})), "author.userId or author.userExternalId is required");
        refused(with(json!({"type": "user", "userId": "a", "userExternalId": "b"})), "author.userId cannot be given together with author.userExternalId");
        refused(with(json!({"type": "business", "userId": "a"})), "author.userId is only supported when author.type is user");
        refused(with(json!({"type": "business", "userExternalId": "a"})), "author.userExternalId is only supported");
        refused(with(json!({"type": "bot"})), "author.type must be one of business, user");
        refused(with(json!({})), "author.type is required");
        refused(with(json!({"type": "business", "subtypes": ["robot"]})), "author.subtypes[0] must be one of AI, activity, agent, bot");
        refused(with(json!({"type": "business", "subtypes": ["AI", "AI"]})), "author.subtypes must not contain AI twice");
        refused(with(json!({"type": "business", "subtypes": "AI"})), "author.subtypes must be an array");
        refused(with(json!({"type": "business", "avatarUrl": "not a url"})), "author.avatarUrl must be a valid URI");
        refused(with(json!({"type": "business", "displayName": 3})), "author.displayName must be a string");
        refused(with(json!({"type": "user", "userExternalId": "e", "brandId": "x".repeat(25)})), "author.brandId must be at most 24");
        refused(with(json!({"type": "user", "userId": ""})), "author.userId must be at least 1");
        let mut b = with(json!({"type": "user", "userId": "u"}));
        b["destination"] = json!({"integrationType": "none"});
        refused(b, "destination is only supported when author.type is business");
    }

    #[test]
    fn every_problem_of_a_body_is_reported_together() {
        let v = problems(json!({
            "author": {"type": "user"},
            "content": {"type": "carousel", "items": [{"title": "", "actions": [{"type": "link", "text": "a", "uri": "nope"}]}]},
            "metadata": {"a": {}}
        }));
        assert_eq!(v.len(), 4, "{v:?}");
        assert!(v.contains(&"content.items[0].actions[0].uri must be a valid URI".to_string()));
    }

    #[test]
    fn formresponse_is_refused_with_a_title_saying_why() {
        let v = problems(json!({"author": {"type": "user", "userId": "u"},
                                "content": {"type": "formResponse", "fields": [{"type": "text", "name": "n", "label": "L", "text": "t"}]}}));
        assert_eq!(v.len(), 1);
        assert!(v[0].contains("cannot be sent via the API"), "{v:?}");
    }

    #[test]
    fn card_numbers_are_masked_when_the_app_asks() {
        let body = json!({"author": {"type": "user", "userId": "u"},
                          "content": {"type": "image", "mediaUrl": "https://example.org/a.png", "text": "my card: 4242 4242 4242 4242", "altText": "4242-4242-4242-4242"}});
        let m = parse_message_post(body.clone(), &settings(true)).unwrap();
        assert_eq!(m.content["text"], "my card: **** **** **** 4242");
        assert_eq!(m.content["altText"], "****-****-****-4242");
        let m = parse_message_post(body, &settings(false)).unwrap();
        assert_eq!(m.content["text"], "my card: 4242 4242 4242 4242");
        let m = post(json!({"author": {"type": "business"}, "content": {"type": "text", "text": "order 4242 4242 4242 4241"}}));
        assert_eq!(m.content["text"], "order 4242 4242 4242 4241");
    }

    fn ada() -> User {
        User {
            id: "5963c0d619a30a2e00de36b8".into(),
            external_id: Some("ada".into()),
            zendesk_id: None,
            brand_id: None,
            signed_up_at: format_ms(0),
            to_be_retained: false,
            profile: Profile { given_name: Some("Ada".into()), surname: Some("Lovelace".into()), avatar_url: Some("https://example.org/ada.png".into()), ..Profile::default() },
            metadata: Map::new(),
            identities: vec![],
            authenticated: false,
        }
    }

    #[test]
    fn built_business_message_matches_the_spec_example() {
        let m = post(json!({"author": {"type": "business", "avatarUrl": "https://www.gravatar.com/image.jpg"}, "content": {"type": "text", "text": "Hello!"}}));
        let doc = build_message("5f748c1a2b5315fc007e7977", 1_601_473_562_733, &m, None, json!({"type": "api:conversations"}));
        assert_eq!(
            doc,
            json!({"id": "5f748c1a2b5315fc007e7977", "received": "2020-09-30T13:46:02.733Z",
                   "author": {"type": "business", "avatarUrl": "https://www.gravatar.com/image.jpg"},
                   "content": {"type": "text", "text": "Hello!"}, "source": {"type": "api:conversations"}})
        );
    }

    #[test]
    fn built_user_message_names_the_user_and_hides_write_only_fields() {
        let m = post(json!({"author": {"type": "user", "userExternalId": "ada", "brandId": "1", "subtypes": ["AI"]},
                            "content": {"type": "text", "markdownText": "**hi**"}, "metadata": {"k": 1},
                            "quotedMessage": {"type": "externalMessageId", "externalMessageId": "x"}}));
        let doc = build_message("m1", 0, &m, Some(&ada()), json!({"type": "api:conversations"}));
        assert_eq!(
            doc["author"],
            json!({"type": "user", "userId": "5963c0d619a30a2e00de36b8", "subtypes": ["AI"], "displayName": "Ada Lovelace", "avatarUrl": "https://example.org/ada.png"})
        );
        assert_eq!(doc["content"], json!({"type": "text", "htmlText": "<strong>hi</strong>", "text": "hi"}));
        assert_eq!(doc["metadata"], json!({"k": 1}));
        assert_eq!(doc["quotedMessage"]["type"], "externalMessageId");
        // A given name and avatar win over the profile's; no metadata means no key.
        let m = post(json!({"author": {"type": "user", "userId": "u", "displayName": "A.", "avatarUrl": "https://example.org/a.png"},
                            "content": {"type": "text", "text": "x"}}));
        let doc = build_message("m2", 0, &m, Some(&ada()), json!({"type": "api:conversations"}));
        assert_eq!(doc["author"]["displayName"], "A.");
        assert_eq!(doc["author"]["avatarUrl"], "https://example.org/a.png");
        assert!(doc.get("metadata").is_none() && doc.get("quotedMessage").is_none());
        // A user without names shows none.
        let nameless = User { profile: Profile::default(), ..ada() };
        let doc = build_message("m3", 0, &m, Some(&nameless), json!({"type": "api:conversations"}));
        assert_eq!(doc["author"]["displayName"], "A.");
        let m = post(json!({"author": {"type": "user", "userId": "u"}, "content": {"type": "text", "text": "x"}}));
        let doc = build_message("m4", 0, &m, Some(&nameless), json!({"type": "api:conversations"}));
        assert_eq!(doc["author"], json!({"type": "user", "userId": "5963c0d619a30a2e00de36b8"}));
    }

    fn activity(body: Value) -> DomainResult<NewActivity> {
        parse_activity_post(body)
    }

    fn activity_problems(body: Value) -> Vec<String> {
        match activity(body.clone()) {
            Err(DomainError::Invalid(v)) => v,
            other => panic!("{body} was not refused: {other:?}"),
        }
    }

    #[test]
    fn activities_follow_the_author_rules() {
        for kind in [ActivityKind::Read, ActivityKind::TypingStart, ActivityKind::TypingStop] {
            let a = activity(json!({"author": {"type": "business", "displayName": "Steve"}, "type": kind.as_str()})).unwrap();
            assert_eq!(a.kind, kind);
        }
        let a = activity(json!({"author": {"type": "user", "userId": "u"}, "type": "conversation:read"})).unwrap();
        assert!(a.author.is_user());
        let v = activity_problems(json!({"author": {"type": "user", "userExternalId": "e"}, "type": "typing:start"}));
        assert!(v[0].starts_with("type must be conversation:read when author.type is user"), "{v:?}");
        let v = activity_problems(json!({"author": {"type": "business"}}));
        assert_eq!(v, vec!["type is required".to_string()]);
        let v = activity_problems(json!({"author": {"type": "business"}, "type": "typing"}));
        assert_eq!(v, vec!["type must be one of conversation:read, typing:start, typing:stop".to_string()]);
        let v = activity_problems(json!({"type": "typing:start"}));
        assert_eq!(v, vec!["author is required".to_string()]);
        let v = activity_problems(json!({"author": {"type": "user"}, "type": "conversation:read"}));
        assert!(v[0].starts_with("author.userId or author.userExternalId is required"), "{v:?}");
        assert!(activity(json!("typing:start")).is_err());
    }
}
