//! What legacy HTTP Basic keeps for the life of the process (sunset policy, failure
//! limiter, usage counter, a timing filler hash, the Bearer requests per client that show
//! how far the migration got) and the deprecation headers it adds to
//! responses (RFC 9745, RFC 8594). Handlers reach it through the shared state.

use std::sync::atomic::AtomicI64;
use std::time::{Duration, UNIX_EPOCH};

use axum::http::{header, HeaderMap, HeaderName, HeaderValue};
use tessera_core::domain::password::{hash_password, PasswordError};
use tessera_core::legacy::bearer_usage::BearerUsageCounter;
use tessera_core::legacy::cache::LegacyIdentity;
use tessera_core::legacy::limiter::FailureLimiter;
use tessera_core::legacy::usage::UsageCounter;
use tessera_core::legacy::{Password, PasswordHash, PasswordPolicy, SunsetPolicy};

/// `Deprecation` (RFC 9745 §2).
pub const DEPRECATION: HeaderName = HeaderName::from_static("deprecation");
/// `Sunset` (RFC 8594 §3).
pub const SUNSET: HeaderName = HeaderName::from_static("sunset");

/// What Basic authentication keeps for the life of the process.
pub struct LegacyRuntime {
    pub sunset: SunsetPolicy,
    pub passwords: PasswordPolicy,
    pub limiter: FailureLimiter,
    pub usage: UsageCounter,
    /// Bearer requests per client and day, for the migration console's chart.
    pub bearer_usage: BearerUsageCounter,
    /// The hour (Unix seconds / 3600) of the last recount of the console's traffic sort
    /// key; `i64::MIN` until the first, at start-up.
    pub(crate) traffic_recounted_hour: AtomicI64,
    pub(crate) dummy_hash: PasswordHash,
    sunset_header: Option<HeaderValue>,
    link_header: Option<HeaderValue>,
}

impl LegacyRuntime {
    /// Hashes a throwaway password with the configured cost (for constant-time misses):
    /// CPU-heavy, so call it from `spawn_blocking` or before serving.
    pub fn new(
        sunset: SunsetPolicy,
        passwords: PasswordPolicy,
        limiter: FailureLimiter,
    ) -> Result<Self, PasswordError> {
        let filler = Password::from_request("not a password: timing filler".into());
        let dummy_hash = hash_password(&passwords, &filler)?;
        let sunset_header = sunset.sunset_at.and_then(|at| {
            // RFC 8594 §3: the value is an HTTP-date (RFC 9110 §5.6.7).
            let when = UNIX_EPOCH + Duration::from_secs(u64::try_from(at).ok()?);
            HeaderValue::from_str(&httpdate::fmt_http_date(when)).ok()
        });
        let link_header = sunset
            .guide_url
            .as_ref()
            .and_then(|url| HeaderValue::from_str(&format!("<{url}>; rel=\"deprecation\"")).ok());
        Ok(Self {
            sunset,
            passwords,
            limiter,
            usage: UsageCounter::default(),
            bearer_usage: BearerUsageCounter::default(),
            traffic_recounted_hour: AtomicI64::new(i64::MIN),
            dummy_hash,
            sunset_header,
            link_header,
        })
    }

    /// The signalling headers of a response to a request authenticated with Basic:
    /// `Deprecation: @<unix seconds>` (RFC 9745 §2.1), `Sunset` (RFC 8594 §3) and
    /// `Link: <guide>; rel="deprecation"` (RFC 9745 §3).
    pub fn add_deprecation_headers(&self, headers: &mut HeaderMap, identity: &LegacyIdentity) {
        let since = self.sunset.deprecated_at.unwrap_or(identity.created_at);
        if let Ok(v) = HeaderValue::from_str(&format!("@{since}")) {
            headers.insert(DEPRECATION, v);
        }
        self.add_sunset_headers(headers);
    }

    /// `Sunset` and the guide `Link`, also sent with refusals so clients find the guide.
    pub fn add_sunset_headers(&self, headers: &mut HeaderMap) {
        if let Some(v) = &self.sunset_header {
            headers.insert(SUNSET, v.clone());
        }
        if let Some(v) = &self.link_header {
            headers.append(header::LINK, v.clone());
        }
    }
}
