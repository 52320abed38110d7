//! Concurrent refresh rotations share one statement and one commit.
//!
//! A rotation is four writes (spend the old token, store the new one, revoke the old access
//! token, record the change), written here as data-modifying CTEs of one statement, which
//! PostgreSQL runs atomically: the inserts select from the guard's `RETURNING`, so they
//! happen exactly when the guard spent a token. Alone, each rotation would still be its own
//! transaction: a backend woken, an executor started, a commit record written and flushed.
//! So the rotations of a batch run as one statement over arrays, committed together. Each
//! rotation is still durable before its caller hears of it, and each is still decided on its
//! own: the guard's join spends a token only when it is unused and its set is live, and when
//! a batch holds the same token twice PostgreSQL updates its row once, through one of the
//! two rows, so exactly one of them is reported rotated.
//!
//! A batch that fails as a statement (a constraint or a deadlock, not an unreachable
//! server) fails none of its rotations by itself: they run again one by one, each a batch of
//! one, so one bad write cannot spoil the others.

use sqlx::postgres::PgPool;
use tessera_core::store::{ChangeKind, RefreshToken, StoreResult};
use tessera_core::UnixSeconds;

use std::future::Future;

use super::{decide_each, written, Asked, BatchError, GuardedBatch, Queue};

/// The most rotations one statement carries.
const MAX_BATCH: usize = 128;

/// Batches in flight at once, each on a connection of the pool. Two keep the database busy
/// while the last batch's answers travel back, without splitting the queue into many small
/// batches.
pub(super) const IN_FLIGHT: usize = 2;

/// Each old token is found by its key inside a `LATERAL` subquery with `LIMIT 1` (the
/// shape [`super::GENERIC_PLAN`] needs), and the `UPDATE` reaches its row by its address
/// (`ctid`). When a concurrent rotation spent the token after this statement's snapshot, the
/// `UPDATE` waits for it and then re-checks its conditions on the row's new version, which
/// has another address and `used_at` set: the token is spent once (conformance test
/// `a_token_spent_while_its_batch_waits_is_not_spent_again`).
const ROTATE_MANY: &str = "\
WITH input AS (
    SELECT * FROM unnest($1::int4[], $2::int8[], $3::bytea[], $4::bytea[], $5::bytea[], $6::text[],
                         $7::int8[], $8::text[], $9::int8[], $10::text[], $11::int8[])
        AS i(n, now, old_hash, retry, new_hash, set_id, created_at, access_jti, access_expires_at,
             old_jti, old_expires_at)
), target AS (
    SELECT i.*, t.tid FROM input i
    CROSS JOIN LATERAL (
        SELECT r.ctid AS tid FROM refresh_token r
        WHERE r.token_hash = i.old_hash AND r.used_at IS NULL
          AND (SELECT s.revoked_at IS NULL FROM token_set s WHERE s.id = r.token_set_id)
        LIMIT 1
    ) t
), spent AS (
    UPDATE refresh_token SET used_at = t.now, retry_sealed = t.retry
    FROM target t
    WHERE refresh_token.ctid = t.tid AND refresh_token.used_at IS NULL
    RETURNING t.*
), stored AS (
    INSERT INTO refresh_token (token_hash, token_set_id, created_at, used_at, access_jti, access_expires_at)
    SELECT new_hash, set_id, created_at, NULL, access_jti, access_expires_at FROM spent
), revoked AS (
    INSERT INTO revoked_token (jti, expires_at, revoked_at)
    SELECT old_jti, old_expires_at, now FROM spent
    ON CONFLICT (jti) DO NOTHING
), changed AS (
    INSERT INTO change_event (kind, subject, created_at)
    SELECT $12, old_jti, now FROM spent
)
SELECT n FROM spent";

/// One rotation's write, owned.
pub(super) struct Rotation {
    now: UnixSeconds,
    old_hash: Vec<u8>,
    retry: Option<Vec<u8>>,
    new: RefreshToken,
    old_jti: String,
    old_expires_at: UnixSeconds,
}

/// The rotations' queue, shared by every clone of one store. Answers, once committed,
/// whether the rotation spent its token.
pub(crate) struct Rotations {
    pub(super) queue: Queue<Rotation, bool>,
}

impl Rotations {
    pub(super) fn start(pool: PgPool) -> Self {
        Self {
            queue: Queue::start(IN_FLIGHT, MAX_BATCH, pool, run_batch),
        }
    }

    /// Queues one rotation and waits for its batch's answer.
    pub(crate) async fn rotate(
        &self,
        old: &RefreshToken,
        new: &RefreshToken,
        retry: Option<&[u8]>,
        now: UnixSeconds,
    ) -> StoreResult<bool> {
        self.queue
            .ask(Rotation {
                now,
                old_hash: old.token_hash.0.to_vec(),
                retry: retry.map(<[u8]>::to_vec),
                new: new.clone(),
                old_jti: old.access_jti.clone(),
                old_expires_at: old.access_expires_at,
            })
            .await
    }
}

async fn run_batch(pool: PgPool, mut batch: Vec<Asked<Rotation, bool>>) {
    // Rows are locked in the batch's order: in one order for every batch, two batches that
    // share tokens (a token presented twice at once) wait for each other instead of
    // deadlocking.
    batch.sort_unstable_by(|a, b| a.what.old_hash.cmp(&b.what.old_hash));
    decide_each::<Rotations>(&pool, batch).await;
}

impl GuardedBatch for Rotations {
    type Write = Rotation;

    fn run(
        pool: &PgPool,
        writes: &[Asked<Rotation, bool>],
    ) -> impl Future<Output = Result<Vec<bool>, BatchError>> + Send {
        rotate_many(pool, writes)
    }
}

/// Runs `jobs` as one statement: for each, whether it spent its token.
async fn rotate_many(
    pool: &PgPool,
    jobs: &[Asked<Rotation, bool>],
) -> Result<Vec<bool>, BatchError> {
    let len = jobs.len();
    let mut n = Vec::with_capacity(len);
    let mut now = Vec::with_capacity(len);
    let mut old_hash = Vec::with_capacity(len);
    let mut retry = Vec::with_capacity(len);
    let mut new_hash = Vec::with_capacity(len);
    let mut set_id = Vec::with_capacity(len);
    let mut created_at = Vec::with_capacity(len);
    let mut access_jti = Vec::with_capacity(len);
    let mut access_expires_at = Vec::with_capacity(len);
    let mut old_jti = Vec::with_capacity(len);
    let mut old_expires_at = Vec::with_capacity(len);
    for (i, Asked { what: job, .. }) in jobs.iter().enumerate() {
        // MAX_BATCH is far below i32::MAX.
        n.push(i as i32);
        now.push(job.now);
        old_hash.push(job.old_hash.as_slice());
        retry.push(job.retry.as_deref());
        new_hash.push(job.new.token_hash.0.as_slice());
        set_id.push(job.new.token_set_id.as_str());
        created_at.push(job.new.created_at);
        access_jti.push(job.new.access_jti.as_str());
        access_expires_at.push(job.new.access_expires_at);
        old_jti.push(job.old_jti.as_str());
        old_expires_at.push(job.old_expires_at);
    }
    let rows = sqlx::query(ROTATE_MANY)
        .bind(n)
        .bind(now)
        .bind(old_hash)
        .bind(retry)
        .bind(new_hash)
        .bind(set_id)
        .bind(created_at)
        .bind(access_jti)
        .bind(access_expires_at)
        .bind(old_jti)
        .bind(old_expires_at)
        .bind(ChangeKind::RevokedToken.as_str())
        .fetch_all(pool)
        .await
        .map_err(BatchError::of)?;
    Ok(written(&rows, len))
}
