//! Guarded writes: the single-use steps of the code flow (consume a code, start a token
//! set, rotate a refresh token), written once as statements and run by either executor: a
//! sqlx transaction on PostgreSQL, the group-committing writer thread on SQLite (see
//! [`crate::sqlite`]).

use tessera_core::store::StoreResult;

use crate::statement::Statement;
use crate::{db, SqlStore};

/// An atomic write: `guard` runs first, and only when it changes a row do the `then`
/// statements run, in the same transaction. Answers whether the guard changed a row.
#[derive(Debug, Clone)]
pub(crate) struct GuardedWrite {
    pub guard: Statement,
    pub then: Vec<Statement>,
}

impl SqlStore {
    pub(crate) async fn guarded_write(&self, write: GuardedWrite) -> StoreResult<bool> {
        if let Some(sqlite) = &self.sqlite {
            return sqlite
                .writer
                .write(move |conn| write.run_sqlite(conn))
                .await;
        }
        if write.then.is_empty() {
            // One statement is atomic on its own: no BEGIN and COMMIT round trips. Changes
            // for other processes are recorded by `then` statements, so there is none here
            // to announce.
            let hit = write
                .guard
                .sqlx()
                .execute(&self.pool)
                .await
                .map_err(db)?
                .rows_affected()
                > 0;
            return Ok(hit);
        }
        let mut tx = self.begin().await?;
        let hit = write
            .guard
            .sqlx()
            .execute(&mut *tx)
            .await
            .map_err(db)?
            .rows_affected()
            > 0;
        if hit {
            for statement in write.then {
                statement.sqlx().execute(&mut *tx).await.map_err(db)?;
            }
        } else {
            // Nothing changed: nothing for the other replicas to read.
            tx.notifier = None;
        }
        tx.commit().await.map_err(db)?;
        Ok(hit)
    }
}

impl GuardedWrite {
    fn run_sqlite(self, conn: &rusqlite::Connection) -> rusqlite::Result<bool> {
        if self.guard.rusqlite(conn)?.raw_execute()? == 0 {
            return Ok(false);
        }
        for statement in &self.then {
            statement.rusqlite(conn)?.raw_execute()?;
        }
        Ok(true)
    }
}
