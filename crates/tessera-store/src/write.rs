//! Guarded writes: the single-use steps of the code flow (consume a code, start a token
//! set, rotate a refresh token), written once as SQL plus parameters and run by either
//! executor: a sqlx transaction on PostgreSQL, the group-committing writer thread on
//! SQLite (see [`crate::sqlite_writer`]).

use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::Any;
use tessera_core::store::StoreResult;

use crate::{db, SqlStore};

/// A value bound to a statement parameter.
#[derive(Debug, Clone)]
pub(crate) enum Param {
    Int(i64),
    MaybeInt(Option<i64>),
    Text(String),
    Blob(Vec<u8>),
}

/// One statement; its parameters are numbered `$1, $2, …` in order of appearance, the
/// only form both executors bind alike.
#[derive(Debug, Clone)]
pub(crate) struct Statement {
    pub sql: &'static str,
    pub params: Vec<Param>,
}

/// An atomic write: `guard` runs first, and only when it changes a row do the `then`
/// statements run, in the same transaction. Answers whether the guard changed a row.
#[derive(Debug, Clone)]
pub(crate) struct GuardedWrite {
    pub guard: Statement,
    pub then: Vec<Statement>,
}

impl SqlStore {
    pub(crate) async fn guarded_write(&self, write: GuardedWrite) -> StoreResult<bool> {
        if let Some(writer) = &self.sqlite_writer {
            return writer.write(move |conn| write.run_sqlite(conn)).await;
        }
        let mut tx = self.begin().await?;
        let hit = bind(sqlx::query(write.guard.sql), write.guard.params)
            .execute(&mut *tx)
            .await
            .map_err(db)?
            .rows_affected()
            > 0;
        if hit {
            for statement in write.then {
                bind(sqlx::query(statement.sql), statement.params)
                    .execute(&mut *tx)
                    .await
                    .map_err(db)?;
            }
        }
        tx.commit().await.map_err(db)?;
        Ok(hit)
    }
}

impl GuardedWrite {
    fn run_sqlite(self, conn: &rusqlite::Connection) -> rusqlite::Result<bool> {
        if execute(conn, &self.guard)? == 0 {
            return Ok(false);
        }
        for statement in &self.then {
            execute(conn, statement)?;
        }
        Ok(true)
    }
}

fn execute(conn: &rusqlite::Connection, statement: &Statement) -> rusqlite::Result<usize> {
    let mut prepared = conn.prepare_cached(statement.sql)?;
    for (i, param) in statement.params.iter().enumerate() {
        let index = i + 1;
        match param {
            Param::Int(v) => prepared.raw_bind_parameter(index, v)?,
            Param::MaybeInt(v) => prepared.raw_bind_parameter(index, v)?,
            Param::Text(v) => prepared.raw_bind_parameter(index, v)?,
            Param::Blob(v) => prepared.raw_bind_parameter(index, v)?,
        }
    }
    prepared.raw_execute()
}

fn bind(
    mut query: Query<'static, Any, AnyArguments<'static>>,
    params: Vec<Param>,
) -> Query<'static, Any, AnyArguments<'static>> {
    for param in params {
        query = match param {
            Param::Int(v) => query.bind(v),
            Param::MaybeInt(v) => query.bind(v),
            Param::Text(v) => query.bind(v),
            Param::Blob(v) => query.bind(v),
        };
    }
    query
}
