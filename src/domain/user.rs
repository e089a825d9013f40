//! Users: anonymous (no `externalId`) or identified (an `externalId` unique per app).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::error::DomainResult;
use super::metadata::check_metadata;
use super::time::{format_ms, parse_iso};
use super::validate::{from_value, Patch, Problems};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub surname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avatar_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Identity {
    #[serde(rename = "type")]
    pub kind: String,
    pub value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification: Option<String>,
}

/// A user as stored and as shown (the spec's `user`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: String,
    pub external_id: Option<String>,
    #[serde(default)]
    pub zendesk_id: Option<String>,
    #[serde(default)]
    pub brand_id: Option<String>,
    pub signed_up_at: String,
    pub to_be_retained: bool,
    pub profile: Profile,
    pub metadata: Map<String, Value>,
    pub identities: Vec<Identity>,
    pub authenticated: bool,
}

impl User {
    /// The spec's `userTruncated`, as webhook payloads carry it.
    pub fn truncated(&self) -> Value {
        let mut v = serde_json::json!({
            "id": self.id,
            "authenticated": self.authenticated,
            "externalId": self.external_id,
        });
        if let Some(b) = &self.brand_id {
            v["brandId"] = Value::String(b.clone());
        }
        v
    }

    /// A name to show for the user: profile names, else nothing.
    pub fn display_name(&self) -> Option<String> {
        let parts: Vec<&str> = [self.profile.given_name.as_deref(), self.profile.surname.as_deref()].into_iter().flatten().collect();
        if parts.is_empty() { None } else { Some(parts.join(" ")) }
    }

    pub fn emails(&self) -> impl Iterator<Item = &str> {
        self.identities.iter().filter(|i| i.kind == "email").map(|i| i.value.as_str())
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ProfilePatch {
    #[serde(default)]
    given_name: Patch<String>,
    #[serde(default)]
    surname: Patch<String>,
    #[serde(default)]
    email: Patch<String>,
    #[serde(default)]
    avatar_url: Patch<String>,
    #[serde(default)]
    locale: Patch<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct UserBody {
    #[serde(default)]
    external_id: Patch<String>,
    #[serde(default)]
    brand_id: Patch<String>,
    #[serde(default)]
    signed_up_at: Option<String>,
    #[serde(default)]
    to_be_retained: Option<bool>,
    #[serde(default)]
    profile: Option<ProfilePatch>,
    #[serde(default)]
    metadata: Patch<Map<String, Value>>,
    /// Not in the spec's bodies (it is read-only there, filled by the hosted identity
    /// features); Sunbeam accepts it so `filter[identities.email]` has something to find.
    #[serde(default)]
    identities: Option<Vec<Identity>>,
}

fn check_profile(patch: &ProfilePatch, p: &mut Problems) {
    if let Patch::Value(v) = &patch.given_name {
        p.length("profile.givenName", v, 1, 128);
    }
    if let Patch::Value(v) = &patch.surname {
        p.length("profile.surname", v, 1, 128);
    }
    if let Patch::Value(v) = &patch.email {
        p.email("profile.email", v);
    }
    if let Patch::Value(v) = &patch.avatar_url {
        p.uri("profile.avatarUrl", v, 2048);
    }
    if let Patch::Value(v) = &patch.locale {
        p.length("profile.locale", v, 1, 64);
    }
}

fn set_profile(profile: &mut Profile, patch: &ProfilePatch) {
    fn set(slot: &mut Option<String>, v: &Patch<String>) {
        match v {
            Patch::Value(s) => *slot = Some(s.clone()),
            Patch::Null => *slot = None,
            Patch::Missing => {}
        }
    }
    set(&mut profile.given_name, &patch.given_name);
    set(&mut profile.surname, &patch.surname);
    set(&mut profile.email, &patch.email);
    set(&mut profile.avatar_url, &patch.avatar_url);
    set(&mut profile.locale, &patch.locale);
}

fn check_identities(identities: &[Identity], p: &mut Problems) {
    for (i, ident) in identities.iter().enumerate() {
        p.length(&format!("identities[{i}].type"), &ident.kind, 1, 64);
        p.length(&format!("identities[{i}].value"), &ident.value, 1, 128);
        if ident.kind == "email" {
            p.email(&format!("identities[{i}].value"), &ident.value);
        }
    }
}

fn signed_up_at(value: &str, p: &mut Problems) -> Option<String> {
    match parse_iso(value) {
        Some(ms) => Some(format_ms(ms)),
        None => {
            p.push("signedUpAt must be an ISO 8601 datetime (YYYY-MM-DDThh:mm:ss.sssZ)");
            None
        }
    }
}

/// Builds a user from a CreateUser body. `use_animal_names` is the app's setting.
pub fn new_user(id: String, now_ms: i64, body: Value, use_animal_names: bool) -> DomainResult<User> {
    let body: UserBody = from_value(body)?;
    let mut p = Problems::new();
    let external_id = match &body.external_id {
        Patch::Value(e) => {
            p.length("externalId", e, 1, 1024);
            Some(e.clone())
        }
        _ => None,
    };
    let brand_id = match &body.brand_id {
        Patch::Value(b) => {
            p.length("brandId", b, 1, 24);
            Some(b.clone())
        }
        _ => None,
    };
    let mut profile = Profile::default();
    if let Some(patch) = &body.profile {
        check_profile(patch, &mut p);
        set_profile(&mut profile, patch);
    }
    let metadata = body.metadata.as_option().cloned().unwrap_or_default();
    check_metadata(&mut p, "metadata", "User", &metadata);
    let identities = body.identities.unwrap_or_default();
    check_identities(&identities, &mut p);
    let signed_up = body.signed_up_at.as_deref().and_then(|s| signed_up_at(s, &mut p)).unwrap_or_else(|| format_ms(now_ms));
    p.finish()?;
    if use_animal_names && profile.given_name.is_none() && profile.surname.is_none() {
        let (adjective, animal) = super::animals::name_for(&id);
        profile.given_name = Some(adjective.to_string());
        profile.surname = Some(animal.to_string());
    }
    Ok(User {
        id,
        external_id,
        zendesk_id: None,
        brand_id,
        signed_up_at: signed_up,
        to_be_retained: body.to_be_retained.unwrap_or(false),
        profile,
        metadata,
        identities,
        authenticated: false,
    })
}

/// An UpdateUser body, parsed and checked. It names only the fields it changes; the
/// store applies it to the user as stored, inside the transaction that writes the
/// result, so concurrent updates of one user each keep the other's change.
#[derive(Debug)]
pub struct UserPatch {
    profile: Option<ProfilePatch>,
    metadata: Patch<Map<String, Value>>,
    identities: Option<Vec<Identity>>,
    /// Normalised to the stored form.
    signed_up_at: Option<String>,
    to_be_retained: Option<bool>,
}

impl UserPatch {
    /// `externalId` cannot be changed here (the spec's `userUpdateBody` has none);
    /// sending one is an error rather than silently ignored.
    pub fn parse(body: Value) -> DomainResult<UserPatch> {
        let body: UserBody = from_value(body)?;
        let mut p = Problems::new();
        if !body.external_id.is_missing() {
            p.push("externalId cannot be changed with UpdateUser");
        }
        if !body.brand_id.is_missing() {
            p.push("brandId cannot be changed with UpdateUser");
        }
        if let Some(patch) = &body.profile {
            check_profile(patch, &mut p);
        }
        if let Patch::Value(m) = &body.metadata {
            check_metadata(&mut p, "metadata", "User", m);
        }
        if let Some(identities) = &body.identities {
            check_identities(identities, &mut p);
        }
        let signed_up_at = body.signed_up_at.as_deref().and_then(|s| signed_up_at(s, &mut p));
        p.finish()?;
        Ok(UserPatch { profile: body.profile, metadata: body.metadata, identities: body.identities, signed_up_at, to_be_retained: body.to_be_retained })
    }

    pub fn apply(&self, user: &User) -> User {
        let mut next = user.clone();
        if let Some(patch) = &self.profile {
            set_profile(&mut next.profile, patch);
        }
        match &self.metadata {
            Patch::Value(m) => next.metadata = m.clone(),
            Patch::Null => next.metadata = Map::new(),
            Patch::Missing => {}
        }
        if let Some(identities) = &self.identities {
            next.identities = identities.clone();
        }
        if let Some(s) = &self.signed_up_at {
            next.signed_up_at = s.clone();
        }
        if let Some(r) = self.to_be_retained {
            next.to_be_retained = r;
        }
        next
    }
}

/// Applies an UpdateUser body (see [`UserPatch`]).
pub fn update_user(user: &User, body: Value) -> DomainResult<User> {
    Ok(UserPatch::parse(body)?.apply(user))
}

/// DeleteUserPersonalInformation: scrub what identifies the person, keep the record.
pub fn scrub_personal_information(user: &User) -> User {
    User { profile: Profile::default(), metadata: Map::new(), identities: Vec::new(), ..user.clone() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn anonymous_user_from_empty_body() {
        let u = new_user("u".into(), 0, json!({}), false).unwrap();
        assert_eq!(u.external_id, None);
        assert_eq!(u.signed_up_at, "1970-01-01T00:00:00.000Z");
        let wire = serde_json::to_value(&u).unwrap();
        assert_eq!(wire["profile"], json!({}));
        assert_eq!(wire["metadata"], json!({}));
    }

    #[test]
    fn profile_is_validated_field_by_field() {
        let err = new_user("u".into(), 0, json!({"profile": {"email": "x", "avatarUrl": "nope", "givenName": ""}}), false).unwrap_err();
        match err {
            super::super::error::DomainError::Invalid(v) => assert_eq!(v.len(), 3, "{v:?}"),
            other => panic!("{other:?}"),
        }
        assert!(new_user("u".into(), 0, json!({"externalId": ""}), false).is_err());
        assert!(new_user("u".into(), 0, json!({"externalId": 5}), false).is_err());
        assert!(new_user("u".into(), 0, json!({"signedUpAt": "last week"}), false).is_err());
    }

    #[test]
    fn animal_names_are_stable_and_only_for_unnamed_users() {
        let a = new_user("5e4af71a81966cfff3ef6550".into(), 0, json!({}), true).unwrap();
        let b = new_user("5e4af71a81966cfff3ef6550".into(), 0, json!({}), true).unwrap();
        assert!(a.profile.given_name.is_some());
        assert_eq!(a.profile, b.profile);
        let named = new_user("u".into(), 0, json!({"profile": {"givenName": "Ann"}}), true).unwrap();
        assert_eq!(named.profile.surname, None);
    }

    #[test]
    fn update_merges_profile_and_refuses_external_id() {
        let u = new_user("u".into(), 0, json!({"profile": {"givenName": "Ann", "surname": "Lee"}}), false).unwrap();
        let v = update_user(&u, json!({"profile": {"surname": null, "locale": "fr-CA"}})).unwrap();
        assert_eq!(v.profile.given_name.as_deref(), Some("Ann"));
        assert_eq!(v.profile.surname, None);
        assert_eq!(v.profile.locale.as_deref(), Some("fr-CA"));
        assert!(update_user(&u, json!({"externalId": "x"})).is_err());
    }

    #[test]
    fn a_patch_is_checked_when_parsed_and_changes_only_what_it_names() {
        assert!(UserPatch::parse(json!({"profile": {"email": "x"}})).is_err());
        assert!(UserPatch::parse(json!({"signedUpAt": "last week"})).is_err());
        let patch = UserPatch::parse(json!({"profile": {"givenName": "Bo"}, "signedUpAt": "2020-01-02T03:04:05Z"})).unwrap();
        // Applied to a user changed since the body was parsed, it keeps that change.
        let u = new_user("u".into(), 0, json!({"profile": {"surname": "Lee"}, "metadata": {"a": 1}}), false).unwrap();
        let v = patch.apply(&u);
        assert_eq!((v.profile.given_name.as_deref(), v.profile.surname.as_deref()), (Some("Bo"), Some("Lee")));
        assert_eq!((v.metadata, v.signed_up_at.as_str()), (u.metadata, "2020-01-02T03:04:05.000Z"));
    }

    #[test]
    fn scrubbing_keeps_identity_of_record() {
        let u = new_user("u".into(), 0, json!({"externalId": "e", "profile": {"givenName": "Ann"}, "metadata": {"a": 1}, "identities": [{"type": "email", "value": "a@b.co"}]}), false).unwrap();
        let s = scrub_personal_information(&u);
        assert_eq!((s.id.as_str(), s.external_id.as_deref()), ("u", Some("e")));
        assert!(s.metadata.is_empty() && s.identities.is_empty() && s.profile == Profile::default());
    }
}
