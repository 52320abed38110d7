//! Rate limiting attempts per key (an email, a client address), in memory: GCRA, the
//! algorithm of the `governor` crate. At most `burst` attempts per `period`, one more each
//! `period / burst` after that; a key that stayed away for a `period` starts afresh.
//!
//! Attempts are counted *before* the work they pay for (an argon2id verification) and
//! refunded when it succeeds, so parallel guesses cannot all pass a check that is counted
//! only afterwards.
//!
//! Written here rather than taken from `governor`, whose keyed limiter reads its own clock
//! (the core is handed `now`, which is how the tests move time) and cannot give an attempt
//! back. The map is `quick_cache`'s: bounded, and when full it forgets its coldest keys,
//! never all of them; [`KeyedLimiter::prune`] drops keys that are back to a full budget.

use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr};

use parking_lot::Mutex;
use quick_cache::unsync::Cache;

/// At most `burst` attempts per `period_secs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub burst: u32,
    pub period_secs: i64,
}

/// What a refused attempt is told: seconds until one more is allowed (at least 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter(pub i64);

/// What is left of a key's budget once an attempt was counted: `remaining` more attempts
/// may pass now, and the next one is added back in `next_in_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub remaining: u32,
    pub next_in_ms: i64,
}

pub struct KeyedLimiter<K> {
    /// Time one attempt occupies: `period / burst`.
    emission_ms: i64,
    /// How far ahead of now a key's budget may be drawn: `period - emission`.
    tolerance_ms: i64,
    /// Per key, the theoretical arrival time (GCRA's TAT), in milliseconds.
    map: Mutex<Cache<K, i64>>,
}

impl<K: Eq + Hash + Clone> KeyedLimiter<K> {
    pub fn new(quota: Quota, capacity: usize) -> Self {
        let period_ms = quota.period_secs.max(1).saturating_mul(1000);
        let emission_ms = period_ms / i64::from(quota.burst.max(1));
        Self {
            emission_ms,
            tolerance_ms: period_ms - emission_ms,
            map: Mutex::new(Cache::new(capacity.max(1))),
        }
    }

    /// Counts one attempt for `key` at `now_ms`, or refuses it when the budget is spent.
    pub fn acquire(&self, key: &K, now_ms: i64) -> Result<(), RetryAfter> {
        self.take(key, now_ms).map(|_| ())
    }

    /// [`KeyedLimiter::acquire`], telling what is left of the budget.
    pub fn take(&self, key: &K, now_ms: i64) -> Result<Budget, RetryAfter> {
        let mut map = self.map.lock();
        let tat = map.get(key).copied().unwrap_or(now_ms).max(now_ms);
        let ahead = tat - now_ms;
        if ahead > self.tolerance_ms {
            let wait_ms = ahead - self.tolerance_ms;
            return Err(RetryAfter((wait_ms + 999) / 1000));
        }
        let tat = tat + self.emission_ms;
        map.insert(key.clone(), tat);
        // The budget is `period` of drawing ahead; each attempt draws one emission interval.
        let period_ms = self.tolerance_ms + self.emission_ms;
        let ahead = tat - now_ms;
        let remaining = ((period_ms - ahead) / self.emission_ms).max(0);
        let next_in_ms = (ahead - (period_ms - (remaining + 1) * self.emission_ms)).max(0);
        Ok(Budget {
            remaining: u32::try_from(remaining).unwrap_or(u32::MAX),
            next_in_ms,
        })
    }

    /// Whether an attempt would be refused now, without counting one.
    pub fn check(&self, key: &K, now_ms: i64) -> Result<(), RetryAfter> {
        let map = self.map.lock();
        let ahead = map.get(key).map_or(0, |tat| tat - now_ms);
        match ahead - self.tolerance_ms {
            wait_ms if wait_ms > 0 => Err(RetryAfter((wait_ms + 999) / 1000)),
            _ => Ok(()),
        }
    }

    /// Gives back an attempt counted by [`KeyedLimiter::acquire`]: it succeeded.
    pub fn refund(&self, key: &K) {
        let mut map = self.map.lock();
        if let Some(mut tat) = map.get_mut(key) {
            *tat -= self.emission_ms;
        }
    }

    /// Forgets `key`: its budget is full again.
    pub fn reset(&self, key: &K) {
        self.map.lock().remove(key);
    }

    /// Drops keys whose budget is full again by `now_ms`: they are as good as absent.
    pub fn prune(&self, now_ms: i64) {
        self.map.lock().retain(|_, tat| *tat > now_ms);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.map.lock().len()
    }
}

/// The key a client address is limited by. An IPv6 client rotates freely within its /64
/// (RFC 8981 temporary addresses), so the /64 is the client; an IPv4-mapped address is the
/// IPv4 client it maps.
pub fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(Ipv6Addr::from(prefix))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(burst: u32, period_secs: i64) -> KeyedLimiter<String> {
        KeyedLimiter::new(Quota { burst, period_secs }, 100)
    }

    #[test]
    fn burst_then_refused_then_one_more_per_emission_interval() {
        let l = limiter(3, 60);
        let a = "a".to_owned();
        for _ in 0..3 {
            assert_eq!(l.acquire(&a, 0), Ok(()));
        }
        assert_eq!(l.acquire(&a, 0), Err(RetryAfter(20)));
        assert_eq!(l.check(&a, 0), Err(RetryAfter(20)));
        assert_eq!(l.acquire(&"b".to_owned(), 0), Ok(()), "keys are apart");
        assert_eq!(l.acquire(&a, 19_999), Err(RetryAfter(1)));
        assert_eq!(l.acquire(&a, 20_000), Ok(()));
        assert_eq!(l.acquire(&a, 20_000), Err(RetryAfter(20)));
        assert_eq!(l.check(&a, 80_000), Ok(()), "a period later: afresh");
        for _ in 0..3 {
            assert_eq!(l.acquire(&a, 80_000), Ok(()));
        }
    }

    #[test]
    fn take_tells_the_remaining_budget_and_when_it_grows() {
        let l = limiter(3, 60);
        let a = "a".to_owned();
        let budget = |remaining, next_in_ms| {
            Ok(Budget {
                remaining,
                next_in_ms,
            })
        };
        assert_eq!(l.take(&a, 0), budget(2, 20_000));
        assert_eq!(l.take(&a, 0), budget(1, 20_000));
        assert_eq!(l.take(&a, 5_000), budget(0, 15_000));
        assert_eq!(l.take(&a, 5_000), Err(RetryAfter(15)));
        assert_eq!(
            l.take(&a, 20_000),
            budget(0, 20_000),
            "one came back at 20 s"
        );
        assert_eq!(l.take(&a, 200_000), budget(2, 20_000), "afresh");
    }

    #[test]
    fn a_refunded_attempt_is_given_back_and_reset_forgets_the_key() {
        let l = limiter(2, 60);
        let a = "a".to_owned();
        for _ in 0..10 {
            l.acquire(&a, 0).unwrap();
            l.refund(&a);
        }
        l.acquire(&a, 0).unwrap();
        l.acquire(&a, 0).unwrap();
        assert!(l.acquire(&a, 0).is_err());
        l.reset(&a);
        assert_eq!(l.acquire(&a, 0), Ok(()));
    }

    #[test]
    fn pruning_drops_keys_with_a_full_budget_and_a_full_map_evicts_not_clears() {
        let l = limiter(2, 60);
        l.acquire(&"old".to_owned(), 0).unwrap();
        l.acquire(&"new".to_owned(), 50_000).unwrap();
        l.prune(30_000);
        assert_eq!(l.len(), 1, "old's budget is full again at 30 s");
        assert_eq!(l.check(&"new".to_owned(), 50_000), Ok(()));
        l.acquire(&"new".to_owned(), 50_000).unwrap();
        assert!(l.check(&"new".to_owned(), 50_000).is_err());

        let small = KeyedLimiter::new(
            Quota {
                burst: 1,
                period_secs: 60,
            },
            10,
        );
        small.acquire(&0u32, 0).unwrap();
        small.acquire(&0u32, 0).unwrap_err();
        for k in 1..=20u32 {
            small.acquire(&k, 0).unwrap();
        }
        assert!(small.len() <= 11, "bounded: {}", small.len());
        assert!(small.len() >= 5, "not cleared: {}", small.len());
    }

    #[test]
    fn ipv6_clients_are_keyed_by_their_64_prefix() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff:1:2:3".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(address_key(a), address_key(b));
        assert_ne!(address_key(a), address_key(other));
        assert_eq!(address_key(a), "2001:db8:1:2::".parse::<IpAddr>().unwrap());
        let v4: IpAddr = "192.0.2.7".parse().unwrap();
        assert_eq!(address_key(v4), v4);
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(address_key(mapped), v4);
    }
}
