//! Messages: the `messagePost` body, every content type and action type of the spec,
//! and the message document as stored and shown.
//!
//! IMPLEMENTATION OWNED BY A HELPER — the types and signatures below are the contract
//! the store and http layers use; keep them.

use serde_json::{Map, Value};

use super::app::AppSettings;
use super::error::DomainResult;
use super::user::User;

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
}

/// Parses and validates a PostMessage body (`messagePost`). Every problem is named by
/// its field path, e.g. "content.items[0].actions[1].uri must be a valid URI".
pub fn parse_message_post(body: Value, settings: &AppSettings) -> DomainResult<NewMessage> {
    let _ = (body, settings);
    Err(super::error::DomainError::Rule("messages are not implemented yet".into()))
}

/// The stored/shown `message` document: `{id, received, author, content, source,
/// metadata?, quotedMessage?}`. `author_user` is the resolved user for user authors
/// (its id goes in `author.userId`, its name in `author.displayName` when none was given).
/// `source` is `{"type": "api:conversations"}` for API posts.
pub fn build_message(id: &str, received_ms: i64, message: &NewMessage, author_user: Option<&User>, source: Value) -> Value {
    let _ = (id, received_ms, message, author_user, source);
    Value::Null
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
            ActivityKind::Read => "conversation:read",
            ActivityKind::TypingStart => "typing:start",
            ActivityKind::TypingStop => "typing:stop",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewActivity {
    pub author: AuthorInput,
    pub kind: ActivityKind,
}

/// Parses a PostActivity body (`activityPost`).
pub fn parse_activity_post(body: Value) -> DomainResult<NewActivity> {
    let _ = body;
    Err(super::error::DomainError::Rule("activities are not implemented yet".into()))
}
