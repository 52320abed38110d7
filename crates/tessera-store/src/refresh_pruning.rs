//! Deleting refresh tokens that can no longer matter: spent ones past the retention, and
//! every token of a set revoked before it. Without this the table keeps one row per
//! rotation forever.
//!
//! The work goes in batches, each its own short transaction, so that a first run over a
//! store holding millions of such rows does not hold SQLite's write lock (or a long
//! PostgreSQL transaction) for seconds while rotations wait.

use sqlx::Row;
use tessera_core::store::StoreResult;
use tessera_core::UnixSeconds;

use crate::multi_row::{parameter_list, PARAMETERS_PER_STATEMENT};
use crate::{db, SqlStore, WriteTx};

/// Rows deleted per transaction.
const BATCH: i64 = 500;

impl SqlStore {
    /// [`tessera_core::store::AuthorizationStore::prune_refresh_tokens`].
    pub(crate) async fn prune_refresh_tokens_in_batches(
        &self,
        spent_before: UnixSeconds,
        revoked_before: UnixSeconds,
    ) -> StoreResult<u64> {
        let mut pruned = 0;
        loop {
            let (tokens, sets) = self.prune_batch(spent_before, revoked_before).await?;
            pruned += tokens;
            if tokens < BATCH as u64 && sets < BATCH as usize {
                return Ok(pruned);
            }
        }
    }

    /// One batch: up to [`BATCH`] spent tokens, and up to [`BATCH`] revoked sets with their
    /// tokens. Answers the tokens deleted and the sets deleted.
    async fn prune_batch(
        &self,
        spent_before: UnixSeconds,
        revoked_before: UnixSeconds,
    ) -> StoreResult<(u64, usize)> {
        let mut tx = self.begin().await?;
        let mut tokens = sqlx::query(
            "DELETE FROM refresh_token WHERE token_hash IN \
             (SELECT token_hash FROM refresh_token WHERE used_at < $1 LIMIT $2)",
        )
        .bind(spent_before)
        .bind(BATCH)
        .execute(&mut *tx)
        .await
        .map_err(db)?
        .rows_affected();
        let sets: Vec<String> =
            sqlx::query("SELECT id FROM token_set WHERE revoked_at < $1 LIMIT $2")
                .bind(revoked_before)
                .bind(BATCH)
                .fetch_all(&mut *tx)
                .await
                .map_err(db)?
                .iter()
                .map(|r| r.try_get("id"))
                .collect::<Result<_, _>>()
                .map_err(db)?;
        // A few statements for the batch, not two per set: on SQLite each statement is a
        // round trip to sqlx's worker thread while this transaction holds the write lock.
        for chunk in sets.chunks(PARAMETERS_PER_STATEMENT) {
            let ids = parameter_list(1, chunk.len());
            // The tokens first: they reference the sets.
            let sql = format!("DELETE FROM refresh_token WHERE token_set_id IN {ids}");
            tokens += delete_listed(&mut tx, &sql, chunk).await?;
            let sql = format!("DELETE FROM token_set WHERE id IN {ids}");
            delete_listed(&mut tx, &sql, chunk).await?;
        }
        // Nothing another process caches changed: a deleted set was revoked long before,
        // and a deleted token was spent or belonged to it.
        tx.notifier = None;
        tx.commit().await.map_err(db)?;
        Ok((tokens, sets.len()))
    }
}

/// Runs the `DELETE` in `sql` with `ids` bound to its parameters in order; answers the rows
/// it deleted.
async fn delete_listed(tx: &mut WriteTx, sql: &str, ids: &[String]) -> StoreResult<u64> {
    let done = ids
        .iter()
        .fold(sqlx::query(sql), |query, id| query.bind(id))
        .execute(&mut **tx)
        .await
        .map_err(db)?;
    Ok(done.rows_affected())
}
