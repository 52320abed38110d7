//! PostgreSQL only: the hot single-use writes of the code flow as one statement each.
//!
//! Written as a [`crate::write::GuardedWrite`], starting a token set is a transaction of
//! two statements (the set, its first refresh token): four round trips with `BEGIN` and
//! `COMMIT`, each parsed, planned and acknowledged by the server. Here the same writes are
//! data-modifying CTEs of one statement, which PostgreSQL runs atomically in one implicit
//! transaction, in one round trip: the token's insert selects from the set's `RETURNING`,
//! so it happens exactly when the set was stored. A refresh rotation is one such statement
//! too, run for many rotations at once ([`crate::pg_batch::rotations`]).
//!
//! SQLite keeps the guarded writes: its writer thread already commits many of them at once.

use sqlx::Row;
use tessera_core::error::StoreError;
use tessera_core::store::{RefreshToken, StoreResult, TokenSet};
use tessera_core::UnixSeconds;

use crate::{db, SqlStore};

const START_SET: &str = "\
WITH started AS (
    INSERT INTO token_set (id, client_id, user_id, account_id, scopes, created_at, revoked_at, auth_time, dpop_jkt)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (id) DO NOTHING
    RETURNING 1
), stored AS (
    INSERT INTO refresh_token (token_hash, token_set_id, created_at, used_at, access_jti, access_expires_at)
    SELECT $10, $1, $11, NULL, $12, $13 FROM started
)
SELECT count(*) AS started FROM started";

impl SqlStore {
    /// [`tessera_core::store::AuthorizationStore::rotate_refresh_token`]'s write, in the
    /// batch of rotations waiting with it ([`crate::pg_batch::rotations`]): `true` when `old`
    /// was spent and `new` stored.
    pub(crate) async fn rotate_in_one_statement(
        &self,
        old: &RefreshToken,
        new: &RefreshToken,
        retry: Option<&[u8]>,
        now: UnixSeconds,
    ) -> StoreResult<bool> {
        let Some(batches) = &self.batches else {
            return Err(StoreError::new(
                "refresh rotations in one statement need PostgreSQL",
            ));
        };
        let rotated = batches.rotations.rotate(old, new, retry, now).await?;
        if rotated {
            self.announce_change().await;
        }
        Ok(rotated)
    }

    /// [`tessera_core::store::AuthorizationStore::insert_token_set`]'s write: `false`,
    /// storing nothing, when a set with that id exists already.
    pub(crate) async fn start_set_in_one_statement(
        &self,
        set: &TokenSet,
        first: &RefreshToken,
    ) -> StoreResult<bool> {
        let row = sqlx::query(START_SET)
            .bind(set.id.as_str())
            .bind(set.client_id.as_str())
            .bind(set.user_id.as_str())
            .bind(set.account_id.as_str())
            .bind(set.scopes.to_string())
            .bind(set.created_at)
            .bind(set.revoked_at)
            .bind(set.auth_time)
            .bind(set.dpop_jkt.clone())
            .bind(first.token_hash.0.to_vec())
            .bind(first.created_at)
            .bind(first.access_jti.as_str())
            .bind(first.access_expires_at)
            .fetch_one(&self.pool)
            .await
            .map_err(db)?;
        Ok(row.try_get::<i64, _>("started").map_err(db)? > 0)
    }
}
