//! Revoked access tokens.

use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::Row;
use tessera_core::store::{ChangeKind, RevocationStore, StoreResult};
use tessera_core::UnixSeconds;

use crate::changes::record;
use crate::{db, SqlStore};

#[async_trait]
impl RevocationStore for SqlStore {
    async fn insert_revoked_token(
        &self,
        jti: &str,
        expires_at: UnixSeconds,
        now: UnixSeconds,
    ) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO revoked_token (jti, expires_at, revoked_at) VALUES ($1, $2, $3) \
             ON CONFLICT (jti) DO NOTHING",
        )
        .bind(jti)
        .bind(expires_at)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        record(&mut tx, ChangeKind::RevokedToken, jti, now).await?;
        tx.commit().await.map_err(db)
    }

    async fn prune_revoked_tokens(&self, now: UnixSeconds) -> StoreResult<()> {
        sqlx::query("DELETE FROM revoked_token WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn list_revoked_tokens(
        &self,
        now: UnixSeconds,
    ) -> StoreResult<Vec<(String, UnixSeconds)>> {
        let rows = sqlx::query("SELECT jti, expires_at FROM revoked_token WHERE expires_at > $1")
            .bind(now)
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        jtis_with_expiry(&rows)
    }

    async fn revoked_token_expiries(
        &self,
        jtis: &[String],
    ) -> StoreResult<Vec<(String, UnixSeconds)>> {
        if jtis.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders: Vec<String> = (1..=jtis.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT jti, expires_at FROM revoked_token WHERE jti IN ({})",
            placeholders.join(", ")
        );
        let mut query = sqlx::query(&sql);
        for jti in jtis {
            query = query.bind(jti.as_str());
        }
        let rows = query.fetch_all(&self.pool).await.map_err(db)?;
        jtis_with_expiry(&rows)
    }
}

/// `(jti, expires_at)` of each row.
fn jtis_with_expiry(rows: &[AnyRow]) -> StoreResult<Vec<(String, UnixSeconds)>> {
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get("jti").map_err(db)?,
                r.try_get("expires_at").map_err(db)?,
            ))
        })
        .collect()
}
