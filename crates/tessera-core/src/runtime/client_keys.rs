//! The public keys of `private_key_jwt` clients (RFC 7523 §2.2). A JWK Set registered
//! inline is parsed when it is used (a few microseconds); one registered by URL is fetched
//! through the server's [`JwksFetcher`] (with a timeout and a size cap, both the fetcher's),
//! kept for [`FRESH_FOR`] seconds, and fetched again early when an assertion names a `kid`
//! the cached set lacks (the client rotated its keys), at most once per [`REFETCH_AFTER`]
//! seconds, so a stream of made-up `kid`s cannot make Tessera hammer the client's server.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use parking_lot::RwLock;

use crate::domain::ClientKeys;
use crate::token::jwk::{parse_jwk_set, PublicJwk};
use crate::UnixSeconds;

/// How long a fetched JWK Set is used before it is fetched again, seconds.
pub const FRESH_FOR: i64 = 300;
/// The least time between two fetches of one URL, seconds.
pub const REFETCH_AFTER: i64 = 10;

/// Fetches a JWK Set document; implemented by the HTTP layer.
#[async_trait]
pub trait JwksFetcher: Send + Sync {
    /// The body of a `200` answer to `GET url`, or why there is none.
    async fn fetch(&self, url: &str) -> Result<String, String>;
}

struct Fetched {
    at: UnixSeconds,
    keys: Arc<Vec<PublicJwk>>,
}

#[derive(Default)]
pub struct ClientKeyCache {
    fetcher: Option<Arc<dyn JwksFetcher>>,
    by_url: RwLock<HashMap<String, Fetched>>,
}

impl ClientKeyCache {
    pub fn new(fetcher: Arc<dyn JwksFetcher>) -> Self {
        Self {
            fetcher: Some(fetcher),
            by_url: RwLock::default(),
        }
    }

    /// The usable keys of `keys`; for a URL, `wanted_kid` names the key the caller needs,
    /// and its absence from a cached set may fetch the set again.
    pub async fn keys(
        &self,
        keys: &ClientKeys,
        wanted_kid: Option<&str>,
        now: UnixSeconds,
    ) -> Result<Arc<Vec<PublicJwk>>, String> {
        let url = match keys {
            ClientKeys::Inline(set) => return parse_jwk_set(set).map(Arc::new),
            ClientKeys::Uri(url) => url,
        };
        let cached = self
            .by_url
            .read()
            .get(url)
            .map(|f| (f.at, Arc::clone(&f.keys)));
        if let Some((at, keys)) = cached {
            let has_kid =
                wanted_kid.is_none_or(|kid| keys.iter().any(|k| k.kid.as_deref() == Some(kid)));
            let fresh = now < at + FRESH_FOR;
            if (fresh && has_kid) || now < at + REFETCH_AFTER {
                return Ok(keys);
            }
        }
        let fetcher = self
            .fetcher
            .as_ref()
            .ok_or("this server cannot fetch JWK Sets")?;
        let document = fetcher.fetch(url).await?;
        let keys = Arc::new(parse_jwk_set(&document)?);
        self.by_url.write().insert(
            url.clone(),
            Fetched {
                at: now,
                keys: Arc::clone(&keys),
            },
        );
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use crate::token::keys::{self, Algorithm, Keyring};
    use crate::token::master_key::MasterKey;

    /// Serves one JWK Set, counting the fetches; `set` can be swapped (a key rotation).
    struct Served {
        set: RwLock<String>,
        fetches: AtomicUsize,
    }

    #[async_trait]
    impl JwksFetcher for Served {
        async fn fetch(&self, _: &str) -> Result<String, String> {
            self.fetches.fetch_add(1, Ordering::SeqCst);
            Ok(self.set.read().clone())
        }
    }

    fn jwks() -> String {
        let master = MasterKey::from_base64(&MasterKey::generate_base64().unwrap()).unwrap();
        let k = keys::generate(Algorithm::Es256, &master, 0, 0).unwrap();
        Keyring::from_stored(&[k], &master, 60)
            .unwrap()
            .jwks(0)
            .to_string()
    }

    #[tokio::test]
    async fn a_fetched_set_is_kept_and_fetched_again_when_stale_or_missing_a_kid() {
        let served = Arc::new(Served {
            set: RwLock::new(jwks()),
            fetches: AtomicUsize::new(0),
        });
        let cache = ClientKeyCache::new(served.clone());
        let uri = ClientKeys::Uri("https://rp.example/jwks".into());
        let first = cache.keys(&uri, None, 0).await.unwrap();
        let kid = first[0].kid.clone().unwrap();
        // The client rotated: an unknown kid fetches again, but not within 10 s.
        *served.set.write() = jwks();
        let stale = cache.keys(&uri, Some("new-kid"), 5).await.unwrap();
        assert_eq!(
            served.fetches.load(Ordering::SeqCst),
            1,
            "too soon to fetch again"
        );
        assert_eq!(stale[0].kid.as_deref(), Some(kid.as_str()));
        let rotated = cache.keys(&uri, Some("new-kid"), 11).await.unwrap();
        assert_eq!(served.fetches.load(Ordering::SeqCst), 2);
        let new_kid = rotated[0].kid.clone().unwrap();
        assert_ne!(new_kid, kid);
        cache.keys(&uri, Some(&new_kid), 100).await.unwrap();
        assert_eq!(served.fetches.load(Ordering::SeqCst), 2, "cached");
        // Stale after FRESH_FOR seconds.
        cache.keys(&uri, None, 11 + FRESH_FOR).await.unwrap();
        assert_eq!(served.fetches.load(Ordering::SeqCst), 3);
        // Without a fetcher, only inline sets work.
        let none = ClientKeyCache::default();
        assert!(none.keys(&uri, None, 0).await.is_err());
        let inline = ClientKeys::Inline(jwks());
        assert_eq!(none.keys(&inline, None, 0).await.unwrap().len(), 1);
    }
}
