//! Operating a server: `/metrics` after real traffic (and on its own listener), `/healthz`
//! and `/readyz` (with a store that stops answering), and a graceful stop of the real
//! `tessera serve` process on SIGTERM while a request is in flight.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use serde_json::Value;
use sqlx::{Connection, PgConnection};
use tessera_core::domain::password::hash_password;
use tessera_core::legacy::provision::{create_legacy_credential, NewLegacyCredential};
use tessera_core::legacy::Password;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::support::{eventually, Backend, TestApp};

const EMAIL: &str = "ops@legacy.example";
const PASSWORD: &str = "correct horse";

/// Every sample of a scrape, by series (`name{labels}`).
fn samples(body: &str) -> HashMap<String, f64> {
    body.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_owned(), value.parse().ok()?))
        })
        .collect()
}

/// The value of `series`, 0 when the scrape does not have it yet.
fn value(scrape: &HashMap<String, f64>, series: &str) -> f64 {
    scrape.get(series).copied().unwrap_or(0.0)
}

pub(crate) async fn scrape(app: &TestApp, base: &str) -> (String, HashMap<String, f64>) {
    let res = app
        .http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let body = res.text().await.unwrap();
    let parsed = samples(&body);
    (body, parsed)
}

/// A legacy Basic credential of a new API account.
async fn legacy_credential(app: &TestApp) {
    let account = app.account("Legacy Co").await;
    let policy = app.config.password_policy().unwrap();
    let hash = hash_password(&policy, &Password::new(PASSWORD.into()).unwrap()).unwrap();
    let new = NewLegacyCredential {
        account_id: &account,
        email: EMAIL,
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
}

const TOKENS_ISSUED: &str = r#"tessera_token_requests_total{grant_type="client_credentials",outcome="issued",error="none"}"#;
const TOKENS_INVALID_SCOPE: &str = r#"tessera_token_requests_total{grant_type="client_credentials",outcome="refused",error="invalid_scope"}"#;
const TOKENS_UNSUPPORTED: &str = r#"tessera_token_requests_total{grant_type="other",outcome="refused",error="unsupported_grant_type"}"#;
const TOKEN_200: &str =
    r#"tessera_http_requests_total{route="/oauth/token",method="POST",status="200"}"#;
const TOKEN_400: &str =
    r#"tessera_http_requests_total{route="/oauth/token",method="POST",status="400"}"#;
const TOKEN_LATENCY_COUNT: &str =
    r#"tessera_http_request_duration_seconds_count{route="/oauth/token"}"#;
const BASIC_OK: &str = r#"tessera_legacy_basic_requests_total{state="ok"}"#;
const BASIC_WRONG: &str = r#"tessera_legacy_basic_requests_total{state="wrong_password"}"#;
const INTROSPECT_ACTIVE: &str = r#"tessera_introspections_total{result="active"}"#;
const INTROSPECT_INACTIVE: &str = r#"tessera_introspections_total{result="inactive"}"#;
const REVOKED_ACCESS: &str = r#"tessera_revocations_total{result="access_token"}"#;
const BOOK_200: &str =
    r#"tessera_http_requests_total{route="/v1/books",method="GET",status="200"}"#;
const BASIC_CACHE_HIT: &str = r#"tessera_cache_requests_total{cache="basic",result="hit"}"#;
const BASIC_CACHE_MISS: &str = r#"tessera_cache_requests_total{cache="basic",result="miss"}"#;
const UNMATCHED_404: &str =
    r#"tessera_http_requests_total{route="unmatched",method="GET",status="404"}"#;

store_test!(
    async fn metrics_count_grants_basic_calls_and_introspections_without_ids(app: &TestApp) {
        legacy_credential(app).await;
        let c = app.client(Some("books:read")).await;
        let (_, before) = scrape(app, &app.base).await;

        let token = app.access_token(&c).await;
        let res = app
            .token_basic(&c, "grant_type=client_credentials&scope=books:write")
            .await;
        assert_eq!(res.status(), 400, "a scope the client does not hold");
        let res = app.token_basic(&c, "grant_type=password").await;
        assert_eq!(res.status(), 400);
        for _ in 0..2 {
            let res = app
                .http
                .get(app.url("/v1/books"))
                .basic_auth(EMAIL, Some(PASSWORD))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200);
        }
        let res = app
            .http
            .get(app.url("/v1/books"))
            .basic_auth(EMAIL, Some("wrong"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401);
        let c = &c;
        let introspect = |token: String| async move {
            app.http
                .post(app.url("/oauth/introspect"))
                .basic_auth(&c.client_id, Some(&c.client_secret))
                .form(&[("token", token)])
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        };
        assert_eq!(introspect(token.clone()).await["active"], true);
        let res = app
            .http
            .post(app.url("/oauth/revoke"))
            .basic_auth(&c.client_id, Some(&c.client_secret))
            .form(&[("token", token.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(introspect(token.clone()).await["active"], false);
        let res = app.http.get(app.url("/no/such/page")).send().await.unwrap();
        assert_eq!(res.status(), 404);

        let (body, after) = scrape(app, &app.base).await;
        let grew = |series: &str| value(&after, series) - value(&before, series);
        for (series, n) in [
            (TOKENS_ISSUED, 1.0),
            (TOKENS_INVALID_SCOPE, 1.0),
            (TOKENS_UNSUPPORTED, 1.0),
            (TOKEN_200, 1.0),
            (TOKEN_400, 2.0),
            (TOKEN_LATENCY_COUNT, 3.0),
            (BASIC_OK, 2.0),
            (BASIC_WRONG, 1.0),
            (INTROSPECT_ACTIVE, 1.0),
            (INTROSPECT_INACTIVE, 1.0),
            (REVOKED_ACCESS, 1.0),
            (BOOK_200, 2.0),
            (UNMATCHED_404, 1.0),
        ] {
            assert_eq!(grew(series), n, "{series} in\n{body}");
        }
        // The first right password and the wrong one cannot hit; the second right one hits
        // unless the sync task applied the credential's creation in between (which voids a
        // verification read before it), so only the sum is fixed.
        let lookups = grew(BASIC_CACHE_MISS) + grew(BASIC_CACHE_HIT);
        assert_eq!(lookups, 3.0, "{body}");
        assert!(grew(BASIC_CACHE_MISS) >= 2.0, "{body}");
        // Buckets are cumulative, ending at the count.
        let series = |le: &str| {
            format!(
                r#"tessera_http_request_duration_seconds_bucket{{route="/oauth/token",le="{le}"}}"#
            )
        };
        assert_eq!(value(&after, &series("+Inf")), 3.0, "{body}");
        assert!(
            value(&after, &series("0.0005")) <= value(&after, &series("10")),
            "{body}"
        );
        for family in [
            "# TYPE tessera_http_request_duration_seconds histogram",
            "# TYPE tessera_http_requests_in_flight gauge",
            "# TYPE tessera_refresh_reuse_detected_total counter",
            "# TYPE tessera_signin_failures_total counter",
            "# TYPE tessera_signin_lockouts_total counter",
            "# TYPE tessera_change_feed_lag_seconds gauge",
            "# TYPE tessera_change_feed_behind gauge",
            "# TYPE tessera_change_feed_sync_errors_total counter",
            "# TYPE tessera_signing_key_age_seconds gauge",
        ] {
            assert!(body.contains(family), "{family} missing from\n{body}");
        }
        assert!(
            body.contains(r#"tessera_cache_requests_total{cache="clients",result="hit"}"#),
            "{body}"
        );
        // The raw path is never a label: the route template is.
        assert!(!body.contains("/no/such/page"), "{body}");
        for secret in [
            c.client_id.as_str(),
            c.client_secret.as_str(),
            c.account_id.as_str(),
            token.as_str(),
            EMAIL,
            PASSWORD,
        ] {
            assert!(!body.contains(secret), "{secret} leaked into /metrics");
        }
    }
);

store_test!(
    async fn a_reused_refresh_token_and_failed_sign_ins_are_counted(app: &TestApp) {
        use crate::support::flow::{browser, field, TestUser};
        let (_, before) = scrape(app, &app.base).await;
        let partner = app
            .application(Some("https://partner.example/callback"), false, None)
            .await;
        let (code, _) = app.code_for(&partner, &[]).await;
        let (status, tokens) = app.exchange(&partner, &code).await;
        assert_eq!(status, 200, "{tokens}");
        let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
        assert_eq!(app.refresh(&partner, &refresh).await.0, 200);
        app.advance(10); // past refresh_retry_window: reuse, not a retry
        let (status, err) = app.refresh(&partner, &refresh).await;
        assert_eq!(
            (status, err["error"].as_str()),
            (400, Some("invalid_grant"))
        );

        let b = browser();
        let html = b.get(app.url("/signin")).send().await.unwrap();
        let html = html.text().await.unwrap();
        assert!(field(&html, "csrf").is_some());
        let stranger = TestUser {
            email: "nobody@example.com".into(),
            password: "not the password".into(),
            user_id: String::new(),
            accounts: vec![],
        };
        let failed = app.sign_in(&b, &html, &stranger).await;
        assert_eq!(failed.status(), 401);
        let (scraped, after) = scrape(app, &app.base).await;
        let grew = |series: &str| value(&after, series) - value(&before, series);
        assert_eq!(
            grew("tessera_refresh_reuse_detected_total"),
            1.0,
            "{scraped}"
        );
        let refused = r#"tessera_token_requests_total{grant_type="refresh_token",outcome="refused",error="invalid_grant"}"#;
        assert_eq!(grew(refused), 1.0, "{scraped}");
        let exchanged = r#"tessera_token_requests_total{grant_type="authorization_code",outcome="issued",error="none"}"#;
        assert_eq!(grew(exchanged), 1.0, "{scraped}");
        assert_eq!(grew("tessera_signin_failures_total"), 1.0, "{scraped}");
        // The code's consumption, the new set and the rotation went through the store's
        // batches: counted by queue, each batch at least one request, the buckets cumulative.
        let queues: &[&str] = if app.config.database_url().starts_with("postgres") {
            &["rotations", "token_sets", "reads"]
        } else {
            &["sqlite_writes"]
        };
        assert!(scraped.contains("# TYPE tessera_store_batch_requests histogram"));
        for queue in queues {
            let series =
                |part: &str| format!(r#"tessera_store_batch_requests_{part}{{queue="{queue}"}}"#);
            let bucket = |le: &str| {
                format!(r#"tessera_store_batch_requests_bucket{{queue="{queue}",le="{le}"}}"#)
            };
            let batches = grew(&series("count"));
            assert!(batches >= 1.0, "{queue}: {scraped}");
            assert!(grew(&series("sum")) >= batches, "{queue}: {scraped}");
            assert_eq!(
                value(&after, &bucket("+Inf")),
                value(&after, &series("count"))
            );
            assert!(value(&after, &bucket("1.0")) <= value(&after, &bucket("128.0")));
        }
    }
);

store_test!(
    async fn metrics_listen_serves_metrics_apart_and_the_public_listener_404s(app: &TestApp)
    with |c| { c.metrics_listen = Some("127.0.0.1:0".into()); }
    {
        let private = app.metrics_base().expect("a metrics listener");
        assert_ne!(private, app.base);
        let public = app.http.get(app.url("/metrics")).send().await.unwrap();
        assert_eq!(public.status(), 404);
        let c = app.client(None).await;
        app.access_token(&c).await;
        let (body, scraped) = scrape(app, &private).await;
        assert_eq!(value(&scraped, TOKENS_ISSUED), 1.0, "{body}");
        assert_eq!(
            value(
                &scraped,
                r#"tessera_http_requests_total{route="unmatched",method="GET",status="404"}"#
            ),
            1.0,
            "the public /metrics was a miss: {body}"
        );
        let other = app
            .http
            .get(format!("{private}/healthz"))
            .send()
            .await
            .unwrap();
        assert_eq!(other.status(), 404, "only /metrics there");
    }
);

store_test!(
    async fn healthz_and_readyz_answer_200_when_every_check_passes(app: &TestApp) {
        let res = app.http.get(app.url("/healthz")).send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.json::<Value>().await.unwrap()["status"], "ok");
        let res = app.http.get(app.url("/health")).send().await.unwrap();
        assert_eq!(
            (res.status().as_u16(), res.text().await.unwrap().as_str()),
            (200, "ok"),
            "/health answers as it always did"
        );
        let res = app.http.get(app.url("/readyz")).send().await.unwrap();
        assert_eq!(res.status(), 200);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["status"], "ok", "{body}");
        for check in ["store", "signing_key", "change_feed"] {
            assert_eq!(body["checks"][check]["status"], "ok", "{body}");
        }
    }
);

/// Runs `sql` on the PostgreSQL server as the administrator.
async fn pg_admin(sql: &str) {
    let admin = std::env::var("TESSERA_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned());
    let mut conn = PgConnection::connect(&format!("{admin}/postgres"))
        .await
        .unwrap();
    sqlx::query(sql).execute(&mut conn).await.unwrap();
}

/// A PostgreSQL database that stops accepting connections (and loses the ones it had) makes
/// `/readyz` 503 naming the store; once it accepts them again, the server is ready again
/// without a restart. (A SQLite file cannot become unreachable to a process that has it
/// open, so this runs on PostgreSQL only.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_is_503_naming_the_store_while_postgres_refuses_connections() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let url = app.config.database.clone().unwrap();
    let db = url.rsplit('/').next().unwrap().to_owned();
    pg_admin(&format!("ALTER DATABASE {db} ALLOW_CONNECTIONS false")).await;
    pg_admin(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db}'"
    ))
    .await;

    let res = app.http.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(res.status(), 503);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], "unavailable", "{body}");
    let failing: Vec<&str> = body["failing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(failing.contains(&"store"), "{body}");
    assert_eq!(body["checks"]["store"]["status"], "failing", "{body}");
    assert!(!body.to_string().contains(&db), "no database name: {body}");
    assert_eq!(body["checks"]["signing_key"]["status"], "ok", "{body}");
    let healthz = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(healthz.status(), 200, "alive, only not ready");

    let counted = eventually(Duration::from_secs(20), || async {
        let (_, scraped) = scrape(&app, &app.base).await;
        value(&scraped, "tessera_change_feed_sync_errors_total") >= 1.0
    })
    .await;
    assert!(
        counted.is_some(),
        "the sync task's failed polls are counted"
    );

    pg_admin(&format!("ALTER DATABASE {db} ALLOW_CONNECTIONS true")).await;
    let ready = eventually(Duration::from_secs(20), || async {
        app.http
            .get(app.url("/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
    })
    .await;
    assert!(ready.is_some(), "ready again without a restart");
    app.stop().await;
}

/// An upstream for the gateway whose `/slow` answers only once released; every request to
/// it is announced on `arrived`.
struct GatedUpstream {
    addr: SocketAddr,
    release: watch::Sender<bool>,
    arrived: mpsc::UnboundedReceiver<()>,
    task: JoinHandle<()>,
}

#[derive(Clone)]
struct Gate {
    release: watch::Receiver<bool>,
    arrived: mpsc::UnboundedSender<()>,
}

async fn gated(State(gate): State<Arc<Gate>>, req: Request) -> &'static str {
    if req.uri().path() != "/slow" {
        return "fast";
    }
    let _ = gate.arrived.send(());
    let mut release = gate.release.clone();
    let _ = release.wait_for(|go| *go).await;
    "slow and complete"
}

impl GatedUpstream {
    async fn start() -> Self {
        let (release, release_rx) = watch::channel(false);
        let (arrived_tx, arrived) = mpsc::unbounded_channel();
        let gate = Arc::new(Gate {
            release: release_rx,
            arrived: arrived_tx,
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new().fallback(gated).with_state(gate);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            addr,
            release,
            arrived,
            task,
        }
    }
}

impl Drop for GatedUpstream {
    fn drop(&mut self) {
        let _ = self.release.send(true);
        self.task.abort();
    }
}

/// The real `tessera serve`, on this test's store, in front of `upstream`, letting any valid
/// credential through; stderr (the log) is kept.
struct ServeProcess {
    child: Option<Child>,
    base: String,
}

impl ServeProcess {
    async fn start(app: &TestApp, upstream: &GatedUpstream, env: &[(&str, &str)]) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(env!("CARGO_BIN_EXE_tessera"))
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--database", app.config.database.as_deref().unwrap()])
            .args(["--upstream", &format!("http://{}", upstream.addr)])
            .env(
                "TESSERA_MASTER_KEY",
                app.config.master_key.as_deref().unwrap(),
            )
            .env("TESSERA_ISSUER", app.config.issuer.as_deref().unwrap())
            .env("TESSERA_DATA_DIR", &app.dir)
            .env("TESSERA_ARGON2_MEMORY_KIB", "64")
            .env("TESSERA_ARGON2_ITERATIONS", "1")
            .env("TESSERA_UNMATCHED", "authenticated")
            // Nothing reaches the store before the stop but what the stop flushes.
            .env("TESSERA_LEGACY_USAGE_FLUSH_INTERVAL", "3600")
            .env("TESSERA_LOG", "info")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("tessera serve starts");
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let up = eventually(Duration::from_secs(20), || async {
            http.get(format!("{base}/healthz"))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200)
        })
        .await;
        assert!(up.is_some(), "tessera serve answers /healthz");
        Self {
            child: Some(child),
            base,
        }
    }

    fn signal(&self, name: &str) {
        let pid = self.child.as_ref().unwrap().id();
        let status = Command::new("kill")
            .args([&format!("-{name}"), &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -{name}");
    }

    fn running(&mut self) -> bool {
        self.child.as_mut().unwrap().try_wait().unwrap().is_none()
    }

    /// Waits for the process to end (within a minute: a hang fails the test rather than
    /// blocking it); its exit code and log.
    async fn wait(&mut self) -> (Option<i32>, String) {
        let child = self.child.take().unwrap();
        let waited = tokio::time::timeout(
            Duration::from_secs(60),
            tokio::task::spawn_blocking(move || child.wait_with_output()),
        )
        .await
        .expect("the process ends")
        .unwrap()
        .unwrap();
        (
            waited.status.code(),
            String::from_utf8_lossy(&waited.stderr).into_owned(),
        )
    }

    /// Whether a new connection is refused now (a fresh client: no pooled connection).
    async fn refuses_connections(&self) -> bool {
        let fresh = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .unwrap();
        fresh
            .get(format!("{}/healthz", self.base))
            .send()
            .await
            .is_err_and(|e| e.is_connect())
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A request to `/slow` through the process, with a fresh access token; returns when the
/// upstream has it.
async fn slow_request(
    app: &TestApp,
    process: &ServeProcess,
    upstream: &mut GatedUpstream,
) -> JoinHandle<Result<(u16, String), reqwest::Error>> {
    let c = app.client(None).await;
    let token = app.access_token(&c).await;
    let url = format!("{}/slow", process.base);
    let http = reqwest::Client::new();
    let request = tokio::spawn(async move {
        let res = http.get(url).bearer_auth(token).send().await?;
        let status = res.status().as_u16();
        Ok((status, res.text().await?))
    });
    tokio::time::timeout(Duration::from_secs(30), upstream.arrived.recv())
        .await
        .expect("the slow request reaches the upstream");
    request
}

store_test!(
    async fn sigterm_lets_the_request_in_flight_finish_flushes_usage_then_exits_0(app: &TestApp) {
        legacy_credential(app).await;
        let mut upstream = GatedUpstream::start().await;
        let mut process = ServeProcess::start(app, &upstream, &[]).await;
        let http = reqwest::Client::new();
        for _ in 0..3 {
            let res = http
                .get(format!("{}/fast", process.base))
                .basic_auth(EMAIL, Some(PASSWORD))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200);
        }
        let request = slow_request(app, &process, &mut upstream).await;

        process.signal("TERM");
        let closed = eventually(Duration::from_secs(20), || process.refuses_connections()).await;
        assert!(closed.is_some(), "no new connections after SIGTERM");
        assert!(process.running(), "waiting for the request in flight");
        assert!(!request.is_finished());

        let _ = upstream.release.send(true);
        let (status, body) = request.await.unwrap().expect("the request completes");
        assert_eq!((status, body.as_str()), (200, "slow and complete"));
        let (code, log) = process.wait().await;
        assert_eq!(code, Some(0), "{log}");
        for step in [
            "shutting down",
            "finishing requests in flight",
            "requests in flight finished",
            "legacy usage counts flushed",
            "store closed",
        ] {
            assert!(log.contains(step), "the log says {step:?}:\n{log}");
        }
        let report = app.cli_json(&["report", "legacy"]);
        let row = report
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["email"] == EMAIL)
            .unwrap()
            .clone();
        assert_eq!(
            row["basic_requests_24h"], 3,
            "flushed at the stop: {report}"
        );
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_sigterm_exits_at_once() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let mut upstream = GatedUpstream::start().await;
    let mut process = ServeProcess::start(&app, &upstream, &[]).await;
    let request = slow_request(&app, &process, &mut upstream).await;
    process.signal("TERM");
    let closed = eventually(Duration::from_secs(20), || process.refuses_connections()).await;
    assert!(closed.is_some(), "the first SIGTERM was taken");
    assert!(process.running());

    process.signal("TERM");
    let (code, log) = process.wait().await;
    assert_eq!(code, Some(143), "128 + SIGTERM: {log}");
    assert!(log.contains("second signal"), "{log}");
    assert!(
        request.await.unwrap().is_err(),
        "the request never completed: the upstream was never released"
    );
    drop(upstream);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_still_in_flight_after_the_grace_period_are_dropped() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let mut upstream = GatedUpstream::start().await;
    let env = [("TESSERA_SHUTDOWN_GRACE_MS", "300")];
    let mut process = ServeProcess::start(&app, &upstream, &env).await;
    let request = slow_request(&app, &process, &mut upstream).await;
    process.signal("INT");
    let (code, log) = process.wait().await;
    assert_eq!(code, Some(0), "{log}");
    assert!(log.contains("SIGINT"), "{log}");
    assert!(log.contains("grace period over"), "{log}");
    assert!(log.contains("store closed"), "{log}");
    assert!(request.await.unwrap().is_err(), "dropped, never answered");
    drop(upstream);
    app.stop().await;
}
