//! The switchboard: which of an app's integrations is in control of each conversation.
//!
//! An app has at most one switchboard. It links up to ten of the app's integrations as
//! *switchboard integrations*, each named and optionally pointing at the `next` one of an
//! escalation chain (bot → agent desk → …). Per conversation, one switchboard integration
//! may be **active** (in control: it gets the conversation's events), one may be
//! **pending** (offered control, not yet accepted), and every other is on **standby** (it
//! gets the conversation's events only with `deliverStandbyEvents`).
//!
//! Everything here is pure: the request bodies, the checks on a switchboard's set of
//! integrations, the control state machine ([`decide`]), default assignment
//! ([`at_activity`]) and whom the webhook router lets a conversation event reach
//! ([`Routing`]). The store applies them inside one transaction per change, with the
//! conversation's row locked, so that two transitions of one conversation never interleave.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::error::{DomainError, DomainResult, Resource};
use super::metadata::check_metadata;
use super::validate::{from_value, Patch, Problems};

/// At most this many switchboard integrations per switchboard (the tag's note).
pub const MAX_SWITCHBOARD_INTEGRATIONS: usize = 10;

/// The keyword that names the active integration's `nextSwitchboardIntegrationId` in a
/// pass or an offer. It is therefore not a name a switchboard integration may take.
pub const NEXT: &str = "next";

/// An app's switchboard (the spec's `switchboard`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Switchboard {
    pub id: String,
    /// Off, every integration gets every event, and control does not change.
    pub enabled: bool,
    /// Gets control of new conversations, and of those nobody controls at their next message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_switchboard_integration_id: Option<String>,
}

/// One integration linked to the switchboard (the spec's `switchboardIntegration`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SwitchboardIntegration {
    pub id: String,
    pub name: String,
    pub integration_id: String,
    /// The linked integration's type (for an OAuth integration, the partner's client id).
    pub integration_type: String,
    pub deliver_standby_events: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_switchboard_integration_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_history_count: Option<i64>,
}

/// A switchboard integration as conversations and events name it (the spec's
/// `switchboardIntegrationWebhook`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SwitchboardIntegrationRef {
    pub id: String,
    pub name: String,
    pub integration_id: String,
    pub integration_type: String,
}

impl From<&SwitchboardIntegration> for SwitchboardIntegrationRef {
    fn from(s: &SwitchboardIntegration) -> Self {
        SwitchboardIntegrationRef { id: s.id.clone(), name: s.name.clone(), integration_id: s.integration_id.clone(), integration_type: s.integration_type.clone() }
    }
}

/// Who controls a conversation, by switchboard integration id: what the store keeps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ControlState {
    pub active: Option<String>,
    pub pending: Option<String>,
}

/// A conversation's control as shown: `activeSwitchboardIntegration` and
/// `pendingSwitchboardIntegration`, each omitted when there is none.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Control {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_switchboard_integration: Option<SwitchboardIntegrationRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_switchboard_integration: Option<SwitchboardIntegrationRef>,
}

impl Control {
    pub fn is_empty(&self) -> bool {
        self.active_switchboard_integration.is_none() && self.pending_switchboard_integration.is_none()
    }

    /// The active switchboard integration's id, if any.
    pub fn active_id(&self) -> Option<&str> {
        self.active_switchboard_integration.as_ref().map(|a| a.id.as_str())
    }

    /// Adds the two fields to a conversation object (`conversation` or `conversationTruncated`).
    pub fn write_into(&self, conversation: &mut Value) {
        if let Some(a) = &self.active_switchboard_integration {
            conversation["activeSwitchboardIntegration"] = json!(a);
        }
        if let Some(p) = &self.pending_switchboard_integration {
            conversation["pendingSwitchboardIntegration"] = json!(p);
        }
    }
}

fn find<'a>(integrations: &'a [SwitchboardIntegration], id: &str) -> Option<&'a SwitchboardIntegration> {
    integrations.iter().find(|s| s.id == id)
}

impl ControlState {
    /// Forgets ids that are no longer switchboard integrations (deleted since, or of a
    /// switchboard deleted since): nobody holds what they held.
    pub fn normalised(&self, integrations: &[SwitchboardIntegration]) -> ControlState {
        let keep = |id: &Option<String>| id.clone().filter(|i| find(integrations, i).is_some());
        ControlState { active: keep(&self.active), pending: keep(&self.pending) }
    }

    /// The state as shown, naming each switchboard integration.
    pub fn resolve(&self, integrations: &[SwitchboardIntegration]) -> Control {
        let named = |id: &Option<String>| id.as_deref().and_then(|i| find(integrations, i)).map(SwitchboardIntegrationRef::from);
        Control { active_switchboard_integration: named(&self.active), pending_switchboard_integration: named(&self.pending) }
    }
}

// ---- default assignment ----

/// Default integration assignment at a conversation's activity (a message): while the
/// switchboard is enabled, a conversation nobody controls (new, released, older than the
/// switchboard, or whose active integration was deleted) goes to the default.
pub fn at_activity(state: &ControlState, switchboard: &Switchboard, integrations: &[SwitchboardIntegration]) -> ControlState {
    let mut s = state.normalised(integrations);
    if switchboard.enabled && s.active.is_none() {
        s.active = switchboard.default_switchboard_integration_id.clone().filter(|d| find(integrations, d).is_some());
    }
    s
}

// ---- the control state machine ----

/// What a caller asks of a conversation's control.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ControlAction {
    /// Make the target active; every other goes to standby (a pending offer lapses).
    Pass { target: String },
    /// Make the target pending; it replaces any earlier offer.
    Offer { target: String },
    /// The pending integration becomes active.
    Accept,
    /// Nobody controls the conversation (until its next message: [`at_activity`]).
    Release,
}

/// Which of the four actions a route serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionKind {
    Pass,
    Offer,
    Accept,
    Release,
}

/// A parsed control request: the action and the `metadata` echoed into its event.
#[derive(Debug, Clone, PartialEq)]
pub struct ControlRequest {
    pub action: ControlAction,
    pub metadata: Option<Map<String, Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ControlBody {
    #[serde(default)]
    switchboard_integration: Patch<String>,
    #[serde(default)]
    metadata: Patch<Map<String, Value>>,
}

/// Parses a passControl / offerControl / acceptControl / releaseControl body.
pub fn parse_control(kind: ActionKind, body: Value) -> DomainResult<ControlRequest> {
    let body: ControlBody = from_value(body)?;
    let mut p = Problems::new();
    let target = match (&body.switchboard_integration, kind) {
        (Patch::Value(t), ActionKind::Pass | ActionKind::Offer) if !t.is_empty() => Some(t.clone()),
        (_, ActionKind::Pass | ActionKind::Offer) => {
            p.push("switchboardIntegration is required: a switchboard integration id, name, integration type, or next");
            None
        }
        _ => None,
    };
    let metadata = match body.metadata {
        Patch::Value(m) => {
            check_metadata(&mut p, "metadata", "Switchboard", &m);
            Some(m)
        }
        Patch::Null | Patch::Missing => None,
    };
    p.finish()?;
    let action = match kind {
        ActionKind::Pass => ControlAction::Pass { target: target.expect("checked above") },
        ActionKind::Offer => ControlAction::Offer { target: target.expect("checked above") },
        ActionKind::Accept => ControlAction::Accept,
        ActionKind::Release => ControlAction::Release,
    };
    Ok(ControlRequest { action, metadata })
}

/// Who asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor<'a> {
    /// An account or app key, acting for the business: never refused for not holding control.
    Business,
    /// An integration's own credentials; `linked` is the switchboard integration linked to
    /// that integration, if it is in the switchboard at all.
    Integration { linked: Option<&'a str> },
}

/// What an allowed action does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The new state: record it and its event.
    Changed(ControlState),
    /// Nothing to do (a retried action): no write, no event, still a success.
    Unchanged,
}

/// The error codes of the `switchboard:*:failure` payloads (as in the spec's examples).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureCode {
    /// The target cannot be resolved, or may not be the target.
    InvalidTarget,
    /// The action makes no sense in the conversation's state.
    InvalidAction,
}

impl FailureCode {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureCode::InvalidTarget => "switchboard_invalid_target",
            FailureCode::InvalidAction => "switchboard_invalid_action",
        }
    }
}

/// An action refused for the conversation's state: it fires the matching
/// `switchboard:*:failure` event, and the caller hears a 400 (or a 404 for a target that
/// names nothing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlFailure {
    pub code: FailureCode,
    pub message: String,
    /// The target names no switchboard integration at all.
    pub unknown_target: bool,
}

impl ControlFailure {
    fn target(message: impl Into<String>) -> Self {
        ControlFailure { code: FailureCode::InvalidTarget, message: message.into(), unknown_target: false }
    }

    /// The answer the caller hears.
    pub fn to_error(&self) -> DomainError {
        if self.unknown_target {
            DomainError::NotFound(Resource::SwitchboardIntegration, self.message.clone())
        } else {
            DomainError::Rule(self.message.clone())
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// An integration acting on control it does not hold (403, no event).
    Forbidden(&'static str),
    /// Refused for the state; fires the failure event.
    Failed(ControlFailure),
}

/// Resolves a pass or offer target: the keyword `next` (the active integration's
/// `nextSwitchboardIntegrationId`), else by id, name, then integration type, in that order;
/// a type two integrations share is ambiguous.
pub fn resolve<'a>(target: &str, active: Option<&str>, integrations: &'a [SwitchboardIntegration]) -> Result<&'a SwitchboardIntegration, ControlFailure> {
    if target == NEXT {
        let from = active.and_then(|a| find(integrations, a)).ok_or_else(|| ControlFailure::target("There is no active switchboard integration whose next to take"))?;
        let next = from
            .next_switchboard_integration_id
            .as_deref()
            .ok_or_else(|| ControlFailure::target(format!("Switchboard integration {} has no nextSwitchboardIntegrationId", from.name)))?;
        return find(integrations, next).ok_or_else(|| ControlFailure::target(format!("The next switchboard integration of {} no longer exists", from.name)));
    }
    if let Some(s) = find(integrations, target) {
        return Ok(s);
    }
    if let Some(s) = integrations.iter().find(|s| s.name == target) {
        return Ok(s);
    }
    let by_type: Vec<&SwitchboardIntegration> = integrations.iter().filter(|s| s.integration_type == target).collect();
    match by_type.as_slice() {
        [one] => Ok(one),
        [] => Err(ControlFailure { code: FailureCode::InvalidTarget, message: format!("No switchboard integration has the id, name or integration type {target}"), unknown_target: true }),
        many => Err(ControlFailure::target(format!("{} switchboard integrations have the integration type {target}; name one by id or name", many.len()))),
    }
}

/// The control state machine: what `action` by `actor` does to a conversation in `state`.
pub fn decide(state: &ControlState, action: &ControlAction, integrations: &[SwitchboardIntegration], actor: Actor<'_>) -> Result<Decision, Refusal> {
    let state = state.normalised(integrations);
    let active = state.active.as_deref();
    // The switchboard integration of an integration caller that is in the switchboard.
    let identified = match actor {
        Actor::Integration { linked } => linked,
        Actor::Business => None,
    };
    match action {
        ControlAction::Pass { target } => {
            // Idempotency: an identified integration that passes to `next` while it no longer
            // holds control is repeating a pass that already happened; it is disregarded,
            // metadata and all, rather than passing control on a second time.
            if target == NEXT && identified.is_some() && identified != active {
                return Ok(Decision::Unchanged);
            }
            let to = resolve(target, active, integrations).map_err(Refusal::Failed)?;
            if active == Some(to.id.as_str()) && state.pending.is_none() {
                return Ok(Decision::Unchanged);
            }
            Ok(Decision::Changed(ControlState { active: Some(to.id.clone()), pending: None }))
        }
        ControlAction::Offer { target } => {
            let to = resolve(target, active, integrations).map_err(Refusal::Failed)?;
            if active == Some(to.id.as_str()) {
                return Err(Refusal::Failed(ControlFailure::target("Cannot offer control to the active switchboard integration.")));
            }
            Ok(Decision::Changed(ControlState { active: state.active.clone(), pending: Some(to.id.clone()) }))
        }
        ControlAction::Accept => match (actor, state.pending.as_deref()) {
            (Actor::Integration { linked }, pending) => match pending {
                Some(p) if linked == Some(p) => Ok(Decision::Changed(ControlState { active: Some(p.to_string()), pending: None })),
                // It accepted already: a retry.
                None if linked.is_some() && linked == active => Ok(Decision::Unchanged),
                _ => Err(Refusal::Forbidden("The pending switchboard integration is not the authenticated integration")),
            },
            (Actor::Business, Some(p)) => Ok(Decision::Changed(ControlState { active: Some(p.to_string()), pending: None })),
            (Actor::Business, None) => {
                Err(Refusal::Failed(ControlFailure { code: FailureCode::InvalidAction, message: "There is no pendingSwitchboardIntegration".into(), unknown_target: false }))
            }
        },
        ControlAction::Release => {
            if let Actor::Integration { linked } = actor {
                if linked.is_none() || linked != active {
                    return Err(Refusal::Forbidden("The authenticated integration is not currently active in the switchboard"));
                }
            }
            if state == ControlState::default() {
                return Ok(Decision::Unchanged);
            }
            Ok(Decision::Changed(ControlState::default()))
        }
    }
}

// ---- webhook routing ----

/// What the webhook router needs of an app's enabled switchboard: the integrations it
/// gates, each with its switchboard integration and `deliverStandbyEvents`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Routing {
    gated: HashMap<String, (String, bool)>,
}

impl Routing {
    /// `None` when the switchboard is disabled: then it gates nobody.
    pub fn of(switchboard: &Switchboard, integrations: &[SwitchboardIntegration]) -> Option<Routing> {
        switchboard.enabled.then(|| Routing {
            gated: integrations.iter().map(|s| (s.integration_id.clone(), (s.id.clone(), s.deliver_standby_events))).collect(),
        })
    }

    /// Whether a conversation event that happened while `active` was in control reaches a
    /// webhook of integration `integration_id`: always for integrations outside the
    /// switchboard; for those in it, when theirs was active, or when they take standby events.
    pub fn delivers(&self, integration_id: &str, active: Option<&str>) -> bool {
        match self.gated.get(integration_id) {
            None => true,
            Some((own, standby)) => active == Some(own.as_str()) || *standby,
        }
    }
}

// ---- switchboard bodies ----

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SwitchboardBody {
    #[serde(default)]
    enabled: Patch<bool>,
    #[serde(default)]
    default_switchboard_integration_id: Patch<String>,
}

/// An UpdateSwitchboard body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SwitchboardPatch {
    pub enabled: Option<bool>,
    pub default_switchboard_integration_id: Option<String>,
}

pub fn parse_switchboard_update(body: Value) -> DomainResult<SwitchboardPatch> {
    let body: SwitchboardBody = from_value(body)?;
    let mut p = Problems::new();
    let enabled = match body.enabled {
        Patch::Value(b) => Some(b),
        Patch::Null => {
            p.push("enabled must be a boolean");
            None
        }
        Patch::Missing => None,
    };
    let default = match body.default_switchboard_integration_id {
        Patch::Value(d) if !d.is_empty() => Some(d),
        Patch::Value(_) | Patch::Null => {
            p.push("defaultSwitchboardIntegrationId must be a switchboard integration id");
            None
        }
        Patch::Missing => None,
    };
    p.finish()?;
    Ok(SwitchboardPatch { enabled, default_switchboard_integration_id: default })
}

/// The switchboard after `patch`: its default must be one of its integrations, and an
/// enabled switchboard must have one.
pub fn apply_switchboard_update(current: &Switchboard, patch: &SwitchboardPatch, integrations: &[SwitchboardIntegration]) -> DomainResult<Switchboard> {
    let mut next = current.clone();
    if let Some(d) = &patch.default_switchboard_integration_id {
        if find(integrations, d).is_none() {
            return Err(DomainError::not_found(Resource::SwitchboardIntegration));
        }
        next.default_switchboard_integration_id = Some(d.clone());
    }
    if let Some(e) = patch.enabled {
        next.enabled = e;
    }
    let has_default = next.default_switchboard_integration_id.as_deref().is_some_and(|d| find(integrations, d).is_some());
    if next.enabled && !has_default {
        return Err(DomainError::Rule("Enabled switchboard must have an associated default switchboardIntegration".into()));
    }
    Ok(next)
}

// ---- switchboard integration bodies ----

/// What a switchboard integration links to, as the body names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Link {
    /// `integrationId`: an integration of the app (how custom integrations are linked).
    Integration(String),
    /// `integrationType`: the app's one integration of that type (how OAuth ones are).
    Type(String),
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct IntegrationBody {
    #[serde(default)]
    name: Patch<String>,
    #[serde(default)]
    integration_id: Patch<String>,
    #[serde(default)]
    integration_type: Patch<String>,
    #[serde(default)]
    deliver_standby_events: Patch<bool>,
    #[serde(default)]
    next_switchboard_integration_id: Patch<String>,
    #[serde(default)]
    message_history_count: Patch<i64>,
}

/// A CreateSwitchboardIntegration body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSwitchboardIntegration {
    pub name: String,
    pub link: Link,
    pub deliver_standby_events: bool,
    pub next_switchboard_integration_id: Option<String>,
    pub message_history_count: Option<i64>,
}

/// An UpdateSwitchboardIntegration body: only what it names changes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SwitchboardIntegrationPatch {
    pub name: Option<String>,
    pub link: Option<Link>,
    pub deliver_standby_events: Option<bool>,
    pub next_switchboard_integration_id: Patch<String>,
    pub message_history_count: Patch<i64>,
}

fn check_name(p: &mut Problems, name: &str) {
    p.length("name", name, 1, 128);
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        p.push("name is restricted to alphanumeric characters, - and _");
    }
    if name == NEXT {
        p.push("name cannot be next: it is the keyword for a switchboard integration's next");
    }
}

struct Parsed {
    name: Option<String>,
    link: Option<Link>,
    /// `integrationId` or `integrationType` was given (validly or not).
    link_given: bool,
    deliver_standby_events: Option<bool>,
    next: Patch<String>,
    history: Patch<i64>,
}

fn parse_integration_body(body: Value, p: &mut Problems) -> DomainResult<Parsed> {
    let body: IntegrationBody = from_value(body)?;
    let mut not_null = |field: &str, v: &Patch<String>| match v {
        Patch::Value(s) => Some(s.clone()),
        Patch::Null => {
            p.push(format!("{field} cannot be null"));
            None
        }
        Patch::Missing => None,
    };
    let name = not_null("name", &body.name);
    let id = not_null("integrationId", &body.integration_id);
    let kind = not_null("integrationType", &body.integration_type);
    let link_given = id.is_some() || kind.is_some();
    let link = match (id, kind) {
        (Some(_), Some(_)) => {
            p.push("Provide only one of integrationId or integrationType");
            None
        }
        (Some(i), None) if !i.is_empty() => Some(Link::Integration(i)),
        (None, Some(t)) if !t.is_empty() => Some(Link::Type(t)),
        (Some(_), None) | (None, Some(_)) => {
            p.push("integrationId and integrationType cannot be empty");
            None
        }
        (None, None) => None,
    };
    if let Some(n) = &name {
        check_name(p, n);
    }
    let deliver_standby_events = match body.deliver_standby_events {
        Patch::Value(b) => Some(b),
        Patch::Null => {
            p.push("deliverStandbyEvents must be a boolean");
            None
        }
        Patch::Missing => None,
    };
    if let Patch::Value(n) = &body.next_switchboard_integration_id {
        if n.is_empty() {
            p.push("nextSwitchboardIntegrationId must be a switchboard integration id or null");
        }
    }
    if let Patch::Value(n) = body.message_history_count {
        if !(1..=10).contains(&n) {
            p.push("messageHistoryCount must be between 1 and 10");
        }
    }
    Ok(Parsed { name, link, link_given, deliver_standby_events, next: body.next_switchboard_integration_id, history: body.message_history_count })
}

pub fn parse_new_switchboard_integration(body: Value) -> DomainResult<NewSwitchboardIntegration> {
    let mut p = Problems::new();
    let parsed = parse_integration_body(body, &mut p)?;
    if parsed.name.is_none() {
        p.push("name is required");
    }
    if !parsed.link_given {
        p.push("One of integrationId or integrationType must be provided");
    }
    p.finish()?;
    Ok(NewSwitchboardIntegration {
        name: parsed.name.expect("checked above"),
        link: parsed.link.expect("checked above"),
        deliver_standby_events: parsed.deliver_standby_events.unwrap_or(true),
        next_switchboard_integration_id: parsed.next.as_option().cloned(),
        message_history_count: parsed.history.as_option().copied(),
    })
}

pub fn parse_switchboard_integration_update(body: Value) -> DomainResult<SwitchboardIntegrationPatch> {
    let mut p = Problems::new();
    let parsed = parse_integration_body(body, &mut p)?;
    p.finish()?;
    Ok(SwitchboardIntegrationPatch {
        name: parsed.name,
        link: parsed.link,
        deliver_standby_events: parsed.deliver_standby_events,
        next_switchboard_integration_id: parsed.next,
        message_history_count: parsed.history,
    })
}

impl NewSwitchboardIntegration {
    /// The switchboard integration, linked to the integration its `link` resolved to.
    pub fn build(&self, id: String, integration_id: String, integration_type: String) -> SwitchboardIntegration {
        SwitchboardIntegration {
            id,
            name: self.name.clone(),
            integration_id,
            integration_type,
            deliver_standby_events: self.deliver_standby_events,
            next_switchboard_integration_id: self.next_switchboard_integration_id.clone(),
            message_history_count: self.message_history_count,
        }
    }
}

impl SwitchboardIntegrationPatch {
    /// `current` after the patch; `linked` is the (integration id, type) its `link` resolved to.
    pub fn apply(&self, current: &SwitchboardIntegration, linked: Option<(String, String)>) -> SwitchboardIntegration {
        let mut next = current.clone();
        if let Some(n) = &self.name {
            next.name = n.clone();
        }
        if let Some((id, kind)) = linked {
            next.integration_id = id;
            next.integration_type = kind;
        }
        if let Some(b) = self.deliver_standby_events {
            next.deliver_standby_events = b;
        }
        match &self.next_switchboard_integration_id {
            Patch::Value(n) => next.next_switchboard_integration_id = Some(n.clone()),
            Patch::Null => next.next_switchboard_integration_id = None,
            Patch::Missing => {}
        }
        match self.message_history_count {
            Patch::Value(n) => next.message_history_count = Some(n),
            Patch::Null => next.message_history_count = None,
            Patch::Missing => {}
        }
        next
    }
}

/// Checks a switchboard's whole set of integrations after a change: names are unique (a
/// pass or offer may name one), an integration is linked once (its webhooks are gated by
/// one state), and every `next` is another integration of the set.
pub fn check_integrations(all: &[SwitchboardIntegration]) -> DomainResult<()> {
    let mut p = Problems::new();
    for (i, s) in all.iter().enumerate() {
        let earlier = &all[..i];
        if earlier.iter().any(|o| o.name == s.name) {
            p.push(format!("A switchboard integration named {} already exists in this switchboard", s.name));
        }
        if let Some(o) = earlier.iter().find(|o| o.integration_id == s.integration_id) {
            p.push(format!("Integration {} is already linked to switchboard integration {}", s.integration_id, o.name));
        }
        match s.next_switchboard_integration_id.as_deref() {
            Some(n) if n == s.id => p.push(format!("Switchboard integration {} cannot be its own nextSwitchboardIntegrationId", s.name)),
            Some(n) if find(all, n).is_none() => p.push(format!("nextSwitchboardIntegrationId {n} is not a switchboard integration of this switchboard")),
            _ => {}
        }
    }
    p.finish()
}

/// The refusal a new switchboard integration meets on a full switchboard.
pub fn too_many() -> DomainError {
    DomainError::Coded("too_many_switchboard_integrations", format!("Switchboard has reached the max number of switchboard integrations ({MAX_SWITCHBOARD_INTEGRATIONS})"))
}

/// Whether switchboard integration `id` may be deleted: not while it is the default (a
/// new one must be chosen first) nor while another's `next` points at it.
pub fn check_delete(switchboard: &Switchboard, all: &[SwitchboardIntegration], id: &str) -> DomainResult<()> {
    let Some(target) = find(all, id) else { return Err(DomainError::not_found(Resource::SwitchboardIntegration)) };
    if switchboard.default_switchboard_integration_id.as_deref() == Some(id) {
        return Err(DomainError::Rule(format!(
            "Switchboard integration {} is the switchboard's default and cannot be deleted; choose another default first",
            target.name
        )));
    }
    if let Some(o) = all.iter().find(|o| o.id != id && o.next_switchboard_integration_id.as_deref() == Some(id)) {
        return Err(DomainError::Rule(format!(
            "Switchboard integration {} cannot be deleted: it is the nextSwitchboardIntegrationId of {}",
            target.name, o.name
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn si(id: &str, name: &str, kind: &str, next: Option<&str>) -> SwitchboardIntegration {
        SwitchboardIntegration {
            id: id.into(),
            name: name.into(),
            integration_id: format!("int-{id}"),
            integration_type: kind.into(),
            deliver_standby_events: false,
            next_switchboard_integration_id: next.map(str::to_string),
            message_history_count: None,
        }
    }

    /// bot → agent → human → bot, bot and agent both custom.
    fn board() -> Vec<SwitchboardIntegration> {
        vec![si("s1", "bot", "custom", Some("s2")), si("s2", "agent", "custom", Some("s3")), si("s3", "human", "zd:agentWorkspace", Some("s1"))]
    }

    fn state(active: Option<&str>, pending: Option<&str>) -> ControlState {
        ControlState { active: active.map(str::to_string), pending: pending.map(str::to_string) }
    }

    fn pass(t: &str) -> ControlAction {
        ControlAction::Pass { target: t.into() }
    }

    fn offer(t: &str) -> ControlAction {
        ControlAction::Offer { target: t.into() }
    }

    const BUSINESS: Actor<'static> = Actor::Business;

    fn as_integration(linked: Option<&str>) -> Actor<'_> {
        Actor::Integration { linked }
    }

    fn changed(active: Option<&str>, pending: Option<&str>) -> Result<Decision, Refusal> {
        Ok(Decision::Changed(state(active, pending)))
    }

    fn failed_with(r: Result<Decision, Refusal>) -> ControlFailure {
        match r {
            Err(Refusal::Failed(f)) => f,
            other => panic!("expected a failure, got {other:?}"),
        }
    }

    #[test]
    fn targets_resolve_by_id_then_name_then_type_and_next_follows_the_active() {
        let b = board();
        assert_eq!(resolve("s2", None, &b).unwrap().id, "s2");
        assert_eq!(resolve("human", None, &b).unwrap().id, "s3");
        assert_eq!(resolve("zd:agentWorkspace", None, &b).unwrap().id, "s3");
        assert_eq!(resolve(NEXT, Some("s1"), &b).unwrap().id, "s2");
        assert_eq!(resolve(NEXT, Some("s3"), &b).unwrap().id, "s1");
        // An id beats a name that happens to equal it.
        let mut tricky = board();
        tricky[0].name = "s2".into();
        assert_eq!(resolve("s2", None, &tricky).unwrap().id, "s2");

        let ambiguous = resolve("custom", None, &b).unwrap_err();
        assert_eq!((ambiguous.code, ambiguous.unknown_target), (FailureCode::InvalidTarget, false));
        let unknown = resolve("nobody", None, &b).unwrap_err();
        assert!(unknown.unknown_target);
        assert!(matches!(unknown.to_error(), DomainError::NotFound(Resource::SwitchboardIntegration, _)));
        assert!(!resolve(NEXT, None, &b).unwrap_err().unknown_target, "next without an active one");
        let mut end = board();
        end[1].next_switchboard_integration_id = None;
        assert!(resolve(NEXT, Some("s2"), &end).is_err(), "the end of the chain");
    }

    #[test]
    fn pass_makes_the_target_active_and_drops_an_offer() {
        let b = board();
        assert_eq!(decide(&state(Some("s1"), None), &pass("agent"), &b, BUSINESS), changed(Some("s2"), None));
        assert_eq!(decide(&state(Some("s1"), Some("s3")), &pass("next"), &b, BUSINESS), changed(Some("s2"), None));
        assert_eq!(decide(&state(None, None), &pass("s3"), &b, BUSINESS), changed(Some("s3"), None));
        // Passing to the one in control changes nothing, unless an offer lapses.
        assert_eq!(decide(&state(Some("s2"), None), &pass("s2"), &b, BUSINESS), Ok(Decision::Unchanged));
        assert_eq!(decide(&state(Some("s2"), Some("s3")), &pass("s2"), &b, BUSINESS), changed(Some("s2"), None));
        // An integration in standby may take control for itself.
        assert_eq!(decide(&state(Some("s1"), None), &pass("human"), &b, as_integration(Some("s3"))), changed(Some("s3"), None));
    }

    #[test]
    fn a_repeated_pass_to_next_by_the_integration_that_passed_is_disregarded() {
        let b = board();
        let first = decide(&state(Some("s1"), None), &pass(NEXT), &b, as_integration(Some("s1")));
        assert_eq!(first, changed(Some("s2"), None));
        assert_eq!(decide(&state(Some("s2"), None), &pass(NEXT), &b, as_integration(Some("s1"))), Ok(Decision::Unchanged));
        // The business has no identity to tell a repeat from a new pass: next moves on.
        assert_eq!(decide(&state(Some("s2"), None), &pass(NEXT), &b, BUSINESS), changed(Some("s3"), None));
        // Nor has an integration outside the switchboard.
        assert_eq!(decide(&state(Some("s2"), None), &pass(NEXT), &b, as_integration(None)), changed(Some("s3"), None));
    }

    #[test]
    fn pass_failures_name_the_target_problem() {
        let b = board();
        assert!(failed_with(decide(&state(Some("s1"), None), &pass("ghost"), &b, BUSINESS)).unknown_target);
        assert_eq!(failed_with(decide(&state(Some("s1"), None), &pass("custom"), &b, BUSINESS)).code, FailureCode::InvalidTarget);
        assert_eq!(failed_with(decide(&state(None, None), &pass(NEXT), &b, BUSINESS)).code, FailureCode::InvalidTarget);
    }

    #[test]
    fn offer_makes_the_target_pending_and_replaces_an_earlier_offer() {
        let b = board();
        assert_eq!(decide(&state(Some("s1"), None), &offer("agent"), &b, BUSINESS), changed(Some("s1"), Some("s2")));
        assert_eq!(decide(&state(Some("s1"), Some("s2")), &offer("human"), &b, BUSINESS), changed(Some("s1"), Some("s3")));
        assert_eq!(decide(&state(Some("s1"), None), &offer(NEXT), &b, as_integration(Some("s1"))), changed(Some("s1"), Some("s2")));
        let f = failed_with(decide(&state(Some("s1"), None), &offer("bot"), &b, BUSINESS));
        assert_eq!((f.code, f.message.as_str()), (FailureCode::InvalidTarget, "Cannot offer control to the active switchboard integration."));
        assert!(failed_with(decide(&state(Some("s1"), None), &offer("ghost"), &b, BUSINESS)).unknown_target);
    }

    #[test]
    fn accept_hands_control_to_the_pending_integration_only() {
        let b = board();
        let offered = state(Some("s1"), Some("s2"));
        assert_eq!(decide(&offered, &ControlAction::Accept, &b, BUSINESS), changed(Some("s2"), None));
        assert_eq!(decide(&offered, &ControlAction::Accept, &b, as_integration(Some("s2"))), changed(Some("s2"), None));
        assert!(matches!(decide(&offered, &ControlAction::Accept, &b, as_integration(Some("s3"))), Err(Refusal::Forbidden(_))));
        assert!(matches!(decide(&offered, &ControlAction::Accept, &b, as_integration(Some("s1"))), Err(Refusal::Forbidden(_))));
        assert!(matches!(decide(&offered, &ControlAction::Accept, &b, as_integration(None)), Err(Refusal::Forbidden(_))));
        // Accepting again once in control is a retry.
        assert_eq!(decide(&state(Some("s2"), None), &ControlAction::Accept, &b, as_integration(Some("s2"))), Ok(Decision::Unchanged));
        let f = failed_with(decide(&state(Some("s1"), None), &ControlAction::Accept, &b, BUSINESS));
        assert_eq!((f.code, f.message.as_str()), (FailureCode::InvalidAction, "There is no pendingSwitchboardIntegration"));
    }

    #[test]
    fn release_nullifies_and_only_the_active_integration_may_release() {
        let b = board();
        assert_eq!(decide(&state(Some("s1"), Some("s2")), &ControlAction::Release, &b, BUSINESS), changed(None, None));
        assert_eq!(decide(&state(Some("s1"), None), &ControlAction::Release, &b, as_integration(Some("s1"))), changed(None, None));
        assert!(matches!(decide(&state(Some("s1"), None), &ControlAction::Release, &b, as_integration(Some("s2"))), Err(Refusal::Forbidden(_))));
        assert!(matches!(decide(&state(None, None), &ControlAction::Release, &b, as_integration(Some("s2"))), Err(Refusal::Forbidden(_))));
        assert!(matches!(decide(&state(Some("s1"), None), &ControlAction::Release, &b, as_integration(None)), Err(Refusal::Forbidden(_))));
        assert_eq!(decide(&state(None, None), &ControlAction::Release, &b, BUSINESS), Ok(Decision::Unchanged));
    }

    #[test]
    fn deleted_integrations_hold_nothing() {
        let b = board();
        let stale = state(Some("gone"), Some("gone-too"));
        assert_eq!(stale.normalised(&b), ControlState::default());
        assert!(stale.resolve(&b).is_empty());
        // An integration of the old state is not "active" any more.
        assert!(matches!(decide(&stale, &ControlAction::Release, &b, as_integration(Some("gone"))), Err(Refusal::Forbidden(_))));
    }

    #[test]
    fn the_default_takes_conversations_nobody_controls_while_enabled() {
        let b = board();
        let mut sb = Switchboard { id: "sb".into(), enabled: true, default_switchboard_integration_id: Some("s1".into()) };
        assert_eq!(at_activity(&ControlState::default(), &sb, &b), state(Some("s1"), None));
        assert_eq!(at_activity(&state(Some("s3"), None), &sb, &b), state(Some("s3"), None));
        assert_eq!(at_activity(&state(Some("gone"), Some("s2")), &sb, &b), state(Some("s1"), Some("s2")));
        sb.enabled = false;
        assert_eq!(at_activity(&ControlState::default(), &sb, &b), ControlState::default());
    }

    #[test]
    fn routing_gates_only_integrations_of_an_enabled_switchboard() {
        let mut b = board();
        b[1].deliver_standby_events = true;
        let mut sb = Switchboard { id: "sb".into(), enabled: true, default_switchboard_integration_id: Some("s1".into()) };
        let r = Routing::of(&sb, &b).unwrap();
        assert!(r.delivers("int-s1", Some("s1")), "the active one");
        assert!(!r.delivers("int-s1", Some("s3")), "standby without standby events");
        assert!(!r.delivers("int-s1", None), "nobody in control");
        assert!(r.delivers("int-s2", Some("s1")), "standby with standby events");
        assert!(r.delivers("outsider", Some("s1")), "outside the switchboard");
        sb.enabled = false;
        assert!(Routing::of(&sb, &b).is_none());
    }

    #[test]
    fn control_bodies() {
        let r = parse_control(ActionKind::Pass, json!({"switchboardIntegration": "next", "metadata": {"lang": "en"}})).unwrap();
        assert_eq!(r.action, pass(NEXT));
        assert_eq!(r.metadata.unwrap()["lang"], "en");
        assert!(parse_control(ActionKind::Pass, json!({})).is_err());
        assert!(parse_control(ActionKind::Offer, json!({"switchboardIntegration": ""})).is_err());
        assert!(parse_control(ActionKind::Offer, json!({"switchboardIntegration": 5})).is_err());
        assert!(parse_control(ActionKind::Release, json!({"metadata": {"nested": {"no": 1}}})).is_err());
        assert!(parse_control(ActionKind::Accept, json!({"metadata": {"big": "x".repeat(5000)}})).is_err());
        assert_eq!(parse_control(ActionKind::Release, json!({})).unwrap(), ControlRequest { action: ControlAction::Release, metadata: None });
        assert_eq!(parse_control(ActionKind::Accept, json!({"metadata": null})).unwrap().metadata, None);
    }

    #[test]
    fn switchboard_updates_need_a_real_default_to_enable() {
        let b = board();
        let off = Switchboard { id: "sb".into(), enabled: false, default_switchboard_integration_id: None };
        let enable = parse_switchboard_update(json!({"enabled": true})).unwrap();
        assert!(matches!(apply_switchboard_update(&off, &enable, &b), Err(DomainError::Rule(_))));
        let both = parse_switchboard_update(json!({"enabled": true, "defaultSwitchboardIntegrationId": "s1"})).unwrap();
        let on = apply_switchboard_update(&off, &both, &b).unwrap();
        assert_eq!((on.enabled, on.default_switchboard_integration_id.as_deref()), (true, Some("s1")));
        let ghost = parse_switchboard_update(json!({"defaultSwitchboardIntegrationId": "nope"})).unwrap();
        assert!(matches!(apply_switchboard_update(&off, &ghost, &b), Err(DomainError::NotFound(Resource::SwitchboardIntegration, _))));
        // A default deleted since does not count.
        let dangling = Switchboard { default_switchboard_integration_id: Some("gone".into()), ..off.clone() };
        assert!(apply_switchboard_update(&dangling, &enable, &b).is_err());
        assert!(parse_switchboard_update(json!({"enabled": "yes"})).is_err());
        assert!(parse_switchboard_update(json!({"defaultSwitchboardIntegrationId": null})).is_err());
        assert_eq!(serde_json::to_value(&off).unwrap(), json!({"id": "sb", "enabled": false}));
    }

    #[test]
    fn switchboard_integration_bodies() {
        let n = parse_new_switchboard_integration(json!({"name": "bot", "integrationId": "i1"})).unwrap();
        assert_eq!((n.link, n.deliver_standby_events, n.next_switchboard_integration_id, n.message_history_count), (Link::Integration("i1".into()), true, None, None));
        let n = parse_new_switchboard_integration(json!({"name": "zd-agent_1", "integrationType": "zd:agentWorkspace", "deliverStandbyEvents": false, "messageHistoryCount": 10})).unwrap();
        assert_eq!((n.link, n.deliver_standby_events, n.message_history_count), (Link::Type("zd:agentWorkspace".into()), false, Some(10)));
        for bad in [
            json!({"integrationId": "i1"}),
            json!({"name": "bot"}),
            json!({"name": "bot", "integrationId": "i1", "integrationType": "custom"}),
            json!({"name": "has space", "integrationId": "i1"}),
            json!({"name": "ünï", "integrationId": "i1"}),
            json!({"name": "x".repeat(129), "integrationId": "i1"}),
            json!({"name": "next", "integrationId": "i1"}),
            json!({"name": "bot", "integrationId": "i1", "messageHistoryCount": 0}),
            json!({"name": "bot", "integrationId": "i1", "messageHistoryCount": 11}),
            json!({"name": "bot", "integrationId": "i1", "messageHistoryCount": 2.5}),
            json!({"name": "bot", "integrationId": "i1", "deliverStandbyEvents": "true"}),
            json!({"name": "bot", "integrationId": ""}),
        ] {
            assert!(parse_new_switchboard_integration(bad.clone()).is_err(), "{bad}");
        }
        let patch = parse_switchboard_integration_update(json!({"nextSwitchboardIntegrationId": null, "messageHistoryCount": 3})).unwrap();
        let current = si("s1", "bot", "custom", Some("s2"));
        let next = patch.apply(&current, None);
        assert_eq!((next.next_switchboard_integration_id, next.message_history_count, next.name.as_str()), (None, Some(3), "bot"));
        let relink = parse_switchboard_integration_update(json!({"integrationType": "web"})).unwrap();
        assert_eq!(relink.apply(&current, Some(("i9".into(), "web".into()))).integration_id, "i9");
        assert!(parse_switchboard_integration_update(json!({"integrationId": "a", "integrationType": "b"})).is_err());
        assert!(parse_switchboard_integration_update(json!({"name": null})).is_err());
        assert_eq!(parse_switchboard_integration_update(json!({})).unwrap(), SwitchboardIntegrationPatch::default());
    }

    #[test]
    fn a_switchboard_keeps_names_and_links_unique_and_nexts_inside() {
        assert!(check_integrations(&board()).is_ok());
        let mut dup_name = board();
        dup_name[1].name = "bot".into();
        assert!(check_integrations(&dup_name).is_err());
        let mut dup_link = board();
        dup_link[1].integration_id = dup_link[0].integration_id.clone();
        assert!(check_integrations(&dup_link).is_err());
        let mut outside = board();
        outside[0].next_switchboard_integration_id = Some("elsewhere".into());
        assert!(check_integrations(&outside).is_err());
        let mut own = board();
        own[0].next_switchboard_integration_id = Some("s1".into());
        assert!(check_integrations(&own).is_err());
        assert!(matches!(too_many(), DomainError::Coded("too_many_switchboard_integrations", _)));
    }

    #[test]
    fn the_default_and_anyones_next_cannot_be_deleted() {
        let mut b = board();
        let sb = Switchboard { id: "sb".into(), enabled: true, default_switchboard_integration_id: Some("s1".into()) };
        assert!(check_delete(&sb, &b, "s1").is_err(), "the default");
        assert!(check_delete(&sb, &b, "s2").is_err(), "bot's next");
        b[0].next_switchboard_integration_id = None;
        assert!(check_delete(&sb, &b, "s2").is_ok());
        assert!(matches!(check_delete(&sb, &b, "nope"), Err(DomainError::NotFound(Resource::SwitchboardIntegration, _))));
    }
}
