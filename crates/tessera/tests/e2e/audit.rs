//! The audit log of administrative changes: what the CLI and the Settings Center do is
//! recorded with actor, time, action, target and outcome (refusals too), never a secret;
//! `tessera audit` filters it, and so does the operator's page.

use serde_json::Value;
use tessera_core::audit::{Actor, AuditAction, AuditEvent, Target};

use crate::support::flow::{field, form_body, TestUser};

pub(crate) fn actions(events: &Value) -> Vec<(String, String, String)> {
    events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_owned(),
                e["target"].as_str().unwrap().to_owned(),
                e["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn owned(list: &[(&str, &str, &str)]) -> Vec<(String, String, String)> {
    list.iter()
        .map(|(a, t, o)| ((*a).to_owned(), (*t).to_owned(), (*o).to_owned()))
        .collect()
}

async fn text(b: &reqwest::Client, url: String) -> (u16, String) {
    let res = b.get(url).send().await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

store_test!(
    async fn cli_changes_and_refusals_are_audited_and_filtered(app: &TestApp) {
        let account = app.cli_json(&["account", "create", "--name", "Acme"]);
        let account_id = account["account_id"].as_str().unwrap().to_owned();
        let client = app.cli_json(&[
            "client",
            "create",
            "--account",
            &account_id,
            "--name",
            "prod",
        ]);
        let client_id = client["client_id"].as_str().unwrap().to_owned();
        let secret = client["client_secret"].as_str().unwrap().to_owned();
        let (code, _) = app.cli(&["client", "revoke", "cl_nobody"]).unwrap_err();
        assert_ne!(code, 0);
        app.cli_json(&[
            "scope",
            "create",
            "reports:read",
            "--description",
            "Read your reports",
        ]);
        app.cli_json(&["client", "revoke", &client_id]);

        let all = app.cli_json(&["audit", "--actor", "cli"]);
        assert_eq!(
            actions(&all),
            owned(&[
                ("client.revoked", &format!("client:{client_id}"), "ok"),
                ("scope.created", "scope:reports:read", "ok"),
                ("client.revoked", "client:cl_nobody", "refused"),
                ("client.created", &format!("client:{client_id}"), "ok"),
                ("account.created", &format!("account:{account_id}"), "ok"),
            ])
        );
        let first = &all[0];
        assert!(
            first["actor"].as_str().unwrap().starts_with("cli:"),
            "{first}"
        );
        assert_eq!(first["client_id"], client_id.as_str());
        assert_eq!(first["account_id"], account_id.as_str());
        assert!(
            all[2]["detail"]
                .as_str()
                .unwrap()
                .contains("no client cl_nobody"),
            "{all}"
        );
        let raw = app.cli(&["audit", "--json", "--limit", "1000"]).unwrap();
        assert!(
            !raw.contains(&secret),
            "the client secret is never in the audit log"
        );

        // By target: the client's own events; its account's id finds them too.
        let mine = app.cli_json(&["audit", "--target", &client_id]);
        assert_eq!(mine.as_array().unwrap().len(), 2, "{mine}");
        let by_account = app.cli_json(&["audit", "--target", &account_id]);
        assert_eq!(by_account.as_array().unwrap().len(), 3, "{by_account}");
        let only_account = app.cli_json(&["audit", "--target", &format!("account:{account_id}")]);
        assert_eq!(actions(&only_account)[0].0, "account.created");
        // Tessera's own changes: the first signing key, at start-up.
        let system = app.cli_json(&["audit", "--actor", "system"]);
        assert!(
            actions(&system)
                .iter()
                .any(|(a, _, o)| a == "key.created" && o == "ok"),
            "{system}"
        );
        // By time.
        assert_eq!(
            app.cli_json(&["audit", "--since", "7d", "--actor", "cli"]),
            all
        );
        let future = app.cli_json(&["audit", "--since", "2999-01-01T00:00:00Z"]);
        assert_eq!(future.as_array().unwrap().len(), 0);
        let (code, stderr) = app.cli(&["audit", "--since", "yesterday"]).unwrap_err();
        assert_ne!(code, 0);
        assert!(stderr.contains("RFC 3339"), "{stderr}");
        // The table for people.
        let table = app.cli(&["audit", "--target", &client_id]).unwrap();
        assert!(table.starts_with("AT"), "{table}");
        assert!(
            table.contains("client.revoked") && table.contains("ok"),
            "{table}"
        );
    }
);

store_test!(
    async fn settings_center_changes_are_audited_and_operators_read_them(app: &TestApp) {
        let account = app.account("Acme").await;
        let customer = app.user(&[&account]).await;
        let b = app.signed_in_to(&customer, "/settings/credentials").await;
        let (_, html) = text(&b, app.url("/settings/credentials")).await;
        let create = |name: &'static str| {
            let body = form_body(&[
                ("csrf", &field(&html, "csrf").unwrap()),
                ("account", &field(&html, "account").unwrap()),
                ("name", name),
            ]);
            b.post(app.url("/settings/credentials/create"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body)
                .send()
        };
        assert_eq!(create("from the dashboard").await.unwrap().status(), 200);
        assert_ne!(create("   ").await.unwrap().status(), 200);

        let actor = format!("user:{}", customer.user_id);
        let events = app.cli_json(&["audit", "--actor", &actor]);
        let got = actions(&events);
        assert_eq!(got.len(), 2, "{events}");
        assert_eq!(
            (got[0].0.as_str(), got[0].2.as_str()),
            ("client.created", "refused")
        );
        assert_eq!(
            (got[1].0.as_str(), got[1].2.as_str()),
            ("client.created", "ok")
        );
        let client_id = events[1]["client_id"].as_str().unwrap().to_owned();
        assert_eq!(events[1]["account_id"], account.as_str());

        // The customer may not read the log; an operator may, filtered like the CLI.
        let (status, _) = text(&b, app.url("/settings/operator/audit")).await;
        assert_eq!(status, 403);
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
        let ops = app
            .signed_in_to(&operator, "/settings/operator/audit")
            .await;
        let (status, page) = text(&ops, app.url("/settings/operator/audit")).await;
        assert_eq!(status, 200);
        assert!(page.contains(&format!("client:{client_id}")), "{page}");
        assert!(
            page.contains(&actor) && page.contains("user.created"),
            "{page}"
        );
        let url = format!("/settings/operator/audit?actor=user&target={client_id}");
        let (_, filtered) = text(&ops, app.url(&url)).await;
        assert!(
            filtered.contains(&format!("client:{client_id}")),
            "{filtered}"
        );
        assert!(!filtered.contains("user.created"), "{filtered}");
        let (status, bad) = text(&ops, app.url("/settings/operator/audit?since=soon")).await;
        assert_eq!(status, 200);
        assert!(bad.contains("Since ignored"), "{bad}");

        // Pages of 50, newest first, the filters kept in the links.
        let tool = Actor::cli("paging");
        for i in 0..60 {
            let event = AuditEvent::new(
                1_700_000_000 + i,
                &tool,
                AuditAction::ScopeCreated,
                Target::new("scope", &format!("paged:{i:02}")),
            );
            app.store().insert_audit_event(&event).await.unwrap();
        }
        let (_, first) = text(&ops, app.url("/settings/operator/audit?actor=cli:paging")).await;
        assert_eq!(first.matches("<td data-label=\"Action\">").count(), 50);
        assert!(
            first.contains("scope:paged:59")
                && first.contains("scope:paged:10")
                && !first.contains("scope:paged:09"),
            "{first}"
        );
        assert!(first.contains("href=\"/settings/operator/audit?actor=cli%3Apaging&#38;page=2\" rel=\"next\">Older</a>"), "{first}");
        assert!(!first.contains(">Newer</a>"));
        let (_, second) = text(
            &ops,
            app.url("/settings/operator/audit?actor=cli:paging&page=2"),
        )
        .await;
        assert_eq!(second.matches("<td data-label=\"Action\">").count(), 10);
        assert!(
            second.contains("scope:paged:09") && second.contains("scope:paged:00"),
            "{second}"
        );
        assert!(
            second.contains(">Newer</a>") && !second.contains(">Older</a>"),
            "{second}"
        );
        let (status, _) = text(&ops, app.url("/settings/operator/audit?page=0")).await;
        assert_eq!(status, 400);
    }
);
