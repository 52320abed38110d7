//! Clients and their secrets.

use std::collections::HashMap;

use async_trait::async_trait;
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::Query;
use sqlx::{Any, Row};
use tessera_core::domain::{
    AccountId, Client, ClientId, ClientKeys, ClientKind, ClientStatus, GrantType, ScopeSet,
    SecretHash, StoredSecret,
};
use tessera_core::error::StoreError;
use tessera_core::store::{ChangeKind, ClientStore, StoreResult};
use tessera_core::UnixSeconds;

use crate::changes::record;
use crate::statement::{Param, Statement};
use crate::write::GuardedWrite;
use crate::{corrupt, db, SqlStore};

pub(crate) const CLIENT_COLUMNS: &str = "id, name, kind, account_id, grant_types, scopes, \
     redirect_uris, status, public, approved, require_pkce, post_logout_redirect_uris, \
     require_par, jwks, jwks_uri, dpop_bound, created_at";
/// How many columns [`CLIENT_COLUMNS`] names, and [`bind_client`] binds.
pub(crate) const CLIENT_COLUMN_COUNT: usize = 17;

/// A newline-separated column of URIs.
fn uris(raw: &str) -> Vec<String> {
    raw.split('\n')
        .filter(|u| !u.is_empty())
        .map(str::to_owned)
        .collect()
}

fn client(r: &AnyRow, secrets: Vec<StoredSecret>) -> Result<Client, StoreError> {
    let text = |col: &str| -> Result<String, StoreError> { r.try_get(col).map_err(db) };
    let id = text("id")?;
    let kind = text("kind")?;
    let status = text("status")?;
    let account: Option<String> = r.try_get("account_id").map_err(db)?;
    let grants = text("grant_types")?;
    let scopes = text("scopes")?;
    Ok(Client {
        id: ClientId::parse(&id).ok_or_else(|| corrupt("client id", &id))?,
        name: text("name")?,
        kind: ClientKind::parse(&kind).ok_or_else(|| corrupt("client kind", &kind))?,
        account_id: account
            .map(|a| AccountId::parse(&a).ok_or_else(|| corrupt("account id", &a)))
            .transpose()?,
        grant_types: grants
            .split(' ')
            .filter(|g| !g.is_empty())
            .map(|g| GrantType::parse(g).ok_or_else(|| corrupt("grant type", g)))
            .collect::<Result<_, _>>()?,
        scopes: ScopeSet::parse(&scopes).map_err(|_| corrupt("scopes", &scopes))?,
        redirect_uris: uris(&text("redirect_uris")?),
        status: ClientStatus::parse(&status).ok_or_else(|| corrupt("client status", &status))?,
        public: r.try_get::<i64, _>("public").map_err(db)? != 0,
        approved: r.try_get::<i64, _>("approved").map_err(db)? != 0,
        require_pkce: r.try_get::<i64, _>("require_pkce").map_err(db)? != 0,
        post_logout_redirect_uris: uris(&text("post_logout_redirect_uris")?),
        require_par: r.try_get::<i64, _>("require_par").map_err(db)? != 0,
        jwks: match (
            r.try_get::<Option<String>, _>("jwks").map_err(db)?,
            r.try_get::<Option<String>, _>("jwks_uri").map_err(db)?,
        ) {
            (Some(set), _) => Some(ClientKeys::Inline(set)),
            (None, Some(uri)) => Some(ClientKeys::Uri(uri)),
            (None, None) => None,
        },
        dpop_bound: r.try_get::<i64, _>("dpop_bound").map_err(db)? != 0,
        secrets,
        created_at: r.try_get("created_at").map_err(db)?,
    })
}

fn secret(r: &AnyRow) -> Result<StoredSecret, StoreError> {
    let hash: Vec<u8> = r.try_get("secret_hash").map_err(db)?;
    Ok(StoredSecret {
        hash: SecretHash::from_slice(&hash).ok_or_else(|| corrupt("secret hash", "(bytes)"))?,
        created_at: r.try_get("created_at").map_err(db)?,
        expires_at: r.try_get("expires_at").map_err(db)?,
    })
}

/// Binds a client's columns, in `CLIENT_COLUMNS` order, as the next
/// [`CLIENT_COLUMN_COUNT`] parameters.
pub(crate) fn bind_client<'q>(
    query: Query<'q, Any, AnyArguments<'q>>,
    c: &'q Client,
) -> Query<'q, Any, AnyArguments<'q>> {
    let grants: Vec<&str> = c.grant_types.iter().map(|g| g.as_str()).collect();
    query
        .bind(c.id.as_str())
        .bind(c.name.as_str())
        .bind(c.kind.as_str())
        .bind(c.account_id.as_ref().map(|a| a.as_str().to_owned()))
        .bind(grants.join(" "))
        .bind(c.scopes.to_string())
        .bind(c.redirect_uris.join("\n"))
        .bind(c.status.as_str())
        .bind(i64::from(c.public))
        .bind(i64::from(c.approved))
        .bind(i64::from(c.require_pkce))
        .bind(c.post_logout_redirect_uris.join("\n"))
        .bind(i64::from(c.require_par))
        .bind(match &c.jwks {
            Some(ClientKeys::Inline(set)) => Some(set.clone()),
            _ => None,
        })
        .bind(match &c.jwks {
            Some(ClientKeys::Uri(uri)) => Some(uri.clone()),
            _ => None,
        })
        .bind(i64::from(c.dpop_bound))
        .bind(c.created_at)
}

#[async_trait]
impl ClientStore for SqlStore {
    async fn record_client_assertion(
        &self,
        client: &ClientId,
        jti: &str,
        expires_at: UnixSeconds,
    ) -> StoreResult<bool> {
        self.guarded_write(GuardedWrite {
            guard: Statement {
                sql:
                    "INSERT INTO client_assertion (client_id, jti, expires_at) VALUES ($1, $2, $3) \
                      ON CONFLICT (client_id, jti) DO NOTHING",
                params: vec![
                    Param::Text(client.to_string()),
                    Param::Text(jti.to_owned()),
                    Param::Int(expires_at),
                ],
            },
            then: Vec::new(),
        })
        .await
    }

    async fn record_dpop_proof(
        &self,
        proof_hash: &SecretHash,
        expires_at: UnixSeconds,
    ) -> StoreResult<bool> {
        // A guarded write, so that on SQLite concurrent token requests share one commit
        // (the writer thread's group commit) instead of paying one each.
        self.guarded_write(GuardedWrite {
            guard: Statement {
                sql: "INSERT INTO dpop_proof (proof_hash, expires_at) VALUES ($1, $2) \
                      ON CONFLICT (proof_hash) DO NOTHING",
                params: vec![Param::Blob(proof_hash.0.to_vec()), Param::Int(expires_at)],
            },
            then: Vec::new(),
        })
        .await
    }

    async fn prune_dpop_proofs(&self, before: UnixSeconds) -> StoreResult<()> {
        sqlx::query("DELETE FROM dpop_proof WHERE expires_at < $1")
            .bind(before)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn prune_client_assertions(&self, before: UnixSeconds) -> StoreResult<()> {
        sqlx::query("DELETE FROM client_assertion WHERE expires_at < $1")
            .bind(before)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn insert_clients(&self, clients: &[Client]) -> StoreResult<()> {
        let placeholders: Vec<String> =
            (1..=CLIENT_COLUMN_COUNT).map(|i| format!("${i}")).collect();
        let sql = format!(
            "INSERT INTO client ({CLIENT_COLUMNS}) VALUES ({})",
            placeholders.join(", ")
        );
        let mut tx = self.begin().await?;
        for c in clients {
            bind_client(sqlx::query(&sql), c)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
            for s in &c.secrets {
                insert_secret(&mut tx, &c.id, s).await?;
            }
            record(&mut tx, ChangeKind::Client, c.id.as_str(), c.created_at).await?;
        }
        tx.commit().await.map_err(db)
    }

    async fn find_client(&self, id: &ClientId) -> StoreResult<Option<Client>> {
        let Some(row) = sqlx::query(&format!(
            "SELECT {CLIENT_COLUMNS} FROM client WHERE id = $1"
        ))
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?
        else {
            return Ok(None);
        };
        let secrets = sqlx::query(
            "SELECT secret_hash, created_at, expires_at FROM client_secret WHERE client_id = $1 ORDER BY id",
        )
        .bind(id.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        let secrets = secrets.iter().map(secret).collect::<Result<_, _>>()?;
        client(&row, secrets).map(Some)
    }

    async fn list_clients(&self, account: Option<&AccountId>) -> StoreResult<Vec<Client>> {
        let filter = if account.is_some() {
            "WHERE c.account_id = $1"
        } else {
            ""
        };
        let account = account.map(|a| a.as_str().to_owned());
        let secret_rows = sqlx::query(&format!(
            "SELECT s.client_id, s.secret_hash, s.created_at, s.expires_at \
             FROM client_secret s JOIN client c ON c.id = s.client_id {filter} ORDER BY s.id"
        ))
        .bind(account.clone())
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        let mut secrets: HashMap<String, Vec<StoredSecret>> = HashMap::new();
        for r in &secret_rows {
            let id: String = r.try_get("client_id").map_err(db)?;
            secrets.entry(id).or_default().push(secret(r)?);
        }
        let columns = CLIENT_COLUMNS.replace(", ", ", c.");
        let rows = sqlx::query(&format!(
            "SELECT c.{columns} FROM client c {filter} ORDER BY c.created_at, c.id"
        ))
        .bind(account)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter()
            .map(|r| {
                let id: String = r.try_get("id").map_err(db)?;
                client(r, secrets.remove(&id).unwrap_or_default())
            })
            .collect()
    }

    async fn update_client_status(
        &self,
        id: &ClientId,
        status: ClientStatus,
        now: UnixSeconds,
    ) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let updated = sqlx::query("UPDATE client SET status = $1 WHERE id = $2")
            .bind(status.as_str())
            .bind(id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db)?
            .rows_affected();
        if updated == 0 {
            return Ok(false);
        }
        record(&mut tx, ChangeKind::Client, id.as_str(), now).await?;
        tx.commit().await.map_err(db)?;
        Ok(true)
    }

    async fn insert_client_secret(
        &self,
        id: &ClientId,
        secret: &StoredSecret,
        others_expire_at: Option<UnixSeconds>,
        now: UnixSeconds,
    ) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        if let Some(end) = others_expire_at {
            sqlx::query(
                "UPDATE client_secret SET expires_at = $1 \
                 WHERE client_id = $2 AND (expires_at IS NULL OR expires_at > $1)",
            )
            .bind(end)
            .bind(id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        }
        let exists = sqlx::query("SELECT 1 AS one FROM client WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?
            .is_some();
        if !exists {
            return Ok(false);
        }
        insert_secret(&mut tx, id, secret).await?;
        record(&mut tx, ChangeKind::Client, id.as_str(), now).await?;
        tx.commit().await.map_err(db)?;
        Ok(true)
    }

    async fn update_client_approved(
        &self,
        id: &ClientId,
        approved: bool,
        now: UnixSeconds,
    ) -> StoreResult<bool> {
        set_flag(self, id, ClientFlag::Approved, approved, now).await
    }

    async fn update_client_require_pkce(
        &self,
        id: &ClientId,
        require_pkce: bool,
        now: UnixSeconds,
    ) -> StoreResult<bool> {
        set_flag(self, id, ClientFlag::RequirePkce, require_pkce, now).await
    }

    async fn expire_older_client_secrets(
        &self,
        id: &ClientId,
        now: UnixSeconds,
    ) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let n = sqlx::query(
            "UPDATE client_secret SET expires_at = $1 WHERE client_id = $2 \
             AND id < (SELECT MAX(id) FROM client_secret WHERE client_id = $2) \
             AND (expires_at IS NULL OR expires_at > $1)",
        )
        .bind(now)
        .bind(id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db)?
        .rows_affected();
        record(&mut tx, ChangeKind::Client, id.as_str(), now).await?;
        tx.commit().await.map_err(db)?;
        Ok(n > 0)
    }
}

/// A client's boolean settings the operator switches.
#[derive(Clone, Copy)]
enum ClientFlag {
    Approved,
    RequirePkce,
}

impl ClientFlag {
    fn update(self) -> &'static str {
        match self {
            Self::Approved => "UPDATE client SET approved = $1 WHERE id = $2",
            Self::RequirePkce => "UPDATE client SET require_pkce = $1 WHERE id = $2",
        }
    }
}

/// Sets one flag and records the change, so every server's client cache reloads the
/// client; false when there is no such client.
async fn set_flag(
    store: &SqlStore,
    id: &ClientId,
    flag: ClientFlag,
    value: bool,
    now: UnixSeconds,
) -> StoreResult<bool> {
    let mut tx = store.begin().await?;
    let n = sqlx::query(flag.update())
        .bind(i64::from(value))
        .bind(id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db)?
        .rows_affected();
    if n == 0 {
        return Ok(false);
    }
    record(&mut tx, ChangeKind::Client, id.as_str(), now).await?;
    tx.commit().await.map_err(db)?;
    Ok(true)
}

async fn insert_secret(
    conn: &mut sqlx::AnyConnection,
    id: &ClientId,
    s: &StoredSecret,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO client_secret (client_id, secret_hash, created_at, expires_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(id.as_str())
    .bind(s.hash.0.to_vec())
    .bind(s.created_at)
    .bind(s.expires_at)
    .execute(conn)
    .await
    .map_err(db)?;
    Ok(())
}
