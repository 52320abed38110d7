//! Legacy HTTP Basic at the API: the per-process state, argon2id off the async threads,
//! the deprecation headers (RFC 9745, RFC 8594), and flushing the usage counts.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use async_trait::async_trait;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue};
use tessera_core::domain::password::{hash_password, verify_password, PasswordError};
use tessera_core::domain::ScopeSet;
use tessera_core::legacy::basic::{authenticate_basic, BasicContext, BasicError, PasswordVerifier};
use tessera_core::legacy::cache::LegacyIdentity;
use tessera_core::legacy::limiter::FailureLimiter;
use tessera_core::legacy::usage::UsageCounter;
use tessera_core::legacy::{Password, PasswordHash, PasswordPolicy, SunsetPolicy};
use tessera_core::UnixSeconds;

use crate::error::{BasicRefusal, HttpError};
use crate::state::AppState;

/// `Deprecation` (RFC 9745 §2).
pub const DEPRECATION: HeaderName = HeaderName::from_static("deprecation");
/// `Sunset` (RFC 8594 §3).
pub const SUNSET: HeaderName = HeaderName::from_static("sunset");

/// What Basic authentication keeps for the life of the process.
pub struct LegacyRuntime {
    pub sunset: SunsetPolicy,
    pub passwords: PasswordPolicy,
    pub limiter: FailureLimiter,
    pub usage: UsageCounter,
    /// What a Basic caller may do: the whole scope catalog, as before OAuth existed.
    pub scopes: Arc<ScopeSet>,
    dummy_hash: PasswordHash,
    sunset_header: Option<HeaderValue>,
    link_header: Option<HeaderValue>,
}

impl LegacyRuntime {
    /// Hashes a throwaway password with the configured cost (for constant-time misses):
    /// CPU-heavy, so call it from `spawn_blocking` or before serving.
    pub fn new(
        sunset: SunsetPolicy,
        passwords: PasswordPolicy,
        limiter: FailureLimiter,
        scopes: ScopeSet,
    ) -> Result<Self, PasswordError> {
        let filler = Password::from_request("not a password: timing filler".into());
        let dummy_hash = hash_password(&passwords, &filler)?;
        let sunset_header = sunset.sunset_at.and_then(|at| {
            // RFC 8594 §3: the value is an HTTP-date (RFC 9110 §5.6.7).
            let when = UNIX_EPOCH + Duration::from_secs(u64::try_from(at).ok()?);
            HeaderValue::from_str(&httpdate::fmt_http_date(when)).ok()
        });
        let link_header = sunset
            .guide_url
            .as_ref()
            .and_then(|url| HeaderValue::from_str(&format!("<{url}>; rel=\"deprecation\"")).ok());
        Ok(Self {
            sunset,
            passwords,
            limiter,
            usage: UsageCounter::default(),
            scopes: Arc::new(scopes),
            dummy_hash,
            sunset_header,
            link_header,
        })
    }

    /// The signalling headers of a response to a request authenticated with Basic:
    /// `Deprecation: @<unix seconds>` (RFC 9745 §2.1), `Sunset` (RFC 8594 §3) and
    /// `Link: <guide>; rel="deprecation"` (RFC 9745 §3).
    pub fn add_deprecation_headers(&self, headers: &mut HeaderMap, identity: &LegacyIdentity) {
        let since = self.sunset.deprecated_at.unwrap_or(identity.created_at);
        if let Ok(v) = HeaderValue::from_str(&format!("@{since}")) {
            headers.insert(DEPRECATION, v);
        }
        self.add_sunset_headers(headers);
    }

    /// `Sunset` and the guide `Link`, also sent with refusals so clients find the guide.
    pub fn add_sunset_headers(&self, headers: &mut HeaderMap) {
        if let Some(v) = &self.sunset_header {
            headers.insert(SUNSET, v.clone());
        }
        if let Some(v) = &self.link_header {
            headers.append(header::LINK, v.clone());
        }
    }
}

/// argon2id on the blocking pool, at most as many at once as the state allows.
struct BlockingVerifier<'a>(&'a AppState);

#[async_trait]
impl PasswordVerifier for BlockingVerifier<'_> {
    async fn verify(&self, hash: PasswordHash, password: Password) -> bool {
        verify_password_bounded(self.0, hash, password).await
    }
}

/// Verifies a password with argon2id off the async executor, holding one of the state's
/// password-check permits. Each verification allocates the hash's memory cost (19 MiB by
/// default): without a bound, a burst of concurrent Basic requests — a cache miss under
/// load, or an attacker's wrong passwords before the limiter counts them — would allocate
/// that many times over. Waiting requests queue instead.
pub async fn verify_password_bounded(
    app: &AppState,
    hash: PasswordHash,
    password: Password,
) -> bool {
    let Ok(_permit) = app.password_checks.acquire().await else {
        return false;
    };
    tokio::task::spawn_blocking(move || verify_password(&hash, &password))
        .await
        .unwrap_or(false)
}

/// Authenticates the credentials after `Basic `.
pub async fn authenticate(
    app: &AppState,
    credentials: &str,
    peer: Option<IpAddr>,
) -> Result<LegacyIdentity, HttpError> {
    let legacy = &app.legacy;
    let ctx = BasicContext {
        sunset: &legacy.sunset,
        cache: &app.caches.legacy,
        limiter: &legacy.limiter,
        usage: &legacy.usage,
        dummy_hash: &legacy.dummy_hash,
    };
    let now_ms = app.clock.now_ms();
    authenticate_basic(
        credentials,
        &ctx,
        app.store.as_ref(),
        &BlockingVerifier(app),
        peer,
        now_ms,
    )
    .await
    .map_err(|e| match e {
        BasicError::Malformed | BasicError::Invalid => HttpError::BasicInvalid,
        BasicError::Ended { at } => HttpError::BasicRefused(BasicRefusal {
            ended_at: Some(at),
            brownout_until: None,
            sunset_at: legacy.sunset.sunset_at,
            guide_url: legacy.sunset.guide_url.clone(),
        }),
        BasicError::Brownout { until } => HttpError::BasicRefused(BasicRefusal {
            ended_at: None,
            brownout_until: Some(until),
            sunset_at: legacy.sunset.sunset_at,
            guide_url: legacy.sunset.guide_url.clone(),
        }),
        BasicError::Limited { retry_after } => HttpError::TooManyAttempts { retry_after },
        BasicError::Store(e) => HttpError::internal(e),
    })
}

/// Writes the Basic requests counted since the last flush; on failure they are kept for
/// the next one. Returns how many (credential, hour) buckets were written.
pub async fn flush_usage(app: &AppState) -> usize {
    let deltas = app.legacy.usage.take();
    if deltas.is_empty() {
        return 0;
    }
    match app.store.add_legacy_usage(&deltas).await {
        Ok(()) => deltas.len(),
        Err(err) => {
            tracing::warn!(error = %err, "flushing legacy usage counts failed; retrying later");
            app.legacy.usage.restore(deltas);
            0
        }
    }
}

/// Forgets limiter windows and usage buckets nobody will read again.
pub async fn housekeeping(app: &AppState, now: UnixSeconds) {
    app.legacy.limiter.prune(now);
    // The report looks back 7 days (plus one bucket).
    if let Err(err) = app.store.prune_legacy_usage(now - 8 * 86_400).await {
        tracing::warn!(error = %err, "pruning legacy usage failed");
    }
}
