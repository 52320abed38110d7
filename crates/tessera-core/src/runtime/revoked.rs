//! Revoked access tokens by `jti`, each remembered until the token would have expired.

use std::collections::HashMap;

use parking_lot::RwLock;

use crate::UnixSeconds;

#[derive(Default)]
pub struct RevokedTokens {
    map: RwLock<HashMap<String, UnixSeconds>>,
}

impl RevokedTokens {
    pub fn insert(&self, jti: String, until: UnixSeconds) {
        let mut map = self.map.write();
        let entry = map.entry(jti).or_insert(until);
        *entry = (*entry).max(until);
    }

    pub fn contains(&self, jti: &str) -> bool {
        self.map.read().contains_key(jti)
    }

    /// Drops entries whose tokens have expired anyway.
    pub fn prune(&self, now: UnixSeconds) {
        self.map.write().retain(|_, until| *until > now);
    }
}
