//! Starting and stopping a server: store, keys, caches, HTTP and the sync task.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tessera_core::audit::Actor;
use tessera_core::clock::Clock;
use tessera_core::domain::decoy_hash;
use tessera_core::domain::ScopeSet;
use tessera_core::forwarded::TrustedProxies;
use tessera_core::gateway::RouteTable;
use tessera_core::legacy::cache::{self, VerificationCache};
use tessera_core::legacy::limiter::{FailureLimiter, LimitPolicy};
use tessera_core::manage::keys::{ensure_signing_key, KeyPolicy};
use tessera_core::manage::scopes;
use tessera_core::oauth::authorize::AuthorizePolicy;
use tessera_core::oauth::device::DevicePolicy;
use tessera_core::oauth::dpop::DpopPolicy;
use tessera_core::oauth::refresh_token::RefreshPolicy;
use tessera_core::random;
use tessera_core::runtime::endpoint_limits::EndpointLimits;
use tessera_core::runtime::lease::Lease;
use tessera_core::runtime::sync::{load_all, FeedStatus, KeyReload};
use tessera_core::runtime::Caches;
use tessera_core::store::Store;
use tessera_core::token::dpop::ReplayCache;
use tessera_core::token::issue::TokenPolicy;
use tessera_core::token::keys::{Algorithm, Keyring};
use tessera_http::sync::SyncPolicy;
use tessera_http::{
    AppParts, AppState, Gateway, GatewayPolicy, HttpPolicy, LegacyRuntime, Metrics,
    ReadinessPolicy, SessionPolicy, SignInLimits, Tunnels, UserCodeLimits,
};
use tessera_store::SqlStore;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::Config;

pub struct RunningServer {
    pub addr: SocketAddr,
    /// Where `/metrics` is served when `metrics_listen` is set.
    pub metrics_addr: Option<SocketAddr>,
    pub state: AppState,
    /// The store the state uses, kept to close its pool last.
    store: SqlStore,
    stop_http: watch::Sender<bool>,
    stop_sync: watch::Sender<bool>,
    http: JoinHandle<std::io::Result<()>>,
    metrics: Option<JoinHandle<std::io::Result<()>>>,
    sync: JoinHandle<()>,
    grace: Duration,
}

impl RunningServer {
    /// Stops cleanly, logging each step: stops accepting connections; gives requests in
    /// flight and open WebSocket tunnels the grace period to finish, then drops them; stops
    /// the sync task, which
    /// flushes the legacy usage counts (after the last request, so none is lost); closes
    /// the store's connections. Fails only if a task panicked.
    pub async fn stop(self) -> anyhow::Result<()> {
        tracing::info!(
            grace_ms = self.grace.as_millis() as u64,
            in_flight = self.state.metrics.in_flight_now(),
            "stopping: no new connections; finishing requests in flight"
        );
        let deadline = tokio::time::Instant::now() + self.grace;
        let _ = self.stop_http.send(true);
        let mut aborts = vec![self.http.abort_handle()];
        aborts.extend(self.metrics.as_ref().map(JoinHandle::abort_handle));
        let servers = async {
            let http = self.http.await;
            let metrics = match self.metrics {
                Some(task) => Some(task.await),
                None => None,
            };
            (http, metrics)
        };
        match tokio::time::timeout_at(deadline, servers).await {
            Ok((http, metrics)) => {
                http.context("the HTTP task panicked")??;
                if let Some(metrics) = metrics {
                    metrics.context("the metrics task panicked")??;
                }
                tracing::info!("requests in flight finished");
            }
            Err(_) => {
                let left = self.state.metrics.in_flight_now();
                tracing::warn!(
                    requests = left,
                    "grace period over: requests still in flight are dropped"
                );
                for task in aborts {
                    task.abort();
                }
            }
        }
        if let Some(gateway) = &self.state.gateway {
            close_tunnels(gateway.tunnels(), deadline).await;
        }
        let _ = self.stop_sync.send(true);
        let sync = self.sync.abort_handle();
        match tokio::time::timeout(self.grace, self.sync).await {
            Ok(done) => done.context("the sync task panicked")?,
            Err(_) => {
                sync.abort();
                tracing::warn!(
                    "the sync task did not stop in time: legacy usage counts not flushed"
                );
            }
        }
        // Waits for connections to come back to the pool: one held by a dropped request
        // must not keep the process alive.
        match tokio::time::timeout(self.grace, self.store.close()).await {
            Ok(()) => tracing::info!("store closed; stopped"),
            Err(_) => tracing::warn!("the store's connections did not close in time; stopped"),
        }
        Ok(())
    }
}

/// Waits until `deadline` for the open WebSocket tunnels to be closed by their ends, then
/// cuts the rest.
async fn close_tunnels(tunnels: &Tunnels, deadline: tokio::time::Instant) {
    let open = tunnels.open();
    if open == 0 {
        return;
    }
    tracing::info!(
        tunnels = open,
        "waiting for open WebSocket tunnels to close"
    );
    if tokio::time::timeout_at(deadline, tunnels.all_closed())
        .await
        .is_ok()
    {
        tracing::info!("WebSocket tunnels closed");
        return;
    }
    tracing::warn!(
        tunnels = tunnels.open(),
        "grace period over: open WebSocket tunnels are cut"
    );
    tunnels.cut();
    tunnels.all_closed().await;
}

pub fn algorithm(config: &Config) -> anyhow::Result<Algorithm> {
    Algorithm::parse(&config.signing_alg).with_context(|| {
        format!(
            "signing_alg {:?} is not supported: use ES256, EdDSA or RS256",
            config.signing_alg
        )
    })
}

pub fn token_policy(config: &Config) -> TokenPolicy {
    TokenPolicy {
        issuer: config.issuer(),
        audience: config.audience(),
        client_credentials_ttl: config.access_token_ttl,
        user_token_ttl: config.user_access_token_ttl,
    }
}

pub fn key_policy(config: &Config) -> anyhow::Result<KeyPolicy> {
    Ok(KeyPolicy {
        algorithm: algorithm(config)?,
        propagation_delay: config.key_propagation_delay,
        max_token_ttl: token_policy(config).max_ttl(),
    })
}

/// The gateway to the configured upstream, its routes checked against the scope catalog;
/// `None` without an upstream. A route that cannot be used stops the server from starting.
pub fn gateway(config: &Config, catalog: &ScopeSet) -> anyhow::Result<Option<Gateway>> {
    let routes = RouteTable::build(&config.route, catalog, config.unmatched_policy()?)?;
    let Some(upstream) = &config.upstream else {
        if !config.route.is_empty() {
            anyhow::bail!("[[route]] tables need an upstream (config upstream, TESSERA_UPSTREAM or --upstream)");
        }
        return Ok(None);
    };
    let gateway = Gateway::new(GatewayPolicy {
        upstream: upstream.clone(),
        routes,
        connect_timeout: Duration::from_millis(config.upstream_connect_timeout_ms),
        response_timeout: Duration::from_millis(config.upstream_timeout_ms),
        idle_timeout: Duration::from_millis(config.upstream_idle_timeout_ms),
        identity_jwt: config.upstream_identity == "jwt",
        body_limit: config.gateway_body_limit,
    })
    .map_err(anyhow::Error::msg)?;
    Ok(Some(gateway))
}

/// Opens the configured store for a command: applies migrations, then the `[[scope]]` tables;
/// each write is announced to running replicas before it returns.
pub async fn open_store(config: &Config) -> anyhow::Result<SqlStore> {
    let store = open_store_at(config, crate::context::now()).await?;
    Ok(store.announcing_each_write())
}

/// [`open_store`] at `now`, the instant catalog changes are recorded at.
async fn open_store_at(config: &Config, now: i64) -> anyhow::Result<SqlStore> {
    let store = SqlStore::connect(&config.database_url()).await?;
    let applied = scopes::apply_configured(&store, &Actor::config(), config.catalog(), now).await?;
    if applied != scopes::Applied::default() {
        tracing::info!(
            created = ?applied.created,
            described = ?applied.described,
            removed_samples = ?applied.removed_samples,
            "applied the [[scope]] tables to the scope catalog"
        );
    }
    Ok(store)
}

/// Starts a server on `config.listen` (port 0 picks a free one).
pub async fn start(config: &Config, clock: Arc<dyn Clock>) -> anyhow::Result<RunningServer> {
    let sql_store = open_store_at(config, clock.now()).await?;
    let store: Arc<dyn Store> = Arc::new(sql_store.clone());
    let master = Arc::new(crate::master_key::resolve(config)?);
    let tokens = token_policy(config);
    let keys = key_policy(config)?;
    let now = clock.now();

    ensure_signing_key(store.as_ref(), &Actor::system(), &master, &keys, now).await?;
    let caches = Arc::new(
        Caches::new(
            Keyring::from_stored(&[], &master, tokens.max_ttl())?,
            config.verified_token_cache,
            VerificationCache::new(random::bytes::<32>()?, cache::CAPACITY, cache::TTL_MS),
        )
        .with_jwks_fetcher(Arc::new(tessera_http::jwks_fetch::HttpsJwksFetcher::new())),
    );
    let reload = KeyReload {
        master: &master,
        max_token_ttl: tokens.max_ttl(),
    };
    let cursor_start = load_all(store.as_ref(), &caches, &reload, now).await?;
    let feed = Arc::new(FeedStatus::new(clock.now_ms()));
    let housekeeping = Arc::new(Lease::new(
        "housekeeping",
        tessera_http::sync::HOUSEKEEPING_LEASE_TTL,
    )?);
    let metrics = Arc::new(Metrics::new(
        caches.clone(),
        feed.clone(),
        housekeeping.clone(),
        clock.clone(),
        sql_store.batch_sizes(),
    ));
    let passwords = config.password_policy()?;
    let decoy = decoy_hash(&passwords)?;
    // The catalog as the store holds it after the [[scope]] tables were applied.
    let gateway = gateway(config, &caches.scopes())?;
    let trusted_proxies = TrustedProxies::parse(&config.trusted_proxies)
        .map_err(|e| anyhow::anyhow!("trusted_proxies: {e}"))?;

    let sunset = config.sunset_policy()?;
    let passwords = config.password_policy()?;
    // Hashes the timing filler with the configured cost: keep it off the async threads.
    let legacy = tokio::task::spawn_blocking(move || {
        LegacyRuntime::new(
            sunset,
            passwords,
            FailureLimiter::new(LimitPolicy::default()),
        )
    })
    .await
    .context("preparing legacy Basic authentication")??;

    let state = AppState::new(AppParts {
        store,
        caches,
        clock,
        master,
        tokens,
        keys,
        http: HttpPolicy {
            form_limit: config.form_limit,
            json_limit: config.json_limit,
            request_timeout: Duration::from_millis(config.request_timeout_ms),
        },
        authorize: AuthorizePolicy {
            require_pkce: config.require_pkce,
            code_ttl: config.authorization_code_ttl,
            skip_consent_when_granted: config.skip_consent_when_granted,
            require_par: config.require_pushed_authorization_requests,
            par_ttl: config.pushed_request_ttl,
        },
        refresh: RefreshPolicy {
            idle_ttl: (config.refresh_token_idle_ttl > 0).then_some(config.refresh_token_idle_ttl),
            absolute_ttl: (config.refresh_token_absolute_ttl > 0)
                .then_some(config.refresh_token_absolute_ttl),
            retry_window: config.refresh_retry_window,
        },
        sessions: SessionPolicy {
            idle_ttl: config.session_idle_ttl,
            absolute_ttl: config.session_absolute_ttl,
            secure_cookies: config.issuer().starts_with("https://"),
        },
        signin_limits: SignInLimits::default(),
        user_code_limits: UserCodeLimits::default(),
        device: DevicePolicy {
            ttl: config.device_code_ttl,
            interval: config.device_poll_interval,
        },
        dpop: DpopPolicy {
            max_age: config.dpop_proof_max_age,
            require_nonce: config.require_dpop_nonce,
        },
        // A million live proofs (about 64 MiB at most): beyond, new proofs are refused
        // until old ones expire, rather than replays forgotten.
        dpop_replay: ReplayCache::new(1_000_000),
        rate_limits: match config.endpoint_limit_policy()? {
            Some(policy) => EndpointLimits::new(&policy),
            None => EndpointLimits::off(),
        },
        decoy_hash: decoy.as_str().to_owned(),
        password_checks: tokio::sync::Semaphore::new(
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
        ),
        legacy,
        gateway,
        trusted_proxies,
        metrics,
        metrics_on_main_listener: config.metrics_listen.is_none(),
        feed,
        housekeeping,
        readiness: readiness_policy(config),
    });

    let listener = tokio::net::TcpListener::bind(&config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr = listener.local_addr()?;
    let metrics_listener = match &config.metrics_listen {
        Some(at) => Some(
            tokio::net::TcpListener::bind(at)
                .await
                .with_context(|| format!("metrics_listen: cannot listen on {at}"))?,
        ),
        None => None,
    };
    let metrics_addr = match &metrics_listener {
        Some(l) => Some(l.local_addr()?),
        None => None,
    };
    let (stop_http, http_rx) = watch::channel(false);
    let (stop_sync, sync_rx) = watch::channel(false);
    let limits = config.connection_limits()?;
    let open = state.metrics.connections_open.clone();
    let app = tessera_http::router(state.clone());
    let http = tokio::spawn(tessera_http::serve(
        listener,
        app,
        limits.clone(),
        open.clone(),
        http_rx.clone(),
    ));
    let metrics = metrics_listener.map(|listener| {
        let app = tessera_http::metrics_router(state.clone());
        tokio::spawn(tessera_http::serve(listener, app, limits, open, http_rx))
    });
    let sync_policy = SyncPolicy {
        poll_interval: Duration::from_millis(config.sync_interval_ms),
        rotation_interval: (config.key_rotation_interval > 0)
            .then_some(config.key_rotation_interval),
        usage_flush_interval: Duration::from_secs(config.legacy_usage_flush_interval),
    };
    let sync = tokio::spawn(tessera_http::sync::run(
        state.clone(),
        cursor_start,
        sync_policy,
        sql_store.change_notifications(),
        sync_rx,
    ));
    tracing::info!(%addr, ?metrics_addr, issuer = %state.tokens.issuer, upstream = ?config.upstream, "tessera is serving");
    Ok(RunningServer {
        addr,
        metrics_addr,
        state,
        store: sql_store,
        stop_http,
        stop_sync,
        http,
        metrics,
        sync,
        grace: Duration::from_millis(config.shutdown_grace_ms),
    })
}

/// `/readyz` fails when the change feed has not been read for ten poll intervals (and at
/// least 5 s, so one slow poll is not an outage).
pub fn readiness_policy(config: &Config) -> ReadinessPolicy {
    let interval = i64::try_from(config.sync_interval_ms).unwrap_or(1000);
    ReadinessPolicy {
        feed_max_lag_ms: (10 * interval).max(5_000),
    }
}
