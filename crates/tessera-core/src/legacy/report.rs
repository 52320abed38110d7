//! The operator's migration report: who still calls with Basic, how often, and whether the
//! OAuth client that replaces it has been used; and its CSV export, for the customer
//! outreach every sunset needs (one function for the CLI and the dashboard).

use std::borrow::Cow;

use super::console::{ReportFilter, ReportSort};
use super::usage::{LegacyReportRow, UsageDelta, BUCKET_SECONDS};
use crate::error::StoreError;
use crate::legacy::LegacyCredential;
use crate::rfc3339::format_rfc3339;
use crate::store::LegacyStore;
use crate::UnixSeconds;

/// The hour buckets a report row counts as of `now`: those starting at or after `day_from`
/// (24 h) and `week_from` (7 days).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportWindows {
    pub day_from: UnixSeconds,
    pub week_from: UnixSeconds,
}

/// Counts are per hour bucket: every bucket that overlaps the window counts whole, so a
/// count covers the whole 24 h (7 d) and at most one hour more.
pub fn legacy_windows(now: UnixSeconds) -> ReportWindows {
    let from = |span: i64| now - span - BUCKET_SECONDS + 1;
    ReportWindows {
        day_from: from(86_400),
        week_from: from(7 * 86_400),
    }
}

/// The report as of `now`: every credential, oldest first.
pub async fn legacy_report(
    store: &dyn LegacyStore,
    now: UnixSeconds,
) -> Result<Vec<LegacyReportRow>, StoreError> {
    filtered_report(store, &ReportFilter::default(), ReportSort::Created, now).await
}

/// The credentials `filter` matches, in `sort` order, as of `now`: what the console's
/// CSV export holds (unfiltered and oldest first, exactly the CLI's report).
pub async fn filtered_report(
    store: &dyn LegacyStore,
    filter: &ReportFilter,
    sort: ReportSort,
    now: UnixSeconds,
) -> Result<Vec<LegacyReportRow>, StoreError> {
    store
        .find_legacy_report(filter, sort, None, legacy_windows(now))
        .await
}

/// One credential's Basic traffic, for the Settings Center's Remove confirmation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BasicUsage {
    pub requests_24h: i64,
    pub requests_7d: i64,
    pub last_used_at: Option<UnixSeconds>,
}

impl BasicUsage {
    /// Whether something still authenticates with Basic (any request in the last 7 days).
    pub fn in_use(&self) -> bool {
        self.requests_7d > 0
    }
}

/// The credential's Basic requests as of `now`, counted as in [`legacy_report`]: the
/// stored buckets plus this process's `unflushed` counts of the credential.
pub async fn basic_usage(
    store: &dyn LegacyStore,
    credential: &LegacyCredential,
    unflushed: &[UsageDelta],
    now: UnixSeconds,
) -> Result<BasicUsage, StoreError> {
    let from = |span: i64| now - span - BUCKET_SECONDS + 1;
    let pending = |since: UnixSeconds| -> i64 {
        unflushed
            .iter()
            .filter(|d| d.credential_id == credential.id && d.hour_start >= since)
            .map(|d| d.count)
            .sum()
    };
    let day = from(86_400);
    let week = from(7 * 86_400);
    let last_pending = unflushed
        .iter()
        .filter(|d| d.credential_id == credential.id)
        .map(|d| d.last_used_at)
        .max();
    Ok(BasicUsage {
        requests_24h: store.count_legacy_requests(&credential.id, day).await? + pending(day),
        requests_7d: store.count_legacy_requests(&credential.id, week).await? + pending(week),
        last_used_at: credential.last_used_at.max(last_pending),
    })
}

/// The CSV export's header row, in column order.
pub const CSV_COLUMNS: [&str; 15] = [
    "email",
    "state",
    "account_id",
    "account_name",
    "external_id",
    "created_at",
    "last_used_at",
    "basic_requests_24h",
    "basic_requests_7d",
    "client_id",
    "client_used",
    "client_first_token_at",
    "credential_id",
    // Issue 15: a token from the Settings Center's Test is not an integration's.
    "client_first_test_at",
    "client_first_integration_at",
];

/// The report as CSV (RFC 4180, header row first): times in RFC 3339, empty cells for
/// "never" and "none". Every cell is made [`spreadsheet_safe`].
pub fn report_csv(rows: &[LegacyReportRow]) -> Result<String, csv::Error> {
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record(CSV_COLUMNS)?;
    let time = |t: Option<UnixSeconds>| t.map(format_rfc3339).unwrap_or_default();
    for r in rows {
        let cells: [String; 15] = [
            r.email.as_str().to_owned(),
            r.state.as_str().to_owned(),
            r.account_id.as_str().to_owned(),
            r.account_name.clone(),
            r.account_external_id
                .as_ref()
                .map(|e| e.as_str().to_owned())
                .unwrap_or_default(),
            format_rfc3339(r.created_at),
            time(r.last_used_at),
            r.requests_24h.to_string(),
            r.requests_7d.to_string(),
            r.client_id
                .as_ref()
                .map(|c| c.as_str().to_owned())
                .unwrap_or_default(),
            r.client_first_token_at.is_some().to_string(),
            time(r.client_first_token_at),
            r.credential_id.as_str().to_owned(),
            time(r.client_first_tested_at),
            time(r.client_first_integration_at),
        ];
        out.write_record(cells.iter().map(|c| spreadsheet_safe(c).into_owned()))?;
    }
    let bytes = out
        .into_inner()
        .map_err(|e| csv::Error::from(e.into_error()))?;
    // Every cell was a `str`, so the bytes are UTF-8.
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// A cell a spreadsheet will not run as a formula (CSV injection, OWASP): one that starts
/// with `=`, `+`, `-`, `@`, a tab or a carriage return gets a leading `'`. Account names
/// and external ids come from customers and import files.
pub fn spreadsheet_safe(cell: &str) -> Cow<'_, str> {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::domain::{AccountId, ClientId, ExternalId, LegacyId};
    use crate::legacy::{Email, LegacyState};

    fn row() -> LegacyReportRow {
        LegacyReportRow {
            credential_id: LegacyId::parse("lc_1").unwrap(),
            email: Email::parse("ops@acme.example").unwrap(),
            account_id: AccountId::parse("acct_1").unwrap(),
            account_name: "Acme, \"the\" Corp".into(),
            account_external_id: Some(ExternalId::parse("cus_42").unwrap()),
            state: LegacyState::Migrated,
            created_at: 0,
            last_used_at: Some(86_400),
            requests_24h: 3,
            requests_7d: 10,
            client_id: Some(ClientId::parse("cl_1").unwrap()),
            client_first_token_at: Some(2 * 86_400),
            client_first_tested_at: Some(2 * 86_400),
            client_first_integration_at: None,
        }
    }

    #[test]
    fn rows_follow_the_header_quoted_as_rfc_4180_says() {
        let csv = report_csv(&[row()]).unwrap();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines[0], CSV_COLUMNS.join(","));
        assert_eq!(
            lines[1],
            "ops@acme.example,migrated,acct_1,\"Acme, \"\"the\"\" Corp\",cus_42,\
             1970-01-01T00:00:00Z,1970-01-02T00:00:00Z,3,10,cl_1,true,1970-01-03T00:00:00Z,lc_1,\
             1970-01-03T00:00:00Z,"
        );
        assert_eq!(lines.len(), 2);
    }

    #[test]
    fn cells_a_spreadsheet_would_run_are_defused() {
        for (raw, safe) in [
            (
                "=HYPERLINK(\"http://evil\")",
                "'=HYPERLINK(\"http://evil\")",
            ),
            ("+1", "'+1"),
            ("-2+3", "'-2+3"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tx", "'\tx"),
            ("\rx", "'\rx"),
            ("Acme = good", "Acme = good"),
            ("", ""),
        ] {
            assert_eq!(spreadsheet_safe(raw), safe, "{raw:?}");
        }
        let mut evil = row();
        evil.account_name = "=cmd|' /C calc'!A0".into();
        evil.account_external_id = Some(ExternalId::parse("@risky").unwrap());
        let csv = report_csv(&[evil]).unwrap();
        assert!(csv.contains(",'=cmd|' /C calc'!A0,'@risky,"), "{csv}");
    }
}
