//! The test harness: a real server on a free port, over a fresh database per test.

#![allow(dead_code)]

pub mod client_key;
pub mod cluster;
mod db;
pub mod flow;
pub mod jwt;
pub mod upstream;

use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::Value;
use tessera::config::Config;
use tessera::serve::{start, RunningServer};
use tessera_core::clock::Clock;
use tessera_core::manage::accounts::create_account;
use tessera_core::manage::clients::{create_credential_clients, NewCredentialClient};

pub use db::{Backend, TestDatabase};

fn wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64
}

/// A clock the test moves by hand.
pub struct ManualClock(AtomicI64);

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    pub clock: Arc<ManualClock>,
    pub config: Config,
    server: Option<RunningServer>,
    replicas: std::sync::Mutex<Vec<std::process::Child>>,
    _db: TestDatabase,
    pub dir: PathBuf,
}

/// A `tessera serve` process started by the test.
pub struct ServerProcess {
    pub base: String,
    pub pid: u32,
}

#[derive(Clone)]
pub struct TestClient {
    pub account_id: String,
    pub client_id: String,
    pub client_secret: String,
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, |_| {}).await
    }

    /// Starts a server; `tune` adjusts the configuration first.
    pub async fn spawn_with(backend: Backend, tune: impl FnOnce(&mut Config)) -> Self {
        let dir = std::env::temp_dir().join(format!("tessera-e2e-{}", random_suffix()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let db = TestDatabase::create(backend, &dir).await;
        let mut config = Config {
            listen: "127.0.0.1:0".into(),
            database: Some(db.url.clone()),
            data_dir: dir.clone(),
            issuer: Some("http://tessera.test".into()),
            master_key: Some(STANDARD.encode([7u8; 32])),
            sync_interval_ms: 50,
            // argon2id at its cheapest: tests prove behaviour, not cost.
            argon2_memory_kib: 64,
            argon2_iterations: 1,
            argon2_parallelism: 1,
            ..Config::default()
        };
        tune(&mut config);
        let clock = Arc::new(ManualClock(AtomicI64::new(wall_ms())));
        let server = start(&config, clock.clone()).await.expect("server starts");
        Self {
            base: format!("http://{}", server.addr),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            clock,
            config,
            server: Some(server),
            replicas: std::sync::Mutex::new(Vec::new()),
            _db: db,
            dir,
        }
    }

    /// Starts the real `tessera serve` binary as a second process on the same store and
    /// master key; returns its base URL. It is killed when the test app stops.
    pub async fn spawn_process_replica(&self) -> String {
        self.spawn_process(&[]).await.base
    }

    /// Like [`TestApp::spawn_process_replica`], with more `TESSERA_*` settings in its
    /// environment; also returns its process id.
    pub async fn spawn_process(&self, env: &[(&str, &str)]) -> ServerProcess {
        self.spawn_process_to(env, std::process::Stdio::null())
            .await
    }

    /// Like [`TestApp::spawn_process`], with the server's log (its stderr) in `log`.
    pub async fn spawn_process_logging(
        &self,
        env: &[(&str, &str)],
        log: &std::path::Path,
    ) -> ServerProcess {
        let file = std::fs::File::create(log).expect("log file");
        self.spawn_process_to(env, file.into()).await
    }

    async fn spawn_process_to(
        &self,
        env: &[(&str, &str)],
        stderr: std::process::Stdio,
    ) -> ServerProcess {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_tessera"))
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--database", self.config.database.as_deref().unwrap()])
            .env(
                "TESSERA_MASTER_KEY",
                self.config.master_key.as_deref().unwrap(),
            )
            .env("TESSERA_ISSUER", self.config.issuer.as_deref().unwrap())
            .env("TESSERA_DATA_DIR", &self.dir)
            .env("TESSERA_ARGON2_MEMORY_KIB", "64")
            .env("TESSERA_ARGON2_ITERATIONS", "1")
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("tessera serve starts");
        let pid = child.id();
        self.replicas.lock().unwrap().push(child);
        let base = format!("http://127.0.0.1:{port}");
        let up = eventually(Duration::from_secs(20), || async {
            self.http
                .get(format!("{base}/health"))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200)
        })
        .await;
        assert!(up.is_some(), "replica answers /health");
        ServerProcess { base, pid }
    }

    /// Sends `signal` (`STOP`, `CONT`) to every replica process: a stopped replica falls
    /// behind the change feed as a paused or partitioned one would.
    pub fn signal_replicas(&self, signal: &str) {
        for child in self.replicas.lock().unwrap().iter() {
            let status = std::process::Command::new("kill")
                .arg(format!("-{signal}"))
                .arg(child.id().to_string())
                .status()
                .expect("kill runs");
            assert!(status.success(), "kill -{signal}");
        }
    }

    pub async fn stop(mut self) {
        if let Ok(mut replicas) = self.replicas.lock() {
            for mut child in replicas.drain(..) {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        if let Some(server) = self.server.take() {
            server.stop().await.expect("server stops cleanly");
        }
        self._db.drop_now().await;
        let _ = std::fs::remove_dir_all(&self.dir);
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// This test's in-process server, even when `base` was pointed elsewhere (a cluster).
    pub fn own_server_url(&self) -> String {
        let server = self.server.as_ref().expect("the server runs");
        format!("http://{}", server.addr)
    }

    pub fn advance(&self, seconds: i64) {
        self.clock.0.fetch_add(seconds * 1000, Ordering::SeqCst);
    }

    /// Sets the server's clock to the wall clock's time, which processes started with
    /// [`TestApp::spawn_process`] run on.
    pub fn catch_up_with_wall_clock(&self) {
        self.clock.0.store(wall_ms(), Ordering::SeqCst);
    }

    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// `http://ADDR` of the `metrics_listen` listener, when one is configured.
    pub fn metrics_base(&self) -> Option<String> {
        let server = self.server.as_ref().expect("running");
        server.metrics_addr.map(|a| format!("http://{a}"))
    }

    /// The running server's shared state (caches, legacy counters).
    pub fn state(&self) -> &tessera_http::AppState {
        &self.server.as_ref().expect("running").state
    }

    /// Writes the server's in-memory legacy usage counts now, as its background task
    /// would on its next tick.
    pub async fn flush_legacy_usage(&self) -> usize {
        tessera_http::legacy::flush_usage(self.state()).await
    }

    pub fn store(&self) -> &dyn tessera_core::store::Store {
        self.server.as_ref().expect("running").state.store.as_ref()
    }

    pub async fn account(&self, name: &str) -> String {
        create_account(
            self.store(),
            &tessera_core::audit::Actor::cli("test"),
            name,
            None,
            self.now(),
        )
        .await
        .expect("account")
        .id
        .to_string()
    }

    /// A new account with the provider's id `external_id`; its `acct_` id.
    pub async fn account_with_external_id(&self, name: &str, external_id: &str) -> String {
        create_account(
            self.store(),
            &tessera_core::audit::Actor::cli("test"),
            name,
            Some(external_id),
            self.now(),
        )
        .await
        .expect("account")
        .id
        .to_string()
    }

    /// A credential client of a new account, with `scope` (None: the whole catalog).
    pub async fn client(&self, scope: Option<&str>) -> TestClient {
        let account_id = self.account("Acme").await;
        self.client_of(&account_id, scope).await
    }

    pub async fn client_of(&self, account_id: &str, scope: Option<&str>) -> TestClient {
        let new = NewCredentialClient {
            account_id,
            name: "test",
            scope,
            dpop_bound: false,
        };
        let mut created = create_credential_clients(
            self.store(),
            &tessera_core::audit::Actor::cli("test"),
            &new,
            1,
            self.now(),
        )
        .await
        .expect("client");
        let c = created.pop().expect("one client");
        TestClient {
            account_id: account_id.to_owned(),
            client_id: c.client.id.to_string(),
            client_secret: c.secret.expose().to_owned(),
        }
    }

    /// POST /oauth/token with HTTP Basic client authentication.
    pub async fn token_basic(&self, c: &TestClient, body: &str) -> reqwest::Response {
        self.http
            .post(self.url("/oauth/token"))
            .basic_auth(&c.client_id, Some(&c.client_secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_owned())
            .send()
            .await
            .expect("request")
    }

    pub async fn post_form(&self, path: &str, body: &str) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_owned())
            .send()
            .await
            .expect("request")
    }

    /// A client credentials access token for `c`.
    pub async fn access_token(&self, c: &TestClient) -> String {
        let res = self.token_basic(c, "grant_type=client_credentials").await;
        assert_eq!(res.status(), 200);
        let body: Value = res.json().await.expect("json");
        body["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    }

    /// GET `path`, expecting 200 and JSON.
    pub async fn get_json(&self, path: &str) -> Value {
        let res = self.http.get(self.url(path)).send().await.expect("request");
        assert_eq!(res.status(), 200, "{path}");
        res.json().await.expect("json")
    }

    pub async fn get_bearer(&self, path: &str, token: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request")
    }

    /// Runs the real `tessera` binary against this test's database; returns stdout on
    /// success, or (exit code, stderr) on failure.
    pub fn cli(&self, args: &[&str]) -> Result<String, (i32, String)> {
        self.cli_with_stdin(args, "")
    }

    /// Like [`TestApp::cli`], with `input` on the command's stdin.
    pub fn cli_with_stdin(&self, args: &[&str], input: &str) -> Result<String, (i32, String)> {
        let out = self.cli_output(args, input);
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err((
                out.status.code().unwrap_or(-1),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            ))
        }
    }

    /// Runs the real `tessera` binary against this test's database, `input` on its stdin;
    /// its exit status, stdout and stderr (a warning printed on success included).
    pub fn cli_output(&self, args: &[&str], input: &str) -> std::process::Output {
        use std::io::Write;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tessera"))
            .args(["--database", self.config.database.as_deref().expect("db")])
            .args(args)
            .env(
                "TESSERA_MASTER_KEY",
                self.config.master_key.as_deref().expect("key"),
            )
            .env("TESSERA_DATA_DIR", &self.dir)
            .env(
                "TESSERA_KEY_PROPAGATION_DELAY",
                self.config.key_propagation_delay.to_string(),
            )
            .env(
                "TESSERA_ARGON2_MEMORY_KIB",
                self.config.argon2_memory_kib.to_string(),
            )
            .env(
                "TESSERA_ARGON2_ITERATIONS",
                self.config.argon2_iterations.to_string(),
            )
            .env(
                "TESSERA_ARGON2_PARALLELISM",
                self.config.argon2_parallelism.to_string(),
            )
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("tessera binary runs");
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(input.as_bytes()).expect("write stdin");
        }
        child.wait_with_output().expect("tessera binary ends")
    }

    pub fn cli_json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.push("--json");
        let out = self
            .cli(&all)
            .unwrap_or_else(|e| panic!("tessera {args:?} failed: {e:?}"));
        serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("stdout is not one JSON value ({e}): {out}"))
    }
}

impl Drop for TestApp {
    /// A failed test never reached `stop`: don't leave replica processes behind.
    fn drop(&mut self) {
        if let Ok(mut replicas) = self.replicas.lock() {
            for mut child in replicas.drain(..) {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

/// Polls `check` until it is true or `within` has passed; returns the time it took.
pub async fn eventually<F, Fut>(within: Duration, mut check: F) -> Option<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while start.elapsed() < within {
        if check().await {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

/// Runs `futures` concurrently on the calling task; their outputs, in order.
pub async fn join_all<F: std::future::Future>(
    futures: impl IntoIterator<Item = F>,
) -> Vec<F::Output> {
    use std::task::Poll;
    let mut pending: Vec<_> = futures.into_iter().map(|f| Some(Box::pin(f))).collect();
    let mut outputs: Vec<Option<F::Output>> = pending.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut all_done = true;
        for (slot, future) in pending.iter_mut().zip(outputs.iter_mut()) {
            if let Some(f) = slot {
                match f.as_mut().poll(cx) {
                    Poll::Ready(out) => {
                        *future = Some(out);
                        *slot = None;
                    }
                    Poll::Pending => all_done = false,
                }
            }
        }
        if all_done {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    outputs
        .into_iter()
        .map(|o| o.expect("polled to the end"))
        .collect()
}

pub fn random_suffix() -> String {
    let bytes = tessera_core::random::bytes::<8>().expect("rng");
    hex_string(&bytes)
}

fn hex_string(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// One test body, run against every store: `store_test!(async fn name(app: &TestApp) { … })`.
#[macro_export]
macro_rules! store_test {
    (async fn $name:ident($app:ident: &TestApp $(,)?) $body:block) => {
        store_test!(async fn $name($app: &TestApp) with |_c| {} $body);
    };
    (async fn $name:ident($app:ident: &TestApp $(,)?) with |$cfg:ident| $tune:block $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn body($app: &$crate::support::TestApp) $body

            fn tune($cfg: &mut tessera::config::Config) {
                let _ = &$cfg;
                $tune
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let app = $crate::support::TestApp::spawn_with($crate::support::Backend::Sqlite, tune).await;
                body(&app).await;
                app.stop().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let app = $crate::support::TestApp::spawn_with($crate::support::Backend::Postgres, tune).await;
                body(&app).await;
                app.stop().await;
            }
        }
    };
}
