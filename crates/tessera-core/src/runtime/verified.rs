//! Tokens whose signature has already been verified, keyed by SHA-256 of the token text.
//!
//! Verifying an ES256 signature costs ~65 µs; a lookup well under one. The key is a
//! collision-resistant hash, so no other string can hit a cached token's entry. An entry
//! lives until the token expires; revocation is checked on every use, never cached. A new
//! keyring (rotation, retirement) drops every entry, and the generation guard keeps a
//! verification made with the old keyring from landing after that.

use std::sync::Arc;

use super::guarded::{Generation, GuardedCache};
use crate::domain::SecretHash;
use crate::token::jwt::AccessTokenClaims;
use crate::UnixSeconds;

pub struct VerifiedTokens {
    map: GuardedCache<SecretHash, Arc<AccessTokenClaims>>,
}

impl VerifiedTokens {
    pub fn new(capacity: usize) -> Self {
        Self {
            map: GuardedCache::new(capacity),
        }
    }

    /// The claims of a verified token that has not expired at `now`.
    pub fn get(&self, key: &SecretHash, now: UnixSeconds) -> Option<Arc<AccessTokenClaims>> {
        self.map.get(key, now.saturating_mul(1000))
    }

    /// How many lookups found an already verified token.
    pub fn stats(&self) -> &crate::metrics::HitMiss {
        self.map.stats()
    }

    /// Read before taking the keyring that verifies.
    pub fn generation(&self) -> Generation {
        self.map.generation()
    }

    pub fn insert(&self, key: SecretHash, claims: Arc<AccessTokenClaims>, read_at: Generation) {
        let expires_at_ms = claims.exp.saturating_mul(1000);
        self.map.insert(key, claims, read_at, expires_at_ms);
    }

    pub fn clear(&self) {
        self.map.clear();
    }
}
