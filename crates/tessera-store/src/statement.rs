//! A statement and its parameters as data, so the hot paths' SQL is written once and run
//! by either executor: sqlx (PostgreSQL) or rusqlite (SQLite's writer thread and readers).

use sqlx::any::{AnyArguments, AnyRow};
use sqlx::postgres::PgRow;
use sqlx::query::Query;
use sqlx::{Any, Row};
use tessera_core::store::StoreResult;

use crate::db;

/// A value bound to a statement parameter.
#[derive(Debug, Clone)]
pub(crate) enum Param {
    Int(i64),
    MaybeInt(Option<i64>),
    Text(String),
    MaybeText(Option<String>),
    Blob(Vec<u8>),
    MaybeBlob(Option<Vec<u8>>),
}

/// One statement; its parameters are numbered `$1, $2, …` in order of appearance, the
/// only form both executors bind alike.
#[derive(Debug, Clone)]
pub(crate) struct Statement {
    pub sql: &'static str,
    pub params: Vec<Param>,
}

impl Statement {
    /// Its parameter when it has one only, a key (a hash or an id as bytes).
    pub(crate) fn only_key(&self) -> Option<&[u8]> {
        match self.params.as_slice() {
            [Param::Blob(key)] => Some(key),
            _ => None,
        }
    }

    /// The statement as a sqlx query, its parameters moved in.
    pub(crate) fn sqlx(self) -> Query<'static, Any, AnyArguments<'static>> {
        let mut query = sqlx::query(self.sql);
        for param in self.params {
            query = match param {
                Param::Int(v) => query.bind(v),
                Param::MaybeInt(v) => query.bind(v),
                Param::Text(v) => query.bind(v),
                Param::MaybeText(v) => query.bind(v),
                Param::Blob(v) => query.bind(v),
                Param::MaybeBlob(v) => query.bind(v),
            };
        }
        query
    }

    /// The statement prepared (from the connection's cache) and bound, ready to run.
    pub(crate) fn rusqlite<'c>(
        &self,
        conn: &'c rusqlite::Connection,
    ) -> rusqlite::Result<rusqlite::CachedStatement<'c>> {
        let mut prepared = conn.prepare_cached(self.sql)?;
        for (i, param) in self.params.iter().enumerate() {
            let index = i + 1;
            match param {
                Param::Int(v) => prepared.raw_bind_parameter(index, v)?,
                Param::MaybeInt(v) => prepared.raw_bind_parameter(index, v)?,
                Param::Text(v) => prepared.raw_bind_parameter(index, v)?,
                Param::MaybeText(v) => prepared.raw_bind_parameter(index, v)?,
                Param::Blob(v) => prepared.raw_bind_parameter(index, v)?,
                Param::MaybeBlob(v) => prepared.raw_bind_parameter(index, v)?,
            }
        }
        Ok(prepared)
    }
}

/// A result row of either executor, read by column name, so a row is mapped to its domain
/// type by one function.
pub(crate) trait Columns {
    fn text(&self, col: &str) -> StoreResult<String>;
    fn maybe_text(&self, col: &str) -> StoreResult<Option<String>>;
    fn int(&self, col: &str) -> StoreResult<i64>;
    fn maybe_int(&self, col: &str) -> StoreResult<Option<i64>>;
    fn blob(&self, col: &str) -> StoreResult<Vec<u8>>;
    fn maybe_blob(&self, col: &str) -> StoreResult<Option<Vec<u8>>>;
}

/// sqlx's rows, of the main pool (`Any`) and of PostgreSQL's batches, alike.
macro_rules! sqlx_columns {
    ($row:ty) => {
        impl Columns for $row {
            fn text(&self, col: &str) -> StoreResult<String> {
                self.try_get(col).map_err(db)
            }
            fn maybe_text(&self, col: &str) -> StoreResult<Option<String>> {
                self.try_get(col).map_err(db)
            }
            fn int(&self, col: &str) -> StoreResult<i64> {
                self.try_get(col).map_err(db)
            }
            fn maybe_int(&self, col: &str) -> StoreResult<Option<i64>> {
                self.try_get(col).map_err(db)
            }
            fn blob(&self, col: &str) -> StoreResult<Vec<u8>> {
                self.try_get(col).map_err(db)
            }
            fn maybe_blob(&self, col: &str) -> StoreResult<Option<Vec<u8>>> {
                self.try_get(col).map_err(db)
            }
        }
    };
}

sqlx_columns!(AnyRow);
sqlx_columns!(PgRow);

impl Columns for rusqlite::Row<'_> {
    fn text(&self, col: &str) -> StoreResult<String> {
        self.get(col).map_err(tessera_core::error::StoreError::new)
    }
    fn maybe_text(&self, col: &str) -> StoreResult<Option<String>> {
        self.get(col).map_err(tessera_core::error::StoreError::new)
    }
    fn int(&self, col: &str) -> StoreResult<i64> {
        self.get(col).map_err(tessera_core::error::StoreError::new)
    }
    fn maybe_int(&self, col: &str) -> StoreResult<Option<i64>> {
        self.get(col).map_err(tessera_core::error::StoreError::new)
    }
    fn blob(&self, col: &str) -> StoreResult<Vec<u8>> {
        self.get(col).map_err(tessera_core::error::StoreError::new)
    }
    fn maybe_blob(&self, col: &str) -> StoreResult<Option<Vec<u8>>> {
        self.get(col).map_err(tessera_core::error::StoreError::new)
    }
}
