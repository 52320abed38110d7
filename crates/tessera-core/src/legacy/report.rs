//! The operator's migration report: who still calls with Basic, how often, and whether the
//! OAuth client that replaces it has been used.

use super::credential::{Email, LegacyState};
use super::usage::BUCKET_SECONDS;
use crate::domain::{AccountId, ClientId, LegacyId};
use crate::error::StoreError;
use crate::store::LegacyStore;
use crate::UnixSeconds;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyReportRow {
    pub credential_id: LegacyId,
    pub email: Email,
    pub account_id: AccountId,
    pub state: LegacyState,
    pub last_used_at: Option<UnixSeconds>,
    pub requests_24h: i64,
    pub requests_7d: i64,
    /// The client created by the migration.
    pub client_id: Option<ClientId>,
    /// When that client obtained its first token: `Some` means the customer has switched.
    pub client_first_token_at: Option<UnixSeconds>,
}

/// The report as of `now`. Counts are per hour bucket: every bucket that overlaps the
/// window counts whole, so a count covers the whole 24 h (7 d) and at most one hour more.
pub async fn legacy_report(
    store: &dyn LegacyStore,
    now: UnixSeconds,
) -> Result<Vec<LegacyReportRow>, StoreError> {
    let from = |span: i64| now - span - BUCKET_SECONDS + 1;
    store.legacy_report(from(86_400), from(7 * 86_400)).await
}
