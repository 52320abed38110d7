//! Revoked access tokens by `jti`, each remembered until the token would have expired.

use std::collections::HashMap;

use parking_lot::RwLock;

use crate::UnixSeconds;

#[derive(Default)]
pub struct RevokedTokens {
    map: RwLock<HashMap<String, UnixSeconds>>,
}

impl RevokedTokens {
    /// Remembers `jti` until `until`, the moment after which it is refused anyway:
    /// the token's own `exp`, or the bound the caller knows for it.
    pub fn insert(&self, jti: String, until: UnixSeconds) {
        self.map.write().insert(jti, until);
    }

    /// Remembers `jti` until `until` unless this process knows it already: the entry this
    /// process wrote itself when it revoked the token has the token's own `exp` and keeps
    /// it. (The feed's changes carry no expiry; the sync reads it from the store.)
    pub fn insert_if_absent(&self, jti: String, until: UnixSeconds) {
        self.map.write().entry(jti).or_insert(until);
    }

    pub fn contains(&self, jti: &str) -> bool {
        self.map.read().contains_key(jti)
    }

    /// Drops entries whose tokens have expired anyway, and gives back the room a burst
    /// left: the map holds about (rotations and revocations per second) × (token
    /// lifetime) entries, and a hash table keeps its largest size unless told otherwise.
    pub fn prune(&self, now: UnixSeconds) {
        let mut map = self.map.write();
        map.retain(|_, until| *until > now);
        if map.capacity() > SHRINK_ABOVE && map.len() < map.capacity() / 4 {
            let keep = map.len() * 2;
            map.shrink_to(keep);
        }
    }

    #[cfg(test)]
    fn capacity(&self) -> usize {
        self.map.read().capacity()
    }
}

/// Below this many slots a table is not worth shrinking.
const SHRINK_ABOVE: usize = 1024;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_feeds_bound_does_not_extend_a_known_expiry() {
        let revoked = RevokedTokens::default();
        revoked.insert("rotated".into(), 60);
        revoked.insert_if_absent("rotated".into(), 86_400);
        revoked.insert_if_absent("elsewhere".into(), 86_400);
        revoked.prune(61);
        assert!(!revoked.contains("rotated"), "gone once its token expired");
        assert!(revoked.contains("elsewhere"), "kept for the bound");
    }

    #[test]
    fn pruning_after_a_burst_gives_the_tables_room_back() {
        let revoked = RevokedTokens::default();
        for i in 0..20_000 {
            revoked.insert(format!("burst-{i}"), 10);
        }
        revoked.insert("live".into(), 100);
        let burst = revoked.capacity();
        assert!(burst >= 20_001);
        revoked.prune(50);
        assert!(revoked.contains("live") && !revoked.contains("burst-7"));
        assert!(
            revoked.capacity() < burst / 100,
            "{} slots kept",
            revoked.capacity()
        );
    }
}
