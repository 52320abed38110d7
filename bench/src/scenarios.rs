//! The benchmark scenarios, one function each, run in table order by `run_all`, and the
//! `Bench` context they are handed: the servers, the fixtures and the load settings.
//!
//! A new scenario is one more function here (and a `Scenario` impl when its requests
//! depend on earlier answers, like the refresh-token chains in single_use.rs); the load
//! loop in load.rs and the table in report.rs do not change.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use hyper::{Method, Request, Uri};
use serde::Deserialize;

use crate::client::{body_excerpt, send_once, BenchRequest};
use crate::fixtures::{self, basic_authorizations, Credentials, Fixtures, REDIRECT_URI};
use crate::load::{self, LoadConfig, Scenario};
use crate::procfs::{self, CpuSample};
use crate::report::Row;
use crate::server::ServerProcess;
use crate::single_use::{CodeExchanges, RefreshChains};
use crate::tessera::Tessera;

pub const TOKEN_PATH: &str = "/oauth/token";
pub const ACCOUNT_PATH: &str = "/v1/account";
pub const INTROSPECT_PATH: &str = "/oauth/introspect";
pub const JWKS_PATH: &str = "/.well-known/jwks.json";
pub const BASELINE_ROW: &str = "baseline";
const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded";
const CLIENT_CREDENTIALS_BODY: &str = "grant_type=client_credentials";
/// Independent token sets for the refresh scenario (at least one per connection).
const TOKEN_SETS: usize = 1_000;
/// Codes the first exchange-rate probe gets; enough for 20 000 exchanges per second.
const PROBE_CODES: usize = 10_000;
/// How long a probe loads the server: long enough to get past the first few requests.
const PROBE_WINDOW: Duration = Duration::from_millis(500);
/// Probes with 4, then 16 times as many codes before giving up (a machine beyond 320 000
/// exchanges per second).
const PROBE_ROUNDS: u32 = 3;
/// Codes minted for the run per code the probe's rate says it will use: the server warms
/// up during the run, and other work on the machine may have slowed the probe.
const CODE_HEADROOM: u128 = 2;

/// What every scenario function is handed.
pub struct Bench {
    pub config: LoadConfig,
    pub tessera: ServerProcess,
    pub baseline: ServerProcess,
    pub fixtures: Fixtures,
    /// Tessera's CLI on the server's store, for fixtures minted just before a scenario.
    pub cli: Tessera,
}

/// Runs every scenario, in the order of the table.
pub async fn run_all(bench: &Bench) -> Result<Vec<Row>> {
    let mut rows = vec![
        client_credentials(bench).await?,
        client_credentials_many_clients(bench).await?,
        bearer_call(bench).await?,
    ];
    rows.push(refresh_rotation(bench).await?);
    rows.push(authorization_code(bench).await?);
    rows.push(legacy_basic_cached(bench).await?);
    rows.push(introspection(bench).await?);
    rows.push(baseline(bench).await?);
    Ok(rows)
}

/// RFC 6749 §4.4 with one client: the token endpoint's fixed cost.
async fn client_credentials(bench: &Bench) -> Result<Row> {
    let scenario = token_requests(std::slice::from_ref(&bench.fixtures.client))?;
    bench
        .measure("client credentials", &bench.tessera, scenario)
        .await
}

/// The same, each request from the next of 10 000 clients: no client stays in a cache.
async fn client_credentials_many_clients(bench: &Bench) -> Result<Row> {
    let scenario = token_requests(&bench.fixtures.many_clients)?;
    bench
        .measure("client credentials (10k clients)", &bench.tessera, scenario)
        .await
}

/// A resource call with a JWT access token (RFC 6750 §2.1), fetched once beforehand.
async fn bearer_call(bench: &Bench) -> Result<Row> {
    let token = fetch_token(&bench.tessera, &bench.fixtures.client).await?;
    let bearer = HeaderValue::from_str(&format!("Bearer {token}"))?;
    let scenario = RoundRobin::new(
        Method::GET,
        ACCOUNT_PATH,
        HeaderMap::new(),
        Bytes::new(),
        vec![bearer],
    )?;
    bench.measure("bearer call", &bench.tessera, scenario).await
}

/// HTTP Basic with a legacy credential on `GET /v1/account`, the credential's argon2id hash
/// made at the production cost: after the first request the verification comes from the
/// keyed-hash cache, so this is the steady state of a customer not yet migrated.
async fn legacy_basic_cached(bench: &Bench) -> Result<Row> {
    let legacy = fixtures::legacy_credential(&bench.cli, &bench.fixtures).await?;
    // The creation reaches the server's cache through the change feed (an invalidation,
    // within 250 ms); let it arrive, so the warmed entry below is the one measured.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let basic = HeaderValue::from_str(&format!(
        "Basic {}",
        fixtures::plain_basic(&legacy.0, &legacy.1)
    ))?;
    let scenario = RoundRobin::new(
        Method::GET,
        ACCOUNT_PATH,
        HeaderMap::new(),
        Bytes::new(),
        vec![basic],
    )?;
    // The first, uncached call (argon2id at m=19456, t=2) is measured on its own.
    let request = scenario.request(&mut ());
    let started = std::time::Instant::now();
    let (status, body) = send_once(bench.tessera.addr, request).await?;
    if !status.is_success() {
        bail!(
            "first legacy Basic call: status {status}: {}",
            body_excerpt(&body)
        );
    }
    eprintln!(
        "legacy basic: the first, uncached call took {:.1} ms",
        started.elapsed().as_secs_f64() * 1e3
    );
    bench
        .measure("legacy basic (cached)", &bench.tessera, scenario)
        .await
}

/// RFC 7662 introspection of a live access token by a resource-server credential.
async fn introspection(bench: &Bench) -> Result<Row> {
    let token = fetch_token(&bench.tessera, &bench.fixtures.client).await?;
    let rs = fixtures::resource_server(&bench.cli).await?;
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(FORM_CONTENT_TYPE));
    let scenario = RoundRobin::new(
        Method::POST,
        INTROSPECT_PATH,
        headers,
        Bytes::from(format!("token={token}")),
        basic_authorizations(std::slice::from_ref(&rs))?,
    )?;
    bench
        .measure("introspection", &bench.tessera, scenario)
        .await
}

/// RFC 6749 §6 with rotation: chains of refreshes over independent token sets, each
/// request spending the refresh token the previous answer in its chain returned.
async fn refresh_rotation(bench: &Bench) -> Result<Row> {
    let connections = bench.config.connections;
    let grant = &bench.fixtures.app_grant;
    let tokens = fixtures::token_sets(&bench.cli, grant, TOKEN_SETS.max(connections)).await?;
    let authorization = grant.app.basic_authorization()?;
    let scenario = RefreshChains::new(TOKEN_PATH, authorization, tokens, connections)?;
    bench
        .measure("refresh rotation", &bench.tessera, scenario)
        .await
}

/// RFC 6749 §4.1.3: each request exchanges a code never used before, minted just now.
async fn authorization_code(bench: &Bench) -> Result<Row> {
    let count = codes_needed(bench).await?;
    let scenario = code_exchanges(bench, count).await?;
    bench
        .measure("authorization code", &bench.tessera, scenario)
        .await
}

async fn code_exchanges(bench: &Bench, count: usize) -> Result<CodeExchanges> {
    let grant = &bench.fixtures.app_grant;
    let codes = fixtures::codes(&bench.cli, grant, count).await?;
    let authorization = grant.app.basic_authorization()?;
    CodeExchanges::new(TOKEN_PATH, authorization, REDIRECT_URI, &codes)
}

/// How many codes a run will exchange, with headroom, from a short probe of the exchange
/// itself: no other scenario does the same work, and running out would fail the run.
async fn codes_needed(bench: &Bench) -> Result<usize> {
    let config = LoadConfig {
        warmup: Duration::ZERO,
        duration: PROBE_WINDOW,
        ..bench.config
    };
    let mut supply = PROBE_CODES;
    for round in 0..PROBE_ROUNDS {
        if round > 0 {
            supply *= 4;
        }
        let probe = Arc::new(code_exchanges(bench, supply).await?);
        eprintln!("probing the code exchange rate …");
        let report = load::run(bench.tessera.addr, Arc::clone(&probe), config).await?;
        if probe.exhausted() {
            continue;
        }
        if let Some(error) = report.first_error {
            bail!("probing the code exchange: {error}");
        }
        let run_ms = (bench.config.warmup + bench.config.duration).as_millis();
        let expected = u128::from(report.requests) * run_ms / PROBE_WINDOW.as_millis();
        let wanted = expected * CODE_HEADROOM + 1;
        return usize::try_from(wanted).context("more codes than memory can hold");
    }
    bail!("the code exchange outran a probe of {supply} codes in {PROBE_WINDOW:?}")
}

/// The single-client token request against the baseline server: the denominator.
async fn baseline(bench: &Bench) -> Result<Row> {
    let scenario = token_requests(std::slice::from_ref(&bench.fixtures.client))?;
    bench.measure(BASELINE_ROW, &bench.baseline, scenario).await
}

impl Bench {
    /// Runs `scenario` against `server`, reading the server's memory and the CPU use around it.
    async fn measure<S: Scenario>(
        &self,
        name: &str,
        server: &ServerProcess,
        scenario: S,
    ) -> Result<Row> {
        eprintln!("running {name} …");
        let pid = server.pid();
        if let Err(error) = procfs::reset_peak(pid) {
            eprintln!("warning: peak RSS of {name} includes earlier scenarios: {error:#}");
        }
        let idle_kib = procfs::memory(pid).ok().map(|m| m.resident_kib);
        let before = CpuSample::take(pid);
        let load = load::run(server.addr, Arc::new(scenario), self.config).await?;
        let after = CpuSample::take(pid);
        let peak_kib = procfs::memory(pid).ok().map(|m| m.peak_kib);
        Ok(Row {
            name: name.to_owned(),
            load,
            idle_kib,
            peak_kib,
            cpu: before
                .ok()
                .zip(after.ok())
                .and_then(|(b, a)| b.cores_until(&a)),
        })
    }
}

/// `POST /oauth/token` with `grant_type=client_credentials`, authenticated with HTTP
/// Basic (RFC 6749 §2.3.1) as each of `clients` in turn.
fn token_requests(clients: &[Credentials]) -> Result<RoundRobin> {
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(FORM_CONTENT_TYPE));
    RoundRobin::new(
        Method::POST,
        TOKEN_PATH,
        headers,
        Bytes::from_static(CLIENT_CREDENTIALS_BODY.as_bytes()),
        basic_authorizations(clients)?,
    )
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
}

/// One client credentials grant outside the measurement, for scenarios that need a token.
async fn fetch_token(server: &ServerProcess, client: &Credentials) -> Result<String> {
    let request = token_requests(std::slice::from_ref(client))?.request(&mut ());
    let (status, body) = send_once(server.addr, request).await?;
    if !status.is_success() {
        return Err(anyhow!(
            "fetching a token: status {status}: {}",
            body_excerpt(&body)
        ));
    }
    let token: TokenResponse = serde_json::from_slice(&body)
        .with_context(|| format!("fetching a token: {}", body_excerpt(&body)))?;
    Ok(token.access_token)
}

/// The same request every time, but for the `Authorization` header, taken from a list
/// round-robin across all connections (a one-entry list for a single client). With an
/// empty list the request goes as given.
pub struct RoundRobin {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
    authorizations: Vec<HeaderValue>,
    next: AtomicUsize,
}

impl RoundRobin {
    pub fn new(
        method: Method,
        path: &str,
        headers: HeaderMap,
        body: Bytes,
        authorizations: Vec<HeaderValue>,
    ) -> Result<Self> {
        Ok(Self {
            method,
            uri: path
                .parse()
                .with_context(|| format!("request path {path:?}"))?,
            headers,
            body,
            authorizations,
            next: AtomicUsize::new(0),
        })
    }
}

impl Scenario for RoundRobin {
    type State = ();

    fn open(&self, _index: usize) -> Self::State {}

    fn request(&self, _state: &mut Self::State) -> BenchRequest {
        let mut request = Request::new(Full::new(self.body.clone()));
        *request.method_mut() = self.method.clone();
        *request.uri_mut() = self.uri.clone();
        *request.headers_mut() = self.headers.clone();
        if !self.authorizations.is_empty() {
            let turn = self.next.fetch_add(1, Ordering::Relaxed) % self.authorizations.len();
            if let Some(authorization) = self.authorizations.get(turn) {
                request
                    .headers_mut()
                    .insert(AUTHORIZATION, authorization.clone());
            }
        }
        request
    }
}
