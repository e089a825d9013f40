//! Which browser origins may use an app's SDK API and realtime channel: its web
//! integrations' `originWhitelist` (see `domain::origin`).

use super::{Store, StoreResult};
use crate::domain::ids::is_id;
use crate::domain::origin::{allows, app_allows};
use crate::domain::pagination::{Cursor, PageRequest};

/// An app has at most this many web integrations looked at (more would be unusual).
const WEB_INTEGRATIONS: i64 = 100;

impl Store {
    /// May a page of `origin` use app `app_id`? Unknown apps are let through: the
    /// request itself then fails as it would without an Origin.
    pub async fn app_allows_origin(&self, app_id: &str, origin: &str) -> StoreResult<bool> {
        if !is_id(app_id) {
            return Ok(true);
        }
        let page = PageRequest { cursor: Cursor::Start, size: WEB_INTEGRATIONS };
        let web = self.list_integrations(app_id, &["web".to_string()], &page).await?;
        Ok(app_allows(web.items.iter().map(|i| i.config.get("originWhitelist")), origin))
    }

    /// May a page of `origin` load integration `integration_id` (the SDK's config call)?
    pub async fn integration_allows_origin(&self, integration_id: &str, origin: &str) -> StoreResult<bool> {
        if !is_id(integration_id) {
            return Ok(true);
        }
        let app_id = match self.integration_app(integration_id).await {
            Ok(a) => a,
            Err(super::StoreError::Domain(_)) => return Ok(true),
            Err(e) => return Err(e),
        };
        let integration = self.get_integration(&app_id, integration_id).await?;
        Ok(integration.kind != "web" || allows(integration.config.get("originWhitelist"), origin))
    }
}
