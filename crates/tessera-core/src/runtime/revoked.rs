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
