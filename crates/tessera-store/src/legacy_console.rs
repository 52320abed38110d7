//! The migration report and the operator's console in SQL: the list filtered, sorted and
//! paged by the database (100 000 credentials are never loaded to show 50), the totals,
//! and the daily Basic and Bearer counts of the chart.

use sqlx::any::AnyRow;
use sqlx::Row;
use tessera_core::error::StoreError;
use tessera_core::legacy::bearer_usage::{day_start, BearerUsageDelta, DailyUsage};
use tessera_core::legacy::console::{LegacyTotals, ReportFilter, ReportPage, ReportSort};
use tessera_core::legacy::report::ReportWindows;
use tessera_core::legacy::usage::{LegacyReportRow, UsageDelta};
use tessera_core::store::StoreResult;
use tessera_core::UnixSeconds;

use crate::legacy::{account_id, client_id, email, external_id, legacy_id, state};
use crate::{db, Dialect, SqlStore};

/// A query's text and its parameters, numbered `$1, $2, …` as they are added.
#[derive(Default)]
struct Sql {
    text: String,
    params: Vec<Param>,
}

enum Param {
    Int(i64),
    Text(String),
}

impl Sql {
    /// Adds a parameter; returns its placeholder.
    fn param(&mut self, p: Param) -> String {
        self.params.push(p);
        format!("${}", self.params.len())
    }

    fn query(&self) -> sqlx::query::Query<'_, sqlx::Any, sqlx::any::AnyArguments<'_>> {
        let mut q = sqlx::query(&self.text);
        for p in &self.params {
            q = match p {
                Param::Int(i) => q.bind(*i),
                Param::Text(t) => q.bind(t.as_str()),
            };
        }
        q
    }
}

/// `%text%` for `LIKE … ESCAPE '\'`, the text's own `%`, `_` and `\` matched literally.
fn contains_pattern(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('%');
    for ch in text.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out.push('%');
    out
}

/// The `WHERE` clause of `filter` over `legacy_credential c`. The search reads the
/// account table once (an uncorrelated `IN`), not once per credential through a join.
/// Emails are stored lowercased ([`tessera_core::legacy::Email`]), so they are matched
/// with a plain `LIKE` of the lowercased text: on PostgreSQL a third of `ILIKE`'s cost
/// over 100 000 rows. Account names and ids keep their case and are matched ignoring it
/// ([`Dialect::like_any_case`]); there are fewer of them.
fn where_clause(sql: &mut Sql, filter: &ReportFilter, dialect: Dialect) -> String {
    let mut conditions = Vec::new();
    if let Some(search) = &filter.search {
        let lower = sql.param(Param::Text(contains_pattern(&search.to_lowercase())));
        let p = sql.param(Param::Text(contains_pattern(search)));
        let like = dialect.like_any_case();
        conditions.push(format!(
            "(c.email LIKE {lower} ESCAPE '\\' OR c.account_id IN (SELECT a.id FROM account a \
             WHERE a.name {like} {p} ESCAPE '\\' OR a.external_id {like} {p} ESCAPE '\\' \
             OR a.id {like} {p} ESCAPE '\\'))"
        ));
    }
    if let Some(s) = filter.state {
        let p = sql.param(Param::Text(s.as_str().to_owned()));
        conditions.push(format!("c.state = {p}"));
    }
    if let Some(since) = filter.basic_since {
        let p = sql.param(Param::Int(since));
        conditions.push(format!("c.last_used_at >= {p}"));
    }
    if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    }
}

/// The sum of a credential's Basic requests in buckets from `from` (a placeholder).
/// CAST: PostgreSQL's SUM of BIGINT is NUMERIC, which the Any driver cannot decode.
fn requests_since(credential: &str, from: &str) -> String {
    format!(
        "CAST(COALESCE((SELECT SUM(u.requests) FROM legacy_usage u \
         WHERE u.credential_id = {credential} AND u.hour_start >= {from}), 0) AS BIGINT)"
    )
}

/// `ORDER BY` terms over the picked rows `p` (which carry `sort_key`).
fn order_by(sort: ReportSort) -> &'static str {
    match sort {
        ReportSort::Created => "p.sort_key, p.pick_id",
        ReportSort::Traffic => "p.sort_key DESC, p.pick_id",
        // Never-used last: NULL sorts as 0 would put them with the oldest, so flag it.
        ReportSort::LastUse => "p.never_used, p.sort_key DESC, p.pick_id",
        ReportSort::Email => "p.sort_key, p.pick_id",
    }
}

fn report_row(r: &AnyRow) -> Result<LegacyReportRow, StoreError> {
    let text = |col: &str| -> Result<String, StoreError> { r.try_get(col).map_err(db) };
    Ok(LegacyReportRow {
        credential_id: legacy_id(&text("id")?)?,
        email: email(&text("email")?)?,
        account_id: account_id(&text("account_id")?)?,
        account_name: text("account_name")?,
        account_external_id: external_id(r.try_get("account_external_id").map_err(db)?)?,
        state: state(&text("state")?)?,
        created_at: r.try_get("created_at").map_err(db)?,
        last_used_at: r.try_get("last_used_at").map_err(db)?,
        requests_24h: r.try_get("requests_24h").map_err(db)?,
        requests_7d: r.try_get("requests_7d").map_err(db)?,
        client_id: client_id(r.try_get("migrated_client_id").map_err(db)?)?,
        client_first_token_at: r.try_get("first_token_at").map_err(db)?,
        client_first_tested_at: r.try_get("first_tested_at").map_err(db)?,
        client_first_integration_at: r.try_get("first_integration_at").map_err(db)?,
    })
}

fn count(r: &AnyRow, col: &str) -> Result<u64, StoreError> {
    let n: i64 = r.try_get(col).map_err(db)?;
    Ok(u64::try_from(n).unwrap_or(0))
}

impl SqlStore {
    /// The rows are picked (filtered, sorted, paged) first with only what that needs; the
    /// names and counts are then read for the picked rows alone.
    pub(crate) async fn select_legacy_report(
        &self,
        filter: &ReportFilter,
        sort: ReportSort,
        page: Option<ReportPage>,
        windows: ReportWindows,
    ) -> StoreResult<Vec<LegacyReportRow>> {
        let mut sql = Sql::default();
        let day = sql.param(Param::Int(windows.day_from));
        let week = sql.param(Param::Int(windows.week_from));
        let filtered = where_clause(&mut sql, filter, self.dialect);
        // A search matches few rows, but the planners cannot tell (a `LIKE '%…%'` is
        // guessed to match many): given an index in the list's order they walk all of it,
        // testing each row, to stop after one page — three times as long as reading the
        // table and sorting the few matches. `+ 0` and `|| ''` keep the order's index out
        // of a search's plan; the order is the same.
        let searching = filter.search.is_some();
        let (int_tail, text_tail) = if searching {
            (" + 0", " || ''")
        } else {
            ("", "")
        };
        let sort_key = match sort {
            ReportSort::Created => format!("c.created_at{int_tail}"),
            // The kept 7-day count (see `update_legacy_traffic`): the index
            // `legacy_credential_traffic` gives the first page without reading a bucket.
            ReportSort::Traffic => format!("c.basic_requests_7d{int_tail}"),
            ReportSort::LastUse => "COALESCE(c.last_used_at, 0)".to_owned(),
            ReportSort::Email => format!("c.email{text_tail}"),
        };
        let limit = match page {
            Some(p) => {
                let limit = sql.param(Param::Int(i64::from(p.limit)));
                let offset = sql.param(Param::Int(i64::from(p.offset)));
                format!("ORDER BY {} LIMIT {limit} OFFSET {offset}", order_by(sort))
            }
            None => String::new(),
        };
        sql.text = format!(
            "SELECT c.id, c.email, c.account_id, a.name AS account_name, \
               a.external_id AS account_external_id, c.state, c.created_at, c.last_used_at, \
               c.migrated_client_id, {day_count} AS requests_24h, {week_count} AS requests_7d, \
               cl.first_token_at, cl.first_tested_at, cl.first_integration_at \
             FROM (SELECT * FROM (SELECT c.id AS pick_id, {sort_key} AS sort_key, \
                     CASE WHEN c.last_used_at IS NULL THEN 1 ELSE 0 END AS never_used \
                   FROM legacy_credential c {filtered}) p {limit}) p \
             JOIN legacy_credential c ON c.id = p.pick_id \
             JOIN account a ON a.id = c.account_id \
             LEFT JOIN client cl ON cl.id = c.migrated_client_id \
             ORDER BY {order}",
            day_count = requests_since("c.id", &day),
            week_count = requests_since("c.id", &week),
            order = order_by(sort),
        );
        let rows = sql.query().fetch_all(&self.pool).await.map_err(db)?;
        rows.iter().map(report_row).collect()
    }

    pub(crate) async fn select_legacy_report_count(
        &self,
        filter: &ReportFilter,
    ) -> StoreResult<u64> {
        let mut sql = Sql::default();
        let filtered = where_clause(&mut sql, filter, self.dialect);
        sql.text =
            format!("SELECT CAST(COUNT(*) AS BIGINT) AS n FROM legacy_credential c {filtered}");
        let row = sql.query().fetch_one(&self.pool).await.map_err(db)?;
        count(&row, "n")
    }

    pub(crate) async fn select_legacy_totals(
        &self,
        day_since: UnixSeconds,
        week_since: UnixSeconds,
    ) -> StoreResult<LegacyTotals> {
        let sum = |condition: &str| {
            format!("CAST(COALESCE(SUM(CASE WHEN {condition} THEN 1 ELSE 0 END), 0) AS BIGINT)")
        };
        let sql = format!(
            "SELECT {active} AS active, {migrated} AS migrated, {removed} AS removed, \
               {day} AS basic_day, {week} AS basic_week, {unused} AS migrated_unused \
             FROM legacy_credential c LEFT JOIN client cl ON cl.id = c.migrated_client_id",
            active = sum("c.state = 'active'"),
            migrated = sum("c.state = 'migrated'"),
            removed = sum("c.state = 'removed'"),
            day = sum("c.state <> 'removed' AND c.last_used_at >= $1"),
            week = sum("c.state <> 'removed' AND c.last_used_at >= $2"),
            unused = sum("c.state = 'migrated' AND cl.first_token_at IS NULL"),
        );
        let row = sqlx::query(&sql)
            .bind(day_since)
            .bind(week_since)
            .fetch_one(&self.pool)
            .await
            .map_err(db)?;
        Ok(LegacyTotals {
            active: count(&row, "active")?,
            migrated: count(&row, "migrated")?,
            removed: count(&row, "removed")?,
            basic_day: count(&row, "basic_day")?,
            basic_week: count(&row, "basic_week")?,
            migrated_unused: count(&row, "migrated_unused")?,
        })
    }

    /// Recomputes the traffic sort key, `basic_requests_7d`, from the hourly buckets
    /// starting at or after `week_from`. Flushes only add to it; this takes away what slid
    /// out of the window. Only credentials with a count can have one to take away, so the
    /// cost is the buckets of the credentials used in the last week, not of all of them.
    pub(crate) async fn update_legacy_traffic(&self, week_from: UnixSeconds) -> StoreResult<()> {
        sqlx::query(&format!(
            "UPDATE legacy_credential SET basic_requests_7d = {} WHERE basic_requests_7d <> 0",
            requests_since("legacy_credential.id", "$1")
        ))
        .bind(week_from)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    /// The day totals of Basic usage deltas, added in the flush's transaction.
    pub(crate) async fn add_basic_day_totals(
        tx: &mut sqlx::AnyConnection,
        deltas: &[UsageDelta],
    ) -> StoreResult<()> {
        let mut days: Vec<(UnixSeconds, i64)> = Vec::new();
        for d in deltas {
            let day = day_start(d.hour_start);
            match days.iter_mut().find(|(start, _)| *start == day) {
                Some((_, n)) => *n += d.count,
                None => days.push((day, d.count)),
            }
        }
        for (day, n) in days {
            sqlx::query(
                "INSERT INTO usage_daily (day_start, basic, migrated_bearer) VALUES ($1, $2, 0) \
                 ON CONFLICT (day_start) DO UPDATE SET basic = usage_daily.basic + excluded.basic",
            )
            .bind(day)
            .bind(n)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        }
        Ok(())
    }

    pub(crate) async fn insert_bearer_usage(&self, deltas: &[BearerUsageDelta]) -> StoreResult<()> {
        if deltas.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin().await?;
        for d in deltas {
            sqlx::query(
                "INSERT INTO bearer_usage_daily (client_id, day_start, requests) VALUES ($1, $2, $3) \
                 ON CONFLICT (client_id, day_start) \
                 DO UPDATE SET requests = bearer_usage_daily.requests + excluded.requests",
            )
            .bind(d.client_id.as_str())
            .bind(d.day_start)
            .bind(d.count)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
            // Only a client that replaced a legacy credential counts on the chart.
            sqlx::query(
                "INSERT INTO usage_daily (day_start, basic, migrated_bearer) \
                 SELECT $1, 0, $2 WHERE EXISTS \
                   (SELECT 1 FROM legacy_credential WHERE migrated_client_id = $3) \
                 ON CONFLICT (day_start) \
                 DO UPDATE SET migrated_bearer = usage_daily.migrated_bearer + excluded.migrated_bearer",
            )
            .bind(d.day_start)
            .bind(d.count)
            .bind(d.client_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        }
        tx.commit().await.map_err(db)
    }

    pub(crate) async fn select_daily_usage(
        &self,
        from: UnixSeconds,
    ) -> StoreResult<Vec<DailyUsage>> {
        let rows = sqlx::query(
            "SELECT day_start, basic, migrated_bearer FROM usage_daily \
             WHERE day_start >= $1 ORDER BY day_start",
        )
        .bind(from)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter()
            .map(|r| {
                Ok(DailyUsage {
                    day_start: r.try_get("day_start").map_err(db)?,
                    basic: r.try_get("basic").map_err(db)?,
                    bearer: r.try_get("migrated_bearer").map_err(db)?,
                })
            })
            .collect()
    }

    pub(crate) async fn delete_daily_usage(&self, before: UnixSeconds) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        for sql in [
            "DELETE FROM usage_daily WHERE day_start < $1",
            "DELETE FROM bearer_usage_daily WHERE day_start < $1",
        ] {
            sqlx::query(sql)
                .bind(before)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        tx.commit().await.map_err(db)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_text_matches_literally() {
        assert_eq!(contains_pattern("acme"), "%acme%");
        assert_eq!(contains_pattern("50%_a\\b"), "%50\\%\\_a\\\\b%");
    }
}
