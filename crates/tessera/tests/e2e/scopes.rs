//! The operator's scope catalog: `tessera scope …` against a running server's store,
//! `[[scope]]` tables applied at start-up, what a removal is refused for, and a new scope
//! used end to end (client credentials, the consent page, the gateway).

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;
use tessera_core::gateway::RouteSpec;
use tessera_core::manage::scopes::ScopeSpec;

use crate::support::flow::{browser, location, param, TestApplication};
use crate::support::upstream::Upstream;
use crate::support::{eventually, Backend, TestApp, TestClient};

const CB: &str = "https://partner.example/callback";

fn scope_spec(name: &str, description: &str) -> ScopeSpec {
    ScopeSpec {
        name: name.into(),
        description: description.into(),
    }
}

/// A config file in the test's directory holding `toml`.
fn config_file(app: &TestApp, toml: &str) -> PathBuf {
    let file = app
        .dir
        .join(format!("tessera-{}.toml", crate::support::random_suffix()));
    std::fs::write(&file, toml).unwrap();
    file
}

/// The catalog's names, read with `tessera scope list`.
fn catalog(app: &TestApp) -> Vec<String> {
    app.cli_json(&["scope", "list"])
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_owned())
        .collect()
}

/// The catalog's scopes as the metadata lists them, after the identity scopes.
async fn scopes_supported(app: &TestApp) -> Vec<String> {
    let meta: Value = app
        .http
        .get(app.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let listed: Vec<String> = meta["scopes_supported"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect();
    // OpenID Connect's identity scopes come first, whatever the catalog holds.
    assert_eq!(listed[..3], ["openid", "profile", "email"]);
    listed[3..].to_vec()
}

/// `tessera client create` for a new account, as a client the test can use.
fn cli_client(app: &TestApp, scope: &str) -> TestClient {
    let account = app.cli_json(&["account", "create", "--name", "Acme"]);
    let account_id = account["account_id"].as_str().unwrap();
    let c = app.cli_json(&[
        "client",
        "create",
        "--account",
        account_id,
        "--name",
        "prod",
        "--scope",
        scope,
    ]);
    TestClient {
        account_id: account_id.to_owned(),
        client_id: c["client_id"].as_str().unwrap().to_owned(),
        client_secret: c["client_secret"].as_str().unwrap().to_owned(),
    }
}

/// `tessera app create` of an approved confidential application allowed `scope`.
fn cli_application(app: &TestApp, scope: &str) -> TestApplication {
    let a = app.cli_json(&[
        "app",
        "create",
        "--name",
        "Invoice Viewer",
        "--redirect-uri",
        CB,
        "--scope",
        scope,
        "--approved",
    ]);
    TestApplication {
        client_id: a["client_id"].as_str().unwrap().to_owned(),
        client_secret: a["client_secret"].as_str().map(str::to_owned),
        redirect_uri: Some(CB.to_owned()),
    }
}

/// The error a refused `tessera scope remove NAME` printed.
fn refused_removal(app: &TestApp, extra: &[&str], name: &str) -> String {
    let mut args = extra.to_vec();
    args.extend(["scope", "remove", name]);
    let (code, stderr) = app.cli(&args).unwrap_err();
    assert_ne!(code, 0);
    assert!(
        stderr.contains(&format!("scope {name} is in use")),
        "{stderr}"
    );
    stderr
}

store_test!(
    async fn scope_create_list_describe_update_and_remove_when_unused(app: &TestApp) {
        let created = app.cli_json(&[
            "scope",
            "create",
            "invoices:read",
            "--description",
            "See your invoices",
        ]);
        assert_eq!(created["name"], "invoices:read");
        assert_eq!(created["description"], "See your invoices");
        let list = app.cli_json(&["scope", "list"]);
        assert!(
            list.as_array()
                .unwrap()
                .iter()
                .any(|e| e["name"] == "invoices:read" && e["description"] == "See your invoices"),
            "{list}"
        );
        let text = app.cli(&["scope", "list"]).unwrap();
        assert!(text.starts_with("SCOPE"), "{text}");
        assert!(
            text.contains("invoices:read") && text.contains("See your invoices"),
            "{text}"
        );

        let (_, stderr) = app
            .cli(&["scope", "create", "invoices:read", "--description", "Again"])
            .unwrap_err();
        assert!(
            stderr.contains("scope invoices:read exists already"),
            "{stderr}"
        );

        let shown = app.cli_json(&["scope", "describe", "invoices:read"]);
        assert_eq!(shown["description"], "See your invoices");
        assert_eq!(shown["in_use"], false);
        assert_eq!(shown["sample"], false);
        assert_eq!(shown["clients"], serde_json::json!([]));
        assert_eq!(shown["consents"], 0);
        let sample = app.cli_json(&["scope", "describe", "books:read"]);
        assert_eq!(sample["sample"], true, "{sample}");
        let text = app.cli(&["scope", "describe", "invoices:read"]).unwrap();
        assert!(text.contains("used by nothing"), "{text}");

        let updated = app.cli_json(&[
            "scope",
            "update",
            "invoices:read",
            "--description",
            "Read your invoices",
        ]);
        assert_eq!(updated["description"], "Read your invoices");
        assert_eq!(
            app.cli_json(&["scope", "describe", "invoices:read"])["description"],
            "Read your invoices"
        );

        let removed = app.cli_json(&["scope", "remove", "invoices:read"]);
        assert_eq!(
            removed,
            serde_json::json!({ "name": "invoices:read", "removed": true })
        );
        assert!(!catalog(app).contains(&"invoices:read".to_owned()));
        let (code, stderr) = app
            .cli(&["scope", "describe", "invoices:read"])
            .unwrap_err();
        assert_ne!(code, 0);
        assert!(stderr.contains("no scope \"invoices:read\""), "{stderr}");
        let (_, stderr) = app.cli(&["scope", "remove", "invoices:read"]).unwrap_err();
        assert!(stderr.contains("no scope \"invoices:read\""), "{stderr}");

        // A sample scope nothing uses is the operator's to remove too.
        app.cli_json(&["scope", "remove", "account:write"]);
        assert!(!catalog(app).contains(&"account:write".to_owned()));
    }
);

store_test!(
    async fn scope_names_follow_rfc6749_and_descriptions_are_checked(app: &TestApp) {
        let long = "a".repeat(129);
        let cases: [(&str, &str, &str); 7] = [
            ("two words", "Fine", "\"two words\" is not valid"),
            (
                "say\"what",
                "Fine",
                "is not valid: scope tokens are printable ASCII",
            ),
            (
                "back\\slash",
                "Fine",
                "without spaces, quotes or backslashes",
            ),
            ("", "Fine", "a scope name must not be empty"),
            (&long, "Fine", "at most 128 characters"),
            (
                "ok:name",
                "   ",
                "a scope description must be 1 to 200 characters",
            ),
            ("ok:name", "two\nlines", "without line breaks"),
        ];
        for (name, description, want) in cases {
            let (code, stderr) = app
                .cli(&["scope", "create", name, "--description", description])
                .unwrap_err();
            assert_ne!(code, 0, "{name:?}");
            assert!(stderr.contains(want), "{name:?}: {stderr}");
        }
        let too_long = "x".repeat(201);
        let (_, stderr) = app
            .cli(&["scope", "create", "ok:name", "--description", &too_long])
            .unwrap_err();
        assert!(stderr.contains("1 to 200 characters"), "{stderr}");
        let names = catalog(app);
        assert_eq!(names.len(), 4, "nothing was created: {names:?}");
        // The widest name RFC 6749 allows is fine.
        let odd = "!#$%&'()*+,-./09:;<=>?@AZ[]^_`az{|}~";
        app.cli_json(&[
            "scope",
            "create",
            odd,
            "--description",
            "Every allowed character",
        ]);
        assert!(catalog(app).contains(&odd.to_owned()));
    }
);

store_test!(
    async fn scope_remove_is_refused_naming_the_clients_and_applications_using_it(app: &TestApp) {
        app.cli_json(&[
            "scope",
            "create",
            "reports:read",
            "--description",
            "Read reports",
        ]);
        let client = cli_client(app, "reports:read books:read");
        let partner = cli_application(app, "reports:read");
        let stderr = refused_removal(app, &[], "reports:read");
        assert!(
            stderr.contains(&format!("clients {}", client.client_id)),
            "{stderr}"
        );
        assert!(
            stderr.contains(&format!("applications {}", partner.client_id)),
            "{stderr}"
        );

        // The new scope is the client's to use: its token carries it.
        let res = app
            .token_basic(&client, "grant_type=client_credentials&scope=reports:read")
            .await;
        assert_eq!(res.status(), 200);
        let body: Value = res.json().await.unwrap();
        let claims = crate::support::jwt::claims(body["access_token"].as_str().unwrap());
        assert_eq!(claims["scope"], "reports:read");

        app.cli_json(&["client", "revoke", &client.client_id]);
        let stderr = refused_removal(app, &[], "reports:read");
        assert!(!stderr.contains(&client.client_id), "revoked: {stderr}");
        assert!(stderr.contains(&partner.client_id), "{stderr}");
        app.cli_json(&["client", "revoke", &partner.client_id]);
        app.cli_json(&["scope", "remove", "reports:read"]);
        assert!(!catalog(app).contains(&"reports:read".to_owned()));
    }
);

store_test!(
    async fn a_new_scope_is_shown_on_the_consent_page_and_its_consents_block_removal(
        app: &TestApp,
    ) {
        app.cli_json(&[
            "scope",
            "create",
            "invoices:read",
            "--description",
            "See your invoices",
        ]);
        let partner = cli_application(app, "invoices:read books:read");
        let account = app.account("Acme").await;
        let user = app.user(&[&account]).await;
        let params = [
            ("response_type", "code"),
            ("client_id", partner.client_id.as_str()),
            ("redirect_uri", CB),
            ("scope", "invoices:read"),
            ("state", "s1"),
        ];
        let b = browser();
        let res = app.signed_in_authorize(&b, &user, &params).await;
        assert_eq!(res.status(), 200, "the consent page");
        let html = res.text().await.unwrap();
        assert!(html.contains("See your invoices"), "{html}");
        assert!(html.contains("invoices:read"), "{html}");
        let res = app.consent(&b, &html, "authorize", None).await;
        assert_eq!(res.status(), 303);
        let code = param(&location(&res), "code").expect("a code");
        let (status, body) = app.exchange(&partner, &code).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["scope"], "invoices:read");

        let shown = app.cli_json(&["scope", "describe", "invoices:read"]);
        assert_eq!(
            shown["applications"],
            serde_json::json!([partner.client_id])
        );
        assert_eq!(
            (shown["consents"].as_i64(), shown["consent_users"].as_i64()),
            (Some(1), Some(1))
        );
        let stderr = refused_removal(app, &[], "invoices:read");
        assert!(stderr.contains("1 consent of 1 user"), "{stderr}");
        assert!(stderr.contains(&partner.client_id), "{stderr}");

        // New words reach the consent page at once.
        app.cli_json(&[
            "scope",
            "update",
            "invoices:read",
            "--description",
            "Read your invoices and credit notes",
        ]);
        let other = app.user(&[&account]).await;
        let res = app.signed_in_authorize(&browser(), &other, &params).await;
        assert_eq!(res.status(), 200);
        let html = res.text().await.unwrap();
        assert!(
            html.contains("Read your invoices and credit notes"),
            "{html}"
        );
        assert!(!html.contains("See your invoices"), "{html}");

        app.cli_json(&["client", "revoke", &partner.client_id]);
        app.cli_json(&["scope", "remove", "invoices:read"]);
    }
);

store_test!(
    async fn scope_remove_is_refused_naming_the_routes_and_scope_tables_using_it(app: &TestApp) {
        app.cli_json(&[
            "scope",
            "create",
            "orders:read",
            "--description",
            "See your orders",
        ]);
        let file = config_file(
            app,
            "[[route]]\npath = \"/v1/status\"\npublic = true\n\
             [[route]]\nmethods = [\"GET\"]\npath = \"/v1/orders/{id}\"\nscopes = [\"orders:read\"]\n\
             [[scope]]\nname = \"orders:write\"\ndescription = \"Place orders\"\n",
        );
        let with_config = ["--config", file.to_str().unwrap()];
        let stderr = refused_removal(app, &with_config, "orders:read");
        assert!(
            stderr.contains("[[route]] #2 (path \"/v1/orders/{id}\")"),
            "{stderr}"
        );
        let stderr = refused_removal(app, &with_config, "orders:write");
        assert!(
            stderr.contains("[[scope]] #1 of the configuration"),
            "{stderr}"
        );
        let shown = app.cli_json(&[
            "--config",
            file.to_str().unwrap(),
            "scope",
            "describe",
            "orders:read",
        ]);
        assert_eq!(
            shown["routes"],
            serde_json::json!([{ "index": 2, "path": "/v1/orders/{id}" }])
        );
        let (_, stderr) = app
            .cli(&[
                "--config",
                file.to_str().unwrap(),
                "scope",
                "update",
                "orders:write",
                "--description",
                "Other words",
            ])
            .unwrap_err();
        assert!(
            stderr.contains("[[scope]] #1 of the configuration; change it there"),
            "{stderr}"
        );
        // Without the file nothing in the configuration holds them.
        app.cli_json(&["scope", "remove", "orders:read"]);
    }
);

store_test!(
    async fn an_invalid_scope_table_stops_the_server_naming_it(app: &TestApp) {
        let cases = [
            (
                "[[scope]]\nname = \"ok\"\ndescription = \"Fine\"\n\
                 [[scope]]\nname = \"a b\"\ndescription = \"Two words\"\n",
                "[[scope]] #2 (name \"a b\"): scope token \"a b\" is not valid",
            ),
            (
                "[[scope]]\nname = \"quiet\"\n",
                "[[scope]] #1 (name \"quiet\"): a scope description must be 1 to 200",
            ),
            (
                "[[scope]]\nname = \"\"\ndescription = \"Nameless\"\n",
                "[[scope]] #1 (name \"\"): a scope name must not be empty",
            ),
            (
                "[[scope]]\nname = \"a\"\ndescription = \"A\"\n[[scope]]\nname = \"a\"\ndescription = \"B\"\n",
                "[[scope]] #2 (name \"a\"): the name is taken by [[scope]] #1 too",
            ),
            (
                "[[scope]]\nname = \"a\"\ndescripton = \"A\"\n",
                "descripton",
            ),
            (
                "[[route]]\npath = \"/v1/x\"\nscopes = [\"x:read\"]\n",
                "add it with a [[scope]] table or `tessera scope create`",
            ),
        ];
        for (toml, want) in cases {
            let file = config_file(app, toml);
            let (code, stderr) = app
                .cli(&[
                    "--config",
                    file.to_str().unwrap(),
                    "serve",
                    "--listen",
                    "127.0.0.1:0",
                    "--upstream",
                    "http://127.0.0.1:9",
                ])
                .unwrap_err();
            assert_ne!(code, 0);
            assert!(stderr.contains(want), "{toml}: {stderr}");
        }
        assert_eq!(catalog(app).len(), 4, "a refused start changed nothing");
    }
);

store_test!(
    async fn scope_tables_applied_by_the_cli_keep_used_samples_and_reach_the_server(app: &TestApp) {
        let all = scopes_supported(app).await;
        assert_eq!(
            all,
            ["account:read", "account:write", "books:read", "books:write"]
        );
        let reader = cli_client(app, "books:read");
        let file = config_file(
            app,
            "[[scope]]\nname = \"reports:read\"\ndescription = \"Read reports\"\n",
        );
        // Any command given the file applies its [[scope]] tables.
        app.cli_json(&["--config", file.to_str().unwrap(), "scope", "list"]);
        assert_eq!(
            catalog(app),
            ["books:read", "reports:read"],
            "a sample a client uses stays; the unused ones go"
        );
        let took = eventually(Duration::from_secs(2), || async {
            scopes_supported(app).await == ["books:read", "reports:read"]
        })
        .await;
        assert!(
            took.is_some(),
            "the running server follows the catalog through the change feed"
        );
        let token = app.access_token(&reader).await;
        assert_eq!(app.get_bearer("/v1/books", &token).await.status(), 200);

        app.cli_json(&[
            "scope",
            "create",
            "reports:write",
            "--description",
            "Write reports",
        ]);
        let took = eventually(Duration::from_secs(2), || async {
            scopes_supported(app)
                .await
                .contains(&"reports:write".to_owned())
        })
        .await;
        assert!(took.is_some());
        app.cli_json(&["scope", "remove", "reports:write"]);
        let took = eventually(Duration::from_secs(2), || async {
            !scopes_supported(app)
                .await
                .contains(&"reports:write".to_owned())
        })
        .await;
        assert!(took.is_some());
    }
);

/// A server whose catalog comes from `[[scope]]` tables, in front of an upstream whose
/// route requires one of them.
async fn configured_scopes_guard_a_route(backend: Backend) {
    let upstream = Upstream::start().await;
    let url = upstream.url();
    let app = TestApp::spawn_with(backend, |c| {
        c.upstream = Some(url);
        c.scope = vec![
            scope_spec("invoices:read", "See your invoices"),
            scope_spec("invoices:write", "Create and cancel invoices"),
        ];
        c.route = vec![RouteSpec {
            methods: vec!["GET".into()],
            path: "/v1/invoices/{id}".into(),
            scopes: vec!["invoices:read".into()],
            public: false,
        }];
    })
    .await;
    assert_eq!(
        catalog(&app),
        ["invoices:read", "invoices:write"],
        "the unused sample scopes are gone"
    );
    assert_eq!(
        scopes_supported(&app).await,
        ["invoices:read", "invoices:write"]
    );
    let shown = app.cli_json(&["scope", "describe", "invoices:write"]);
    assert_eq!(shown["description"], "Create and cancel invoices");

    let reader = cli_client(&app, "invoices:read");
    let token = app.access_token(&reader).await;
    let res = app.get_bearer("/v1/invoices/in_1", &token).await;
    assert_eq!(res.status(), 200);
    let seen = upstream.last();
    assert_eq!(seen.target, "/v1/invoices/in_1");
    assert_eq!(seen.headers.get("tessera-scope").unwrap(), "invoices:read");
    let writer = cli_client(&app, "invoices:write");
    let token = app.access_token(&writer).await;
    let res = app.get_bearer("/v1/invoices/in_1", &token).await;
    assert_eq!(res.status(), 403);
    let (_, stderr) = app
        .cli(&[
            "client",
            "create",
            "--account",
            &writer.account_id,
            "--name",
            "x",
            "--scope",
            "books:read",
        ])
        .unwrap_err();
    assert!(stderr.contains("unknown scope books:read"), "{stderr}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scope_tables_are_applied_at_start_up_and_a_route_may_require_them_sqlite() {
    configured_scopes_guard_a_route(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scope_tables_are_applied_at_start_up_and_a_route_may_require_them_postgres() {
    configured_scopes_guard_a_route(Backend::Postgres).await;
}
