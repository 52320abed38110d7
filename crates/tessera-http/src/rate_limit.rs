//! The rate limits of the client-authenticated endpoints, as HTTP sees them: the client's
//! address, the `RateLimit-Policy` and `RateLimit` fields of every answer, and the count of
//! refusals. The limits themselves are `tessera_core::runtime::endpoint_limits`; a refusal
//! becomes a 429 in `error.rs`.
//!
//! The fields follow draft-ietf-httpapi-ratelimit-headers-11 (May 2026), §3 and §4: a List
//! of Items whose value is a String naming the policy, with `q` (quota) and `w` (window,
//! seconds) in `RateLimit-Policy` and `r` (available) and `t` (effective window, seconds) in
//! `RateLimit`. No `pk`: a partition key would echo the client id or address.

use std::net::IpAddr;

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::response::Response;
use tessera_core::runtime::endpoint_limits::{EndpointGroup, Limited, Passage, Usage};

use crate::error::HttpError;
use crate::metrics::LimitedLabels;
use crate::state::AppState;

pub const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
pub const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");

/// Counts a request to `group` from `address` against the address's budget; 429 when it is
/// spent.
pub fn enter(
    app: &AppState,
    group: EndpointGroup,
    address: Option<IpAddr>,
) -> Result<Passage<'_>, HttpError> {
    app.rate_limits
        .enter(group, address, app.clock.now_ms())
        .map_err(|limited| refused(app, limited))
}

/// The 429 for `limited`, counted.
pub fn refused(app: &AppState, limited: Limited) -> HttpError {
    let labels = LimitedLabels {
        endpoint: limited.usage.group.as_str(),
        partition: limited.usage.partition.as_str(),
    };
    app.metrics.rate_limited.get_or_create(&labels).inc();
    HttpError::RateLimited(limited)
}

/// `res` with the state of the budgets `passage` was counted against.
pub fn annotate(mut res: Response, passage: &Passage<'_>) -> Response {
    for usage in passage.usages() {
        append_fields(res.headers_mut(), &usage);
    }
    res
}

/// Appends one policy to `RateLimit-Policy` and its state to `RateLimit` (several fields
/// of the same name are one List, RFC 9651 §3.1).
pub fn append_fields(headers: &mut HeaderMap, usage: &Usage) {
    let name = usage.policy();
    let policy = format!(
        "\"{name}\";q={};w={}",
        usage.quota.burst, usage.quota.period_secs
    );
    let state = format!("\"{name}\";r={};t={}", usage.remaining, usage.window_secs);
    for (field, value) in [(RATELIMIT_POLICY, policy), (RATELIMIT, state)] {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.append(field, v);
        }
    }
}
