//! API accounts by id — their names and external ids — for the gateway's `Tessera-Account`
//! header and the sample API, so a proxied request never reads the store for them: loaded
//! on first use, dropped by the change feed when an account is renamed or its external id
//! changes, and trusted for [`TTL_MS`] at most (like clients).

use std::sync::Arc;

use super::guarded::GuardedCache;
use crate::domain::{Account, AccountId};
use crate::error::StoreError;
use crate::store::AccountStore;
use crate::UnixSeconds;

/// Accounts kept at most: beyond, the coldest are read from the store again.
pub const CAPACITY: usize = 100_000;
/// How long a loaded account is used without reading it again.
pub const TTL_MS: i64 = 60_000;

pub struct AccountCache {
    map: GuardedCache<String, Arc<Account>>,
}

impl Default for AccountCache {
    fn default() -> Self {
        Self::new(CAPACITY)
    }
}

impl AccountCache {
    pub fn new(capacity: usize) -> Self {
        Self {
            map: GuardedCache::new(capacity),
        }
    }

    /// The account with `id`, from memory or else from the store.
    pub async fn get(
        &self,
        id: &AccountId,
        store: &dyn AccountStore,
        now: UnixSeconds,
    ) -> Result<Option<Arc<Account>>, StoreError> {
        let now_ms = now.saturating_mul(1000);
        if let Some(a) = self.map.get(id.as_str(), now_ms) {
            return Ok(Some(a));
        }
        // Read before the store: an invalidation landing during the read voids the insert.
        let read_at = self.map.generation();
        let Some(account) = store.find_account(id).await? else {
            return Ok(None);
        };
        let account = Arc::new(account);
        self.map.insert(
            id.as_str().to_owned(),
            account.clone(),
            read_at,
            now_ms.saturating_add(TTL_MS),
        );
        Ok(Some(account))
    }

    /// Forgets an account so the next use reads it again.
    pub fn invalidate(&self, id: &str) {
        self.map.invalidate(id);
    }

    pub fn clear(&self) {
        self.map.clear();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::sync::atomic::{AtomicUsize, Ordering};

    use async_trait::async_trait;

    use super::*;
    use crate::domain::ExternalId;
    use crate::store::{AccountUpdate, StoreResult};
    use crate::testing::block_on;

    /// One account whose external id is `ext-<n>` on the n-th read; on the first read the
    /// change feed invalidates the cache after the read and before the cache's insert.
    struct ChangedDuringFirstRead<'a> {
        cache: &'a AccountCache,
        reads: AtomicUsize,
    }

    #[async_trait]
    impl AccountStore for ChangedDuringFirstRead<'_> {
        async fn find_account(&self, id: &AccountId) -> StoreResult<Option<Account>> {
            let n = self.reads.fetch_add(1, Ordering::SeqCst);
            if n == 0 {
                self.cache.invalidate(id.as_str());
            }
            Ok(Some(Account {
                id: id.clone(),
                name: "Acme".into(),
                external_id: Some(ExternalId::parse(&format!("ext-{n}")).unwrap()),
                created_at: 0,
            }))
        }
        async fn insert_account(&self, _: &Account) -> StoreResult<bool> {
            unimplemented!()
        }
        async fn find_account_by_external_id(
            &self,
            _: &ExternalId,
        ) -> StoreResult<Option<Account>> {
            unimplemented!()
        }
        async fn find_accounts(&self, _: &[AccountId]) -> StoreResult<Vec<Account>> {
            unimplemented!()
        }
        async fn find_accounts_by_external_ids(
            &self,
            _: &[ExternalId],
        ) -> StoreResult<Vec<Account>> {
            unimplemented!()
        }
        async fn list_accounts(&self) -> StoreResult<Vec<Account>> {
            unimplemented!()
        }
        async fn update_account(&self, _: &Account, _: UnixSeconds) -> StoreResult<AccountUpdate> {
            unimplemented!()
        }
        async fn import_accounts(
            &self,
            _: &[Account],
            _: &[Account],
            _: UnixSeconds,
        ) -> StoreResult<bool> {
            unimplemented!()
        }
    }

    fn upstream_id(cache: &AccountCache, store: &dyn AccountStore, now: UnixSeconds) -> String {
        let id = AccountId::parse("acct_1").unwrap();
        block_on(cache.get(&id, store, now))
            .unwrap()
            .unwrap()
            .upstream_id()
            .to_owned()
    }

    #[test]
    fn a_change_landing_during_the_store_read_is_not_cached_over() {
        let cache = AccountCache::default();
        let store = ChangedDuringFirstRead {
            cache: &cache,
            reads: AtomicUsize::new(0),
        };
        assert_eq!(upstream_id(&cache, &store, 0), "ext-0", "as read");
        assert_eq!(upstream_id(&cache, &store, 0), "ext-1", "read again");
        assert_eq!(upstream_id(&cache, &store, 1), "ext-1", "cached");
        assert_eq!(store.reads.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn an_invalidated_account_is_read_again_and_a_cached_one_expires() {
        let cache = AccountCache::default();
        let store = ChangedDuringFirstRead {
            cache: &cache,
            reads: AtomicUsize::new(1),
        };
        assert_eq!(upstream_id(&cache, &store, 0), "ext-1");
        cache.invalidate("acct_1");
        assert_eq!(upstream_id(&cache, &store, 0), "ext-2");
        assert_eq!(upstream_id(&cache, &store, TTL_MS / 1000 - 1), "ext-2");
        assert_eq!(
            upstream_id(&cache, &store, TTL_MS / 1000),
            "ext-3",
            "expired"
        );
    }
}
