//! Clients by id, loaded on first use, invalidated by the change feed, and trusted for
//! [`TTL_MS`] at most (a change made behind the feed's back, or a pruned feed position the
//! cursor has not reloaded yet, heals within that).

use std::sync::Arc;

use quick_cache::sync::Cache;

use super::guarded::GuardedCache;
use crate::domain::{Client, ClientId};
use crate::error::StoreError;
use crate::store::{ClientStore, LegacyStore, TokenSource};
use crate::UnixSeconds;

/// Clients kept at most: beyond, the coldest are read from the store again.
pub const CAPACITY: usize = 100_000;
/// How long a loaded client is used without reading it again.
pub const TTL_MS: i64 = 60_000;

pub struct ClientCache {
    map: GuardedCache<String, Arc<Client>>,
    /// When this process last wrote a client's token use to the store; invalidation leaves
    /// it (a recorded first token never reverts). Forgetting an entry costs one write.
    token_use: Cache<String, UnixSeconds>,
}

impl Default for ClientCache {
    fn default() -> Self {
        Self {
            map: GuardedCache::new(CAPACITY),
            token_use: Cache::new(CAPACITY),
        }
    }
}

impl ClientCache {
    /// The client with `id`, from memory or else from the store.
    pub async fn get(
        &self,
        id: &ClientId,
        store: &dyn ClientStore,
        now: UnixSeconds,
    ) -> Result<Option<Arc<Client>>, StoreError> {
        let now_ms = now.saturating_mul(1000);
        if let Some(c) = self.map.get(id.as_str(), now_ms) {
            return Ok(Some(c));
        }
        // Read before the store: an invalidation landing during the read voids the insert.
        let read_at = self.map.generation();
        let Some(client) = store.find_client(id).await? else {
            return Ok(None);
        };
        let client = Arc::new(client);
        self.map.insert(
            id.as_str().to_owned(),
            client.clone(),
            read_at,
            now_ms.saturating_add(TTL_MS),
        );
        Ok(Some(client))
    }

    /// How many lookups were answered from memory.
    pub fn stats(&self) -> &crate::metrics::HitMiss {
        self.map.stats()
    }

    /// Forgets a client so the next use reads it again.
    pub fn invalidate(&self, id: &str) {
        self.map.invalidate(id);
    }

    pub fn clear(&self) {
        self.map.clear();
    }

    /// Records that the client obtained a token: at once the first time (the legacy removal
    /// rule needs proof the replacement works), then at most once a minute per client and
    /// process, so "last used" costs the token endpoint almost no writes. A failed write is
    /// logged and retried on the next token, never fails the request.
    /// Throttled per source, so a test does not hide the first use by an integration.
    pub async fn record_token_use(
        &self,
        store: &dyn LegacyStore,
        id: &ClientId,
        source: TokenSource,
        now: UnixSeconds,
    ) {
        let key = format!("{id}\0{}", source.as_str());
        let fresh = self.token_use.get(&key).is_some_and(|at| now - at < 60);
        if fresh {
            return;
        }
        match store.record_token_use(id, source, now).await {
            Ok(()) => self.token_use.insert(key, now),
            Err(err) => {
                tracing::warn!(client_id = %id, error = %err, "recording a token use failed")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use async_trait::async_trait;

    use super::*;
    use crate::domain::{AccountId, ClientKind, ClientStatus, SecretHash, StoredSecret};
    use crate::store::StoreResult;
    use crate::testing::block_on;

    fn client(status: ClientStatus) -> Client {
        Client {
            id: ClientId::parse("cl_1").unwrap(),
            name: "test".into(),
            kind: ClientKind::Credential,
            account_id: Some(AccountId::parse("acct_1").unwrap()),
            grant_types: vec![],
            scopes: Default::default(),
            redirect_uris: vec![],
            status,
            public: false,
            approved: false,
            require_pkce: false,
            post_logout_redirect_uris: Vec::new(),
            require_par: false,
            jwks: None,
            dpop_bound: false,
            secrets: vec![],
            created_at: 0,
        }
    }

    /// Answers with the client as stored; on the first read, the client is revoked (and
    /// the change feed invalidates the cache) after the read and before the cache's insert.
    struct RevokedDuringFirstRead<'a> {
        cache: &'a ClientCache,
        reads: AtomicUsize,
    }

    #[async_trait]
    impl ClientStore for RevokedDuringFirstRead<'_> {
        async fn find_client(&self, _: &ClientId) -> StoreResult<Option<Client>> {
            if self.reads.fetch_add(1, Ordering::SeqCst) == 0 {
                self.cache.invalidate("cl_1");
                return Ok(Some(client(ClientStatus::Active)));
            }
            Ok(Some(client(ClientStatus::Revoked)))
        }
        async fn insert_clients(&self, _: &[Client]) -> StoreResult<()> {
            unimplemented!()
        }
        async fn record_client_assertion(
            &self,
            _: &ClientId,
            _: &str,
            _: UnixSeconds,
        ) -> StoreResult<bool> {
            unimplemented!()
        }
        async fn prune_client_assertions(&self, _: UnixSeconds) -> StoreResult<()> {
            unimplemented!()
        }
        async fn record_dpop_proof(&self, _: &SecretHash, _: UnixSeconds) -> StoreResult<bool> {
            unimplemented!()
        }
        async fn prune_dpop_proofs(&self, _: UnixSeconds) -> StoreResult<()> {
            unimplemented!()
        }
        async fn list_clients(&self, _: Option<&AccountId>) -> StoreResult<Vec<Client>> {
            unimplemented!()
        }
        async fn update_client_status(
            &self,
            _: &ClientId,
            _: ClientStatus,
            _: UnixSeconds,
        ) -> StoreResult<bool> {
            unimplemented!()
        }
        async fn insert_client_secret(
            &self,
            _: &ClientId,
            _: &StoredSecret,
            _: Option<UnixSeconds>,
            _: UnixSeconds,
        ) -> StoreResult<bool> {
            unimplemented!()
        }
        async fn update_client_approved(
            &self,
            _: &ClientId,
            _: bool,
            _: UnixSeconds,
        ) -> StoreResult<bool> {
            unimplemented!()
        }
        async fn update_client_require_pkce(
            &self,
            _: &ClientId,
            _: bool,
            _: UnixSeconds,
        ) -> StoreResult<bool> {
            unimplemented!()
        }
        async fn expire_older_client_secrets(
            &self,
            _: &ClientId,
            _: UnixSeconds,
        ) -> StoreResult<bool> {
            unimplemented!()
        }
    }

    fn status(cache: &ClientCache, store: &dyn ClientStore, now: UnixSeconds) -> ClientStatus {
        let id = ClientId::parse("cl_1").unwrap();
        block_on(cache.get(&id, store, now))
            .unwrap()
            .unwrap()
            .status
    }

    #[test]
    fn a_revocation_landing_during_the_store_read_is_not_cached_over() {
        let cache = ClientCache::default();
        let store = RevokedDuringFirstRead {
            cache: &cache,
            reads: AtomicUsize::new(0),
        };
        assert_eq!(status(&cache, &store, 0), ClientStatus::Active, "as read");
        assert_eq!(status(&cache, &store, 0), ClientStatus::Revoked);
        assert_eq!(store.reads.load(Ordering::SeqCst), 2);
        assert_eq!(status(&cache, &store, 1), ClientStatus::Revoked, "cached");
        assert_eq!(store.reads.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_cached_client_is_read_again_after_its_lifetime() {
        let cache = ClientCache::default();
        let store = RevokedDuringFirstRead {
            cache: &cache,
            reads: AtomicUsize::new(1),
        };
        status(&cache, &store, 0);
        status(&cache, &store, TTL_MS / 1000 - 1);
        assert_eq!(store.reads.load(Ordering::SeqCst), 2, "still cached");
        status(&cache, &store, TTL_MS / 1000);
        assert_eq!(store.reads.load(Ordering::SeqCst), 3, "expired: read again");
    }
}
