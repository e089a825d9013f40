//! OAuth for Sunshine Conversations Connect partners (the spec's OAuth Endpoints tag).
//! No I/O.
//!
//! An operator registers a partner (`sunbeam oauth-clients create`): a `client_id`, a
//! secret, the exact redirect URIs it may use. The account owner approves it for one app
//! on the consent page; the partner trades the code for an access token at
//! `/oauth/token`. Approving creates (once per app and partner) an integration whose
//! `type` is the partner's `client_id` — the spec's `integrationType` of an OAuth
//! integration — with one internal `int_` key. The access token is an HS256 JWT signed
//! with that key (`kid`), claiming `scope: "integration"` and the `appId`, like the
//! hosted service's: it authenticates as the integration through the ordinary JWT path,
//! and dies with the integration (RevokeAccess, or DeleteIntegration by the owner).

use serde_json::json;

use super::error::{DomainError, DomainResult};
use super::integration::TYPES;

/// How long an authorization code may wait for its exchange.
pub const CODE_TTL_MS: i64 = 10 * 60 * 1000;

/// A registered partner, without its secret.
#[derive(Debug, Clone, PartialEq)]
pub struct OAuthClient {
    pub client_id: String,
    pub name: String,
    pub redirect_uris: Vec<String>,
    /// Told (POST, best effort) when a partner's access to an app is revoked.
    pub remove_url: Option<String>,
}

impl OAuthClient {
    /// The redirect URI an authorization goes back to: the one asked for, which must be
    /// registered exactly, or the only one registered.
    pub fn redirect_uri(&self, asked: Option<&str>) -> DomainResult<String> {
        match asked.filter(|a| !a.is_empty()) {
            Some(a) if self.redirect_uris.iter().any(|r| r == a) => Ok(a.to_string()),
            Some(_) => Err(DomainError::invalid("redirect_uri is not registered for this client")),
            None if self.redirect_uris.len() == 1 => Ok(self.redirect_uris[0].clone()),
            None => Err(DomainError::invalid("redirect_uri is required: this client has several")),
        }
    }
}

/// Whether an integration type names an OAuth partner rather than a built-in type.
pub fn is_partner_kind(kind: &str) -> bool {
    !TYPES.contains(&kind)
}

/// A partner's `client_id`: 1..64 of letters, digits and `-_.:` (`zd:agentWorkspace`),
/// never one of the built-in integration types (it becomes the integration's type).
pub fn check_client_id(id: &str) -> DomainResult<()> {
    let ok = !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
    if !ok {
        return Err(DomainError::invalid("client_id must be 1 to 64 letters, digits or - _ . :"));
    }
    if !is_partner_kind(id) {
        return Err(DomainError::invalid(format!("client_id {id} is an integration type; choose another")));
    }
    Ok(())
}

/// A redirect URI: absolute http(s), no fragment (RFC 6749 §3.1.2).
pub fn check_redirect_uri(uri: &str) -> DomainResult<()> {
    match url::Url::parse(uri) {
        Ok(u) if (u.scheme() == "https" || u.scheme() == "http") && u.host_str().is_some() && u.fragment().is_none() => Ok(()),
        _ => Err(DomainError::invalid(format!("{uri} is not an absolute http(s) URI without a fragment"))),
    }
}

/// `redirect_uri` with the given parameters added to its query.
pub fn redirect_with(uri: &str, params: &[(&str, Option<&str>)]) -> String {
    let Ok(mut u) = url::Url::parse(uri) else { return uri.to_string() };
    {
        let mut q = u.query_pairs_mut();
        for (k, v) in params {
            if let Some(v) = v {
                q.append_pair(k, v);
            }
        }
    }
    u.to_string()
}

/// The claims of an access token (the hosted service's shape, plus `azp`).
pub fn access_token_claims(app_id: &str, client_id: &str, now_ms: i64) -> serde_json::Value {
    json!({ "scope": "integration", "appId": app_id, "azp": client_id, "iat": now_ms / 1000 })
}

/// An access token: HS256, signed with the integration's key, `kid` naming it.
pub fn mint_access_token(key_id: &str, secret: &str, claims: &serde_json::Value) -> String {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some(key_id.to_string());
    jsonwebtoken::encode(&header, claims, &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes())).expect("HS256 signing of JSON claims cannot fail")
}

/// What the consent page shows and sends back.
pub struct Consent<'a> {
    pub client: &'a OAuthClient,
    pub redirect_uri: &'a str,
    pub state: Option<&'a str>,
    pub app_id: Option<&'a str>,
    pub error: Option<&'a str>,
}

pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The consent page: who asks, what for, and a form for the account owner (the app and
/// a key of the account, or of that app, to prove they may decide).
pub fn consent_page(c: &Consent<'_>) -> String {
    let e = escape_html;
    let error = c.error.map(|m| format!("<p class=\"error\" role=\"alert\">{}</p>", e(m))).unwrap_or_default();
    let state = c.state.map(|s| format!("<input type=\"hidden\" name=\"state\" value=\"{}\">", e(s))).unwrap_or_default();
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Connect {name}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:34rem;margin:3rem auto;padding:0 1rem;color:#222}}
label{{display:block;margin:.8rem 0 .2rem}}input[type=text],input[type=password]{{width:100%;padding:.4rem;box-sizing:border-box}}
.error{{color:#a00}}button{{margin:1rem .5rem 0 0;padding:.5rem 1.2rem}}code{{background:#f3f3f3;padding:0 .2rem}}</style></head>
<body><h1>Connect {name} to your app</h1>
<p><strong>{name}</strong> (<code>{client_id}</code>) asks to act as an integration of one of your apps. If you allow it, it may:</p>
<ul><li>get and create users and conversations of the app, and post messages;</li>
<li>create and manage its own webhooks (it cannot see other integrations' webhooks);</li>
<li>not manage the app itself, its keys, integrations or switchboard.</li></ul>
<p>You are sent back to <code>{redirect}</code> afterwards. You can revoke the access at any time by deleting the integration.</p>
{error}
<form method="post" action="/oauth/consent">
<input type="hidden" name="client_id" value="{client_id}"><input type="hidden" name="redirect_uri" value="{redirect}">{state}
<label for="app_id">App id</label><input type="text" id="app_id" name="app_id" required value="{app_id}" autocomplete="off">
<label for="key_id">Key id (an account key, or a key of that app)</label><input type="text" id="key_id" name="key_id" required autocomplete="off">
<label for="key_secret">Key secret</label><input type="password" id="key_secret" name="key_secret" required autocomplete="off">
<button type="submit" name="decision" value="allow">Allow</button><button type="submit" name="decision" value="deny" formnovalidate>Deny</button>
</form></body></html>
"#,
        name = e(&c.client.name),
        client_id = e(&c.client.client_id),
        redirect = e(c.redirect_uri),
        app_id = e(c.app_id.unwrap_or("")),
    )
}

/// A plain page for what cannot be sent back to the partner (unknown client, bad
/// redirect URI): never redirect to an address the partner did not register.
pub fn error_page(message: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Authorization failed</title></head><body><h1>Authorization failed</h1><p>{}</p></body></html>\n",
        escape_html(message)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> OAuthClient {
        OAuthClient { client_id: "shoplifter".into(), name: "Shop <Lifter>".into(), redirect_uris: vec!["https://partner.example/cb".into()], remove_url: None }
    }

    #[test]
    fn redirect_uris_must_be_registered_exactly() {
        let c = client();
        assert_eq!(c.redirect_uri(None).unwrap(), "https://partner.example/cb");
        assert_eq!(c.redirect_uri(Some("https://partner.example/cb")).unwrap(), "https://partner.example/cb");
        assert!(c.redirect_uri(Some("https://partner.example/cb/evil")).is_err());
        let two = OAuthClient { redirect_uris: vec!["https://a.example/1".into(), "https://a.example/2".into()], ..client() };
        assert!(two.redirect_uri(None).is_err());
        assert_eq!(redirect_with("https://a.example/cb?x=1", &[("code", Some("a b")), ("state", None)]), "https://a.example/cb?x=1&code=a+b");
    }

    #[test]
    fn client_ids_and_uris_are_checked() {
        assert!(check_client_id("zd:agentWorkspace").is_ok());
        assert!(check_client_id("custom").is_err() && check_client_id("").is_err() && check_client_id("a b").is_err());
        assert!(check_redirect_uri("https://p.example/cb").is_ok());
        assert!(check_redirect_uri("https://p.example/cb#x").is_err() && check_redirect_uri("/cb").is_err() && check_redirect_uri("javascript:alert(1)").is_err());
    }

    #[test]
    fn the_consent_page_escapes_what_it_echoes() {
        let c = client();
        let page = consent_page(&Consent { client: &c, redirect_uri: "https://partner.example/cb", state: Some("\"><script>"), app_id: None, error: Some("<b>") });
        assert!(page.contains("Shop &lt;Lifter&gt;"));
        assert!(!page.contains("<script>") && !page.contains("<b>"));
    }
}
