//! The load generator: a fixed number of keep-alive connections, each a task that runs
//! its scenario's request sequence through a warm-up (discarded) and a measured window.
//!
//! Knows timing and statistics. What to send, and whether an answer is right, belongs to
//! the `Scenario`; this module never names an endpoint.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use bytes::Bytes;
use hdrhistogram::Histogram;
use hyper::StatusCode;
use tokio::task::JoinSet;
use tokio::time::{sleep, timeout, Instant};

use crate::client::{body_excerpt, BenchRequest, Connection};

/// A request past this is counted as an error and its connection replaced.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause before reconnecting after a failed connect, so a dead server is not spun on.
const RECONNECT_PAUSE: Duration = Duration::from_millis(10);
/// Latencies are recorded in microseconds, from 1 µs to a minute, to 3 significant digits.
const LATENCY_MAX_MICROS: u64 = 60_000_000;

/// What one benchmark scenario sends, and how it judges the answers.
///
/// Each connection owns a `State` made by `open`, so a request may depend on the previous
/// response on that connection (a refresh-token chain keeps its current token there).
pub trait Scenario: Send + Sync + 'static {
    type State: Send + 'static;

    /// The state of connection number `index` (0-based), before its first request.
    fn open(&self, index: usize) -> Self::State;

    /// The next request on this connection.
    fn request(&self, state: &mut Self::State) -> BenchRequest;

    /// Judges a response and advances the connection's state; `Err` counts as an error.
    fn response(&self, _state: &mut Self::State, status: StatusCode, body: &Bytes) -> Result<()> {
        expect_success(status, body)
    }

    /// Called when a request got no response (the connection is then replaced).
    fn transport_error(&self, _state: &mut Self::State) {}
}

/// The default judgement: any 2xx.
pub fn expect_success(status: StatusCode, body: &Bytes) -> Result<()> {
    if status.is_success() {
        Ok(())
    } else {
        Err(anyhow!("status {status}: {}", body_excerpt(body)))
    }
}

#[derive(Clone, Copy, Debug)]
pub struct LoadConfig {
    pub connections: usize,
    pub warmup: Duration,
    pub duration: Duration,
}

/// The outcome of one load run.
pub struct LoadReport {
    /// Successful requests completed inside the measured window.
    pub requests: u64,
    /// Failed requests over the whole run, warm-up included: any is a bug.
    pub errors: u64,
    pub first_error: Option<String>,
    pub measured: Duration,
    latency_micros: Histogram<u64>,
}

impl LoadReport {
    fn empty(measured: Duration) -> Result<Self> {
        Ok(Self {
            requests: 0,
            errors: 0,
            first_error: None,
            measured,
            latency_micros: new_histogram()?,
        })
    }

    /// A report of `requests` in `measured`, nothing else, for the report's own tests.
    #[cfg(test)]
    pub fn with_requests(requests: u64, measured: Duration) -> Result<Self> {
        Ok(Self {
            requests,
            ..Self::empty(measured)?
        })
    }

    pub fn requests_per_second(&self) -> f64 {
        self.requests as f64 / self.measured.as_secs_f64()
    }

    /// Latency at `quantile` (0.5, 0.99, 0.999) in milliseconds.
    pub fn latency_ms(&self, quantile: f64) -> f64 {
        self.latency_micros.value_at_quantile(quantile) as f64 / 1000.0
    }

    fn merge(&mut self, tally: Tally) -> Result<()> {
        self.requests += tally.requests;
        self.errors += tally.errors;
        if self.first_error.is_none() {
            self.first_error = tally.first_error;
        }
        self.latency_micros
            .add(&tally.latency_micros)
            .map_err(|e| anyhow!("merging latency histograms: {e:?}"))
    }
}

/// Runs `scenario` against `addr` with `config.connections` connections.
pub async fn run<S: Scenario>(
    addr: SocketAddr,
    scenario: Arc<S>,
    config: LoadConfig,
) -> Result<LoadReport> {
    let start = Instant::now();
    let window = Window {
        from: start + config.warmup,
        until: start + config.warmup + config.duration,
    };
    let mut tasks = JoinSet::new();
    for index in 0..config.connections {
        tasks.spawn(drive(addr, Arc::clone(&scenario), index, window));
    }
    let mut report = LoadReport::empty(config.duration)?;
    while let Some(joined) = tasks.join_next().await {
        report.merge(joined.context("a load connection task failed")??)?;
    }
    Ok(report)
}

#[derive(Clone, Copy)]
struct Window {
    from: Instant,
    until: Instant,
}

/// One connection's counts, merged into the report when its task ends.
struct Tally {
    requests: u64,
    errors: u64,
    first_error: Option<String>,
    latency_micros: Histogram<u64>,
}

impl Tally {
    fn error(&mut self, error: anyhow::Error) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(format!("{error:#}"));
        }
    }
}

/// One connection's loop: send, wait, judge, until the window closes.
async fn drive<S: Scenario>(
    addr: SocketAddr,
    scenario: Arc<S>,
    index: usize,
    window: Window,
) -> Result<Tally> {
    let mut tally = Tally {
        requests: 0,
        errors: 0,
        first_error: None,
        latency_micros: new_histogram()?,
    };
    let mut state = scenario.open(index);
    let mut connection: Option<Connection> = None;
    while Instant::now() < window.until {
        let open = match connection.as_mut() {
            Some(open) => open,
            None => match Connection::open(addr).await {
                Ok(fresh) => connection.insert(fresh),
                Err(error) => {
                    tally.error(error);
                    sleep(RECONNECT_PAUSE).await;
                    continue;
                }
            },
        };
        let request = scenario.request(&mut state);
        let sent = Instant::now();
        let answer = timeout(REQUEST_TIMEOUT, open.send(request)).await;
        let done = Instant::now();
        match answer {
            Ok(Ok((status, body))) => match scenario.response(&mut state, status, &body) {
                Ok(()) if done >= window.from && done <= window.until => {
                    tally.requests += 1;
                    let micros = u64::try_from(done.duration_since(sent).as_micros())
                        .unwrap_or(LATENCY_MAX_MICROS);
                    tally.latency_micros.saturating_record(micros.max(1));
                }
                Ok(()) => {}
                Err(error) => tally.error(error),
            },
            Ok(Err(error)) => {
                connection = None;
                scenario.transport_error(&mut state);
                tally.error(error);
            }
            Err(_elapsed) => {
                connection = None;
                scenario.transport_error(&mut state);
                tally.error(anyhow!("no response within {REQUEST_TIMEOUT:?}"));
            }
        }
    }
    Ok(tally)
}

fn new_histogram() -> Result<Histogram<u64>> {
    Histogram::new_with_bounds(1, LATENCY_MAX_MICROS, 3)
        .map_err(|e| anyhow!("creating a latency histogram: {e:?}"))
}
