//! The provider's account ids at the gateway: `Tessera-Account` carries the account's
//! external id (Bearer and Basic) and the internal JWT carries it as a claim; an external
//! id set, changed or removed while the server runs reaches it through the change feed,
//! not through a store read per request. Also the sample API's `/v1/account`.

use std::time::Duration;

use serde_json::Value;
use tessera::config::Config;
use tessera_core::domain::password::hash_password;
use tessera_core::gateway::RouteSpec;
use tessera_core::legacy::provision::{create_legacy_credential, NewLegacyCredential};
use tessera_core::legacy::Password;

use crate::support::upstream::Upstream;
use crate::support::{eventually, Backend, TestApp};

fn routes(c: &mut Config) {
    c.route = vec![RouteSpec {
        methods: vec![],
        path: "/v1/{*rest}".into(),
        scopes: vec!["books:read".into()],
        public: false,
    }];
}

/// A recording upstream and a Tessera in front of it.
async fn spawn(backend: Backend, jwt: bool) -> (TestApp, Upstream) {
    let upstream = Upstream::start().await;
    let url = upstream.url();
    let app = TestApp::spawn_with(backend, |c| {
        c.upstream = Some(url);
        routes(c);
        if jwt {
            c.upstream_identity = "jwt".into();
        }
    })
    .await;
    (app, upstream)
}

/// The `Tessera-Account` the upstream saw last.
fn seen_account(up: &Upstream) -> String {
    let seen = up.last();
    let value = seen
        .headers
        .get("tessera-account")
        .expect("Tessera-Account");
    value.to_str().unwrap().to_owned()
}

/// One body on both stores, with the headers-only or the internal-JWT identity.
macro_rules! account_gateway_test {
    ($name:ident, $jwt:expr, $body:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let (app, up) = super::spawn(crate::support::Backend::Sqlite, $jwt).await;
                super::$body(&app, &up).await;
                app.stop().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let (app, up) = super::spawn(crate::support::Backend::Postgres, $jwt).await;
                super::$body(&app, &up).await;
                app.stop().await;
            }
        }
    };
}

account_gateway_test!(
    tessera_account_is_the_external_id_for_bearer_and_basic,
    false,
    external_id_upstream
);
async fn external_id_upstream(app: &TestApp, up: &Upstream) {
    let account = app.account_with_external_id("Acme", "cus 42").await;
    let c = app.client_of(&account, Some("books:read")).await;
    let token = app.access_token(&c).await;
    let res = app
        .http
        .get(app.url("/v1/books/b1"))
        .bearer_auth(&token)
        .header("tessera-account", "cus_spoofed")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(seen_account(up), "cus 42");
    let client = up.last().headers.get("tessera-client").cloned().unwrap();
    assert_eq!(
        client,
        c.client_id.as_str(),
        "the client stays Tessera's id"
    );

    let policy = app.config.password_policy().unwrap();
    let hash = hash_password(&policy, &Password::new("correct horse".into()).unwrap()).unwrap();
    let new = NewLegacyCredential {
        account_id: "ext:cus 42",
        email: "ops@acme.example",
        password_hash: hash,
    };
    create_legacy_credential(
        app.store(),
        new,
        &tessera_core::audit::Actor::cli("test"),
        app.now(),
    )
    .await
    .unwrap();
    let res = app
        .http
        .get(app.url("/v1/books/b1"))
        .basic_auth("ops@acme.example", Some("correct horse"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(seen_account(up), "cus 42");
    assert_eq!(up.last().headers["tessera-auth"], "basic");

    // An account without an external id is known upstream by Tessera's id.
    let plain = app.client(Some("books:read")).await;
    let token = app.access_token(&plain).await;
    assert_eq!(app.get_bearer("/v1/x", &token).await.status(), 200);
    assert_eq!(seen_account(up), plain.account_id);
}

account_gateway_test!(
    an_external_id_set_on_a_running_server_reaches_the_upstream_within_the_sync_interval,
    false,
    external_id_changes
);
async fn external_id_changes(app: &TestApp, up: &Upstream) {
    let c = app.client(Some("books:read")).await;
    let token = app.access_token(&c).await;
    let call = || async {
        assert_eq!(app.get_bearer("/v1/x", &token).await.status(), 200);
        seen_account(up)
    };
    // The server now holds the account in memory, without an external id. Its clock is
    // not moved, so nothing but the change feed can make it read the account again.
    assert_eq!(call().await, c.account_id);
    for (args, expected) in [
        (vec!["--external-id", "crm-1"], "crm-1"),
        (vec!["--external-id", "crm-2"], "crm-2"),
        (vec!["--no-external-id"], c.account_id.as_str()),
    ] {
        let mut cli = vec!["account", "update", &c.account_id];
        cli.extend(args);
        app.cli_json(&cli);
        let took = eventually(Duration::from_secs(2), || async {
            call().await == expected
        })
        .await;
        assert!(
            took.is_some(),
            "the upstream sees {expected} within the sync interval"
        );
        assert_eq!(call().await, expected, "and keeps seeing it");
    }
    // A rename alone is seen too (the sample API shows names; the gateway ids only).
    app.cli_json(&["account", "update", &c.account_id, "--name", "Renamed"]);
    assert_eq!(call().await, c.account_id);
}

account_gateway_test!(
    the_internal_jwt_carries_the_external_id_as_a_claim,
    true,
    external_id_claim
);
async fn external_id_claim(app: &TestApp, up: &Upstream) {
    let account = app.account_with_external_id("Acme", "cus_42").await;
    let c = app.client_of(&account, Some("books:read")).await;
    let token = app.access_token(&c).await;
    assert_eq!(app.get_bearer("/v1/x", &token).await.status(), 200);
    let seen = up.last();
    let internal = seen.headers["authorization"]
        .to_str()
        .unwrap()
        .strip_prefix("Bearer ")
        .unwrap()
        .to_owned();
    let claims = crate::support::jwt::claims(&internal);
    assert_eq!(claims["account_external_id"], "cus_42");
    assert_eq!(claims["sub"], account.as_str(), "sub stays Tessera's id");
    assert_eq!(seen.headers["tessera-account"], "cus_42");

    let plain = app.client(Some("books:read")).await;
    let token = app.access_token(&plain).await;
    assert_eq!(app.get_bearer("/v1/x", &token).await.status(), 200);
    let internal = up.last().headers["authorization"]
        .to_str()
        .unwrap()
        .to_owned();
    let claims = crate::support::jwt::claims(internal.strip_prefix("Bearer ").unwrap());
    assert_eq!(claims.get("account_external_id"), None);
}

store_test!(
    async fn the_sample_api_shows_the_accounts_external_id_and_follows_renames(app: &TestApp) {
        let account = app.account_with_external_id("Acme", "cus_42").await;
        let c = app.client_of(&account, Some("account:read")).await;
        let token = app.access_token(&c).await;
        let get = || async {
            let res = app.get_bearer("/v1/account", &token).await;
            assert_eq!(res.status(), 200);
            res.json::<Value>().await.unwrap()
        };
        let body = get().await;
        assert_eq!(
            (
                body["account_id"].as_str(),
                body["name"].as_str(),
                body["external_id"].as_str()
            ),
            (Some(account.as_str()), Some("Acme"), Some("cus_42"))
        );
        app.cli_json(&["account", "update", "ext:cus_42", "--name", "Acme Inc"]);
        let took = eventually(Duration::from_secs(2), || async {
            get().await["name"] == "Acme Inc"
        })
        .await;
        assert!(took.is_some(), "a rename reaches the running server");
    }
);
