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
//! - [`sets`]: new token sets with their first refresh tokens (code exchanges), likewise.
//! - [`reads`]: point reads by one key (a refresh token by its hash), one statement per batch.
//!
//! The two writes are decided each on its own inside their statement ([`GuardedBatch`]), and
//! a batch that fails as a statement is run again one write at a time.
//!
//! The arrays need PostgreSQL's own driver, which sqlx's `Any` cannot bind, so the batches
//! have a small pool of their own.

pub(crate) mod reads;
pub(crate) mod rotations;
pub(crate) mod sets;

use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{ConnectOptions, Row};
use tessera_core::error::StoreError;
use tessera_core::metrics::BatchSizes;
use tessera_core::store::{RefreshToken, StoreResult, TokenSet};
use tessera_core::UnixSeconds;
use tokio::sync::{mpsc, oneshot, Semaphore};

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

/// One plan for every batch, the generic one PostgreSQL caches with the prepared
/// statement: planning each batch anew cost about a fifth of a rotation batch's work, and
/// more than a batch of reads. Each statement reaches the rows its array names in a way
/// no statistics can turn into a scan of the table (a key's row is found inside a `LATERAL`
/// subquery with `LIMIT 1`, by the key's index): a plan cached while a table was young would
/// otherwise keep scanning all of it as it grew. One join is left to the planner: a read's
/// second table (a refresh token's set) is looked up by its key once the table's statistics
/// say it has rows, as for the main pool's prepared reads.
const GENERIC_PLAN: &[&str] = &["SET plan_cache_mode = force_generic_plan"];

/// The batched statements of one store, each kind with connections of its own, so that
/// one kind's batches never wait for another's.
pub(crate) struct PgBatches {
    pub(crate) rotations: rotations::Rotations,
    pub(crate) sets: sets::Sets,
    pub(crate) reads: reads::KeyReads,
    pools: [PgPool; 3],
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
        let rotations = connect(rotations::IN_FLIGHT, GENERIC_PLAN);
        let sets = connect(sets::IN_FLIGHT, GENERIC_PLAN);
        let reads = connect(reads::IN_FLIGHT, GENERIC_PLAN);
        Ok(Arc::new(Self {
            rotations: rotations::Rotations::start(rotations.clone()),
            sets: sets::Sets::start(sets.clone()),
            reads: reads::KeyReads::start(reads.clone()),
            pools: [rotations, sets, reads],
        }))
    }

    /// How many requests each queue's batches carried, by queue.
    pub(crate) fn batch_sizes(&self) -> [(&'static str, Arc<BatchSizes>); 3] {
        [
            ("rotations", self.rotations.queue.sizes().clone()),
            ("token_sets", self.sets.queue.sizes().clone()),
            ("reads", self.reads.queue.sizes().clone()),
        ]
    }

    pub(crate) async fn close(&self) {
        for pool in &self.pools {
            pool.close().await;
        }
    }
}

impl crate::SqlStore {
    /// [`tessera_core::store::AuthorizationStore::rotate_refresh_token`]'s write on
    /// PostgreSQL, in the batch of rotations waiting with it: `true` when `old` was spent
    /// and `new` stored.
    pub(crate) async fn rotate_in_batch(
        &self,
        old: &RefreshToken,
        new: &RefreshToken,
        retry: Option<&[u8]>,
        now: UnixSeconds,
    ) -> StoreResult<bool> {
        let rotated = self
            .pg_batches()?
            .rotations
            .rotate(old, new, retry, now)
            .await?;
        if rotated {
            self.announce_change().await;
        }
        Ok(rotated)
    }

    /// [`tessera_core::store::AuthorizationStore::insert_token_set`]'s write on PostgreSQL,
    /// in the batch of sets waiting with it: `false`, storing nothing, when a set with that
    /// id exists already.
    pub(crate) async fn start_set_in_batch(
        &self,
        set: &TokenSet,
        first: &RefreshToken,
    ) -> StoreResult<bool> {
        self.pg_batches()?.sets.start_set(set, first).await
    }

    fn pg_batches(&self) -> StoreResult<&PgBatches> {
        self.batches
            .as_deref()
            .ok_or_else(|| StoreError::new("batched statements need PostgreSQL"))
    }
}

/// A request waiting for its batch: what it asks, and where its answer goes.
pub(crate) struct Asked<W, T> {
    what: W,
    done: oneshot::Sender<StoreResult<T>>,
}

impl<W, T> Asked<W, T> {
    /// Tells the caller, who may have gone (a write stands all the same).
    fn answer(self, result: StoreResult<T>) {
        let _ = self.done.send(result);
    }
}

/// Requests of one kind, waiting for their batch.
pub(crate) struct Queue<W, T> {
    jobs: mpsc::UnboundedSender<Asked<W, T>>,
    sizes: Arc<BatchSizes>,
}

impl<W: Send + 'static, T: Send + 'static> Queue<W, T> {
    /// Starts the task that forms batches of at most `max_batch` requests, `in_flight` at
    /// once, each run by `run` on `pool`.
    pub(crate) fn start<F, Fut>(in_flight: usize, max_batch: usize, pool: PgPool, run: F) -> Self
    where
        F: Fn(PgPool, Vec<Asked<W, T>>) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let (jobs, waiting) = mpsc::unbounded_channel();
        let run = move |batch| run(pool.clone(), batch);
        let sizes = Arc::new(BatchSizes::default());
        let batches = form_batches(waiting, in_flight, max_batch, sizes.clone(), run);
        tokio::spawn(batches);
        Self { jobs, sizes }
    }

    /// How many requests this queue's batches carried.
    pub(crate) fn sizes(&self) -> &Arc<BatchSizes> {
        &self.sizes
    }

    /// Queues `what` and waits for its batch's answer. A store that is closing takes no
    /// more requests.
    pub(crate) async fn ask(&self, what: W) -> StoreResult<T> {
        let (done, answer) = oneshot::channel();
        if self.jobs.send(Asked { what, done }).is_err() {
            return Err(crate::db(sqlx::Error::PoolClosed));
        }
        answer
            .await
            .unwrap_or_else(|_| Err(crate::db(sqlx::Error::WorkerCrashed)))
    }
}

/// Most times a batch's former lets the runtime go round before it sends the batch (see
/// [`form_batches`]).
const GATHER_ROUNDS: usize = 8;

/// Takes the first waiting job, then, once a slot is free, every other one waiting by
/// then, and then gathers: it yields to the runtime, so that the tasks ready to run (and the
/// connections with a request ready to read) run once and queue what they are about to
/// ask, takes those too, and goes round again while a round brings more, up to
/// [`GATHER_ROUNDS`]. Under load a batch so carries about three times the jobs (7 to 20 a
/// statement in the rotation benchmark), and each commit's cost is shared by more of
/// them; when idle, one empty round costs the lone job a few microseconds. No timer: a
/// wait measured in time would hold the lone job for nothing.
async fn form_batches<J, F, Fut>(
    mut waiting: mpsc::UnboundedReceiver<J>,
    in_flight: usize,
    max_batch: usize,
    sizes: Arc<BatchSizes>,
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
        for round in 0..=GATHER_ROUNDS {
            let before = batch.len();
            while batch.len() < max_batch {
                match waiting.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            let gathered_none = round > 0 && batch.len() == before;
            if gathered_none || round == GATHER_ROUNDS || batch.len() == max_batch {
                break;
            }
            tokio::task::yield_now().await;
        }
        sizes.record(batch.len());
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

/// A single-use write that many requests run as one statement, each still decided alone
/// by the statement's guard.
trait GuardedBatch {
    /// One request's write, owned.
    type Write: Send + 'static;
    /// Runs `writes` as one statement, committed: for each, whether its guard let it write.
    fn run(
        pool: &PgPool,
        writes: &[Asked<Self::Write, bool>],
    ) -> impl Future<Output = Result<Vec<bool>, BatchError>> + Send;
}

/// For each of a batch's `len` writes, whether the statement wrote it: its answer has one
/// row per write done, naming the write by its place in the batch (`n`, from 0).
fn written(rows: &[PgRow], len: usize) -> Vec<bool> {
    let mut written = vec![false; len];
    for row in rows {
        if let Some(slot) = row
            .try_get::<i32, _>("n")
            .ok()
            .and_then(|i| usize::try_from(i).ok())
            .and_then(|i| written.get_mut(i))
        {
            *slot = true;
        }
    }
    written
}

/// Runs a batch of `B` and answers each of its writes. A batch that fails as a statement (a
/// clashing key, a vanished row a foreign key needed, a deadlock) runs again one write at a
/// time, so that one bad write spoils no other; any other failure (the database gone) is
/// every write's.
async fn decide_each<B: GuardedBatch>(pool: &PgPool, batch: Vec<Asked<B::Write, bool>>) {
    match B::run(pool, &batch).await {
        Ok(decided) => {
            for (job, decided) in batch.into_iter().zip(decided) {
                job.answer(Ok(decided));
            }
        }
        Err(err) if err.statement_failed() && batch.len() > 1 => {
            tracing::debug!(error = %err.text, writes = batch.len(), "a batch failed as a statement; each write runs alone");
            for job in batch {
                let alone = B::run(pool, std::slice::from_ref(&job)).await;
                let decided = alone
                    .map(|decided| decided.first() == Some(&true))
                    .map_err(|err| err.to_store());
                job.answer(decided);
            }
        }
        Err(err) => {
            for job in batch {
                job.answer(Err(err.to_store()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    type Sent = Arc<parking_lot::Mutex<Vec<Vec<u32>>>>;

    /// A former on a current-thread runtime whose batches are recorded as they are sent.
    fn former() -> (
        mpsc::UnboundedSender<u32>,
        tokio::task::JoinHandle<()>,
        Sent,
        Arc<BatchSizes>,
    ) {
        let (jobs, waiting) = mpsc::unbounded_channel();
        let sent = Sent::default();
        let record = sent.clone();
        let sizes = Arc::new(BatchSizes::default());
        let former = tokio::spawn(form_batches(waiting, 2, 128, sizes.clone(), move |batch| {
            record.lock().push(batch);
            async {}
        }));
        (jobs, former, sent, sizes)
    }

    /// Queues `job`, then has a newly spawned task queue the next, up to 3: requests
    /// arriving one after another while the former gathers.
    fn chain(jobs: mpsc::UnboundedSender<u32>, job: u32) {
        tokio::spawn(async move {
            jobs.send(job).unwrap();
            if job < 3 {
                chain(jobs, job + 1);
            }
        });
    }

    #[tokio::test]
    async fn a_batch_gathers_what_is_queued_while_the_runtime_goes_round() {
        let (jobs, former, sent, sizes) = former();
        chain(jobs, 1);
        // The last sender gone, the former ends once the queue is empty.
        former.await.unwrap();
        assert_eq!(*sent.lock(), [vec![1, 2, 3]]);
        assert_eq!(
            sizes.read(),
            ([0, 0, 1, 0, 0, 0, 0, 0, 0], 3),
            "one batch of 3"
        );
    }

    #[tokio::test]
    async fn a_lone_job_is_not_held_for_company() {
        let (jobs, former, sent, _) = former();
        jobs.send(1).unwrap();
        // Nothing else is queued: the batch of one leaves while the sender still waits.
        for _ in 0..=GATHER_ROUNDS * 2 {
            if !sent.lock().is_empty() {
                break;
            }
            tokio::task::yield_now().await;
        }
        assert_eq!(*sent.lock(), [vec![1]]);
        drop(jobs);
        former.await.unwrap();
    }
}
