//! Apps.

use super::sql;

use super::paging::fetch_page;
use super::rows::{from_json, to_json};
use super::{Store, StoreError, StoreResult};
use crate::domain::app::{App, AppSettings};
use crate::domain::error::{DomainResult, Resource};
use crate::domain::pagination::{Page, PageRequest};
use crate::domain::time::now_ms;

fn app_from_row(row: &sql::Row) -> StoreResult<App> {
    let settings: String = row.try_get("settings")?;
    let metadata: Option<String> = row.try_get("metadata")?;
    Ok(App {
        id: row.try_get("id")?,
        display_name: row.try_get("display_name")?,
        settings: from_json::<AppSettings>(&settings)?,
        metadata: metadata.map(|m| from_json(&m)).transpose()?,
    })
}

const APP_COLUMNS: &str = "id, display_name, settings, metadata";

impl Store {
    pub async fn create_app(&self, app: App) -> StoreResult<App> {
        self.write(move |c| {
            Box::pin(async move {
                sql::query("INSERT INTO apps (id, display_name, settings, metadata, created_at) VALUES ($1, $2, $3, $4, $5)")
                    .bind(&app.id)
                    .bind(&app.display_name)
                    .bind(to_json(&app.settings))
                    .bind(app.metadata.as_ref().map(to_json))
                    .bind(now_ms())
                    .execute(&mut *c)
                    .await?;
                Ok(app)
            })
        })
        .await
    }

    pub async fn get_app(&self, id: &str) -> StoreResult<App> {
        if let Some(app) = self.apps.get(id) {
            return Ok(app);
        }
        let ticket = self.apps.ticket();
        let row = sql::query(&format!("SELECT {APP_COLUMNS} FROM apps WHERE id = $1")).bind(id).fetch_optional(self.reader()).await?;
        let app = match row {
            Some(r) => app_from_row(&r)?,
            None => return Err(StoreError::not_found(Resource::App)),
        };
        self.apps.put_since(ticket, app.id.clone(), app.clone());
        Ok(app)
    }

    pub async fn list_apps(&self, page: &PageRequest) -> StoreResult<Page<App>> {
        let rows = fetch_page(self.reader(), &format!("SELECT {APP_COLUMNS} FROM apps WHERE 1 = 1"), "id", vec![], page).await?;
        let apps = rows.iter().map(app_from_row).collect::<StoreResult<Vec<_>>>()?;
        Ok(Page::from_rows(apps, page, |a| a.id.clone()))
    }

    /// UpdateApp: reads the app under a row lock (never the cached copy), applies
    /// `apply` to it and writes the result, in one transaction, so concurrent updates
    /// each start from the other's result instead of losing it. The cached copy is
    /// dropped once the change is committed.
    pub async fn update_app<F>(&self, id: &str, apply: F) -> StoreResult<App>
    where
        F: FnOnce(&App) -> DomainResult<App> + Send + 'static,
    {
        let id = id.to_string();
        let key = id.clone();
        let out = self
            .write(move |c| {
                Box::pin(async move {
                    let row = sql::query(format!("SELECT {APP_COLUMNS} FROM apps WHERE id = $1{}", c.for_update())).bind(&id).fetch_optional(&mut *c).await?;
                    let current = match row {
                        Some(r) => app_from_row(&r)?,
                        None => return Err(StoreError::not_found(Resource::App)),
                    };
                    let next = App { id: current.id.clone(), ..apply(&current)? };
                    sql::query("UPDATE apps SET display_name = $1, settings = $2, metadata = $3 WHERE id = $4")
                        .bind(&next.display_name)
                        .bind(to_json(&next.settings))
                        .bind(next.metadata.as_ref().map(to_json))
                        .bind(&next.id)
                        .execute(&mut *c)
                        .await?;
                    Ok(next)
                })
            })
            .await;
        self.apps.remove(&key);
        out
    }

    /// Deletes an app and everything under it (keys, users, conversations, messages, events).
    pub async fn delete_app(&self, id: &str) -> StoreResult<()> {
        let app_id = id.to_string();
        self.write(move |c| {
            Box::pin(async move {
                sql::query("DELETE FROM events WHERE app_id = $1").bind(&app_id).execute(&mut *c).await?;
                // Every file of the app goes with it (store/attachments.rs sweeps them).
                sql::query("UPDATE attachments SET state = 'doomed', state_at = $1 WHERE app_id = $2 AND state <> 'doomed'")
                    .bind(crate::domain::time::now_ms())
                    .bind(&app_id)
                    .execute(&mut *c)
                    .await?;
                let done = sql::query("DELETE FROM apps WHERE id = $1").bind(&app_id).execute(&mut *c).await?;
                if done == 0 {
                    return Err(StoreError::not_found(Resource::App));
                }
                Ok(())
            })
        })
        .await?;
        self.keys.forget_app(id);
        self.apps.remove(id);
        Ok(())
    }
}
