//! The sample API's books.

use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::Row;
use tessera_core::domain::AccountId;
use tessera_core::error::StoreError;
use tessera_core::store::{Book, BookStore, StoreResult};

use crate::{corrupt, db, SqlStore};

fn book(r: &AnyRow) -> Result<Book, StoreError> {
    let account: String = r.try_get("account_id").map_err(db)?;
    Ok(Book {
        id: r.try_get("id").map_err(db)?,
        account_id: AccountId::parse(&account).ok_or_else(|| corrupt("account id", &account))?,
        name: r.try_get("name").map_err(db)?,
        documents: r.try_get("documents").map_err(db)?,
        created_at: r.try_get("created_at").map_err(db)?,
    })
}

#[async_trait]
impl BookStore for SqlStore {
    async fn insert_book(&self, b: &Book) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO book (id, account_id, name, documents, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&b.id)
        .bind(b.account_id.as_str())
        .bind(&b.name)
        .bind(&b.documents)
        .bind(b.created_at)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn find_book(&self, account: &AccountId, id: &str) -> StoreResult<Option<Book>> {
        let row = sqlx::query(
            "SELECT id, account_id, name, documents, created_at FROM book WHERE id = $1 AND account_id = $2",
        )
        .bind(id)
        .bind(account.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        row.as_ref().map(book).transpose()
    }

    async fn list_books(&self, account: &AccountId) -> StoreResult<Vec<Book>> {
        let rows = sqlx::query(
            "SELECT id, account_id, name, documents, created_at FROM book WHERE account_id = $1 ORDER BY created_at, id",
        )
        .bind(account.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter().map(book).collect()
    }
}
