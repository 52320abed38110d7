//! Background work of a server: following the change feed (revocations, client changes and
//! new keys made by the CLI or another replica reach this process within one poll
//! interval, and within milliseconds on PostgreSQL, whose notifications wake the reader),
//! pruning (the change feed, expired revocations, codes and sessions, refresh
//! retry answers, limiter keys), scheduled key rotation, and flushing legacy Basic usage counts.
//! What touches the store in housekeeping runs on one replica at a time: the holder of the
//! housekeeping lease (`tessera_core::runtime::lease`).

use std::sync::Arc;
use std::time::Duration;

use tessera_core::manage::keys::rotate_if_due;
use tessera_core::runtime::sync::{ChangeCursor, KeyReload, Polled};
use tokio::sync::{watch, Notify};

use crate::legacy;
use crate::state::AppState;

/// How often housekeeping runs, seconds.
const HOUSEKEEPING_INTERVAL: i64 = 60;

/// How long the housekeeping lease lasts unrenewed: three rounds, so one slow round does not
/// hand it over, and a dead holder's work resumes elsewhere within three minutes.
pub const HOUSEKEEPING_LEASE_TTL: i64 = 3 * HOUSEKEEPING_INTERVAL;

/// How long an expired authorization code is kept: a replay within it is still recognized
/// and revokes the tokens the code issued (RFC 6749 §4.1.2); after it, "invalid".
const CODE_KEPT_AFTER_EXPIRY: i64 = 86_400;

/// How long a spent refresh token is kept, and a revoked token set with its tokens, in
/// seconds: 30 days. Within it, presenting a spent token is detected as reuse and revokes
/// its set (RFC 9700 §4.14.2). The case that needs the detection is a thief who used the
/// token first: the legitimate client presents its own copy at its next refresh, which
/// comes long before 30 days. After it, the token is only unknown (`invalid_grant`
/// either way, so a late thief still gets nothing).
const REFRESH_TOKENS_KEPT: i64 = 30 * 86_400;

#[derive(Debug, Clone, Copy)]
pub struct SyncPolicy {
    /// How often the change feed is read; the bound on cross-process staleness.
    pub poll_interval: Duration,
    /// Rotate the signing key when the newest is older than this; `None`: never.
    pub rotation_interval: Option<i64>,
    /// How often legacy Basic usage counts go from memory to the store.
    pub usage_flush_interval: Duration,
}

/// Runs until `shutdown` turns true. `notifications` (PostgreSQL's `LISTEN`) wakes it to read
/// the feed at once, between polls.
pub async fn run(
    app: AppState,
    cursor_start: i64,
    policy: SyncPolicy,
    notifications: Option<Arc<Notify>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut cursor = ChangeCursor::after(cursor_start);
    let mut ticker = tokio::time::interval(policy.poll_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_housekeeping: Option<i64> = None;
    let mut last_flush = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            () = notified(notifications.as_deref()) => app.feed.notified.inc(),
            _ = shutdown.changed() => {
                // Counted requests would be lost with the process.
                let rows = legacy::flush_usage(&app).await;
                tracing::info!(rows, "legacy usage counts flushed");
                app.housekeeping.release(app.store.as_ref()).await;
                return;
            }
        }
        if last_flush.elapsed() >= policy.usage_flush_interval {
            last_flush = tokio::time::Instant::now();
            legacy::flush_usage(&app).await;
        }
        let reload = KeyReload {
            master: &app.master,
            max_token_ttl: app.tokens.max_ttl(),
        };
        let polled = cursor
            .poll(app.store.as_ref(), &app.caches, &reload, app.clock.now_ms())
            .await;
        // How far behind the feed's head this process is, for `/metrics`: known from the
        // read itself unless it filled a whole page.
        let latest = match polled {
            Ok(Polled {
                head: Some(head), ..
            }) => Ok(head),
            Ok(_) => app.store.latest_change_seq().await,
            Err(err) => Err(err),
        };
        match latest {
            Ok(latest) => app
                .feed
                .succeeded(app.clock.now_ms(), cursor.position(), latest),
            Err(err) => {
                app.feed.failed();
                tracing::warn!(error = %err, "reading the change feed failed; retrying");
            }
        }
        let now = app.clock.now();
        if last_housekeeping.is_none_or(|last| now - last >= HOUSEKEEPING_INTERVAL) {
            last_housekeeping = Some(now);
            housekeeping(&app, policy, now).await;
        }
    }
}

/// The next notification; never, without a listener.
async fn notified(notifications: Option<&Notify>) {
    match notifications {
        Some(n) => n.notified().await,
        None => std::future::pending().await,
    }
}

/// This process's memory, on every replica; the store's share, by the replica holding the
/// housekeeping lease only, so replicas neither repeat it nor race in it (two scheduled
/// rotations at once would make two keys).
async fn housekeeping(app: &AppState, policy: SyncPolicy, now: i64) {
    app.caches.prune(now);
    app.signin_limits.prune(now.saturating_mul(1000));
    app.user_code_limits.prune(now.saturating_mul(1000));
    app.dpop_replay.prune(now);
    app.rate_limits.prune(now.saturating_mul(1000));
    app.legacy.limiter.prune(now);
    if !app.housekeeping.hold(app.store.as_ref(), now).await {
        return;
    }
    legacy::housekeeping(app, now).await;
    if let Err(err) = app.store.prune_changes(now - 3600).await {
        tracing::warn!(error = %err, "pruning the change feed failed");
    }
    if let Err(err) = app.store.prune_revoked_tokens(now).await {
        tracing::warn!(error = %err, "pruning expired revocations failed");
    }
    if let Err(err) = app
        .store
        .prune_authorization_codes(now - CODE_KEPT_AFTER_EXPIRY)
        .await
    {
        tracing::warn!(error = %err, "pruning expired authorization codes failed");
    }
    if let Err(err) = app.store.prune_client_assertions(now).await {
        tracing::warn!(error = %err, "pruning expired client assertion ids failed");
    }
    if let Err(err) = app.store.prune_pushed_requests(now).await {
        tracing::warn!(error = %err, "pruning expired pushed authorization requests failed");
    }
    // An expired device code keeps answering `expired_token` for as long as codes are kept.
    if let Err(err) = app
        .store
        .prune_device_authorizations(now - CODE_KEPT_AFTER_EXPIRY)
        .await
    {
        tracing::warn!(error = %err, "pruning expired device authorizations failed");
    }
    if let Err(err) = app.store.prune_dpop_proofs(now).await {
        tracing::warn!(error = %err, "pruning expired DPoP proof ids failed");
    }
    // A retry answer is kept only for its window; the sealed pair goes with it.
    if let Err(err) = app
        .store
        .prune_refresh_retries(now - app.refresh.retry_window)
        .await
    {
        tracing::warn!(error = %err, "pruning refresh retry answers failed");
    }
    // A revoked set is kept at least as long as the caches may ask for it.
    let revoked_before = now - REFRESH_TOKENS_KEPT.max(app.tokens.max_ttl());
    match app
        .store
        .prune_refresh_tokens(now - REFRESH_TOKENS_KEPT, revoked_before)
        .await
    {
        Ok(0) => {}
        Ok(pruned) => tracing::info!(pruned, "deleted spent and revoked refresh tokens"),
        Err(err) => tracing::warn!(error = %err, "pruning spent refresh tokens failed"),
    }
    let sessions = &app.sessions;
    if let Err(err) = app
        .store
        .prune_sessions(now - sessions.idle_ttl, now - sessions.absolute_ttl)
        .await
    {
        tracing::warn!(error = %err, "pruning expired sessions failed");
    }
    if let Some(interval) = policy.rotation_interval {
        match rotate_if_due(app.store.as_ref(), &app.master, &app.keys, interval, now).await {
            Ok(Some(key)) => tracing::info!(kid = %key.kid, "scheduled key rotation"),
            Ok(None) => {}
            Err(err) => tracing::warn!(error = %err, "scheduled key rotation failed"),
        }
    }
}
