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
        self.0.fetch_add(1, Ordering::Relaxed);
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
    fn hits_and_misses_are_counted_apart() {
        let h = HitMiss::default();
        h.record(true);
        h.record(false);
        h.record(false);
        assert_eq!((h.hits.get(), h.misses.get()), (1, 2));
    }
}
