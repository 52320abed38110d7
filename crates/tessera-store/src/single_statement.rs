//! PostgreSQL only: the hot single-use writes of the code flow as one statement each.
//!
//! Written as a [`crate::write::GuardedWrite`], a refresh rotation is a transaction of four
//! statements (spend the old token, store the new one, revoke the old access token, record
//! the change): six round trips with `BEGIN` and `COMMIT`, each parsed, planned and
//! acknowledged by the server. Here the same writes are data-modifying CTEs of one
//! statement, which PostgreSQL runs atomically in one implicit transaction, in one round
//! trip: the later inserts select from the guard's `RETURNING`, so they happen exactly when
//! the guard changed a row. Under READ COMMITTED a concurrent rotation of the same token
//! waits on the row lock, re-checks `used_at IS NULL` and changes nothing, as before.
//!
//! Under load a rotation does not run alone: [`crate::pg_batch::rotations`] puts the rotations
//! waiting at the same moment into one statement of the same shape. The statement here is
//! what a rotation of a failed batch runs on its own.
//!
//! SQLite keeps the guarded writes: its writer thread already commits many of them at once.

use sqlx::Row;
use tessera_core::store::{ChangeKind, RefreshToken, StoreResult, TokenSet};
use tessera_core::UnixSeconds;

use crate::pg_batch::rotations::Outcome;
use crate::{db, SqlStore};

const ROTATE: &str = "\
WITH spent AS (
    UPDATE refresh_token SET used_at = $1, retry_sealed = $2
    WHERE token_hash = $3 AND used_at IS NULL
      AND EXISTS (SELECT 1 FROM token_set s WHERE s.id = refresh_token.token_set_id
                  AND s.revoked_at IS NULL)
    RETURNING 1
), stored AS (
    INSERT INTO refresh_token (token_hash, token_set_id, created_at, used_at, access_jti, access_expires_at)
    SELECT $4, $5, $6, NULL, $7, $8 FROM spent
), revoked AS (
    INSERT INTO revoked_token (jti, expires_at, revoked_at)
    SELECT $9, $10, $1 FROM spent
    ON CONFLICT (jti) DO NOTHING
), changed AS (
    INSERT INTO change_event (kind, subject, created_at)
    SELECT $11, $9, $1 FROM spent
)
SELECT count(*) AS rotated FROM spent";

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
    /// [`tessera_core::store::AuthorizationStore::rotate_refresh_token`]'s write: `true`
    /// when `old` was spent and `new` stored.
    pub(crate) async fn rotate_in_one_statement(
        &self,
        old: &RefreshToken,
        new: &RefreshToken,
        retry: Option<&[u8]>,
        now: UnixSeconds,
    ) -> StoreResult<bool> {
        if let Some(batches) = &self.batches {
            match batches.rotations.rotate(old, new, retry, now).await {
                Outcome::Decided(rotated) => {
                    if rotated {
                        self.announce_change().await;
                    }
                    return Ok(rotated);
                }
                Outcome::Failed(err) => return Err(err),
                Outcome::RunAlone => {}
            }
        }
        let row = sqlx::query(ROTATE)
            .bind(now)
            .bind(retry.map(<[u8]>::to_vec))
            .bind(old.token_hash.0.to_vec())
            .bind(new.token_hash.0.to_vec())
            .bind(new.token_set_id.as_str())
            .bind(new.created_at)
            .bind(new.access_jti.as_str())
            .bind(new.access_expires_at)
            .bind(old.access_jti.as_str())
            .bind(old.access_expires_at)
            .bind(ChangeKind::RevokedToken.as_str())
            .fetch_one(&self.pool)
            .await
            .map_err(db)?;
        let rotated = row.try_get::<i64, _>("rotated").map_err(db)? > 0;
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
