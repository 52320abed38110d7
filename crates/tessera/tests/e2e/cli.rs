//! The CLI against the same store as a running server.

use serde_json::Value;

use crate::support::eventually;

store_test!(
    async fn cli_creates_account_and_client_whose_token_works_at_once(app: &TestApp) {
        let account = app.cli_json(&["account", "create", "--name", "Acme Corp"]);
        let account_id = account["account_id"].as_str().unwrap();
        let client = app.cli_json(&[
            "client",
            "create",
            "--account",
            account_id,
            "--name",
            "prod",
            "--scope",
            "books:read",
        ]);
        assert_eq!(client["scope"], "books:read");
        let c = crate::support::TestClient {
            account_id: account_id.to_owned(),
            client_id: client["client_id"].as_str().unwrap().to_owned(),
            client_secret: client["client_secret"].as_str().unwrap().to_owned(),
        };
        let token = app.access_token(&c).await;
        assert_eq!(app.get_bearer("/v1/books", &token).await.status(), 200);

        let list = app.cli_json(&["client", "list", "--account", account_id]);
        let listed = &list.as_array().unwrap()[0];
        assert_eq!(listed["client_id"], c.client_id.as_str());
        assert!(
            listed.get("client_secret").is_none(),
            "a secret is shown once, at creation"
        );
        assert!(!serde_json::to_string(&list)
            .unwrap()
            .contains(&c.client_secret));

        let revoked = app.cli_json(&["client", "revoke", &c.client_id]);
        assert_eq!(revoked["status"], "revoked");
        let took = eventually(std::time::Duration::from_secs(1), || async {
            app.get_bearer("/v1/books", &token).await.status() == 401
        })
        .await;
        assert!(
            took.is_some(),
            "a CLI revocation reaches the running server within 1 s"
        );
        assert_eq!(
            app.token_basic(&c, "grant_type=client_credentials")
                .await
                .status(),
            401
        );
    }
);

store_test!(
    async fn cli_errors_go_to_stderr_with_nonzero_exit(app: &TestApp) {
        let (code, stderr) = app
            .cli(&[
                "client",
                "create",
                "--account",
                "acct_nope",
                "--name",
                "x",
                "--json",
            ])
            .unwrap_err();
        assert_ne!(code, 0);
        assert!(
            stderr.contains("no API account acct_nope") && stderr.contains("tessera account list"),
            "{stderr}"
        );
        let account = app.cli_json(&["account", "create", "--name", "A"]);
        let (_, stderr) = app
            .cli(&[
                "client",
                "create",
                "--account",
                account["account_id"].as_str().unwrap(),
                "--name",
                "x",
                "--scope",
                "root",
            ])
            .unwrap_err();
        assert!(stderr.contains("unknown scope root"), "{stderr}");
        let (_, stderr) = app.cli(&["client", "revoke", "cl_nope"]).unwrap_err();
        assert!(stderr.contains("no client cl_nope"), "{stderr}");
    }
);

store_test!(
    async fn cli_without_json_prints_readable_text(app: &TestApp) {
        app.cli_json(&["account", "create", "--name", "Readable"]);
        let out = app.cli(&["account", "list"]).unwrap();
        assert!(
            out.starts_with("ACCOUNT") && out.contains("Readable"),
            "{out}"
        );
        let parsed: Result<Value, _> = serde_json::from_str(&out);
        assert!(parsed.is_err());
    }
);
