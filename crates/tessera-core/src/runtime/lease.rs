//! A process's claim on once-per-cluster work: every replica runs the same housekeeping
//! loop, and only the one holding the lease does the store's part of it (pruning, the
//! hourly recount, scheduled key rotation), so replicas neither repeat it nor race in it.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::random;
use crate::store::LeaseStore;
use crate::UnixSeconds;

pub struct Lease {
    name: &'static str,
    /// This process, as the lease row names it.
    holder: String,
    /// How long a taken lease lasts without renewal: a dead holder's work resumes
    /// elsewhere after at most this long.
    ttl: i64,
    held: AtomicBool,
}

impl Lease {
    pub fn new(name: &'static str, ttl: i64) -> Result<Self, random::RandomError> {
        Ok(Self {
            name,
            holder: random::token::<12>("proc_")?,
            ttl,
            held: AtomicBool::new(false),
        })
    }

    /// Takes or renews the lease at `now`; `false` when another replica holds it or the
    /// store cannot be reached (then the work waits: doing it twice is what the lease
    /// prevents).
    pub async fn hold(&self, store: &dyn LeaseStore, now: UnixSeconds) -> bool {
        let held = match store
            .acquire_lease(self.name, &self.holder, now + self.ttl, now)
            .await
        {
            Ok(held) => held,
            Err(err) => {
                tracing::warn!(lease = self.name, error = %err, "taking the lease failed");
                false
            }
        };
        if held != self.held.swap(held, Ordering::Relaxed) {
            tracing::info!(lease = self.name, held, "lease changed hands");
        }
        held
    }

    /// Gives the lease up (at shutdown), so another replica takes over at once.
    pub async fn release(&self, store: &dyn LeaseStore) {
        if !self.held.swap(false, Ordering::Relaxed) {
            return;
        }
        if let Err(err) = store.release_lease(self.name, &self.holder).await {
            tracing::warn!(lease = self.name, error = %err, "releasing the lease failed");
        }
    }

    /// Whether this process held the lease when it last asked.
    pub fn held(&self) -> bool {
        self.held.load(Ordering::Relaxed)
    }
}
