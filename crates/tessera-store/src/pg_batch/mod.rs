//! PostgreSQL only: the hot statements of many requests, run as one.
//!
//! A statement PostgreSQL runs on its own pays a round trip, a backend woken and an
//! executor started, and a write also its own transaction with a flushed commit. Under
//! load those fixed costs are most of the database's work for a point read or a single-use
//! write, and each round trip also wakes one of Tessera's workers. Here a task per kind of
//! statement takes every request waiting when one of its connections is free (up to a
//! limit) and runs them as one statement over arrays: the busier the database, the larger
//! the batches, and a request that finds the database idle waits for nothing.
//!
//! - [`rotations`]: refresh rotations, one guarded statement and one commit per batch.
//! - [`reads`]: point reads by one key (a refresh token, a code), one statement per batch.
//!
//! The arrays need PostgreSQL's own driver, which sqlx's `Any` cannot bind, so the batches
//! have a small pool of their own.

pub(crate) mod reads;
pub(crate) mod rotations;

use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::ConnectOptions;
use tessera_core::error::StoreError;
use tokio::sync::{mpsc, Semaphore};

/// Every batch connection looks each array element's row up by its key, the only good
/// plan for these statements. Misled by a young table's statistics or a large batch, the
/// planner picked a hash join that read the whole token table: so the other join methods
/// are off here. Set after connecting, as the main pool's `jit = off` is, rather than as
/// startup options, which some connection poolers refuse.
const KEYED_PLANS: [&str; 4] = [
    "SET jit = off",
    "SET enable_seqscan = off",
    "SET enable_hashjoin = off",
    "SET enable_mergejoin = off",
];

/// The batched statements of one store, each kind with a pool of its own (their plans
/// are kept differently).
pub(crate) struct PgBatches {
    pub(crate) rotations: rotations::Rotations,
    pub(crate) reads: reads::KeyReads,
    pools: [PgPool; 2],
}

impl PgBatches {
    /// Connects the batches' pools (lazily, as the main pool's connections are made) and
    /// starts the tasks that form the batches.
    pub(crate) fn start(url: &str, acquire_timeout: Duration) -> Result<Arc<Self>, sqlx::Error> {
        let options = PgConnectOptions::from_str(url)?
            .log_statements(tracing::log::LevelFilter::Trace)
            .log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_secs(1));
        let connect = |connections: usize, setup: &'static [&'static str]| {
            PgPoolOptions::new()
                .max_connections(connections as u32)
                .acquire_timeout(acquire_timeout)
                .after_connect(move |conn, _| {
                    Box::pin(async move {
                        for setting in KEYED_PLANS.iter().chain(setup) {
                            sqlx::query(setting).execute(&mut *conn).await?;
                        }
                        Ok(())
                    })
                })
                .connect_lazy_with(options.clone())
        };
        let rotations = connect(rotations::IN_FLIGHT, rotations::SESSION_SETUP);
        let reads = connect(reads::IN_FLIGHT, reads::SESSION_SETUP);
        Ok(Arc::new(Self {
            rotations: rotations::Rotations::start(rotations.clone()),
            reads: reads::KeyReads::start(reads.clone()),
            pools: [rotations, reads],
        }))
    }

    pub(crate) async fn close(&self) {
        for pool in &self.pools {
            pool.close().await;
        }
    }
}

/// Requests of one kind, waiting for their batch.
pub(crate) struct Queue<J> {
    jobs: mpsc::UnboundedSender<J>,
}

impl<J: Send + 'static> Queue<J> {
    /// Starts the task that forms batches of at most `max_batch` jobs, `in_flight` at once,
    /// each run by `run` on `pool`.
    pub(crate) fn start<F, Fut>(in_flight: usize, max_batch: usize, pool: PgPool, run: F) -> Self
    where
        F: Fn(PgPool, Vec<J>) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let (jobs, waiting) = mpsc::unbounded_channel();
        let run = move |batch| run(pool.clone(), batch);
        tokio::spawn(form_batches(waiting, in_flight, max_batch, run));
        Self { jobs }
    }

    /// Queues `job`; a store that is closing cannot take it, and it comes back.
    pub(crate) fn submit(&self, job: J) -> Result<(), J> {
        self.jobs.send(job).map_err(|refused| refused.0)
    }
}

/// Takes the first waiting job, then, once a slot is free, every other one waiting by
/// then.
async fn form_batches<J, F, Fut>(
    mut waiting: mpsc::UnboundedReceiver<J>,
    in_flight: usize,
    max_batch: usize,
    run: F,
) where
    J: Send + 'static,
    F: Fn(Vec<J>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let slots = Arc::new(Semaphore::new(in_flight));
    while let Some(first) = waiting.recv().await {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let mut batch = vec![first];
        while batch.len() < max_batch {
            match waiting.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let batch = run(batch);
        tokio::spawn(async move {
            batch.await;
            drop(slot);
        });
    }
}

/// A batch statement's failure, told to each of the batch's callers.
pub(crate) struct BatchError {
    text: String,
    unavailable: bool,
    statement_failed: bool,
}

impl BatchError {
    pub(crate) fn of(err: sqlx::Error) -> Self {
        let text = err.to_string();
        let database = matches!(err, sqlx::Error::Database(_));
        let unavailable = crate::db(err).is_unavailable();
        Self {
            text,
            unavailable,
            statement_failed: database && !unavailable,
        }
    }

    /// The database ran the statement and refused it (a clashing key, a deadlock): it was
    /// reached, and the batch's requests may still succeed one by one.
    pub(crate) fn statement_failed(&self) -> bool {
        self.statement_failed
    }

    /// The failure as one caller's error, classed as the main pool's errors are.
    pub(crate) fn to_store(&self) -> StoreError {
        if self.unavailable {
            StoreError::unavailable(self.text.clone())
        } else {
            StoreError::new(self.text.clone())
        }
    }
}
