//! The operator's migration console: the migration at a glance (totals, the sunset and
//! the next brownout, 30 days of Basic against Bearer requests), and the list of legacy
//! credentials, searched, filtered, sorted and paged by the store, with its CSV export.
//! Partner applications and signing keys have their own pages (`operator_apps.rs`,
//! `operator_keys.rs`).

use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;
use tessera_core::error::ManageError;
use tessera_core::legacy::bearer_usage::{day_start, DAY_SECONDS};
use tessera_core::legacy::chart::{usage_chart, CHART_DAYS};
use tessera_core::legacy::console::{
    days_until, legacy_totals, next_brownout, page_count, report_page, LegacyTotals, ReportFilter,
    ReportPage, ReportSort, PAGE_SIZE,
};
use tessera_core::legacy::report::{filtered_report, report_csv};
use tessera_core::legacy::usage::LegacyReportRow;
use tessera_core::legacy::{LegacyState, SunsetPolicy};
use tessera_core::UnixSeconds;

use super::visit::{OperatorPage, Signed};
use crate::authorize::encode;
use crate::download;
use crate::error::{HttpError, PageError};
use crate::operator_views::{Brownout, ConsoleRow, ConsoleView, Glance, PageLink, Share};
use crate::state::AppState;
use crate::views::when;

/// What a browser saves the report's CSV as.
const REPORT_FILE_NAME: &str = "tessera-legacy-report.csv";
/// The list's order when the page names none: who still sends the most Basic requests.
const DEFAULT_SORT: ReportSort = ReportSort::Traffic;

/// The list's controls, as links and the filter form send them.
#[derive(Deserialize, Default)]
pub struct ConsoleQuery {
    #[serde(default)]
    q: String,
    state: Option<String>,
    basic: Option<String>,
    sort: Option<String>,
    page: Option<String>,
}

/// The controls, checked: unknown values are a 400 that says which, never ignored.
struct Controls {
    q: String,
    state: Option<LegacyState>,
    basic: bool,
    sort: Option<ReportSort>,
    page: u32,
}

fn invalid(what: &str) -> HttpError {
    PageError::Manage(ManageError::Invalid(what.into())).into()
}

impl ConsoleQuery {
    fn controls(self) -> Result<Controls, HttpError> {
        let state = match self.state.as_deref() {
            None | Some("" | "all") => None,
            Some(s) => Some(LegacyState::parse(s).ok_or_else(|| {
                invalid("the state filter must be all, active, migrated or removed")
            })?),
        };
        let sort =
            match self.sort.as_deref() {
                None | Some("") => None,
                Some(s) => Some(ReportSort::parse(s).ok_or_else(|| {
                    invalid("the sort must be traffic, last-use, email or created")
                })?),
            };
        let page = match self.page.as_deref() {
            None | Some("") => 1,
            Some(p) => p
                .parse::<u32>()
                .ok()
                .filter(|p| *p >= 1)
                .ok_or_else(|| invalid("the page must be a whole number from 1"))?,
        };
        Ok(Controls {
            q: self.q,
            state,
            basic: matches!(self.basic.as_deref(), Some("1" | "on" | "true")),
            sort,
            page,
        })
    }
}

impl Controls {
    fn filter(&self, now: UnixSeconds) -> ReportFilter {
        ReportFilter::new(&self.q, self.state, self.basic, now)
    }

    /// The query string of these controls on `page` (sort always named, so a link keeps
    /// the order the page showed).
    fn query(&self, sort: ReportSort, page: Option<u32>) -> String {
        let mut parts = Vec::new();
        if !self.q.trim().is_empty() {
            parts.push(format!("q={}", encode(self.q.trim())));
        }
        if let Some(s) = self.state {
            parts.push(format!("state={}", s.as_str()));
        }
        if self.basic {
            parts.push("basic=1".to_owned());
        }
        parts.push(format!("sort={}", sort.as_str()));
        if let Some(p) = page {
            parts.push(format!("page={p}"));
        }
        parts.join("&")
    }
}

/// Operator pages answer customers with 403.
pub(super) fn operators_only(operator: bool) -> Result<(), HttpError> {
    if operator {
        Ok(())
    } else {
        Err(PageError::OperatorsOnly.into())
    }
}

pub async fn get_console(
    State(app): State<AppState>,
    Query(q): Query<ConsoleQuery>,
    Signed { visit: v, .. }: Signed<OperatorPage>,
) -> Result<Response, HttpError> {
    operators_only(v.user.operator)?;
    let controls = q.controls()?;
    let now = app.clock.now();
    let store = app.store.as_ref();
    let sort = controls.sort.unwrap_or(DEFAULT_SORT);
    let filter = controls.filter(now);
    let (rows, total) = report_page(store, &filter, sort, ReportPage::number(controls.page), now)
        .await
        .map_err(HttpError::internal)?;
    let totals = legacy_totals(store, now)
        .await
        .map_err(HttpError::internal)?;
    let first_day = day_start(now) - (CHART_DAYS - 1) * DAY_SECONDS;
    let daily = store
        .daily_usage(first_day)
        .await
        .map_err(HttpError::internal)?;
    let pages = page_count(total);
    let page = controls.page;
    let link = |p: u32| format!("/settings/operator?{}", controls.query(sort, Some(p)));
    let first_row = u64::from(page - 1) * u64::from(PAGE_SIZE) + 1;
    Ok(v.render(|nav| ConsoleView {
        nav,
        tab: "migration",
        glance: glance(&totals, &app.legacy.sunset, now),
        chart: usage_chart(&daily, now),
        rows: rows.into_iter().map(console_row).collect(),
        q: controls.q.clone(),
        state: controls.state.map_or("all", LegacyState::as_str).to_owned(),
        basic: controls.basic,
        sort: sort.as_str().to_owned(),
        sorts: ReportSort::CHOICES
            .iter()
            .map(|s| (s.as_str(), s.label()))
            .collect(),
        total,
        first_row: first_row.min(total),
        last_row: (first_row + u64::from(PAGE_SIZE) - 1).min(total),
        page,
        pages,
        prev_href: (page > 1).then(|| link(page - 1)),
        next_href: (page < pages).then(|| link(page + 1)),
        page_links: page_window(page, pages)
            .into_iter()
            .map(|p| PageLink {
                label: p.to_string(),
                href: link(p),
                current: p == page,
            })
            .collect(),
        csv_href: format!(
            "/settings/operator/report.csv?{}",
            controls.query(sort, None)
        ),
    }))
}

/// The page numbers the pager links to: the first, the last, and two either side of the
/// current one.
fn page_window(page: u32, pages: u32) -> Vec<u32> {
    let mut out: Vec<u32> = [1, pages]
        .into_iter()
        .chain(page.saturating_sub(2).max(1)..=page.saturating_add(2).min(pages))
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

fn share(totals: &LegacyTotals, count: u64) -> Share {
    Share {
        count,
        percent: totals.percent(count),
    }
}

fn glance(totals: &LegacyTotals, sunset: &SunsetPolicy, now: UnixSeconds) -> Glance {
    Glance {
        total: totals.total(),
        active: share(totals, totals.active),
        migrated: share(totals, totals.migrated),
        removed: share(totals, totals.removed),
        basic_day: share(totals, totals.basic_day),
        basic_week: share(totals, totals.basic_week),
        migrated_unused: share(totals, totals.migrated_unused),
        sunset: sunset
            .sunset_at
            .map(|at| (when(Some(at)), days_until(now, at))),
        brownout: next_brownout(sunset, now).map(|(start, end)| Brownout {
            starts: when(Some(start)),
            ends: when(Some(end)),
            days: days_until(now, start),
            now: start <= now,
        }),
    }
}

fn console_row(r: LegacyReportRow) -> ConsoleRow {
    ConsoleRow {
        email: r.email.as_str().to_owned(),
        account: r.account_id.to_string(),
        account_name: r.account_name,
        external_id: r.account_external_id.map(|e| e.as_str().to_owned()),
        state: r.state.as_str().to_owned(),
        last_used: when(r.last_used_at),
        day: r.requests_24h,
        week: r.requests_7d,
        client_used: match (&r.client_id, r.client_first_token_at) {
            (None, _) => "no client yet".into(),
            (Some(_), None) => "not yet".into(),
            (Some(_), Some(t)) => format!("since {}", when(Some(t))),
        },
    }
}

/// The list as CSV: the credentials the console's controls select (all of them, not one
/// page), in its order; with no controls, every credential oldest first — exactly what
/// `tessera report legacy --format csv` prints (one function makes both). Operators only.
pub async fn get_report_csv(
    State(app): State<AppState>,
    Query(q): Query<ConsoleQuery>,
    Signed { visit: v, .. }: Signed<OperatorPage>,
) -> Result<Response, HttpError> {
    operators_only(v.user.operator)?;
    let controls = q.controls()?;
    let now = app.clock.now();
    let sort = controls.sort.unwrap_or_default();
    let rows = filtered_report(app.store.as_ref(), &controls.filter(now), sort, now)
        .await
        .map_err(HttpError::internal)?;
    let csv = report_csv(&rows).map_err(HttpError::internal)?;
    Ok(download::csv(REPORT_FILE_NAME, csv))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pager_links_the_ends_and_the_neighbourhood() {
        assert_eq!(page_window(1, 1), [1]);
        assert_eq!(page_window(1, 10), [1, 2, 3, 10]);
        assert_eq!(page_window(5, 10), [1, 3, 4, 5, 6, 7, 10]);
        assert_eq!(page_window(10, 10), [1, 8, 9, 10]);
        assert_eq!(page_window(2000, 2000), [1, 1998, 1999, 2000]);
    }

    #[test]
    fn unknown_controls_are_refused_and_links_keep_the_controls() {
        let q = |state: &str, sort: &str, page: &str| ConsoleQuery {
            q: " Acme & Co ".into(),
            state: Some(state.into()),
            basic: Some("1".into()),
            sort: Some(sort.into()),
            page: Some(page.into()),
        };
        assert!(q("gone", "email", "1").controls().is_err());
        assert!(q("all", "password", "1").controls().is_err());
        assert!(q("all", "email", "0").controls().is_err());
        assert!(q("all", "email", "x").controls().is_err());
        let c = q("active", "", "3").controls().unwrap();
        assert_eq!(
            (c.state, c.sort, c.page, c.basic),
            (Some(LegacyState::Active), None, 3, true)
        );
        assert_eq!(
            c.query(ReportSort::Email, Some(4)),
            "q=Acme%20%26%20Co&state=active&basic=1&sort=email&page=4"
        );
        let none = ConsoleQuery::default().controls().unwrap();
        assert_eq!(none.query(ReportSort::Traffic, None), "sort=traffic");
    }
}
