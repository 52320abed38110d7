//! API accounts.

use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::Row;
use tessera_core::domain::{Account, AccountId};
use tessera_core::error::StoreError;
use tessera_core::store::{AccountStore, StoreResult};

use crate::{corrupt, db, SqlStore};

fn account(r: &AnyRow) -> Result<Account, StoreError> {
    let id: String = r.try_get("id").map_err(db)?;
    Ok(Account {
        id: AccountId::parse(&id).ok_or_else(|| corrupt("account id", &id))?,
        name: r.try_get("name").map_err(db)?,
        created_at: r.try_get("created_at").map_err(db)?,
    })
}

#[async_trait]
impl AccountStore for SqlStore {
    async fn insert_account(&self, a: &Account) -> StoreResult<()> {
        sqlx::query("INSERT INTO account (id, name, created_at) VALUES ($1, $2, $3)")
            .bind(a.id.as_str())
            .bind(&a.name)
            .bind(a.created_at)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn find_account(&self, id: &AccountId) -> StoreResult<Option<Account>> {
        let row = sqlx::query("SELECT id, name, created_at FROM account WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        row.as_ref().map(account).transpose()
    }

    async fn list_accounts(&self) -> StoreResult<Vec<Account>> {
        let rows = sqlx::query("SELECT id, name, created_at FROM account ORDER BY created_at, id")
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        rows.iter().map(account).collect()
    }
}
