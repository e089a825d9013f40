//! The domain's one error type: a broken rule, named in words a client can act on.

/// Which kind of resource could not be found; decides the spec's `*_not_found` code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    App,
    Key,
    User,
    Conversation,
    Participant,
    Message,
    Integration,
    Webhook,
    Client,
    Switchboard,
    SwitchboardIntegration,
    Device,
    Generic,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// One or more fields are invalid; each string is a full sentence naming the field.
    #[error("invalid: {}", .0.join("; "))]
    Invalid(Vec<String>),
    /// The request is well formed but breaks a rule (400 with this title).
    #[error("{0}")]
    Rule(String),
    /// A rule the spec gives its own 400 code (`too_many_switchboard_integrations`).
    #[error("{1}")]
    Coded(&'static str, String),
    #[error("{1}")]
    NotFound(Resource, String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Locked(String),
}

impl DomainError {
    pub fn invalid(msg: impl Into<String>) -> Self {
        DomainError::Invalid(vec![msg.into()])
    }

    pub fn not_found(resource: Resource) -> Self {
        let title = match resource {
            Resource::App => "App not found",
            Resource::Key => "Key not found",
            Resource::User => "User not found",
            Resource::Conversation => "Conversation not found",
            Resource::Participant => "User is not a member of the conversation",
            Resource::Message => "Message not found",
            Resource::Integration => "Integration not found",
            Resource::Webhook => "Webhook not found",
            Resource::Client => "Client not found",
            Resource::Switchboard => "Switchboard not found",
            // Spelled as the spec's examples spell it.
            Resource::SwitchboardIntegration => "SwitchboardIntegration not found",
            Resource::Device => "Device not found",
            Resource::Generic => "Resource not found",
        };
        DomainError::NotFound(resource, title.to_string())
    }
}

pub type DomainResult<T> = Result<T, DomainError>;
