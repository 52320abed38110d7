//! The migration report with account names and external ids: `tessera report legacy` as
//! text, JSON and CSV, and the operator page's "Download CSV", which serves exactly the
//! CLI's CSV (one function makes both), formula-looking cells defused.

use serde_json::Value;

use crate::support::flow::{browser, location, TestUser};
use crate::support::TestApp;

const COLUMNS: &str = "email,state,account_id,account_name,external_id,created_at,last_used_at,\
    basic_requests_24h,basic_requests_7d,client_id,client_used,client_first_token_at,credential_id,\
    client_first_test_at,client_first_integration_at";

fn legacy_create(app: &TestApp, account: &str, email: &str) {
    // `--email=…`: an email may start with `-`.
    let email = format!("--email={email}");
    app.cli_with_stdin(
        &[
            "legacy",
            "create",
            "--account",
            account,
            &email,
            "--password-stdin",
        ],
        "correct horse\n",
    )
    .unwrap();
}

/// A browser signed in as `user`, having landed on the operator page.
async fn signed_in(app: &TestApp, user: &TestUser) -> reqwest::Client {
    app.signed_in_to(user, "/settings/operator").await
}

store_test!(
    async fn the_report_names_accounts_and_its_csv_is_the_same_in_the_cli_and_the_dashboard(
        app: &TestApp,
    ) {
        // Names and ids a spreadsheet would run as formulas, straight from a customer.
        let evil = app.cli_json(&[
            "account",
            "create",
            "--name",
            "=HYPERLINK(\"http://evil.example\")",
            "--external-id",
            "@crm-9",
        ]);
        let evil_id = evil["account_id"].as_str().unwrap().to_owned();
        let plain = app.account("Plain, \"Quoted\" Co").await;
        legacy_create(app, "ext:@crm-9", "ops@evil.example");
        legacy_create(app, &plain, "-dash@plain.example");
        let res = app
            .http
            .get(app.url("/v1/books"))
            .basic_auth("ops@evil.example", Some("correct horse"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(app.flush_legacy_usage().await, 1);

        let csv_text = app.cli(&["report", "legacy", "--format", "csv"]).unwrap();
        let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
        assert_eq!(
            reader
                .headers()
                .unwrap()
                .iter()
                .collect::<Vec<_>>()
                .join(","),
            COLUMNS.replace(' ', "")
        );
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 2);
        let row = |email: &str| {
            rows.iter()
                .find(|r| r[0] == *email || r[0] == format!("'{email}"))
                .unwrap_or_else(|| panic!("{email} in {csv_text}"))
                .clone()
        };
        let used = row("ops@evil.example");
        assert_eq!(&used[1], "active");
        assert_eq!(&used[2], evil_id.as_str());
        assert_eq!(&used[3], "'=HYPERLINK(\"http://evil.example\")", "defused");
        assert_eq!(&used[4], "'@crm-9", "defused");
        assert!(used[5].ends_with('Z') && used[6].ends_with('Z'), "{used:?}");
        assert_eq!((&used[7], &used[8]), ("1", "1"));
        assert_eq!((&used[9], &used[10], &used[11]), ("", "false", ""));
        assert!(used[12].starts_with("lc_"));
        let idle = row("-dash@plain.example");
        assert_eq!(
            &idle[0], "'-dash@plain.example",
            "an email can start a formula too"
        );
        assert_eq!(
            (&idle[2], &idle[3], &idle[4]),
            (plain.as_str(), "Plain, \"Quoted\" Co", "")
        );
        assert_eq!((&idle[6], &idle[7]), ("", "0"), "never used");

        // JSON and text carry the names and external ids as they are.
        let json = app.cli_json(&["report", "legacy"]);
        let evil_row = json
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["email"] == "ops@evil.example")
            .unwrap();
        assert_eq!(
            evil_row["account_name"],
            "=HYPERLINK(\"http://evil.example\")"
        );
        assert_eq!(evil_row["external_id"], "@crm-9");
        assert_eq!(evil_row["account_id"], evil_id.as_str());
        let plain_row = json
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["account_id"] == plain.as_str())
            .unwrap();
        assert_eq!(plain_row["external_id"], Value::Null);
        let text = app.cli(&["report", "legacy"]).unwrap();
        assert!(
            text.contains("(@crm-9)") && text.contains(&format!("Plain, \"Quoted\" Co ({plain})")),
            "{text}"
        );
        let (_, stderr) = app
            .cli(&["report", "legacy", "--format", "csv", "--json"])
            .unwrap_err();
        assert!(stderr.contains("pick one"), "{stderr}");

        // The dashboard: names beside ids, and the very same CSV for operators only.
        app.cli_with_stdin(
            &[
                "user",
                "create",
                "--email",
                "op@tessera.example",
                "--operator",
                "--password-stdin",
            ],
            "operator password 42\n",
        )
        .unwrap();
        let operator = TestUser {
            email: "op@tessera.example".into(),
            password: "operator password 42".into(),
            user_id: String::new(),
            accounts: Vec::new(),
        };
        let b = signed_in(app, &operator).await;
        let page = b
            .get(app.url("/settings/operator"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            page.contains(&format!("<br><code>{plain}</code>")),
            "{page}"
        );
        assert!(page.contains("Plain, "), "the account's name beside its id");
        assert!(page.contains("external id <code>@crm-9</code>"), "{page}");
        assert!(
            page.contains("href=\"/settings/operator/report.csv?sort=traffic\""),
            "{page}"
        );
        let filtered = b
            .get(app.url("/settings/operator?q=%40crm-9"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(filtered.contains("ops@evil.example") && !filtered.contains("dash@plain.example"));

        let res = b
            .get(app.url("/settings/operator/report.csv"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let header = |name: &str| res.headers()[name].to_str().unwrap().to_owned();
        assert_eq!(header("content-type"), "text/csv; charset=utf-8");
        assert_eq!(
            header("content-disposition"),
            "attachment; filename=\"tessera-legacy-report.csv\""
        );
        assert_eq!(header("cache-control"), "no-store");
        let downloaded = res.text().await.unwrap();
        assert_eq!(downloaded, csv_text, "exactly the CLI's CSV");

        // A customer may not download it; nobody signed out may either.
        let customer = app.user(&[&plain]).await;
        let b = browser();
        let html = b
            .get(app.url("/signin"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        app.sign_in(&b, &html, &customer).await;
        let res = b
            .get(app.url("/settings/operator/report.csv"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403);
        assert!(!res.text().await.unwrap().contains("evil.example"));
        let res = browser()
            .get(app.url("/settings/operator/report.csv"))
            .send()
            .await
            .unwrap();
        assert!(res.status().is_redirection());
        assert!(location(&res).starts_with("/signin"));
    }
);
