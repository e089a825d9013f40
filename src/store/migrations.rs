//! Schema migrations, applied in order at start-up. `{serial}` is the one spelling that
//! differs between the dialects.

use super::backend::{Backend, Dialect};
use super::StoreResult;

const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("migrations/0001_foundation.sql")),
    (2, include_str!("migrations/0002_webhooks.sql")),
    (3, include_str!("migrations/0003_sdk.sql")),
    (4, include_str!("migrations/0004_switchboards.sql")),
    (5, include_str!("migrations/0005_clients.sql")),
    (6, include_str!("migrations/0006_attachments.sql")),
];

/// The versions this build knows, in order.
pub fn known() -> Vec<i64> {
    MIGRATIONS.iter().map(|(v, _)| *v).collect()
}

pub async fn run(backend: &dyn Backend) -> StoreResult<()> {
    let applied = backend.applied_migrations().await?;
    let serial = match backend.dialect() {
        Dialect::Sqlite => "INTEGER PRIMARY KEY AUTOINCREMENT",
        Dialect::Postgres => "BIGSERIAL PRIMARY KEY",
    };
    for (version, sql) in MIGRATIONS {
        if !applied.contains(version) {
            backend.migrate(*version, &sql.replace("{serial}", serial)).await?;
        }
    }
    Ok(())
}
