//! Legacy Basic credentials, their usage buckets and the first-token mark of clients; each
//! change's audit event is written in the same transaction as the change.

use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use tessera_core::audit::AuditEvent;
use tessera_core::domain::{AccountId, ClientId, ExternalId, LegacyId};
use tessera_core::error::StoreError;
use tessera_core::legacy::bearer_usage::{BearerUsageDelta, DailyUsage};
use tessera_core::legacy::console::{LegacyTotals, ReportFilter, ReportPage, ReportSort};
use tessera_core::legacy::report::ReportWindows;
use tessera_core::legacy::usage::{LegacyReportRow, UsageDelta};
use tessera_core::legacy::{Email, LegacyCredential, LegacyState, PasswordHash};
use tessera_core::store::{ChangeKind, LegacyStore, Progress, StoreResult, TokenSource, TokenUse};
use tessera_core::UnixSeconds;

use crate::audit::{bind_event, insert_audit, AUDIT_COLUMNS, AUDIT_COLUMN_COUNT};
use crate::changes::record;
use crate::multi_row::{
    insert_statement, parameter_list, rows_per_statement, PARAMETERS_PER_STATEMENT,
};
use crate::{corrupt, db, SqlStore};

const COLUMNS: &str = "id, account_id, email, password_hash, state, migrated_client_id, \
     created_at, updated_at, migrated_at, removed_at, last_used_at";

pub(crate) fn legacy_id(raw: &str) -> Result<LegacyId, StoreError> {
    LegacyId::parse(raw).ok_or_else(|| corrupt("legacy credential id", raw))
}

pub(crate) fn account_id(raw: &str) -> Result<AccountId, StoreError> {
    AccountId::parse(raw).ok_or_else(|| corrupt("account id", raw))
}

pub(crate) fn client_id(raw: Option<String>) -> Result<Option<ClientId>, StoreError> {
    raw.map(|c| ClientId::parse(&c).ok_or_else(|| corrupt("client id", &c)))
        .transpose()
}

pub(crate) fn external_id(raw: Option<String>) -> Result<Option<ExternalId>, StoreError> {
    raw.map(|e| ExternalId::parse(&e).map_err(|_| corrupt("external id", &e)))
        .transpose()
}

pub(crate) fn email(raw: &str) -> Result<Email, StoreError> {
    Email::parse(raw).ok_or_else(|| corrupt("email", raw))
}

pub(crate) fn state(raw: &str) -> Result<LegacyState, StoreError> {
    LegacyState::parse(raw).ok_or_else(|| corrupt("legacy credential state", raw))
}

fn credential(r: &AnyRow) -> Result<LegacyCredential, StoreError> {
    let text = |col: &str| -> Result<String, StoreError> { r.try_get(col).map_err(db) };
    let hash: Option<String> = r.try_get("password_hash").map_err(db)?;
    Ok(LegacyCredential {
        id: legacy_id(&text("id")?)?,
        account_id: account_id(&text("account_id")?)?,
        email: email(&text("email")?)?,
        password_hash: hash
            .map(|h| PasswordHash::parse(&h).ok_or_else(|| corrupt("password hash", "(hidden)")))
            .transpose()?,
        state: state(&text("state")?)?,
        migrated_client_id: client_id(r.try_get("migrated_client_id").map_err(db)?)?,
        created_at: r.try_get("created_at").map_err(db)?,
        updated_at: r.try_get("updated_at").map_err(db)?,
        migrated_at: r.try_get("migrated_at").map_err(db)?,
        removed_at: r.try_get("removed_at").map_err(db)?,
        last_used_at: r.try_get("last_used_at").map_err(db)?,
    })
}

/// Inserts one credential row and its change record (at `changed_at`).
async fn insert_credential_row(
    conn: &mut AnyConnection,
    c: &LegacyCredential,
    changed_at: UnixSeconds,
) -> StoreResult<()> {
    sqlx::query(&format!(
        "INSERT INTO legacy_credential ({COLUMNS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
    ))
    .bind(c.id.as_str())
    .bind(c.account_id.as_str())
    .bind(c.email.as_str())
    .bind(c.password_hash.as_ref().map(|h| h.as_str().to_owned()))
    .bind(c.state.as_str())
    .bind(c.migrated_client_id.as_ref().map(|m| m.as_str().to_owned()))
    .bind(c.created_at)
    .bind(c.updated_at)
    .bind(c.migrated_at)
    .bind(c.removed_at)
    .bind(c.last_used_at)
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    record(
        conn,
        ChangeKind::LegacyCredential,
        c.id.as_str(),
        changed_at,
    )
    .await
}

/// Credentials an import writes between two progress reports.
const IMPORT_BATCH: usize = 1_000;
const CREDENTIAL_COLUMN_COUNT: usize = 11;
const CHANGE_COLUMNS: &str = "change_event (kind, subject, created_at)";

/// Inserts imported credentials, their change records (at the audit event's time, not the
/// file's `created_at`) and their audit events, many rows per statement.
async fn insert_imported(
    conn: &mut AnyConnection,
    batch: &[(LegacyCredential, AuditEvent)],
) -> StoreResult<()> {
    let table = format!("legacy_credential ({COLUMNS})");
    for chunk in batch.chunks(rows_per_statement(CREDENTIAL_COLUMN_COUNT)) {
        let sql = insert_statement(&table, CREDENTIAL_COLUMN_COUNT, chunk.len());
        let mut query = sqlx::query(&sql);
        for (c, _) in chunk {
            query = query
                .bind(c.id.as_str())
                .bind(c.account_id.as_str())
                .bind(c.email.as_str())
                .bind(c.password_hash.as_ref().map(|h| h.as_str().to_owned()))
                .bind(c.state.as_str())
                .bind(c.migrated_client_id.as_ref().map(|m| m.as_str().to_owned()))
                .bind(c.created_at)
                .bind(c.updated_at)
                .bind(c.migrated_at)
                .bind(c.removed_at)
                .bind(c.last_used_at);
        }
        query.execute(&mut *conn).await.map_err(db)?;
    }
    for chunk in batch.chunks(rows_per_statement(3)) {
        let sql = insert_statement(CHANGE_COLUMNS, 3, chunk.len());
        let mut query = sqlx::query(&sql);
        for (c, audit) in chunk {
            query = query
                .bind(ChangeKind::LegacyCredential.as_str())
                .bind(c.id.as_str())
                .bind(audit.at);
        }
        query.execute(&mut *conn).await.map_err(db)?;
    }
    for chunk in batch.chunks(rows_per_statement(AUDIT_COLUMN_COUNT)) {
        let sql = insert_statement(AUDIT_COLUMNS, AUDIT_COLUMN_COUNT, chunk.len());
        let mut query = sqlx::query(&sql);
        for (_, e) in chunk {
            query = bind_event(query, e);
        }
        query.execute(&mut *conn).await.map_err(db)?;
    }
    Ok(())
}

impl SqlStore {
    /// Runs one credential `UPDATE` (`$1` is `now`, `$2` the id, then `binds`), and when it
    /// changed a row, records the change and the audit event in the same transaction.
    async fn update_credential(
        &self,
        sql: &str,
        id: &LegacyId,
        binds: &[Option<String>],
        audit: &AuditEvent,
    ) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let mut query = sqlx::query(sql).bind(audit.at).bind(id.as_str());
        for b in binds {
            query = query.bind(b.clone());
        }
        let updated = query.execute(&mut *tx).await.map_err(db)?.rows_affected();
        if updated == 0 {
            return Ok(false);
        }
        record(&mut tx, ChangeKind::LegacyCredential, id.as_str(), audit.at).await?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await.map_err(db)?;
        Ok(true)
    }
}

#[async_trait]
impl LegacyStore for SqlStore {
    async fn insert_legacy_credential(
        &self,
        c: &LegacyCredential,
        audit: &AuditEvent,
    ) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        insert_credential_row(&mut tx, c, c.created_at).await?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await.map_err(db)
    }

    async fn import_legacy_credentials(
        &self,
        new: &[(LegacyCredential, AuditEvent)],
        rehashed: &[(LegacyId, PasswordHash, AuditEvent)],
        progress: Progress<'_>,
    ) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let mut written = 0;
        for batch in new.chunks(IMPORT_BATCH) {
            // The change is now, whatever `created_at` the import file gave.
            insert_imported(&mut tx, batch).await?;
            written += batch.len();
            progress(written);
        }
        for (id, hash, audit) in rehashed {
            let updated = sqlx::query(
                "UPDATE legacy_credential SET password_hash = $3, updated_at = $1 \
                 WHERE id = $2 AND state <> 'removed'",
            )
            .bind(audit.at)
            .bind(id.as_str())
            .bind(hash.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db)?
            .rows_affected();
            if updated == 0 {
                // Dropping the transaction rolls back every row written before.
                return Err(StoreError::new(format!(
                    "the legacy credential {} was removed during the import",
                    id.as_str()
                )));
            }
            record(&mut tx, ChangeKind::LegacyCredential, id.as_str(), audit.at).await?;
            insert_audit(&mut tx, audit).await?;
            written += 1;
            if written % IMPORT_BATCH == 0 {
                progress(written);
            }
        }
        tx.commit().await.map_err(db)?;
        progress(written);
        Ok(())
    }

    async fn find_legacy_credential(&self, email: &Email) -> StoreResult<Option<LegacyCredential>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM legacy_credential WHERE email = $1 AND state <> 'removed'"
        ))
        .bind(email.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        row.as_ref().map(credential).transpose()
    }

    async fn find_legacy_credentials(
        &self,
        emails: &[Email],
    ) -> StoreResult<Vec<LegacyCredential>> {
        let mut found = Vec::new();
        for chunk in emails.chunks(PARAMETERS_PER_STATEMENT) {
            let sql = format!(
                "SELECT {COLUMNS} FROM legacy_credential \
                 WHERE state <> 'removed' AND email IN {}",
                parameter_list(1, chunk.len())
            );
            let mut query = sqlx::query(&sql);
            for email in chunk {
                query = query.bind(email.as_str());
            }
            let rows = query.fetch_all(&self.pool).await.map_err(db)?;
            for row in &rows {
                found.push(credential(row)?);
            }
        }
        Ok(found)
    }

    async fn list_legacy_credentials(
        &self,
        account: Option<&AccountId>,
    ) -> StoreResult<Vec<LegacyCredential>> {
        let filter = if account.is_some() {
            "WHERE account_id = $1"
        } else {
            ""
        };
        let sql =
            format!("SELECT {COLUMNS} FROM legacy_credential {filter} ORDER BY created_at, id");
        // Bind only what the statement uses: PostgreSQL refuses extra parameters.
        let mut query = sqlx::query(&sql);
        if let Some(a) = account {
            query = query.bind(a.as_str().to_owned());
        }
        let rows = query.fetch_all(&self.pool).await.map_err(db)?;
        rows.iter().map(credential).collect()
    }

    async fn update_legacy_password(
        &self,
        id: &LegacyId,
        hash: &PasswordHash,
        audit: &AuditEvent,
    ) -> StoreResult<bool> {
        self.update_credential(
            "UPDATE legacy_credential SET password_hash = $3, updated_at = $1 \
             WHERE id = $2 AND state <> 'removed'",
            id,
            &[Some(hash.as_str().to_owned())],
            audit,
        )
        .await
    }

    async fn mark_legacy_migrated(
        &self,
        id: &LegacyId,
        client: &ClientId,
        previous: Option<&ClientId>,
        audit: &AuditEvent,
    ) -> StoreResult<bool> {
        let set = "UPDATE legacy_credential SET state = 'migrated', migrated_client_id = $3, \
                   migrated_at = $1, updated_at = $1 WHERE id = $2";
        let client = Some(client.as_str().to_owned());
        match previous {
            None => {
                let sql = format!("{set} AND state = 'active'");
                self.update_credential(&sql, id, &[client], audit).await
            }
            Some(previous) => {
                let sql = format!("{set} AND state = 'migrated' AND migrated_client_id = $4");
                let previous = Some(previous.as_str().to_owned());
                self.update_credential(&sql, id, &[client, previous], audit)
                    .await
            }
        }
    }

    async fn mark_legacy_removed(&self, id: &LegacyId, audit: &AuditEvent) -> StoreResult<bool> {
        self.update_credential(
            "UPDATE legacy_credential SET state = 'removed', password_hash = NULL, \
             removed_at = $1, updated_at = $1 WHERE id = $2 AND state = 'migrated'",
            id,
            &[],
            audit,
        )
        .await
    }

    async fn record_token_use(
        &self,
        client: &ClientId,
        source: TokenSource,
        now: UnixSeconds,
    ) -> StoreResult<()> {
        let column = match source {
            TokenSource::SettingsTest => "first_tested_at",
            TokenSource::Integration => "first_integration_at",
        };
        let _write = self.write_guard().await;
        sqlx::query(&format!(
            "UPDATE client SET first_token_at = COALESCE(first_token_at, $1), last_token_at = $1, \
             {column} = COALESCE({column}, $1) WHERE id = $2"
        ))
        .bind(now)
        .bind(client.as_str())
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn find_token_use(&self, client: &ClientId) -> StoreResult<Option<TokenUse>> {
        let row = sqlx::query(
            "SELECT first_token_at, last_token_at, first_tested_at, first_integration_at \
             FROM client WHERE id = $1",
        )
        .bind(client.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        let Some(r) = row else { return Ok(None) };
        let at =
            |col: &str| -> Result<Option<UnixSeconds>, StoreError> { r.try_get(col).map_err(db) };
        Ok(Some(TokenUse {
            first_token_at: at("first_token_at")?,
            last_token_at: at("last_token_at")?,
            first_tested_at: at("first_tested_at")?,
            first_integration_at: at("first_integration_at")?,
        }))
    }

    async fn find_last_token_at(&self, client: &ClientId) -> StoreResult<Option<UnixSeconds>> {
        let row = sqlx::query("SELECT last_token_at FROM client WHERE id = $1")
            .bind(client.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        match row {
            Some(r) => r.try_get("last_token_at").map_err(db),
            None => Ok(None),
        }
    }

    async fn find_first_token_at(&self, client: &ClientId) -> StoreResult<Option<UnixSeconds>> {
        let row = sqlx::query("SELECT first_token_at FROM client WHERE id = $1")
            .bind(client.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        match row {
            Some(r) => r.try_get("first_token_at").map_err(db),
            None => Ok(None),
        }
    }

    async fn add_legacy_usage(&self, deltas: &[UsageDelta]) -> StoreResult<()> {
        if deltas.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin().await?;
        for d in deltas {
            sqlx::query(
                "INSERT INTO legacy_usage (credential_id, hour_start, requests) VALUES ($1, $2, $3) \
                 ON CONFLICT (credential_id, hour_start) \
                 DO UPDATE SET requests = legacy_usage.requests + excluded.requests",
            )
            .bind(d.credential_id.as_str())
            .bind(d.hour_start)
            .bind(d.count)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
            // The traffic sort key grows with the flush; housekeeping trims it hourly.
            sqlx::query(
                "UPDATE legacy_credential SET basic_requests_7d = basic_requests_7d + $3, \
                 last_used_at = CASE WHEN last_used_at IS NULL OR last_used_at < $1 \
                   THEN $1 ELSE last_used_at END \
                 WHERE id = $2",
            )
            .bind(d.last_used_at)
            .bind(d.credential_id.as_str())
            .bind(d.count)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        }
        Self::add_basic_day_totals(&mut tx, deltas).await?;
        tx.commit().await.map_err(db)
    }

    async fn prune_legacy_usage(&self, before: UnixSeconds) -> StoreResult<()> {
        sqlx::query("DELETE FROM legacy_usage WHERE hour_start < $1")
            .bind(before)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn refresh_legacy_traffic(&self, week_from: UnixSeconds) -> StoreResult<()> {
        self.update_legacy_traffic(week_from).await
    }

    async fn count_legacy_requests(&self, id: &LegacyId, from: UnixSeconds) -> StoreResult<i64> {
        // CAST: as in `legacy_report`, PostgreSQL's SUM of BIGINT is NUMERIC.
        let row = sqlx::query(
            "SELECT CAST(COALESCE(SUM(requests), 0) AS BIGINT) AS n FROM legacy_usage \
             WHERE credential_id = $1 AND hour_start >= $2",
        )
        .bind(id.as_str())
        .bind(from)
        .fetch_one(&self.pool)
        .await
        .map_err(db)?;
        row.try_get("n").map_err(db)
    }

    async fn find_legacy_report(
        &self,
        filter: &ReportFilter,
        sort: ReportSort,
        page: Option<ReportPage>,
        windows: ReportWindows,
    ) -> StoreResult<Vec<LegacyReportRow>> {
        self.select_legacy_report(filter, sort, page, windows).await
    }

    async fn count_legacy_report(&self, filter: &ReportFilter) -> StoreResult<u64> {
        self.select_legacy_report_count(filter).await
    }

    async fn legacy_totals(
        &self,
        day_since: UnixSeconds,
        week_since: UnixSeconds,
    ) -> StoreResult<LegacyTotals> {
        self.select_legacy_totals(day_since, week_since).await
    }

    async fn add_bearer_usage(&self, deltas: &[BearerUsageDelta]) -> StoreResult<()> {
        self.insert_bearer_usage(deltas).await
    }

    async fn daily_usage(&self, from: UnixSeconds) -> StoreResult<Vec<DailyUsage>> {
        self.select_daily_usage(from).await
    }

    async fn prune_daily_usage(&self, before: UnixSeconds) -> StoreResult<()> {
        self.delete_daily_usage(before).await
    }
}
