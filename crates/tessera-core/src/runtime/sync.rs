//! Applying the store's change feed to the in-memory caches.
//!
//! Sequence numbers can commit out of order on PostgreSQL (a transaction that took seq 7
//! may commit after one that took seq 8), so the cursor does not simply remember the
//! highest seq seen: it keeps a watermark below which everything has been applied, applies
//! what it finds above it once, and steps over a hole only after `GAP_TIMEOUT_MS` (a
//! rolled-back transaction leaves a hole forever).
//!
//! The feed is pruned after an hour. A cursor that fell behind further than that (a paused
//! or partitioned replica) would miss revocations, so when the oldest change left is past
//! its position it reloads every cache from the store instead ([`load_all`]).

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicI64, Ordering};

use crate::error::StoreError;
use crate::metrics::Count;
use crate::runtime::Caches;
use crate::store::{Change, ChangeKind, Store};
use crate::token::keys::Keyring;
use crate::token::master_key::MasterKey;
use crate::UnixSeconds;

const GAP_TIMEOUT_MS: i64 = 10_000;
const BATCH: i64 = 1_000;

pub struct ChangeCursor {
    watermark: i64,
    applied_above: BTreeSet<i64>,
    gap_seen_at_ms: Option<i64>,
}

impl ChangeCursor {
    /// Starts after `seq`: the caches were loaded after that change was committed.
    pub fn after(seq: i64) -> Self {
        Self {
            watermark: seq,
            applied_above: BTreeSet::new(),
            gap_seen_at_ms: None,
        }
    }

    /// Reads new changes and applies them.
    pub async fn poll(
        &mut self,
        store: &dyn Store,
        caches: &Caches,
        reload: &KeyReload<'_>,
        now_ms: i64,
    ) -> Result<Polled, StoreError> {
        let changes = store.list_changes_after(self.watermark, BATCH).await?;
        // A page that was not full ends at the feed's head as of this read.
        let head = (changes.len() < BATCH as usize).then(|| {
            changes
                .iter()
                .map(|c| c.seq)
                .max()
                .unwrap_or(self.watermark)
                .max(self.watermark)
        });
        if self.pruned_past(store.oldest_change_seq().await?) {
            tracing::warn!(
                position = self.watermark,
                "the change feed was pruned past this server's position; reloading every cache"
            );
            let seq = load_all(store, caches, reload, now_ms.div_euclid(1000)).await?;
            *self = Self::after(seq);
            return Ok(Polled {
                applied: 0,
                head: Some(seq),
            });
        }
        let mut fresh = Vec::new();
        for change in changes {
            if self.applied_above.insert(change.seq) {
                fresh.push(change);
            }
        }
        apply(&fresh, store, caches, reload, now_ms / 1000).await?;
        self.advance(now_ms);
        Ok(Polled {
            applied: fresh.len(),
            head,
        })
    }

    /// The seq below which every change has been applied.
    pub fn position(&self) -> i64 {
        self.watermark
    }

    /// Whether changes right after the watermark may have been pruned unread: the oldest
    /// change left (0: none) is past the next one this cursor expects. The store keeps its
    /// newest change when pruning, so an empty feed means nothing was ever recorded.
    fn pruned_past(&self, oldest: i64) -> bool {
        oldest > self.watermark + 1
    }

    fn advance(&mut self, now_ms: i64) {
        loop {
            while self.applied_above.remove(&(self.watermark + 1)) {
                self.watermark += 1;
            }
            if self.applied_above.is_empty() {
                self.gap_seen_at_ms = None;
                return;
            }
            let since = *self.gap_seen_at_ms.get_or_insert(now_ms);
            if now_ms - since < GAP_TIMEOUT_MS {
                return;
            }
            self.watermark += 1;
            self.gap_seen_at_ms = None;
        }
    }
}

/// How well this process follows the feed, for `/readyz` and `/metrics`: written by the
/// sync task after each poll, read by any request.
#[derive(Debug)]
pub struct FeedStatus {
    last_success_ms: AtomicI64,
    behind: AtomicI64,
    /// Polls that failed (the store unreachable, a change that could not be applied).
    pub errors: Count,
    /// Reads started by a notification of the store (PostgreSQL `NOTIFY`), not the poll.
    pub notified: Count,
}

impl FeedStatus {
    /// The caches were loaded at `now_ms`: as good as a successful poll.
    pub fn new(now_ms: i64) -> Self {
        Self {
            last_success_ms: AtomicI64::new(now_ms),
            behind: AtomicI64::new(0),
            errors: Count::default(),
            notified: Count::default(),
        }
    }

    /// A poll at `now_ms` applied the feed up to `position`; the newest change is `latest`.
    pub fn succeeded(&self, now_ms: i64, position: i64, latest: i64) {
        self.last_success_ms.store(now_ms, Ordering::Relaxed);
        self.behind
            .store(latest.saturating_sub(position).max(0), Ordering::Relaxed);
    }

    pub fn failed(&self) {
        self.errors.inc();
    }

    /// Milliseconds since the last successful poll.
    pub fn lag_ms(&self, now_ms: i64) -> i64 {
        now_ms
            .saturating_sub(self.last_success_ms.load(Ordering::Relaxed))
            .max(0)
    }

    /// Changes committed but not yet applied here, as of the last successful poll.
    pub fn behind(&self) -> i64 {
        self.behind.load(Ordering::Relaxed)
    }

    /// Whether the last successful poll is older than `bound_ms`: this process may be
    /// serving revoked tokens and stale clients, so it should take no traffic.
    pub fn lagging(&self, now_ms: i64, bound_ms: i64) -> bool {
        self.lag_ms(now_ms) > bound_ms
    }
}

/// What one read of the feed did.
#[derive(Debug, Clone, Copy)]
pub struct Polled {
    /// Changes applied.
    pub applied: usize,
    /// The newest `seq` in the feed as of the read, when the read saw it (a page short of
    /// the batch size reaches the head); `None`: ask the store.
    pub head: Option<i64>,
}

/// What rebuilding the keyring needs.
pub struct KeyReload<'a> {
    pub master: &'a MasterKey,
    pub max_token_ttl: i64,
}

/// Revoked jtis looked up in one query.
const REVOKED_LOOKUP_CHUNK: usize = 500;

async fn apply(
    changes: &[Change],
    store: &dyn Store,
    caches: &Caches,
    reload: &KeyReload<'_>,
    now: UnixSeconds,
) -> Result<(), StoreError> {
    let mut keys_changed = false;
    let mut scopes_changed = false;
    let mut revoked = Vec::new();
    for change in changes {
        match change.kind {
            ChangeKind::Client => caches.clients.invalidate(&change.subject),
            // One this process revoked itself is known with its `exp` already.
            ChangeKind::RevokedToken if !caches.revoked.contains(&change.subject) => {
                revoked.push(change.subject.clone())
            }
            ChangeKind::RevokedToken => {}
            ChangeKind::TokenSet => {
                caches.remember_revoked_set(&change.subject, now, reload.max_token_ttl)
            }
            ChangeKind::SigningKey => keys_changed = true,
            ChangeKind::LegacyCredential => caches.legacy.invalidate(&change.subject),
            ChangeKind::Account => caches.accounts.invalidate(&change.subject),
            ChangeKind::Scope => scopes_changed = true,
            // Written by a newer version during a rolling upgrade: nothing this version
            // caches can depend on it. The cursor moves past it with the rest.
            ChangeKind::Unrecognized => {
                tracing::debug!(
                    seq = change.seq,
                    "skipped a change of a kind this version does not know"
                )
            }
        }
    }
    remember_revoked(store, caches, revoked).await?;
    if keys_changed {
        reload_keyring(store, caches, reload).await?;
    }
    if scopes_changed {
        reload_scopes(store, caches).await?;
    }
    Ok(())
}

/// Remembers tokens another process revoked until they expire, as the store has it: each
/// rotation anywhere revokes an access token, and keeping them all for the longest token
/// lifetime instead would hold (rotations per second × a day) entries on every replica. A
/// jti the store no longer holds was pruned because its token expired: nothing to refuse.
async fn remember_revoked(
    store: &dyn Store,
    caches: &Caches,
    jtis: Vec<String>,
) -> Result<(), StoreError> {
    for chunk in jtis.chunks(REVOKED_LOOKUP_CHUNK) {
        for (jti, expires_at) in store.revoked_token_expiries(chunk).await? {
            caches.revoked.insert_if_absent(jti, expires_at);
        }
    }
    Ok(())
}

/// Fills every cache from the store (at start, and when the cursor's position was pruned);
/// returns the feed position to follow from. The position is read first: whatever changes
/// after it is replayed, so nothing committed while loading is missed.
pub async fn load_all(
    store: &dyn Store,
    caches: &Caches,
    reload: &KeyReload<'_>,
    now: UnixSeconds,
) -> Result<i64, StoreError> {
    let seq = store.latest_change_seq().await?;
    caches.clients.clear();
    caches.accounts.clear();
    caches.legacy.clear();
    reload_keyring(store, caches, reload).await?;
    reload_scopes(store, caches).await?;
    for (jti, until) in store.list_revoked_tokens(now).await? {
        caches.revoked.insert(jti, until);
    }
    let ttl = reload.max_token_ttl;
    for set in store.list_revoked_token_sets(now - ttl).await? {
        caches.remember_revoked_set(set.as_str(), now, ttl);
    }
    Ok(seq)
}

pub async fn reload_keyring(
    store: &dyn Store,
    caches: &Caches,
    reload: &KeyReload<'_>,
) -> Result<(), StoreError> {
    let stored = store.list_signing_keys().await?;
    let ring = Keyring::from_stored(&stored, reload.master, reload.max_token_ttl)
        .map_err(StoreError::new)?;
    caches.set_keyring(ring);
    Ok(())
}

/// Reads the scope catalog's names into the cache.
pub async fn reload_scopes(store: &dyn Store, caches: &Caches) -> Result<(), StoreError> {
    let names = store.list_scopes().await?.into_iter().map(|s| s.name);
    caches.set_scopes(names.collect());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_waits_for_a_hole_then_steps_over_it() {
        let mut c = ChangeCursor::after(5);
        c.applied_above.extend([7, 8]);
        c.advance(0);
        assert_eq!(c.watermark, 5, "seq 6 may still commit");
        c.applied_above.insert(6);
        c.advance(1);
        assert_eq!(c.watermark, 8);
        c.applied_above.insert(10);
        c.advance(2);
        assert_eq!(c.watermark, 8);
        c.advance(2 + GAP_TIMEOUT_MS);
        assert_eq!(c.watermark, 10, "a hole older than the timeout is skipped");
    }

    #[test]
    fn the_feed_lags_once_no_poll_succeeded_within_the_bound() {
        let status = FeedStatus::new(1_000);
        assert!(!status.lagging(3_000, 2_000), "exactly at the bound");
        assert!(status.lagging(3_001, 2_000));
        status.succeeded(3_001, 40, 45);
        assert_eq!((status.lag_ms(3_500), status.behind()), (499, 5));
        assert!(!status.lagging(3_500, 2_000));
        status.failed();
        assert_eq!(status.errors.get(), 1);
        assert_eq!(status.lag_ms(0), 0, "a clock set back is no lag");
    }

    #[tokio::test]
    async fn tokens_revoked_elsewhere_are_kept_until_their_own_expiry() {
        use crate::store::RevocationStore;
        let world = crate::testing::World::new();
        world
            .store
            .insert_revoked_token("jti-a", 1_100, 1_000)
            .await
            .unwrap();
        let jtis = vec!["jti-a".to_owned(), "jti-pruned".to_owned()];
        remember_revoked(&world.store, &world.caches, jtis)
            .await
            .unwrap();
        assert!(world.caches.revoked.contains("jti-a"));
        assert!(
            !world.caches.revoked.contains("jti-pruned"),
            "a pruned revocation's token has expired"
        );
        world.caches.revoked.prune(1_099);
        assert!(world.caches.revoked.contains("jti-a"));
        world.caches.revoked.prune(1_100);
        assert!(
            !world.caches.revoked.contains("jti-a"),
            "gone at the token's own expiry, not the longest lifetime later"
        );
    }

    #[test]
    fn a_position_pruned_from_the_feed_is_noticed() {
        let c = ChangeCursor::after(5);
        assert!(!c.pruned_past(0), "nothing recorded yet");
        assert!(!c.pruned_past(3), "the cursor's past is still there");
        assert!(!c.pruned_past(6), "the next change is still there");
        assert!(c.pruned_past(7), "seq 6 may have been pruned unread");
    }
}
