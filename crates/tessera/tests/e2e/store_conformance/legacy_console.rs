//! The operator's migration console in the store: the list searched, filtered, sorted and
//! paged in SQL, the totals, and the day counts of its chart (Basic of every credential,
//! Bearer of migrated clients only).

use tessera_core::domain::ExternalId;
use tessera_core::legacy::bearer_usage::{BearerUsageDelta, DailyUsage};
use tessera_core::legacy::console::{LegacyTotals, ReportFilter, ReportPage, ReportSort};
use tessera_core::legacy::report::ReportWindows;
use tessera_core::legacy::usage::UsageDelta;

use super::*;

const HOUR: i64 = 3600;
const DAY: i64 = 86_400;
/// "Now" of these tests: a day boundary plus twelve hours.
const NOW: i64 = T0 - T0 % DAY + 10 * DAY + 12 * HOUR;

async fn named_account(s: &StoreUnderTest, name: &str, external: Option<&str>) -> AccountId {
    let account = Account {
        id: AccountId::generate().expect("id"),
        name: name.into(),
        external_id: external.map(|e| ExternalId::parse(e).expect("external id")),
        created_at: T0,
    };
    assert!(s.insert_account(&account).await.expect("account"));
    account.id
}

fn windows() -> ReportWindows {
    ReportWindows {
        day_from: NOW - DAY - HOUR + 1,
        week_from: NOW - 7 * DAY - HOUR + 1,
    }
}

/// The emails the filter lists in `sort` order, page `page` when given.
async fn emails(
    s: &StoreUnderTest,
    filter: &ReportFilter,
    sort: ReportSort,
    page: Option<ReportPage>,
) -> Vec<String> {
    s.find_legacy_report(filter, sort, page, windows())
        .await
        .expect("report")
        .into_iter()
        .map(|r| r.email.as_str().to_owned())
        .collect()
}

fn search(text: &str) -> ReportFilter {
    ReportFilter::new(text, None, false, NOW)
}

struct Fixture {
    migrated_client: ClientId,
}

/// ops@ and dev@ of "Acme Corp" (external id CRM-42), zed@ and amy@ of "Globex_50%":
/// ops@ used 5 times in the last hour, zed@ twice three days ago; dev@ migrated, its
/// client never used; amy@ migrated, used, removed.
async fn fixture(s: &StoreUnderTest) -> Fixture {
    let acme = named_account(s, "Acme Corp", Some("CRM-42")).await;
    let globex = named_account(s, "Globex_50%", None).await;
    let ops = s.legacy(&acme, "ops@acme.example", T0).await;
    let dev = s.legacy(&acme, "dev@acme.example", T0 + 1).await;
    let zed = s.legacy(&globex, "zed@globex.example", T0 + 2).await;
    let amy = s.legacy(&globex, "amy@globex.example", T0 + 3).await;
    let dev_client = s.credential_client(&acme, T0).await;
    let migrate = |id: &LegacyId| audit(AuditAction::LegacyMigrated, id, T0 + 5);
    assert!(s
        .mark_legacy_migrated(&dev.id, &dev_client.id, None, &migrate(&dev.id))
        .await
        .unwrap());
    let amy_client = s.credential_client(&globex, T0).await;
    assert!(s
        .mark_legacy_migrated(&amy.id, &amy_client.id, None, &migrate(&amy.id))
        .await
        .unwrap());
    s.record_token_use(
        &amy_client.id,
        tessera_core::store::TokenSource::Integration,
        T0 + 6,
    )
    .await
    .unwrap();
    let removal = audit(AuditAction::LegacyRemoved, &amy.id, T0 + 7);
    assert!(s.mark_legacy_removed(&amy.id, &removal).await.unwrap());
    let hour = NOW - NOW % HOUR;
    s.add_legacy_usage(&[
        UsageDelta {
            credential_id: ops.id.clone(),
            hour_start: hour,
            count: 5,
            last_used_at: NOW - 10,
        },
        UsageDelta {
            credential_id: zed.id.clone(),
            hour_start: hour - 3 * DAY,
            count: 2,
            last_used_at: hour - 3 * DAY,
        },
    ])
    .await
    .unwrap();
    Fixture {
        migrated_client: dev_client.id,
    }
}

conformance_test!(
    /// Search finds a substring of the email, the account's name, external id or id, in
    /// any case, `%` and `_` taken literally; state and "still on Basic" (a Basic request
    /// at or after the instant) filter; the count agrees with the rows.
    async fn the_console_list_searches_and_filters(s) {
        fixture(s).await;
        let all = ReportSort::Email;
        assert_eq!(emails(s, &search("ACME"), all, None).await, ["dev@acme.example", "ops@acme.example"]);
        assert_eq!(emails(s, &search("crm-4"), all, None).await, ["dev@acme.example", "ops@acme.example"]);
        assert_eq!(emails(s, &search("corp"), all, None).await, ["dev@acme.example", "ops@acme.example"]);
        assert_eq!(emails(s, &search("x_50%"), all, None).await, ["amy@globex.example", "zed@globex.example"]);
        assert!(emails(s, &search("x_5%0"), all, None).await.is_empty(), "% is not a wildcard");
        assert!(emails(s, &search("a%e"), all, None).await.is_empty());
        assert_eq!(emails(s, &search("zed@"), all, None).await, ["zed@globex.example"]);
        let migrated = ReportFilter::new("", Some(LegacyState::Migrated), false, NOW);
        assert_eq!(emails(s, &migrated, all, None).await, ["dev@acme.example"]);
        let on_basic = ReportFilter::new("", None, true, NOW);
        assert_eq!(emails(s, &on_basic, all, None).await, ["ops@acme.example", "zed@globex.example"]);
        let both = ReportFilter::new("globex", Some(LegacyState::Active), true, NOW);
        assert_eq!(emails(s, &both, all, None).await, ["zed@globex.example"]);
        for (filter, n) in [(ReportFilter::default(), 4), (search("acme"), 2), (on_basic, 2), (both, 1), (search("nobody"), 0)] {
            assert_eq!(s.count_legacy_report(&filter).await.unwrap(), n);
        }
    }
);

conformance_test!(
    /// The list sorts by Basic requests in 7 days (most first), by last Basic use (latest
    /// first, never-used last), by email, or oldest first; pages are slices of that order.
    async fn the_console_list_sorts_and_pages(s) {
        fixture(s).await;
        let all = ReportFilter::default();
        let traffic = emails(s, &all, ReportSort::Traffic, None).await;
        assert_eq!(&traffic[..2], ["ops@acme.example", "zed@globex.example"]);
        let last_use = emails(s, &all, ReportSort::LastUse, None).await;
        assert_eq!(&last_use[..2], ["ops@acme.example", "zed@globex.example"]);
        let by_email = ["amy@globex.example", "dev@acme.example", "ops@acme.example", "zed@globex.example"];
        assert_eq!(emails(s, &all, ReportSort::Email, None).await, by_email);
        assert_eq!(
            emails(s, &all, ReportSort::Created, None).await,
            ["ops@acme.example", "dev@acme.example", "zed@globex.example", "amy@globex.example"]
        );
        let page = |offset, limit| Some(ReportPage { offset, limit });
        assert_eq!(emails(s, &all, ReportSort::Email, page(1, 2)).await, &by_email[1..3]);
        assert_eq!(emails(s, &all, ReportSort::Email, page(3, 2)).await, &by_email[3..]);
        assert!(emails(s, &all, ReportSort::Email, page(4, 2)).await.is_empty());
        let paged_traffic = [
            emails(s, &all, ReportSort::Traffic, page(0, 2)).await,
            emails(s, &all, ReportSort::Traffic, page(2, 2)).await,
        ]
        .concat();
        assert_eq!(paged_traffic, traffic, "pages of the same order, ties broken the same");
        let rows = s.find_legacy_report(&all, ReportSort::Traffic, page(0, 1), windows()).await.unwrap();
        assert_eq!((rows[0].requests_24h, rows[0].requests_7d), (5, 5));
        assert_eq!(rows[0].account_name, "Acme Corp");
        assert_eq!(rows[0].account_external_id.as_ref().map(|e| e.as_str()), Some("CRM-42"));
    }
);

conformance_test!(
    /// The traffic order reads a kept 7-day count: flushes add to it at once, and the
    /// hourly recount takes away buckets that slid out of the week (here: zed@'s 9 old
    /// requests put it first until the recount).
    async fn the_traffic_order_follows_flushes_and_the_hourly_recount(s) {
        fixture(s).await;
        let zed = s.find_legacy_credential(&Email::parse("zed@globex.example").unwrap()).await.unwrap().unwrap();
        let hour = NOW - NOW % HOUR;
        let old = UsageDelta { credential_id: zed.id.clone(), hour_start: hour - 7 * DAY - HOUR, count: 9, last_used_at: hour - 3 * DAY };
        s.add_legacy_usage(&[old]).await.unwrap();
        let all = ReportFilter::default();
        let first = |s| async move { emails(s, &ReportFilter::default(), ReportSort::Traffic, None).await[0].clone() };
        assert_eq!(first(s).await, "zed@globex.example", "2 + 9 flushed, not yet recounted");
        s.refresh_legacy_traffic(windows().week_from).await.unwrap();
        assert_eq!(first(s).await, "ops@acme.example", "5 against zed@'s 2 within the week");
        let rows = s.find_legacy_report(&all, ReportSort::Traffic, None, windows()).await.unwrap();
        assert_eq!(rows.iter().map(|r| r.requests_7d).collect::<Vec<_>>(), [5, 2, 0, 0]);
        // A recount of an empty week sets every count back to 0: one new request leads.
        s.refresh_legacy_traffic(NOW + DAY).await.unwrap();
        let new = UsageDelta { credential_id: zed.id.clone(), hour_start: hour, count: 1, last_used_at: NOW };
        s.add_legacy_usage(&[new]).await.unwrap();
        assert_eq!(first(s).await, "zed@globex.example", "ops@'s 5 were taken away");
    }
);

conformance_test!(
    /// The totals count credentials by state, those not removed by Basic use since each
    /// instant, and migrated ones whose client never obtained a token.
    async fn the_console_totals_count_states_and_basic_use(s) {
        assert_eq!(s.legacy_totals(0, 0).await.unwrap(), LegacyTotals::default());
        fixture(s).await;
        assert_eq!(
            s.legacy_totals(NOW - DAY, NOW - 7 * DAY).await.unwrap(),
            LegacyTotals { active: 2, migrated: 1, removed: 1, basic_day: 1, basic_week: 2, migrated_unused: 1 }
        );
    }
);

conformance_test!(
    /// Flushed Basic requests add up per day; Bearer requests count on the chart only for
    /// clients that replaced a legacy credential; pruning drops days before the instant.
    async fn the_console_chart_counts_days(s) {
        let f = fixture(s).await;
        let today = NOW - NOW % DAY;
        let other = s.application(T0).await;
        let bearer = |client: &ClientId, day_start, count| BearerUsageDelta { client_id: client.clone(), day_start, count };
        s.add_bearer_usage(&[]).await.unwrap();
        s.add_bearer_usage(&[
            bearer(&f.migrated_client, today, 7),
            bearer(&other.id, today, 100),
            bearer(&f.migrated_client, today - 20 * DAY, 1),
        ])
        .await
        .unwrap();
        s.add_bearer_usage(&[bearer(&f.migrated_client, today, 3)]).await.unwrap();
        let day = |day_start, basic, bearer| DailyUsage { day_start, basic, bearer };
        assert_eq!(
            s.daily_usage(today - 29 * DAY).await.unwrap(),
            [day(today - 20 * DAY, 0, 1), day(today - 3 * DAY, 2, 0), day(today, 5, 10)]
        );
        s.prune_daily_usage(today - 5 * DAY).await.unwrap();
        assert_eq!(
            s.daily_usage(0).await.unwrap(),
            [day(today - 3 * DAY, 2, 0), day(today, 5, 10)]
        );
    }
);
