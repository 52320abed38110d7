//! Clients by id, loaded on first use and invalidated by the change feed.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use parking_lot::RwLock;

use crate::domain::{Client, ClientId};
use crate::error::StoreError;
use crate::store::{ClientStore, LegacyStore};
use crate::UnixSeconds;

#[derive(Default)]
pub struct ClientCache {
    map: RwLock<HashMap<String, Arc<Client>>>,
    /// Clients whose first token is known to be recorded in the store: a fact that never
    /// reverts, so invalidation leaves it, and the token endpoint writes at most once per
    /// client and process.
    first_token: RwLock<HashSet<String>>,
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

    /// Marks that the client has obtained a token (the legacy removal rule needs proof the
    /// replacement works). One store write per client and process, then memory only; a
    /// failed write is logged and retried on the next token, never fails the request.
    pub async fn record_first_token(
        &self,
        store: &dyn LegacyStore,
        id: &ClientId,
        now: UnixSeconds,
    ) {
        if self.first_token.read().contains(id.as_str()) {
            return;
        }
        match store.record_first_token(id, now).await {
            Ok(()) => {
                self.first_token.write().insert(id.as_str().to_owned());
            }
            Err(err) => {
                tracing::warn!(client_id = %id, error = %err, "recording the first token failed")
            }
        }
    }
}
