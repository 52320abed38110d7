//! New token sets, each with its first refresh token (a code exchange's), many at once and
//! committed together. A set is stored only when no set with its id exists: the revoked row
//! a replayed code leaves under the id its first exchange is about to use
//! ([`tessera_core::store::AuthorizationStore::revoke_token_set_of_code`]) keeps that set, and
//! its refresh token, from ever being stored live.

use std::future::Future;

use sqlx::postgres::PgPool;
use tessera_core::store::{RefreshToken, StoreResult, TokenSet};

use super::{decide_each, written, Asked, BatchError, GuardedBatch, Queue};

/// The most sets one statement carries.
const MAX_BATCH: usize = 128;

/// Batches in flight at once, each on a connection of the pool.
pub(super) const IN_FLIGHT: usize = 2;

/// The sets are inserted from the arrays; each first token only when its set was (`IN` the
/// insert's `RETURNING`), so a set already there stores nothing of the batch's row.
const START_MANY: &str = "\
WITH input AS (
    SELECT * FROM unnest($1::int4[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                         $7::int8[], $8::int8[], $9::int8[], $10::text[], $11::bytea[], $12::int8[],
                         $13::text[], $14::int8[])
        AS i(n, id, client_id, user_id, account_id, scopes, created_at, revoked_at, auth_time,
             dpop_jkt, token_hash, token_created_at, access_jti, access_expires_at)
), started AS (
    INSERT INTO token_set (id, client_id, user_id, account_id, scopes, created_at, revoked_at, auth_time, dpop_jkt)
    SELECT id, client_id, user_id, account_id, scopes, created_at, revoked_at, auth_time, dpop_jkt
    FROM input
    ON CONFLICT (id) DO NOTHING
    RETURNING id
), stored AS (
    INSERT INTO refresh_token (token_hash, token_set_id, created_at, used_at, access_jti, access_expires_at)
    SELECT token_hash, id, token_created_at, NULL, access_jti, access_expires_at
    FROM input WHERE id IN (SELECT id FROM started)
)
SELECT n FROM input WHERE id IN (SELECT id FROM started)";

/// One set's write, owned.
pub(super) struct Start {
    set: TokenSet,
    first: RefreshToken,
}

/// The sets' queue, shared by every clone of one store. Answers, once committed, whether
/// the set was stored.
pub(crate) struct Sets {
    pub(super) queue: Queue<Start, bool>,
}

impl Sets {
    pub(super) fn start(pool: PgPool) -> Self {
        Self {
            queue: Queue::start(IN_FLIGHT, MAX_BATCH, pool, run_batch),
        }
    }

    /// Queues one set and waits for its batch's answer: `false`, storing nothing, when a
    /// set with its id exists already.
    pub(crate) async fn start_set(
        &self,
        set: &TokenSet,
        first: &RefreshToken,
    ) -> StoreResult<bool> {
        self.queue
            .ask(Start {
                set: set.clone(),
                first: first.clone(),
            })
            .await
    }
}

async fn run_batch(pool: PgPool, mut batch: Vec<Asked<Start, bool>>) {
    // One id twice in one statement would be inserted once but its row read twice: a
    // repeated id waits for a statement of its own, after the first has committed (and so
    // finds the set there).
    batch.sort_unstable_by(|a, b| a.what.set.id.as_str().cmp(b.what.set.id.as_str()));
    let mut firsts: Vec<Asked<Start, bool>> = Vec::with_capacity(batch.len());
    let mut repeats = Vec::new();
    for job in batch {
        match firsts.last() {
            Some(last) if last.what.set.id == job.what.set.id => repeats.push(job),
            _ => firsts.push(job),
        }
    }
    decide_each::<Sets>(&pool, firsts).await;
    for job in repeats {
        decide_each::<Sets>(&pool, vec![job]).await;
    }
}

impl GuardedBatch for Sets {
    type Write = Start;

    fn run(
        pool: &PgPool,
        writes: &[Asked<Start, bool>],
    ) -> impl Future<Output = Result<Vec<bool>, BatchError>> + Send {
        start_many(pool, writes)
    }
}

/// Runs `jobs` as one statement: for each, whether its set was stored.
async fn start_many(pool: &PgPool, jobs: &[Asked<Start, bool>]) -> Result<Vec<bool>, BatchError> {
    let len = jobs.len();
    let mut n = Vec::with_capacity(len);
    let mut id = Vec::with_capacity(len);
    let mut client_id = Vec::with_capacity(len);
    let mut user_id = Vec::with_capacity(len);
    let mut account_id = Vec::with_capacity(len);
    let mut scopes = Vec::with_capacity(len);
    let mut created_at = Vec::with_capacity(len);
    let mut revoked_at = Vec::with_capacity(len);
    let mut auth_time = Vec::with_capacity(len);
    let mut dpop_jkt = Vec::with_capacity(len);
    let mut token_hash = Vec::with_capacity(len);
    let mut token_created_at = Vec::with_capacity(len);
    let mut access_jti = Vec::with_capacity(len);
    let mut access_expires_at = Vec::with_capacity(len);
    for (
        i,
        Asked {
            what: Start { set, first },
            ..
        },
    ) in jobs.iter().enumerate()
    {
        // MAX_BATCH is far below i32::MAX.
        n.push(i as i32);
        id.push(set.id.as_str());
        client_id.push(set.client_id.as_str());
        user_id.push(set.user_id.as_str());
        account_id.push(set.account_id.as_str());
        scopes.push(set.scopes.to_string());
        created_at.push(set.created_at);
        revoked_at.push(set.revoked_at);
        auth_time.push(set.auth_time);
        dpop_jkt.push(set.dpop_jkt.as_deref());
        token_hash.push(first.token_hash.0.as_slice());
        token_created_at.push(first.created_at);
        access_jti.push(first.access_jti.as_str());
        access_expires_at.push(first.access_expires_at);
    }
    let rows = sqlx::query(START_MANY)
        .bind(n)
        .bind(id)
        .bind(client_id)
        .bind(user_id)
        .bind(account_id)
        .bind(scopes)
        .bind(created_at)
        .bind(revoked_at)
        .bind(auth_time)
        .bind(dpop_jkt)
        .bind(token_hash)
        .bind(token_created_at)
        .bind(access_jti)
        .bind(access_expires_at)
        .fetch_all(pool)
        .await
        .map_err(BatchError::of)?;
    Ok(written(&rows, len))
}
