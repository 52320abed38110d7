//! The scope catalog, and who uses a scope.

use async_trait::async_trait;
use sqlx::Row;
use tessera_core::domain::{ClientId, ClientKind, ClientStatus};
use tessera_core::store::{ChangeKind, ScopeEntry, ScopeStore, ScopeUsage, StoreResult};
use tessera_core::UnixSeconds;

use crate::changes::record;
use crate::{corrupt, db, SqlStore};

/// Whether the space-separated `column` holds the token bound as `$1` (given as
/// `" name "`): removing `" name "` from `" column "` changes it. `replace` compares
/// exactly on both databases, where `LIKE` would ignore case on SQLite and treat `_` and
/// `%` — both valid in scope names — as wildcards.
macro_rules! holds_token {
    ($column:literal) => {
        concat!(
            "replace(' ' || ",
            $column,
            " || ' ', $1, '') <> ' ' || ",
            $column,
            " || ' '"
        )
    };
}

const CLIENTS_USING: &str = concat!(
    "SELECT id, kind FROM client WHERE status <> $2 AND ",
    holds_token!("scopes"),
    " ORDER BY created_at, id"
);

const CONSENTS_USING: &str = concat!(
    "SELECT count(*) AS consents, count(DISTINCT co.user_id) AS users \
     FROM consent co JOIN client c ON c.id = co.client_id \
     WHERE c.status <> $2 AND ",
    holds_token!("co.scopes")
);

#[async_trait]
impl ScopeStore for SqlStore {
    async fn list_scopes(&self) -> StoreResult<Vec<ScopeEntry>> {
        let rows = sqlx::query("SELECT name, description FROM scope ORDER BY name")
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        rows.iter()
            .map(|r| {
                Ok(ScopeEntry {
                    name: r.try_get("name").map_err(db)?,
                    description: r.try_get("description").map_err(db)?,
                })
            })
            .collect()
    }

    async fn insert_scope(&self, s: &ScopeEntry, now: UnixSeconds) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO scope (name, description) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(&s.name)
        .bind(&s.description)
        .execute(&mut *tx)
        .await
        .map_err(db)?
        .rows_affected()
            > 0;
        if inserted {
            record(&mut tx, ChangeKind::Scope, &s.name, now).await?;
        }
        tx.commit().await.map_err(db)?;
        Ok(inserted)
    }

    async fn update_scope(&self, s: &ScopeEntry, now: UnixSeconds) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let updated = sqlx::query("UPDATE scope SET description = $2 WHERE name = $1")
            .bind(&s.name)
            .bind(&s.description)
            .execute(&mut *tx)
            .await
            .map_err(db)?
            .rows_affected()
            > 0;
        if updated {
            record(&mut tx, ChangeKind::Scope, &s.name, now).await?;
        }
        tx.commit().await.map_err(db)?;
        Ok(updated)
    }

    async fn delete_scope(&self, name: &str, now: UnixSeconds) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let deleted = sqlx::query("DELETE FROM scope WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(db)?
            .rows_affected()
            > 0;
        if deleted {
            record(&mut tx, ChangeKind::Scope, name, now).await?;
        }
        tx.commit().await.map_err(db)?;
        Ok(deleted)
    }

    async fn find_scope_usage(&self, name: &str) -> StoreResult<ScopeUsage> {
        let token = format!(" {name} ");
        let revoked = ClientStatus::Revoked.as_str();
        let rows = sqlx::query(CLIENTS_USING)
            .bind(&token)
            .bind(revoked)
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        let mut usage = ScopeUsage::default();
        for r in &rows {
            let id: String = r.try_get("id").map_err(db)?;
            let kind: String = r.try_get("kind").map_err(db)?;
            let id = ClientId::parse(&id).ok_or_else(|| corrupt("client id", &id))?;
            match ClientKind::parse(&kind).ok_or_else(|| corrupt("client kind", &kind))? {
                ClientKind::Credential => usage.clients.push(id),
                ClientKind::Application => usage.applications.push(id),
                // It introspects; it never holds scopes of its own.
                ClientKind::ResourceServer => {}
            }
        }
        let counts = sqlx::query(CONSENTS_USING)
            .bind(&token)
            .bind(revoked)
            .fetch_one(&self.pool)
            .await
            .map_err(db)?;
        usage.consents = counts.try_get("consents").map_err(db)?;
        usage.consent_users = counts.try_get("users").map_err(db)?;
        Ok(usage)
    }
}
