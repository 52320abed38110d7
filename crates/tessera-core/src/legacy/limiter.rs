//! Failed Basic attempts, counted per credential (the email tried) and per client address,
//! in memory. A fixed window per key: at most `max` failures, then refusal until the
//! window that began with the first failure ends.
//!
//! A limited credential is refused even with the right password: otherwise guesses would
//! go on for free while "limited". The per-credential count resets on success; the
//! per-address one does not, so one good credential cannot launder guesses at others.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;

use parking_lot::Mutex;

use crate::UnixSeconds;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitPolicy {
    pub window: i64,
    pub per_credential: u32,
    pub per_address: u32,
    /// Keys remembered at most (per map); beyond, expired windows are dropped first.
    pub capacity: usize,
}

impl Default for LimitPolicy {
    fn default() -> Self {
        Self {
            window: 300,
            per_credential: 10,
            per_address: 50,
            capacity: 100_000,
        }
    }
}

#[derive(Clone, Copy)]
struct Window {
    started: UnixSeconds,
    failures: u32,
}

struct Counter<K> {
    map: Mutex<HashMap<K, Window>>,
}

impl<K: Hash + Eq> Counter<K> {
    fn new() -> Self {
        Self {
            map: Mutex::new(HashMap::new()),
        }
    }

    /// Seconds until `key` may try again, if it is limited.
    fn retry_after<Q>(&self, key: &Q, max: u32, window: i64, now: UnixSeconds) -> Option<i64>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let map = self.map.lock();
        let w = map.get(key)?;
        let ends = w.started + window;
        (w.failures >= max && now < ends).then_some(ends - now)
    }

    fn fail(&self, key: K, policy: &LimitPolicy, now: UnixSeconds) {
        let mut map = self.map.lock();
        if map.len() >= policy.capacity && !map.contains_key(&key) {
            map.retain(|_, w| now < w.started + policy.window);
            if map.len() >= policy.capacity {
                map.clear();
            }
        }
        let w = map.entry(key).or_insert(Window {
            started: now,
            failures: 0,
        });
        if now >= w.started + policy.window {
            *w = Window {
                started: now,
                failures: 0,
            };
        }
        w.failures = w.failures.saturating_add(1);
    }

    fn forget<Q>(&self, key: &Q)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.lock().remove(key);
    }

    fn prune(&self, window: i64, now: UnixSeconds) {
        self.map.lock().retain(|_, w| now < w.started + window);
    }
}

pub struct FailureLimiter {
    policy: LimitPolicy,
    credentials: Counter<String>,
    addresses: Counter<IpAddr>,
}

impl FailureLimiter {
    pub fn new(policy: LimitPolicy) -> Self {
        Self {
            policy,
            credentials: Counter::new(),
            addresses: Counter::new(),
        }
    }

    /// Seconds to wait when the credential or the address is limited.
    pub fn retry_after(&self, email: &str, peer: Option<IpAddr>, now: UnixSeconds) -> Option<i64> {
        let p = &self.policy;
        let by_credential = self
            .credentials
            .retry_after(email, p.per_credential, p.window, now);
        let by_address = peer.and_then(|ip| {
            self.addresses
                .retry_after(&ip, p.per_address, p.window, now)
        });
        by_credential.max(by_address)
    }

    pub fn fail(&self, email: &str, peer: Option<IpAddr>, now: UnixSeconds) {
        self.credentials.fail(email.to_owned(), &self.policy, now);
        if let Some(ip) = peer {
            self.addresses.fail(ip, &self.policy, now);
        }
    }

    /// A failure that names no credential (a malformed header).
    pub fn fail_address(&self, peer: Option<IpAddr>, now: UnixSeconds) {
        if let Some(ip) = peer {
            self.addresses.fail(ip, &self.policy, now);
        }
    }

    pub fn succeed(&self, email: &str) {
        self.credentials.forget(email);
    }

    pub fn prune(&self, now: UnixSeconds) {
        self.credentials.prune(self.policy.window, now);
        self.addresses.prune(self.policy.window, now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_credential_then_the_window_ends() {
        let l = FailureLimiter::new(LimitPolicy {
            window: 60,
            per_credential: 3,
            per_address: 100,
            capacity: 10,
        });
        for t in 0..3 {
            assert_eq!(l.retry_after("a@x", None, t), None);
            l.fail("a@x", None, t);
        }
        assert_eq!(l.retry_after("a@x", None, 10), Some(50));
        assert_eq!(l.retry_after("b@x", None, 10), None);
        assert_eq!(l.retry_after("a@x", None, 60), None);
        l.fail("a@x", None, 61);
        assert_eq!(l.retry_after("a@x", None, 61), None, "a new window");
    }

    #[test]
    fn limits_per_address_across_credentials() {
        let l = FailureLimiter::new(LimitPolicy {
            window: 60,
            per_credential: 100,
            per_address: 2,
            capacity: 10,
        });
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        l.fail("a@x", Some(ip), 0);
        l.fail("b@x", Some(ip), 0);
        l.succeed("a@x");
        assert_eq!(l.retry_after("c@x", Some(ip), 1), Some(59));
        assert_eq!(l.retry_after("c@x", None, 1), None);
    }
}
