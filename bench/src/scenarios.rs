//! The benchmark scenarios, one function each, run in table order by `run_all`, and the
//! `Bench` context they are handed: the servers, the fixtures and the load settings.
//!
//! A new scenario is one more function here, with its name in `SCENARIOS` and an arm in
//! `run` (and a `Scenario` impl when its requests depend on earlier answers, like the
//! refresh-token chains in single_use.rs); the load loop in load.rs and the table in
//! report.rs do not change.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use base64::Engine;
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use hyper::{Method, Request, Uri};
use serde::Deserialize;

use crate::client::{body_excerpt, send_once, BenchRequest};
use crate::cluster::Cluster;
use crate::dpop::{self, BEARER_CALL_DPOP, CLIENT_CREDENTIALS_DPOP};
use crate::fixtures::{self, basic_authorizations, Credentials, Fixtures, REDIRECT_URI};
use crate::gateway::{self, GatewayNotes, GATEWAY_BEARER_CALL, NGINX_PROXY, UPSTREAM_DIRECT};
use crate::import::IMPORT_ROWS;
use crate::instance::{Instance, Launcher};
use crate::load::{self, LoadConfig, Scenario};
use crate::procfs::{self, CpuSample};
use crate::report::Row;
use crate::server::ServerProcess;
use crate::single_use::{CodeExchanges, RefreshChains};
use crate::tessera::{ACCOUNT_PATH, INTROSPECT_PATH, TOKEN_PATH, USERINFO_PATH};

pub const CLIENT_CREDENTIALS: &str = "client credentials";
pub const CLIENT_CREDENTIALS_EDDSA: &str = "client credentials (EdDSA)";
pub const CLIENT_CREDENTIALS_MANY: &str = "client credentials (10k clients)";
pub const BEARER_CALL: &str = "bearer call";
pub const REFRESH_ROTATION: &str = "refresh rotation";
pub const AUTHORIZATION_CODE: &str = "authorization code";
pub const AUTHORIZATION_CODE_OPENID: &str = "authorization code (openid)";
pub const USERINFO: &str = "userinfo";
pub const LEGACY_BASIC: &str = "legacy basic (cached)";
pub const INTROSPECTION: &str = "introspection";
pub const BASELINE_ROW: &str = "baseline";
/// Every scenario, in the order of the table.
pub const SCENARIOS: [&str; 16] = [
    CLIENT_CREDENTIALS,
    CLIENT_CREDENTIALS_EDDSA,
    CLIENT_CREDENTIALS_MANY,
    CLIENT_CREDENTIALS_DPOP,
    BEARER_CALL,
    BEARER_CALL_DPOP,
    REFRESH_ROTATION,
    AUTHORIZATION_CODE,
    AUTHORIZATION_CODE_OPENID,
    USERINFO,
    LEGACY_BASIC,
    INTROSPECTION,
    UPSTREAM_DIRECT,
    GATEWAY_BEARER_CALL,
    NGINX_PROXY,
    BASELINE_ROW,
];
/// The scenarios `--scale` runs again on the large store: the token endpoint's and the
/// resource call's, whose lookups could slow down as the store grows.
pub const SCALE_SCENARIOS: [&str; 4] = [
    CLIENT_CREDENTIALS,
    CLIENT_CREDENTIALS_MANY,
    BEARER_CALL,
    REFRESH_ROTATION,
];
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
    /// With `--replicas`: the replicas behind nginx that Tessera's scenarios go through.
    /// First, so it stops before the store it runs on is dropped.
    pub cluster: Option<Cluster>,
    pub config: LoadConfig,
    /// The Tessera server under test, its store, and its CLI for fixtures minted just
    /// before a scenario.
    pub tessera: Instance,
    pub baseline: ServerProcess,
    pub fixtures: Fixtures,
    /// For scenarios that need a Tessera server of their own.
    pub launcher: Launcher,
    /// The in-bench upstream of the gateway rows, when any of them is selected.
    pub upstream: Option<ServerProcess>,
    /// Bytes of the upload through the gateway (1 GiB, or 64 MiB with `--quick`).
    pub upload_bytes: u64,
    /// What the gateway rows report besides their rows.
    pub gateway_notes: Mutex<GatewayNotes>,
}

/// Which scenarios a run includes: `--only`'s comma-separated names or name prefixes
/// (case-insensitive), or every scenario. The baseline always runs: every ratio needs it.
pub struct Selection {
    prefixes: Vec<String>,
}

impl Selection {
    pub fn parse(only: Option<&str>) -> Result<Self> {
        let prefixes: Vec<String> = only
            .unwrap_or_default()
            .split(',')
            .map(|name| name.trim().to_lowercase())
            .filter(|name| !name.is_empty())
            .collect();
        let every = SCENARIOS
            .iter()
            .chain(&IMPORT_ROWS)
            .chain(&crate::console::CONSOLE_ROWS);
        for prefix in &prefixes {
            if !every.clone().any(|name| matches(name, prefix)) {
                bail!(
                    "--only {prefix:?} names no scenario; they are: {}, {}, {}",
                    SCENARIOS.join(", "),
                    IMPORT_ROWS.join(", "),
                    crate::console::CONSOLE_ROWS.join(", ")
                );
            }
        }
        Ok(Self { prefixes })
    }

    pub fn includes(&self, name: &str) -> bool {
        name == BASELINE_ROW
            || self.prefixes.is_empty()
            || self.prefixes.iter().any(|prefix| matches(name, prefix))
    }
}

fn matches(name: &str, prefix: &str) -> bool {
    name.to_lowercase().starts_with(prefix)
}

/// Runs the selected scenarios, in the order of the table.
pub async fn run_all(bench: &Bench, selection: &Selection) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    for name in SCENARIOS {
        if selection.includes(name) {
            rows.extend(run(bench, name).await?);
        }
    }
    Ok(rows)
}

/// Runs the scenario named `name`, one of `SCENARIOS`; `None` when it was skipped (the
/// nginx row without nginx, which says why).
pub async fn run(bench: &Bench, name: &str) -> Result<Option<Row>> {
    let row = match name {
        CLIENT_CREDENTIALS => client_credentials(bench).await,
        CLIENT_CREDENTIALS_EDDSA => client_credentials_eddsa(bench).await,
        CLIENT_CREDENTIALS_MANY => client_credentials_many_clients(bench).await,
        BEARER_CALL => bearer_call(bench).await,
        CLIENT_CREDENTIALS_DPOP => dpop::client_credentials_dpop(bench).await,
        BEARER_CALL_DPOP => dpop::bearer_call_dpop(bench).await,
        REFRESH_ROTATION => refresh_rotation(bench).await,
        AUTHORIZATION_CODE => authorization_code(bench).await,
        AUTHORIZATION_CODE_OPENID => authorization_code_openid(bench).await,
        USERINFO => userinfo(bench).await,
        LEGACY_BASIC => legacy_basic_cached(bench).await,
        INTROSPECTION => introspection(bench).await,
        UPSTREAM_DIRECT => gateway::upstream_direct(bench).await,
        GATEWAY_BEARER_CALL => gateway::gateway_bearer_call(bench).await,
        NGINX_PROXY => return gateway::nginx_proxy(bench).await,
        BASELINE_ROW => baseline(bench).await,
        _ => bail!("no scenario {name:?}"),
    };
    row.map(Some)
}

/// RFC 6749 §4.4 with one client: the token endpoint's fixed cost.
async fn client_credentials(bench: &Bench) -> Result<Row> {
    let scenario = token_requests(std::slice::from_ref(&bench.fixtures.client))?;
    bench.measure_tessera(CLIENT_CREDENTIALS, scenario).await
}

/// The same with EdDSA (Ed25519) signatures: a second server, configured with
/// `signing_alg = EdDSA`, on a fresh store of its own with one account and client; it is
/// stopped after this row.
async fn client_credentials_eddsa(bench: &Bench) -> Result<Row> {
    let eddsa = bench
        .launcher
        .start("eddsa", &[("TESSERA_SIGNING_ALG", "EdDSA")])
        .await?;
    let (_, client) = fixtures::account_and_client(&eddsa.cli).await?;
    let token = fetch_token(&eddsa.server, &client).await?;
    let alg = jwt_alg(&token)?;
    if alg != "EdDSA" {
        bail!("the EdDSA server signed with {alg}");
    }
    let scenario = token_requests(std::slice::from_ref(&client))?;
    bench
        .measure(CLIENT_CREDENTIALS_EDDSA, &eddsa.server, scenario)
        .await
}

/// The same, each request from the next of 10 000 clients: no client stays in a cache.
async fn client_credentials_many_clients(bench: &Bench) -> Result<Row> {
    let scenario = token_requests(&bench.fixtures.many_clients)?;
    bench
        .measure_tessera(CLIENT_CREDENTIALS_MANY, scenario)
        .await
}

/// A resource call with a JWT access token (RFC 6750 §2.1), fetched once beforehand.
async fn bearer_call(bench: &Bench) -> Result<Row> {
    let token = fetch_token_at(bench.tessera_addr(), &bench.fixtures.client).await?;
    let bearer = HeaderValue::from_str(&format!("Bearer {token}"))?;
    let scenario = RoundRobin::new(
        Method::GET,
        ACCOUNT_PATH,
        HeaderMap::new(),
        Bytes::new(),
        vec![bearer],
    )?;
    bench.measure_tessera(BEARER_CALL, scenario).await
}

/// HTTP Basic with a legacy credential on `GET /v1/account`, the credential's argon2id hash
/// made at the production cost: after the first request the verification comes from the
/// keyed-hash cache, so this is the steady state of a customer not yet migrated.
async fn legacy_basic_cached(bench: &Bench) -> Result<Row> {
    let legacy = fixtures::legacy_credential(&bench.tessera.cli, &bench.fixtures).await?;
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
    let (status, body) = send_once(bench.tessera_addr(), request).await?;
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
    bench.measure_tessera(LEGACY_BASIC, scenario).await
}

/// RFC 7662 introspection of a live access token by a resource-server credential.
async fn introspection(bench: &Bench) -> Result<Row> {
    let token = fetch_token_at(bench.tessera_addr(), &bench.fixtures.client).await?;
    let rs = fixtures::resource_server(&bench.tessera.cli).await?;
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(FORM_CONTENT_TYPE));
    let scenario = RoundRobin::new(
        Method::POST,
        INTROSPECT_PATH,
        headers,
        Bytes::from(format!("token={token}")),
        basic_authorizations(std::slice::from_ref(&rs))?,
    )?;
    bench.measure_tessera(INTROSPECTION, scenario).await
}

/// RFC 6749 §6 with rotation: chains of refreshes over independent token sets, each
/// request spending the refresh token the previous answer in its chain returned.
async fn refresh_rotation(bench: &Bench) -> Result<Row> {
    let connections = bench.config.connections;
    let grant = &bench.fixtures.app_grant;
    let tokens =
        fixtures::token_sets(&bench.tessera.cli, grant, TOKEN_SETS.max(connections)).await?;
    let authorization = grant.app.basic_authorization()?;
    let scenario = RefreshChains::new(TOKEN_PATH, authorization, tokens, connections)?;
    bench.measure_tessera(REFRESH_ROTATION, scenario).await
}

/// RFC 6749 §4.1.3: each request exchanges a code never used before, minted just now.
async fn authorization_code(bench: &Bench) -> Result<Row> {
    code_row(bench, AUTHORIZATION_CODE, false).await
}

/// The same for OpenID Connect codes (`openid profile email`): each exchange also reads
/// the user and signs an ID token.
async fn authorization_code_openid(bench: &Bench) -> Result<Row> {
    code_row(bench, AUTHORIZATION_CODE_OPENID, true).await
}

/// Where a code row mints and exchanges its codes.
struct CodeTarget<'a> {
    addr: SocketAddr,
    cli: &'a crate::tessera::Tessera,
    grant: &'a fixtures::AppGrant,
}

/// A code row, on a Tessera server of its own started for it on a fresh store: each code
/// row leaves tens of thousands of codes, token sets and refresh tokens behind, and a row
/// on the same store after it would pay for the larger tables (BENCHMARKS.md, "Position in
/// the run"). Through replicas (`--replicas`) the rows stay on the cluster's store.
async fn code_row(bench: &Bench, name: &str, openid: bool) -> Result<Row> {
    if bench.cluster.is_some() {
        let target = CodeTarget {
            addr: bench.tessera_addr(),
            cli: &bench.tessera.cli,
            grant: &bench.fixtures.app_grant,
        };
        let count = codes_needed(bench, &target).await?;
        let scenario = code_exchanges(&target, count, openid).await?;
        return bench.measure_tessera(name, scenario).await;
    }
    let dir = if openid { "codes-openid" } else { "codes" };
    let own = bench.launcher.start(dir, &[]).await?;
    let (account, _) = fixtures::account_and_client(&own.cli).await?;
    let grant = fixtures::app_grant(&own.cli, account).await?;
    let target = CodeTarget {
        addr: own.server.addr,
        cli: &own.cli,
        grant: &grant,
    };
    let count = codes_needed(bench, &target).await?;
    let scenario = code_exchanges(&target, count, openid).await?;
    bench.measure(name, &own.server, scenario).await
}

/// OpenID Connect UserInfo (`GET /oauth/userinfo`) with the access token of one exchange
/// of an OpenID Connect code: token verification, then the user read from the store.
async fn userinfo(bench: &Bench) -> Result<Row> {
    let grant = &bench.fixtures.app_grant;
    let code = fixtures::codes(&bench.tessera.cli, grant, 1, true).await?;
    let body = format!(
        "grant_type=authorization_code&code={}&redirect_uri={REDIRECT_URI}",
        code[0]
    );
    let uri: Uri = format!("http://{}{TOKEN_PATH}", bench.tessera_addr()).parse()?;
    let request = Request::builder()
        .method(Method::POST)
        .uri(uri)
        .header(CONTENT_TYPE, FORM_CONTENT_TYPE)
        .header(AUTHORIZATION, grant.app.basic_authorization()?)
        .body(Full::new(Bytes::from(body)))?;
    let (status, answer) = send_once(bench.tessera_addr(), request).await?;
    if !status.is_success() {
        bail!(
            "exchanging the userinfo row's code: {status}: {}",
            body_excerpt(&answer)
        );
    }
    let tokens: ExchangedTokens = serde_json::from_slice(&answer)?;
    if tokens.id_token.is_none() {
        bail!("the userinfo row's code exchange returned no ID token");
    }
    let bearer = HeaderValue::from_str(&format!("Bearer {}", tokens.access_token))?;
    let scenario = RoundRobin::new(
        Method::GET,
        USERINFO_PATH,
        HeaderMap::new(),
        Bytes::new(),
        vec![bearer],
    )?;
    bench.measure_tessera(USERINFO, scenario).await
}

#[derive(Deserialize)]
struct ExchangedTokens {
    access_token: String,
    id_token: Option<String>,
}

async fn code_exchanges(
    target: &CodeTarget<'_>,
    count: usize,
    openid: bool,
) -> Result<CodeExchanges> {
    let codes = fixtures::codes(target.cli, target.grant, count, openid).await?;
    let authorization = target.grant.app.basic_authorization()?;
    CodeExchanges::new(TOKEN_PATH, authorization, REDIRECT_URI, &codes)
}

/// How many codes a run will exchange, with headroom, from a short probe of the exchange
/// itself: no other scenario does the same work, and running out would fail the run.
async fn codes_needed(bench: &Bench, target: &CodeTarget<'_>) -> Result<usize> {
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
        let probe = Arc::new(code_exchanges(target, supply, false).await?);
        eprintln!("probing the code exchange rate …");
        let report = load::run(target.addr, Arc::clone(&probe), config).await?;
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
    /// Where Tessera's scenarios send their load: the server, or with `--replicas` the
    /// load balancer in front of the replicas.
    pub fn tessera_addr(&self) -> SocketAddr {
        match &self.cluster {
            Some(cluster) => cluster.addr,
            None => self.tessera.server.addr,
        }
    }

    /// Runs one of Tessera's scenarios at [`Bench::tessera_addr`]: against the server, or
    /// through the load balancer with the replicas' and nginx's resources summed.
    pub async fn measure_tessera<S: Scenario>(&self, name: &str, scenario: S) -> Result<Row> {
        match &self.cluster {
            Some(cluster) => {
                self.measure_at(name, cluster.addr, cluster.pids(), scenario)
                    .await
            }
            None => self.measure(name, &self.tessera.server, scenario).await,
        }
    }

    /// Runs `scenario` against `server`, reading the server's memory and the CPU use around it.
    pub async fn measure<S: Scenario>(
        &self,
        name: &str,
        server: &ServerProcess,
        scenario: S,
    ) -> Result<Row> {
        // One process, or a master and its workers (nginx): memory and CPU are summed.
        let pids = procfs::family(server.pid());
        self.measure_at(name, server.addr, pids, scenario).await
    }

    /// Runs `scenario` against `addr`, summing the memory and CPU use of `pids`.
    pub async fn measure_at<S: Scenario>(
        &self,
        name: &str,
        addr: SocketAddr,
        pids: Vec<u32>,
        scenario: S,
    ) -> Result<Row> {
        eprintln!("running {name} …");
        for pid in &pids {
            if let Err(error) = procfs::reset_peak(*pid) {
                eprintln!("warning: peak RSS of {name} includes earlier scenarios: {error:#}");
            }
        }
        let idle_kib = procfs::memory_of(&pids).ok().map(|m| m.resident_kib);
        let before = CpuSample::take(&pids);
        let load = load::run(addr, Arc::new(scenario), self.config).await?;
        let after = CpuSample::take(&pids);
        let peak_kib = procfs::memory_of(&pids).ok().map(|m| m.peak_kib);
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
pub async fn fetch_token(server: &ServerProcess, client: &Credentials) -> Result<String> {
    fetch_token_at(server.addr, client).await
}

/// The same, from whatever listens at `addr`.
pub async fn fetch_token_at(addr: SocketAddr, client: &Credentials) -> Result<String> {
    let request = token_requests(std::slice::from_ref(client))?.request(&mut ());
    let (status, body) = send_once(addr, request).await?;
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

#[derive(Deserialize)]
struct JoseHeader {
    alg: String,
}

/// The `alg` of a JWS compact serialization's protected header (RFC 7515 §4.1.1).
fn jwt_alg(token: &str) -> Result<String> {
    let header = token.split('.').next().unwrap_or_default();
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .context("the access token's header is not base64url")?;
    let header: JoseHeader =
        serde_json::from_slice(&json).context("the access token's header is not JOSE JSON")?;
    Ok(header.alg)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_selects_by_prefix_and_always_keeps_the_baseline() -> Result<()> {
        let selection = Selection::parse(Some("refresh rotation, Client Credentials"))?;
        let chosen: Vec<&str> = SCENARIOS
            .into_iter()
            .filter(|name| selection.includes(name))
            .collect();
        assert_eq!(
            chosen,
            [
                CLIENT_CREDENTIALS,
                CLIENT_CREDENTIALS_EDDSA,
                CLIENT_CREDENTIALS_MANY,
                CLIENT_CREDENTIALS_DPOP,
                REFRESH_ROTATION,
                BASELINE_ROW
            ]
        );
        let gateway = Selection::parse(Some("upstream,gateway,nginx"))?;
        let chosen: Vec<&str> = SCENARIOS
            .into_iter()
            .filter(|name| gateway.includes(name))
            .collect();
        assert_eq!(
            chosen,
            [
                UPSTREAM_DIRECT,
                GATEWAY_BEARER_CALL,
                NGINX_PROXY,
                BASELINE_ROW
            ]
        );
        assert!(Selection::parse(None)?.includes(INTROSPECTION));
        let legacy = Selection::parse(Some("legacy"))?;
        assert!(legacy.includes(LEGACY_BASIC) && IMPORT_ROWS.iter().all(|r| legacy.includes(r)));
        assert!(!legacy.includes(BEARER_CALL));
        assert!(Selection::parse(Some("refresh,nonsense")).is_err());
        Ok(())
    }
}
