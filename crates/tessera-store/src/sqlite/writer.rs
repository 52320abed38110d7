//! Group commit for SQLite's hot single-use writes: code consumption, new token sets and
//! refresh-token rotation.
//!
//! SQLite admits one writer at a time and every commit appends WAL frames and, with
//! `synchronous = FULL`, waits for an fsync. Through sqlx each statement is also a round
//! trip to a per-connection worker thread. So these writes go to one thread owning one
//! rusqlite connection, where a batch runs synchronously with cached prepared statements.
//! Every write waiting when
//! the thread becomes free joins one transaction, each inside its own `SAVEPOINT`, so a
//! failing write rolls back alone and each stays atomic; no caller hears back before the
//! `COMMIT` that makes its write durable. Only the commit is shared.
//!
//! The thread takes the process's write lock (the one [`crate::SqlStore::begin`] takes) for
//! each batch, so it queues behind other writers of this process instead of colliding with
//! them in SQLite's busy handler; other processes are met by `busy_timeout`.

use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;

use rusqlite::Connection;
use tessera_core::error::StoreError;
use tessera_core::metrics::BatchSizes;
use tessera_core::store::StoreResult;
use tokio::sync::{oneshot, Mutex};

use crate::connect_error::ConnectError;
use crate::unavailable::rusqlite_error;

/// Writes joining one transaction at most; bounds how long the first of them waits.
const MAX_BATCH: usize = 256;

/// One write: runs inside the batch, then hears how the batch ended.
trait Job: Send {
    /// Runs the write; `false` when it failed and its savepoint must be rolled back.
    fn execute(&mut self, conn: &Connection) -> bool;
    /// Delivers the write's result, or the batch's failure to commit.
    fn finish(self: Box<Self>, committed: Result<(), &rusqlite::Error>);
}

struct Pending<F, T> {
    work: Option<F>,
    result: Option<rusqlite::Result<T>>,
    reply: oneshot::Sender<StoreResult<T>>,
}

impl<F, T> Job for Pending<F, T>
where
    F: FnOnce(&Connection) -> rusqlite::Result<T> + Send,
    T: Send,
{
    fn execute(&mut self, conn: &Connection) -> bool {
        let Some(work) = self.work.take() else {
            return false;
        };
        let result = work(conn);
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn finish(self: Box<Self>, committed: Result<(), &rusqlite::Error>) {
        let outcome = match (committed, self.result) {
            (Err(e), _) => Err(match e {
                // Out of disk space or an I/O failure at commit: the store is unavailable.
                rusqlite::Error::SqliteFailure(f, _) => {
                    rusqlite_error(rusqlite::Error::SqliteFailure(
                        *f,
                        Some(format!("the write was not committed: {e}")),
                    ))
                }
                _ => StoreError::new(format!("the write was not committed: {e}")),
            }),
            (Ok(()), Some(result)) => result.map_err(rusqlite_error),
            (Ok(()), None) => Err(StoreError::new("the write never ran")),
        };
        // The caller may have gone (a dropped request): its write stands all the same.
        let _ = self.reply.send(outcome);
    }
}

/// Handle to the writer thread; cloning shares it. The thread ends with the last handle.
#[derive(Clone)]
pub(crate) struct SqliteWriter {
    jobs: Sender<Box<dyn Job>>,
    /// How many writes each batch carried.
    pub sizes: Arc<BatchSizes>,
}

impl SqliteWriter {
    /// Starts the writer thread on `conn`.
    pub(crate) fn start(conn: Connection, lock: Arc<Mutex<()>>) -> Result<Self, ConnectError> {
        let (jobs, queue) = mpsc::channel();
        let sizes = Arc::new(BatchSizes::default());
        let counted = sizes.clone();
        std::thread::Builder::new()
            .name("tessera-sqlite-writer".into())
            .spawn(move || run(&conn, &queue, &lock, &counted))
            .map_err(ConnectError::Thread)?;
        Ok(Self { jobs, sizes })
    }

    /// Runs `work` in the next batch; answers once that batch is committed (or failed).
    pub(crate) async fn write<T, F>(&self, work: F) -> StoreResult<T>
    where
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = Box::new(Pending {
            work: Some(work),
            result: None,
            reply,
        });
        self.jobs
            .send(job)
            .map_err(|_| StoreError::new("the SQLite writer has stopped"))?;
        answer
            .await
            .map_err(|_| StoreError::new("the SQLite writer stopped before answering"))?
    }
}

fn run(conn: &Connection, queue: &Receiver<Box<dyn Job>>, lock: &Mutex<()>, sizes: &BatchSizes) {
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        sizes.record(batch.len());
        let committed = {
            let _held = lock.blocking_lock();
            commit_batch(conn, &mut batch)
        };
        if let Err(e) = &committed {
            tracing::error!(error = %e, writes = batch.len(), "SQLite batch failed");
        }
        for job in batch {
            job.finish(committed.as_ref().map(|_| ()));
        }
    }
}

/// One transaction for the whole batch, one savepoint per write.
fn commit_batch(conn: &Connection, batch: &mut [Box<dyn Job>]) -> rusqlite::Result<()> {
    conn.prepare_cached("BEGIN IMMEDIATE")?.execute([])?;
    let outcome = (|| {
        for job in batch.iter_mut() {
            conn.prepare_cached("SAVEPOINT job")?.execute([])?;
            if !job.execute(conn) {
                conn.prepare_cached("ROLLBACK TO job")?.execute([])?;
            }
            conn.prepare_cached("RELEASE job")?.execute([])?;
        }
        conn.prepare_cached("COMMIT")?.execute([])?;
        Ok(())
    })();
    if outcome.is_err() && !conn.is_autocommit() {
        // The batch's writes are undone together; each caller gets the error.
        let _ = conn.execute_batch("ROLLBACK");
    }
    outcome
}
