//! Signing keys.

use async_trait::async_trait;
use sqlx::Row;
use tessera_core::domain::Kid;
use tessera_core::store::{ChangeKind, KeyStore, StoreResult};
use tessera_core::token::keys::{Algorithm, StoredSigningKey};
use tessera_core::UnixSeconds;

use crate::changes::record;
use crate::{corrupt, db, SqlStore};

#[async_trait]
impl KeyStore for SqlStore {
    async fn insert_signing_key(&self, k: &StoredSigningKey, now: UnixSeconds) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO signing_key (kid, alg, public_key, public_jwk, private_key_sealed, created_at, activates_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(k.kid.as_str())
        .bind(k.alg.as_str())
        .bind(k.public_key.clone())
        .bind(&k.public_jwk)
        .bind(k.private_key_sealed.clone())
        .bind(k.created_at)
        .bind(k.activates_at)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        record(&mut tx, ChangeKind::SigningKey, k.kid.as_str(), now).await?;
        tx.commit().await.map_err(db)
    }

    async fn list_signing_keys(&self) -> StoreResult<Vec<StoredSigningKey>> {
        let rows = sqlx::query(
            "SELECT kid, alg, public_key, public_jwk, private_key_sealed, created_at, activates_at \
             FROM signing_key ORDER BY activates_at, created_at",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter()
            .map(|r| {
                let kid: String = r.try_get("kid").map_err(db)?;
                let alg: String = r.try_get("alg").map_err(db)?;
                Ok(StoredSigningKey {
                    kid: Kid::parse(&kid).ok_or_else(|| corrupt("kid", &kid))?,
                    alg: Algorithm::parse(&alg).ok_or_else(|| corrupt("algorithm", &alg))?,
                    public_key: r.try_get("public_key").map_err(db)?,
                    public_jwk: r.try_get("public_jwk").map_err(db)?,
                    private_key_sealed: r.try_get("private_key_sealed").map_err(db)?,
                    created_at: r.try_get("created_at").map_err(db)?,
                    activates_at: r.try_get("activates_at").map_err(db)?,
                })
            })
            .collect()
    }

    async fn delete_signing_keys(&self, kids: &[Kid], now: UnixSeconds) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        for kid in kids {
            sqlx::query("DELETE FROM signing_key WHERE kid = $1")
                .bind(kid.as_str())
                .execute(&mut *tx)
                .await
                .map_err(db)?;
            record(&mut tx, ChangeKind::SigningKey, kid.as_str(), now).await?;
        }
        tx.commit().await.map_err(db)
    }
}
