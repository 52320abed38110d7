//! Consents, authorization codes, token sets and refresh tokens: the single-use state of the
//! authorization code flow. Every "exactly once" step is one conditional UPDATE, so it holds
//! across connections and replicas alike.

use async_trait::async_trait;
use sqlx::Row;
use tessera_core::domain::{AccountId, ClientId, ScopeSet, SecretHash, TokenSetId, UserId};
use tessera_core::error::StoreError;
use tessera_core::store::{
    Authorization, AuthorizationCode, AuthorizationStore, ChangeKind, CodeConsumption, Consent,
    DeviceApproval, DeviceAuthorization, PushedRequest, RefreshToken, Rotation, StoreResult,
    TokenSet,
};
use tessera_core::UnixSeconds;

use crate::changes::{change, record};
use crate::statement::{Columns, Param, Statement};
use crate::write::GuardedWrite;
use crate::{corrupt, db, Dialect, SqlStore};

/// The columns of a code, in the order `insert_authorization_code` binds them.
macro_rules! code_columns {
    () => {
        "code_hash, client_id, redirect_uri, redirect_uri_sent, user_id, account_id, scopes, \
         code_challenge, nonce, auth_time, token_set_id, created_at, expires_at, dpop_jkt"
    };
}
/// Consumes a code: only an unused one, and only for the client it was issued to.
macro_rules! consume_code {
    () => {
        "UPDATE authorization_code SET used_at = $1 \
         WHERE code_hash = $2 AND client_id = $3 AND used_at IS NULL"
    };
}
/// PostgreSQL: the guarded consumption answering the code it consumed, so that the usual
/// case is one round trip.
const CONSUME_CODE_RETURNING: &str = concat!(consume_code!(), " RETURNING ", code_columns!());
const CODE_OF_CLIENT: &str = concat!(
    "SELECT ",
    code_columns!(),
    " FROM authorization_code WHERE code_hash = $1 AND client_id = $2"
);

pub(crate) fn text(r: &(impl Columns + ?Sized), col: &str) -> Result<String, StoreError> {
    r.text(col)
}

pub(crate) fn client_id(r: &(impl Columns + ?Sized)) -> Result<ClientId, StoreError> {
    let v = text(r, "client_id")?;
    ClientId::parse(&v).ok_or_else(|| corrupt("client id", &v))
}

pub(crate) fn user_id(r: &(impl Columns + ?Sized)) -> Result<UserId, StoreError> {
    let v = text(r, "user_id")?;
    UserId::parse(&v).ok_or_else(|| corrupt("user id", &v))
}

pub(crate) fn account_id(r: &(impl Columns + ?Sized)) -> Result<AccountId, StoreError> {
    let v = text(r, "account_id")?;
    AccountId::parse(&v).ok_or_else(|| corrupt("account id", &v))
}

pub(crate) fn scopes(r: &(impl Columns + ?Sized)) -> Result<ScopeSet, StoreError> {
    let v = text(r, "scopes")?;
    ScopeSet::parse(&v).map_err(|_| corrupt("scopes", &v))
}

pub(crate) fn hash(r: &(impl Columns + ?Sized), col: &str) -> Result<SecretHash, StoreError> {
    let v = r.blob(col)?;
    SecretHash::from_slice(&v).ok_or_else(|| corrupt(col, "(bytes)"))
}

pub(crate) fn token_set_id(
    r: &(impl Columns + ?Sized),
    col: &str,
) -> Result<TokenSetId, StoreError> {
    let v = text(r, col)?;
    TokenSetId::parse(&v).ok_or_else(|| corrupt("token set id", &v))
}

fn code(r: &(impl Columns + ?Sized)) -> Result<AuthorizationCode, StoreError> {
    Ok(AuthorizationCode {
        code_hash: hash(r, "code_hash")?,
        client_id: client_id(r)?,
        redirect_uri: text(r, "redirect_uri")?,
        redirect_uri_sent: r.int("redirect_uri_sent")? != 0,
        user_id: user_id(r)?,
        account_id: account_id(r)?,
        scopes: scopes(r)?,
        code_challenge: r.maybe_text("code_challenge")?,
        nonce: r.maybe_text("nonce")?,
        auth_time: r.maybe_int("auth_time")?,
        token_set_id: token_set_id(r, "token_set_id")?,
        created_at: r.int("created_at")?,
        expires_at: r.int("expires_at")?,
        dpop_jkt: r.maybe_text("dpop_jkt")?,
    })
}

fn insert_refresh(t: &RefreshToken) -> Statement {
    Statement {
        sql: "INSERT INTO refresh_token (token_hash, token_set_id, created_at, used_at, access_jti, access_expires_at) \
              VALUES ($1, $2, $3, $4, $5, $6)",
        params: vec![
            Param::Blob(t.token_hash.0.to_vec()),
            Param::Text(t.token_set_id.to_string()),
            Param::Int(t.created_at),
            Param::MaybeInt(t.used_at),
            Param::Text(t.access_jti.clone()),
            Param::Int(t.access_expires_at),
        ],
    }
}

/// Marks the set revoked and records the change; `false` when it already was.
pub(crate) async fn revoke_set(
    conn: &mut sqlx::AnyConnection,
    id: &TokenSetId,
    now: UnixSeconds,
) -> StoreResult<bool> {
    let n =
        sqlx::query("UPDATE token_set SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(now)
            .bind(id.as_str())
            .execute(&mut *conn)
            .await
            .map_err(db)?
            .rows_affected();
    if n > 0 {
        record(conn, ChangeKind::TokenSet, id.as_str(), now).await?;
    }
    Ok(n > 0)
}

/// Revokes every set `select` finds (a query of live sets' `id`s), recording a `TokenSet`
/// change for each; answers them.
pub(crate) async fn revoke_live_sets<'q>(
    conn: &mut sqlx::AnyConnection,
    select: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    now: UnixSeconds,
) -> StoreResult<Vec<TokenSetId>> {
    let ids = select
        .fetch_all(&mut *conn)
        .await
        .map_err(db)?
        .iter()
        .map(|r| token_set_id(r, "id"))
        .collect::<Result<Vec<_>, _>>()?;
    for id in &ids {
        revoke_set(conn, id, now).await?;
    }
    Ok(ids)
}

#[async_trait]
impl AuthorizationStore for SqlStore {
    async fn upsert_consent(&self, c: &Consent) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO consent (user_id, client_id, account_id, scopes, updated_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (user_id, client_id, account_id) DO UPDATE SET scopes = excluded.scopes, updated_at = excluded.updated_at",
        )
        .bind(c.user_id.as_str())
        .bind(c.client_id.as_str())
        .bind(c.account_id.as_str())
        .bind(c.scopes.to_string())
        .bind(c.updated_at)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn list_consents(&self, user: &UserId, client: &ClientId) -> StoreResult<Vec<Consent>> {
        let rows = sqlx::query(
            "SELECT user_id, client_id, account_id, scopes, updated_at FROM consent WHERE user_id = $1 AND client_id = $2",
        )
        .bind(user.as_str())
        .bind(client.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter()
            .map(|r| {
                Ok(Consent {
                    user_id: user_id(r)?,
                    client_id: client_id(r)?,
                    account_id: account_id(r)?,
                    scopes: scopes(r)?,
                    updated_at: r.try_get("updated_at").map_err(db)?,
                })
            })
            .collect()
    }

    async fn insert_pushed_request(&self, p: &PushedRequest) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO pushed_request (id_hash, client_id, params, created_at, expires_at, used_at) \
             VALUES ($1, $2, $3, $4, $5, NULL)",
        )
        .bind(p.id_hash.0.to_vec())
        .bind(p.client_id.as_str())
        .bind(&p.params)
        .bind(p.created_at)
        .bind(p.expires_at)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn find_pushed_request(
        &self,
        id_hash: &SecretHash,
    ) -> StoreResult<Option<PushedRequest>> {
        let statement = Statement {
            sql: "SELECT id_hash, client_id, params, created_at, expires_at, used_at \
                  FROM pushed_request WHERE id_hash = $1",
            params: vec![Param::Blob(id_hash.0.to_vec())],
        };
        self.read_one(statement, |r| {
            Ok(PushedRequest {
                id_hash: hash(r, "id_hash")?,
                client_id: client_id(r)?,
                params: text(r, "params")?,
                created_at: r.int("created_at")?,
                expires_at: r.int("expires_at")?,
                used_at: r.maybe_int("used_at")?,
            })
        })
        .await
    }

    async fn spend_pushed_request(
        &self,
        id_hash: &SecretHash,
        now: UnixSeconds,
    ) -> StoreResult<bool> {
        self.guarded_write(GuardedWrite {
            guard: Statement {
                sql:
                    "UPDATE pushed_request SET used_at = $1 WHERE id_hash = $2 AND used_at IS NULL",
                params: vec![Param::Int(now), Param::Blob(id_hash.0.to_vec())],
            },
            then: Vec::new(),
        })
        .await
    }

    async fn prune_pushed_requests(&self, before: UnixSeconds) -> StoreResult<()> {
        sqlx::query("DELETE FROM pushed_request WHERE expires_at < $1")
            .bind(before)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn insert_device_authorization(&self, d: &DeviceAuthorization) -> StoreResult<bool> {
        self.insert_device(d).await
    }

    async fn find_device_authorization(
        &self,
        device_code_hash: &SecretHash,
    ) -> StoreResult<Option<DeviceAuthorization>> {
        self.find_device(crate::device::BY_DEVICE_CODE, device_code_hash)
            .await
    }

    async fn find_device_authorization_by_user_code(
        &self,
        user_code_hash: &SecretHash,
    ) -> StoreResult<Option<DeviceAuthorization>> {
        self.find_device(crate::device::BY_USER_CODE, user_code_hash)
            .await
    }

    async fn decide_device_authorization(
        &self,
        user_code_hash: &SecretHash,
        decision: Option<&DeviceApproval>,
        now: UnixSeconds,
    ) -> StoreResult<bool> {
        self.decide_device(user_code_hash, decision, now).await
    }

    async fn record_device_poll(
        &self,
        device_code_hash: &SecretHash,
        now: UnixSeconds,
        interval: i64,
    ) -> StoreResult<()> {
        self.record_poll(device_code_hash, now, interval).await
    }

    async fn spend_device_authorization(
        &self,
        device_code_hash: &SecretHash,
        client: &ClientId,
        now: UnixSeconds,
    ) -> StoreResult<bool> {
        self.spend_device(device_code_hash, client, now).await
    }

    async fn prune_device_authorizations(&self, before: UnixSeconds) -> StoreResult<()> {
        self.prune_devices(before).await
    }

    async fn insert_authorization_code(&self, c: &AuthorizationCode) -> StoreResult<()> {
        sqlx::query(&format!(
            "INSERT INTO authorization_code ({}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
            code_columns!()
        ))
        .bind(c.code_hash.0.to_vec())
        .bind(c.client_id.as_str())
        .bind(&c.redirect_uri)
        .bind(i64::from(c.redirect_uri_sent))
        .bind(c.user_id.as_str())
        .bind(c.account_id.as_str())
        .bind(c.scopes.to_string())
        .bind(c.code_challenge.clone())
        .bind(c.nonce.clone())
        .bind(c.auth_time)
        .bind(c.token_set_id.as_str())
        .bind(c.created_at)
        .bind(c.expires_at)
        .bind(c.dpop_jkt.clone())
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn consume_authorization_code(
        &self,
        code_hash: &SecretHash,
        client: &ClientId,
        now: UnixSeconds,
    ) -> StoreResult<CodeConsumption> {
        // The client is part of the condition: another client's code stays as it was.
        let params = vec![
            Param::Int(now),
            Param::Blob(code_hash.0.to_vec()),
            Param::Text(client.to_string()),
        ];
        let consumed = if self.dialect == Dialect::Postgres {
            let consumed = Statement {
                sql: CONSUME_CODE_RETURNING,
                params,
            }
            .sqlx()
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
            if let Some(row) = consumed {
                return Ok(CodeConsumption::Consumed(code(&row)?));
            }
            false
        } else {
            self.guarded_write(GuardedWrite {
                guard: Statement {
                    sql: consume_code!(),
                    params,
                },
                then: Vec::new(),
            })
            .await?
        };
        let found = self
            .read_one(
                Statement {
                    sql: CODE_OF_CLIENT,
                    params: vec![
                        Param::Blob(code_hash.0.to_vec()),
                        Param::Text(client.to_string()),
                    ],
                },
                |r| code(r),
            )
            .await?;
        Ok(match found {
            Some(c) if consumed => CodeConsumption::Consumed(c),
            Some(c) => CodeConsumption::AlreadyUsed(c),
            None => CodeConsumption::NotFound,
        })
    }

    async fn prune_authorization_codes(&self, before: UnixSeconds) -> StoreResult<()> {
        sqlx::query("DELETE FROM authorization_code WHERE expires_at < $1")
            .bind(before)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn insert_token_set(&self, s: &TokenSet, first: &RefreshToken) -> StoreResult<bool> {
        // A row already there is the revoked set of a replayed code.
        if self.dialect == Dialect::Postgres {
            return self.start_set_in_batch(s, first).await;
        }
        self.guarded_write(GuardedWrite {
            guard: Statement {
                sql: "INSERT INTO token_set (id, client_id, user_id, account_id, scopes, created_at, revoked_at, auth_time, dpop_jkt) \
                      VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (id) DO NOTHING",
                params: vec![
                    Param::Text(s.id.to_string()),
                    Param::Text(s.client_id.to_string()),
                    Param::Text(s.user_id.to_string()),
                    Param::Text(s.account_id.to_string()),
                    Param::Text(s.scopes.to_string()),
                    Param::Int(s.created_at),
                    Param::MaybeInt(s.revoked_at),
                    Param::MaybeInt(s.auth_time),
                    Param::MaybeText(s.dpop_jkt.clone()),
                ],
            },
            then: vec![insert_refresh(first)],
        })
        .await
    }

    async fn revoke_token_set_of_code(
        &self,
        c: &AuthorizationCode,
        now: UnixSeconds,
    ) -> StoreResult<()> {
        self.guarded_write(GuardedWrite {
            guard: Statement {
                sql: "INSERT INTO token_set (id, client_id, user_id, account_id, scopes, created_at, revoked_at, auth_time) \
                      VALUES ($1, $2, $3, $4, $5, $6, $6, $7) \
                      ON CONFLICT (id) DO UPDATE SET revoked_at = excluded.revoked_at \
                      WHERE token_set.revoked_at IS NULL",
                params: vec![
                    Param::Text(c.token_set_id.to_string()),
                    Param::Text(c.client_id.to_string()),
                    Param::Text(c.user_id.to_string()),
                    Param::Text(c.account_id.to_string()),
                    Param::Text(c.scopes.to_string()),
                    Param::Int(now),
                    Param::MaybeInt(c.auth_time),
                ],
            },
            then: vec![change(ChangeKind::TokenSet, c.token_set_id.as_str(), now)],
        })
        .await?;
        Ok(())
    }

    async fn find_refresh_token(
        &self,
        token_hash: &SecretHash,
    ) -> StoreResult<Option<(RefreshToken, TokenSet)>> {
        let statement = Statement {
            sql: "SELECT r.token_hash, r.token_set_id, r.created_at AS r_created_at, r.used_at, r.access_jti, \
                         r.access_expires_at, s.client_id, s.user_id, s.account_id, s.scopes, \
                         s.created_at AS s_created_at, s.revoked_at, s.auth_time, s.dpop_jkt \
                  FROM refresh_token r JOIN token_set s ON s.id = r.token_set_id WHERE r.token_hash = $1",
            params: vec![Param::Blob(token_hash.0.to_vec())],
        };
        self.read_one(statement, |r| {
            let set_id = token_set_id(r, "token_set_id")?;
            let refresh = RefreshToken {
                token_hash: hash(r, "token_hash")?,
                token_set_id: set_id.clone(),
                created_at: r.int("r_created_at")?,
                used_at: r.maybe_int("used_at")?,
                access_jti: r.text("access_jti")?,
                access_expires_at: r.int("access_expires_at")?,
            };
            let set = TokenSet {
                id: set_id,
                client_id: client_id(r)?,
                user_id: user_id(r)?,
                account_id: account_id(r)?,
                scopes: scopes(r)?,
                auth_time: r.maybe_int("auth_time")?,
                dpop_jkt: r.maybe_text("dpop_jkt")?,
                created_at: r.int("s_created_at")?,
                revoked_at: r.maybe_int("revoked_at")?,
            };
            Ok((refresh, set))
        })
        .await
    }

    async fn rotate_refresh_token(
        &self,
        old: &RefreshToken,
        new: &RefreshToken,
        retry: Option<&[u8]>,
        now: UnixSeconds,
    ) -> StoreResult<Rotation> {
        // Spent only if unused and its set is live; the new token, the old access token's
        // revocation and the change other processes read commit with it or not at all, and
        // the sealed retry answer is visible exactly when the token reads as spent.
        let rotated = if self.dialect == Dialect::Postgres {
            self.rotate_in_batch(old, new, retry, now).await?
        } else {
            self.guarded_write(GuardedWrite {
                guard: Statement {
                    sql: "UPDATE refresh_token SET used_at = $1, retry_sealed = $2 \
                          WHERE token_hash = $3 AND used_at IS NULL \
                          AND EXISTS (SELECT 1 FROM token_set s WHERE s.id = refresh_token.token_set_id \
                                      AND s.revoked_at IS NULL)",
                    params: vec![
                        Param::Int(now),
                        Param::MaybeBlob(retry.map(<[u8]>::to_vec)),
                        Param::Blob(old.token_hash.0.to_vec()),
                    ],
                },
                then: vec![
                    insert_refresh(new),
                    Statement {
                        sql: "INSERT INTO revoked_token (jti, expires_at, revoked_at) VALUES ($1, $2, $3) \
                              ON CONFLICT (jti) DO NOTHING",
                        params: vec![
                            Param::Text(old.access_jti.clone()),
                            Param::Int(old.access_expires_at),
                            Param::Int(now),
                        ],
                    },
                    change(ChangeKind::RevokedToken, &old.access_jti, now),
                ],
            })
            .await?
        };
        if rotated {
            return Ok(Rotation::Rotated);
        }
        // Only report why; what a replay costs is the core's decision. Neither a spent
        // token nor a revoked set ever becomes live again, so this read cannot mislead.
        let found = self
            .read_one(
                Statement {
                    sql: "SELECT r.used_at, s.revoked_at FROM refresh_token r \
                          JOIN token_set s ON s.id = r.token_set_id WHERE r.token_hash = $1",
                    params: vec![Param::Blob(old.token_hash.0.to_vec())],
                },
                |r| Ok((r.maybe_int("used_at")?, r.maybe_int("revoked_at")?)),
            )
            .await?;
        Ok(match found {
            Some((Some(_), _)) => Rotation::Reused,
            Some((None, _)) => Rotation::SetRevoked,
            None => Rotation::NotFound,
        })
    }

    async fn refresh_retry(&self, token_hash: &SecretHash) -> StoreResult<Option<Vec<u8>>> {
        let found = self
            .read_one(
                Statement {
                    sql: "SELECT retry_sealed FROM refresh_token WHERE token_hash = $1",
                    params: vec![Param::Blob(token_hash.0.to_vec())],
                },
                |r| r.maybe_blob("retry_sealed"),
            )
            .await?;
        Ok(found.flatten())
    }

    async fn prune_refresh_retries(&self, before: UnixSeconds) -> StoreResult<()> {
        sqlx::query(
            "UPDATE refresh_token SET retry_sealed = NULL \
             WHERE retry_sealed IS NOT NULL AND used_at < $1",
        )
        .bind(before)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn prune_refresh_tokens(
        &self,
        spent_before: UnixSeconds,
        revoked_before: UnixSeconds,
    ) -> StoreResult<u64> {
        self.prune_refresh_tokens_in_batches(spent_before, revoked_before)
            .await
    }

    async fn revoke_token_set(&self, id: &TokenSetId, now: UnixSeconds) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let revoked = revoke_set(&mut tx, id, now).await?;
        tx.commit().await.map_err(db)?;
        Ok(revoked)
    }

    async fn list_authorizations(&self, user: &UserId) -> StoreResult<Vec<Authorization>> {
        let rows = sqlx::query(
            "SELECT c.client_id, k.name AS client_name, c.account_id, c.scopes, c.updated_at,                     (SELECT MAX(r.created_at) FROM refresh_token r JOIN token_set s ON s.id = r.token_set_id                      WHERE s.user_id = c.user_id AND s.client_id = c.client_id AND s.account_id = c.account_id) AS last_used_at              FROM consent c JOIN client k ON k.id = c.client_id WHERE c.user_id = $1 ORDER BY c.updated_at DESC",
        )
        .bind(user.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter()
            .map(|r| {
                Ok(Authorization {
                    client_id: client_id(r)?,
                    client_name: text(r, "client_name")?,
                    account_id: account_id(r)?,
                    scopes: scopes(r)?,
                    updated_at: r.try_get("updated_at").map_err(db)?,
                    last_used_at: r.try_get("last_used_at").map_err(db)?,
                })
            })
            .collect()
    }

    async fn deauthorize(
        &self,
        user: &UserId,
        client: &ClientId,
        account: Option<&AccountId>,
        now: UnixSeconds,
    ) -> StoreResult<Vec<TokenSetId>> {
        // One account's authorization, or all of the pair's: the filter is a third binding.
        let (of_account, binds) = match account {
            Some(a) => (" AND account_id = $3", vec![a.as_str()]),
            None => ("", vec![]),
        };
        let mut tx = self.begin().await?;
        let delete =
            format!("DELETE FROM consent WHERE user_id = $1 AND client_id = $2{of_account}");
        let mut q = sqlx::query(&delete)
            .bind(user.as_str())
            .bind(client.as_str());
        for b in &binds {
            q = q.bind(*b);
        }
        q.execute(&mut *tx).await.map_err(db)?;
        let select = format!(
            "SELECT id FROM token_set WHERE user_id = $1 AND client_id = $2{of_account} AND revoked_at IS NULL"
        );
        let mut q = sqlx::query(&select)
            .bind(user.as_str())
            .bind(client.as_str());
        for b in &binds {
            q = q.bind(*b);
        }
        let ids = revoke_live_sets(&mut tx, q, now).await?;
        tx.commit().await.map_err(db)?;
        Ok(ids)
    }

    async fn list_revoked_token_sets(&self, since: UnixSeconds) -> StoreResult<Vec<TokenSetId>> {
        let rows = sqlx::query(
            "SELECT id FROM token_set WHERE revoked_at IS NOT NULL AND revoked_at > $1",
        )
        .bind(since)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter().map(|r| token_set_id(r, "id")).collect()
    }
}
