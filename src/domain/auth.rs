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

/// Credentials as presented in the `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    Basic { key_id: String, secret: String },
    Bearer { token: String, key_id: String },
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
            if key_id.is_empty() || secret.is_empty() {
                return Err(unauthorized("Invalid basic authorization header"));
            }
            Ok(Credentials::Basic { key_id: key_id.to_string(), secret: secret.to_string() })
        } else if kind.eq_ignore_ascii_case("bearer") {
            let header = jsonwebtoken::decode_header(rest).map_err(|_| unauthorized("Invalid JWT header: only HS256 signed tokens are accepted"))?;
            if header.alg != Algorithm::HS256 {
                return Err(unauthorized("Invalid JWT header: only HS256 signed tokens are accepted"));
            }
            let key_id = header.kid.filter(|k| !k.is_empty()).ok_or_else(|| unauthorized("Invalid JWT header: missing key id (kid)"))?;
            Ok(Credentials::Bearer { token: rest.to_string(), key_id })
        } else {
            Err(unauthorized("Unsupported authorization scheme"))
        }
    }

    pub fn key_id(&self) -> &str {
        match self {
            Credentials::Basic { key_id, .. } | Credentials::Bearer { key_id, .. } => key_id,
        }
    }
}

/// The claims we read from a JWT. Everything else in it is ignored.
#[derive(Debug, Deserialize)]
pub struct Claims {
    pub scope: Option<String>,
    pub external_id: Option<String>,
    #[serde(rename = "userId")]
    pub user_id: Option<String>,
    #[serde(rename = "appId")]
    pub app_id: Option<String>,
}

/// What a verified token claims to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenScope {
    Business(Scope),
    /// An end user (`scope: "user"` with `external_id`, or legacy `"appUser"` with `userId`):
    /// valid only on the SDK API.
    EndUser { external_id: String },
}

/// Verifies an HS256 token with the key's secret and returns its claims.
pub fn verify_jwt(token: &str, secret: &str) -> Result<Claims, DomainError> {
    let mut validation = Validation::new(Algorithm::HS256);
    // The hosted service does not require `exp`; when present it is enforced.
    validation.required_spec_claims.clear();
    validation.validate_exp = true;
    validation.leeway = 0;
    validation.validate_aud = false;
    jsonwebtoken::decode::<Claims>(token, &DecodingKey::from_secret(secret.as_bytes()), &validation)
        .map(|d| d.claims)
        .map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::ExpiredSignature => unauthorized("The JWT has expired"),
            jsonwebtoken::errors::ErrorKind::InvalidSignature => unauthorized("Invalid JWT signature"),
            _ => unauthorized("Invalid JWT"),
        })
}

/// Reads the scope a verified token claims, refusing one its key cannot grant.
pub fn token_scope(claims: &Claims, owner: &KeyOwner) -> Result<TokenScope, DomainError> {
    let scope = claims.scope.as_deref().ok_or_else(|| unauthorized("Invalid JWT: missing scope claim"))?;
    let claimed = match scope {
        "account" => Scope::Account,
        "app" => Scope::App,
        "integration" => Scope::Integration,
        "user" | "appUser" => {
            let external_id = if scope == "user" { claims.external_id.clone() } else { claims.user_id.clone().or_else(|| claims.external_id.clone()) };
            let external_id = external_id.filter(|e| !e.is_empty()).ok_or_else(|| unauthorized("Invalid JWT: a user token needs external_id"))?;
            return match owner {
                KeyOwner::App { .. } | KeyOwner::Account => Ok(TokenScope::EndUser { external_id }),
                KeyOwner::Integration { .. } => Err(unauthorized("Invalid JWT: an integration key cannot sign user tokens")),
            };
        }
        _ => return Err(unauthorized("Invalid JWT: unknown scope")),
    };
    if claimed != owner.scope() {
        return Err(unauthorized("Invalid JWT: the scope claimed is not the scope of its key"));
    }
    Ok(TokenScope::Business(claimed))
}

/// Authenticates business-API credentials against the key they name.
pub fn authenticate(credentials: &Credentials, grant: &KeyGrant) -> Result<Principal, DomainError> {
    match credentials {
        Credentials::Basic { secret, .. } => {
            if bool::from(secret.as_bytes().ct_eq(grant.secret.as_bytes())) {
                Ok(Principal { key_id: grant.key_id.clone(), owner: grant.owner.clone() })
            } else {
                Err(unauthorized("Invalid credentials"))
            }
        }
        Credentials::Bearer { token, .. } => {
            let claims = verify_jwt(token, &grant.secret)?;
            match token_scope(&claims, &grant.owner)? {
                TokenScope::Business(_) => Ok(Principal { key_id: grant.key_id.clone(), owner: grant.owner.clone() }),
                TokenScope::EndUser { .. } => Err(unauthorized("User tokens cannot be used with the v2 API")),
            }
        }
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
        let t = jwt(json!({"scope": "user", "external_id": "u1"}), "app_1", "sekrit");
        let c = Credentials::parse(&format!("Bearer {t}")).unwrap();
        assert!(authenticate(&c, &app_grant()).is_err());
        let claims = verify_jwt(&t, "sekrit").unwrap();
        assert_eq!(token_scope(&claims, &app_grant().owner).unwrap(), TokenScope::EndUser { external_id: "u1".into() });
        let legacy = jwt(json!({"scope": "appUser", "userId": "u2"}), "app_1", "sekrit");
        let claims = verify_jwt(&legacy, "sekrit").unwrap();
        assert_eq!(token_scope(&claims, &app_grant().owner).unwrap(), TokenScope::EndUser { external_id: "u2".into() });
    }

    #[test]
    fn expired_forged_and_unsigned_tokens_fail() {
        let expired = jwt(json!({"scope": "app", "exp": 1_000_000}), "app_1", "sekrit");
        assert!(authenticate(&Credentials::parse(&format!("Bearer {expired}")).unwrap(), &app_grant()).is_err());
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
}
