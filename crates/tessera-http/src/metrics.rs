//! `GET /metrics`: what a server counts, in the Prometheus text format (0.0.4).
//!
//! One [`Metrics`] per server, owned by its state (no global registry: several servers share
//! a test process). Families have small fixed label sets whose values are `&'static str`
//! names or route templates; no label ever carries a client id, an email, a token or a
//! credential id. Counting is an atomic add on a metric looked up in a read-locked map;
//! values the core keeps (cache hits, reuse detections) and values that are a function of
//! time (change-feed lag, signing key age) are read when scraped, by [`StateCollector`].
//! The per-request part (requests by route and status, latency) is `metrics_layer.rs`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use tessera_core::clock::Clock;
use tessera_core::error::ErrorCode;
use tessera_core::metrics::{BatchSizes, HitMiss, BATCH_BOUNDS};
use tessera_core::runtime::lease::Lease;
use tessera_core::runtime::sync::FeedStatus;
use tessera_core::runtime::Caches;

use crate::error::HttpError;
use crate::metrics_layer::RouteMetrics;
use crate::state::AppState;

/// The Prometheus text exposition format, version 0.0.4.
const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Token endpoint requests: which grant, and how it ended.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct GrantLabels {
    /// `client_credentials`, `authorization_code`, `refresh_token`, or `other` for a missing
    /// or unsupported one.
    pub grant_type: &'static str,
    /// `issued` or `refused`.
    pub outcome: &'static str,
    /// The RFC 6749 §5.2 error code; `none` when issued.
    pub error: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabel {
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabel {
    pub state: &'static str,
}

/// A request refused by a rate limit: which endpoint group, whose budget.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LimitedLabels {
    /// `token`, `revocation` or `introspection`.
    pub endpoint: &'static str,
    /// `client` or `address`.
    pub partition: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueueLabel {
    queue: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CacheLabels {
    cache: &'static str,
    result: &'static str,
}

/// Every metric a server keeps.
pub struct Metrics {
    registry: Registry,
    pub(crate) routes: Arc<RouteMetrics>,
    pub(crate) in_flight: Gauge,
    /// Connections being served (see `listener.rs`).
    pub connections_open: Gauge,
    pub(crate) tokens: Family<GrantLabels, Counter>,
    pub(crate) revocations: Family<ResultLabel, Counter>,
    pub(crate) introspections: Family<ResultLabel, Counter>,
    pub(crate) basic: Family<StateLabel, Counter>,
    pub(crate) rate_limited: Family<LimitedLabels, Counter>,
    pub(crate) signin_failures: Counter,
    pub(crate) signin_lockouts: Counter,
    pub(crate) usage_flush_seconds: Histogram,
    pub(crate) usage_flush_rows: Counter,
    pub(crate) usage_flush_errors: Counter,
}

impl Metrics {
    /// Registers every family; `caches`, `feed`, `housekeeping`, `clock` and the store's
    /// `batches` (by queue) are read at each scrape.
    pub fn new(
        caches: Arc<Caches>,
        feed: Arc<FeedStatus>,
        housekeeping: Arc<Lease>,
        clock: Arc<dyn Clock>,
        batches: Vec<(&'static str, Arc<BatchSizes>)>,
    ) -> Self {
        let mut registry = Registry::with_prefix("tessera");
        let routes = Arc::new(RouteMetrics::default());
        registry.register_collector(Box::new(routes.clone()));
        registry.register_collector(Box::new(StateCollector {
            caches,
            feed,
            housekeeping,
            clock,
            batches,
        }));
        let in_flight = Gauge::default();
        registry.register(
            "http_requests_in_flight",
            "Requests being answered now",
            in_flight.clone(),
        );
        let connections_open = Gauge::default();
        registry.register(
            "http_connections_open",
            "Connections being served now (at most max_connections; more wait to be accepted)",
            connections_open.clone(),
        );
        let tokens = Family::default();
        registry.register(
            "token_requests",
            "Token endpoint requests by grant type and outcome, with the OAuth error code",
            tokens.clone(),
        );
        let revocations = Family::default();
        registry.register(
            "revocations",
            "Revocation requests by what they revoked: access_token, token_set, nothing or refused",
            revocations.clone(),
        );
        let introspections = Family::default();
        registry.register(
            "introspections",
            "Introspection requests by result: active, inactive or refused",
            introspections.clone(),
        );
        let basic = Family::default();
        registry.register(
            "legacy_basic_requests",
            "Requests authenticated with legacy HTTP Basic by state: ok, wrong_password, \
             malformed, limited, brownout, refused_sunset, error",
            basic.clone(),
        );
        let rate_limited = Family::default();
        registry.register(
            "rate_limited_requests",
            "Requests refused with 429 by a rate limit, by endpoint group and partition \
             (client or address)",
            rate_limited.clone(),
        );
        let signin_failures = Counter::default();
        registry.register(
            "signin_failures",
            "Sign-ins refused for a wrong email or password",
            signin_failures.clone(),
        );
        let signin_lockouts = Counter::default();
        registry.register(
            "signin_lockouts",
            "Sign-ins refused before any check: too many failures for the account or address",
            signin_lockouts.clone(),
        );
        // 1 ms to ~4 s.
        let usage_flush_seconds = Histogram::new(exponential_buckets(0.001, 2.0, 13));
        registry.register(
            "store_legacy_usage_flush_duration_seconds",
            "Time to write one batch of legacy Basic usage counts to the store",
            usage_flush_seconds.clone(),
        );
        let usage_flush_rows = Counter::default();
        registry.register(
            "store_legacy_usage_flushed_rows",
            "Legacy Basic usage rows (credential and hour) written to the store",
            usage_flush_rows.clone(),
        );
        let usage_flush_errors = Counter::default();
        registry.register(
            "store_legacy_usage_flush_errors",
            "Flushes of legacy Basic usage counts that failed (kept for the next one)",
            usage_flush_errors.clone(),
        );
        Self {
            registry,
            routes,
            in_flight,
            connections_open,
            tokens,
            revocations,
            introspections,
            basic,
            rate_limited,
            signin_failures,
            signin_lockouts,
            usage_flush_seconds,
            usage_flush_rows,
            usage_flush_errors,
        }
    }

    /// Requests being answered now.
    pub fn in_flight_now(&self) -> i64 {
        self.in_flight.get()
    }

    /// Counts one token request.
    pub(crate) fn token_request(&self, grant_type: &'static str, error: Option<ErrorCode>) {
        let labels = GrantLabels {
            grant_type,
            outcome: if error.is_some() { "refused" } else { "issued" },
            error: error.map_or("none", ErrorCode::as_str),
        };
        self.tokens.get_or_create(&labels).inc();
    }

    pub(crate) fn count(family: &Family<ResultLabel, Counter>, result: &'static str) {
        family.get_or_create(&ResultLabel { result }).inc();
    }

    pub(crate) fn basic_request(&self, state: &'static str) {
        self.basic.get_or_create(&StateLabel { state }).inc();
    }

    /// Everything, as the text format.
    pub fn render(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::with_capacity(16 * 1024);
        prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

/// The fixed name of a token request's grant type.
pub(crate) fn grant_type_label(raw: Option<&str>) -> &'static str {
    match raw {
        Some("client_credentials") => "client_credentials",
        Some("authorization_code") => "authorization_code",
        Some("refresh_token") => "refresh_token",
        _ => "other",
    }
}

/// `GET /metrics`.
pub async fn get_metrics(State(app): State<AppState>) -> Result<Response, HttpError> {
    let body = app.metrics.render().map_err(HttpError::internal)?;
    let mut res = body.into_response();
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    Ok(res)
}

/// What is read from the rest of the server at each scrape.
struct StateCollector {
    caches: Arc<Caches>,
    feed: Arc<FeedStatus>,
    housekeeping: Arc<Lease>,
    clock: Arc<dyn Clock>,
    batches: Vec<(&'static str, Arc<BatchSizes>)>,
}

impl std::fmt::Debug for StateCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateCollector").finish_non_exhaustive()
    }
}

impl Collector for StateCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let caches: [(&'static str, &HitMiss); 3] = [
            ("clients", self.caches.clients.stats()),
            ("verified_tokens", self.caches.verified.stats()),
            ("basic", self.caches.legacy.stats()),
        ];
        let mut family = encoder.encode_descriptor(
            "cache_requests",
            "Cache lookups by cache (clients, verified_tokens, basic) and result (hit, miss)",
            None,
            prometheus_client::metrics::MetricType::Counter,
        )?;
        for (cache, stats) in caches {
            for (result, n) in [("hit", stats.hits.get()), ("miss", stats.misses.get())] {
                let labels = CacheLabels { cache, result };
                ConstCounter::new(n).encode(family.encode_family(&labels)?)?;
            }
        }
        let counters = &self.caches.counters;
        counter(
            &mut encoder,
            "refresh_reuse_detected",
            "Spent refresh tokens presented again; each revoked its token set",
            counters.refresh_reuse.get(),
        )?;
        counter(
            &mut encoder,
            "refresh_retries_answered",
            "Retries of a refresh within refresh_retry_window, answered with the first answer",
            counters.refresh_retry.get(),
        )?;
        counter(
            &mut encoder,
            "authorization_code_reuse_detected",
            "Authorization codes presented twice; each revoked the tokens the code issued",
            counters.code_reuse.get(),
        )?;
        counter(
            &mut encoder,
            "change_feed_sync_errors",
            "Polls of the change feed that failed",
            self.feed.errors.get(),
        )?;
        let now_ms = self.clock.now_ms();
        gauge(
            &mut encoder,
            "change_feed_lag_seconds",
            "Seconds since this process last read the change feed successfully",
            self.feed.lag_ms(now_ms) as f64 / 1000.0,
        )?;
        gauge(
            &mut encoder,
            "change_feed_behind",
            "Changes committed to the feed but not yet applied here, at the last poll",
            self.feed.behind() as f64,
        )?;
        counter(
            &mut encoder,
            "change_feed_notifications",
            "Reads of the change feed started by a PostgreSQL notification rather than the poll",
            self.feed.notified.get(),
        )?;
        gauge(
            &mut encoder,
            "housekeeping_lease_held",
            "1 when this replica holds the lease on once-per-cluster work (pruning, recounts, scheduled key rotation)",
            if self.housekeeping.held() { 1.0 } else { 0.0 },
        )?;
        let now = now_ms.div_euclid(1000);
        if let Some(since) = self.caches.keyring().current_since(now) {
            gauge(
                &mut encoder,
                "signing_key_age_seconds",
                "Seconds since the key that signs new tokens began signing",
                (now - since) as f64,
            )?;
        }
        self.encode_batch_sizes(&mut encoder)
    }
}

impl StateCollector {
    fn encode_batch_sizes(&self, encoder: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
        if self.batches.is_empty() {
            return Ok(());
        }
        let mut family = encoder.encode_descriptor(
            "store_batch_requests",
            "Requests carried per store batch, by queue: one SQLite group commit \
             (sqlite_writes), one PostgreSQL batch statement (rotations, token_sets, reads)",
            None,
            prometheus_client::metrics::MetricType::Histogram,
        )?;
        let bounds = BATCH_BOUNDS
            .iter()
            .map(|b| *b as f64)
            .chain([f64::INFINITY]);
        for (queue, sizes) in &self.batches {
            let (batches, requests) = sizes.read();
            let buckets: Vec<(f64, u64)> = bounds.clone().zip(batches).collect();
            family
                .encode_family(&QueueLabel { queue })?
                .encode_histogram::<NoLabelSet>(
                    requests as f64,
                    batches.iter().sum(),
                    &buckets,
                    None,
                )?;
        }
        Ok(())
    }
}

fn counter(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: u64,
) -> Result<(), std::fmt::Error> {
    let c = ConstCounter::new(value);
    c.encode(encoder.encode_descriptor(name, help, None, c.metric_type())?)
}

fn gauge(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: f64,
) -> Result<(), std::fmt::Error> {
    let g = ConstGauge::new(value);
    g.encode(encoder.encode_descriptor(name, help, None, g.metric_type())?)
}
