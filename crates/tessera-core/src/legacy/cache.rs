//! Recently verified Basic credentials, so argon2id (tens of milliseconds by design) runs
//! once per credential per few minutes instead of on every call.
//!
//! The key is HMAC-SHA256, under a random per-process key, of the email and the password:
//! the password itself is never kept, and without the process's key a memory dump of the
//! map is no offline oracle for guessing. Entries live `ttl_ms` at most, the map holds
//! `capacity` at most, and a change to a credential (the change feed) drops its entries.
//!
//! Concurrent misses of one key verify once: the others wait for that answer (then find it
//! cached) instead of each spending argon2id, and an attempt, on the same question.

use std::collections::HashMap;
use std::sync::Arc;

use aws_lc_rs::hmac;
use event_listener::{Event, EventListener};
use parking_lot::Mutex;

use super::credential::Email;
use crate::domain::password::Password;
use crate::domain::{AccountId, LegacyId};
use crate::runtime::guarded::{Generation, GuardedCache};
use crate::UnixSeconds;

/// Entries kept at most: far more than the legacy credentials a provider has.
pub const CAPACITY: usize = 10_000;
/// How long a verification is trusted without argon2id again. Short, so a credential
/// changed behind the change feed's back (a restored backup, manual SQL) heals quickly.
pub const TTL_MS: i64 = 120_000;

/// Who a verified Basic credential is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyIdentity {
    pub credential_id: LegacyId,
    pub account_id: AccountId,
    pub created_at: UnixSeconds,
}

pub struct VerificationCache {
    key: hmac::Key,
    map: GuardedCache<[u8; 32], LegacyIdentity>,
    ttl_ms: i64,
    /// Keys being verified now, each with the event its end fires.
    in_flight: Mutex<HashMap<[u8; 32], Arc<Event>>>,
}

/// The one verification of a key in flight; its end (drop) wakes the waiters.
pub struct Flight<'a> {
    cache: &'a VerificationCache,
    key: [u8; 32],
}

impl Drop for Flight<'_> {
    fn drop(&mut self) {
        if let Some(event) = self.cache.in_flight.lock().remove(&self.key) {
            event.notify(usize::MAX);
        }
    }
}

impl VerificationCache {
    pub fn new(key: [u8; 32], capacity: usize, ttl_ms: i64) -> Self {
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, &key),
            map: GuardedCache::new(capacity),
            ttl_ms,
            in_flight: Mutex::new(HashMap::new()),
        }
    }

    /// Starts the verification of `key`, or, when one is in flight, the listener that
    /// fires when it ends. The listener is registered under the lock the flight's end
    /// takes, so no end is missed.
    pub fn start_verifying(&self, key: [u8; 32]) -> Result<Flight<'_>, EventListener> {
        let mut in_flight = self.in_flight.lock();
        if let Some(event) = in_flight.get(&key) {
            return Err(event.listen());
        }
        in_flight.insert(key, Arc::new(Event::new()));
        Ok(Flight { cache: self, key })
    }

    /// The keyed hash; the email's length goes first so no (email, password) split of the
    /// same bytes collides with another.
    pub fn key_of(&self, email: &Email, password: &Password) -> [u8; 32] {
        let mut ctx = hmac::Context::with_key(&self.key);
        ctx.update(&(email.as_str().len() as u64).to_be_bytes());
        ctx.update(email.as_str().as_bytes());
        ctx.update(password.expose().as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(ctx.sign().as_ref());
        out
    }

    pub fn get(&self, key: &[u8; 32], now_ms: i64) -> Option<LegacyIdentity> {
        self.map.get(key, now_ms)
    }

    /// How many lookups found recently verified credentials.
    pub fn stats(&self) -> &crate::metrics::HitMiss {
        self.map.stats()
    }

    /// Read before the store; see [`GuardedCache`].
    pub fn generation(&self) -> Generation {
        self.map.generation()
    }

    /// Adds an entry unless an invalidation happened since `read_at`.
    pub fn insert(
        &self,
        key: [u8; 32],
        identity: LegacyIdentity,
        read_at: Generation,
        now_ms: i64,
    ) {
        self.map
            .insert(key, identity, read_at, now_ms.saturating_add(self.ttl_ms));
    }

    /// Drops every entry of the credential `id` (password changed, migrated, removed).
    pub fn invalidate(&self, id: &str) {
        self.map
            .invalidate_where(|identity| identity.credential_id.as_str() == id);
    }

    pub fn clear(&self) {
        self.map.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(id: &str) -> LegacyIdentity {
        LegacyIdentity {
            credential_id: LegacyId::parse(id).unwrap(),
            account_id: AccountId::parse("acct_a").unwrap(),
            created_at: 0,
        }
    }

    #[test]
    fn entries_expire_are_invalidated_and_stale_inserts_are_dropped() {
        let cache = VerificationCache::new([1; 32], 10, 1000);
        let email = Email::parse("a@b.c").unwrap();
        let key = cache.key_of(&email, &Password::from_request("pw-123456".into()));
        let other = cache.key_of(&email, &Password::from_request("pw-1234567".into()));
        assert_ne!(key, other);
        let generation = cache.generation();
        cache.insert(key, identity("lc_1"), generation, 0);
        assert_eq!(cache.get(&key, 999), Some(identity("lc_1")));
        assert_eq!(cache.get(&key, 1000), None);
        assert_eq!(cache.get(&other, 0), None);
        cache.invalidate("lc_1");
        assert_eq!(cache.get(&key, 1), None);
        cache.insert(key, identity("lc_1"), generation, 2);
        assert_eq!(cache.get(&key, 3), None, "read before the invalidation");
    }

    #[test]
    fn one_verification_per_key_at_a_time_and_its_end_wakes_the_waiters() {
        use std::future::Future;
        use std::pin::pin;
        use std::task::{Context, Poll, Waker};

        let cache = VerificationCache::new([1; 32], 10, 1000);
        let flight = cache.start_verifying([1; 32]).ok().unwrap();
        let mut waiting = pin!(cache.start_verifying([1; 32]).err().unwrap());
        let mut cx = Context::from_waker(Waker::noop());
        assert!(cache.start_verifying([2; 32]).is_ok(), "another key");
        assert!(waiting.as_mut().poll(&mut cx).is_pending());
        drop(flight);
        assert!(matches!(waiting.as_mut().poll(&mut cx), Poll::Ready(())));
        assert!(cache.start_verifying([1; 32]).is_ok(), "free again");
    }

    #[test]
    fn a_different_process_key_gives_different_keys() {
        let email = Email::parse("a@b.c").unwrap();
        let pw = Password::from_request("pw-123456".into());
        let a = VerificationCache::new([1; 32], 10, 1000).key_of(&email, &pw);
        let b = VerificationCache::new([2; 32], 10, 1000).key_of(&email, &pw);
        assert_ne!(a, b);
    }
}
