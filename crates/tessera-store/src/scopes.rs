//! The scope catalog.

use async_trait::async_trait;
use sqlx::Row;
use tessera_core::store::{ScopeEntry, ScopeStore, StoreResult};

use crate::{db, SqlStore};

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

    async fn upsert_scope(&self, s: &ScopeEntry) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO scope (name, description) VALUES ($1, $2) \
             ON CONFLICT (name) DO UPDATE SET description = excluded.description",
        )
        .bind(&s.name)
        .bind(&s.description)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }
}
