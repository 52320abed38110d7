//! The operator's migration report: who still calls with Basic, how often, and whether the
//! OAuth client that replaces it has been used.

use super::usage::{LegacyReportRow, BUCKET_SECONDS};
use crate::error::StoreError;
use crate::store::LegacyStore;
use crate::UnixSeconds;

/// The report as of `now`. Counts are per hour bucket: every bucket that overlaps the
/// window counts whole, so a count covers the whole 24 h (7 d) and at most one hour more.
pub async fn legacy_report(
    store: &dyn LegacyStore,
    now: UnixSeconds,
) -> Result<Vec<LegacyReportRow>, StoreError> {
    let from = |span: i64| now - span - BUCKET_SECONDS + 1;
    store.legacy_report(from(86_400), from(7 * 86_400)).await
}
