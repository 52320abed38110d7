//! Counting Basic requests without touching the database on the request path: counts
//! accumulate in memory per credential and hour, and a background task flushes them. Also
//! the row the store reads the counts back into for the migration report.

use std::collections::HashMap;

use parking_lot::Mutex;

use super::credential::{Email, LegacyState};
use crate::domain::{AccountId, ClientId, ExternalId, LegacyId};
use crate::UnixSeconds;

/// Buckets are one hour wide: enough resolution for "last 24 h" and "last 7 days".
pub const BUCKET_SECONDS: i64 = 3600;

/// Requests of one credential in one hour, and its latest use, not yet in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageDelta {
    pub credential_id: LegacyId,
    pub hour_start: UnixSeconds,
    pub count: i64,
    pub last_used_at: UnixSeconds,
}

/// One credential's line of the migration report (see `report.rs`), as the store reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyReportRow {
    pub credential_id: LegacyId,
    pub email: Email,
    pub account_id: AccountId,
    pub account_name: String,
    pub account_external_id: Option<ExternalId>,
    pub state: LegacyState,
    pub created_at: UnixSeconds,
    pub last_used_at: Option<UnixSeconds>,
    pub requests_24h: i64,
    pub requests_7d: i64,
    /// The client created by the migration.
    pub client_id: Option<ClientId>,
    /// When that client obtained its first token: `Some` means the customer has switched.
    pub client_first_token_at: Option<UnixSeconds>,
    /// Its first token from the Settings Center's Test: the customer tried it.
    pub client_first_tested_at: Option<UnixSeconds>,
    /// Its first token obtained any other way: an integration uses it.
    pub client_first_integration_at: Option<UnixSeconds>,
}

#[derive(Default)]
pub struct UsageCounter {
    pending: Mutex<HashMap<(LegacyId, UnixSeconds), (i64, UnixSeconds)>>,
}

impl UsageCounter {
    pub fn record(&self, credential: &LegacyId, now: UnixSeconds) {
        let hour = now - now.rem_euclid(BUCKET_SECONDS);
        let mut pending = self.pending.lock();
        let entry = pending
            .entry((credential.clone(), hour))
            .or_insert((0, now));
        entry.0 += 1;
        entry.1 = entry.1.max(now);
    }

    /// Everything counted since the last take.
    pub fn take(&self) -> Vec<UsageDelta> {
        let drained = std::mem::take(&mut *self.pending.lock());
        drained
            .into_iter()
            .map(|((credential_id, hour_start), (count, last))| UsageDelta {
                credential_id,
                hour_start,
                count,
                last_used_at: last,
            })
            .collect()
    }

    /// The credential's counts not yet flushed, left in place (a page that shows Basic
    /// traffic adds them to the stored ones, so it is not up to a flush interval behind).
    pub fn pending_of(&self, credential: &LegacyId) -> Vec<UsageDelta> {
        self.pending
            .lock()
            .iter()
            .filter(|((id, _), _)| id == credential)
            .map(|((id, hour), (count, last))| UsageDelta {
                credential_id: id.clone(),
                hour_start: *hour,
                count: *count,
                last_used_at: *last,
            })
            .collect()
    }

    /// Puts back deltas a failed flush could not write, so no request goes uncounted.
    pub fn restore(&self, deltas: Vec<UsageDelta>) {
        let mut pending = self.pending.lock();
        for d in deltas {
            let entry = pending
                .entry((d.credential_id, d.hour_start))
                .or_insert((0, d.last_used_at));
            entry.0 += d.count;
            entry.1 = entry.1.max(d.last_used_at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_hour_and_restores() {
        let u = UsageCounter::default();
        let id = LegacyId::parse("lc_1").unwrap();
        u.record(&id, 7200);
        u.record(&id, 7300);
        u.record(&id, 10_800);
        let mut d = u.take();
        d.sort_by_key(|d| d.hour_start);
        assert_eq!(d.len(), 2);
        assert_eq!((d[0].count, d[0].last_used_at), (2, 7300));
        assert!(u.take().is_empty());
        u.restore(d);
        u.record(&id, 7400);
        let other = LegacyId::parse("lc_2").unwrap();
        u.record(&other, 7200);
        let mine = u.pending_of(&id);
        assert_eq!(mine.iter().map(|d| d.count).sum::<i64>(), 4);
        assert!(mine.iter().all(|d| d.credential_id == id));
        let total: i64 = u.take().iter().map(|d| d.count).sum();
        assert_eq!(total, 5, "pending_of leaves the counts in place");
    }
}
