//! Tessera as a gateway in front of a real upstream (`support/upstream.rs`): a small HTTP
//! server started by each test that records every request it receives and can be told to
//! stall; another that drops connections; and a closed port.

use std::time::Duration;

use serde_json::Value;
use tessera::config::Config;
use tessera_core::domain::password::hash_password;
use tessera_core::gateway::RouteSpec;
use tessera_core::legacy::provision::{create_legacy_credential, NewLegacyCredential};
use tessera_core::legacy::Password;

use crate::support::upstream::{resetting_upstream, Upstream};
use crate::support::{eventually, Backend, TestApp};

pub fn route(methods: &[&str], path: &str, scopes: &[&str]) -> RouteSpec {
    RouteSpec {
        methods: methods.iter().map(|m| m.to_string()).collect(),
        path: path.into(),
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        public: false,
    }
}

pub fn public(path: &str) -> RouteSpec {
    RouteSpec {
        public: true,
        ..route(&[], path, &[])
    }
}

/// The routes most tests use.
pub fn book_routes(c: &mut Config) {
    c.route = vec![
        route(&["GET"], "/v1/books/{id}", &["books:read"]),
        route(&["POST", "PUT"], "/v1/books/{*rest}", &["books:write"]),
        route(&[], "/v1/books/{*rest}", &["books:read"]),
        public("/v1/status"),
    ];
}

/// A recording upstream and a Tessera in front of it.
pub async fn spawn(backend: Backend, tune: impl FnOnce(&mut Config)) -> (TestApp, Upstream) {
    let upstream = Upstream::start().await;
    let url = upstream.url();
    let app = TestApp::spawn_with(backend, |c| {
        c.upstream = Some(url);
        tune(c);
    })
    .await;
    (app, upstream)
}

/// One gateway test body on both stores: `gateway_test!(name, tune, |app, up| async { … })`.
macro_rules! gateway_test {
    ($name:ident, $tune:expr, $body:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let (app, up) = super::spawn(crate::support::Backend::Sqlite, $tune).await;
                super::$body(&app, &up).await;
                app.stop().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let (app, up) = super::spawn(crate::support::Backend::Postgres, $tune).await;
                super::$body(&app, &up).await;
                app.stop().await;
            }
        }
    };
}

pub fn header(res: &reqwest::Response, name: &str) -> Option<String> {
    res.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
}

gateway_test!(
    scopes_are_checked_per_route_and_method,
    super::book_routes,
    scopes_per_route_and_method
);
async fn scopes_per_route_and_method(app: &TestApp, up: &Upstream) {
    let reader = app.client(Some("books:read")).await;
    let token = app.access_token(&reader).await;

    let res = app.get_bearer("/v1/books/b1?fields=name", &token).await;
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "x-upstream").as_deref(), Some("yes"));
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["upstream"], "/v1/books/b1?fields=name");
    let seen = up.last();
    assert_eq!(
        (seen.method.as_str(), seen.target.as_str()),
        ("GET", "/v1/books/b1?fields=name")
    );

    // A POST needs books:write, which the reader lacks: refused, never forwarded.
    let before = up.seen().len();
    let res = app
        .http
        .post(app.url("/v1/books/b1/pages"))
        .bearer_auth(&token)
        .body("x".repeat(100))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let challenge = header(&res, "www-authenticate").unwrap();
    assert!(challenge.contains("insufficient_scope"), "{challenge}");
    assert!(challenge.contains("scope=\"books:write\""), "{challenge}");
    let err: Value = res.json().await.unwrap();
    assert_eq!(err["error"], "insufficient_scope");
    assert!(err["error_description"]
        .as_str()
        .unwrap()
        .contains("books:write"));
    assert_eq!(up.seen().len(), before);

    // Any other method on the catch-all route needs only books:read.
    let res = app
        .http
        .delete(app.url("/v1/books/b1/pages"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    // A writer's POST goes through with its body, which streams: no json_limit (1 MiB) here.
    let writer = app.client(Some("books:write")).await;
    let wtoken = app.access_token(&writer).await;
    let res = app
        .http
        .post(app.url("/v1/books/b1/pages"))
        .bearer_auth(&wtoken)
        .body(vec![7u8; 3 << 20])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let seen = up.last();
    assert_eq!((seen.method.as_str(), seen.body_len), ("POST", 3 << 20));
    // The writer may not GET a book: that route needs books:read.
    assert_eq!(app.get_bearer("/v1/books/b1", &wtoken).await.status(), 403);

    // No credential: 401 with a Bearer challenge (RFC 6750 §3.1).
    let before = up.seen().len();
    let res = app.http.get(app.url("/v1/books/b1")).send().await.unwrap();
    assert_eq!(res.status(), 401);
    assert!(header(&res, "www-authenticate")
        .unwrap()
        .starts_with("Bearer"));
    let res = app.get_bearer("/v1/books/b1", "not-a-token").await;
    assert_eq!(res.status(), 401);
    let err: Value = res.json().await.unwrap();
    assert_eq!(err["error"], "invalid_token");
    assert_eq!(up.seen().len(), before);

    // The public route needs nothing and passes no identity.
    let res = app
        .http
        .get(app.url("/v1/status"))
        .header("tessera-account", "acct_spoofed")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let seen = up.last();
    assert_eq!(seen.target, "/v1/status");
    assert!(
        seen.headers
            .keys()
            .all(|k| !k.as_str().starts_with("tessera-")),
        "{seen:?}"
    );

    // Unmatched paths are denied by default, and Tessera's own paths are never proxied.
    let before = up.seen().len();
    for path in ["/v2/anything", "/oauth/nothing-here", "/.well-known/nope"] {
        let res = app.get_bearer(path, &token).await;
        assert_eq!(res.status(), 404, "{path}");
        let err: Value = res.json().await.unwrap();
        assert_eq!(err["error"], "not_found");
    }
    // A path the upstream might resolve to another route is refused.
    // (reqwest resolves `%2e%2e` itself; the core unit tests cover dot segments.)
    let res = app.get_bearer("/v1/books/b1%2F..%2Fsecret", &token).await;
    assert_eq!(res.status(), 400);
    assert_eq!(up.seen().len(), before);
    // The sample API is gone: its paths belong to the upstream now.
    assert_eq!(app.get_bearer("/v1/account", &token).await.status(), 404);
}

gateway_test!(
    identity_headers_are_ours_and_spoofed_copies_are_removed,
    super::book_routes,
    identity_headers
);
async fn identity_headers(app: &TestApp, up: &Upstream) {
    let c = app.client(Some("books:read account:read")).await;
    let token = app.access_token(&c).await;
    let res = app
        .http
        .get(app.url("/v1/books/b1"))
        .bearer_auth(&token)
        .header("tessera-account", "acct_spoofed")
        .header("tessera-subject", "usr_spoofed")
        .header("tessera-auth", "basic")
        .header("x-forwarded-for", "203.0.113.9")
        .header("x-request-id", "trace-42")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "x-request-id").as_deref(), Some("trace-42"));
    let seen = up.last();
    assert_eq!(seen.header("tessera-account"), Some(c.account_id.as_str()));
    assert_eq!(seen.header("tessera-client"), Some(c.client_id.as_str()));
    assert_eq!(
        seen.header("tessera-scope"),
        Some("account:read books:read")
    );
    assert_eq!(seen.header("tessera-auth"), Some("bearer"));
    assert_eq!(
        seen.header("tessera-subject"),
        None,
        "a client's own token has no user"
    );
    assert_eq!(seen.headers.get_all("tessera-account").iter().count(), 1);
    assert_eq!(seen.header("authorization"), None);
    assert_eq!(seen.header("x-request-id"), Some("trace-42"));
    // Tessera's peer is no trusted proxy: its forwarding headers are replaced, not believed.
    assert_eq!(seen.header("x-forwarded-for"), Some("127.0.0.1"));
    assert_eq!(seen.header("x-forwarded-proto"), Some("http"));
    assert_eq!(
        seen.header("x-forwarded-host"),
        Some(app.base.trim_start_matches("http://"))
    );
    assert_eq!(seen.header("via"), Some("1.1 tessera"));
    assert_eq!(seen.header("host"), Some(up.addr.to_string().as_str()));

    // Without an X-Request-Id, one is made, passed up and returned.
    let res = app.get_bearer("/v1/books/b2", &token).await;
    let made = header(&res, "x-request-id").unwrap();
    assert!(made.starts_with("req_"), "{made}");
    assert_eq!(up.last().header("x-request-id"), Some(made.as_str()));

    // A user's token (authorization code flow) names the user too.
    let partner = app
        .application(
            Some("https://partner.example/cb"),
            false,
            Some("books:read"),
        )
        .await;
    let (code, user) = app.code_for(&partner, &[]).await;
    let (status, body) = app.exchange(&partner, &code).await;
    assert_eq!(status, 200, "{body}");
    let user_token = body["access_token"].as_str().unwrap();
    assert_eq!(
        app.get_bearer("/v1/books/b3", user_token).await.status(),
        200
    );
    let seen = up.last();
    assert_eq!(seen.header("tessera-subject"), Some(user.user_id.as_str()));
    assert_eq!(
        seen.header("tessera-account"),
        Some(user.accounts[0].as_str())
    );
    assert_eq!(
        seen.header("tessera-client"),
        Some(partner.client_id.as_str())
    );
}

gateway_test!(
    hop_by_hop_headers_are_removed_both_ways,
    super::book_routes,
    hop_by_hop
);
async fn hop_by_hop(app: &TestApp, up: &Upstream) {
    let res = app
        .http
        .get(app.url("/v1/status"))
        .header("connection", "x-client-hop")
        .header("x-client-hop", "secret")
        .header("keep-alive", "timeout=5")
        .header("te", "trailers")
        .header("proxy-authorization", "Basic Zm9vOmJhcg==")
        .header("x-end-to-end", "kept")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    for gone in ["x-upstream-hop", "keep-alive"] {
        assert_eq!(header(&res, gone), None, "{gone} in the response");
    }
    assert_eq!(header(&res, "x-upstream").as_deref(), Some("yes"));
    assert_eq!(header(&res, "via").as_deref(), Some("1.1 tessera"));
    let seen = up.last();
    for gone in ["x-client-hop", "keep-alive", "te", "proxy-authorization"] {
        assert_eq!(seen.header(gone), None, "{gone} reached the upstream");
    }
    assert_eq!(seen.header("x-end-to-end"), Some("kept"));
}

gateway_test!(
    unmatched_authenticated_takes_any_valid_credential,
    |c: &mut tessera::config::Config| c.unmatched = "authenticated".into(),
    unmatched_authenticated
);
async fn unmatched_authenticated(app: &TestApp, up: &Upstream) {
    let c = app.client(Some("account:read")).await;
    let token = app.access_token(&c).await;
    let res = app.get_bearer("/anything/at/all", &token).await;
    assert_eq!(res.status(), 200);
    assert_eq!(up.last().target, "/anything/at/all");
    let before = up.seen().len();
    let res = app.http.get(app.url("/anything")).send().await.unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(up.seen().len(), before);
}

fn sunset(c: &mut Config) {
    book_routes(c);
    c.basic_sunset = Some("2099-06-15T00:00:00Z".into());
    c.migration_guide_url = Some("https://developer.example.com/migrating".into());
}

gateway_test!(
    basic_through_the_gateway_carries_the_sunset_headers,
    super::sunset,
    basic_through_the_gateway
);
async fn basic_through_the_gateway(app: &TestApp, up: &Upstream) {
    let account = app.account("Legacy Co").await;
    let policy = app.config.password_policy().unwrap();
    let hash = hash_password(&policy, &Password::new("correct horse".into()).unwrap()).unwrap();
    let new = NewLegacyCredential {
        account_id: &account,
        email: "ops@legacy.example",
        password_hash: hash,
    };
    let credential = create_legacy_credential(
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
        .basic_auth("ops@legacy.example", Some("correct horse"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        header(&res, "deprecation"),
        Some(format!("@{}", credential.created_at))
    );
    assert_eq!(
        header(&res, "sunset").as_deref(),
        Some("Mon, 15 Jun 2099 00:00:00 GMT")
    );
    assert!(header(&res, "link")
        .unwrap()
        .contains("rel=\"deprecation\""));
    let seen = up.last();
    assert_eq!(seen.header("tessera-auth"), Some("basic"));
    assert_eq!(seen.header("tessera-account"), Some(account.as_str()));
    assert_eq!(seen.header("tessera-client"), Some(credential.id.as_str()));
    assert_eq!(seen.header("authorization"), None);

    // A wrong password never reaches the upstream, and is counted like at the sample API.
    let before = up.seen().len();
    let res = app
        .http
        .get(app.url("/v1/books/b1"))
        .basic_auth("ops@legacy.example", Some("wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(up.seen().len(), before);
    assert_eq!(
        app.flush_legacy_usage().await,
        1,
        "the successful call was counted"
    );
}

gateway_test!(
    a_revoked_client_is_refused_at_once,
    super::book_routes,
    revoked_client
);
async fn revoked_client(app: &TestApp, up: &Upstream) {
    let c = app.client(Some("books:read")).await;
    let token = app.access_token(&c).await;
    assert_eq!(app.get_bearer("/v1/books/b1", &token).await.status(), 200);
    app.cli_json(&["client", "revoke", &c.client_id]);
    let gone = eventually(Duration::from_secs(1), || async {
        app.get_bearer("/v1/books/b1", &token).await.status() == 401
    })
    .await;
    assert!(gone.is_some(), "within the 1 s revocation bound");
    let before = up.seen().len();
    assert_eq!(app.get_bearer("/v1/books/b1", &token).await.status(), 401);
    assert_eq!(up.seen().len(), before);
}

async fn gateway_error(app: &TestApp, path: &str) -> (u16, Value, Option<String>) {
    let c = app.client(None).await;
    let token = app.access_token(&c).await;
    let res = app.get_bearer(path, &token).await;
    let id = header(&res, "x-request-id");
    (res.status().as_u16(), res.json().await.unwrap(), id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_connection_is_502() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.upstream = Some(format!("http://127.0.0.1:{port}"));
        c.unmatched = "authenticated".into();
    })
    .await;
    let (status, body, id) = gateway_error(&app, "/v1/x").await;
    assert_eq!((status, body["error"].as_str()), (502, Some("bad_gateway")));
    assert!(body["error_description"].as_str().is_some());
    assert!(id.is_some());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_connection_is_502() {
    let (url, task) = resetting_upstream().await;
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.upstream = Some(url);
        c.unmatched = "authenticated".into();
    })
    .await;
    let (status, body, _) = gateway_error(&app, "/v1/x").await;
    assert_eq!((status, body["error"].as_str()), (502, Some("bad_gateway")));
    app.stop().await;
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_response_headers_in_time_is_504() {
    let (app, up) = spawn(Backend::Sqlite, |c| {
        c.unmatched = "authenticated".into();
        c.upstream_timeout_ms = 200;
    })
    .await;
    let (status, body, id) = gateway_error(&app, "/stall/forever").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (504, Some("gateway_timeout"))
    );
    assert_eq!(up.last().header("x-request-id"), id.as_deref());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_route_stops_the_server_naming_the_route() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let dir = std::env::temp_dir().join(format!("tessera-gw-{}", crate::support::random_suffix()));
    std::fs::create_dir_all(&dir).unwrap();
    let cases = [
        (
            "[[route]]\npath = \"/v1/books\"\nscopes = [\"books:delete\"]\n",
            "books:delete",
        ),
        (
            "[[route]]\npath = \"/v1/{*rest}/x\"\nscopes = [\"books:read\"]\n",
            "only be the last",
        ),
        (
            "[[route]]\npath = \"/v1/{id}\"\n[[route]]\npath = \"/v1/{other}\"\n",
            "same requests as [[route]] #1",
        ),
        ("unmatched = \"allow\"\n", "unmatched"),
    ];
    for (toml, want) in cases {
        let file = dir.join("tessera.toml");
        std::fs::write(&file, toml).unwrap();
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
    let _ = std::fs::remove_dir_all(&dir);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_or_pathed_upstream_stops_the_server_with_a_clear_error() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let cases = [
        (
            "https://api.example.com",
            "https upstreams are not supported",
        ),
        ("http://127.0.0.1:9/v1", "without a path"),
        ("127.0.0.1:9", "http://HOST[:PORT]"),
    ];
    for (upstream, want) in cases {
        let (code, stderr) = app
            .cli(&["serve", "--listen", "127.0.0.1:0", "--upstream", upstream])
            .unwrap_err();
        assert_ne!(code, 0);
        assert!(stderr.contains(want), "{upstream}: {stderr}");
        assert!(
            stderr.contains(upstream),
            "the error names the upstream: {stderr}"
        );
    }
    app.stop().await;
}

gateway_test!(
    upstream_identity_jwt_is_verifiable_with_the_jwks,
    |c: &mut tessera::config::Config| {
        super::book_routes(c);
        c.upstream_identity = "jwt".into();
    },
    identity_jwt
);
async fn identity_jwt(app: &TestApp, up: &Upstream) {
    let c = app.client(Some("books:read")).await;
    let token = app.access_token(&c).await;
    assert_eq!(app.get_bearer("/v1/books/b1", &token).await.status(), 200);
    let seen = up.last();
    let internal = seen
        .header("authorization")
        .and_then(|v| v.strip_prefix("Bearer "))
        .expect("an internal token")
        .to_owned();
    assert_ne!(internal, token, "the caller's own token is never passed on");
    let jwks: Value = app
        .http
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(crate::support::jwt::verify_with_jwks(&internal, &jwks));
    let claims = crate::support::jwt::claims(&internal);
    assert_eq!(claims["aud"], up.url(), "its audience is the upstream");
    assert_eq!(claims["iss"], "http://tessera.test");
    assert_eq!(claims["sub"], c.account_id.as_str());
    assert_eq!(claims["client_id"], c.client_id.as_str());
    assert_eq!(claims["scope"], "books:read");
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        60
    );
    assert_eq!(seen.header("tessera-account"), Some(c.account_id.as_str()));

    // Issued for the upstream, it is no access token for Tessera's own API.
    let res = app.get_bearer("/v1/books/b1", &internal).await;
    assert_eq!(res.status(), 401);

    // A public route carries no identity, so no token either.
    app.http.get(app.url("/v1/status")).send().await.unwrap();
    assert_eq!(up.last().header("authorization"), None);
}

async fn basic_failures(app: &TestApp, forwarded_for: &str, n: usize) -> Vec<u16> {
    let mut statuses = Vec::new();
    for i in 0..n {
        let res = app
            .http
            .get(app.url("/v1/books/b1"))
            .basic_auth(format!("nobody{i}@example.com"), Some("wrong"))
            .header("x-forwarded-for", forwarded_for)
            .send()
            .await
            .unwrap();
        statuses.push(res.status().as_u16());
    }
    statuses
}

gateway_test!(
    trusted_proxies_decide_the_client_address,
    |c: &mut tessera::config::Config| {
        super::book_routes(c);
        c.trusted_proxies = vec!["127.0.0.0/8".into()];
    },
    trusted_proxies
);
async fn trusted_proxies(app: &TestApp, up: &Upstream) {
    let res = app
        .http
        .get(app.url("/v1/status"))
        .header("x-forwarded-for", "198.51.100.1")
        .header("x-forwarded-proto", "https")
        .header("forwarded", "for=198.51.100.1;proto=https")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let seen = up.last();
    assert_eq!(
        seen.header("x-forwarded-for"),
        Some("198.51.100.1, 127.0.0.1")
    );
    assert_eq!(seen.header("x-forwarded-proto"), Some("https"));
    let forwarded = seen.header("forwarded").unwrap();
    assert!(
        forwarded.starts_with("for=198.51.100.1;proto=https, for=127.0.0.1;proto=http;host="),
        "{forwarded}"
    );

    // The per-address limit on failed Basic attempts (50 in 5 minutes) counts the client the
    // proxy forwarded for, not the proxy: another client behind it is not locked out.
    let first = basic_failures(app, "198.51.100.1", 50).await;
    assert!(first.iter().all(|s| *s == 401), "{first:?}");
    assert_eq!(basic_failures(app, "198.51.100.1", 1).await, [429]);
    assert_eq!(basic_failures(app, "198.51.100.2", 1).await, [401]);
}

gateway_test!(
    a_dpop_bound_token_passes_with_its_proof_only,
    super::book_routes,
    dpop_through_the_gateway
);
/// RFC 9449 §7 at the gateway: the proof is checked for the proxied request, and neither
/// the token nor the proof reaches the upstream.
async fn dpop_through_the_gateway(app: &TestApp, up: &Upstream) {
    use crate::support::client_key::ClientKey;
    let c = app.client(Some("books:read")).await;
    let key = ClientKey::generate("dpop");
    let now = app.now();
    let proof = key.dpop_proof("POST", "http://tessera.test/oauth/token", now, None);
    let res = app
        .http
        .post(app.url("/oauth/token"))
        .basic_auth(&c.client_id, Some(&c.client_secret))
        .header("dpop", proof)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    let tokens: Value = res.json().await.unwrap();
    assert_eq!(tokens["token_type"], "DPoP", "{tokens}");
    let token = tokens["access_token"].as_str().unwrap();
    let url = "http://tessera.test/v1/books/b1";
    let call = |scheme: &'static str, proof: Option<String>| {
        let mut req = app
            .http
            .get(app.url("/v1/books/b1"))
            .header("authorization", format!("{scheme} {token}"));
        if let Some(p) = proof {
            req = req.header("dpop", p);
        }
        req.send()
    };
    let res = call("DPoP", Some(key.dpop_proof("GET", url, now, Some(token))))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let seen = up.last();
    assert_eq!(seen.header("tessera-auth"), Some("dpop"));
    assert_eq!(seen.header("authorization"), None);
    assert_eq!(seen.header("dpop"), None);
    let before = up.seen().len();
    let res = call("Bearer", None).await.unwrap();
    assert_eq!(res.status(), 401);
    let challenge = header(&res, "www-authenticate").unwrap();
    assert!(challenge.starts_with("DPoP algs="), "{challenge}");
    let wrong_path = key.dpop_proof("GET", "http://tessera.test/v1/books/b2", now, Some(token));
    let res = call("DPoP", Some(wrong_path)).await.unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(
        up.seen().len(),
        before,
        "nothing refused reached the upstream"
    );
}
