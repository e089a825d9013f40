//! Who is calling, and what they may reach. Parsing and verifying credentials is pure
//! computation; looking the key up is the caller's job.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::error::DomainError;

/// The scopes an operation may accept (the spec's `security` lists).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Account,
    App,
    Integration,
}

pub const ACCOUNT: &[Scope] = &[Scope::Account];
pub const ACCOUNT_APP: &[Scope] = &[Scope::Account, Scope::App];
pub const ACCOUNT_APP_INTEGRATION: &[Scope] = &[Scope::Account, Scope::App, Scope::Integration];
pub const APP_INTEGRATION: &[Scope] = &[Scope::App, Scope::Integration];

/// What a stored key grants; decided by its owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyOwner {
    Account,
    App { app_id: String },
    Integration { app_id: String, integration_id: String },
}

impl KeyOwner {
    pub fn scope(&self) -> Scope {
        match self {
            KeyOwner::Account => Scope::Account,
            KeyOwner::App { .. } => Scope::App,
            KeyOwner::Integration { .. } => Scope::Integration,
        }
    }
}

/// A key as the authenticator needs it: its secret in the clear.
#[derive(Debug, Clone)]
pub struct KeyGrant {
    pub key_id: String,
    pub secret: String,
    pub owner: KeyOwner,
}

/// An authenticated caller of the business API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub key_id: String,
    pub owner: KeyOwner,
}

impl Principal {
    /// May this caller use an operation accepting `allowed` scopes on app `app_id`?
    pub fn authorize_app(&self, app_id: &str, allowed: &[Scope]) -> Result<(), DomainError> {
        if !allowed.contains(&self.owner.scope()) {
            return Err(DomainError::Forbidden("The credentials used do not have the scope required for this operation".into()));
        }
        match &self.owner {
            KeyOwner::Account => Ok(()),
            KeyOwner::App { app_id: own } | KeyOwner::Integration { app_id: own, .. } if own == app_id => Ok(()),
            _ => Err(DomainError::Forbidden("The credentials used do not grant access to this app".into())),
        }
    }

    /// For account-level operations (no app in the path).
    pub fn authorize_account(&self) -> Result<(), DomainError> {
        match self.owner {
            KeyOwner::Account => Ok(()),
            _ => Err(DomainError::Forbidden("This operation requires account scope".into())),
        }
    }

    pub fn integration_id(&self) -> Option<&str> {
        match &self.owner {
            KeyOwner::Integration { integration_id, .. } => Some(integration_id),
            _ => None,
        }
    }
}

/// An HS256 JWT whose header has been read but whose signature is not yet checked: the
/// token and the key (`kid`) it names, which the caller looks up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Jwt {
    pub token: String,
    pub key_id: String,
}

impl Jwt {
    /// Reads a compact JWT's header. The declared algorithm must be HS256, so that a token
    /// cannot pick `none` or an algorithm we would verify differently; the key id is
    /// required, since it names the secret to verify with.
    pub fn parse(token: &str) -> Result<Jwt, DomainError> {
        let token = token.trim();
        let header = jsonwebtoken::decode_header(token).map_err(|_| unauthorized("Invalid JWT header: only HS256 signed tokens are accepted"))?;
        if header.alg != Algorithm::HS256 {
            return Err(unauthorized("Invalid JWT header: only HS256 signed tokens are accepted"));
        }
        let key_id = header.kid.filter(|k| !k.is_empty()).ok_or_else(|| unauthorized("Invalid JWT header: missing key id (kid)"))?;
        if key_id.contains('\0') {
            return Err(unauthorized("Invalid JWT header: unknown key id (kid)"));
        }
        Ok(Jwt { token: token.to_string(), key_id })
    }
}

/// Credentials as presented in the `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    Basic { key_id: String, secret: String },
    Bearer(Jwt),
}

fn unauthorized(msg: &str) -> DomainError {
    DomainError::Unauthorized(msg.to_string())
}

impl Credentials {
    /// Parses an `Authorization` header value.
    pub fn parse(header: &str) -> Result<Credentials, DomainError> {
        let header = header.trim();
        let (kind, rest) = header.split_once(' ').ok_or_else(|| unauthorized("Invalid authorization header"))?;
        let rest = rest.trim();
        if kind.eq_ignore_ascii_case("basic") {
            let decoded = B64.decode(rest).map_err(|_| unauthorized("Invalid basic authorization header"))?;
            let decoded = String::from_utf8(decoded).map_err(|_| unauthorized("Invalid basic authorization header"))?;
            let (key_id, secret) = decoded.split_once(':').ok_or_else(|| unauthorized("Invalid basic authorization header"))?;
            // NUL is not text (`validate::NUL_TEXT`): no key id or secret holds it.
            if key_id.is_empty() || secret.is_empty() || decoded.contains('\0') {
                return Err(unauthorized("Invalid basic authorization header"));
            }
            Ok(Credentials::Basic { key_id: key_id.to_string(), secret: secret.to_string() })
        } else if kind.eq_ignore_ascii_case("bearer") {
            Jwt::parse(rest).map(Credentials::Bearer)
        } else {
            Err(unauthorized("Unsupported authorization scheme"))
        }
    }

    pub fn key_id(&self) -> &str {
        match self {
            Credentials::Basic { key_id, .. } | Credentials::Bearer(Jwt { key_id, .. }) => key_id,
        }
    }
}

/// The claims we read from a JWT. Everything else in it is ignored; a claim of the wrong
/// type (a numeric `external_id`) makes the token invalid, as on the hosted service.
#[derive(Debug, Deserialize)]
struct Claims {
    scope: Option<String>,
    external_id: Option<String>,
    #[serde(rename = "userId")]
    user_id: Option<String>,
}

/// What a verified token's `scope` claims it is.
enum Claimed {
    Business(Scope),
    /// `scope: "user"` with `external_id`, or the legacy `"appUser"` with `userId` (or
    /// `external_id`): the external id, when the token names a non-empty one.
    EndUser(Option<String>),
    /// No scope, or one we do not know.
    Unknown,
}

impl Claims {
    fn claimed(&self) -> Claimed {
        let nonempty = |v: &Option<String>| v.clone().filter(|e| !e.is_empty());
        match self.scope.as_deref() {
            Some("account") => Claimed::Business(Scope::Account),
            Some("app") => Claimed::Business(Scope::App),
            Some("integration") => Claimed::Business(Scope::Integration),
            Some("user") => Claimed::EndUser(nonempty(&self.external_id)),
            Some("appUser") => Claimed::EndUser(nonempty(&self.user_id).or_else(|| nonempty(&self.external_id))),
            _ => Claimed::Unknown,
        }
    }
}

/// Checks an HS256 token's signature (and `exp` and `nbf`, when present) with its key's
/// secret.
fn decode_claims(token: &str, secret: &str) -> Result<Claims, EndUserRefusal> {
    let mut validation = Validation::new(Algorithm::HS256);
    // The hosted service does not require `exp`; when present it is enforced, and so is
    // `nbf`: a token is not valid before the time it names (RFC 7519 §4.1.5).
    validation.required_spec_claims.clear();
    validation.validate_exp = true;
    validation.validate_nbf = true;
    validation.leeway = 0;
    validation.validate_aud = false;
    jsonwebtoken::decode::<Claims>(token, &DecodingKey::from_secret(secret.as_bytes()), &validation)
        .map(|d| d.claims)
        .map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::ExpiredSignature => EndUserRefusal::Expired,
            jsonwebtoken::errors::ErrorKind::ImmatureSignature => EndUserRefusal::NotYetValid,
            jsonwebtoken::errors::ErrorKind::InvalidSignature => EndUserRefusal::BadSignature,
            _ => EndUserRefusal::Invalid,
        })
}

/// Authenticates business-API credentials against the key they name.
pub fn authenticate(credentials: &Credentials, grant: &KeyGrant) -> Result<Principal, DomainError> {
    let principal = || Principal { key_id: grant.key_id.clone(), owner: grant.owner.clone() };
    match credentials {
        Credentials::Basic { secret, .. } => {
            if bool::from(secret.as_bytes().ct_eq(grant.secret.as_bytes())) {
                Ok(principal())
            } else {
                Err(unauthorized("Invalid credentials"))
            }
        }
        Credentials::Bearer(jwt) => {
            let claims = decode_claims(&jwt.token, &grant.secret).map_err(|r| unauthorized(&r.to_string()))?;
            match claims.claimed() {
                Claimed::Business(scope) if scope == grant.owner.scope() => Ok(principal()),
                Claimed::Business(_) => Err(unauthorized("Invalid JWT: the scope claimed is not the scope of its key")),
                Claimed::EndUser(_) => Err(unauthorized("User tokens cannot be used with the v2 API")),
                Claimed::Unknown if claims.scope.is_none() => Err(unauthorized("Invalid JWT: missing scope claim")),
                Claimed::Unknown => Err(unauthorized("Invalid JWT: unknown scope")),
            }
        }
    }
}

/// An end user proven by a user JWT: the external id the business gave them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedUser {
    pub external_id: String,
}

/// Why a user JWT proves nobody. Each caller turns it into its own wire error (the SDK
/// API's error body, a Bayeux subscribe error); the text is safe to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EndUserRefusal {
    /// Not a token we can read: wrong algorithm, malformed, claims of the wrong type, or
    /// not for the key it was checked with.
    #[error("Invalid JWT")]
    Invalid,
    #[error("Invalid JWT signature")]
    BadSignature,
    #[error("The JWT has expired")]
    Expired,
    /// Its `nbf` (not before) is still in the future.
    #[error("The JWT is not valid yet")]
    NotYetValid,
    /// Authentic, but signed by an account or integration key: only app keys sign user tokens.
    #[error("Invalid JWT: user tokens are signed with an app key")]
    NotAnAppKey,
    /// Authentic, but signed by a key of another app.
    #[error("Invalid JWT: the key does not belong to this app")]
    OtherApp,
    /// Authentic, but its scope is not an end user's (a business scope, an unknown or no scope).
    #[error("Invalid scope")]
    NotUserScope,
    /// A user scope without the external id it must name.
    #[error("Invalid JWT: a user token needs external_id")]
    MissingExternalId,
}

/// The one check of an end-user credential, shared by the SDK API and the realtime
/// subscribe: `jwt` (already looked up: `grant` is the key its `kid` names) must prove a
/// user of app `app_id`.
///
/// The rule, as on the hosted service: user JWTs are signed with an **app key of that
/// app** (sdk-protocol §3 "Verify HS256 against the key whose id is `kid`"; the hosted
/// docs: "JWTs are signed with an app API key with a scope of appUser"). An account key
/// or an integration key never signs a user token, even though an account key reaches
/// every app on the business API: a user token goes to browsers, and a leaked one must
/// not be mintable from a key that was meant to stay on a server for all apps. Scope
/// `user` names the user in `external_id`, the legacy `appUser` in `userId`.
///
/// The signature is checked first, so that a forged token learns nothing about the key
/// it names; only an authentic token is told it belongs to another app or scope.
pub fn verify_end_user(jwt: &Jwt, grant: &KeyGrant, app_id: &str) -> Result<VerifiedUser, EndUserRefusal> {
    if jwt.key_id != grant.key_id {
        return Err(EndUserRefusal::Invalid);
    }
    let claims = decode_claims(&jwt.token, &grant.secret)?;
    match &grant.owner {
        KeyOwner::App { app_id: own } if own == app_id => {}
        KeyOwner::App { .. } => return Err(EndUserRefusal::OtherApp),
        KeyOwner::Account | KeyOwner::Integration { .. } => return Err(EndUserRefusal::NotAnAppKey),
    }
    match claims.claimed() {
        Claimed::EndUser(Some(external_id)) => Ok(VerifiedUser { external_id }),
        Claimed::EndUser(None) => Err(EndUserRefusal::MissingExternalId),
        Claimed::Business(_) | Claimed::Unknown => Err(EndUserRefusal::NotUserScope),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{encode, EncodingKey, Header};
    use serde_json::json;

    fn app_grant() -> KeyGrant {
        KeyGrant { key_id: "app_1".into(), secret: "sekrit".into(), owner: KeyOwner::App { app_id: "a1".into() } }
    }

    fn jwt(claims: serde_json::Value, kid: &str, secret: &str) -> String {
        let mut h = Header::new(Algorithm::HS256);
        h.kid = Some(kid.into());
        encode(&h, &claims, &EncodingKey::from_secret(secret.as_bytes())).unwrap()
    }

    #[test]
    fn basic_with_the_right_secret_authenticates() {
        let c = Credentials::parse(&format!("Basic {}", B64.encode("app_1:sekrit"))).unwrap();
        assert_eq!(authenticate(&c, &app_grant()).unwrap().owner, KeyOwner::App { app_id: "a1".into() });
        let c = Credentials::parse(&format!("Basic {}", B64.encode("app_1:wrong"))).unwrap();
        assert!(authenticate(&c, &app_grant()).is_err());
    }

    #[test]
    fn jwt_scope_must_match_the_key() {
        let t = jwt(json!({"scope": "app"}), "app_1", "sekrit");
        let c = Credentials::parse(&format!("Bearer {t}")).unwrap();
        assert!(authenticate(&c, &app_grant()).is_ok());
        let t = jwt(json!({"scope": "account"}), "app_1", "sekrit");
        let c = Credentials::parse(&format!("Bearer {t}")).unwrap();
        assert!(authenticate(&c, &app_grant()).is_err());
    }

    #[test]
    fn user_tokens_are_not_business_credentials() {
        for claims in [json!({"scope": "user", "external_id": "u1"}), json!({"scope": "appUser", "userId": "u2"})] {
            let t = jwt(claims, "app_1", "sekrit");
            let c = Credentials::parse(&format!("Bearer {t}")).unwrap();
            assert_eq!(authenticate(&c, &app_grant()), Err(unauthorized("User tokens cannot be used with the v2 API")));
        }
    }

    /// What [`verify_end_user`] accepts and refuses, for a request on app `a1`.
    #[test]
    fn end_user_tokens_are_user_scoped_and_signed_by_an_app_key_of_that_app() {
        use EndUserRefusal::*;
        let app_key = KeyOwner::App { app_id: "a1".into() };
        let other_app_key = KeyOwner::App { app_id: "a2".into() };
        let integration_key = KeyOwner::Integration { app_id: "a1".into(), integration_id: "i1".into() };
        let user = |external_id: &str| json!({"scope": "user", "external_id": external_id});
        let hs512 = {
            let mut h = Header::new(Algorithm::HS512);
            h.kid = Some("k1".into());
            encode(&h, &user("ann"), &EncodingKey::from_secret(b"sekrit")).unwrap()
        };
        let unsigned = format!("{}.{}.", B64.encode(r#"{"alg":"none","kid":"k1"}"#), B64.encode(r#"{"scope":"user","external_id":"ann"}"#));
        let later = crate::domain::time::now_ms() / 1000 + 3600;
        // (what, token signed with "sekrit" by key "k1" unless said, the key's owner, the answer)
        let cases: Vec<(&str, String, &KeyOwner, Result<&str, EndUserRefusal>)> = vec![
            ("scope user + external_id, app key of this app", jwt(user("ann"), "k1", "sekrit"), &app_key, Ok("ann")),
            ("legacy scope appUser + userId", jwt(json!({"scope": "appUser", "userId": "bob"}), "k1", "sekrit"), &app_key, Ok("bob")),
            ("legacy scope appUser + external_id", jwt(json!({"scope": "appUser", "external_id": "bob"}), "k1", "sekrit"), &app_key, Ok("bob")),
            ("an exp in the future", jwt(json!({"scope": "user", "external_id": "ann", "exp": later}), "k1", "sekrit"), &app_key, Ok("ann")),
            ("app key of another app", jwt(user("ann"), "k1", "sekrit"), &other_app_key, Err(OtherApp)),
            ("account key", jwt(user("ann"), "k1", "sekrit"), &KeyOwner::Account, Err(NotAnAppKey)),
            ("integration key of this app", jwt(user("ann"), "k1", "sekrit"), &integration_key, Err(NotAnAppKey)),
            ("scope app", jwt(json!({"scope": "app"}), "k1", "sekrit"), &app_key, Err(NotUserScope)),
            ("scope account", jwt(json!({"scope": "account", "external_id": "ann"}), "k1", "sekrit"), &app_key, Err(NotUserScope)),
            ("scope integration", jwt(json!({"scope": "integration"}), "k1", "sekrit"), &app_key, Err(NotUserScope)),
            ("an unknown scope", jwt(json!({"scope": "admin", "external_id": "ann"}), "k1", "sekrit"), &app_key, Err(NotUserScope)),
            ("no scope", jwt(json!({"external_id": "ann"}), "k1", "sekrit"), &app_key, Err(NotUserScope)),
            ("scope user without external_id", jwt(json!({"scope": "user"}), "k1", "sekrit"), &app_key, Err(MissingExternalId)),
            ("scope user with an empty external_id", jwt(user(""), "k1", "sekrit"), &app_key, Err(MissingExternalId)),
            ("scope user naming the user in userId", jwt(json!({"scope": "user", "userId": "ann"}), "k1", "sekrit"), &app_key, Err(MissingExternalId)),
            ("legacy appUser without userId", jwt(json!({"scope": "appUser"}), "k1", "sekrit"), &app_key, Err(MissingExternalId)),
            ("a numeric external_id", jwt(json!({"scope": "user", "external_id": 42}), "k1", "sekrit"), &app_key, Err(Invalid)),
            ("expired", jwt(json!({"scope": "user", "external_id": "ann", "exp": 1_000_000}), "k1", "sekrit"), &app_key, Err(Expired)),
            ("an nbf an hour ahead", jwt(json!({"scope": "user", "external_id": "ann", "nbf": later}), "k1", "sekrit"), &app_key, Err(NotYetValid)),
            ("an nbf in the past", jwt(json!({"scope": "user", "external_id": "ann", "nbf": 1_000_000}), "k1", "sekrit"), &app_key, Ok("ann")),
            ("signed with another secret", jwt(user("ann"), "k1", "not the secret"), &app_key, Err(BadSignature)),
            ("forged, naming another app's key", jwt(user("ann"), "k1", "not the secret"), &other_app_key, Err(BadSignature)),
            ("forged, naming an account key", jwt(user("ann"), "k1", "not the secret"), &KeyOwner::Account, Err(BadSignature)),
            ("naming another key than the one looked up", jwt(user("ann"), "k2", "sekrit"), &app_key, Err(Invalid)),
            ("HS512", hs512, &app_key, Err(Invalid)),
            ("alg none", unsigned, &app_key, Err(Invalid)),
            ("not a JWT", "not.a.jwt".into(), &app_key, Err(Invalid)),
        ];
        for (what, token, owner, want) in cases {
            let grant = KeyGrant { key_id: "k1".into(), secret: "sekrit".into(), owner: owner.clone() };
            // Header checks come first for a caller that parses; a token past them is checked alone too.
            let key_id = Jwt::parse(&token).map(|j| j.key_id).unwrap_or_else(|_| "k1".into());
            let got = verify_end_user(&Jwt { token, key_id }, &grant, "a1");
            assert_eq!(got, want.map(|e| VerifiedUser { external_id: e.into() }), "{what}");
        }
    }

    #[test]
    fn the_header_admits_only_hs256_tokens_with_a_kid() {
        let ok = jwt(json!({"scope": "user", "external_id": "ann"}), "k1", "sekrit");
        assert_eq!(Jwt::parse(&ok).unwrap(), Jwt { token: ok.clone(), key_id: "k1".into() });
        let hs512 = {
            let mut h = Header::new(Algorithm::HS512);
            h.kid = Some("k1".into());
            encode(&h, &json!({"scope": "user"}), &EncodingKey::from_secret(b"sekrit")).unwrap()
        };
        let nokid = encode(&Header::new(Algorithm::HS256), &json!({"scope": "user"}), &EncodingKey::from_secret(b"sekrit")).unwrap();
        for bad in [hs512, nokid, "not.a.jwt".into(), String::new()] {
            assert!(Jwt::parse(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn expired_forged_and_unsigned_tokens_fail() {
        let expired = jwt(json!({"scope": "app", "exp": 1_000_000}), "app_1", "sekrit");
        assert!(authenticate(&Credentials::parse(&format!("Bearer {expired}")).unwrap(), &app_grant()).is_err());
        let later = crate::domain::time::now_ms() / 1000 + 3600;
        let immature = jwt(json!({"scope": "app", "nbf": later}), "app_1", "sekrit");
        assert_eq!(
            authenticate(&Credentials::parse(&format!("Bearer {immature}")).unwrap(), &app_grant()),
            Err(unauthorized("The JWT is not valid yet"))
        );
        let forged = jwt(json!({"scope": "app"}), "app_1", "other");
        assert!(authenticate(&Credentials::parse(&format!("Bearer {forged}")).unwrap(), &app_grant()).is_err());
        let none = format!("{}.{}.", B64.encode(r#"{"alg":"none","kid":"app_1"}"#), B64.encode(r#"{"scope":"app"}"#));
        assert!(Credentials::parse(&format!("Bearer {none}")).is_err());
        let hs512 = {
            let mut h = Header::new(Algorithm::HS512);
            h.kid = Some("app_1".into());
            encode(&h, &json!({"scope":"app"}), &EncodingKey::from_secret(b"sekrit")).unwrap()
        };
        assert!(Credentials::parse(&format!("Bearer {hs512}")).is_err());
        let nokid = encode(&Header::new(Algorithm::HS256), &json!({"scope":"app"}), &EncodingKey::from_secret(b"sekrit")).unwrap();
        assert!(Credentials::parse(&format!("Bearer {nokid}")).is_err());
    }

    #[test]
    fn app_keys_reach_only_their_app() {
        let p = Principal { key_id: "app_1".into(), owner: KeyOwner::App { app_id: "a1".into() } };
        assert!(p.authorize_app("a1", ACCOUNT_APP).is_ok());
        assert!(p.authorize_app("a2", ACCOUNT_APP).is_err());
        assert!(p.authorize_app("a1", ACCOUNT).is_err());
        assert!(p.authorize_account().is_err());
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn parsing_any_header_never_panics(s in "\\PC{0,80}") {
                let _ = Credentials::parse(&s);
                let _ = Credentials::parse(&format!("Basic {s}"));
                let _ = Credentials::parse(&format!("Bearer {s}"));
            }

            #[test]
            fn basic_round_trips_and_refuses_nul(id in "[!-9;-~]{1,30}", secret in "[ -~]{1,60}", nul in any::<bool>()) {
                let id = if nul { format!("{id}\0") } else { id };
                let got = Credentials::parse(&format!("Basic {}", B64.encode(format!("{id}:{secret}"))));
                if nul {
                    prop_assert!(got.is_err());
                } else {
                    prop_assert_eq!(got, Ok(Credentials::Basic { key_id: id, secret }));
                }
            }

            #[test]
            fn only_the_right_secret_authenticates(secret in "[ -~]{1,40}", tried in "[ -~]{1,40}") {
                let grant = KeyGrant { key_id: "app_1".into(), secret: secret.clone(), owner: KeyOwner::App { app_id: "a1".into() } };
                let c = Credentials::Basic { key_id: "app_1".into(), secret: tried.clone() };
                prop_assert_eq!(authenticate(&c, &grant).is_ok(), tried == secret);
            }

            #[test]
            fn a_token_is_valid_only_inside_its_nbf_exp_window(nbf_offset in -7200i64..7200, exp_offset in -7200i64..7200) {
                // Two minutes apart from now at least, so the check is not racing the clock.
                prop_assume!(nbf_offset.abs() > 120 && exp_offset.abs() > 120);
                let now = crate::domain::time::now_ms() / 1000;
                let t = jwt(json!({"scope": "app", "nbf": now + nbf_offset, "exp": now + exp_offset}), "app_1", "sekrit");
                let c = Credentials::parse(&format!("Bearer {t}")).unwrap();
                prop_assert_eq!(authenticate(&c, &app_grant()).is_ok(), nbf_offset < 0 && exp_offset > 0);
            }
        }
    }
}
