//! Integrations: the `custom` type (webhooks and API keys), the SDK types (`web`, `ios`,
//! `android`, `unity`) and the third-party channel types.
//!
//! Each type is a table of fields (below), so parsing, defaults, which fields an update
//! may touch and which are never shown again are all read from one place. Sunbeam holds no
//! live channel connection, so channel integrations are stored and validated but report
//! `status: "inactive"`; `custom` and SDK integrations are `active`.
//!
//! Unknown and read-only fields in a body are ignored (the spec's schemas allow additional
//! properties); a field the type's `*Update` schema lacks is refused on PATCH, since the
//! spec says such a change needs the integration deleted and re-created.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::error::{DomainError, DomainResult};
use super::ids::is_id;
use super::validate::{is_uri, Problems};
use super::webhook::{new_webhook, Webhook};

/// The types of the spec's `integration` discriminator.
pub const TYPES: &[&str] = &[
    "android",
    "apple",
    "custom",
    "instagram",
    "ios",
    "line",
    "mailgun",
    "messagebird",
    "messenger",
    "telegram",
    "twilio",
    "twitter",
    "unity",
    "viber",
    "web",
    "whatsapp",
];

const SDK_TYPES: &[&str] = &["web", "ios", "android", "unity"];

/// An integration holds at most this many API keys (CustomIntegrationApiKeys tag).
pub const MAX_INTEGRATION_KEYS: i64 = 10;

pub fn is_sdk(kind: &str) -> bool {
    SDK_TYPES.contains(&kind)
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Str,
    Bool,
    Number,
    StrArray,
    Object,
}

/// Whether a field is shown again once written.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Vis {
    Shown,
    /// Write-only but not a secret (`defaultResponderId`, Android's `projectId`…).
    WriteOnly,
    /// Write-only and secret: encrypted at rest, never shown.
    Secret,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Check {
    None,
    MinLen(usize),
    Hex,
    DisplayStyle,
    Pixels,
    Uri,
    Origins,
    Ids,
    Tier,
    Prechat,
}

#[derive(Debug, Clone, Copy)]
struct Field {
    name: &'static str,
    kind: Kind,
    vis: Vis,
    required: bool,
    nullable: bool,
    updatable: bool,
    check: Check,
}

const fn f(name: &'static str, kind: Kind, vis: Vis) -> Field {
    Field { name, kind, vis, required: false, nullable: false, updatable: false, check: Check::None }
}

impl Field {
    const fn req(mut self) -> Self {
        self.required = true;
        self
    }
    const fn null(mut self) -> Self {
        self.nullable = true;
        self
    }
    const fn upd(mut self) -> Self {
        self.updatable = true;
        self
    }
    const fn check(mut self, c: Check) -> Self {
        self.check = c;
        self
    }
}

use Kind::{Bool, Number, Object, Str, StrArray};
use Vis::{Secret, Shown, WriteOnly};

/// Fields every type but `custom` has (`defaultResponderId`, `showAIDisclaimer`).
const BASE: &[Field] = &[f("defaultResponderId", Str, WriteOnly).null().upd(), f("showAIDisclaimer", Bool, Shown).upd()];

const CAN_USER: &[Field] = &[f("canUserSeeConversationList", Bool, Shown).upd(), f("canUserCreateMoreConversations", Bool, Shown).upd()];

const WEB: &[Field] = &[
    f("brandColor", Str, Shown).upd().check(Check::Hex),
    f("fixedIntroPane", Bool, Shown).upd(),
    f("conversationColor", Str, Shown).upd().check(Check::Hex),
    f("actionColor", Str, Shown).upd().check(Check::Hex),
    f("displayStyle", Str, Shown).upd().check(Check::DisplayStyle),
    f("buttonIconUrl", Str, Shown).null().upd().check(Check::Uri),
    f("buttonWidth", Str, Shown).upd().check(Check::Pixels),
    f("buttonHeight", Str, Shown).upd().check(Check::Pixels),
    f("integrationOrder", StrArray, Shown).null().upd().check(Check::Ids),
    f("businessName", Str, Shown).upd(),
    f("businessIconUrl", Str, Shown).upd().check(Check::Uri),
    f("backgroundImageUrl", Str, Shown).upd().check(Check::Uri),
    f("originWhitelist", StrArray, Shown).null().upd().check(Check::Origins),
    f("prechatCapture", Object, Shown).upd().check(Check::Prechat),
];

const IOS: &[Field] = &[
    f("certificate", Str, Secret).null().upd().check(Check::MinLen(1)),
    f("password", Str, Secret).upd(),
    f("production", Bool, Shown).upd(),
    f("autoUpdateBadge", Bool, Shown).upd(),
];

const ANDROID: &[Field] = &[
    f("projectId", Str, WriteOnly).null().upd().check(Check::MinLen(1)),
    f("clientEmail", Str, WriteOnly).null().upd().check(Check::MinLen(1)),
    f("privateKey", Str, Secret).null().upd().check(Check::MinLen(1)),
    f("serverKey", Str, Secret).null().upd().check(Check::MinLen(1)),
    f("senderId", Str, Shown).null().upd().check(Check::MinLen(1)),
];

// Channel types. Besides the spec's `writeOnly` fields, Sunbeam also never shows fields
// that are credentials by nature although the spec leaves them readable (LINE's channel
// secret and token, Messenger's page token, Mailgun's signing key, WhatsApp's access
// token, Apple's authentication secret).
const APPLE: &[Field] = &[
    f("businessId", Str, Shown).req().check(Check::MinLen(1)),
    f("apiSecret", Str, Secret).req().check(Check::MinLen(1)),
    f("mspId", Str, Shown).req().check(Check::MinLen(1)),
    f("authenticationMessageSecret", Str, Secret).upd().check(Check::MinLen(88)),
];

const INSTAGRAM: &[Field] = &[
    f("pageAccessToken", Str, Secret).req().null().upd().check(Check::MinLen(1)),
    f("appId", Str, Shown).req().check(Check::MinLen(1)),
    f("appSecret", Str, Secret).req().null().check(Check::MinLen(1)),
    f("storyRepliesEnabled", Bool, Shown).upd(),
    f("storyMentionsEnabled", Bool, Shown).upd(),
];

const LINE: &[Field] = &[
    f("channelId", Str, Shown),
    f("channelSecret", Str, Secret),
    f("channelAccessToken", Str, Secret),
    f("serviceCode", Str, Shown),
    f("switcherSecret", Str, Secret).check(Check::MinLen(1)),
    f("qrCodeUrl", Str, Shown),
];

const MAILGUN: &[Field] = &[
    f("apiKey", Str, Secret).req().null().check(Check::MinLen(1)),
    f("signingKey", Str, Secret).check(Check::MinLen(1)),
    f("domain", Str, Shown).req().check(Check::MinLen(1)),
    f("incomingAddress", Str, Shown).req().check(Check::MinLen(1)),
    f("hideUnsubscribeLink", Bool, Shown).upd(),
    f("fromAddress", Str, Shown).null().upd().check(Check::MinLen(1)),
];

const MESSAGEBIRD: &[Field] = &[
    f("accessKey", Str, Secret).req().null().check(Check::MinLen(1)),
    f("signingKey", Str, Secret).req().null().check(Check::MinLen(1)),
    f("originator", Str, Shown).req().check(Check::MinLen(1)),
];

const MESSENGER: &[Field] = &[
    f("pageAccessToken", Str, Secret).req().null().upd().check(Check::MinLen(1)),
    f("appId", Str, Shown).req().check(Check::MinLen(1)),
    f("appSecret", Str, Secret).req().null().check(Check::MinLen(1)),
    f("pageId", Number, Shown),
    f("pageName", Str, Shown),
];

const TELEGRAM: &[Field] = &[f("token", Str, Secret).req().null().check(Check::MinLen(1))];

const TWILIO: &[Field] = &[
    f("accountSid", Str, Shown).req().check(Check::MinLen(1)),
    f("authToken", Str, Secret).req().null().check(Check::MinLen(1)),
    f("phoneNumberSid", Str, Shown).check(Check::MinLen(1)),
    f("messagingServiceSid", Str, Shown).check(Check::MinLen(1)),
];

const TWITTER: &[Field] = &[
    f("tier", Str, Shown).req().check(Check::Tier),
    f("consumerKey", Str, Secret).req().check(Check::MinLen(1)),
    f("consumerSecret", Str, Secret).req().null().check(Check::MinLen(1)),
    f("accessTokenKey", Str, Secret).req().check(Check::MinLen(1)),
    f("accessTokenSecret", Str, Secret).req().null().check(Check::MinLen(1)),
];

const VIBER: &[Field] = &[f("token", Str, Secret).req().null().check(Check::MinLen(1))];

const WHATSAPP: &[Field] = &[
    f("hsmFallbackLanguage", Str, Shown).null().upd(),
    f("accountId", Str, Shown).null().upd(),
    f("accountManagementAccessToken", Str, Secret).null().upd(),
];

/// The fields of a type, base fields included (none for `custom`).
fn fields(kind: &str) -> Vec<Field> {
    let own: &[&[Field]] = match kind {
        "custom" => return Vec::new(),
        "web" => &[WEB, CAN_USER],
        "ios" => &[IOS, CAN_USER],
        "android" => &[ANDROID, CAN_USER],
        "unity" => &[CAN_USER],
        "apple" => &[APPLE],
        "instagram" => &[INSTAGRAM],
        "line" => &[LINE],
        "mailgun" => &[MAILGUN],
        "messagebird" => &[MESSAGEBIRD],
        "messenger" => &[MESSENGER],
        "telegram" => &[TELEGRAM],
        "twilio" => &[TWILIO],
        "twitter" => &[TWITTER],
        "viber" => &[VIBER],
        "whatsapp" => &[WHATSAPP],
        _ => return Vec::new(),
    };
    own.iter().flat_map(|s| s.iter().copied()).chain(BASE.iter().copied()).collect()
}

/// The documented defaults, filled in at creation.
fn defaults(kind: &str) -> Vec<(&'static str, Value)> {
    let mut d = vec![("showAIDisclaimer", json!(true))];
    match kind {
        "custom" => return Vec::new(),
        "web" => d.extend([
            ("brandColor", json!("65758e")),
            ("fixedIntroPane", json!(false)),
            ("conversationColor", json!("0099ff")),
            ("actionColor", json!("0099ff")),
            ("displayStyle", json!("button")),
            ("buttonWidth", json!("58")),
            ("buttonHeight", json!("58")),
            ("prechatCapture", json!({"enabled": false, "enableEmailLinking": false})),
        ]),
        "instagram" => d.extend([("storyRepliesEnabled", json!(true)), ("storyMentionsEnabled", json!(true))]),
        "whatsapp" => d.push(("hsmFallbackLanguage", json!("en_US"))),
        _ => {}
    }
    if is_sdk(kind) {
        // Unspecified by the spec; the Web Messenger's documented behaviour is to allow both.
        d.extend([("canUserSeeConversationList", json!(true)), ("canUserCreateMoreConversations", json!(true))]);
    }
    d
}

/// An integration as stored. `secrets` holds the write-only credentials in the clear;
/// the store encrypts them at rest and they are never shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Integration {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub status: String,
    #[serde(default)]
    pub display_name: Option<String>,
    /// Fields shown on read, by their wire names.
    #[serde(default)]
    pub config: Map<String, Value>,
    /// Write-only fields that are not secrets.
    #[serde(default)]
    pub hidden: Map<String, Value>,
    #[serde(skip)]
    pub secrets: Map<String, Value>,
}

impl Integration {
    /// The spec's `integration` as shown; `webhooks` is added for `custom` ones.
    pub fn to_wire(&self, webhooks: Option<&[Webhook]>) -> Value {
        let mut v = Map::new();
        v.insert("id".into(), json!(self.id));
        v.insert("type".into(), json!(self.kind));
        v.insert("status".into(), json!(self.status));
        if let Some(d) = &self.display_name {
            v.insert("displayName".into(), json!(d));
        }
        for (k, val) in &self.config {
            v.insert(k.clone(), val.clone());
        }
        if is_sdk(&self.kind) {
            v.insert("attachmentsEnabled".into(), json!(true));
        }
        if let Some(w) = webhooks {
            v.insert("webhooks".into(), json!(w));
        }
        Value::Object(v)
    }

    pub fn is_custom(&self) -> bool {
        self.kind == "custom"
    }

    /// A write-only, non-secret field (e.g. `defaultResponderId`) for internal use.
    pub fn hidden_field(&self, name: &str) -> Option<&Value> {
        self.hidden.get(name)
    }
}

fn status_for(kind: &str) -> &'static str {
    if kind == "custom" || is_sdk(kind) {
        "active"
    } else {
        // No live connection to the channel exists in Sunbeam.
        "inactive"
    }
}

fn check_display_name(p: &mut Problems, v: &Value) -> Option<Option<String>> {
    match v {
        Value::Null => Some(None),
        Value::String(s) => {
            p.length("displayName", s, 1, 100);
            Some(Some(s.clone()))
        }
        _ => {
            p.push("displayName must be a string");
            None
        }
    }
}

fn is_hex_color(s: &str) -> bool {
    (s.len() == 6 || s.len() == 3) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn is_origin(s: &str) -> bool {
    match url::Url::parse(s) {
        Ok(u) => (u.scheme() == "http" || u.scheme() == "https") && u.host_str().is_some() && matches!(u.path(), "" | "/") && u.query().is_none(),
        Err(_) => false,
    }
}

fn check_prechat(p: &mut Problems, v: &Value) {
    let Some(o) = v.as_object() else {
        p.push("prechatCapture must be an object");
        return;
    };
    for flag in ["enabled", "enableEmailLinking"] {
        if o.get(flag).is_some_and(|x| !x.is_boolean()) {
            p.push(format!("prechatCapture.{flag} must be a boolean"));
        }
    }
    if o.get("avatarUrl").is_some_and(|x| !x.is_string()) {
        p.push("prechatCapture.avatarUrl must be a string");
    }
    match o.get("fields") {
        None => {}
        Some(Value::Array(fields)) => {
            let mut names: Vec<&str> = Vec::new();
            for (i, field) in fields.iter().enumerate() {
                let at = format!("prechatCapture.fields[{i}]");
                let Some(fo) = field.as_object() else {
                    p.push(format!("{at} must be an object"));
                    continue;
                };
                match fo.get("type").and_then(Value::as_str) {
                    Some("email" | "select" | "text") => {}
                    Some(_) => p.push(format!("{at}.type must be one of email, select, text")),
                    None => p.push(format!("{at} should have required property 'type'")),
                }
                for key in ["name", "label"] {
                    match fo.get(key).and_then(Value::as_str) {
                        Some(s) => p.length(&format!("{at}.{key}"), s, 1, 128),
                        None => p.push(format!("{at} should have required property '{key}'")),
                    }
                }
                if let Some(name) = fo.get("name").and_then(Value::as_str) {
                    if names.contains(&name) {
                        p.push(format!("{at}.name must be unique"));
                    }
                    names.push(name);
                }
            }
        }
        Some(_) => p.push("prechatCapture.fields must be an array"),
    }
}

/// Checks one field's value; returns it when acceptable.
fn check_field(p: &mut Problems, field: &Field, v: &Value) -> Option<Value> {
    let mut own = Problems::new();
    check_value(&mut own, field, v);
    match own.finish() {
        Ok(()) => Some(v.clone()),
        Err(DomainError::Invalid(found)) => {
            found.into_iter().for_each(|m| p.push(m));
            None
        }
        Err(other) => {
            p.push(other.to_string());
            None
        }
    }
}

fn check_value(p: &mut Problems, field: &Field, v: &Value) {
    let name = field.name;
    if v.is_null() {
        if !field.nullable {
            p.push(format!("{name} must not be null"));
        }
        return;
    }
    let type_ok = match field.kind {
        Str => v.is_string(),
        Bool => v.is_boolean(),
        Number => v.is_number(),
        StrArray => v.as_array().is_some_and(|a| a.iter().all(Value::is_string)),
        Object => v.is_object(),
    };
    if !type_ok {
        let want = match field.kind {
            Str => "a string",
            Bool => "a boolean",
            Number => "a number",
            StrArray => "an array of strings",
            Object => "an object",
        };
        p.push(format!("{name} must be {want}"));
        return;
    }
    let s = v.as_str().unwrap_or("");
    match field.check {
        Check::None => {}
        Check::MinLen(n) => {
            if s.chars().count() < n {
                p.push(format!("{name} must be at least {n} characters long"));
            }
        }
        Check::Hex => {
            if !is_hex_color(s) {
                p.push(format!("{name} must be a hex color such as 65758e"));
            }
        }
        Check::DisplayStyle => {
            if s != "button" && s != "tab" {
                p.push(format!("{name} must be one of button, tab"));
            }
        }
        Check::Pixels => {
            let digits = s.strip_suffix("px").unwrap_or(s);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                p.push(format!("{name} must be a size in pixels such as \"58\""));
            }
        }
        Check::Uri => {
            if !is_uri(s) {
                p.push(format!("{name} must be a valid URI"));
            }
        }
        Check::Origins => {
            for o in v.as_array().into_iter().flatten().filter_map(Value::as_str) {
                if !is_origin(o) {
                    p.push(format!("{name}: '{o}' is not an origin such as https://example.com"));
                }
            }
        }
        Check::Ids => {
            for o in v.as_array().into_iter().flatten().filter_map(Value::as_str) {
                if !is_id(o) {
                    p.push(format!("{name}: '{o}' is not an integration id"));
                }
            }
        }
        Check::Tier => {
            if s != "enterprise" {
                p.push(format!("{name} must be one of enterprise"));
            }
        }
        Check::Prechat => check_prechat(p, v),
    }
}

fn put(target: &mut Integration, field: &Field, value: Value) {
    let slot = match field.vis {
        Shown => &mut target.config,
        WriteOnly => &mut target.hidden,
        Secret => &mut target.secrets,
    };
    if value.is_null() && field.vis != Shown {
        slot.remove(field.name);
    } else {
        slot.insert(field.name.to_string(), value);
    }
}

/// Parses a CreateIntegration body. For `custom`, the one inline webhook comes back too.
pub fn new_integration(id: String, webhook_id: String, body: Value) -> DomainResult<(Integration, Option<Webhook>)> {
    let Value::Object(mut body) = body else {
        return Err(DomainError::invalid("The request body must be a JSON object"));
    };
    let kind = match body.get("type") {
        None => return Err(DomainError::invalid("should have required property 'type'")),
        Some(Value::String(t)) if TYPES.contains(&t.as_str()) => t.clone(),
        Some(_) => return Err(DomainError::Rule("Invalid integration type".into())),
    };
    let mut p = Problems::new();
    let mut integration = Integration {
        id,
        kind: kind.clone(),
        status: status_for(&kind).to_string(),
        display_name: None,
        config: Map::new(),
        hidden: Map::new(),
        secrets: Map::new(),
    };
    if let Some(v) = body.get("displayName") {
        if let Some(d) = check_display_name(&mut p, v) {
            integration.display_name = d;
        }
    }
    for (name, value) in defaults(&kind) {
        integration.config.insert(name.to_string(), value);
    }
    for field in fields(&kind) {
        match body.get(field.name) {
            Some(v) => {
                if field.required && v.is_null() {
                    p.push(format!("{} must not be null", field.name));
                } else if let Some(ok) = check_field(&mut p, &field, v) {
                    put(&mut integration, &field, ok);
                }
            }
            None if field.required => p.push(format!("should have required property '{}'", field.name)),
            None => {}
        }
    }
    let mut webhook = None;
    if kind == "custom" {
        match body.remove("webhooks") {
            None => p.push("should have required property 'webhooks'"),
            Some(Value::Array(mut hooks)) if hooks.len() == 1 => match new_webhook(webhook_id, hooks.remove(0)) {
                Ok(w) => webhook = Some(w),
                Err(DomainError::Invalid(problems)) => problems.into_iter().for_each(|m| p.push(format!("webhooks[0]: {m}"))),
                Err(e) => return Err(e),
            },
            Some(Value::Array(_)) => p.push("webhooks must contain exactly one webhook"),
            Some(_) => p.push("webhooks must be an array"),
        }
    }
    p.finish()?;
    Ok((integration, webhook))
}

/// An UpdateIntegration body. Which fields it may carry depends on the integration's
/// type, so it is checked when it is applied, to the integration as stored inside the
/// transaction that writes the result.
#[derive(Debug)]
pub struct IntegrationPatch(Map<String, Value>);

impl IntegrationPatch {
    pub fn parse(body: Value) -> DomainResult<IntegrationPatch> {
        match body {
            Value::Object(body) => Ok(IntegrationPatch(body)),
            _ => Err(DomainError::invalid("The request body must be a JSON object")),
        }
    }

    /// Reads the body by the stored integration's type.
    pub fn apply(&self, current: &Integration) -> DomainResult<Integration> {
        apply_integration_patch(current, &self.0)
    }
}

/// Applies an UpdateIntegration body (see [`IntegrationPatch`]).
pub fn update_integration(current: &Integration, body: Value) -> DomainResult<Integration> {
    IntegrationPatch::parse(body)?.apply(current)
}

fn apply_integration_patch(current: &Integration, body: &Map<String, Value>) -> DomainResult<Integration> {
    let mut p = Problems::new();
    let mut next = current.clone();
    if let Some(t) = body.get("type") {
        if t.as_str() != Some(current.kind.as_str()) {
            p.push("type cannot be changed; delete the integration and create a new one");
        }
    }
    if let Some(v) = body.get("displayName") {
        if let Some(d) = check_display_name(&mut p, v) {
            next.display_name = d;
        }
    }
    if current.kind == "custom" && body.contains_key("webhooks") {
        p.push("webhooks cannot be updated here; use the webhooks endpoints");
    }
    for field in fields(&current.kind) {
        let Some(v) = body.get(field.name) else { continue };
        if !field.updatable {
            p.push(format!(
                "{} cannot be updated on {} integrations; delete the integration and create it again with the new value",
                field.name, current.kind
            ));
            continue;
        }
        if let Some(ok) = check_field(&mut p, &field, v) {
            put(&mut next, &field, ok);
        }
    }
    p.finish()?;
    Ok(next)
}

/// Parses `filter[types]`: a comma list of known types.
pub fn parse_type_filter(raw: &str) -> DomainResult<Vec<String>> {
    let mut out = Vec::new();
    for t in raw.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        if !TYPES.contains(&t) {
            return Err(DomainError::invalid("Invalid query parameters"));
        }
        if !out.iter().any(|o| o == t) {
            out.push(t.to_string());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn create(body: Value) -> DomainResult<(Integration, Option<Webhook>)> {
        new_integration("i1".into(), "w1".into(), body)
    }

    #[test]
    fn custom_needs_exactly_one_webhook() {
        let (i, w) = create(json!({"type": "custom", "webhooks": [{"target": "https://e.com/h", "triggers": ["conversation:message"]}]})).unwrap();
        assert_eq!((i.status.as_str(), w.unwrap().id.as_str()), ("active", "w1"));
        assert!(create(json!({"type": "custom"})).is_err());
        assert!(create(json!({"type": "custom", "webhooks": []})).is_err());
        let two = json!({"target": "https://e.com/h", "triggers": ["user:remove"]});
        assert!(create(json!({"type": "custom", "webhooks": [two.clone(), two]})).is_err());
        assert!(create(json!({"type": "custom", "webhooks": [{"target": "https://e.com/h", "triggers": ["bogus"]}]})).is_err());
    }

    #[test]
    fn unknown_type_is_a_rule_error() {
        assert_eq!(create(json!({"type": "carrier-pigeon"})).unwrap_err(), DomainError::Rule("Invalid integration type".into()));
        assert!(matches!(create(json!({})), Err(DomainError::Invalid(_))));
    }

    #[test]
    fn web_gets_defaults_and_validates() {
        let (i, _) = create(json!({"type": "web", "displayName": "Site"})).unwrap();
        let wire = i.to_wire(None);
        assert_eq!(wire["brandColor"], "65758e");
        assert_eq!(wire["displayStyle"], "button");
        assert_eq!(wire["buttonWidth"], "58");
        assert_eq!(wire["showAIDisclaimer"], true);
        assert_eq!(wire["attachmentsEnabled"], true);
        assert_eq!(wire["status"], "active");
        assert!(create(json!({"type": "web", "displayStyle": "floating"})).is_err());
        assert!(create(json!({"type": "web", "brandColor": "blue"})).is_err());
        assert!(create(json!({"type": "web", "originWhitelist": ["not an origin"]})).is_err());
        assert!(create(json!({"type": "web", "prechatCapture": {"fields": [{"type": "phone", "name": "n", "label": "l"}]}})).is_err());
        assert!(create(json!({"type": "web", "displayName": ""})).is_err());
    }

    #[test]
    fn channel_secrets_are_required_kept_and_hidden() {
        assert!(create(json!({"type": "telegram"})).is_err());
        let (i, _) = create(json!({"type": "telegram", "token": "123:abc"})).unwrap();
        assert_eq!(i.status, "inactive");
        assert_eq!(i.secrets["token"], "123:abc");
        assert!(i.to_wire(None).get("token").is_none());
        let (m, _) = create(json!({"type": "messenger", "pageAccessToken": "p", "appId": "a", "appSecret": "s"})).unwrap();
        let wire = m.to_wire(None);
        assert!(wire.get("appSecret").is_none() && wire.get("pageAccessToken").is_none());
        assert_eq!(wire["appId"], "a");
        assert!(create(json!({"type": "twitter", "tier": "premium", "consumerKey": "a", "consumerSecret": "b", "accessTokenKey": "c", "accessTokenSecret": "d"})).is_err());
    }

    #[test]
    fn updates_follow_the_stored_type() {
        let (i, _) = create(json!({"type": "mailgun", "apiKey": "k", "domain": "d.com", "incomingAddress": "in@d.com"})).unwrap();
        let u = update_integration(&i, json!({"displayName": "Mail", "hideUnsubscribeLink": true})).unwrap();
        assert_eq!(u.config["hideUnsubscribeLink"], true);
        assert_eq!(u.display_name.as_deref(), Some("Mail"));
        assert!(update_integration(&i, json!({"domain": "other.com"})).is_err());
        let u = update_integration(&u, json!({"displayName": null})).unwrap();
        assert_eq!(u.display_name, None);
        assert!(update_integration(&i, json!({"type": "web"})).is_err());
    }

    #[test]
    fn type_filter() {
        assert_eq!(parse_type_filter("custom,web").unwrap(), vec!["custom", "web"]);
        assert!(parse_type_filter("custom,nope").is_err());
    }
}
