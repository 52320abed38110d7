//! The operator's migration console over HTTP: the totals, the sunset and brownout, the
//! chart's Basic and Bearer counts (Bearer counted where tokens are verified, flushed like
//! Basic usage), the list's search, filters, sort and pages of 50, the CSV of the filtered
//! list, the tabs, and the confirmations before approving an application or rotating keys.

use tessera_core::domain::password::hash_password;
use tessera_core::legacy::provision::{create_legacy_credential, NewLegacyCredential};
use tessera_core::legacy::Password;
use tessera_core::rfc3339::format_rfc3339;

use crate::support::flow::{browser, field, form_body, location, TestUser};
use crate::support::TestApp;

const DAY: i64 = 86_400;
const FILLERS: usize = 60;

fn wall() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A user signed in with a browser; `operator` or a customer of `accounts`.
async fn signed_in(app: &TestApp, operator: bool, accounts: &[&str]) -> reqwest::Client {
    let password = "operator password 42".to_owned();
    let email = format!("op-{}@tessera.example", crate::support::random_suffix());
    let policy = app.config.password_policy().unwrap();
    let hash = hash_password(&policy, &Password::new(password.clone()).unwrap())
        .unwrap()
        .as_str()
        .to_owned();
    let owned: Vec<String> = accounts.iter().map(|a| a.to_string()).collect();
    let new = tessera_core::manage::users::NewUser {
        email: &email,
        name: None,
        email_verified: false,
        accounts: &owned,
        operator,
        password_hash: hash,
    };
    tessera_core::manage::users::create_user(
        app.store(),
        &tessera_core::audit::Actor::cli("test"),
        new,
        app.now(),
    )
    .await
    .unwrap();
    let user = TestUser {
        email,
        password,
        user_id: String::new(),
        accounts: owned,
    };
    let b = browser();
    let html = get(&b, app, "/signin?return_to=/settings/operator").await.1;
    let res = app.sign_in(&b, &html, &user).await;
    assert_eq!(location(&res), "/settings/operator");
    b
}

async fn get(b: &reqwest::Client, app: &TestApp, path: &str) -> (u16, String) {
    let res = b.get(app.url(path)).send().await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

async fn basic(app: &TestApp, email: &str) -> u16 {
    app.http
        .get(app.url("/v1/books"))
        .basic_auth(email, Some("correct horse"))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// The emails of the list's rows, in order.
fn listed(html: &str) -> Vec<String> {
    html.split("<td data-label=\"Email\">")
        .skip(1)
        .map(|rest| rest.split('<').next().unwrap().to_owned())
        .collect()
}

/// The number shown in the glance box `id`.
fn glance(html: &str, id: &str) -> String {
    let start = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("{id}"));
    let rest = &html[start..];
    let num = rest.find("op-num\">").unwrap() + "op-num\">".len();
    rest[num..].split('<').next().unwrap().to_owned()
}

store_test!(
    async fn the_console_shows_totals_and_lists_searches_filters_sorts_pages_and_exports(
        app: &TestApp
    )
    with |c| {
        // Ten days less an hour: the page says 10 days left however long the test takes.
        c.basic_sunset = Some(format_rfc3339(wall() + 10 * DAY - 3600));
        let start = wall() + 3 * DAY - 3600;
        c.basic_brownouts = vec![format!(
            "{}/{}",
            format_rfc3339(start),
            format_rfc3339(start + 3600)
        )];
    }
    {
        let acme = app.account_with_external_id("Acme Corp", "CRM-42").await;
        let globex = app.account("Globex").await;
        let policy = app.config.password_policy().unwrap();
        let hash = hash_password(&policy, &Password::new("correct horse".into()).unwrap()).unwrap();
        let create = |account: String, email: String| {
            let new_hash = hash.clone();
            let store = app.store();
            let now = app.now();
            async move {
                let new = NewLegacyCredential {
                    account_id: &account,
                    email: &email,
                    password_hash: new_hash,
                };
                create_legacy_credential(store, new, &tessera_core::audit::Actor::cli("test"), now)
                    .await
                    .unwrap_or_else(|e| panic!("{email}: {e}"));
            }
        };
        create(acme.clone(), "ops@acme.example".into()).await;
        create(acme.clone(), "dev@acme.example".into()).await;
        for i in 0..FILLERS {
            create(globex.clone(), format!("bulk-{i:02}@globex.example")).await;
        }
        for _ in 0..3 {
            assert_eq!(basic(app, "ops@acme.example").await, 200);
        }
        app.advance(60);
        assert_eq!(basic(app, "bulk-07@globex.example").await, 200);
        // dev@ migrates, and its new client calls the API with a Bearer token twice.
        let m = app.cli_json(&["legacy", "migrate", "dev@acme.example"]);
        let client = crate::support::TestClient {
            account_id: acme.clone(),
            client_id: m["client_id"].as_str().unwrap().to_owned(),
            client_secret: m["client_secret"].as_str().unwrap().to_owned(),
        };
        let token = app.access_token(&client).await;
        for _ in 0..2 {
            assert_eq!(app.get_bearer("/v1/books", &token).await.status(), 200);
        }
        // A client that replaced no credential is not on the chart.
        let other = app.client(None).await;
        let other_token = app.access_token(&other).await;
        assert_eq!(app.get_bearer("/v1/books", &other_token).await.status(), 200);
        assert_eq!(app.flush_legacy_usage().await, 2);

        let b = signed_in(app, true, &[]).await;
        let (status, page) = get(&b, app, "/settings/operator").await;
        assert_eq!(status, 200);
        assert_eq!(glance(&page, "glance-active"), (FILLERS + 1).to_string());
        assert_eq!(glance(&page, "glance-migrated"), "1");
        assert_eq!(glance(&page, "glance-removed"), "0");
        assert_eq!(glance(&page, "glance-basic-day"), "2");
        assert_eq!(glance(&page, "glance-basic-week"), "2");
        assert_eq!(glance(&page, "glance-unused"), "0", "dev@'s client has a token");
        assert!(page.contains("10 days left"), "{page}");
        assert!(page.contains("Next brownout:</strong>") && page.contains("in 3 days"), "{page}");
        assert!(page.contains("Basic requests: 4 in 30 days."), "{page}");
        assert!(page.contains("Bearer requests of migrated clients: 2 in 30 days."), "{page}");
        assert!(page.contains("<svg") && page.contains("<polyline"));
        assert!(page.contains("aria-current=\"page\">Migration</a>"), "the tab bar");
        // Sorted by Basic traffic by default; 50 rows a page, names beside ids.
        let rows = listed(&page);
        assert_eq!(rows.len(), 50);
        assert_eq!(&rows[..2], ["ops@acme.example", "bulk-07@globex.example"]);
        assert!(page.contains("Showing 1–50 of 62."), "{page}");
        assert!(page.contains(&format!("Acme Corp<br><code>{acme}</code><br>external id <code>CRM-42</code>")));

        // Search: account name, external id, email; any case.
        for q in ["acme%20CORP", "crm-4", "ACME.EXAMPLE"] {
            let (_, page) = get(&b, app, &format!("/settings/operator?q={q}&sort=email")).await;
            assert_eq!(listed(&page), ["dev@acme.example", "ops@acme.example"], "{q}");
        }
        let (_, page) = get(&b, app, "/settings/operator?state=migrated").await;
        assert_eq!(listed(&page), ["dev@acme.example"]);
        let (_, page) = get(&b, app, "/settings/operator?basic=1&sort=email").await;
        assert_eq!(listed(&page), ["bulk-07@globex.example", "ops@acme.example"]);
        let (_, page) = get(&b, app, "/settings/operator?q=globex&state=active&basic=1").await;
        assert_eq!(listed(&page), ["bulk-07@globex.example"]);
        let (_, page) = get(&b, app, "/settings/operator?q=nobody").await;
        assert!(page.contains("No legacy credentials match."));

        // Pages: links carry the controls; page 2 holds the rest.
        let (_, first) = get(&b, app, "/settings/operator?sort=email").await;
        assert_eq!(listed(&first)[0], "bulk-00@globex.example");
        assert!(first.contains("href=\"/settings/operator?sort=email&#38;page=2#list\" rel=\"next\""), "{first}");
        let (_, second) = get(&b, app, "/settings/operator?sort=email&page=2").await;
        let rows = listed(&second);
        assert_eq!(rows.len(), 12);
        assert_eq!(rows[..2], ["bulk-50@globex.example", "bulk-51@globex.example"]);
        assert_eq!(rows[10..], ["dev@acme.example", "ops@acme.example"]);
        assert!(second.contains("Showing 51–62 of 62."));
        let (_, last) = get(&b, app, "/settings/operator?sort=last-use").await;
        assert_eq!(&listed(&last)[..2], ["bulk-07@globex.example", "ops@acme.example"], "latest first");
        for bad in ["sort=password", "state=gone", "page=0", "page=x"] {
            let (status, _) = get(&b, app, &format!("/settings/operator?{bad}")).await;
            assert_eq!(status, 400, "{bad}");
        }

        // The CSV of the filtered list: the CLI report's columns and rows, only those.
        let res = b
            .get(app.url("/settings/operator/report.csv?q=acme&sort=email"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let csv_text = res.text().await.unwrap();
        let full = app.cli(&["report", "legacy", "--format", "csv"]).unwrap();
        let mut lines = csv_text.lines();
        assert_eq!(lines.next(), full.lines().next(), "the CLI's header");
        let rows: Vec<&str> = lines.collect();
        assert_eq!(rows.len(), 2);
        assert!(rows[0].starts_with("dev@acme.example,migrated,") && rows[1].starts_with("ops@acme.example,active,"));
        for row in &rows {
            assert!(full.lines().any(|l| l == *row), "the CLI's row: {row}");
        }
        assert!(page_link_has_csv(&get(&b, app, "/settings/operator?q=acme&basic=1").await.1));
        let (_, unfiltered) = get(&b, app, "/settings/operator/report.csv").await;
        assert_eq!(unfiltered, full, "no controls: exactly the CLI's report");

        // Customers see none of it.
        let customer = signed_in_customer(app, &acme).await;
        for path in ["/settings/operator", "/settings/operator/apps", "/settings/operator/keys", "/settings/operator/report.csv?q=acme"] {
            let (status, body) = get(&customer, app, path).await;
            assert_eq!(status, 403, "{path}");
            assert!(!body.contains("ops@acme.example"));
        }
    }
);

fn page_link_has_csv(page: &str) -> bool {
    page.contains("href=\"/settings/operator/report.csv?q=acme&#38;basic=1&#38;sort=traffic\"")
}

async fn signed_in_customer(app: &TestApp, account: &str) -> reqwest::Client {
    let user = app.user(&[account]).await;
    let b = browser();
    let html = get(&b, app, "/signin").await.1;
    app.sign_in(&b, &html, &user).await;
    b
}

store_test!(
    async fn approving_an_application_and_rotating_keys_ask_first(app: &TestApp) {
        let owner = app.account("Partner Org").await;
        let partner = app
            .unapproved_application("https://partner.example/callback", &owner)
            .await;
        let b = signed_in(app, true, &[]).await;
        let (status, apps) = get(&b, app, "/settings/operator/apps").await;
        assert_eq!(status, 200);
        assert!(apps.contains("aria-current=\"page\">Partner applications</a>"));
        let link = format!(
            "/settings/operator/approve?client_id={}&approved=true",
            partner.client_id
        );
        assert!(apps.contains(&link.replace('&', "&amp;")), "{apps}");

        // The confirmation shows where codes go, what it may ask for, and who registered it.
        let (status, confirm) = get(&b, app, &link).await;
        assert_eq!(status, 200);
        assert!(
            confirm.contains("<code>https://partner.example/callback</code>"),
            "{confirm}"
        );
        assert!(confirm.contains("<code>books:read</code>"), "{confirm}");
        assert!(
            confirm.contains(&format!("Partner Org ({owner})")),
            "{confirm}"
        );
        assert!(!approved(app, &partner.client_id).await, "nothing yet");
        let post = |approved: &str| {
            form_body(&[
                ("csrf", &field(&confirm, "csrf").unwrap()),
                ("client_id", &partner.client_id),
                ("approved", approved),
            ])
        };
        let res = b
            .post(app.url("/settings/operator/approve"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(post("true"))
            .send()
            .await
            .unwrap();
        // The notice travels in the session's sealed cookie, not in the URL.
        assert_eq!(location(&res), "/settings/operator/apps");
        assert!(approved(app, &partner.client_id).await);
        let (_, apps) = get(&b, app, "/settings/operator/apps").await;
        assert!(apps.contains("Partner App is approved."), "{apps}");
        let (status, _) = get(
            &b,
            app,
            "/settings/operator/approve?client_id=cl_nope&approved=true",
        )
        .await;
        assert_eq!(status, 404);

        // Rotation: a page that asks, then the new key.
        let (_, keys) = get(&b, app, "/settings/operator/keys").await;
        assert_eq!(keys.matches("<td data-label=\"Key ID\">").count(), 1);
        assert!(keys.contains("href=\"/settings/operator/rotate-key\""));
        let (status, ask) = get(&b, app, "/settings/operator/rotate-key").await;
        assert_eq!(status, 200);
        assert!(ask.contains("Rotate the signing key?"), "{ask}");
        let res = b
            .post(app.url("/settings/operator/rotate-key"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form_body(&[("csrf", &field(&ask, "csrf").unwrap())]))
            .send()
            .await
            .unwrap();
        assert_eq!(location(&res), "/settings/operator/keys");
        let (_, keys) = get(&b, app, "/settings/operator/keys").await;
        assert_eq!(keys.matches("<td data-label=\"Key ID\">").count(), 2);
        assert!(keys.contains("is published; it signs from"), "{keys}");
    }
);

async fn approved(app: &TestApp, client_id: &str) -> bool {
    let id = tessera_core::domain::ClientId::parse(client_id).unwrap();
    app.store()
        .find_client(&id)
        .await
        .unwrap()
        .unwrap()
        .approved
}
