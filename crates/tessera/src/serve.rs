//! Starting and stopping a server: store, keys, caches, HTTP and the sync task.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
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
use tessera_core::oauth::refresh_token::RefreshPolicy;
use tessera_core::random;
use tessera_core::runtime::sync::{load_all, KeyReload};
use tessera_core::runtime::Caches;
use tessera_core::store::Store;
use tessera_core::token::issue::TokenPolicy;
use tessera_core::token::keys::{Algorithm, Keyring};
use tessera_http::sync::SyncPolicy;
use tessera_http::{
    AppParts, AppState, Gateway, GatewayPolicy, HttpPolicy, LegacyRuntime, SessionPolicy,
    SignInLimits,
};
use tessera_store::SqlStore;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::Config;

pub struct RunningServer {
    pub addr: SocketAddr,
    pub state: AppState,
    shutdown: watch::Sender<bool>,
    http: JoinHandle<std::io::Result<()>>,
    sync: JoinHandle<()>,
}

impl RunningServer {
    /// Stops accepting, lets requests in flight finish, stops the sync task.
    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = self.shutdown.send(true);
        self.http.await.context("the HTTP task panicked")??;
        self.sync.await.context("the sync task panicked")?;
        Ok(())
    }
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
        identity_jwt: config.upstream_identity == "jwt",
    })
    .map_err(anyhow::Error::msg)?;
    Ok(Some(gateway))
}

/// Opens the configured store: applies migrations, then the `[[scope]]` tables.
pub async fn open_store(config: &Config) -> anyhow::Result<SqlStore> {
    open_store_at(config, crate::context::now()).await
}

/// [`open_store`] at `now`, the instant catalog changes are recorded at.
async fn open_store_at(config: &Config, now: i64) -> anyhow::Result<SqlStore> {
    let store = SqlStore::connect(&config.database_url()).await?;
    let applied = scopes::apply_configured(&store, config.catalog(), now).await?;
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
    let store: Arc<dyn Store> = Arc::new(open_store_at(config, clock.now()).await?);
    let master = Arc::new(crate::master_key::resolve(config)?);
    let tokens = token_policy(config);
    let keys = key_policy(config)?;
    let now = clock.now();

    ensure_signing_key(store.as_ref(), &master, &keys, now).await?;
    let caches = Arc::new(Caches::new(
        Keyring::from_stored(&[], &master, tokens.max_ttl())?,
        config.verified_token_cache,
        VerificationCache::new(random::bytes::<32>()?, cache::CAPACITY, cache::TTL_MS),
    ));
    let reload = KeyReload {
        master: &master,
        max_token_ttl: tokens.max_ttl(),
    };
    let cursor_start = load_all(store.as_ref(), &caches, &reload, now).await?;
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
        },
        authorize: AuthorizePolicy {
            require_pkce: config.require_pkce,
            code_ttl: config.authorization_code_ttl,
            skip_consent_when_granted: config.skip_consent_when_granted,
        },
        refresh: RefreshPolicy {
            idle_ttl: (config.refresh_token_idle_ttl > 0).then_some(config.refresh_token_idle_ttl),
            absolute_ttl: (config.refresh_token_absolute_ttl > 0)
                .then_some(config.refresh_token_absolute_ttl),
        },
        sessions: SessionPolicy {
            idle_ttl: config.session_idle_ttl,
            absolute_ttl: config.session_absolute_ttl,
            secure_cookies: config.issuer().starts_with("https://"),
        },
        signin_limits: SignInLimits::default(),
        decoy_hash: decoy.as_str().to_owned(),
        password_checks: tokio::sync::Semaphore::new(
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
        ),
        legacy,
        gateway,
        trusted_proxies,
    });

    let listener = tokio::net::TcpListener::bind(&config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr = listener.local_addr()?;
    let (shutdown, rx) = watch::channel(false);
    let mut http_rx = rx.clone();
    // The peer address feeds the per-address limit on failed Basic attempts.
    let app = tessera_http::router(state.clone());
    let http = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            let _ = http_rx.wait_for(|stop| *stop).await;
        })
        .await
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
        rx,
    ));
    tracing::info!(%addr, issuer = %state.tokens.issuer, upstream = ?config.upstream, "tessera is serving");
    Ok(RunningServer {
        addr,
        state,
        shutdown,
        http,
        sync,
    })
}
