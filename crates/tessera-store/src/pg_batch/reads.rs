//! Point reads by one key, many at once: every refresh rotation starts with one (its token
//! and the token's set, by the token's hash), as do device polls and pushed requests, and
//! alone each would be a round trip and a statement of its own. A batch runs the read once
//! for an array of keys: the read's own SQL, its `$1` taken from each element in turn
//! (`CROSS JOIN LATERAL`), so the statement a caller wrote is the one that runs, and a key
//! without a row simply has none in the answer.
//! A read sees what was committed when its batch's statement started, as a read of its own
//! would when it started: never less than was committed before it was asked for.

use sqlx::postgres::{PgPool, PgRow};
use sqlx::Row;
use tessera_core::store::StoreResult;

use super::{Asked, BatchError, Queue};

/// The most keys one statement carries.
const MAX_BATCH: usize = 128;

/// Batches in flight at once, each on a connection of the pool.
pub(super) const IN_FLIGHT: usize = 2;

/// One read: its statement and its key.
pub(super) struct Read {
    sql: &'static str,
    key: Vec<u8>,
}

/// A read waiting for its batch, to be answered with its row.
type Waiting = Asked<Read, Option<PgRow>>;

/// The reads' queue, shared by every clone of one store.
pub(crate) struct KeyReads {
    pub(super) queue: Queue<Read, Option<PgRow>>,
}

impl KeyReads {
    pub(super) fn start(pool: PgPool) -> Self {
        Self {
            queue: Queue::start(IN_FLIGHT, MAX_BATCH, pool, run_batch),
        }
    }

    /// The first row `sql` answers with `key` as its one parameter, `$1`.
    pub(crate) async fn read(&self, sql: &'static str, key: Vec<u8>) -> StoreResult<Option<PgRow>> {
        debug_assert!(!sql.contains("$2"), "a keyed read has one parameter");
        self.queue.ask(Read { sql, key }).await
    }
}

/// `sql` for each key of the array `$1`: its first row, with the key's place in the array
/// (`batch_n`, from 1).
fn for_each_key(sql: &str) -> String {
    format!(
        "SELECT b.batch_n, q.* FROM unnest($1::bytea[]) WITH ORDINALITY AS b(batch_key, batch_n) \
         CROSS JOIN LATERAL ({} LIMIT 1) AS q",
        sql.replace("$1", "b.batch_key")
    )
}

/// One statement for each kind of read in the batch.
async fn run_batch(pool: PgPool, batch: Vec<Waiting>) {
    let mut kinds: Vec<(&'static str, Vec<Waiting>)> = Vec::new();
    for job in batch {
        match kinds.iter_mut().find(|(sql, _)| *sql == job.what.sql) {
            Some((_, jobs)) => jobs.push(job),
            None => kinds.push((job.what.sql, vec![job])),
        }
    }
    for (sql, jobs) in kinds {
        read_kind(&pool, sql, jobs).await;
    }
}

async fn read_kind(pool: &PgPool, sql: &str, mut jobs: Vec<Waiting>) {
    let keys: Vec<Vec<u8>> = jobs
        .iter_mut()
        .map(|job| std::mem::take(&mut job.what.key))
        .collect();
    let result = sqlx::query(&for_each_key(sql))
        .bind(keys)
        .fetch_all(pool)
        .await;
    match result {
        Ok(rows) => {
            let mut found: Vec<Option<PgRow>> = jobs.iter().map(|_| None).collect();
            for row in rows {
                let place = row
                    .try_get::<i64, _>("batch_n")
                    .ok()
                    .and_then(|n| usize::try_from(n - 1).ok());
                if let Some(slot) = place.and_then(|i| found.get_mut(i)) {
                    *slot = Some(row);
                }
            }
            for (job, row) in jobs.into_iter().zip(found) {
                job.answer(Ok(row));
            }
        }
        Err(err) => {
            let err = BatchError::of(err);
            for job in jobs {
                job.answer(Err(err.to_store()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::for_each_key;

    #[test]
    fn each_key_runs_the_callers_own_statement() {
        let sql = for_each_key("SELECT retry_sealed FROM refresh_token WHERE token_hash = $1");
        assert_eq!(
            sql,
            "SELECT b.batch_n, q.* FROM unnest($1::bytea[]) WITH ORDINALITY AS b(batch_key, batch_n) \
             CROSS JOIN LATERAL (SELECT retry_sealed FROM refresh_token WHERE token_hash = b.batch_key LIMIT 1) AS q"
        );
    }
}
