//! The JWT verification snippets README's "Put Tessera in front of your API" shows upstream
//! authors (docs/snippets/): README holds each file verbatim, and the Python one (PyJWT)
//! and the Node one (jose), run by their real interpreters with their real libraries
//! against a running Tessera's JWKS, accept its tokens (ES256 and EdDSA, access tokens and
//! the gateway's internal JWT) and refuse a token meant for another audience, from another
//! issuer, or without the scope asked for.
//!
//! The libraries come from scripts/setup: a virtualenv at target/snippets-venv (or the
//! Python in `TESSERA_SNIPPET_PYTHON`) and `npm ci` in docs/snippets. Without them these
//! tests fail, saying so.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde_json::Value;
use tessera_core::gateway::RouteSpec;
use tokio::io::AsyncWriteExt;

use crate::support::upstream::Upstream;
use crate::support::{Backend, TestApp};

const SNIPPETS: &str = "docs/snippets";
/// Every snippet file and the language README tags its code block with.
const SHOWN: [(&str, &str); 3] = [
    ("verify.py", "python"),
    ("verify.mjs", "js"),
    ("verify.go", "go"),
];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[derive(Clone, Copy, Debug)]
enum Snippet {
    Python,
    Node,
}

const TESTED: [Snippet; 2] = [Snippet::Python, Snippet::Node];

/// What a snippet is configured with (its environment variables).
struct Expect<'a> {
    issuer: &'a str,
    jwks_url: &'a str,
    audience: &'a str,
}

/// What a run of a snippet printed and how it ended.
struct Outcome {
    ok: bool,
    stdout: String,
    stderr: String,
}

impl Snippet {
    fn command(self) -> tokio::process::Command {
        let dir = workspace().join(SNIPPETS);
        let (program, script) = match self {
            Snippet::Python => {
                let python = std::env::var_os("TESSERA_SNIPPET_PYTHON").map_or_else(
                    || workspace().join("target/snippets-venv/bin/python"),
                    PathBuf::from,
                );
                assert!(
                    python.exists(),
                    "no Python with PyJWT at {}: run scripts/setup (or set TESSERA_SNIPPET_PYTHON)",
                    python.display()
                );
                (python, "verify.py")
            }
            Snippet::Node => {
                assert!(
                    dir.join("node_modules/jose/package.json").exists(),
                    "jose is not installed in {SNIPPETS}: run scripts/setup (npm ci there)"
                );
                (PathBuf::from("node"), "verify.mjs")
            }
        };
        let mut command = tokio::process::Command::new(program);
        command.arg(dir.join(script)).current_dir(&dir);
        command
    }

    /// Runs the snippet's command line: the token on standard input, `scopes` required.
    async fn run(self, token: &str, expect: &Expect<'_>, scopes: &[&str]) -> Outcome {
        let mut child = self
            .command()
            .args(scopes)
            .env("TESSERA_ISSUER", expect.issuer)
            .env("TESSERA_JWKS_URL", expect.jwks_url)
            .env("API_AUDIENCE", expect.audience)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("starting the {self:?} snippet: {e}"));
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(token.as_bytes()).await.unwrap();
        drop(stdin);
        let output = child.wait_with_output().await.unwrap();
        Outcome {
            ok: output.status.success(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Runs it and expects acceptance; the claims it printed.
    async fn accepts(self, token: &str, expect: &Expect<'_>, scopes: &[&str]) -> Value {
        let out = self.run(token, expect, scopes).await;
        assert!(
            out.ok,
            "the {self:?} snippet refused a good token: {}",
            out.stderr
        );
        serde_json::from_str(out.stdout.trim()).unwrap_or_else(|e| {
            panic!(
                "the {self:?} snippet printed no JSON ({e}): {:?}",
                out.stdout
            )
        })
    }

    /// Runs it and expects refusal with `because` in its message.
    async fn refuses(self, token: &str, expect: &Expect<'_>, scopes: &[&str], because: &str) {
        let out = self.run(token, expect, scopes).await;
        assert!(
            !out.ok,
            "the {self:?} snippet accepted what it must refuse ({because}): {}",
            out.stdout
        );
        assert!(
            out.stderr.starts_with("rejected: ")
                && out.stderr.to_lowercase().contains(&because.to_lowercase()),
            "the {self:?} snippet refused, but not for {because:?}: {}",
            out.stderr
        );
        assert!(
            out.stdout.is_empty(),
            "printed claims anyway: {}",
            out.stdout
        );
    }
}

#[test]
fn readme_shows_each_snippet_verbatim() {
    let readme = std::fs::read_to_string(workspace().join("README.md")).unwrap();
    for (file, language) in SHOWN {
        let text = std::fs::read_to_string(workspace().join(SNIPPETS).join(file)).unwrap();
        let block = format!("```{language}\n{text}```\n");
        assert!(
            readme.contains(&block),
            "README.md does not show {SNIPPETS}/{file} verbatim in a ```{language} block"
        );
    }
}

/// Each tested snippet against a server signing with `alg`: the access token of a
/// `books:read` client is accepted with its claims, and refused for another audience,
/// another issuer, and a scope it lacks.
async fn access_tokens_signed_with(alg: &str) {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| c.signing_alg = alg.into()).await;
    let client = app.client(Some("books:read")).await;
    let token = app.access_token(&client).await;
    let issuer = app.config.issuer.clone().unwrap();
    let jwks_url = app.url("/.well-known/jwks.json");
    let right = Expect {
        issuer: &issuer,
        jwks_url: &jwks_url,
        audience: &issuer,
    };
    let other_audience = Expect {
        audience: "https://other-api.example.com",
        ..right
    };
    let other_issuer = Expect {
        issuer: "https://other-issuer.example.com",
        ..right
    };
    for snippet in TESTED {
        let claims = snippet.accepts(&token, &right, &["books:read"]).await;
        assert_eq!(claims["client_id"], client.client_id.as_str());
        assert_eq!(claims["sub"], client.account_id.as_str());
        assert_eq!(claims["scope"], "books:read");
        snippet.refuses(&token, &other_audience, &[], "aud").await;
        snippet.refuses(&token, &other_issuer, &[], "iss").await;
        snippet
            .refuses(&token, &right, &["books:write"], "books:write")
            .await;
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_and_node_snippets_verify_es256_access_tokens() {
    access_tokens_signed_with("ES256").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_and_node_snippets_verify_eddsa_access_tokens() {
    access_tokens_signed_with("EdDSA").await;
}

/// With `upstream_identity = "jwt"`, what the upstream receives verifies with the upstream's
/// own URL as the audience, and names the caller; Tessera's access token does not pass for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_and_node_snippets_verify_the_gateways_internal_jwt() {
    let upstream = Upstream::start().await;
    let upstream_url = upstream.url();
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.upstream = Some(upstream_url.clone());
        c.upstream_identity = "jwt".into();
        c.route = vec![RouteSpec {
            methods: vec!["GET".into()],
            path: "/v1/books/{id}".into(),
            scopes: vec!["books:read".into()],
            public: false,
        }];
    })
    .await;
    let client = app.client(Some("books:read")).await;
    let token = app.access_token(&client).await;
    let res = app.get_bearer("/v1/books/b1", &token).await;
    assert_eq!(res.status(), 200);
    let seen = upstream.last();
    let internal = seen
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .expect("the upstream got an internal JWT")
        .to_owned();
    let issuer = app.config.issuer.clone().unwrap();
    let jwks_url = app.url("/.well-known/jwks.json");
    let as_upstream = Expect {
        issuer: &issuer,
        jwks_url: &jwks_url,
        audience: &upstream_url,
    };
    for snippet in TESTED {
        let claims = snippet
            .accepts(&internal, &as_upstream, &["books:read"])
            .await;
        assert_eq!(claims["client_id"], client.client_id.as_str());
        assert_eq!(claims["sub"], client.account_id.as_str());
        snippet.refuses(&token, &as_upstream, &[], "aud").await;
    }
    app.stop().await;
}
