//! When a pooled connection is checked before use.
//!
//! sqlx's pools check every connection they hand out by default (`test_before_acquire`): a
//! round trip to the server, or to SQLite's worker thread, before each statement, on top of
//! the one sqlx makes when the connection comes back. A connection in steady use has just
//! shown that it works; one that sat idle may have been dropped by the server, a firewall
//! or a restart. So only a connection idle for [`IDLE_BEFORE_CHECK`] is checked; a busy one
//! that breaks anyway fails its statement (classed unavailable: the caller answers 503) and
//! is discarded, and the next one is connected afresh.

use std::time::Duration;

use sqlx::pool::PoolOptions;
use sqlx::{Connection, Database};

/// How long a connection may sit idle and still be used without a check.
pub(crate) const IDLE_BEFORE_CHECK: Duration = Duration::from_secs(1);

/// `options` checking a connection before use only when it has been idle a while.
pub(crate) fn check_when_idle<DB: Database>(options: PoolOptions<DB>) -> PoolOptions<DB> {
    options
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for < IDLE_BEFORE_CHECK {
                    return Ok(true);
                }
                // A failed check discards the connection; the pool takes or makes another.
                Ok(conn.ping().await.is_ok())
            })
        })
}
