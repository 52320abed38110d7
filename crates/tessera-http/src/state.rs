//! What every handler shares.

use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use tessera_core::clock::Clock;
use tessera_core::error::OAuthError;
use tessera_core::forwarded::TrustedProxies;
use tessera_core::manage::keys::KeyPolicy;
use tessera_core::oauth::authorize::AuthorizePolicy;
use tessera_core::oauth::device::DevicePolicy;
use tessera_core::oauth::dpop::DpopPolicy;
use tessera_core::oauth::refresh_token::RefreshPolicy;
use tessera_core::oauth::token::EndpointContext;
use tessera_core::oauth::token_set::GrantContext;
use tessera_core::runtime::endpoint_limits::EndpointLimits;
use tessera_core::runtime::lease::Lease;
use tessera_core::runtime::rate_limit::{KeyedLimiter, Quota, RetryAfter};
use tessera_core::runtime::sync::FeedStatus;
use tessera_core::runtime::Caches;
use tessera_core::store::Store;
use tessera_core::token::dpop::ReplayCache;
use tessera_core::token::issue::TokenPolicy;
use tessera_core::token::keys::Keyring;
use tessera_core::token::master_key::MasterKey;
use tessera_core::UnixSeconds;

use crate::gateway::Gateway;
use crate::health::ReadinessPolicy;
use crate::legacy_runtime::LegacyRuntime;
use crate::metrics::Metrics;

/// The wall clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
    }
}

/// HTTP-level settings.
#[derive(Debug, Clone)]
pub struct HttpPolicy {
    /// Largest accepted body on OAuth endpoints, bytes.
    pub form_limit: usize,
    /// Largest accepted JSON body on the sample API, bytes.
    pub json_limit: usize,
    /// Longest time from a request's head to its response's head.
    pub request_timeout: std::time::Duration,
}

/// Session lifetimes and cookie attributes.
#[derive(Debug, Clone, Copy)]
pub struct SessionPolicy {
    /// A session unused this long ends, seconds.
    pub idle_ttl: i64,
    /// A session ends this long after sign-in whatever happens, seconds.
    pub absolute_ttl: i64,
    /// Add `Secure` and the `__Host-` prefix to cookies (the issuer is https).
    pub secure_cookies: bool,
}

/// Guesses allowed per key (the account a sign-in names, the session that types device
/// codes) and per client address. An attempt is counted before it is checked and given
/// back when it succeeds, so parallel guesses cannot all pass.
pub struct AttemptLimits<K> {
    pub by_key: KeyedLimiter<K>,
    pub by_address: KeyedLimiter<IpAddr>,
}

impl<K: Eq + Hash + Clone> AttemptLimits<K> {
    /// `per_key` and `per_address` failures in 15 minutes.
    fn new(per_key: u32, per_address: u32) -> Self {
        let quota = |burst| Quota {
            burst,
            period_secs: 900,
        };
        Self {
            by_key: KeyedLimiter::new(quota(per_key), 100_000),
            by_address: KeyedLimiter::new(quota(per_address), 100_000),
        }
    }

    /// Counts an attempt at `key` from `address` (an [`address_key`]), or refuses it.
    ///
    /// [`address_key`]: tessera_core::runtime::rate_limit::address_key
    pub fn begin(&self, key: &K, address: IpAddr, now_ms: i64) -> Result<(), RetryAfter> {
        self.by_address.acquire(&address, now_ms)?;
        self.by_key
            .acquire(key, now_ms)
            .inspect_err(|_| self.by_address.refund(&address))
    }

    /// The attempt succeeded: the address gets it back, the key starts afresh.
    pub fn succeed(&self, key: &K, address: IpAddr) {
        self.by_address.refund(&address);
        self.by_key.reset(key);
    }

    /// Forgets keys whose budgets are full again.
    pub fn prune(&self, now_ms: i64) {
        self.by_key.prune(now_ms);
        self.by_address.prune(now_ms);
    }
}

/// Sign-in attempts, per account email and per address.
pub type SignInLimits = AttemptLimits<String>;

impl Default for SignInLimits {
    /// 5 failures per account and 20 per address in 15 minutes.
    fn default() -> Self {
        Self::new(5, 20)
    }
}

/// Device user codes typed on the verification page (RFC 8628 §5.1), per session (by its
/// hash) and per address.
pub type UserCodeLimits = AttemptLimits<[u8; 32]>;

impl Default for UserCodeLimits {
    /// 10 wrong codes per session and 30 per address in 15 minutes: with 2.6·10^10 codes,
    /// a guesser's odds stay below one in 10^7 per ten-minute code.
    fn default() -> Self {
        Self::new(10, 30)
    }
}

#[derive(Clone)]
pub struct AppState {
    pub inner: Arc<Inner>,
}

pub struct Inner {
    pub store: Arc<dyn Store>,
    pub caches: Arc<Caches>,
    pub clock: Arc<dyn Clock>,
    pub master: Arc<MasterKey>,
    pub tokens: TokenPolicy,
    pub keys: KeyPolicy,
    pub http: HttpPolicy,
    pub authorize: AuthorizePolicy,
    pub refresh: RefreshPolicy,
    pub sessions: SessionPolicy,
    pub signin_limits: SignInLimits,
    pub user_code_limits: UserCodeLimits,
    /// The device authorization grant's lifetimes (RFC 8628).
    pub device: DevicePolicy,
    /// How DPoP proofs are judged (RFC 9449).
    pub dpop: DpopPolicy,
    /// The DPoP proofs the sample API and the gateway have accepted, until they expire.
    pub dpop_replay: ReplayCache,
    /// Rate limits of the token, revocation and introspection endpoints.
    pub rate_limits: EndpointLimits,
    /// Bounds concurrent argon2id verifications (sign-in and legacy Basic) so their memory
    /// cost cannot multiply under a burst; see `legacy::verify_password_bounded`.
    pub password_checks: tokio::sync::Semaphore,
    /// An argon2id hash of a random password, verified when an email is unknown so that
    /// response time does not reveal which emails exist.
    pub decoy_hash: String,
    /// Legacy Basic credentials: sunset policy, failure limits, usage counts.
    pub legacy: LegacyRuntime,
    /// The provider's API that Tessera proxies to; `None`: the sample API is served.
    pub gateway: Option<Gateway>,
    /// Proxies in front of Tessera whose `X-Forwarded-For` is believed.
    pub trusted_proxies: TrustedProxies,
    /// What `/metrics` exports; see `metrics.rs`.
    pub metrics: Arc<Metrics>,
    /// Serve `/metrics` on the main listener (no separate `metrics_listen`).
    pub metrics_on_main_listener: bool,
    /// How the sync task follows the change feed, for `/readyz` and `/metrics`.
    pub feed: Arc<FeedStatus>,
    /// The lease on once-per-cluster housekeeping; see `sync.rs`.
    pub housekeeping: Arc<Lease>,
    pub readiness: ReadinessPolicy,
}

impl AppState {
    pub fn new(inner: Inner) -> Self {
        Self {
            inner: Arc::new(inner),
        }
    }
}

impl std::ops::Deref for AppState {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.inner
    }
}

impl Inner {
    /// What the client-authenticated endpoints need of the server's state.
    pub fn endpoint(&self) -> EndpointContext<'_> {
        EndpointContext {
            store: self.store.as_ref(),
            caches: &self.caches,
            master: &self.master,
            tokens: &self.tokens,
            refresh: &self.refresh,
            dpop: &self.dpop,
            passage: None,
        }
    }

    /// What a grant needs, with the key of `keyring` that signs at `now` (see
    /// [`EndpointContext::grant_context`]).
    pub fn grant_context<'a>(
        &'a self,
        keyring: &'a Keyring,
        now: UnixSeconds,
    ) -> Result<GrantContext<'a>, OAuthError> {
        self.endpoint().grant_context(keyring, now)
    }
}
