//! Switchboards, their switchboard integrations, and each conversation's control state
//! (`conversations.active_switchboard_integration_id`, `…pending…`).
//!
//! Configuration writes lock the app's switchboard row first, so two of them (say, a new
//! default and the deletion of that integration) never both pass their checks. Control
//! transitions lock the conversation's row (PostgreSQL: `SELECT … FOR UPDATE`; on SQLite
//! the one writer runs writes one at a time), read its state, let
//! [`crate::domain::switchboard::decide`] rule, and write the new state with its event in
//! the same transaction: of two concurrent passes, the second sees what the first did.

use super::integrations::integration_kind_tx;
use super::rows::{from_json, to_json};
use super::sql::{self, Row, Tx};
use super::{events, is_unique_violation, Dialect, Store, StoreError, StoreResult};
use crate::domain::conversation::{ConversationDetails, ConversationKind};
use crate::domain::error::{DomainError, Resource};
use crate::domain::event::{ControlChange, ControlError, ControlFailed, ConversationRef, Event};
use crate::domain::ids::new_id;
use crate::domain::switchboard::{
    apply_switchboard_update, at_activity, check_delete, check_integrations, decide, too_many, Actor, Control, ControlAction, ControlRequest, ControlState, Decision, Link,
    NewSwitchboardIntegration, Refusal, Routing, Switchboard, SwitchboardIntegration, SwitchboardIntegrationPatch, SwitchboardPatch, MAX_SWITCHBOARD_INTEGRATIONS,
};
use crate::domain::time::now_ms;

/// The app's switchboard with its integrations, in one query (the switchboard's columns
/// repeat on each integration's row; no integration, one row with NULLs).
const LOAD: &str = "SELECT b.id, b.enabled, b.default_switchboard_integration_id, s.body FROM switchboards b \
     LEFT JOIN switchboard_integrations s ON s.switchboard_id = b.id WHERE b.app_id = $1 ORDER BY s.id";

type Loaded = Option<(Switchboard, Vec<SwitchboardIntegration>)>;

fn assemble(rows: Vec<Row>) -> StoreResult<Loaded> {
    let Some(first) = rows.first() else { return Ok(None) };
    let switchboard = Switchboard {
        id: first.try_get("id")?,
        enabled: first.try_get::<i64, _>("enabled")? != 0,
        default_switchboard_integration_id: first.try_get("default_switchboard_integration_id")?,
    };
    let mut integrations = Vec::with_capacity(rows.len());
    for r in &rows {
        if let Some(body) = r.try_get::<Option<String>, _>("body")? {
            integrations.push(from_json::<SwitchboardIntegration>(&body)?);
        }
    }
    Ok(Some(forget_dangling(switchboard, integrations)))
}

/// Deleting an integration deletes its switchboard integration (a cascade), which may
/// leave the default or a `next` naming an id that no longer exists. Such a reference
/// names nothing and is read as absent (ids are never reused), so it neither shows nor
/// makes every later change of the switchboard fail its checks.
fn forget_dangling(mut switchboard: Switchboard, mut integrations: Vec<SwitchboardIntegration>) -> (Switchboard, Vec<SwitchboardIntegration>) {
    let ids: Vec<String> = integrations.iter().map(|s| s.id.clone()).collect();
    let exists = |id: &String| ids.contains(id);
    switchboard.default_switchboard_integration_id = switchboard.default_switchboard_integration_id.filter(exists);
    for s in &mut integrations {
        s.next_switchboard_integration_id = s.next_switchboard_integration_id.take().filter(exists);
    }
    (switchboard, integrations)
}

async fn load_tx(c: &mut Tx<'_>, app_id: &str) -> StoreResult<Loaded> {
    assemble(sql::query(LOAD).bind(app_id).fetch_all(&mut *c).await?)
}

/// Locks the app's switchboard row (a no-op update: portable, and on PostgreSQL it holds
/// the row until commit), then loads it; 404 unless it is `switchboard_id`.
async fn lock_switchboard(c: &mut Tx<'_>, app_id: &str, switchboard_id: &str) -> StoreResult<(Switchboard, Vec<SwitchboardIntegration>)> {
    sql::query("UPDATE switchboards SET enabled = enabled WHERE app_id = $1 AND id = $2").bind(app_id).bind(switchboard_id).execute(&mut *c).await?;
    match load_tx(c, app_id).await? {
        Some((sb, all)) if sb.id == switchboard_id => Ok((sb, all)),
        _ => Err(StoreError::not_found(Resource::Switchboard)),
    }
}

/// The integration a switchboard integration links to: (id, type).
async fn resolve_link(c: &mut Tx<'_>, app_id: &str, link: &Link) -> StoreResult<(String, String)> {
    match link {
        Link::Integration(id) => Ok((id.clone(), integration_kind_tx(c, app_id, id).await?)),
        Link::Type(kind) => {
            let rows: Vec<(String,)> =
                sql::query_as("SELECT id FROM integrations WHERE app_id = $1 AND kind = $2 ORDER BY id LIMIT 2").bind(app_id).bind(kind).fetch_all(&mut *c).await?;
            match rows.as_slice() {
                [(id,)] => Ok((id.clone(), kind.clone())),
                [] => Err(DomainError::NotFound(Resource::Integration, format!("The app has no integration of type {kind}")).into()),
                _ => Err(StoreError::rule(format!("The app has several integrations of type {kind}; link one by integrationId"))),
            }
        }
    }
}

async fn write_integration(c: &mut Tx<'_>, s: &SwitchboardIntegration) -> StoreResult<()> {
    sql::query("UPDATE switchboard_integrations SET name = $1, integration_id = $2, body = $3 WHERE id = $4")
        .bind(&s.name)
        .bind(&s.integration_id)
        .bind(to_json(s))
        .bind(&s.id)
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// A new conversation's control: the default's, while the switchboard is enabled.
pub(crate) async fn initial_control(c: &mut Tx<'_>, app_id: &str) -> StoreResult<(ControlState, Control)> {
    let Some((sb, all)) = load_tx(c, app_id).await? else { return Ok(Default::default()) };
    let state = at_activity(&ControlState::default(), &sb, &all);
    let shown = state.resolve(&all);
    Ok((state, shown))
}

/// A conversation's control as a new message finds it, `stored` being what its row holds:
/// default integration assignment if nobody controls it, written back. The caller holds
/// the conversation's row (its sequence bump locked it).
pub(crate) async fn control_at_activity(c: &mut Tx<'_>, app_id: &str, conversation_id: &str, stored: ControlState) -> StoreResult<Control> {
    let Some((sb, all)) = load_tx(c, app_id).await? else { return Ok(Control::default()) };
    let state = at_activity(&stored, &sb, &all);
    if state != stored {
        set_control(c, conversation_id, &state).await?;
    }
    Ok(state.resolve(&all))
}

async fn set_control(c: &mut Tx<'_>, conversation_id: &str, state: &ControlState) -> StoreResult<()> {
    sql::query("UPDATE conversations SET active_switchboard_integration_id = $1, pending_switchboard_integration_id = $2 WHERE id = $3")
        .bind(&state.active)
        .bind(&state.pending)
        .bind(conversation_id)
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// The switchboard events of an action: its success, and its failure when it has one.
fn changed_event(action: &ControlAction, change: ControlChange) -> Event {
    match action {
        ControlAction::Pass { .. } => Event::ControlPassed(change),
        ControlAction::Offer { .. } => Event::ControlOffered(change),
        ControlAction::Accept => Event::ControlAccepted(change),
        ControlAction::Release => Event::ControlReleased(change),
    }
}

fn failed_event(action: &ControlAction, failed: ControlFailed) -> Option<Event> {
    match action {
        ControlAction::Pass { .. } => Some(Event::PassControlFailed(failed)),
        ControlAction::Offer { .. } => Some(Event::OfferControlFailed(failed)),
        ControlAction::Accept => Some(Event::AcceptControlFailed(failed)),
        // The spec has no release failure trigger (and `decide` never fails a release).
        ControlAction::Release => None,
    }
}

impl Store {
    // ---- switchboards ----

    /// Creates the app's switchboard, disabled; an app has one at most (400, as the spec says).
    pub async fn create_switchboard(&self, app_id: &str) -> StoreResult<Switchboard> {
        let app_id = app_id.to_string();
        let only_one = || StoreError::rule("Only one switchboard can be created per app");
        let out = self
            .write(move |c| {
                Box::pin(async move {
                    let app: Option<(String,)> = sql::query_as("SELECT id FROM apps WHERE id = $1").bind(&app_id).fetch_optional(&mut *c).await?;
                    if app.is_none() {
                        return Err(StoreError::not_found(Resource::App));
                    }
                    let existing: Option<(String,)> = sql::query_as("SELECT id FROM switchboards WHERE app_id = $1").bind(&app_id).fetch_optional(&mut *c).await?;
                    if existing.is_some() {
                        return Err(only_one());
                    }
                    let sb = Switchboard { id: new_id(), enabled: false, default_switchboard_integration_id: None };
                    sql::query("INSERT INTO switchboards (id, app_id, enabled, default_switchboard_integration_id, created_at) VALUES ($1, $2, 0, NULL, $3)")
                        .bind(&sb.id)
                        .bind(&app_id)
                        .bind(now_ms())
                        .execute(&mut *c)
                        .await?;
                    Ok(sb)
                })
            })
            .await;
        // Two creations at once: the unique index refuses the second.
        out.map_err(|e| if is_unique_violation(&e) { only_one() } else { e })
    }

    /// The app's switchboards: none or one.
    pub async fn list_switchboards(&self, app_id: &str) -> StoreResult<Vec<Switchboard>> {
        let loaded = assemble(sql::query(LOAD).bind(app_id).fetch_all(self.reader()).await?)?;
        Ok(loaded.map(|(sb, _)| sb).into_iter().collect())
    }

    /// The app's switchboard and its integrations, if it has one.
    pub async fn switchboard(&self, app_id: &str) -> StoreResult<Option<(Switchboard, Vec<SwitchboardIntegration>)>> {
        assemble(sql::query(LOAD).bind(app_id).fetch_all(self.reader()).await?)
    }

    pub async fn update_switchboard(&self, app_id: &str, switchboard_id: &str, patch: SwitchboardPatch) -> StoreResult<Switchboard> {
        let (app_id, switchboard_id) = (app_id.to_string(), switchboard_id.to_string());
        self.write(move |c| {
            Box::pin(async move {
                let (current, all) = lock_switchboard(c, &app_id, &switchboard_id).await?;
                let next = apply_switchboard_update(&current, &patch, &all)?;
                sql::query("UPDATE switchboards SET enabled = $1, default_switchboard_integration_id = $2 WHERE id = $3")
                    .bind(next.enabled)
                    .bind(&next.default_switchboard_integration_id)
                    .bind(&next.id)
                    .execute(&mut *c)
                    .await?;
                Ok(next)
            })
        })
        .await
    }

    /// Deletes the switchboard and its switchboard integrations; the integrations they
    /// linked get every event again. Conversations keep ids that now hold nothing.
    pub async fn delete_switchboard(&self, app_id: &str, switchboard_id: &str) -> StoreResult<()> {
        let (app_id, switchboard_id) = (app_id.to_string(), switchboard_id.to_string());
        self.write(move |c| {
            Box::pin(async move {
                let done = sql::query("DELETE FROM switchboards WHERE app_id = $1 AND id = $2").bind(&app_id).bind(&switchboard_id).execute(&mut *c).await?;
                if done == 0 {
                    return Err(StoreError::not_found(Resource::Switchboard));
                }
                Ok(())
            })
        })
        .await
    }

    // ---- switchboard integrations ----

    pub async fn list_switchboard_integrations(&self, app_id: &str, switchboard_id: &str) -> StoreResult<Vec<SwitchboardIntegration>> {
        match self.switchboard(app_id).await? {
            Some((sb, all)) if sb.id == switchboard_id => Ok(all),
            _ => Err(StoreError::not_found(Resource::Switchboard)),
        }
    }

    pub async fn create_switchboard_integration(&self, app_id: &str, switchboard_id: &str, new: NewSwitchboardIntegration) -> StoreResult<SwitchboardIntegration> {
        let (app_id, switchboard_id) = (app_id.to_string(), switchboard_id.to_string());
        self.write(move |c| {
            Box::pin(async move {
                let (_, mut all) = lock_switchboard(c, &app_id, &switchboard_id).await?;
                if all.len() >= MAX_SWITCHBOARD_INTEGRATIONS {
                    return Err(too_many().into());
                }
                let (integration_id, integration_type) = resolve_link(c, &app_id, &new.link).await?;
                let created = new.build(new_id(), integration_id, integration_type);
                all.push(created.clone());
                check_integrations(&all)?;
                sql::query(
                    "INSERT INTO switchboard_integrations (id, switchboard_id, app_id, integration_id, name, body, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(&created.id)
                .bind(&switchboard_id)
                .bind(&app_id)
                .bind(&created.integration_id)
                .bind(&created.name)
                .bind(to_json(&created))
                .bind(now_ms())
                .execute(&mut *c)
                .await?;
                Ok(created)
            })
        })
        .await
    }

    pub async fn update_switchboard_integration(&self, app_id: &str, switchboard_id: &str, id: &str, patch: SwitchboardIntegrationPatch) -> StoreResult<SwitchboardIntegration> {
        let (app_id, switchboard_id, id) = (app_id.to_string(), switchboard_id.to_string(), id.to_string());
        self.write(move |c| {
            Box::pin(async move {
                let (_, mut all) = lock_switchboard(c, &app_id, &switchboard_id).await?;
                let at = all.iter().position(|s| s.id == id).ok_or_else(|| StoreError::not_found(Resource::SwitchboardIntegration))?;
                let linked = match &patch.link {
                    Some(link) => Some(resolve_link(c, &app_id, link).await?),
                    None => None,
                };
                let updated = patch.apply(&all[at], linked);
                all[at] = updated.clone();
                check_integrations(&all)?;
                write_integration(c, &updated).await?;
                Ok(updated)
            })
        })
        .await
    }

    /// Refused while it is the default or another's `next` (400). Conversations it
    /// controlled go to the default at their next message.
    pub async fn delete_switchboard_integration(&self, app_id: &str, switchboard_id: &str, id: &str) -> StoreResult<()> {
        let (app_id, switchboard_id, id) = (app_id.to_string(), switchboard_id.to_string(), id.to_string());
        self.write(move |c| {
            Box::pin(async move {
                let (sb, all) = lock_switchboard(c, &app_id, &switchboard_id).await?;
                check_delete(&sb, &all, &id)?;
                sql::query("DELETE FROM switchboard_integrations WHERE id = $1").bind(&id).execute(&mut *c).await?;
                Ok(())
            })
        })
        .await
    }

    // ---- control ----

    /// Runs a pass, offer, accept or release on a conversation. `caller_integration` is
    /// the integration whose own credentials the caller used (integration scope), if so.
    /// A refusal for the conversation's state still commits its `switchboard:*:failure`
    /// event, then answers the error.
    pub async fn control_conversation(&self, app_id: &str, conversation_id: &str, request: ControlRequest, caller_integration: Option<String>) -> StoreResult<()> {
        let (app_id, conversation_id) = (app_id.to_string(), conversation_id.to_string());
        // SQLite's one writer already runs writes one at a time; PostgreSQL needs the row lock.
        let lock = if self.dialect() == Dialect::Postgres { " FOR UPDATE" } else { "" };
        let refused = self
            .write(move |c| {
                Box::pin(async move {
                    let row = sql::query(format!(
                        "SELECT kind, body, active_switchboard_integration_id, pending_switchboard_integration_id FROM conversations WHERE app_id = $1 AND id = $2{lock}"
                    ))
                    .bind(&app_id)
                    .bind(&conversation_id)
                    .fetch_optional(&mut *c)
                    .await?
                    .ok_or_else(|| StoreError::not_found(Resource::Conversation))?;
                    let kind: String = row.try_get("kind")?;
                    let kind = ConversationKind::parse(&kind).ok_or_else(|| StoreError::Corrupt(format!("conversation kind {kind}")))?;
                    let details: ConversationDetails = from_json(&row.try_get::<String, _>("body")?)?;
                    let state =
                        ControlState { active: row.try_get("active_switchboard_integration_id")?, pending: row.try_get("pending_switchboard_integration_id")? };

                    let (sb, all) = load_tx(c, &app_id).await?.ok_or_else(|| StoreError::not_found(Resource::Switchboard))?;
                    if !sb.enabled {
                        return Err(StoreError::rule("The app's switchboard is disabled; enable it to change who controls conversations"));
                    }
                    let linked = caller_integration.as_deref().and_then(|i| all.iter().find(|s| s.integration_id == i)).map(|s| s.id.as_str());
                    let actor = if caller_integration.is_some() { Actor::Integration { linked } } else { Actor::Business };
                    let shown = |s: &ControlState| ConversationRef::new(&conversation_id, kind, details.metadata.as_ref()).with_control(s.resolve(&all));

                    match decide(&state, &request.action, &all, actor) {
                        Ok(Decision::Unchanged) => Ok(None),
                        Ok(Decision::Changed(next)) => {
                            set_control(c, &conversation_id, &next).await?;
                            let change = ControlChange { conversation: shown(&next), metadata: request.metadata.clone() };
                            events::record(c, &app_id, &changed_event(&request.action, change)).await?;
                            Ok(None)
                        }
                        Err(Refusal::Forbidden(why)) => Err(DomainError::Forbidden(why.to_string()).into()),
                        Err(Refusal::Failed(failure)) => {
                            let failed = ControlFailed {
                                conversation: shown(&state),
                                error: ControlError { code: failure.code.as_str().to_string(), message: failure.message.clone() },
                                metadata: request.metadata.clone(),
                            };
                            if let Some(event) = failed_event(&request.action, failed) {
                                events::record(c, &app_id, &event).await?;
                            }
                            Ok(Some(failure))
                        }
                    }
                })
            })
            .await?;
        match refused {
            Some(failure) => Err(failure.to_error().into()),
            None => Ok(()),
        }
    }
}

/// The webhook router's view of an app's switchboard: `None` when it has none or it is
/// disabled (then nobody is gated).
pub(crate) async fn routing(store: &Store, app_id: &str) -> StoreResult<Option<Routing>> {
    Ok(store.switchboard(app_id).await?.and_then(|(sb, all)| Routing::of(&sb, &all)))
}
