//! Users and their sessions.

use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::Row;
use tessera_core::domain::{AccountId, SecretHash, TokenSetId, User, UserId};
use tessera_core::error::StoreError;
use tessera_core::store::{Session, SessionStore, StoreResult, UserStore};
use tessera_core::UnixSeconds;

use crate::authorization::revoke_live_sets;
use crate::{corrupt, db, SqlStore};

impl SqlStore {
    async fn user_from_row(&self, r: &AnyRow) -> Result<User, StoreError> {
        let id: String = r.try_get("id").map_err(db)?;
        let accounts = sqlx::query(
            "SELECT account_id FROM user_account WHERE user_id = $1 ORDER BY account_id",
        )
        .bind(&id)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        .iter()
        .map(|a| {
            let raw: String = a.try_get("account_id").map_err(db)?;
            AccountId::parse(&raw).ok_or_else(|| corrupt("account id", &raw))
        })
        .collect::<Result<_, _>>()?;
        Ok(User {
            id: UserId::parse(&id).ok_or_else(|| corrupt("user id", &id))?,
            email: r.try_get("email").map_err(db)?,
            name: r.try_get("name").map_err(db)?,
            email_verified: r.try_get::<i64, _>("email_verified").map_err(db)? != 0,
            password_hash: r.try_get("password_hash").map_err(db)?,
            accounts,
            operator: r.try_get::<i64, _>("operator").map_err(db)? != 0,
            created_at: r.try_get("created_at").map_err(db)?,
            disabled_at: r.try_get("disabled_at").map_err(db)?,
        })
    }
}

#[async_trait]
impl UserStore for SqlStore {
    async fn insert_user(&self, u: &User) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO app_user (id, email, name, email_verified, password_hash, operator, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (email) DO NOTHING",
        )
        .bind(u.id.as_str())
        .bind(&u.email)
        .bind(u.name.clone())
        .bind(i64::from(u.email_verified))
        .bind(&u.password_hash)
        .bind(i64::from(u.operator))
        .bind(u.created_at)
        .execute(&mut *tx)
        .await
        .map_err(db)?
        .rows_affected();
        if inserted == 0 {
            return Ok(false);
        }
        for a in &u.accounts {
            sqlx::query("INSERT INTO user_account (user_id, account_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                .bind(u.id.as_str())
                .bind(a.as_str())
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        tx.commit().await.map_err(db)?;
        Ok(true)
    }

    async fn find_user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        let row = sqlx::query(
            "SELECT id, email, name, email_verified, password_hash, operator, created_at, disabled_at FROM app_user WHERE email = $1",
        )
        .bind(email)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        match row {
            Some(r) => self.user_from_row(&r).await.map(Some),
            None => Ok(None),
        }
    }

    async fn list_users(&self) -> StoreResult<Vec<User>> {
        let rows = sqlx::query(
            "SELECT id, email, name, email_verified, password_hash, operator, created_at, disabled_at FROM app_user ORDER BY email",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        let mut users = Vec::with_capacity(rows.len());
        for r in &rows {
            users.push(self.user_from_row(r).await?);
        }
        Ok(users)
    }

    async fn set_user_password(&self, id: &UserId, password_hash: &str) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let updated = sqlx::query("UPDATE app_user SET password_hash = $1 WHERE id = $2")
            .bind(password_hash)
            .bind(id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db)?
            .rows_affected();
        if updated == 0 {
            return Ok(false);
        }
        sqlx::query("DELETE FROM session WHERE user_id = $1")
            .bind(id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(true)
    }

    async fn set_user_disabled(
        &self,
        id: &UserId,
        disabled_at: Option<UnixSeconds>,
    ) -> StoreResult<Option<Vec<TokenSetId>>> {
        let mut tx = self.begin().await?;
        let updated = sqlx::query("UPDATE app_user SET disabled_at = $1 WHERE id = $2")
            .bind(disabled_at)
            .bind(id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db)?
            .rows_affected();
        if updated == 0 {
            return Ok(None);
        }
        let Some(now) = disabled_at else {
            tx.commit().await.map_err(db)?;
            return Ok(Some(Vec::new()));
        };
        sqlx::query("DELETE FROM session WHERE user_id = $1")
            .bind(id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        // An exchange of a spent code is refused (and treated as a replay).
        sqlx::query(
            "UPDATE authorization_code SET used_at = $1 WHERE user_id = $2 AND used_at IS NULL",
        )
        .bind(now)
        .bind(id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        // The device polls `access_denied`.
        sqlx::query(
            "UPDATE device_authorization SET status = 'denied' \
             WHERE user_id = $1 AND status = 'approved' AND used_at IS NULL",
        )
        .bind(id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        let live =
            sqlx::query("SELECT id FROM token_set WHERE user_id = $1 AND revoked_at IS NULL")
                .bind(id.as_str());
        let sets = revoke_live_sets(&mut tx, live, now).await?;
        tx.commit().await.map_err(db)?;
        Ok(Some(sets))
    }

    async fn find_user(&self, id: &UserId) -> StoreResult<Option<User>> {
        let row = sqlx::query(
            "SELECT id, email, name, email_verified, password_hash, operator, created_at, disabled_at FROM app_user WHERE id = $1",
        )
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        match row {
            Some(r) => self.user_from_row(&r).await.map(Some),
            None => Ok(None),
        }
    }
}

#[async_trait]
impl SessionStore for SqlStore {
    async fn insert_session(&self, s: &Session) -> StoreResult<()> {
        sqlx::query("INSERT INTO session (id_hash, user_id, created_at, last_seen_at) VALUES ($1, $2, $3, $4)")
            .bind(s.id_hash.0.to_vec())
            .bind(s.user_id.as_str())
            .bind(s.created_at)
            .bind(s.last_seen_at)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn find_session(&self, id_hash: &SecretHash) -> StoreResult<Option<Session>> {
        let row =
            sqlx::query("SELECT user_id, created_at, last_seen_at FROM session WHERE id_hash = $1")
                .bind(id_hash.0.to_vec())
                .fetch_optional(&self.pool)
                .await
                .map_err(db)?;
        row.map(|r| {
            let user: String = r.try_get("user_id").map_err(db)?;
            Ok(Session {
                id_hash: *id_hash,
                user_id: UserId::parse(&user).ok_or_else(|| corrupt("user id", &user))?,
                created_at: r.try_get("created_at").map_err(db)?,
                last_seen_at: r.try_get("last_seen_at").map_err(db)?,
            })
        })
        .transpose()
    }

    async fn touch_session(&self, id_hash: &SecretHash, now: UnixSeconds) -> StoreResult<()> {
        sqlx::query("UPDATE session SET last_seen_at = $1 WHERE id_hash = $2")
            .bind(now)
            .bind(id_hash.0.to_vec())
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn delete_session(&self, id_hash: &SecretHash) -> StoreResult<()> {
        sqlx::query("DELETE FROM session WHERE id_hash = $1")
            .bind(id_hash.0.to_vec())
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn prune_sessions(
        &self,
        last_seen_by: UnixSeconds,
        created_by: UnixSeconds,
    ) -> StoreResult<()> {
        sqlx::query("DELETE FROM session WHERE last_seen_at <= $1 OR created_at <= $2")
            .bind(last_seen_by)
            .bind(created_by)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }
}
