//! Configuration: defaults < TOML file < `TESSERA_*` environment < command-line flags.
//! Every key is documented in `tessera.example.toml`; a test keeps the two in step.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use tessera_core::forwarded::TrustedProxies;
use tessera_core::gateway::{RouteSpec, Unmatched};
use tessera_core::legacy::{PasswordPolicy, SunsetPolicy};
use tessera_core::manage::scopes::{check_configured, CatalogConfig, ScopeSpec};
use tessera_core::rfc3339::parse_rfc3339;

/// `Debug` redacts the master key and the database URL's credentials (see the impl below).
#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub listen: String,
    pub database: Option<String>,
    pub data_dir: PathBuf,
    pub issuer: Option<String>,
    pub audience: Option<String>,
    pub master_key: Option<String>,
    pub master_key_file: Option<PathBuf>,
    pub signing_alg: String,
    pub key_propagation_delay: i64,
    pub key_rotation_interval: i64,
    pub access_token_ttl: i64,
    pub user_access_token_ttl: i64,
    pub sync_interval_ms: u64,
    pub form_limit: usize,
    pub json_limit: usize,
    pub verified_token_cache: usize,
    pub log_format: String,
    pub metrics_listen: Option<String>,
    pub shutdown_grace_ms: u64,
    pub basic_sunset: Option<String>,
    pub basic_brownouts: Vec<String>,
    pub basic_deprecated_at: Option<String>,
    pub migration_guide_url: Option<String>,
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    pub argon2_parallelism: u32,
    pub legacy_usage_flush_interval: u64,
    pub authorization_code_ttl: i64,
    pub require_pkce: bool,
    pub skip_consent_when_granted: bool,
    /// Every authorization request must come through the PAR endpoint (RFC 9126 §5).
    pub require_pushed_authorization_requests: bool,
    /// How long a pushed request's `request_uri` stands for it, seconds.
    pub pushed_request_ttl: i64,
    /// How long a device code waits for its user (RFC 8628 §3.2 `expires_in`), seconds.
    pub device_code_ttl: i64,
    /// Seconds a device must wait between polls (RFC 8628 §3.2 `interval`).
    pub device_poll_interval: i64,
    /// How far a DPoP proof's `iat` may be from now (RFC 9449 §11.1), seconds.
    pub dpop_proof_max_age: i64,
    /// Every DPoP proof must carry a nonce the server supplied (RFC 9449 §8, §9).
    pub require_dpop_nonce: bool,
    pub refresh_token_idle_ttl: i64,
    pub refresh_token_absolute_ttl: i64,
    /// Seconds after a rotation during which the same refresh request again gets the same
    /// answer instead of counting as reuse; 0 disables.
    pub refresh_retry_window: i64,
    pub session_idle_ttl: i64,
    pub session_absolute_ttl: i64,
    pub upstream: Option<String>,
    pub upstream_connect_timeout_ms: u64,
    pub upstream_timeout_ms: u64,
    pub upstream_idle_timeout_ms: u64,
    pub unmatched: String,
    pub upstream_identity: String,
    pub trusted_proxies: Vec<String>,
    pub rate_limits: bool,
    pub rate_limit_token_client: String,
    pub rate_limit_token_address: String,
    pub rate_limit_revocation_client: String,
    pub rate_limit_revocation_address: String,
    pub rate_limit_introspection_client: String,
    pub rate_limit_introspection_address: String,
    pub rate_limit_exempt_clients: Vec<String>,
    pub max_header_bytes: usize,
    pub max_headers: usize,
    pub gateway_body_limit: usize,
    pub header_read_timeout_ms: u64,
    pub request_timeout_ms: u64,
    pub max_connections: usize,
    pub route: Vec<RouteSpec>,
    pub scope: Vec<ScopeSpec>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            database: None,
            data_dir: PathBuf::from("tessera-data"),
            issuer: None,
            audience: None,
            master_key: None,
            master_key_file: None,
            signing_alg: "ES256".into(),
            key_propagation_delay: 600,
            key_rotation_interval: 0,
            access_token_ttl: 86_400,
            user_access_token_ttl: 3_600,
            sync_interval_ms: 250,
            form_limit: 16 * 1024,
            json_limit: 1024 * 1024,
            verified_token_cache: 100_000,
            log_format: "text".into(),
            metrics_listen: None,
            shutdown_grace_ms: 10_000,
            basic_sunset: None,
            basic_brownouts: Vec::new(),
            basic_deprecated_at: None,
            migration_guide_url: None,
            argon2_memory_kib: PasswordPolicy::default().memory_kib,
            argon2_iterations: PasswordPolicy::default().iterations,
            argon2_parallelism: PasswordPolicy::default().parallelism,
            legacy_usage_flush_interval: 10,
            authorization_code_ttl: 60,
            require_pkce: false,
            skip_consent_when_granted: true,
            require_pushed_authorization_requests: false,
            pushed_request_ttl: 60,
            device_code_ttl: 600,
            device_poll_interval: 5,
            dpop_proof_max_age: 60,
            require_dpop_nonce: false,
            refresh_token_idle_ttl: 0,
            refresh_token_absolute_ttl: 0,
            refresh_retry_window: 10,
            session_idle_ttl: 1_800,
            session_absolute_ttl: 43_200,
            upstream: None,
            upstream_connect_timeout_ms: 5_000,
            upstream_timeout_ms: 30_000,
            upstream_idle_timeout_ms: 60_000,
            unmatched: "deny".into(),
            upstream_identity: "headers".into(),
            trusted_proxies: Vec::new(),
            rate_limits: true,
            rate_limit_token_client: "600/60".into(),
            rate_limit_token_address: "1200/60".into(),
            rate_limit_revocation_client: "600/60".into(),
            rate_limit_revocation_address: "1200/60".into(),
            rate_limit_introspection_client: "6000/60".into(),
            rate_limit_introspection_address: "6000/60".into(),
            rate_limit_exempt_clients: Vec::new(),
            max_header_bytes: 32 * 1024,
            max_headers: 100,
            gateway_body_limit: 1024 * 1024 * 1024,
            header_read_timeout_ms: 10_000,
            request_timeout_ms: 60_000,
            max_connections: 10_000,
            route: Vec::new(),
            scope: Vec::new(),
        }
    }
}

/// Shows every key, with the master key and the password in the database URL replaced by
/// `[redacted]`, so a log line of the configuration cannot leak them. The destructuring is
/// exhaustive on purpose: a new key does not compile until it is listed here, which is
/// where to decide whether it is a secret.
impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self {
            listen,
            database,
            data_dir,
            issuer,
            audience,
            master_key,
            master_key_file,
            signing_alg,
            key_propagation_delay,
            key_rotation_interval,
            access_token_ttl,
            user_access_token_ttl,
            sync_interval_ms,
            form_limit,
            json_limit,
            verified_token_cache,
            log_format,
            metrics_listen,
            shutdown_grace_ms,
            basic_sunset,
            basic_brownouts,
            basic_deprecated_at,
            migration_guide_url,
            argon2_memory_kib,
            argon2_iterations,
            argon2_parallelism,
            legacy_usage_flush_interval,
            authorization_code_ttl,
            require_pkce,
            skip_consent_when_granted,
            require_pushed_authorization_requests,
            pushed_request_ttl,
            device_code_ttl,
            device_poll_interval,
            dpop_proof_max_age,
            require_dpop_nonce,
            refresh_token_idle_ttl,
            refresh_token_absolute_ttl,
            refresh_retry_window,
            session_idle_ttl,
            session_absolute_ttl,
            upstream,
            upstream_connect_timeout_ms,
            upstream_timeout_ms,
            upstream_idle_timeout_ms,
            unmatched,
            upstream_identity,
            trusted_proxies,
            rate_limits,
            rate_limit_token_client,
            rate_limit_token_address,
            rate_limit_revocation_client,
            rate_limit_revocation_address,
            rate_limit_introspection_client,
            rate_limit_introspection_address,
            rate_limit_exempt_clients,
            max_header_bytes,
            max_headers,
            gateway_body_limit,
            header_read_timeout_ms,
            request_timeout_ms,
            max_connections,
            route,
            scope,
        } = self;
        f.debug_struct("Config")
            .field("listen", listen)
            .field("database", &database.as_deref().map(redact_credentials))
            .field("data_dir", data_dir)
            .field("issuer", issuer)
            .field("audience", audience)
            .field("master_key", &master_key.as_ref().map(|_| "[redacted]"))
            .field("master_key_file", master_key_file)
            .field("signing_alg", signing_alg)
            .field("key_propagation_delay", key_propagation_delay)
            .field("key_rotation_interval", key_rotation_interval)
            .field("access_token_ttl", access_token_ttl)
            .field("user_access_token_ttl", user_access_token_ttl)
            .field("sync_interval_ms", sync_interval_ms)
            .field("form_limit", form_limit)
            .field("json_limit", json_limit)
            .field("verified_token_cache", verified_token_cache)
            .field("log_format", log_format)
            .field("metrics_listen", metrics_listen)
            .field("shutdown_grace_ms", shutdown_grace_ms)
            .field("basic_sunset", basic_sunset)
            .field("basic_brownouts", basic_brownouts)
            .field("basic_deprecated_at", basic_deprecated_at)
            .field("migration_guide_url", migration_guide_url)
            .field("argon2_memory_kib", argon2_memory_kib)
            .field("argon2_iterations", argon2_iterations)
            .field("argon2_parallelism", argon2_parallelism)
            .field("legacy_usage_flush_interval", legacy_usage_flush_interval)
            .field("authorization_code_ttl", authorization_code_ttl)
            .field("require_pkce", require_pkce)
            .field("skip_consent_when_granted", skip_consent_when_granted)
            .field(
                "require_pushed_authorization_requests",
                require_pushed_authorization_requests,
            )
            .field("pushed_request_ttl", pushed_request_ttl)
            .field("device_code_ttl", device_code_ttl)
            .field("device_poll_interval", device_poll_interval)
            .field("dpop_proof_max_age", dpop_proof_max_age)
            .field("require_dpop_nonce", require_dpop_nonce)
            .field("refresh_token_idle_ttl", refresh_token_idle_ttl)
            .field("refresh_token_absolute_ttl", refresh_token_absolute_ttl)
            .field("refresh_retry_window", refresh_retry_window)
            .field("session_idle_ttl", session_idle_ttl)
            .field("session_absolute_ttl", session_absolute_ttl)
            .field("upstream", upstream)
            .field("upstream_connect_timeout_ms", upstream_connect_timeout_ms)
            .field("upstream_timeout_ms", upstream_timeout_ms)
            .field("upstream_idle_timeout_ms", upstream_idle_timeout_ms)
            .field("unmatched", unmatched)
            .field("upstream_identity", upstream_identity)
            .field("trusted_proxies", trusted_proxies)
            .field("rate_limits", rate_limits)
            .field("rate_limit_token_client", rate_limit_token_client)
            .field("rate_limit_token_address", rate_limit_token_address)
            .field("rate_limit_revocation_client", rate_limit_revocation_client)
            .field(
                "rate_limit_revocation_address",
                rate_limit_revocation_address,
            )
            .field(
                "rate_limit_introspection_client",
                rate_limit_introspection_client,
            )
            .field(
                "rate_limit_introspection_address",
                rate_limit_introspection_address,
            )
            .field("rate_limit_exempt_clients", rate_limit_exempt_clients)
            .field("max_header_bytes", max_header_bytes)
            .field("max_headers", max_headers)
            .field("gateway_body_limit", gateway_body_limit)
            .field("header_read_timeout_ms", header_read_timeout_ms)
            .field("request_timeout_ms", request_timeout_ms)
            .field("max_connections", max_connections)
            .field("route", route)
            .field("scope", scope)
            .finish()
    }
}

/// `scheme://user:password@host/…` → `scheme://[redacted]@host/…`; a URL without
/// credentials (a SQLite path) is shown as it is.
pub(crate) fn redact_credentials(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://[redacted]{}", &rest[at..]),
        None => url.to_owned(),
    }
}

/// Keys whose value is text (and `None` by default), so an environment value is never
/// read as a number.
const TEXT_KEYS: [&str; 21] = [
    "rate_limit_token_client",
    "rate_limit_token_address",
    "rate_limit_revocation_client",
    "rate_limit_revocation_address",
    "rate_limit_introspection_client",
    "rate_limit_introspection_address",
    "metrics_listen",
    "upstream",
    "unmatched",
    "upstream_identity",
    "listen",
    "database",
    "data_dir",
    "issuer",
    "audience",
    "master_key",
    "master_key_file",
    "signing_alg",
    "basic_sunset",
    "basic_deprecated_at",
    "migration_guide_url",
];

/// Keys whose value is a list; in the environment, comma-separated.
const LIST_KEYS: [&str; 3] = [
    "basic_brownouts",
    "trusted_proxies",
    "rate_limit_exempt_clients",
];

/// Keys whose value is an array of tables (`[[route]]`, `[[scope]]`); not settable from the
/// environment.
const TABLE_KEYS: [&str; 2] = ["route", "scope"];

const BOOL_KEYS: [&str; 5] = [
    "require_pkce",
    "skip_consent_when_granted",
    "require_pushed_authorization_requests",
    "require_dpop_nonce",
    "rate_limits",
];

impl Config {
    /// Every key, in file order.
    pub const KEYS: [&'static str; 64] = [
        "listen",
        "database",
        "data_dir",
        "issuer",
        "audience",
        "master_key",
        "master_key_file",
        "signing_alg",
        "key_propagation_delay",
        "key_rotation_interval",
        "access_token_ttl",
        "user_access_token_ttl",
        "sync_interval_ms",
        "form_limit",
        "json_limit",
        "verified_token_cache",
        "log_format",
        "metrics_listen",
        "shutdown_grace_ms",
        "basic_sunset",
        "basic_brownouts",
        "basic_deprecated_at",
        "migration_guide_url",
        "argon2_memory_kib",
        "argon2_iterations",
        "argon2_parallelism",
        "legacy_usage_flush_interval",
        "authorization_code_ttl",
        "require_pkce",
        "skip_consent_when_granted",
        "require_pushed_authorization_requests",
        "pushed_request_ttl",
        "device_code_ttl",
        "device_poll_interval",
        "dpop_proof_max_age",
        "require_dpop_nonce",
        "refresh_token_idle_ttl",
        "refresh_token_absolute_ttl",
        "refresh_retry_window",
        "session_idle_ttl",
        "session_absolute_ttl",
        "upstream",
        "upstream_connect_timeout_ms",
        "upstream_timeout_ms",
        "upstream_idle_timeout_ms",
        "unmatched",
        "upstream_identity",
        "trusted_proxies",
        "rate_limits",
        "rate_limit_token_client",
        "rate_limit_token_address",
        "rate_limit_revocation_client",
        "rate_limit_revocation_address",
        "rate_limit_introspection_client",
        "rate_limit_introspection_address",
        "rate_limit_exempt_clients",
        "max_header_bytes",
        "max_headers",
        "gateway_body_limit",
        "header_read_timeout_ms",
        "request_timeout_ms",
        "max_connections",
        "route",
        "scope",
    ];

    /// Defaults, overlaid with the TOML file (if any), then with `TESSERA_<KEY>` variables.
    pub fn load(file: Option<&Path>, env: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let mut table = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read the config file {}", path.display()))?;
                toml::from_str::<toml::Table>(&text).with_context(|| {
                    format!("the config file {} is not valid TOML", path.display())
                })?
            }
            None => toml::Table::new(),
        };
        for key in Self::KEYS {
            if TABLE_KEYS.contains(&key) {
                continue;
            }
            let var = format!("TESSERA_{}", key.to_uppercase());
            if let Some(value) = env(&var) {
                let parsed = if TEXT_KEYS.contains(&key) || key == "log_format" {
                    toml::Value::String(value)
                } else if LIST_KEYS.contains(&key) {
                    toml::Value::Array(
                        value
                            .split(',')
                            .map(str::trim)
                            .filter(|v| !v.is_empty())
                            .map(|v| toml::Value::String(v.to_owned()))
                            .collect(),
                    )
                } else if BOOL_KEYS.contains(&key) {
                    match value.trim() {
                        "true" | "1" => toml::Value::Boolean(true),
                        "false" | "0" => toml::Value::Boolean(false),
                        _ => bail!("{var} must be true or false, not {value:?}"),
                    }
                } else {
                    let n: i64 = value
                        .trim()
                        .parse()
                        .with_context(|| format!("{var} must be a whole number, not {value:?}"))?;
                    toml::Value::Integer(n)
                };
                table.insert(key.to_owned(), parsed);
            }
        }
        let config: Config = table.try_into().map_err(|e: toml::de::Error| {
            anyhow::anyhow!("invalid configuration: {}", e.message())
        })?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> anyhow::Result<()> {
        for (key, value) in [
            ("access_token_ttl", self.access_token_ttl),
            ("user_access_token_ttl", self.user_access_token_ttl),
            ("authorization_code_ttl", self.authorization_code_ttl),
            ("pushed_request_ttl", self.pushed_request_ttl),
            ("device_code_ttl", self.device_code_ttl),
            ("device_poll_interval", self.device_poll_interval),
            ("dpop_proof_max_age", self.dpop_proof_max_age),
            ("session_idle_ttl", self.session_idle_ttl),
            ("session_absolute_ttl", self.session_absolute_ttl),
        ] {
            if value <= 0 {
                bail!("{key} must be a positive number of seconds");
            }
        }
        if self.refresh_token_idle_ttl < 0 || self.refresh_token_absolute_ttl < 0 {
            bail!("refresh_token_idle_ttl and refresh_token_absolute_ttl must not be negative (0: no limit)");
        }
        if !(0..=300).contains(&self.refresh_retry_window) {
            bail!("refresh_retry_window must be between 0 (off) and 300 seconds");
        }
        if self.key_propagation_delay < 0 || self.key_rotation_interval < 0 {
            bail!("key_propagation_delay and key_rotation_interval must not be negative");
        }
        if self.sync_interval_ms == 0 || self.sync_interval_ms > 1000 {
            bail!("sync_interval_ms must be between 1 and 1000 (the revocation bound is 1 s)");
        }
        if !matches!(self.log_format.as_str(), "text" | "json") {
            bail!("log_format must be \"text\" or \"json\"");
        }
        if self.legacy_usage_flush_interval == 0 {
            bail!("legacy_usage_flush_interval must be at least 1 second");
        }
        if self.shutdown_grace_ms == 0 {
            bail!(
                "shutdown_grace_ms must be at least 1 (milliseconds to finish requests in flight)"
            );
        }
        if self.upstream_connect_timeout_ms == 0
            || self.upstream_timeout_ms == 0
            || self.upstream_idle_timeout_ms == 0
        {
            bail!("upstream_connect_timeout_ms, upstream_timeout_ms and upstream_idle_timeout_ms must be at least 1");
        }
        self.unmatched_policy()?;
        TrustedProxies::parse(&self.trusted_proxies)
            .map_err(|e| anyhow::anyhow!("trusted_proxies: {e}"))?;
        if !matches!(self.upstream_identity.as_str(), "headers" | "jwt") {
            bail!("upstream_identity must be \"headers\" or \"jwt\"");
        }
        check_configured(&self.scope)?;
        self.endpoint_limit_policy()?;
        self.connection_limits()?;
        self.password_policy()?;
        self.sunset_policy()?;
        Ok(())
    }

    /// What the configuration says about the scope catalog: its `[[scope]]` tables and the
    /// routes whose scopes must stay in it.
    pub fn catalog(&self) -> CatalogConfig<'_> {
        CatalogConfig {
            scopes: &self.scope,
            routes: &self.route,
        }
    }

    /// What the gateway does with a request that matches no `[[route]]`.
    pub fn unmatched_policy(&self) -> anyhow::Result<Unmatched> {
        Unmatched::parse(&self.unmatched).with_context(|| {
            format!(
                "unmatched must be \"deny\" or \"authenticated\", not {:?}",
                self.unmatched
            )
        })
    }

    /// The argon2id cost of new legacy password hashes.
    pub fn password_policy(&self) -> anyhow::Result<PasswordPolicy> {
        let policy = PasswordPolicy {
            memory_kib: self.argon2_memory_kib,
            iterations: self.argon2_iterations,
            parallelism: self.argon2_parallelism,
        };
        policy.validate().map_err(|e| {
            anyhow::anyhow!("argon2_memory_kib, argon2_iterations, argon2_parallelism: {e}")
        })?;
        Ok(policy)
    }

    /// The end of HTTP Basic: sunset, brownout windows, guide, deprecation date.
    pub fn sunset_policy(&self) -> anyhow::Result<SunsetPolicy> {
        let instant = |key: &str, raw: &str| {
            parse_rfc3339(raw).with_context(|| {
                format!("{key}: {raw:?} is not an RFC 3339 date-time like 2027-06-15T00:00:00Z")
            })
        };
        let sunset_at = match &self.basic_sunset {
            Some(raw) => Some(instant("basic_sunset", raw)?),
            None => None,
        };
        let deprecated_at = match &self.basic_deprecated_at {
            Some(raw) => Some(instant("basic_deprecated_at", raw)?),
            None => None,
        };
        let mut brownouts = Vec::with_capacity(self.basic_brownouts.len());
        for window in &self.basic_brownouts {
            let Some((start, end)) = window.split_once('/') else {
                bail!("basic_brownouts: {window:?} must be START/END, two RFC 3339 date-times");
            };
            let (start, end) = (
                instant("basic_brownouts", start)?,
                instant("basic_brownouts", end)?,
            );
            if start >= end {
                bail!("basic_brownouts: {window:?} ends before it starts");
            }
            brownouts.push((start, end));
        }
        if let Some(url) = &self.migration_guide_url {
            // It goes into a `Link: <…>` header: no spaces, quotes or angle brackets.
            let scheme_ok = url.starts_with("https://") || url.starts_with("http://");
            let chars_ok = url
                .bytes()
                .all(|b| b.is_ascii_graphic() && !matches!(b, b'<' | b'>' | b'"'));
            if !scheme_ok || !chars_ok {
                bail!(
                    "migration_guide_url: {url:?} must be an absolute http(s) URL without spaces"
                );
            }
        }
        Ok(SunsetPolicy {
            sunset_at,
            brownouts,
            guide_url: self.migration_guide_url.clone(),
            deprecated_at,
        })
    }

    /// The database URL: the configured one, or a SQLite file in the data directory.
    pub fn database_url(&self) -> String {
        self.database
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("tessera.db").display()))
    }

    pub fn issuer(&self) -> String {
        self.issuer
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.listen))
            .trim_end_matches('/')
            .to_owned()
    }

    pub fn audience(&self) -> String {
        self.audience.clone().unwrap_or_else(|| self.issuer())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_file_documents_every_key() {
        let text = include_str!("../../../tessera.example.toml");
        for key in Config::KEYS {
            if TABLE_KEYS.contains(&key) {
                assert!(
                    text.contains(&format!("\n# [[{key}]]")),
                    "tessera.example.toml does not document [[{key}]]"
                );
                continue;
            }
            let setting = format!("\n# {key} = ");
            let set = format!("\n{key} = ");
            assert!(
                text.contains(&setting) || text.contains(&set),
                "tessera.example.toml does not document {key}"
            );
            assert!(
                text.contains(&format!("TESSERA_{}", key.to_uppercase())),
                "env of {key}"
            );
        }
        let full = Config {
            database: Some("x".into()),
            issuer: Some("x".into()),
            audience: Some("x".into()),
            master_key: Some("x".into()),
            master_key_file: Some("x".into()),
            basic_sunset: Some("x".into()),
            basic_deprecated_at: Some("x".into()),
            migration_guide_url: Some("x".into()),
            upstream: Some("x".into()),
            metrics_listen: Some("x".into()),
            ..Config::default()
        };
        let table = toml::Table::try_from(&full).unwrap();
        let mut keys: Vec<&str> = table.keys().map(String::as_str).collect();
        let mut expected = Config::KEYS.to_vec();
        keys.sort();
        expected.sort();
        assert_eq!(keys, expected, "Config::KEYS must list every field");
    }

    #[test]
    fn debug_redacts_the_master_key_and_database_credentials() {
        let config = Config {
            master_key: Some("bWFzdGVyIGtleSBtYXRlcmlhbA==".into()),
            database: Some("postgres://tessera:hunter2@db.internal:5432/tessera".into()),
            ..Config::default()
        };
        for shown in [format!("{config:?}"), format!("{config:#?}")] {
            assert!(!shown.contains("bWFzdGVy"), "{shown}");
            assert!(
                !shown.contains("hunter2") && !shown.contains("tessera:"),
                "{shown}"
            );
            assert!(
                shown.contains("postgres://[redacted]@db.internal:5432/tessera"),
                "{shown}"
            );
            assert!(shown.contains("access_token_ttl: 86400"), "{shown}");
        }
        let sqlite = Config {
            database: Some("sqlite:///var/lib/tessera/tessera.db".into()),
            ..Config::default()
        };
        assert!(format!("{sqlite:?}").contains("sqlite:///var/lib/tessera/tessera.db"));
        assert_eq!(
            redact_credentials("postgres://db/x?user=a@b"),
            "postgres://db/x?user=a@b"
        );
    }

    #[test]
    fn env_overrides_file_and_errors_name_the_key() {
        let dir = std::env::temp_dir().join(format!("tessera-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("t.toml");
        std::fs::write(&file, "listen = \"0.0.0.0:1\"\naccess_token_ttl = 60\n").unwrap();
        let env = |k: &str| (k == "TESSERA_ACCESS_TOKEN_TTL").then(|| "120".to_owned());
        let c = Config::load(Some(&file), env).unwrap();
        assert_eq!(c.listen, "0.0.0.0:1");
        assert_eq!(c.access_token_ttl, 120);

        let bad = |k: &str| (k == "TESSERA_ACCESS_TOKEN_TTL").then(|| "soon".to_owned());
        let err = Config::load(None, bad).unwrap_err().to_string();
        assert!(err.contains("TESSERA_ACCESS_TOKEN_TTL"), "{err}");

        let env = |k: &str| match k {
            "TESSERA_BASIC_SUNSET" => Some("2027-06-15T00:00:00Z".to_owned()),
            "TESSERA_BASIC_BROWNOUTS" => {
                Some("2027-06-01T14:00:00Z/2027-06-01T15:00:00Z, 2027-06-08/2027-06-09".to_owned())
            }
            _ => None,
        };
        let policy = Config::load(None, env).unwrap().sunset_policy().unwrap();
        assert_eq!(policy.sunset_at, Some(1_813_017_600));
        assert_eq!(policy.brownouts.len(), 2);
        let bad =
            |k: &str| (k == "TESSERA_BASIC_BROWNOUTS").then(|| "2027-06-02/2027-06-01".into());
        let err = Config::load(None, bad).unwrap_err().to_string();
        assert!(err.contains("basic_brownouts"), "{err}");
        let bad = |k: &str| (k == "TESSERA_BASIC_SUNSET").then(|| "next june".to_owned());
        let err = Config::load(None, bad).unwrap_err().to_string();
        assert!(err.contains("basic_sunset"), "{err}");

        let env = |k: &str| (k == "TESSERA_UPSTREAM").then(|| "http://127.0.0.1:9000".to_owned());
        let c = Config::load(None, env).unwrap();
        assert_eq!(c.upstream.as_deref(), Some("http://127.0.0.1:9000"));
        assert_eq!(c.upstream_idle_timeout_ms, 60_000);
        let env = |k: &str| (k == "TESSERA_UPSTREAM_IDLE_TIMEOUT_MS").then(|| "300".to_owned());
        assert_eq!(
            Config::load(None, env).unwrap().upstream_idle_timeout_ms,
            300
        );
        let bad = |k: &str| (k == "TESSERA_UPSTREAM_IDLE_TIMEOUT_MS").then(|| "0".to_owned());
        let err = Config::load(None, bad).unwrap_err().to_string();
        assert!(err.contains("upstream_idle_timeout_ms"), "{err}");
        let bad = |k: &str| (k == "TESSERA_UNMATCHED").then(|| "allow".to_owned());
        let err = Config::load(None, bad).unwrap_err().to_string();
        assert!(err.contains("unmatched"), "{err}");

        std::fs::write(
            &file,
            "[[route]]\nmethods = [\"GET\"]\npath = \"/v1/books/{id}\"\nscopes = [\"books:read\"]\n\
             [[route]]\npath = \"/v1/status\"\npublic = true\n",
        )
        .unwrap();
        let c = Config::load(Some(&file), |_| None).unwrap();
        assert_eq!(c.route.len(), 2);
        assert_eq!(c.route[0].scopes, ["books:read"]);
        assert!(c.route[1].public);
        std::fs::write(
            &file,
            "[[route]]\npath = \"/v1\"\nscope = [\"books:read\"]\n",
        )
        .unwrap();
        let err = Config::load(Some(&file), |_| None).unwrap_err().to_string();
        assert!(err.contains("scope"), "{err}");

        std::fs::write(&file, "acces_token_ttl = 60\n").unwrap();
        let err = Config::load(Some(&file), |_| None).unwrap_err().to_string();
        assert!(err.contains("acces_token_ttl"), "{err}");
    }
}
