//! Rate limits on the client-authenticated endpoints (token, revocation, introspection),
//! kept in this process's memory: each replica counts on its own.
//!
//! Two budgets per endpoint group. The client address's is spent first, before the body is
//! read, so a flood of unauthenticated requests is refused cheaply. The client's is spent
//! only once the client has authenticated ([`Passage::admit_client`]): a request that
//! merely names a client cannot spend that client's budget. An exempt client spends
//! neither: its address's attempt is given back once it has authenticated.

use std::collections::HashSet;
use std::net::IpAddr;

use parking_lot::Mutex;

use super::rate_limit::{address_key, Budget, KeyedLimiter, Quota, RetryAfter};

/// How many keys each limiter remembers before forgetting its coldest ones.
const CAPACITY: usize = 100_000;

/// The endpoints that share a pair of budgets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointGroup {
    Token,
    Revocation,
    Introspection,
}

impl EndpointGroup {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Token => "token",
            Self::Revocation => "revocation",
            Self::Introspection => "introspection",
        }
    }

    fn index(self) -> usize {
        match self {
            Self::Token => 0,
            Self::Revocation => 1,
            Self::Introspection => 2,
        }
    }
}

/// Whose budget: the authenticated client's, or the client address's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Partition {
    Client,
    Address,
}

impl Partition {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Client => "client",
            Self::Address => "address",
        }
    }
}

/// The two quotas of one endpoint group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupQuotas {
    pub per_client: Quota,
    pub per_address: Quota,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointLimitPolicy {
    pub token: GroupQuotas,
    pub revocation: GroupQuotas,
    pub introspection: GroupQuotas,
    /// Client ids that are never limited.
    pub exempt_clients: Vec<String>,
}

/// One budget's state after a request: what a client is told in the `RateLimit` fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    pub group: EndpointGroup,
    pub partition: Partition,
    pub quota: Quota,
    /// Requests that may pass now.
    pub remaining: u32,
    /// Seconds within which no more than `remaining` will pass.
    pub window_secs: i64,
}

impl Usage {
    /// The policy's name, e.g. `token-client`.
    pub fn policy(&self) -> String {
        format!("{}-{}", self.group.as_str(), self.partition.as_str())
    }
}

/// A refused request: the budget that is spent and when the next request may pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    pub usage: Usage,
    pub retry_after: i64,
}

struct GroupLimiters {
    quotas: GroupQuotas,
    by_client: KeyedLimiter<String>,
    by_address: KeyedLimiter<IpAddr>,
}

impl GroupLimiters {
    fn new(quotas: GroupQuotas) -> Self {
        Self {
            quotas,
            by_client: KeyedLimiter::new(quotas.per_client, CAPACITY),
            by_address: KeyedLimiter::new(quotas.per_address, CAPACITY),
        }
    }
}

/// The limits of one process; `off` when the operator switched them off.
pub struct EndpointLimits {
    groups: Option<[GroupLimiters; 3]>,
    exempt: HashSet<String>,
}

impl EndpointLimits {
    pub fn new(policy: &EndpointLimitPolicy) -> Self {
        Self {
            groups: Some([
                GroupLimiters::new(policy.token),
                GroupLimiters::new(policy.revocation),
                GroupLimiters::new(policy.introspection),
            ]),
            exempt: policy.exempt_clients.iter().cloned().collect(),
        }
    }

    /// No limits: every request passes and is told nothing.
    pub fn off() -> Self {
        Self {
            groups: None,
            exempt: HashSet::new(),
        }
    }

    fn group(&self, group: EndpointGroup) -> Option<&GroupLimiters> {
        self.groups.as_ref().map(|g| &g[group.index()])
    }

    /// A request to `group` from `address` at `now_ms`: its address's attempt is counted, or
    /// the request is refused. Without an address (no connection information) only the
    /// client's budget applies.
    pub fn enter(
        &self,
        group: EndpointGroup,
        address: Option<IpAddr>,
        now_ms: i64,
    ) -> Result<Passage<'_>, Limited> {
        let address = address.map(address_key);
        let mut usages = Vec::with_capacity(2);
        if let (Some(limiters), Some(ip)) = (self.group(group), address) {
            let quota = limiters.quotas.per_address;
            let taken = limiters.by_address.take(&ip, now_ms);
            usages.push(usage(group, Partition::Address, quota, taken)?);
        }
        Ok(Passage {
            limits: self,
            group,
            address,
            now_ms,
            usages: Mutex::new(usages),
            refused: Mutex::new(None),
        })
    }

    /// Forgets keys whose budgets are full again.
    pub fn prune(&self, now_ms: i64) {
        for limiters in self.groups.iter().flatten() {
            limiters.by_client.prune(now_ms);
            limiters.by_address.prune(now_ms);
        }
    }
}

/// The [`Usage`] of a counted attempt, or the refusal of one.
fn usage(
    group: EndpointGroup,
    partition: Partition,
    quota: Quota,
    taken: Result<Budget, RetryAfter>,
) -> Result<Usage, Limited> {
    match taken {
        Ok(budget) => Ok(Usage {
            group,
            partition,
            quota,
            remaining: budget.remaining,
            window_secs: (budget.next_in_ms + 999) / 1000,
        }),
        Err(RetryAfter(wait)) => Err(Limited {
            usage: Usage {
                group,
                partition,
                quota,
                remaining: 0,
                window_secs: wait,
            },
            retry_after: wait,
        }),
    }
}

/// One request on its way through the limits: its address's attempt is counted; its
/// client's is counted by [`Passage::admit_client`].
pub struct Passage<'a> {
    limits: &'a EndpointLimits,
    group: EndpointGroup,
    address: Option<IpAddr>,
    now_ms: i64,
    usages: Mutex<Vec<Usage>>,
    refused: Mutex<Option<Limited>>,
}

impl Passage<'_> {
    /// The request authenticated as `client_id`: counts its attempt, or refuses it. An
    /// exempt client passes and gets its address's attempt back.
    pub fn admit_client(&self, client_id: &str) -> Result<(), Limited> {
        let Some(limiters) = self.limits.group(self.group) else {
            return Ok(());
        };
        if self.limits.exempt.contains(client_id) {
            if let Some(ip) = self.address {
                limiters.by_address.refund(&ip);
            }
            self.usages.lock().clear();
            return Ok(());
        }
        let quota = limiters.quotas.per_client;
        let taken = limiters.by_client.take(&client_id.to_owned(), self.now_ms);
        match usage(self.group, Partition::Client, quota, taken) {
            Ok(counted) => {
                self.usages.lock().push(counted);
                Ok(())
            }
            Err(limited) => {
                *self.refused.lock() = Some(limited);
                Err(limited)
            }
        }
    }

    /// Why [`Passage::admit_client`] refused the client, if it did.
    pub fn refusal(&self) -> Option<Limited> {
        *self.refused.lock()
    }

    /// The budgets this request was counted against, to tell the client.
    pub fn usages(&self) -> Vec<Usage> {
        self.usages.lock().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(exempt: &[&str]) -> EndpointLimitPolicy {
        let quotas = GroupQuotas {
            per_client: Quota {
                burst: 2,
                period_secs: 60,
            },
            per_address: Quota {
                burst: 3,
                period_secs: 60,
            },
        };
        EndpointLimitPolicy {
            token: quotas,
            revocation: quotas,
            introspection: quotas,
            exempt_clients: exempt.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn the_address_is_counted_on_entry_and_the_client_once_authenticated() {
        let limits = EndpointLimits::new(&policy(&[]));
        let a = ip("192.0.2.1");
        let p = limits.enter(EndpointGroup::Token, a, 0).unwrap();
        assert_eq!(p.usages()[0].partition, Partition::Address);
        assert_eq!(p.usages()[0].remaining, 2);
        p.admit_client("cl_a").unwrap();
        let client = p.usages()[1];
        assert_eq!((client.partition, client.remaining), (Partition::Client, 1));
        assert_eq!(client.policy(), "token-client");

        let p = limits.enter(EndpointGroup::Token, a, 0).unwrap();
        p.admit_client("cl_a").unwrap();
        let p = limits
            .enter(EndpointGroup::Token, ip("192.0.2.2"), 0)
            .unwrap();
        let refused = p.admit_client("cl_a").unwrap_err();
        assert_eq!(refused.usage.partition, Partition::Client);
        assert_eq!(refused.retry_after, 30);
        assert_eq!(p.refusal(), Some(refused));
        assert!(
            p.admit_client("cl_b").is_ok(),
            "another client has its own budget"
        );

        let _third = limits.enter(EndpointGroup::Token, a, 0).unwrap();
        let refused = limits.enter(EndpointGroup::Token, a, 0).err().unwrap();
        assert_eq!(refused.usage.partition, Partition::Address);
        assert_eq!(refused.usage.remaining, 0);
        assert_eq!(refused.retry_after, 20);
        assert!(
            limits.enter(EndpointGroup::Introspection, a, 0).is_ok(),
            "groups are apart"
        );
        assert!(
            limits.enter(EndpointGroup::Token, a, 20_000).is_ok(),
            "refilled"
        );
    }

    #[test]
    fn an_exempt_client_spends_neither_budget() {
        let limits = EndpointLimits::new(&policy(&["cl_rs"]));
        let a = ip("2001:db8::1");
        for _ in 0..10 {
            let p = limits.enter(EndpointGroup::Introspection, a, 0).unwrap();
            p.admit_client("cl_rs").unwrap();
            assert!(p.usages().is_empty(), "nothing to tell an exempt client");
        }
        let p = limits.enter(EndpointGroup::Introspection, a, 0).unwrap();
        assert_eq!(p.usages()[0].remaining, 2, "the address kept its budget");
    }

    #[test]
    fn switched_off_nothing_is_counted() {
        let limits = EndpointLimits::off();
        for _ in 0..100 {
            let p = limits
                .enter(EndpointGroup::Token, ip("192.0.2.1"), 0)
                .unwrap();
            p.admit_client("cl_a").unwrap();
            assert!(p.usages().is_empty());
        }
    }
}
