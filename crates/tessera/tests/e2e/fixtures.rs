//! The hidden `tessera fixtures` commands the benchmark harness fills stores with.

use serde_json::json;

const CB: &str = "https://partner.example/callback";
const BACKFILLED: usize = 2_500;

store_test!(
    async fn fixtures_backfill_adds_rows_beside_token_sets_that_still_rotate(app: &TestApp) {
        let account = app.account("Bench").await;
        let partner = app.application(Some(CB), false, None).await;
        let user = app.user(&[&account]).await;
        let owner = [
            "--app",
            partner.client_id.as_str(),
            "--account",
            account.as_str(),
            "--user",
            user.user_id.as_str(),
        ];
        let mut args = vec!["fixtures", "token-sets", "--count", "2"];
        args.extend(owner);
        let started = app.cli_json(&args);
        let count = BACKFILLED.to_string();
        let mut args = vec![
            "fixtures",
            "backfill",
            "--clients",
            &count,
            "--token-sets",
            &count,
        ];
        args.extend(owner);
        let added = app.cli_json(&args);
        assert_eq!(
            added,
            json!({ "clients": BACKFILLED, "token_sets": BACKFILLED }),
            "only the counts are printed, no secret or token"
        );

        let clients = app.cli_json(&["client", "list", "--account", &account]);
        assert_eq!(clients.as_array().map(Vec::len), Some(BACKFILLED));

        let first = started[0]["refresh_token"].as_str().unwrap();
        let (status, body) = app.refresh(&partner, first).await;
        assert_eq!(status, 200, "{body}");
        let rotated = body["refresh_token"].as_str().unwrap().to_owned();

        let revoked = app.cli_json(&["user", "deauthorize", &user.email, &partner.client_id]);
        assert_eq!(
            revoked["revoked_token_sets"],
            BACKFILLED + 2,
            "every backfilled set is a live set of the user and application"
        );
        assert_eq!(
            app.refresh(&partner, &rotated).await.1["error"],
            "invalid_grant"
        );
    }
);
