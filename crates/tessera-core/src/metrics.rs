//! What the core counts for `/metrics`: plain atomic counters, bumped on the hot path with one
//! relaxed add and read by the HTTP layer when it is scraped (`tessera-http/src/metrics.rs`
//! names and exports them). No registry, no labels and no exporter here: the core stays free
//! of any metrics library.

use std::sync::atomic::{AtomicU64, Ordering};

/// One monotonic count.
#[derive(Debug, Default)]
pub struct Count(AtomicU64);

impl Count {
    pub fn inc(&self) {
        self.add(1);
    }

    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Lookups of one cache: answered from memory, or not.
#[derive(Debug, Default)]
pub struct HitMiss {
    pub hits: Count,
    pub misses: Count,
}

impl HitMiss {
    pub fn record(&self, hit: bool) {
        if hit {
            self.hits.inc()
        } else {
            self.misses.inc()
        }
    }
}

/// The upper bounds of [`BatchSizes`]' buckets: requests per batch.
pub const BATCH_BOUNDS: [u64; 8] = [1, 2, 4, 8, 16, 32, 64, 128];

/// How many requests each of a store's batches carried (a SQLite group commit, a PostgreSQL
/// batch statement): a histogram over [`BATCH_BOUNDS`], two relaxed adds per batch. It says
/// whether the batching works under the load at hand: batches of one mean each request
/// pays a commit of its own.
#[derive(Debug, Default)]
pub struct BatchSizes {
    /// Batches per bucket: those of at most `BATCH_BOUNDS[i]` requests and more than the
    /// bound before; the last, those past every bound.
    batches: [Count; BATCH_BOUNDS.len() + 1],
    requests: Count,
}

impl BatchSizes {
    pub fn record(&self, requests: usize) {
        let requests = requests as u64;
        let bucket = BATCH_BOUNDS
            .iter()
            .position(|bound| requests <= *bound)
            .unwrap_or(BATCH_BOUNDS.len());
        self.batches[bucket].inc();
        self.requests.add(requests);
    }

    /// Batches per bucket (not cumulative; the last past every bound), and the requests
    /// they carried in all.
    pub fn read(&self) -> ([u64; BATCH_BOUNDS.len() + 1], u64) {
        (
            std::array::from_fn(|i| self.batches[i].get()),
            self.requests.get(),
        )
    }
}

/// Security events the grants detect.
#[derive(Debug, Default)]
pub struct Counters {
    /// A spent refresh token presented again: its token set was revoked (RFC 9700 §4.14.2).
    pub refresh_reuse: Count,
    /// A spent refresh token presented again by a retry of the same request within the
    /// retry window: answered with the same token pair, nothing revoked.
    pub refresh_retry: Count,
    /// An authorization code presented twice: its tokens were revoked (RFC 6749 §4.1.2).
    pub code_reuse: Count,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_fall_in_the_bucket_of_the_least_bound_they_fit() {
        let sizes = BatchSizes::default();
        for requests in [1, 3, 4, 5, 128, 129, 500] {
            sizes.record(requests);
        }
        let (batches, requests) = sizes.read();
        assert_eq!(batches, [1, 0, 2, 1, 0, 0, 0, 1, 2]);
        assert_eq!(requests, 1 + 3 + 4 + 5 + 128 + 129 + 500);
    }

    #[test]
    fn hits_and_misses_are_counted_apart() {
        let h = HitMiss::default();
        h.record(true);
        h.record(false);
        h.record(false);
        assert_eq!((h.hits.get(), h.misses.get()), (1, 2));
    }
}
