//! Leases on once-per-cluster work (migration 0012): one row per lease, taken with a
//! conditional upsert, so that of replicas racing for a free or expired lease exactly one
//! gets it.

use async_trait::async_trait;
use tessera_core::store::{LeaseStore, StoreResult};
use tessera_core::UnixSeconds;

use crate::{db, SqlStore};

#[async_trait]
impl LeaseStore for SqlStore {
    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        until: UnixSeconds,
        now: UnixSeconds,
    ) -> StoreResult<bool> {
        // The update happens only for the holder itself or over an expired lease; a row
        // held by another live replica is left alone and counts no change.
        let taken = sqlx::query(
            "INSERT INTO lease (name, holder, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at \
             WHERE lease.holder = excluded.holder OR lease.expires_at <= $4",
        )
        .bind(name)
        .bind(holder)
        .bind(until)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(db)?
        .rows_affected();
        Ok(taken > 0)
    }

    async fn release_lease(&self, name: &str, holder: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM lease WHERE name = $1 AND holder = $2")
            .bind(name)
            .bind(holder)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }
}
