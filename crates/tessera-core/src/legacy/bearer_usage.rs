//! Counting Bearer requests per client and day, for the migration console's chart (Basic
//! requests against the Bearer requests of migrated clients). Like the Basic usage
//! counter, nothing is written on the request path: counts accumulate in memory and the
//! background task flushes them in one batch. The counter is sharded by client id, so
//! concurrent requests rarely wait on the same lock, and a request of a client already
//! counted today allocates nothing.

use std::collections::HashMap;

use parking_lot::Mutex;

use crate::domain::ClientId;
use crate::UnixSeconds;

/// A day, in seconds; days start at 00:00 UTC.
pub const DAY_SECONDS: i64 = 86_400;
const SHARDS: usize = 16;

/// Bearer requests of one client in one day, not yet in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BearerUsageDelta {
    pub client_id: ClientId,
    pub day_start: UnixSeconds,
    pub count: i64,
}

/// The requests of one day, as the console's chart reads them back.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DailyUsage {
    pub day_start: UnixSeconds,
    /// Basic requests of every legacy credential.
    pub basic: i64,
    /// Bearer requests of the clients that migrated credentials.
    pub bearer: i64,
}

/// The start (00:00 UTC) of the day holding `t`.
pub fn day_start(t: UnixSeconds) -> UnixSeconds {
    t - t.rem_euclid(DAY_SECONDS)
}

type Shard = HashMap<UnixSeconds, HashMap<Box<str>, i64>>;

pub struct BearerUsageCounter {
    shards: [Mutex<Shard>; SHARDS],
}

impl Default for BearerUsageCounter {
    fn default() -> Self {
        Self {
            shards: std::array::from_fn(|_| Mutex::new(HashMap::new())),
        }
    }
}

/// FNV-1a over the id's bytes: cheap, and client ids are random enough to spread.
fn shard_of(client: &str) -> usize {
    let hash = client.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    // The remainder is below SHARDS, so it fits.
    (hash % SHARDS as u64) as usize
}

impl BearerUsageCounter {
    /// Counts one request of `client` (a verified token's `client_id`) at `now`.
    pub fn record(&self, client: &str, now: UnixSeconds) {
        let day = day_start(now);
        let mut shard = self.shards[shard_of(client)].lock();
        let clients = shard.entry(day).or_default();
        match clients.get_mut(client) {
            Some(count) => *count += 1,
            None => {
                clients.insert(client.into(), 1);
            }
        }
    }

    /// Everything counted since the last take. An id that is not a client id (no token
    /// of ours carries one) is dropped.
    pub fn take(&self) -> Vec<BearerUsageDelta> {
        let mut out = Vec::new();
        for shard in &self.shards {
            let drained = std::mem::take(&mut *shard.lock());
            for (day_start, clients) in drained {
                for (client, count) in clients {
                    if let Some(client_id) = ClientId::parse(&client) {
                        out.push(BearerUsageDelta {
                            client_id,
                            day_start,
                            count,
                        });
                    }
                }
            }
        }
        out
    }

    /// Puts back deltas a failed flush could not write, so no request goes uncounted.
    pub fn restore(&self, deltas: Vec<BearerUsageDelta>) {
        for d in deltas {
            let mut shard = self.shards[shard_of(d.client_id.as_str())].lock();
            *shard
                .entry(d.day_start)
                .or_default()
                .entry(d.client_id.as_str().into())
                .or_insert(0) += d.count;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn sorted(mut d: Vec<BearerUsageDelta>) -> Vec<(String, i64, i64)> {
        d.sort_by(|a, b| (&a.client_id, a.day_start).cmp(&(&b.client_id, b.day_start)));
        d.into_iter()
            .map(|d| (d.client_id.as_str().to_owned(), d.day_start, d.count))
            .collect()
    }

    #[test]
    fn counts_per_client_and_day_and_restores() {
        let u = BearerUsageCounter::default();
        u.record("cl_a", 10);
        u.record("cl_a", 86_399);
        u.record("cl_a", 86_400);
        u.record("cl_b", 5);
        let taken = u.take();
        assert_eq!(
            sorted(taken.clone()),
            [
                ("cl_a".into(), 0, 2),
                ("cl_a".into(), 86_400, 1),
                ("cl_b".into(), 0, 1)
            ]
        );
        assert!(u.take().is_empty());
        u.restore(taken);
        u.record("cl_b", 6);
        let total: i64 = u.take().iter().map(|d| d.count).sum();
        assert_eq!(total, 5);
    }

    #[test]
    fn counts_from_many_threads_add_up() {
        let u = std::sync::Arc::new(BearerUsageCounter::default());
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let u = u.clone();
                std::thread::spawn(move || {
                    for i in 0..1000 {
                        u.record(&format!("cl_{}", (i + t) % 37), 100);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let d = u.take();
        assert_eq!(d.len(), 37);
        assert_eq!(d.iter().map(|d| d.count).sum::<i64>(), 4000);
    }

    #[test]
    fn days_start_at_midnight_utc() {
        assert_eq!(day_start(0), 0);
        assert_eq!(day_start(86_399), 0);
        assert_eq!(day_start(86_400), 86_400);
        assert_eq!(day_start(-1), -86_400);
    }
}
