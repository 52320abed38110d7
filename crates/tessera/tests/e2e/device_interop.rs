//! Device flow and DPoP interop (issue 19): node's `openid-client`, unmodified
//! (tests/interop/device.mjs), as a public client without a browser: it asks for a device
//! code, this test approves on the verification page as the user would, and the library
//! polls, gets DPoP-bound tokens, calls the sample API, refreshes with the same key and
//! calls again; with and without server nonces.

use std::process::Stdio;

use serde_json::Value;
use tessera_core::domain::GrantType;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::device_flow::{enter_code, signed_in_code_form};
use crate::oidc_interop::{own_issuer, workspace};
use crate::support::flow::{browser, field, AppSpec};
use crate::support::TestApp;

async fn check(app: &TestApp) {
    let dir = workspace().join("tests/interop");
    assert!(
        dir.join("node_modules/openid-client/package.json").exists(),
        "openid-client is not installed in tests/interop: run scripts/setup (npm ci there)"
    );
    let spec = AppSpec {
        name: "CLI tool",
        public: true,
        grants: vec![GrantType::DeviceCode],
        ..AppSpec::default()
    };
    let device = app.application_spec("https://rp.example/cb", spec).await;
    let issuer = app.config.issuer.clone().unwrap();
    let mut child = tokio::process::Command::new("node")
        .arg(dir.join("device.mjs"))
        .current_dir(&dir)
        .env("ISSUER", &issuer)
        .env("CLIENT_ID", &device.client_id)
        .env("SCOPE", "books:read")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("starting node");
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let Some(first) = stdout.next_line().await.unwrap() else {
        let out = child.wait_with_output().await.unwrap();
        panic!(
            "the device printed nothing: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let asked: Value = serde_json::from_str(&first).unwrap();
    assert_eq!(
        asked["verification_uri"],
        format!("{issuer}/settings/device")
    );

    // The user: opens the complete URI, signs in, confirms the code, approves.
    let account = app.account("Acme").await;
    let user = app.user(&[&account]).await;
    let b = browser();
    let complete = asked["verification_uri_complete"].as_str().unwrap();
    let path = complete.strip_prefix(issuer.as_str()).unwrap();
    let html = signed_in_code_form(app, &b, &user, path).await;
    assert_eq!(
        field(&html, "user_code").as_deref(),
        asked["user_code"].as_str()
    );
    let res = enter_code(app, &b, &html, asked["user_code"].as_str().unwrap()).await;
    let consent = res.text().await.unwrap();
    let res = app.consent(&b, &consent, "authorize", None).await;
    assert_eq!(res.status(), 200);

    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"approved\n").await.unwrap();
    drop(stdin);
    let last = stdout.next_line().await.unwrap();
    let out = child.wait_with_output().await.unwrap();
    assert!(
        out.status.success(),
        "the device failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Value = serde_json::from_str(&last.expect("a result line")).unwrap();
    // The library reports token_type in lower case, whatever the server sent.
    assert_eq!(got["token_type"], "dpop", "{got}");
    assert_eq!(got["scope"], "books:read");
    assert!(got["jkt"].is_string(), "{got}");
    assert_eq!(got["books_status"], 200);
    assert_eq!(got["refreshed_token_type"], "dpop");
    assert_eq!(got["refreshed_jkt"], got["jkt"], "one key throughout");
    assert_eq!(got["after_refresh_status"], 200);
}

store_test!(
    async fn node_openid_client_authorizes_a_device_with_dpop(app: &TestApp) with |c| {
        own_issuer(c);
        c.device_poll_interval = 1;
    } {
        check(app).await;
    }
);

store_test!(
    async fn node_openid_client_follows_server_nonces(app: &TestApp) with |c| {
        own_issuer(c);
        c.device_poll_interval = 1;
        c.require_dpop_nonce = true;
    } {
        check(app).await;
    }
);
