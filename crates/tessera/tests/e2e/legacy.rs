//! Legacy HTTP Basic credentials on the sample API: deprecation signalling, brownouts, the
//! sunset, failure limits, the verification cache, migration, removal and the report.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use serde_json::{json, Value};
use tessera_core::domain::password::hash_password;
use tessera_core::legacy::provision::{create_legacy_credential, NewLegacyCredential};
use tessera_core::legacy::Password;
use tessera_core::rfc3339::format_rfc3339;

use crate::support::{eventually, join_all, TestApp, TestClient};

const GUIDE: &str = "https://developer.example.com/migrating-from-basic";
const SUNSET: &str = "2099-06-15T00:00:00Z";
const SUNSET_HTTP_DATE: &str = "Mon, 15 Jun 2099 00:00:00 GMT";

fn wall() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A new API account with a legacy credential; returns (account id, created_at).
pub(crate) async fn credential(app: &TestApp, email: &str, password: &str) -> (String, i64) {
    let account = app.account("Legacy Co").await;
    let policy = app.config.password_policy().unwrap();
    let hash = hash_password(&policy, &Password::new(password.into()).unwrap()).unwrap();
    let new = NewLegacyCredential {
        account_id: &account,
        email,
        password_hash: hash,
    };
    let c = create_legacy_credential(
        app.store(),
        new,
        &tessera_core::audit::Actor::cli("test"),
        app.now(),
    )
    .await
    .unwrap();
    (account, c.created_at)
}

async fn get_basic(app: &TestApp, path: &str, email: &str, password: &str) -> reqwest::Response {
    app.http
        .get(app.url(path))
        .basic_auth(email, Some(password))
        .send()
        .await
        .unwrap()
}

fn header(res: &reqwest::Response, name: &str) -> Option<String> {
    res.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
}

fn row(report: &Value, email: &str) -> Value {
    report
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["email"] == email)
        .unwrap_or_else(|| panic!("no report row for {email}: {report}"))
        .clone()
}

fn migrated_client(app: &TestApp, email: &str, account: &str) -> TestClient {
    let m = app.cli_json(&["legacy", "migrate", email]);
    assert_eq!(m["account_id"], account, "the same API account");
    assert_eq!(m["state"], "migrated");
    TestClient {
        account_id: account.to_owned(),
        client_id: m["client_id"].as_str().unwrap().to_owned(),
        client_secret: m["client_secret"].as_str().unwrap().to_owned(),
    }
}

store_test!(
    async fn basic_works_before_the_sunset_with_deprecation_sunset_and_link(app: &TestApp)
    with |c| {
        c.basic_sunset = Some(SUNSET.into());
        c.migration_guide_url = Some(GUIDE.into());
    }
    {
        let (account, created_at) = credential(app, "ops@acme.example", "correct horse").await;
        let res = get_basic(app, "/v1/account", "Ops@Acme.example", "correct horse").await;
        assert_eq!(res.status(), 200);
        assert_eq!(header(&res, "deprecation").unwrap(), format!("@{created_at}"));
        assert_eq!(header(&res, "sunset").unwrap(), SUNSET_HTTP_DATE);
        assert_eq!(
            header(&res, "link").unwrap(),
            format!("<{GUIDE}>; rel=\"deprecation\"")
        );
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["account_id"], account.as_str());

        // Every Basic-authenticated response is signalled, errors included.
        let missing = get_basic(app, "/v1/books/book_nope", "ops@acme.example", "correct horse").await;
        assert_eq!(missing.status(), 404);
        assert!(header(&missing, "deprecation").is_some());
        assert!(header(&missing, "sunset").is_some());

        // Bearer responses are not deprecated.
        let c = app.client(None).await;
        let token = app.access_token(&c).await;
        let bearer = app.get_bearer("/v1/account", &token).await;
        assert_eq!(bearer.status(), 200);
        assert!(header(&bearer, "deprecation").is_none());
        assert!(header(&bearer, "sunset").is_none());
    }
);

store_test!(
    async fn configured_deprecation_date_and_no_sunset_header_without_a_sunset(app: &TestApp)
    with |c| {
        c.basic_deprecated_at = Some("2026-01-01T00:00:00Z".into());
    }
    {
        credential(app, "ops@acme.example", "correct horse").await;
        let res = get_basic(app, "/v1/books", "ops@acme.example", "correct horse").await;
        assert_eq!(res.status(), 200);
        assert_eq!(header(&res, "deprecation").unwrap(), "@1767225600");
        assert!(header(&res, "sunset").is_none());
        assert!(header(&res, "link").is_none());
    }
);

store_test!(
    async fn brownout_refuses_basic_like_the_sunset_then_it_works_again(app: &TestApp)
    with |c| {
        let start = super::wall() + 3600;
        c.basic_sunset = Some(SUNSET.into());
        c.migration_guide_url = Some(GUIDE.into());
        c.basic_brownouts = vec![format!(
            "{}/{}",
            format_rfc3339(start),
            format_rfc3339(start + 3600)
        )];
    }
    {
        credential(app, "ops@acme.example", "correct horse").await;
        let ok = get_basic(app, "/v1/books", "ops@acme.example", "correct horse").await;
        assert_eq!(ok.status(), 200);

        app.advance(3600 + 5);
        let res = get_basic(app, "/v1/books", "ops@acme.example", "correct horse").await;
        assert_eq!(res.status(), 401);
        assert_eq!(header(&res, "www-authenticate").unwrap(), "Bearer realm=\"tessera\"");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"], "basic_auth_brownout");
        assert_eq!(body["migration_guide"], GUIDE);
        assert_eq!(body["sunset"], SUNSET);
        let description = body["error_description"].as_str().unwrap();
        assert!(description.contains(GUIDE) && description.contains(SUNSET), "{description}");

        app.advance(3600);
        let after = get_basic(app, "/v1/books", "ops@acme.example", "correct horse").await;
        assert_eq!(after.status(), 200, "the brownout is over");
    }
);

store_test!(
    async fn after_the_sunset_basic_is_401_with_the_date_and_the_guide(
        app: &TestApp
    )
    with |c| {
        c.basic_sunset = Some(format_rfc3339(super::wall() + 86_400));
        c.migration_guide_url = Some(GUIDE.into());
    }
    {
        let (account, _) = credential(app, "ops@acme.example", "correct horse").await;
        let client = app.client_of(&account, None).await;
        assert_eq!(
            get_basic(app, "/v1/books", "ops@acme.example", "correct horse").await.status(),
            200
        );
        let sunset = app.config.basic_sunset.clone().unwrap();

        app.advance(86_400);
        for (email, password) in [
            ("ops@acme.example", "correct horse"),
            ("ops@acme.example", "wrong"),
            ("nobody@acme.example", "x"),
        ] {
            let res = get_basic(app, "/v1/books", email, password).await;
            assert_eq!(res.status(), 401);
            assert_eq!(header(&res, "www-authenticate").unwrap(), "Bearer realm=\"tessera\"");
            let body: Value = res.json().await.unwrap();
            assert_eq!(body["error"], "basic_auth_ended");
            let description = body["error_description"].as_str().unwrap();
            assert!(
                description.contains(&format!("ended on {sunset}")) && description.contains(GUIDE),
                "{description}"
            );
            assert_eq!(body["migration_guide"], GUIDE);
        }
        // OAuth goes on working for the same account.
        let token = app.access_token(&client).await;
        assert_eq!(app.get_bearer("/v1/books", &token).await.status(), 200);
    }
);

store_test!(
    async fn wrong_passwords_are_401_then_429_with_retry_after(app: &TestApp) {
        credential(app, "ops@acme.example", "correct horse").await;
        for _ in 0..10 {
            let res = get_basic(app, "/v1/books", "ops@acme.example", "wrong horse").await;
            assert_eq!(res.status(), 401);
            assert!(header(&res, "www-authenticate")
                .unwrap()
                .starts_with("Basic "));
            assert!(header(&res, "deprecation").is_none());
        }
        let limited = get_basic(app, "/v1/books", "ops@acme.example", "wrong horse").await;
        assert_eq!(limited.status(), 429);
        let retry: i64 = header(&limited, "retry-after").unwrap().parse().unwrap();
        assert!((1..=300).contains(&retry), "{retry}");
        // Limited means limited: the right password does not get through either.
        let right = get_basic(app, "/v1/books", "ops@acme.example", "correct horse").await;
        assert_eq!(right.status(), 429);

        app.advance(300);
        let right = get_basic(app, "/v1/books", "ops@acme.example", "correct horse").await;
        assert_eq!(right.status(), 200);

        // Unknown emails and malformed headers are 401s, never 500s.
        assert_eq!(
            get_basic(app, "/v1/books", "nobody@acme.example", "pw")
                .await
                .status(),
            401
        );
        for bad in ["Basic %%%", "Basic bm8tY29sb24=", "Basic "] {
            let res = app
                .http
                .get(app.url("/v1/books"))
                .header("authorization", bad)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 401, "{bad}");
        }
    }
);

store_test!(
    async fn failures_from_one_address_are_limited_across_credentials(app: &TestApp) {
        credential(app, "ops@acme.example", "correct horse").await;
        for i in 0..50 {
            let email = format!("guess{i}@acme.example");
            assert_eq!(
                get_basic(app, "/v1/books", &email, "pw").await.status(),
                401
            );
        }
        let res = get_basic(app, "/v1/books", "ops@acme.example", "correct horse").await;
        assert_eq!(res.status(), 429, "this address is limited");
        assert!(header(&res, "retry-after").is_some());
    }
);

/// A client whose requests come from `127.0.0.<last>` (all of 127/8 is loopback).
fn from_address(last: u8) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, last)))
        .build()
        .unwrap()
}

async fn basic_from(app: &TestApp, client: &reqwest::Client, email: &str, password: &str) -> u16 {
    client
        .get(app.url("/v1/books"))
        .basic_auth(email, Some(password))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

store_test!(
    async fn failures_from_one_address_leave_the_credential_working_from_another(app: &TestApp) {
        let cache = &app.state().caches.legacy;
        let before = cache.generation();
        credential(app, "ops@acme.example", "correct horse").await;
        // The creation reaches the cache as an invalidation; after it, a success stays cached.
        let applied = eventually(Duration::from_secs(5), || async {
            cache.generation() != before
        })
        .await;
        assert!(applied.is_some());
        let a = from_address(2);
        for _ in 0..10 {
            assert_eq!(basic_from(app, &a, "ops@acme.example", "wrong").await, 401);
        }
        assert_eq!(basic_from(app, &a, "ops@acme.example", "wrong").await, 429);
        assert_eq!(
            basic_from(app, &a, "ops@acme.example", "correct horse").await,
            429,
            "limited at A even with the right password"
        );
        let b = from_address(3);
        assert_eq!(
            basic_from(app, &b, "ops@acme.example", "correct horse").await,
            200,
            "A's failures do not lock the integration out at B"
        );

        // Guessing spread over addresses meets the credential's ceiling (100 in 5 minutes):
        // A's 10 and 9 more addresses' 10 each.
        for last in 10..19 {
            let guesser = from_address(last);
            for _ in 0..10 {
                assert_eq!(
                    basic_from(app, &guesser, "ops@acme.example", "wrong").await,
                    401
                );
            }
        }
        let late = from_address(30);
        assert_eq!(
            basic_from(app, &late, "ops@acme.example", "wrong").await,
            429,
            "the ceiling: no more verifications of this credential"
        );
        assert_eq!(
            basic_from(app, &from_address(31), "ops@acme.example", "correct horse").await,
            200,
            "a cached success passes the ceiling"
        );
    }
);

store_test!(
    async fn parallel_wrong_passwords_are_counted_before_argon2(app: &TestApp)
    with |c| {
        // Costly enough that the guesses overlap while argon2id runs.
        c.argon2_memory_kib = 8192;
        c.argon2_iterations = 2;
    }
    {
        credential(app, "ops@acme.example", "correct horse").await;
        let guesses = (0..50).map(|i| async move {
            let password = format!("wrong {i}");
            basic_from(app, &app.http, "ops@acme.example", &password).await
        });
        let statuses = join_all(guesses).await;
        let verified = statuses.iter().filter(|s| **s == 401).count();
        let limited = statuses.iter().filter(|s| **s == 429).count();
        assert_eq!(verified + limited, 50, "{statuses:?}");
        assert!(verified <= 10, "{verified} guesses verified; the limit is 10");
    }
);

store_test!(
    async fn a_parallel_burst_with_the_right_password_verifies_once_and_all_pass(app: &TestApp)
    with |c| {
        c.argon2_memory_kib = 8192;
        c.argon2_iterations = 2;
    }
    {
        credential(app, "ops@acme.example", "correct horse").await;
        let burst = (0..50).map(|_| basic_from(app, &app.http, "ops@acme.example", "correct horse"));
        let statuses = join_all(burst).await;
        assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    }
);

store_test!(
    async fn a_changed_password_or_a_removed_credential_stops_working_at_once(app: &TestApp) {
        let (account, _) = credential(app, "ops@acme.example", "correct horse").await;
        // Twice: the second answer comes from the verification cache.
        for _ in 0..2 {
            let res = get_basic(app, "/v1/books", "ops@acme.example", "correct horse").await;
            assert_eq!(res.status(), 200);
        }
        app.cli_with_stdin(
            &["legacy", "password", "ops@acme.example", "--password-stdin"],
            "battery staple\n",
        )
        .unwrap();
        let took = eventually(Duration::from_secs(1), || async {
            get_basic(app, "/v1/books", "ops@acme.example", "correct horse")
                .await
                .status()
                == 401
        })
        .await;
        assert!(
            took.is_some(),
            "the cached old password is dropped within 1 s"
        );
        assert_eq!(
            get_basic(app, "/v1/books", "ops@acme.example", "battery staple")
                .await
                .status(),
            200
        );

        let client = migrated_client(app, "ops@acme.example", &account);
        app.access_token(&client).await;
        app.cli_json(&["legacy", "remove", "ops@acme.example"]);
        let took = eventually(Duration::from_secs(1), || async {
            get_basic(app, "/v1/books", "ops@acme.example", "battery staple")
                .await
                .status()
                == 401
        })
        .await;
        assert!(took.is_some(), "a removed credential is refused within 1 s");
    }
);

store_test!(
    async fn migrate_token_remove_and_basic_data_is_read_with_bearer(app: &TestApp) {
        let account = app.cli_json(&["account", "create", "--name", "Acme"]);
        let account = account["account_id"].as_str().unwrap().to_owned();
        let created = app
            .cli_with_stdin(
                &[
                    "legacy",
                    "create",
                    "--account",
                    &account,
                    "--email",
                    "ops@acme.example",
                    "--password-stdin",
                    "--json",
                ],
                "correct horse\n",
            )
            .unwrap();
        assert!(!created.contains("correct horse"), "{created}");
        let created: Value = serde_json::from_str(&created).unwrap();
        assert_eq!(created["state"], "active");

        // Upload with Basic.
        let res = app
            .http
            .post(app.url("/v1/books"))
            .basic_auth("ops@acme.example", Some("correct horse"))
            .json(&json!({"name": "Q3 statements", "documents": [{"file": "jan.pdf"}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
        let book: Value = res.json().await.unwrap();
        let id = book["id"].as_str().unwrap().to_owned();

        let client = migrated_client(app, "ops@acme.example", &account);
        // Migrated, not removed: Basic keeps working.
        assert_eq!(
            get_basic(app, "/v1/books", "ops@acme.example", "correct horse")
                .await
                .status(),
            200
        );
        let token = app.access_token(&client).await;
        let read = app.get_bearer(&format!("/v1/books/{id}"), &token).await;
        assert_eq!(read.status(), 200);
        let read: Value = read.json().await.unwrap();
        assert_eq!(read["documents"], json!([{"file": "jan.pdf"}]));

        let removed = app.cli_json(&["legacy", "remove", "ops@acme.example"]);
        assert_eq!(removed["state"], "removed");
        let took = eventually(Duration::from_secs(1), || async {
            get_basic(app, "/v1/books", "ops@acme.example", "correct horse")
                .await
                .status()
                == 401
        })
        .await;
        assert!(took.is_some());
        // The account's data is intact and reachable with the new client's tokens.
        let list: Value = app
            .get_bearer("/v1/books", &token)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(list["books"].as_array().unwrap().len(), 1);
        assert_eq!(list["books"][0]["id"], id.as_str());

        let listed = app.cli_json(&["legacy", "list"]);
        assert_eq!(listed[0]["state"], "removed");
        assert_eq!(listed[0]["migrated_client_id"], client.client_id.as_str());
        let text = serde_json::to_string(&listed).unwrap();
        assert!(!text.contains("argon2") && !text.contains(&client.client_secret));

        let audit = app.cli_json(&["legacy", "audit", "ops@acme.example"]);
        let actions: Vec<&str> = audit
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap())
            .collect();
        assert_eq!(
            actions,
            ["legacy.removed", "legacy.migrated", "legacy.created"]
        );
        assert!(audit[0]["actor"].as_str().unwrap().starts_with("cli:"));
        assert!(!serde_json::to_string(&audit)
            .unwrap()
            .contains(&client.client_secret));
    }
);

store_test!(
    async fn removal_is_refused_before_migration_and_before_a_token(app: &TestApp) {
        let (account, _) = credential(app, "ops@acme.example", "correct horse").await;
        let (code, stderr) = app
            .cli(&["legacy", "remove", "ops@acme.example"])
            .unwrap_err();
        assert_ne!(code, 0);
        assert!(stderr.contains("has not been migrated"), "{stderr}");

        let client = migrated_client(app, "ops@acme.example", &account);
        let (_, stderr) = app
            .cli(&["legacy", "remove", "ops@acme.example"])
            .unwrap_err();
        assert!(stderr.contains("has not obtained a token"), "{stderr}");
        let (_, stderr) = app
            .cli(&["legacy", "migrate", "ops@acme.example"])
            .unwrap_err();
        assert!(stderr.contains("already migrated"), "{stderr}");
        assert_eq!(
            get_basic(app, "/v1/books", "ops@acme.example", "correct horse")
                .await
                .status(),
            200,
            "a refused removal leaves Basic working"
        );

        // A revoked replacement cannot justify removal; migrating again replaces it.
        app.access_token(&client).await;
        app.cli_json(&["client", "revoke", &client.client_id]);
        let (_, stderr) = app
            .cli(&["legacy", "remove", "ops@acme.example"])
            .unwrap_err();
        assert!(stderr.contains("revoked"), "{stderr}");
        let again = migrated_client(app, "ops@acme.example", &account);
        assert_ne!(again.client_id, client.client_id);
        let (_, stderr) = app
            .cli(&["legacy", "remove", "ops@acme.example"])
            .unwrap_err();
        assert!(stderr.contains("has not obtained a token"), "{stderr}");

        app.access_token(&again).await;
        app.cli_json(&["legacy", "remove", "ops@acme.example"]);
        let (_, stderr) = app
            .cli(&["legacy", "remove", "ops@acme.example"])
            .unwrap_err();
        assert!(stderr.contains("no legacy credential"), "{stderr}");

        let audit = app.cli_json(&["legacy", "audit"]);
        let refused = audit
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == "legacy.removal_refused")
            .count();
        assert_eq!(refused, 4);
    }
);

store_test!(
    async fn report_counts_basic_requests_and_the_new_client_in_use(app: &TestApp) {
        let (account, _) = credential(app, "ops@acme.example", "correct horse").await;
        credential(app, "idle@other.example", "correct horse").await;
        // Three days ago (the CLI reports at wall-clock time, where the test clock started).
        app.advance(-3 * 86_400);
        for _ in 0..2 {
            let res = get_basic(app, "/v1/books", "ops@acme.example", "correct horse").await;
            assert_eq!(res.status(), 200);
        }
        app.advance(3 * 86_400);
        for _ in 0..3 {
            let res = get_basic(app, "/v1/books", "ops@acme.example", "correct horse").await;
            assert_eq!(res.status(), 200);
        }
        assert!(app.flush_legacy_usage().await > 0);

        let report = app.cli_json(&["report", "legacy"]);
        assert_eq!(report.as_array().unwrap().len(), 2);
        let ops = row(&report, "ops@acme.example");
        assert_eq!(ops["account_id"], account.as_str());
        assert_eq!(ops["state"], "active");
        assert_eq!(ops["basic_requests_24h"], 3);
        assert_eq!(ops["basic_requests_7d"], 5);
        assert_eq!(ops["last_basic_use"], format_rfc3339(app.now()));
        assert_eq!(ops["client_used"], false);
        let idle = row(&report, "idle@other.example");
        assert_eq!(idle["basic_requests_7d"], 0);
        assert_eq!(idle["last_basic_use"], Value::Null);

        let client = migrated_client(app, "ops@acme.example", &account);
        let ops = row(&app.cli_json(&["report", "legacy"]), "ops@acme.example");
        assert_eq!(ops["state"], "migrated");
        assert_eq!(ops["client_id"], client.client_id.as_str());
        assert_eq!(ops["client_used"], false);
        app.access_token(&client).await;
        let ops = row(&app.cli_json(&["report", "legacy"]), "ops@acme.example");
        assert_eq!(ops["client_used"], true);
        // A token from the token endpoint is an integration's, not a Settings Center test.
        assert_eq!(
            ops["client_first_integration_at"],
            format_rfc3339(app.now())
        );
        assert_eq!(ops["client_first_test_at"], Value::Null);

        // Counted again after the flush, added to what is stored.
        get_basic(app, "/v1/books", "ops@acme.example", "correct horse").await;
        app.flush_legacy_usage().await;
        let ops = row(&app.cli_json(&["report", "legacy"]), "ops@acme.example");
        assert_eq!(ops["basic_requests_24h"], 4);

        let table = app.cli(&["report", "legacy"]).unwrap();
        assert!(
            table.starts_with("EMAIL")
                && table.contains("ops@acme.example")
                && table.contains("by an integration (since"),
            "{table}"
        );
    }
);

store_test!(
    async fn cli_refuses_bad_input_and_never_echoes_the_password(app: &TestApp) {
        let account = app.cli_json(&["account", "create", "--name", "Acme"]);
        let account = account["account_id"].as_str().unwrap();
        let create = |email: &str, password: &str| {
            app.cli_with_stdin(
                &[
                    "legacy",
                    "create",
                    "--account",
                    account,
                    "--email",
                    email,
                    "--password-stdin",
                ],
                password,
            )
        };
        let (_, stderr) = create("not-an-email", "correct horse\n").unwrap_err();
        assert!(stderr.contains("not an email address"), "{stderr}");
        let (_, stderr) = create("ops@acme.example", "short\n").unwrap_err();
        assert!(stderr.contains("8 to 1024"), "{stderr}");
        assert!(!stderr.contains("short"), "{stderr}");
        let out = create("ops@acme.example", "correct horse\n").unwrap();
        assert!(out.contains("created legacy credential") && !out.contains("correct horse"));
        let (_, stderr) = create("OPS@acme.example", "correct horse\n").unwrap_err();
        assert!(stderr.contains("already exists"), "{stderr}");
        let (_, stderr) = app
            .cli(&["legacy", "create", "--account", account, "--email", "x@y.z"])
            .unwrap_err();
        assert!(stderr.contains("--password-stdin"), "{stderr}");
        let (_, stderr) = app
            .cli(&["legacy", "migrate", "nobody@acme.example"])
            .unwrap_err();
        assert!(stderr.contains("no legacy credential"), "{stderr}");
        let list = app.cli(&["legacy", "list"]).unwrap();
        assert!(
            list.starts_with("EMAIL") && list.contains("ops@acme.example"),
            "{list}"
        );
    }
);
