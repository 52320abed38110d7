//! API accounts with the provider's ids through the real CLI against a running server's
//! store: `account create --external-id`, `account update`, `account import` (CSV and JSON
//! Lines, idempotent, dry run, all or nothing, --skip-invalid) and `ext:<external id>`
//! wherever a command takes an account.

use serde_json::Value;

use crate::support::TestApp;

fn write(app: &TestApp, name: &str, text: &str) -> String {
    let path = app.dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

/// external id → (account id, name), from `account list --json`.
fn accounts_by_external_id(app: &TestApp) -> Vec<(String, String, String)> {
    let list = app.cli_json(&["account", "list"]);
    let mut out: Vec<(String, String, String)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["external_id"].as_str().unwrap_or("-").to_owned(),
                a["account_id"].as_str().unwrap().to_owned(),
                a["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    out.sort();
    out
}

fn stderr_of(app: &TestApp, args: &[&str]) -> String {
    let (code, stderr) = app.cli(args).unwrap_err();
    assert_ne!(code, 0, "{args:?} must fail");
    stderr
}

store_test!(
    async fn account_create_takes_an_optional_unique_external_id(app: &TestApp) {
        let acme = app.cli_json(&[
            "account",
            "create",
            "--name",
            "Acme",
            "--external-id",
            "cus_42",
        ]);
        assert_eq!(acme["external_id"], "cus_42");
        assert_eq!(acme["name"], "Acme");
        let acme_id = acme["account_id"].as_str().unwrap();
        assert!(acme_id.starts_with("acct_"));
        let plain = app.cli_json(&["account", "create", "--name", "Plain"]);
        assert_eq!(plain["external_id"], Value::Null);

        // The external id is taken: refused, naming the account that holds it.
        let stderr = stderr_of(
            app,
            &[
                "account",
                "create",
                "--name",
                "Copycat",
                "--external-id",
                "cus_42",
            ],
        );
        assert!(
            stderr.contains("\"cus_42\" already belongs to another API account")
                && stderr.contains(acme_id),
            "{stderr}"
        );
        // Case matters: the provider's database decides what is the same id.
        let upper = app.cli_json(&[
            "account",
            "create",
            "--name",
            "Upper",
            "--external-id",
            "CUS_42",
        ]);
        for (bad, why) in [
            (" cus_1", "must not start or end with a space"),
            ("cus\t1", "control characters"),
            ("Zoë", "printable ASCII"),
            ("   ", "blank"),
        ] {
            let stderr = stderr_of(
                app,
                &["account", "create", "--name", "Bad", "--external-id", bad],
            );
            assert!(stderr.contains(why), "{bad:?}: {stderr}");
        }
        let long = "x".repeat(201);
        let stderr = stderr_of(
            app,
            &[
                "account",
                "create",
                "--name",
                "Long",
                "--external-id",
                &long,
            ],
        );
        assert!(stderr.contains("at most 200 characters"), "{stderr}");

        assert_eq!(
            accounts_by_external_id(app),
            [
                (
                    "-".to_owned(),
                    plain["account_id"].as_str().unwrap().to_owned(),
                    "Plain".to_owned()
                ),
                (
                    "CUS_42".to_owned(),
                    upper["account_id"].as_str().unwrap().to_owned(),
                    "Upper".to_owned()
                ),
                ("cus_42".to_owned(), acme_id.to_owned(), "Acme".to_owned()),
            ]
        );
        let text = app.cli(&["account", "list"]).unwrap();
        assert!(
            text.starts_with("ACCOUNT") && text.contains("EXTERNAL ID"),
            "{text}"
        );
        let acme_line = text.lines().find(|l| l.contains(acme_id)).unwrap();
        assert!(
            acme_line.contains("cus_42") && acme_line.contains("Acme"),
            "{text}"
        );

        // `account update` renames, sets, changes and removes it, by either name.
        let renamed = app.cli_json(&["account", "update", "ext:cus_42", "--name", "Acme Inc"]);
        assert_eq!(
            (renamed["account_id"].as_str(), renamed["name"].as_str()),
            (Some(acme_id), Some("Acme Inc"))
        );
        let plain_id = plain["account_id"].as_str().unwrap();
        let set = app.cli_json(&["account", "update", plain_id, "--external-id", "cus_7"]);
        assert_eq!(set["external_id"], "cus_7");
        let stderr = stderr_of(
            app,
            &["account", "update", plain_id, "--external-id", "cus_42"],
        );
        assert!(stderr.contains("already belongs"), "{stderr}");
        let removed = app.cli_json(&["account", "update", "ext:cus_7", "--no-external-id"]);
        assert_eq!(removed["external_id"], Value::Null);
        let stderr = stderr_of(app, &["account", "update", plain_id]);
        assert!(stderr.contains("nothing to change"), "{stderr}");
    }
);

store_test!(
    async fn ext_references_are_accepted_wherever_the_cli_takes_an_account(app: &TestApp) {
        let account = app.account_with_external_id("Ext Co", "crm 1001").await;
        let client = app.cli_json(&[
            "client",
            "create",
            "--account",
            "ext:crm 1001",
            "--name",
            "prod",
            "--scope",
            "books:read",
        ]);
        assert_eq!(client["account_id"], account.as_str());
        let listed = app.cli_json(&["client", "list", "--account", "ext:crm 1001"]);
        assert_eq!(listed.as_array().unwrap().len(), 1);

        let legacy = app
            .cli_with_stdin(
                &[
                    "legacy",
                    "create",
                    "--account",
                    "ext:crm 1001",
                    "--email",
                    "ops@ext.example",
                    "--password-stdin",
                    "--json",
                ],
                "correct horse\n",
            )
            .unwrap();
        let legacy: Value = serde_json::from_str(&legacy).unwrap();
        assert_eq!(legacy["account_id"], account.as_str());

        let hash = bcrypt::hash("imported password", 4).unwrap();
        let file = write(
            app,
            "users.csv",
            &format!(
                "email,account,password_hash\n\
                 imported@ext.example,ext:crm 1001,{hash}\n\
                 ghost@ext.example,ext:crm 404,{hash}\n\
                 bad@ext.example,ext:,{hash}\n"
            ),
        );
        let out = app.cli_json(&["legacy", "import", &file, "--skip-invalid"]);
        assert_eq!(out["new"], 1, "{out}");
        let rejected = out["rejected"].as_array().unwrap();
        assert_eq!(
            (rejected[0]["line"].as_u64(), rejected[1]["line"].as_u64()),
            (Some(3), Some(4))
        );
        let reason = rejected[0]["reason"].as_str().unwrap();
        assert!(
            reason.contains("no API account has the external id \"crm 404\""),
            "{reason}"
        );
        let reason = rejected[1]["reason"].as_str().unwrap();
        assert!(reason.contains("must not be empty"), "{reason}");
        let of_account = app.cli_json(&["legacy", "list", "--account", "ext:crm 1001"]);
        let mut emails: Vec<&str> = of_account
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["email"].as_str().unwrap())
            .collect();
        emails.sort();
        assert_eq!(emails, ["imported@ext.example", "ops@ext.example"]);

        let app_created = app.cli_json(&[
            "app",
            "create",
            "--name",
            "Partner",
            "--account",
            "ext:crm 1001",
        ]);
        assert_eq!(
            app_created["account_id"],
            account.as_str(),
            "the registering account"
        );
        let user = app
            .cli_with_stdin(
                &[
                    "user",
                    "create",
                    "--email",
                    "ada@ext.example",
                    "--account",
                    "ext:crm 1001",
                    "--password-stdin",
                    "--json",
                ],
                "a long and strong password 42\n",
            )
            .unwrap();
        assert!(user.contains("usr_"), "{user}");

        // An unknown or malformed ext: reference is a clear error, never a guess.
        for args in [
            vec![
                "client",
                "create",
                "--account",
                "ext:crm 404",
                "--name",
                "x",
            ],
            vec!["client", "list", "--account", "ext:crm 404"],
            vec!["legacy", "list", "--account", "ext:crm 404"],
            vec!["app", "create", "--name", "x", "--account", "ext:crm 404"],
        ] {
            let stderr = stderr_of(app, &args);
            assert!(
                stderr.contains("no API account has the external id \"crm 404\"")
                    && stderr.contains("tessera account list"),
                "{args:?}: {stderr}"
            );
        }
        let (_, stderr) = app
            .cli_with_stdin(
                &[
                    "legacy",
                    "create",
                    "--account",
                    "ext:crm 404",
                    "--email",
                    "x@ext.example",
                    "--password-stdin",
                ],
                "correct horse\n",
            )
            .unwrap_err();
        assert!(
            stderr.contains("no API account has the external id"),
            "{stderr}"
        );
        let stderr = stderr_of(
            app,
            &[
                "client",
                "create",
                "--account",
                "ext: crm 1001",
                "--name",
                "x",
            ],
        );
        assert!(
            stderr.contains("must not start or end with a space"),
            "{stderr}"
        );
    }
);

store_test!(
    async fn account_import_reads_csv_and_json_lines_and_is_idempotent(app: &TestApp) {
        let acme = app.account_with_external_id("Acme", "cus_1").await;
        let csv = write(
            app,
            "accounts.csv",
            "external_id,name\ncus_1,Acme\ncus_2,\"Globex, Inc\"\n",
        );
        let dry = app.cli_json(&["account", "import", &csv, "--dry-run"]);
        assert_eq!(dry["outcome"], "dry run, nothing written");
        assert_eq!(
            (dry["new"].as_u64(), dry["unchanged"].as_u64()),
            (Some(1), Some(1)),
            "{dry}"
        );
        assert_eq!(
            accounts_by_external_id(app).len(),
            1,
            "a dry run writes nothing"
        );

        let out = app.cli_json(&["account", "import", &csv]);
        assert_eq!(out["outcome"], "imported");
        assert_eq!(
            (
                out["new"].as_u64(),
                out["updated"].as_u64(),
                out["unchanged"].as_u64()
            ),
            (Some(1), Some(0), Some(1)),
            "{out}"
        );
        let after = accounts_by_external_id(app);
        assert_eq!(after.len(), 2);
        assert_eq!(
            (
                after[0].0.as_str(),
                after[0].1.as_str(),
                after[0].2.as_str()
            ),
            ("cus_1", acme.as_str(), "Acme")
        );
        assert_eq!(
            (after[1].0.as_str(), after[1].2.as_str()),
            ("cus_2", "Globex, Inc")
        );
        let globex = after[1].1.clone();

        // The same file again changes nothing.
        let again = app.cli(&["account", "import", &csv]).unwrap();
        assert_eq!(
            again.trim(),
            "imported: 0 new, 0 updated, 2 unchanged, 0 rejected"
        );
        assert_eq!(accounts_by_external_id(app), after);

        // JSON Lines: a new name renames the same account; a numeric id is its text.
        let jsonl = write(
            app,
            "accounts.jsonl",
            "{\"external_id\": \"cus_2\", \"name\": \"Globex Corporation\"}\n\n{\"external_id\": 3, \"name\": \"Initech\"}\n",
        );
        let out = app.cli_json(&["account", "import", &jsonl]);
        assert_eq!(
            (
                out["new"].as_u64(),
                out["updated"].as_u64(),
                out["unchanged"].as_u64()
            ),
            (Some(1), Some(1), Some(0)),
            "{out}"
        );
        let last = accounts_by_external_id(app);
        assert_eq!(last.len(), 3);
        assert_eq!((last[0].0.as_str(), last[0].2.as_str()), ("3", "Initech"));
        assert_eq!(
            (last[2].0.as_str(), last[2].1.as_str(), last[2].2.as_str()),
            ("cus_2", globex.as_str(), "Globex Corporation")
        );
        let again = app.cli_json(&["account", "import", &jsonl]);
        assert_eq!(again["unchanged"], 2, "{again}");
        // The imported accounts are usable at once, by their external ids.
        let client = app.cli_json(&["client", "create", "--account", "ext:3", "--name", "x"]);
        assert_eq!(client["account_id"], last[0].1.as_str());
    }
);

store_test!(
    async fn account_import_is_all_or_nothing_unless_told_to_skip_invalid_lines(app: &TestApp) {
        app.account_with_external_id("Taken", "cus_taken").await;
        let text = [
            "external_id,name",
            "cus_a,Alpha",
            "   ,Blank",
            "cus_b,",
            "cus_a,Alpha again",
            "cus_c,Gamma,extra",
            "cus_taken,Renamed",
            "Zoë,Accented",
        ]
        .join("\n");
        let file = write(app, "accounts.csv", &text);
        let dry = app.cli_json(&["account", "import", &file, "--dry-run"]);
        let rejected: Vec<(u64, &str)> = dry["rejected"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["line"].as_u64().unwrap(),
                    r["external_id"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            rejected,
            [(3, ""), (4, "cus_b"), (5, "cus_a"), (6, ""), (8, "Zoë")],
            "{dry}"
        );
        let reasons: Vec<&str> = dry["rejected"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["reason"].as_str().unwrap())
            .collect();
        assert!(reasons[0].contains("must not be empty"), "{reasons:?}");
        assert!(reasons[1].contains("account name"), "{reasons:?}");
        assert!(reasons[2].contains("earlier line"), "{reasons:?}");
        assert!(reasons[3].contains("CSV record"), "{reasons:?}");
        assert!(reasons[4].contains("printable ASCII"), "{reasons:?}");
        assert_eq!(
            (dry["new"].as_u64(), dry["updated"].as_u64()),
            (Some(1), Some(1))
        );
        let before = accounts_by_external_id(app);

        let (code, stderr) = app.cli(&["account", "import", &file]).unwrap_err();
        assert_ne!(code, 0);
        assert!(
            stderr.contains("5 line(s) rejected, so nothing was imported"),
            "{stderr}"
        );
        let shown = app.cli_output(&["account", "import", &file], "");
        let stdout = String::from_utf8_lossy(&shown.stdout);
        assert!(
            stdout
                .starts_with("aborted, nothing written: 1 new, 1 updated, 0 unchanged, 5 rejected"),
            "{stdout}"
        );
        assert!(
            stdout.contains("\n  line 4 (cus_b): an account name"),
            "{stdout}"
        );
        assert!(stdout.contains("\n  line 6: not a CSV record"), "{stdout}");
        assert_eq!(accounts_by_external_id(app), before, "all or nothing");

        let out = app.cli_json(&["account", "import", &file, "--skip-invalid"]);
        assert_eq!(out["outcome"], "imported");
        assert_eq!(out["rejected"].as_array().unwrap().len(), 5);
        let after = accounts_by_external_id(app);
        let names: Vec<(&str, &str)> = after
            .iter()
            .map(|(e, _, n)| (e.as_str(), n.as_str()))
            .collect();
        assert_eq!(names, [("cus_a", "Alpha"), ("cus_taken", "Renamed")]);
        let stderr = stderr_of(app, &["account", "import", "/nonexistent/accounts.csv"]);
        assert!(stderr.contains("cannot read"), "{stderr}");
        let header = write(app, "bad.csv", "id,title\n1,A\n");
        let stderr = stderr_of(app, &["account", "import", &header]);
        assert!(
            stderr.contains("the CSV header must name the columns external_id and name"),
            "{stderr}"
        );
    }
);
