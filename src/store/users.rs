//! Users and their email identities.

use super::sql::{self, Tx};

use super::rows::{from_json, to_json};
use super::{events, is_unique_violation, Store, StoreError, StoreResult};
use crate::domain::error::Resource;
use crate::domain::event::{Event, UserRemoved, UserUpdated};
use crate::domain::ids::is_id;
use crate::domain::time::now_ms;
use crate::domain::user::User;

fn user_from_row(row: &sql::Row) -> StoreResult<User> {
    from_json(&row.try_get::<String, _>("body")?)
}

async fn write_identities(c: &mut Tx<'_>, app_id: &str, user: &User) -> StoreResult<()> {
    sql::query("DELETE FROM user_identities WHERE user_id = $1").bind(&user.id).execute(&mut *c).await?;
    for ident in &user.identities {
        sql::query("INSERT INTO user_identities (user_id, app_id, kind, value) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING")
            .bind(&user.id)
            .bind(app_id)
            .bind(&ident.kind)
            .bind(ident.value.to_lowercase())
            .execute(&mut *c)
            .await?;
    }
    Ok(())
}

/// Finds a user by id or externalId inside a transaction.
pub(crate) async fn find_user_tx(c: &mut Tx<'_>, app_id: &str, id_or_external: &str) -> StoreResult<User> {
    select_user_tx(c, app_id, id_or_external, "").await
}

/// Finds a user by id or externalId and locks its row until the transaction ends (see
/// [`Tx::for_update`]): for a transaction that rewrites the user from what it read.
async fn lock_user_tx(c: &mut Tx<'_>, app_id: &str, id_or_external: &str) -> StoreResult<User> {
    let lock = c.for_update();
    select_user_tx(c, app_id, id_or_external, lock).await
}

async fn select_user_tx(c: &mut Tx<'_>, app_id: &str, id_or_external: &str, lock: &str) -> StoreResult<User> {
    if is_id(id_or_external) {
        let row = sql::query(format!("SELECT body FROM users WHERE app_id = $1 AND id = $2{lock}")).bind(app_id).bind(id_or_external).fetch_optional(&mut *c).await?;
        if let Some(r) = row {
            return user_from_row(&r);
        }
    }
    let row = sql::query(format!("SELECT body FROM users WHERE app_id = $1 AND external_id = $2{lock}")).bind(app_id).bind(id_or_external).fetch_optional(&mut *c).await?;
    match row {
        Some(r) => user_from_row(&r),
        None => Err(StoreError::not_found(Resource::User)),
    }
}

/// Writes a user's document and identities over its row (a taken externalId is a conflict).
pub(crate) async fn rewrite_user_tx(c: &mut Tx<'_>, app_id: &str, user: &User) -> StoreResult<()> {
    let done = sql::query("UPDATE users SET body = $1, external_id = $2 WHERE app_id = $3 AND id = $4")
        .bind(to_json(user))
        .bind(&user.external_id)
        .bind(app_id)
        .bind(&user.id)
        .execute(&mut *c)
        .await;
    let done = match done {
        Err(e) if is_unique_violation(&e) => return Err(StoreError::conflict("User already exists")),
        other => other?,
    };
    if done == 0 {
        return Err(StoreError::not_found(Resource::User));
    }
    write_identities(c, app_id, user).await
}

/// Finds a user by exactly one of id / externalId inside a transaction.
pub(crate) async fn find_user_by_tx(c: &mut Tx<'_>, app_id: &str, user_id: Option<&str>, external_id: Option<&str>) -> StoreResult<User> {
    let row = match (user_id, external_id) {
        (Some(id), _) => sql::query("SELECT body FROM users WHERE app_id = $1 AND id = $2").bind(app_id).bind(id).fetch_optional(&mut *c).await?,
        (None, Some(e)) => sql::query("SELECT body FROM users WHERE app_id = $1 AND external_id = $2").bind(app_id).bind(e).fetch_optional(&mut *c).await?,
        (None, None) => None,
    };
    match row {
        Some(r) => user_from_row(&r),
        None => Err(StoreError::not_found(Resource::User)),
    }
}

/// Inserts a new user's row (a taken externalId is a conflict).
pub(crate) async fn insert_user_tx(c: &mut Tx<'_>, app_id: &str, user: &User) -> StoreResult<()> {
    let inserted = sql::query("INSERT INTO users (id, app_id, external_id, body, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(&user.id)
        .bind(app_id)
        .bind(&user.external_id)
        .bind(to_json(user))
        .bind(now_ms())
        .execute(&mut *c)
        .await;
    match inserted {
        Err(e) if is_unique_violation(&e) => Err(StoreError::conflict("User already exists")),
        other => other.map(|_| ()),
    }
}

impl Store {
    pub async fn create_user(&self, app_id: &str, user: User) -> StoreResult<User> {
        let app_id = app_id.to_string();
        self.write(move |c| {
            Box::pin(async move {
                insert_user_tx(c, &app_id, &user).await?;
                write_identities(c, &app_id, &user).await?;
                Ok(user)
            })
        })
        .await
    }

    pub async fn get_user(&self, app_id: &str, id_or_external: &str) -> StoreResult<User> {
        if is_id(id_or_external) {
            let row = sql::query("SELECT body FROM users WHERE app_id = $1 AND id = $2").bind(app_id).bind(id_or_external).fetch_optional(self.reader()).await?;
            if let Some(r) = row {
                return user_from_row(&r);
            }
        }
        let row = sql::query("SELECT body FROM users WHERE app_id = $1 AND external_id = $2").bind(app_id).bind(id_or_external).fetch_optional(self.reader()).await?;
        match row {
            Some(r) => user_from_row(&r),
            None => Err(StoreError::not_found(Resource::User)),
        }
    }

    /// Replaces a user's document; `update_event`, when given, is recorded with it.
    pub async fn save_user(&self, app_id: &str, user: User, update_event: Option<UserUpdated>) -> StoreResult<User> {
        let app_id = app_id.to_string();
        self.write(move |c| {
            Box::pin(async move {
                rewrite_user_tx(c, &app_id, &user).await?;
                if let Some(updated) = update_event {
                    events::record(c, &app_id, &Event::UserUpdated(updated)).await?;
                }
                Ok(user)
            })
        })
        .await
    }

    /// UpdateUser (and DeleteUserPersonalInformation): reads the user, by id or
    /// externalId, under a row lock, applies `apply` to it and writes the result, in one
    /// transaction, so concurrent updates each start from the other's result instead of
    /// losing it. Records no event, as UpdateUser records none.
    pub async fn update_user<F>(&self, app_id: &str, id_or_external: &str, apply: F) -> StoreResult<User>
    where
        F: FnOnce(&User) -> crate::domain::error::DomainResult<User> + Send + 'static,
    {
        let (app_id, key) = (app_id.to_string(), id_or_external.to_string());
        self.write(move |c| {
            Box::pin(async move {
                let current = lock_user_tx(c, &app_id, &key).await?;
                let next = User { id: current.id.clone(), ..apply(&current)? };
                rewrite_user_tx(c, &app_id, &next).await?;
                Ok(next)
            })
        })
        .await
    }

    /// Users of an app whose email identity is `email` (case-insensitive).
    pub async fn users_by_email(&self, app_id: &str, email: &str) -> StoreResult<Vec<User>> {
        let rows = sql::query(
            "SELECT u.body FROM user_identities i JOIN users u ON u.id = i.user_id \
             WHERE i.app_id = $1 AND i.kind = 'email' AND i.value = $2 ORDER BY u.id LIMIT 100",
        )
        .bind(app_id)
        .bind(email.to_lowercase())
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(user_from_row).collect()
    }

    /// Deletes a user, its personal conversations (with their messages) and its
    /// participations, and records `user:remove`.
    pub async fn delete_user(&self, app_id: &str, id_or_external: &str) -> StoreResult<User> {
        let (app_id, key) = (app_id.to_string(), id_or_external.to_string());
        self.write(move |c| {
            Box::pin(async move {
                let user = find_user_tx(c, &app_id, &key).await?;
                // The `for=message` files of the user's messages and of the conversations
                // that go with the user (store/attachments.rs sweeps them).
                sql::query(
                    "UPDATE attachments SET state = 'doomed', state_at = $1 WHERE for_message = 1 AND state <> 'doomed' AND (user_id = $2 OR conversation_id IN \
                     (SELECT c.id FROM conversations c JOIN participants p ON p.conversation_id = c.id WHERE p.user_id = $2 AND c.kind = 'personal'))",
                )
                .bind(crate::domain::time::now_ms())
                .bind(&user.id)
                .execute(&mut *c)
                .await?;
                sql::query(
                    "DELETE FROM conversations WHERE kind = 'personal' AND id IN \
                     (SELECT conversation_id FROM participants WHERE user_id = $1)",
                )
                .bind(&user.id)
                .execute(&mut *c)
                .await?;
                sql::query("DELETE FROM participants WHERE user_id = $1").bind(&user.id).execute(&mut *c).await?;
                sql::query("DELETE FROM users WHERE id = $1").bind(&user.id).execute(&mut *c).await?;
                events::record(c, &app_id, &Event::UserRemoved(UserRemoved { user: (&user).into() })).await?;
                Ok(user)
            })
        })
        .await
    }
}
