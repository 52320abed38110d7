//! The per-request part of `/metrics`: a tower layer around every route (and the fallback)
//! that counts responses by route, method and status and times them per route.
//!
//! A route is named by its template, never by the raw path: axum's matched route
//! (`/v1/books/{id}`), the gateway's configured `[[route]]` path, or `unmatched`. The set of
//! names is fixed by the router and the configuration, so no request can grow it. The hot
//! path takes one read lock to find its route's entry, then only atomic adds; the latency
//! histogram is a fixed array of atomic bucket counts (no lock, unlike a histogram behind a
//! mutex that every request of a busy route would queue on).

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::response::Response;
use parking_lot::RwLock;
use pin_project_lite::pin_project;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::MetricType;
use tower::{Layer, Service};

use crate::state::AppState;

/// The name of requests no route matched (404s, and the gateway's unmatched paths).
const UNMATCHED: &str = "unmatched";

/// Upper bounds of the latency buckets, microseconds (0.5 ms to 10 s).
const BUCKETS_US: [u64; 14] = [
    500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000,
    2_500_000, 5_000_000, 10_000_000,
];

/// A latency histogram of atomic counters; the last slot is `+Inf`.
#[derive(Default)]
struct Latency {
    counts: [AtomicU64; BUCKETS_US.len() + 1],
    sum_us: AtomicU64,
}

impl Latency {
    fn observe(&self, elapsed: Duration) {
        let us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        let slot = BUCKETS_US
            .iter()
            .position(|bound| us <= *bound)
            .unwrap_or(BUCKETS_US.len());
        self.counts[slot].fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(us, Ordering::Relaxed);
    }

    /// Sum (seconds), count and each bucket's own count (the encoder accumulates them).
    fn snapshot(&self) -> (f64, u64, Vec<(f64, u64)>) {
        let mut total = 0;
        let mut buckets = Vec::with_capacity(self.counts.len());
        for (i, count) in self.counts.iter().enumerate() {
            let n = count.load(Ordering::Relaxed);
            total += n;
            let bound = BUCKETS_US
                .get(i)
                .map_or(f64::INFINITY, |us| *us as f64 / 1e6);
            buckets.push((bound, n));
        }
        let sum = self.sum_us.load(Ordering::Relaxed) as f64 / 1e6;
        (sum, total, buckets)
    }
}

/// One route's counts.
#[derive(Default)]
pub(crate) struct RouteEntry {
    latency: Latency,
    /// Responses by (method, status).
    responses: RwLock<HashMap<(&'static str, u16), AtomicU64>>,
}

impl RouteEntry {
    fn record(&self, method: &'static str, status: u16, elapsed: Duration) {
        self.latency.observe(elapsed);
        let key = (method, status);
        if let Some(n) = self.responses.read().get(&key) {
            n.fetch_add(1, Ordering::Relaxed);
            return;
        }
        self.responses
            .write()
            .entry(key)
            .or_default()
            .fetch_add(1, Ordering::Relaxed);
    }
}

/// Every route's counts, by route name.
#[derive(Default)]
pub struct RouteMetrics {
    routes: RwLock<HashMap<Arc<str>, Arc<RouteEntry>>>,
}

impl std::fmt::Debug for RouteMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouteMetrics").finish_non_exhaustive()
    }
}

impl RouteMetrics {
    fn entry(&self, name: &str) -> Arc<RouteEntry> {
        if let Some(e) = self.routes.read().get(name) {
            return e.clone();
        }
        self.routes
            .write()
            .entry(Arc::from(name))
            .or_default()
            .clone()
    }
}

impl Collector for RouteMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut routes: Vec<(Arc<str>, Arc<RouteEntry>)> = self
            .routes
            .read()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        routes.sort_by(|a, b| a.0.cmp(&b.0));
        let mut family = encoder.encode_descriptor(
            "http_requests",
            "HTTP responses by route template, method and status code",
            None,
            MetricType::Counter,
        )?;
        for (route, entry) in &routes {
            let mut responses: Vec<((&'static str, u16), u64)> = entry
                .responses
                .read()
                .iter()
                .map(|(k, n)| (*k, n.load(Ordering::Relaxed)))
                .collect();
            responses.sort();
            for ((method, status), n) in responses {
                let labels = (
                    [("route", &**route), ("method", method)],
                    [("status", status)],
                );
                family
                    .encode_family(&labels)?
                    .encode_counter::<NoLabelSet, _, u64>(&n, None)?;
            }
        }
        let mut family = encoder.encode_descriptor(
            "http_request_duration_seconds",
            "Time from a request's arrival to its response headers, by route template",
            None,
            MetricType::Histogram,
        )?;
        for (route, entry) in &routes {
            let (sum, count, buckets) = entry.latency.snapshot();
            family
                .encode_family(&[("route", &**route)])?
                .encode_histogram::<NoLabelSet>(sum, count, &buckets, None)?;
        }
        Ok(())
    }
}

/// Wraps every route of the router (`Router::layer`, so the matched route is known).
#[derive(Clone)]
pub struct MetricsLayer {
    app: AppState,
}

impl MetricsLayer {
    pub fn new(app: AppState) -> Self {
        Self { app }
    }
}

impl<S> Layer<S> for MetricsLayer {
    type Service = Measured<S>;

    fn layer(&self, inner: S) -> Measured<S> {
        Measured {
            inner,
            app: self.app.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Measured<S> {
    inner: S,
    app: AppState,
}

impl<S> Service<Request> for Measured<S>
where
    S: Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = MeasuredFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let metrics = &self.app.metrics;
        let entry = metrics.routes.entry(route_name(&self.app, &req));
        let method = method_label(req.method());
        metrics.in_flight.inc();
        let pending = Pending {
            entry,
            method,
            started: Instant::now(),
            in_flight: metrics.in_flight.clone(),
        };
        MeasuredFuture {
            inner: self.inner.call(req),
            pending: Some(pending),
        }
    }
}

/// The route's template; for the gateway's fallback, the configured route's path.
fn route_name<'a>(app: &'a AppState, req: &'a Request) -> &'a str {
    if let Some(matched) = req.extensions().get::<MatchedPath>() {
        return matched.as_str();
    }
    app.gateway
        .as_ref()
        .and_then(|g| g.route_name(req.method().as_str(), req.uri().path()))
        .map_or(UNMATCHED, |name| name)
}

fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// A request being answered; dropping it (answered or abandoned) leaves the in-flight count.
struct Pending {
    entry: Arc<RouteEntry>,
    method: &'static str,
    started: Instant,
    in_flight: Gauge,
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.in_flight.dec();
    }
}

pin_project! {
    pub struct MeasuredFuture<F> {
        #[pin]
        inner: F,
        pending: Option<Pending>,
    }
}

impl<F, E> Future for MeasuredFuture<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let out = std::task::ready!(this.inner.poll(cx));
        if let (Ok(res), Some(p)) = (&out, this.pending.take()) {
            p.entry
                .record(p.method, res.status().as_u16(), p.started.elapsed());
        }
        Poll::Ready(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_buckets_count_their_own_observations_and_end_at_inf() {
        let l = Latency::default();
        l.observe(Duration::from_micros(400));
        l.observe(Duration::from_micros(500));
        l.observe(Duration::from_millis(3));
        l.observe(Duration::from_secs(60));
        let (sum, count, buckets) = l.snapshot();
        assert_eq!(count, 4);
        assert!((sum - 60.0039).abs() < 1e-9, "{sum}");
        assert_eq!(buckets[0], (0.0005, 2), "the bound is inclusive");
        assert_eq!(buckets[3], (0.005, 1));
        assert_eq!(buckets[13], (10.0, 0));
        assert_eq!(buckets[14], (f64::INFINITY, 1));
        assert_eq!(buckets.iter().map(|b| b.1).sum::<u64>(), count);
    }
}
