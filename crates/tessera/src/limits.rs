//! The limits the configuration sets: the rate limits of the token, revocation and
//! introspection endpoints, and the limits on every connection and request.

use std::time::Duration;

use anyhow::{bail, Context};
use tessera_core::runtime::endpoint_limits::{EndpointLimitPolicy, GroupQuotas};
use tessera_core::runtime::rate_limit::Quota;
use tessera_http::ConnectionLimits;

use crate::config::Config;

/// The smallest header limit hyper accepts (its minimum read buffer).
const MIN_HEADER_BYTES: usize = 8 * 1024;

impl Config {
    /// The endpoints' rate limits; `None` when `rate_limits = false`.
    pub fn endpoint_limit_policy(&self) -> anyhow::Result<Option<EndpointLimitPolicy>> {
        let group = |client: (&str, &str), address: (&str, &str)| -> anyhow::Result<_> {
            Ok(GroupQuotas {
                per_client: parse_quota(client.0, client.1)?,
                per_address: parse_quota(address.0, address.1)?,
            })
        };
        let policy = EndpointLimitPolicy {
            token: group(
                ("rate_limit_token_client", &self.rate_limit_token_client),
                ("rate_limit_token_address", &self.rate_limit_token_address),
            )?,
            revocation: group(
                (
                    "rate_limit_revocation_client",
                    &self.rate_limit_revocation_client,
                ),
                (
                    "rate_limit_revocation_address",
                    &self.rate_limit_revocation_address,
                ),
            )?,
            introspection: group(
                (
                    "rate_limit_introspection_client",
                    &self.rate_limit_introspection_client,
                ),
                (
                    "rate_limit_introspection_address",
                    &self.rate_limit_introspection_address,
                ),
            )?,
            exempt_clients: self.rate_limit_exempt_clients.clone(),
        };
        Ok(self.rate_limits.then_some(policy))
    }

    /// What every connection is held to.
    pub fn connection_limits(&self) -> anyhow::Result<ConnectionLimits> {
        if self.max_header_bytes < MIN_HEADER_BYTES {
            bail!("max_header_bytes must be at least {MIN_HEADER_BYTES}");
        }
        for (key, value) in [
            ("max_headers", self.max_headers as u64),
            ("max_connections", self.max_connections as u64),
            ("header_read_timeout_ms", self.header_read_timeout_ms),
            ("request_timeout_ms", self.request_timeout_ms),
            ("gateway_body_limit", self.gateway_body_limit as u64),
        ] {
            if value == 0 {
                bail!("{key} must be at least 1");
            }
        }
        Ok(ConnectionLimits {
            max_header_bytes: self.max_header_bytes,
            max_headers: self.max_headers,
            header_read_timeout: Duration::from_millis(self.header_read_timeout_ms),
            max_connections: self.max_connections,
        })
    }
}

/// `"<requests>/<seconds>"`: at most that many requests in that many seconds, e.g. `600/60`.
fn parse_quota(key: &str, raw: &str) -> anyhow::Result<Quota> {
    let (burst, period) = raw.split_once('/').with_context(|| {
        format!("{key}: {raw:?} must be <requests>/<seconds>, for example \"600/60\"")
    })?;
    let burst: u32 = burst
        .trim()
        .parse()
        .with_context(|| format!("{key}: {burst:?} is not a whole number of requests"))?;
    let period_secs: i64 = period
        .trim()
        .parse()
        .with_context(|| format!("{key}: {period:?} is not a whole number of seconds"))?;
    if burst == 0 || period_secs <= 0 {
        bail!("{key}: {raw:?} must allow at least 1 request in at least 1 second (to switch rate limits off, set rate_limits = false)");
    }
    if i64::from(burst) > period_secs.saturating_mul(1000) {
        bail!("{key}: {raw:?} allows more than one request per millisecond, which this limiter cannot count");
    }
    Ok(Quota { burst, period_secs })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotas_are_requests_per_seconds_and_errors_name_the_key() {
        assert_eq!(
            parse_quota("k", "600/60").unwrap(),
            Quota {
                burst: 600,
                period_secs: 60
            }
        );
        for bad in ["600", "x/60", "600/0", "0/60", "600/1m", "5000/1"] {
            let err = parse_quota("rate_limit_token_client", bad).unwrap_err();
            assert!(
                format!("{err:#}").contains("rate_limit_token_client"),
                "{bad}: {err:#}"
            );
        }
        let defaults = Config::default();
        let policy = defaults.endpoint_limit_policy().unwrap().unwrap();
        assert_eq!(policy.token.per_client.burst, 600);
        let off = Config {
            rate_limits: false,
            ..Config::default()
        };
        assert!(off.endpoint_limit_policy().unwrap().is_none());
        let small = Config {
            max_header_bytes: 4096,
            ..Config::default()
        };
        let err = small.connection_limits().unwrap_err().to_string();
        assert!(err.contains("max_header_bytes"), "{err}");
    }
}
