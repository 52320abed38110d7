//! Clients by id, loaded on first use and invalidated by the change feed.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::RwLock;

use crate::domain::{Client, ClientId};
use crate::error::StoreError;
use crate::store::{ClientStore, LegacyStore};
use crate::UnixSeconds;

#[derive(Default)]
pub struct ClientCache {
    map: RwLock<HashMap<String, Arc<Client>>>,
    /// When this process last wrote a client's token use to the store; invalidation leaves
    /// it (a recorded first token never reverts).
    token_use: RwLock<HashMap<String, UnixSeconds>>,
}

impl ClientCache {
    /// The client with `id`, from memory or else from the store.
    pub async fn get(
        &self,
        id: &ClientId,
        store: &dyn ClientStore,
    ) -> Result<Option<Arc<Client>>, StoreError> {
        if let Some(c) = self.map.read().get(id.as_str()) {
            return Ok(Some(c.clone()));
        }
        let Some(client) = store.find_client(id).await? else {
            return Ok(None);
        };
        let client = Arc::new(client);
        self.map
            .write()
            .insert(id.as_str().to_owned(), client.clone());
        Ok(Some(client))
    }

    /// Forgets a client so the next use reads it again.
    pub fn invalidate(&self, id: &str) {
        self.map.write().remove(id);
    }

    pub fn clear(&self) {
        self.map.write().clear();
    }

    /// Records that the client obtained a token: at once the first time (the legacy removal
    /// rule needs proof the replacement works), then at most once a minute per client and
    /// process, so "last used" costs the token endpoint almost no writes. A failed write is
    /// logged and retried on the next token, never fails the request.
    pub async fn record_token_use(&self, store: &dyn LegacyStore, id: &ClientId, now: UnixSeconds) {
        let fresh = self
            .token_use
            .read()
            .get(id.as_str())
            .is_some_and(|at| now - at < 60);
        if fresh {
            return;
        }
        match store.record_token_use(id, now).await {
            Ok(()) => {
                self.token_use.write().insert(id.as_str().to_owned(), now);
            }
            Err(err) => {
                tracing::warn!(client_id = %id, error = %err, "recording a token use failed")
            }
        }
    }
}
