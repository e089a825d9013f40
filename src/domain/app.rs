//! Apps and their settings.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::error::{DomainError, DomainResult};
use super::metadata::check_metadata;
use super::validate::{from_value, Patch, Problems};

/// Every field of the spec's `appSettings`, with the values a new app starts with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_retention_seconds: Option<u64>,
    #[serde(default = "yes")]
    pub mask_credit_card_numbers: bool,
    #[serde(default)]
    pub use_animal_names: bool,
    #[serde(default)]
    pub echo_postback: bool,
    #[serde(default)]
    pub ignore_auto_conversation_start: bool,
    #[serde(default)]
    pub multi_convo_enabled: bool,
    #[serde(default)]
    pub app_localization_enabled: bool,
    #[serde(default)]
    pub end_session_enabled: bool,
    #[serde(default)]
    pub disable_conversation_reopen: bool,
}

fn yes() -> bool {
    true
}

impl Default for AppSettings {
    fn default() -> Self {
        serde_json::from_value(Value::Object(Map::new())).expect("defaults deserialize")
    }
}

/// Settings that cannot mean anything on a self-hosted server, and why: setting one to
/// `true` is refused (400) rather than stored and ignored. `false` is what they are.
pub const UNSUPPORTED_SETTINGS: &[(&str, &str)] = &[
    ("ignoreAutoConversationStart", "it concerns events from third-party channels, and Sunbeam connects to none (an SDK starting a conversation always counts)"),
    ("appLocalizationEnabled", "Sunbeam authors no messages of its own to localize"),
    ("endSessionEnabled", "the SDKs' end-session flow is not implemented, so no conversation is ever ended"),
    ("disableConversationReopen", "no conversation is ever ended here, so there is nothing to reopen"),
];

/// A settings object as sent by a client: every field optional, types checked.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SettingsPatch {
    conversation_retention_seconds: Option<i64>,
    mask_credit_card_numbers: Option<bool>,
    use_animal_names: Option<bool>,
    echo_postback: Option<bool>,
    ignore_auto_conversation_start: Option<bool>,
    multi_convo_enabled: Option<bool>,
    app_localization_enabled: Option<bool>,
    end_session_enabled: Option<bool>,
    disable_conversation_reopen: Option<bool>,
}

impl AppSettings {
    /// Applies a patch, enforcing the rules between settings.
    pub fn apply(&self, patch: &SettingsPatch, problems: &mut Problems) -> AppSettings {
        let mut s = self.clone();
        if let Some(n) = patch.conversation_retention_seconds {
            if n < 0 {
                problems.push("settings.conversationRetentionSeconds must be greater than or equal to 0");
            } else {
                s.conversation_retention_seconds = Some(n as u64);
            }
        }
        macro_rules! set {
            ($($f:ident),*) => { $( if let Some(v) = patch.$f { s.$f = v; } )* };
        }
        let asked = [
            patch.ignore_auto_conversation_start,
            patch.app_localization_enabled,
            patch.end_session_enabled,
            patch.disable_conversation_reopen,
        ];
        for (on, (name, why)) in asked.iter().zip(UNSUPPORTED_SETTINGS) {
            if *on == Some(true) {
                problems.push(format!("settings.{name} is not supported: {why}"));
            }
        }
        set!(mask_credit_card_numbers, use_animal_names, echo_postback, ignore_auto_conversation_start, app_localization_enabled, end_session_enabled, disable_conversation_reopen);
        if let Some(v) = patch.multi_convo_enabled {
            if self.multi_convo_enabled && !v {
                problems.push("settings.multiConvoEnabled cannot be disabled once enabled");
            }
            s.multi_convo_enabled = v || self.multi_convo_enabled;
        }
        if s.end_session_enabled && !s.multi_convo_enabled {
            problems.push("settings.endSessionEnabled requires settings.multiConvoEnabled");
        }
        if s.disable_conversation_reopen && !s.multi_convo_enabled {
            problems.push("settings.disableConversationReopen requires settings.multiConvoEnabled");
        }
        s
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct App {
    pub id: String,
    pub display_name: String,
    pub settings: AppSettings,
    pub metadata: Option<Map<String, Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AppBody {
    #[serde(default)]
    display_name: Patch<String>,
    #[serde(default)]
    settings: Option<SettingsPatch>,
    #[serde(default)]
    metadata: Patch<Map<String, Value>>,
}

fn check_common(body: &AppBody, problems: &mut Problems) {
    match &body.display_name {
        Patch::Value(name) => problems.length("displayName", name, 1, 100),
        Patch::Null => problems.push("displayName must be a string"),
        Patch::Missing => {}
    }
    if let Patch::Value(m) = &body.metadata {
        check_metadata(problems, "metadata", "App", m);
    }
}

/// Builds a new app from a CreateApp body.
pub fn new_app(id: String, body: Value) -> DomainResult<App> {
    let body: AppBody = from_value(body)?;
    let mut problems = Problems::new();
    if body.display_name.is_missing() {
        problems.push("should have required property 'displayName'");
    }
    check_common(&body, &mut problems);
    let settings = AppSettings::default().apply(&body.settings.unwrap_or_default(), &mut problems);
    problems.finish()?;
    Ok(App {
        id,
        display_name: body.display_name.as_option().cloned().unwrap_or_default(),
        settings,
        metadata: body.metadata.as_option().cloned(),
    })
}

/// An UpdateApp body, typed. Its values are checked when it is applied, to the app as
/// stored inside the transaction that writes the result: some settings rules depend on
/// the current settings (`multiConvoEnabled` cannot be turned off), and all of a body's
/// problems are reported together.
#[derive(Debug)]
pub struct AppPatch(AppBody);

impl AppPatch {
    pub fn parse(body: Value) -> DomainResult<AppPatch> {
        Ok(AppPatch(from_value(body)?))
    }

    pub fn apply(&self, app: &App) -> DomainResult<App> {
        let body = &self.0;
        let mut problems = Problems::new();
        check_common(body, &mut problems);
        let mut next = app.clone();
        if let Some(patch) = &body.settings {
            next.settings = app.settings.apply(patch, &mut problems);
        }
        problems.finish()?;
        if let Patch::Value(name) = &body.display_name {
            next.display_name = name.clone();
        }
        match &body.metadata {
            Patch::Value(m) => next.metadata = Some(m.clone()),
            Patch::Null => next.metadata = None,
            Patch::Missing => {}
        }
        Ok(next)
    }
}

/// Applies an UpdateApp body to an existing app (see [`AppPatch`]).
pub fn update_app(app: &App, body: Value) -> DomainResult<App> {
    AppPatch::parse(body)?.apply(app)
}

/// A key's display name (CreateAppKey, CreateIntegrationKey).
pub fn key_display_name(body: Value) -> DomainResult<String> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct KeyBody {
        display_name: Option<String>,
    }
    let body: KeyBody = from_value(body)?;
    let name = body.display_name.ok_or_else(|| DomainError::invalid("should have required property 'displayName'"))?;
    let mut p = Problems::new();
    p.length("displayName", &name, 1, 100);
    p.finish()?;
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn new_app_has_default_settings() {
        let app = new_app("a".into(), json!({"displayName": "Shop"})).unwrap();
        assert!(app.settings.mask_credit_card_numbers);
        assert!(!app.settings.multi_convo_enabled);
        let wire = serde_json::to_value(&app).unwrap();
        assert_eq!(wire["settings"]["useAnimalNames"], json!(false));
    }

    #[test]
    fn create_requires_display_name_and_checks_types() {
        assert!(new_app("a".into(), json!({})).is_err());
        assert!(new_app("a".into(), json!({"displayName": 5})).is_err());
        assert!(new_app("a".into(), json!({"displayName": "x", "settings": {"echoPostback": "yes"}})).is_err());
        assert!(new_app("a".into(), json!({"displayName": "x", "settings": {"bogus": true}})).is_err());
    }

    #[test]
    fn multi_convo_is_irreversible() {
        let app = new_app("a".into(), json!({"displayName": "Shop", "settings": {"multiConvoEnabled": true}})).unwrap();
        assert!(update_app(&app, json!({"settings": {"multiConvoEnabled": false}})).is_err());
        assert!(update_app(&app, json!({"settings": {"multiConvoEnabled": true}})).is_ok());
    }

    #[test]
    fn settings_that_mean_nothing_here_are_refused_when_turned_on() {
        let app = new_app("a".into(), json!({"displayName": "Shop", "settings": {"multiConvoEnabled": true}})).unwrap();
        for (name, _) in UNSUPPORTED_SETTINGS {
            let err = update_app(&app, json!({"settings": {*name: true}})).unwrap_err();
            assert!(err.to_string().contains(&format!("settings.{name} is not supported")), "{err}");
            assert!(update_app(&app, json!({"settings": {*name: false}})).is_ok());
        }
        assert!(update_app(&app, json!({"settings": {"echoPostback": true, "conversationRetentionSeconds": 60}})).is_ok());
    }

    #[test]
    fn update_changes_only_what_is_given() {
        let app = new_app("a".into(), json!({"displayName": "Shop", "metadata": {"k": "v"}})).unwrap();
        let next = update_app(&app, json!({"settings": {"useAnimalNames": true}})).unwrap();
        assert_eq!(next.display_name, "Shop");
        assert_eq!(next.metadata, app.metadata);
        assert!(next.settings.use_animal_names);
        let cleared = update_app(&app, json!({"metadata": null})).unwrap();
        assert_eq!(cleared.metadata, None);
    }
}
