//! Point reads of the hot path, written once as a [`Statement`] and mapped by one function
//! over [`Columns`]: inline on a pooled rusqlite connection on SQLite, through sqlx on
//! PostgreSQL, where a read by one key joins the other reads of its kind waiting at the
//! same moment ([`crate::pg_batch::reads`]).

use tessera_core::store::StoreResult;

use crate::statement::{Columns, Statement};
use crate::{db, SqlStore};

impl SqlStore {
    /// The first row `statement` answers, mapped by `map`; `None` when there is none.
    pub(crate) async fn read_one<T>(
        &self,
        statement: Statement,
        map: impl Fn(&dyn Columns) -> StoreResult<T>,
    ) -> StoreResult<Option<T>> {
        if let Some(sqlite) = &self.sqlite {
            return sqlite.readers.read(|conn| {
                let mut prepared = statement
                    .rusqlite(conn)
                    .map_err(crate::unavailable::rusqlite_error)?;
                let mut rows = prepared.raw_query();
                match rows.next().map_err(crate::unavailable::rusqlite_error)? {
                    Some(row) => map(row).map(Some),
                    None => Ok(None),
                }
            });
        }
        if let (Some(batches), Some(key)) = (&self.batches, statement.only_key()) {
            let row = batches.reads.read(statement.sql, key.to_vec()).await?;
            return row.as_ref().map(|r| map(r)).transpose();
        }
        let row = statement
            .sqlx()
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        row.as_ref().map(|r| map(r)).transpose()
    }
}
