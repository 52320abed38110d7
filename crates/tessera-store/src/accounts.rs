//! API accounts, with the provider's external ids (unique: a unique index, NULLs apart).

use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use tessera_core::domain::{Account, AccountId, ExternalId};
use tessera_core::error::StoreError;
use tessera_core::store::{AccountStore, AccountUpdate, ChangeKind, StoreResult};
use tessera_core::UnixSeconds;

use crate::changes::record;
use crate::multi_row::{parameter_list, PARAMETERS_PER_STATEMENT};
use crate::{corrupt, db, SqlStore};

const COLUMNS: &str = "id, name, external_id, created_at";

fn account(r: &AnyRow) -> Result<Account, StoreError> {
    let id: String = r.try_get("id").map_err(db)?;
    let external_id: Option<String> = r.try_get("external_id").map_err(db)?;
    Ok(Account {
        id: AccountId::parse(&id).ok_or_else(|| corrupt("account id", &id))?,
        name: r.try_get("name").map_err(db)?,
        external_id: external_id
            .map(|e| ExternalId::parse(&e).map_err(|_| corrupt("external id", &e)))
            .transpose()?,
        created_at: r.try_get("created_at").map_err(db)?,
    })
}

fn external_id(a: &Account) -> Option<String> {
    a.external_id.as_ref().map(|e| e.as_str().to_owned())
}

/// Inserts the account unless its external id is taken; `false` then, nothing written.
async fn insert_row(conn: &mut AnyConnection, a: &Account) -> StoreResult<bool> {
    let inserted = sqlx::query(&format!(
        "INSERT INTO account ({COLUMNS}) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (external_id) DO NOTHING"
    ))
    .bind(a.id.as_str())
    .bind(&a.name)
    .bind(external_id(a))
    .bind(a.created_at)
    .execute(conn)
    .await
    .map_err(db)?
    .rows_affected();
    Ok(inserted == 1)
}

/// Replaces the name and external id and records the change.
async fn update_row(
    conn: &mut AnyConnection,
    a: &Account,
    now: UnixSeconds,
) -> StoreResult<AccountUpdate> {
    let updated = sqlx::query("UPDATE account SET name = $2, external_id = $3 WHERE id = $1")
        .bind(a.id.as_str())
        .bind(&a.name)
        .bind(external_id(a))
        .execute(&mut *conn)
        .await;
    let updated = match updated {
        Ok(done) => done.rows_affected(),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            return Ok(AccountUpdate::ExternalIdTaken)
        }
        Err(e) => return Err(db(e)),
    };
    if updated == 0 {
        return Ok(AccountUpdate::NotFound);
    }
    record(conn, ChangeKind::Account, a.id.as_str(), now).await?;
    Ok(AccountUpdate::Updated)
}

impl SqlStore {
    /// The accounts whose `column` is one of `values`, a few hundred per statement.
    async fn find_accounts_where(
        &self,
        column: &str,
        values: &[&str],
    ) -> StoreResult<Vec<Account>> {
        let mut found = Vec::new();
        for chunk in values.chunks(PARAMETERS_PER_STATEMENT) {
            let sql = format!(
                "SELECT {COLUMNS} FROM account WHERE {column} IN {}",
                parameter_list(1, chunk.len())
            );
            let mut query = sqlx::query(&sql);
            for value in chunk {
                query = query.bind(*value);
            }
            let rows = query.fetch_all(&self.pool).await.map_err(db)?;
            for row in &rows {
                found.push(account(row)?);
            }
        }
        Ok(found)
    }
}

#[async_trait]
impl AccountStore for SqlStore {
    async fn insert_account(&self, a: &Account) -> StoreResult<bool> {
        let _write = self.write_guard().await;
        let mut conn = self.pool.acquire().await.map_err(db)?;
        insert_row(&mut conn, a).await
    }

    async fn find_account(&self, id: &AccountId) -> StoreResult<Option<Account>> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM account WHERE id = $1"))
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        row.as_ref().map(account).transpose()
    }

    async fn find_account_by_external_id(&self, id: &ExternalId) -> StoreResult<Option<Account>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM account WHERE external_id = $1"
        ))
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        row.as_ref().map(account).transpose()
    }

    async fn find_accounts(&self, ids: &[AccountId]) -> StoreResult<Vec<Account>> {
        let ids: Vec<&str> = ids.iter().map(AccountId::as_str).collect();
        self.find_accounts_where("id", &ids).await
    }

    async fn find_accounts_by_external_ids(&self, ids: &[ExternalId]) -> StoreResult<Vec<Account>> {
        let ids: Vec<&str> = ids.iter().map(ExternalId::as_str).collect();
        self.find_accounts_where("external_id", &ids).await
    }

    async fn list_accounts(&self) -> StoreResult<Vec<Account>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM account ORDER BY created_at, id"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter().map(account).collect()
    }

    async fn update_account(&self, a: &Account, now: UnixSeconds) -> StoreResult<AccountUpdate> {
        let mut tx = self.begin().await?;
        let outcome = update_row(&mut tx, a, now).await?;
        if outcome == AccountUpdate::Updated {
            tx.commit().await.map_err(db)?;
        }
        Ok(outcome)
    }

    async fn import_accounts(
        &self,
        new: &[Account],
        updated: &[Account],
        now: UnixSeconds,
    ) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        // Any refusal returns before the commit: dropping the transaction rolls back every
        // row written before it.
        for a in new {
            if !insert_row(&mut tx, a).await? {
                return Ok(false);
            }
        }
        for a in updated {
            if update_row(&mut tx, a, now).await? != AccountUpdate::Updated {
                return Ok(false);
            }
        }
        tx.commit().await.map_err(db)?;
        Ok(true)
    }
}
