//! Device authorizations (RFC 8628): stored when a device asks, decided by the user on the
//! verification page, polled by the device, and spent by the one token response an approval
//! yields. Each step that must happen once is one conditional UPDATE, as for codes.

use tessera_core::domain::{ClientId, SecretHash};
use tessera_core::error::StoreError;
use tessera_core::store::{DeviceApproval, DeviceAuthorization, DeviceStatus, StoreResult};
use tessera_core::UnixSeconds;

use crate::authorization::{account_id, client_id, hash, scopes, token_set_id, user_id};
use crate::statement::{Columns, Param, Statement};
use crate::write::GuardedWrite;
use crate::{corrupt, db, SqlStore};

const PENDING: &str = "pending";
const APPROVED: &str = "approved";
const DENIED: &str = "denied";

/// The query for one device authorization, found by the column `$key`.
macro_rules! select_by {
    ($key:literal) => {
        concat!(
            "SELECT device_code_hash, user_code_hash, client_id, scopes, status, user_id, ",
            "account_id, granted_scopes, auth_time, token_set_id, poll_interval, last_polled_at, ",
            "created_at, expires_at, used_at FROM device_authorization WHERE ",
            $key,
            " = $1"
        )
    };
}
pub(crate) const BY_DEVICE_CODE: &str = select_by!("device_code_hash");
pub(crate) const BY_USER_CODE: &str = select_by!("user_code_hash");

fn device(r: &(impl Columns + ?Sized)) -> Result<DeviceAuthorization, StoreError> {
    let status = r.text("status")?;
    let status = match status.as_str() {
        PENDING => DeviceStatus::Pending,
        DENIED => DeviceStatus::Denied,
        APPROVED => {
            let granted = r.maybe_text("granted_scopes")?.unwrap_or_default();
            DeviceStatus::Approved(DeviceApproval {
                user_id: user_id(r)?,
                account_id: account_id(r)?,
                scopes: tessera_core::domain::ScopeSet::parse(&granted)
                    .map_err(|_| corrupt("granted scopes", &granted))?,
                auth_time: r.int("auth_time")?,
            })
        }
        other => return Err(corrupt("device authorization status", other)),
    };
    Ok(DeviceAuthorization {
        device_code_hash: hash(r, "device_code_hash")?,
        user_code_hash: hash(r, "user_code_hash")?,
        client_id: client_id(r)?,
        scopes: scopes(r)?,
        status,
        token_set_id: token_set_id(r, "token_set_id")?,
        interval: r.int("poll_interval")?,
        last_polled_at: r.maybe_int("last_polled_at")?,
        created_at: r.int("created_at")?,
        expires_at: r.int("expires_at")?,
        used_at: r.maybe_int("used_at")?,
    })
}

impl SqlStore {
    pub(crate) async fn insert_device(&self, d: &DeviceAuthorization) -> StoreResult<bool> {
        self.guarded_write(GuardedWrite {
            guard: Statement {
                sql: "INSERT INTO device_authorization (device_code_hash, user_code_hash, client_id, \
                      scopes, status, token_set_id, poll_interval, created_at, expires_at) \
                      VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING",
                params: vec![
                    Param::Blob(d.device_code_hash.0.to_vec()),
                    Param::Blob(d.user_code_hash.0.to_vec()),
                    Param::Text(d.client_id.to_string()),
                    Param::Text(d.scopes.to_string()),
                    Param::Text(PENDING.into()),
                    Param::Text(d.token_set_id.to_string()),
                    Param::Int(d.interval),
                    Param::Int(d.created_at),
                    Param::Int(d.expires_at),
                ],
            },
            then: Vec::new(),
        })
        .await
    }

    pub(crate) async fn find_device(
        &self,
        sql: &'static str,
        code_hash: &SecretHash,
    ) -> StoreResult<Option<DeviceAuthorization>> {
        let statement = Statement {
            sql,
            params: vec![Param::Blob(code_hash.0.to_vec())],
        };
        self.read_one(statement, |r| device(r)).await
    }

    pub(crate) async fn decide_device(
        &self,
        user_code_hash: &SecretHash,
        decision: Option<&DeviceApproval>,
        now: UnixSeconds,
    ) -> StoreResult<bool> {
        let (status, user, account, scopes, auth_time) = match decision {
            Some(a) => (
                APPROVED,
                Some(a.user_id.to_string()),
                Some(a.account_id.to_string()),
                Some(a.scopes.to_string()),
                Some(a.auth_time),
            ),
            None => (DENIED, None, None, None, None),
        };
        self.guarded_write(GuardedWrite {
            guard: Statement {
                sql: "UPDATE device_authorization SET status = $1, user_id = $2, account_id = $3, \
                      granted_scopes = $4, auth_time = $5 \
                      WHERE user_code_hash = $6 AND status = 'pending' AND expires_at > $7",
                params: vec![
                    Param::Text(status.into()),
                    Param::MaybeText(user),
                    Param::MaybeText(account),
                    Param::MaybeText(scopes),
                    Param::MaybeInt(auth_time),
                    Param::Blob(user_code_hash.0.to_vec()),
                    Param::Int(now),
                ],
            },
            then: Vec::new(),
        })
        .await
    }

    pub(crate) async fn record_poll(
        &self,
        device_code_hash: &SecretHash,
        now: UnixSeconds,
        interval: i64,
    ) -> StoreResult<()> {
        self.guarded_write(GuardedWrite {
            guard: Statement {
                sql: "UPDATE device_authorization SET last_polled_at = $1, poll_interval = $2 \
                      WHERE device_code_hash = $3",
                params: vec![
                    Param::Int(now),
                    Param::Int(interval),
                    Param::Blob(device_code_hash.0.to_vec()),
                ],
            },
            then: Vec::new(),
        })
        .await
        .map(|_| ())
    }

    pub(crate) async fn spend_device(
        &self,
        device_code_hash: &SecretHash,
        client: &ClientId,
        now: UnixSeconds,
    ) -> StoreResult<bool> {
        self.guarded_write(GuardedWrite {
            guard: Statement {
                sql: "UPDATE device_authorization SET used_at = $1 \
                      WHERE device_code_hash = $2 AND client_id = $3 \
                      AND status = 'approved' AND used_at IS NULL",
                params: vec![
                    Param::Int(now),
                    Param::Blob(device_code_hash.0.to_vec()),
                    Param::Text(client.to_string()),
                ],
            },
            then: Vec::new(),
        })
        .await
    }

    pub(crate) async fn prune_devices(&self, before: UnixSeconds) -> StoreResult<()> {
        sqlx::query("DELETE FROM device_authorization WHERE expires_at < $1")
            .bind(before)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }
}
