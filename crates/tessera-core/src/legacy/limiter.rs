//! Basic attempts, limited per client address, per credential from one address, and per
//! credential from every address together (a ceiling far above the others, so failures
//! from one address cannot lock a credential out everywhere, while guessing spread over
//! many addresses still meets a limit). GCRA per key, see [`KeyedLimiter`].
//!
//! An attempt is counted against the caller's own budgets before anything answers it, so
//! parallel guesses cannot all pass, and a limited caller is refused even with the right
//! password (otherwise guesses would go on for free while "limited", and a cached success
//! would tell a right guess from a wrong one). A success gives the attempt back and forgets
//! the caller's count for the credential; the per-address count stays, so one good
//! credential cannot launder guesses at others.

use std::net::IpAddr;

use crate::runtime::rate_limit::{address_key, KeyedLimiter, Quota, RetryAfter};
use crate::UnixSeconds;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitPolicy {
    /// Seconds in which the budgets below are spent at most once.
    pub window: i64,
    /// Attempts at one credential from one client address.
    pub per_credential_address: u32,
    /// Attempts at one credential from every address together.
    pub per_credential: u32,
    /// Attempts from one client address, at any credential.
    pub per_address: u32,
    /// Keys remembered at most (per map); beyond, the coldest are forgotten.
    pub capacity: usize,
}

impl Default for LimitPolicy {
    fn default() -> Self {
        Self {
            window: 300,
            per_credential_address: 10,
            per_credential: 100,
            per_address: 50,
            capacity: 100_000,
        }
    }
}

/// An attempt counted against its caller's own budgets; see [`FailureLimiter::begin`].
#[must_use]
pub struct Attempt {
    email: String,
    address: Option<IpAddr>,
}

pub struct FailureLimiter {
    by_address: KeyedLimiter<IpAddr>,
    by_credential_address: KeyedLimiter<(String, Option<IpAddr>)>,
    by_credential: KeyedLimiter<String>,
}

impl FailureLimiter {
    pub fn new(p: LimitPolicy) -> Self {
        let quota = |burst| Quota {
            burst,
            period_secs: p.window,
        };
        Self {
            by_address: KeyedLimiter::new(quota(p.per_address), p.capacity),
            by_credential_address: KeyedLimiter::new(quota(p.per_credential_address), p.capacity),
            by_credential: KeyedLimiter::new(quota(p.per_credential), p.capacity),
        }
    }

    /// Counts an attempt at `email` from `peer` before it is answered, or refuses it when
    /// the address or this credential from this address is limited.
    pub fn begin(
        &self,
        email: &str,
        peer: Option<IpAddr>,
        now_ms: i64,
    ) -> Result<Attempt, RetryAfter> {
        let address = peer.map(address_key);
        if let Some(ip) = &address {
            self.by_address.acquire(ip, now_ms)?;
        }
        let key = (email.to_owned(), address);
        if let Err(wait) = self.by_credential_address.acquire(&key, now_ms) {
            // Refused before anything was looked at: it costs the address nothing.
            if let Some(ip) = &address {
                self.by_address.refund(ip);
            }
            return Err(wait);
        }
        Ok(Attempt {
            email: key.0,
            address,
        })
    }

    /// The ceiling for the credential from every address, checked after the cache (a
    /// cached success passes it) and before the store and argon2id. A refused attempt
    /// stays counted against its caller.
    pub fn before_verifying(&self, attempt: &Attempt, now_ms: i64) -> Result<(), RetryAfter> {
        self.by_credential.acquire(&attempt.email, now_ms)
    }

    /// The attempt succeeded; `verified`: it passed [`FailureLimiter::before_verifying`].
    pub fn succeed(&self, attempt: Attempt, verified: bool) {
        if let Some(ip) = &attempt.address {
            self.by_address.refund(ip);
        }
        if verified {
            self.by_credential.refund(&attempt.email);
        }
        self.by_credential_address
            .reset(&(attempt.email, attempt.address));
    }

    /// Gives the attempt back without an answer (it waits for another request's).
    pub fn release(&self, attempt: Attempt) {
        if let Some(ip) = &attempt.address {
            self.by_address.refund(ip);
        }
        self.by_credential_address
            .refund(&(attempt.email, attempt.address));
    }

    /// A failure that names no credential (a malformed header).
    pub fn fail_address(&self, peer: Option<IpAddr>, now_ms: i64) {
        if let Some(ip) = peer.map(address_key) {
            let _limited_already = self.by_address.acquire(&ip, now_ms);
        }
    }

    /// Forgets keys whose budgets are full again.
    pub fn prune(&self, now: UnixSeconds) {
        let now_ms = now.saturating_mul(1000);
        self.by_address.prune(now_ms);
        self.by_credential_address.prune(now_ms);
        self.by_credential.prune(now_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> LimitPolicy {
        LimitPolicy {
            window: 60,
            per_credential_address: 3,
            per_credential: 5,
            per_address: 100,
            capacity: 10,
        }
    }

    fn ip(raw: &str) -> Option<IpAddr> {
        Some(raw.parse().unwrap())
    }

    #[test]
    fn failures_from_one_address_do_not_limit_the_credential_from_another() {
        let l = FailureLimiter::new(policy());
        let a = ip("192.0.2.1");
        for _ in 0..3 {
            let attempt = l.begin("a@x", a, 0).unwrap();
            l.before_verifying(&attempt, 0).unwrap();
        }
        assert_eq!(l.begin("a@x", a, 0).err(), Some(RetryAfter(20)));
        let from_b = l.begin("a@x", ip("192.0.2.2"), 0).unwrap();
        l.before_verifying(&from_b, 0).unwrap();
        l.succeed(from_b, true);
        assert!(l.begin("a@x", a, 0).is_err(), "B's success does not free A");
        assert!(l.begin("a@x", a, 20_000).is_ok(), "one attempt back");
    }

    #[test]
    fn the_ceiling_across_addresses_stops_verifying_but_not_the_callers_own_budget() {
        let l = FailureLimiter::new(policy());
        for i in 0..5 {
            let attempt = l.begin("a@x", ip(&format!("192.0.2.{i}")), 0).unwrap();
            l.before_verifying(&attempt, 0).unwrap();
        }
        let late = l.begin("a@x", ip("192.0.2.9"), 0).unwrap();
        assert_eq!(l.before_verifying(&late, 0), Err(RetryAfter(12)));
        // A cached success needs no verification, so the ceiling does not apply.
        l.succeed(late, false);
        assert!(l.begin("a@x", ip("192.0.2.9"), 0).is_ok());
    }

    #[test]
    fn limits_per_address_across_credentials_and_success_keeps_them() {
        let l = FailureLimiter::new(LimitPolicy {
            per_address: 2,
            ..policy()
        });
        let a = ip("2001:db8::1");
        let _ = l.begin("a@x", a, 0).unwrap();
        let ok = l.begin("b@x", a, 0).unwrap();
        l.succeed(ok, true);
        let _ = l.begin("c@x", a, 0).unwrap();
        assert_eq!(
            l.begin("d@x", ip("2001:db8::2"), 0).err(),
            Some(RetryAfter(30)),
            "the same /64, limited; the success was given back, the failures were not"
        );
        assert!(
            l.begin("d@x", None, 0).is_ok(),
            "no address, no address limit"
        );
    }
}
