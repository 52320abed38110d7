//! Legacy HTTP Basic at the API: authenticating a request with argon2id off the async
//! threads, and flushing the usage counts. The per-process state and the deprecation
//! headers are in `legacy_runtime.rs`.

use std::net::IpAddr;
use std::sync::atomic::Ordering;

use async_trait::async_trait;
use tessera_core::domain::password::{hash_password, verify_password};
use tessera_core::legacy::basic::{authenticate_basic, BasicContext, BasicError, PasswordVerifier};
use tessera_core::legacy::cache::LegacyIdentity;
use tessera_core::legacy::report::legacy_windows;
use tessera_core::legacy::{Password, PasswordHash};
use tessera_core::UnixSeconds;

use crate::error::{BasicRefusal, HttpError};
use crate::state::AppState;

/// argon2id on the blocking pool, at most as many at once as the state allows.
struct BlockingVerifier<'a>(&'a AppState);

#[async_trait]
impl PasswordVerifier for BlockingVerifier<'_> {
    async fn verify(&self, hash: PasswordHash, password: Password) -> bool {
        verify_password_bounded(self.0, hash, password).await
    }

    /// argon2id with the configured cost, under the same permits as verification.
    async fn rehash(&self, password: Password) -> Option<PasswordHash> {
        let _permit = self.0.password_checks.acquire().await.ok()?;
        let policy = self.0.legacy.passwords;
        tokio::task::spawn_blocking(move || hash_password(&policy, &password).ok())
            .await
            .ok()
            .flatten()
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
    let result = authenticate_basic(
        credentials,
        &ctx,
        app.store.as_ref(),
        &BlockingVerifier(app),
        peer,
        now_ms,
    )
    .await;
    app.metrics.basic_request(match &result {
        Ok(_) => "ok",
        Err(BasicError::Malformed) => "malformed",
        Err(BasicError::Invalid) => "wrong_password",
        Err(BasicError::Ended { .. }) => "refused_sunset",
        Err(BasicError::Brownout { .. }) => "brownout",
        Err(BasicError::Limited { .. }) => "limited",
        Err(BasicError::Store(_)) => "error",
    });
    result.map_err(|e| match e {
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

/// Writes the Basic and Bearer requests counted since the last flush; on failure they are
/// kept for the next one. Returns how many (credential, hour) Basic buckets were written.
pub async fn flush_usage(app: &AppState) -> usize {
    flush_bearer_usage(app).await;
    let deltas = app.legacy.usage.take();
    if deltas.is_empty() {
        return 0;
    }
    let started = std::time::Instant::now();
    let written = app.store.add_legacy_usage(&deltas).await;
    let metrics = &app.metrics;
    metrics
        .usage_flush_seconds
        .observe(started.elapsed().as_secs_f64());
    match written {
        Ok(()) => {
            metrics.usage_flush_rows.inc_by(deltas.len() as u64);
            deltas.len()
        }
        Err(err) => {
            metrics.usage_flush_errors.inc();
            tracing::warn!(error = %err, "flushing legacy usage counts failed; retrying later");
            app.legacy.usage.restore(deltas);
            0
        }
    }
}

/// Writes the Bearer requests per client and day counted since the last flush.
async fn flush_bearer_usage(app: &AppState) {
    let deltas = app.legacy.bearer_usage.take();
    if deltas.is_empty() {
        return;
    }
    if let Err(err) = app.store.add_bearer_usage(&deltas).await {
        app.metrics.usage_flush_errors.inc();
        tracing::warn!(error = %err, "flushing bearer usage counts failed; retrying later");
        app.legacy.bearer_usage.restore(deltas);
    }
}

/// The store's share of legacy housekeeping (the lease holder's): prunes usage buckets nobody
/// will read again and recounts the console's 7-day traffic when the hour turns.
pub async fn housekeeping(app: &AppState, now: UnixSeconds) {
    // The report looks back 7 days (plus one bucket).
    if let Err(err) = app.store.prune_legacy_usage(now - 8 * 86_400).await {
        tracing::warn!(error = %err, "pruning legacy usage failed");
    }
    // The console's traffic order counts the last 7 days: recount it when the hour turns.
    let hour = now.div_euclid(3600);
    if app
        .legacy
        .traffic_recounted_hour
        .swap(hour, Ordering::Relaxed)
        != hour
    {
        let week_from = legacy_windows(now).week_from;
        if let Err(err) = app.store.refresh_legacy_traffic(week_from).await {
            tracing::warn!(error = %err, "recounting legacy traffic failed");
            app.legacy
                .traffic_recounted_hour
                .store(i64::MIN, Ordering::Relaxed);
        }
    }
    // The console's chart looks back 30 days (plus one).
    if let Err(err) = app.store.prune_daily_usage(now - 31 * 86_400).await {
        tracing::warn!(error = %err, "pruning daily usage failed");
    }
}
