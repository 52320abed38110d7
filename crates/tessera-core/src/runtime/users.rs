//! Users by id, for the OpenID Connect hot paths (the ID token of each code exchange and
//! refresh, and every UserInfo call), so they do not read the user's two rows from the store
//! each time: loaded on first use and trusted for [`TTL_MS`] at most. Nothing changes a
//! user once created today; the expiry bounds how long a future change could go unseen,
//! and is the place to add a change-feed invalidation when users become editable.

use std::sync::Arc;

use super::guarded::GuardedCache;
use crate::domain::{User, UserId};
use crate::error::StoreError;
use crate::store::UserStore;
use crate::UnixSeconds;

/// Users kept at most: beyond, the coldest are read from the store again.
pub const CAPACITY: usize = 100_000;
/// How long a loaded user is used without reading it again.
pub const TTL_MS: i64 = 60_000;

pub struct UserCache {
    map: GuardedCache<String, Arc<User>>,
}

impl Default for UserCache {
    fn default() -> Self {
        Self {
            map: GuardedCache::new(CAPACITY),
        }
    }
}

impl UserCache {
    /// The user with `id`, from memory or else from the store.
    pub async fn get(
        &self,
        id: &UserId,
        store: &dyn UserStore,
        now: UnixSeconds,
    ) -> Result<Option<Arc<User>>, StoreError> {
        let now_ms = now.saturating_mul(1000);
        if let Some(user) = self.map.get(id.as_str(), now_ms) {
            return Ok(Some(user));
        }
        // Read before the store: an invalidation landing during the read voids the insert.
        let read_at = self.map.generation();
        let Some(user) = store.find_user(id).await? else {
            return Ok(None);
        };
        let user = Arc::new(user);
        self.map.insert(
            id.as_str().to_owned(),
            user.clone(),
            read_at,
            now_ms.saturating_add(TTL_MS),
        );
        Ok(Some(user))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{user, World};

    #[tokio::test]
    async fn a_user_is_read_once_then_again_after_the_ttl() {
        let world = World::new();
        let ada = user(&["acct_a"]);
        world.store.insert_user(&ada).await.unwrap();
        let cache = UserCache::default();
        let counts = |c: &UserCache| (c.map.stats().hits.get(), c.map.stats().misses.get());
        let first = cache.get(&ada.id, &world.store, 0).await.unwrap().unwrap();
        assert_eq!(first.email, ada.email);
        let unknown = UserId::parse("usr_nobody").unwrap();
        assert!(cache
            .get(&unknown, &world.store, 0)
            .await
            .unwrap()
            .is_none());
        assert_eq!(counts(&cache), (0, 2));
        cache.get(&ada.id, &world.store, 59).await.unwrap();
        assert_eq!(counts(&cache), (1, 2), "from memory");
        cache.get(&ada.id, &world.store, 60).await.unwrap();
        assert_eq!(counts(&cache), (1, 3), "expired at 60 s: read again");
    }
}
