//! The operator's migration console: which credentials the list shows (search, filters,
//! sort, page), the totals at a glance, and the days left to the sunset and the next
//! brownout. The store filters, sorts and pages in SQL; this file only says what to ask.

use super::credential::LegacyState;
use super::report::legacy_windows;
use super::sunset::SunsetPolicy;
use super::usage::LegacyReportRow;
use crate::error::StoreError;
use crate::store::LegacyStore;
use crate::UnixSeconds;

/// Rows per page of the console's list.
pub const PAGE_SIZE: u32 = 50;
/// "Still on Basic": a Basic request within this many seconds (7 days).
pub const STILL_ON_BASIC_SECONDS: i64 = 7 * 86_400;
/// The longest search text kept (longer input is cut, never refused).
const MAX_SEARCH_CHARS: usize = 200;

/// The list's order. Every order ends with the credential id, so pages never overlap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReportSort {
    /// Oldest credential first: the CLI report's order.
    #[default]
    Created,
    /// Most Basic requests in the last 7 days first.
    Traffic,
    /// Most recent Basic request first; never-used last.
    LastUse,
    /// By email, A to Z.
    Email,
}

impl ReportSort {
    pub const CHOICES: [ReportSort; 4] = [Self::Traffic, Self::LastUse, Self::Email, Self::Created];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Traffic => "traffic",
            Self::LastUse => "last-use",
            Self::Email => "email",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Created => "Oldest first",
            Self::Traffic => "Basic traffic (7 days)",
            Self::LastUse => "Last Basic use",
            Self::Email => "Email",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::CHOICES.into_iter().find(|s| s.as_str() == raw)
    }
}

/// Which credentials the list holds. The default is every credential.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportFilter {
    /// Lower-case text found anywhere in the email, the account's name, its external id
    /// or its id; `None`: no search.
    pub search: Option<String>,
    pub state: Option<LegacyState>,
    /// Only credentials with a Basic request at or after this instant ("still on Basic").
    pub basic_since: Option<UnixSeconds>,
}

impl ReportFilter {
    /// The filter from what an operator typed: the search trimmed, lower-cased and cut
    /// to a sane length, blank meaning none; "still on Basic" as of `now`.
    pub fn new(
        search: &str,
        state: Option<LegacyState>,
        still_on_basic: bool,
        now: UnixSeconds,
    ) -> Self {
        let search = search.trim().to_lowercase();
        let search: String = search.chars().take(MAX_SEARCH_CHARS).collect();
        Self {
            search: (!search.is_empty()).then_some(search),
            state,
            basic_since: still_on_basic.then_some(now - STILL_ON_BASIC_SECONDS),
        }
    }
}

/// One page of the list: rows `offset..offset + limit` in `sort` order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportPage {
    pub offset: u32,
    pub limit: u32,
}

impl ReportPage {
    /// Page `number` (from 1) of [`PAGE_SIZE`] rows; 0 counts as 1.
    pub fn number(number: u32) -> Self {
        Self {
            offset: number.max(1).saturating_sub(1).saturating_mul(PAGE_SIZE),
            limit: PAGE_SIZE,
        }
    }
}

/// The number of pages `total` rows fill (at least one, which may be empty).
pub fn page_count(total: u64) -> u32 {
    u32::try_from(total.div_ceil(u64::from(PAGE_SIZE)).max(1)).unwrap_or(u32::MAX)
}

/// The credentials by state and Basic use, as the store counts them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LegacyTotals {
    pub active: u64,
    pub migrated: u64,
    pub removed: u64,
    /// Not removed, with a Basic request at or after the day's start.
    pub basic_day: u64,
    /// Not removed, with a Basic request at or after the week's start.
    pub basic_week: u64,
    /// Migrated, and the new client has never obtained a token.
    pub migrated_unused: u64,
}

impl LegacyTotals {
    pub fn total(&self) -> u64 {
        self.active + self.migrated + self.removed
    }

    /// `part` as a whole percentage of every credential (0 when there are none).
    pub fn percent(&self, part: u64) -> u64 {
        match self.total() {
            0 => 0,
            total => (part * 100 + total / 2) / total,
        }
    }
}

/// The totals as of `now`: Basic use by last request (24 h and 7 days back).
pub async fn legacy_totals(
    store: &dyn LegacyStore,
    now: UnixSeconds,
) -> Result<LegacyTotals, StoreError> {
    store
        .legacy_totals(now - 86_400, now - STILL_ON_BASIC_SECONDS)
        .await
}

/// One page of the filtered, sorted list as of `now`, and how many rows the filter
/// matches in all.
pub async fn report_page(
    store: &dyn LegacyStore,
    filter: &ReportFilter,
    sort: ReportSort,
    page: ReportPage,
    now: UnixSeconds,
) -> Result<(Vec<LegacyReportRow>, u64), StoreError> {
    let windows = legacy_windows(now);
    let rows = store
        .find_legacy_report(filter, sort, Some(page), windows)
        .await?;
    let total = store.count_legacy_report(filter).await?;
    Ok((rows, total))
}

/// Whole days from `now` until `at`, rounded up (0 once it has passed).
pub fn days_until(now: UnixSeconds, at: UnixSeconds) -> i64 {
    if at <= now {
        0
    } else {
        (at - now).saturating_add(86_399) / 86_400
    }
}

/// The brownout in progress at `now`, or else the next one to come: `[start, end)`.
pub fn next_brownout(
    policy: &SunsetPolicy,
    now: UnixSeconds,
) -> Option<(UnixSeconds, UnixSeconds)> {
    policy
        .brownouts
        .iter()
        .filter(|(_, end)| *end > now)
        .filter(|(start, _)| policy.sunset_at.is_none_or(|s| *start < s))
        .min_by_key(|(start, _)| *start)
        .copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filter_is_what_was_typed_trimmed_and_lower_cased() {
        let f = ReportFilter::new("  ACME Corp ", Some(LegacyState::Active), true, 1_000_000);
        assert_eq!(f.search.as_deref(), Some("acme corp"));
        assert_eq!(f.basic_since, Some(1_000_000 - 7 * 86_400));
        assert_eq!(
            ReportFilter::new("   ", None, false, 0),
            ReportFilter::default()
        );
        let long = "x".repeat(1000);
        assert_eq!(
            ReportFilter::new(&long, None, false, 0)
                .search
                .unwrap()
                .len(),
            200
        );
    }

    #[test]
    fn pages_hold_fifty_rows() {
        assert_eq!(
            ReportPage::number(1),
            ReportPage {
                offset: 0,
                limit: 50
            }
        );
        assert_eq!(ReportPage::number(0), ReportPage::number(1));
        assert_eq!(ReportPage::number(3).offset, 100);
        assert_eq!(ReportPage::number(u32::MAX).offset, u32::MAX);
        assert_eq!(page_count(0), 1);
        assert_eq!(page_count(50), 1);
        assert_eq!(page_count(51), 2);
        assert_eq!(page_count(100_000), 2000);
    }

    #[test]
    fn sorts_round_trip_and_unknown_ones_are_refused() {
        for s in ReportSort::CHOICES {
            assert_eq!(ReportSort::parse(s.as_str()), Some(s));
        }
        assert_eq!(ReportSort::parse("password"), None);
    }

    #[test]
    fn percentages_round_to_whole_numbers() {
        let t = LegacyTotals {
            active: 1,
            migrated: 1,
            removed: 1,
            ..LegacyTotals::default()
        };
        assert_eq!(t.total(), 3);
        assert_eq!(t.percent(1), 33);
        assert_eq!(t.percent(2), 67);
        assert_eq!(LegacyTotals::default().percent(0), 0);
    }

    #[test]
    fn days_left_round_up_and_stop_at_zero() {
        assert_eq!(days_until(0, 86_400), 1);
        assert_eq!(days_until(0, 86_401), 2);
        assert_eq!(days_until(0, 1), 1);
        assert_eq!(days_until(10, 10), 0);
        assert_eq!(days_until(100, 10), 0);
    }

    #[test]
    fn the_next_brownout_is_the_current_one_or_the_earliest_to_come() {
        let p = SunsetPolicy {
            sunset_at: Some(1000),
            brownouts: vec![(500, 600), (100, 200), (1200, 1300)],
            ..SunsetPolicy::default()
        };
        assert_eq!(next_brownout(&p, 0), Some((100, 200)));
        assert_eq!(next_brownout(&p, 150), Some((100, 200)));
        assert_eq!(next_brownout(&p, 200), Some((500, 600)));
        assert_eq!(next_brownout(&p, 600), None, "none before the sunset");
        assert_eq!(next_brownout(&SunsetPolicy::default(), 0), None);
    }
}
