//! OpenID Connect interop (issue 18): relying parties built on real libraries, unmodified,
//! sign a user in through Tessera: node's `openid-client` (tests/interop/rp.mjs) and
//! Python's Authlib (tests/interop/rp.py). Each discovers the server, builds the
//! authorization request (PKCE, nonce, state), validates the callback (RFC 9207 `iss`
//! included, for openid-client) and the ID token, calls UserInfo and refreshes; this test
//! plays the browser in between and checks what the library accepted.
//!
//! The libraries come from scripts/setup: `npm ci` in tests/interop and a virtualenv at
//! target/interop-venv. Without them these tests fail, saying so.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use tessera_core::domain::ClientKeys;

use crate::support::client_key::{jwks, ClientKey};
use crate::support::flow::{browser, AppSpec, TestUser};
use crate::support::TestApp;

const INTEROP: &str = "tests/interop";
const CB: &str = "https://rp.example/callback";

pub(crate) fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A port nothing listens on now, so the server's issuer can be its own address (a
/// library discovers the server from the issuer).
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[derive(Clone, Copy, Debug)]
enum Rp {
    OpenIdClient,
    /// openid-client pushing its request first (RFC 9126).
    OpenIdClientPar,
    /// openid-client authenticating with `private_key_jwt` (RFC 7523), pushing too.
    OpenIdClientPrivateKeyJwt,
    Authlib,
}

impl Rp {
    fn command(self) -> tokio::process::Command {
        let dir = workspace().join(INTEROP);
        let (program, script) = match self {
            Rp::OpenIdClient | Rp::OpenIdClientPar | Rp::OpenIdClientPrivateKeyJwt => {
                assert!(
                    dir.join("node_modules/openid-client/package.json").exists(),
                    "openid-client is not installed in {INTEROP}: run scripts/setup (npm ci there)"
                );
                (PathBuf::from("node"), "rp.mjs")
            }
            Rp::Authlib => {
                let python = workspace().join("target/interop-venv/bin/python");
                assert!(
                    python.exists(),
                    "no Python with Authlib at {}: run scripts/setup",
                    python.display()
                );
                (python, "rp.py")
            }
        };
        let mut command = tokio::process::Command::new(program);
        command.arg(dir.join(script)).current_dir(&dir);
        if matches!(self, Rp::OpenIdClientPar | Rp::OpenIdClientPrivateKeyJwt) {
            command.env("USE_PAR", "1");
        }
        command
    }

    /// Runs the relying party for `user`, driving the browser part; what it printed last.
    async fn sign_in(self, app: &TestApp, user: &TestUser, client: (&str, &Credential)) -> Value {
        let mut command = self.command();
        match client.1 {
            Credential::Secret(secret) => command.env("CLIENT_SECRET", secret),
            Credential::Key(key) => command
                .env("CLIENT_KEY_PKCS8", key.pkcs8_base64())
                .env("CLIENT_KEY_ID", &key.kid),
        };
        let mut child = command
            .env("ISSUER", app.config.issuer.as_deref().unwrap())
            .env("CLIENT_ID", client.0)
            .env("REDIRECT_URI", CB)
            .env("SCOPE", "openid profile email books:read")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("starting the {self:?} relying party: {e}"));
        let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = stdout.next_line().await.unwrap();
        let Some(first) = first else {
            let out = child.wait_with_output().await.unwrap();
            panic!(
                "the {self:?} relying party printed no authorization URL: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let url: Value = serde_json::from_str(&first).unwrap();
        let url = url["authorization_url"].as_str().unwrap();
        if matches!(self, Rp::OpenIdClientPar | Rp::OpenIdClientPrivateKeyJwt) {
            assert!(
                url.contains("request_uri=urn%3Aietf%3Aparams%3Aoauth%3Arequest_uri%3A")
                    && !url.contains("nonce="),
                "a pushed request sends only its request_uri: {url}"
            );
        }
        let base = app.config.issuer.as_deref().unwrap();
        let path = url
            .strip_prefix(base)
            .unwrap_or_else(|| panic!("{url} is not under {base}"));
        let callback = app.authorize_path(&browser(), user, path).await;
        assert!(callback.starts_with(CB), "{callback}");
        let mut stdin = child.stdin.take().unwrap();
        stdin
            .write_all(format!("{callback}\n").as_bytes())
            .await
            .unwrap();
        drop(stdin);
        let last = stdout.next_line().await.unwrap();
        let out = child.wait_with_output().await.unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "the {self:?} relying party failed: {stderr}"
        );
        let last = last.unwrap_or_else(|| panic!("the {self:?} relying party printed no result"));
        serde_json::from_str(&last).unwrap()
    }
}

/// How the relying party authenticates.
enum Credential {
    Secret(String),
    Key(ClientKey),
}

async fn check(app: &TestApp, rp: Rp) {
    let (partner, credential) = if matches!(rp, Rp::OpenIdClientPrivateKeyJwt) {
        let key = ClientKey::generate("rp-key-1");
        let spec = AppSpec {
            name: "Partner App",
            require_par: true,
            jwks: Some(ClientKeys::Inline(jwks(&[&key]))),
            ..AppSpec::default()
        };
        let partner = app.application_spec(CB, spec).await;
        (partner, Credential::Key(key))
    } else {
        let partner = app.application(Some(CB), false, Some("books:read")).await;
        let secret = partner.client_secret.clone().unwrap();
        (partner, Credential::Secret(secret))
    };
    let account = app.account("Acme").await;
    let user = app
        .user_named(&[&account], Some("Grace Hopper"), true)
        .await;
    let got = rp
        .sign_in(app, &user, (&partner.client_id, &credential))
        .await;
    let claims = &got["id_token_claims"];
    assert_eq!(
        claims["iss"],
        app.config.issuer.as_deref().unwrap(),
        "{rp:?}"
    );
    assert_eq!(claims["sub"], user.user_id.as_str(), "{rp:?}");
    assert_eq!(claims["aud"], partner.client_id.as_str(), "{rp:?}");
    assert_eq!(claims["name"], "Grace Hopper", "{rp:?}");
    assert_eq!(claims["email_verified"], true, "{rp:?}");
    assert!(claims["nonce"].is_string(), "{rp:?}: {claims}");
    let userinfo = &got["userinfo"];
    assert_eq!(userinfo["sub"], claims["sub"], "{rp:?}");
    assert_eq!(userinfo["email"], user.email.as_str(), "{rp:?}");
    let refreshed = &got["refreshed_id_token_claims"];
    assert_eq!(refreshed["auth_time"], claims["auth_time"], "{rp:?}");
    assert_eq!(refreshed["sub"], claims["sub"], "{rp:?}");
    assert_eq!(
        got["refreshed_scope"], "books:read email openid profile",
        "{rp:?}"
    );
}

pub(crate) fn own_issuer(config: &mut tessera::config::Config) {
    let port = free_port();
    config.listen = format!("127.0.0.1:{port}");
    config.issuer = Some(format!("http://127.0.0.1:{port}"));
}

store_test!(
    async fn node_openid_client_signs_a_user_in(app: &TestApp) with |c| { own_issuer(c); } {
        check(app, Rp::OpenIdClient).await;
    }
);

store_test!(
    async fn node_openid_client_pushes_its_request_and_signs_a_user_in(app: &TestApp) with |c| {
        own_issuer(c);
    } {
        check(app, Rp::OpenIdClientPar).await;
    }
);

store_test!(
    async fn node_openid_client_authenticates_with_private_key_jwt(app: &TestApp) with |c| {
        own_issuer(c);
    } {
        check(app, Rp::OpenIdClientPrivateKeyJwt).await;
    }
);

store_test!(
    async fn python_authlib_signs_a_user_in(app: &TestApp) with |c| { own_issuer(c); } {
        check(app, Rp::Authlib).await;
    }
);
