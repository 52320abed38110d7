//! In-memory state a server keeps so the hot paths need no database round trip: clients,
//! accounts, the keyring, the scope catalog, revoked tokens, already verified tokens and
//! legacy credentials. [`sync`] keeps it consistent with the store through the change feed;
//! every cache of store answers is a [`GuardedCache`].

pub mod accounts;
pub mod client_keys;
pub mod clients;
pub mod endpoint_limits;
pub mod guarded;
pub mod lease;
pub mod rate_limit;
mod revoked;
pub mod sync;
pub mod users;
mod verified;

use std::sync::Arc;

use parking_lot::RwLock;

pub use accounts::AccountCache;
pub use client_keys::{ClientKeyCache, JwksFetcher};
pub use clients::ClientCache;
pub use revoked::RevokedTokens;
pub use users::UserCache;
pub use verified::VerifiedTokens;

use crate::domain::ScopeSet;
use crate::legacy::cache::VerificationCache;
use crate::metrics::Counters;
use crate::token::keys::Keyring;
use crate::UnixSeconds;

pub struct Caches {
    pub clients: ClientCache,
    /// The public keys of `private_key_jwt` clients registered by URL.
    pub client_keys: ClientKeyCache,
    /// API accounts (names, external ids) for the gateway and the sample API.
    pub accounts: AccountCache,
    /// Users, for ID tokens and UserInfo.
    pub users: UserCache,
    pub revoked: RevokedTokens,
    /// Revoked token sets by id: their access tokens (claim `sid`) are refused.
    pub revoked_sets: RevokedTokens,
    pub verified: VerifiedTokens,
    /// Recently verified legacy Basic credentials.
    pub legacy: VerificationCache,
    /// Reuse detections, counted for `/metrics`.
    pub counters: Counters,
    keyring: RwLock<Arc<Keyring>>,
    /// The scope catalog's names: what the metadata document lists and what a legacy Basic
    /// caller may do. Empty until [`sync::load_all`] fills it.
    scopes: RwLock<Arc<ScopeSet>>,
}

impl Caches {
    pub fn new(keyring: Keyring, verified_capacity: usize, legacy: VerificationCache) -> Self {
        Self {
            clients: ClientCache::default(),
            client_keys: ClientKeyCache::default(),
            accounts: AccountCache::default(),
            users: UserCache::default(),
            revoked: RevokedTokens::default(),
            revoked_sets: RevokedTokens::default(),
            verified: VerifiedTokens::new(verified_capacity),
            legacy,
            counters: Counters::default(),
            keyring: RwLock::new(Arc::new(keyring)),
            scopes: RwLock::new(Arc::new(ScopeSet::default())),
        }
    }

    /// The same caches, fetching the JWK Sets of `private_key_jwt` clients through
    /// `fetcher` (without one, only keys registered inline can be used).
    pub fn with_jwks_fetcher(mut self, fetcher: Arc<dyn JwksFetcher>) -> Self {
        self.client_keys = ClientKeyCache::new(fetcher);
        self
    }

    pub fn keyring(&self) -> Arc<Keyring> {
        self.keyring.read().clone()
    }

    pub fn scopes(&self) -> Arc<ScopeSet> {
        self.scopes.read().clone()
    }

    pub fn set_scopes(&self, scopes: ScopeSet) {
        *self.scopes.write() = Arc::new(scopes);
    }

    /// Remembers that a token set is revoked, so this process refuses its access tokens at
    /// once, for as long as any of them can live (`max_token_ttl` from `now`).
    pub fn remember_revoked_set(&self, id: &str, now: UnixSeconds, max_token_ttl: i64) {
        self.revoked_sets.insert(id.to_owned(), now + max_token_ttl);
    }

    /// Replaces the keyring and forgets every verified token: a token verified under a key
    /// that is now retired must be refused, not served from the cache.
    pub fn set_keyring(&self, keyring: Keyring) {
        *self.keyring.write() = Arc::new(keyring);
        self.verified.clear();
    }

    /// Forgets revocations of tokens (and token sets) that have expired by `now` anyway.
    pub fn prune(&self, now: UnixSeconds) {
        self.revoked.prune(now);
        self.revoked_sets.prune(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::master_key::MasterKey;

    #[test]
    fn pruning_forgets_expired_token_and_token_set_revocations_only() {
        let master = MasterKey::from_bytes(&[7; 32]).unwrap();
        let caches = Caches::new(
            Keyring::from_stored(&[], &master, 60).unwrap(),
            10,
            VerificationCache::new([1; 32], 10, 1_000),
        );
        caches.revoked.insert("old".into(), 10);
        caches.revoked.insert("live".into(), 11);
        caches.revoked_sets.insert("old_set".into(), 10);
        caches.revoked_sets.insert("live_set".into(), 11);
        caches.prune(10);
        assert!(!caches.revoked.contains("old"));
        assert!(caches.revoked.contains("live"));
        assert!(!caches.revoked_sets.contains("old_set"));
        assert!(caches.revoked_sets.contains("live_set"));
    }
}
