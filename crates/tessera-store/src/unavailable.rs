//! Which database failures mean "the store is unavailable" (unreachable, restarting, out of
//! disk space) rather than "this request failed": the first kind becomes
//! [`StoreError::unavailable`], which the HTTP layer answers with 503 and `Retry-After`, so
//! a client retries instead of reporting a server bug.

use tessera_core::error::StoreError;

/// PostgreSQL SQLSTATEs of an unavailable server (Appendix A of its manual): class 08
/// (connection exception), 53 (insufficient resources: disk full, out of memory, too many
/// connections) and the 57P0x operator interventions (shutdown, crash, starting up).
fn postgres_unavailable(sqlstate: &str) -> bool {
    sqlstate.starts_with("08")
        || sqlstate.starts_with("53")
        || matches!(sqlstate, "57P01" | "57P02" | "57P03")
}

/// SQLite primary result codes of an unavailable file: SQLITE_IOERR (10), SQLITE_FULL
/// (13), SQLITE_CANTOPEN (14) and SQLITE_BUSY (5, another process holding the lock past
/// `busy_timeout`). Extended codes carry the primary one in their low byte.
fn sqlite_unavailable(code: i32) -> bool {
    matches!(code & 0xff, 5 | 10 | 13 | 14)
}

/// An sqlx failure as the core's storage error, marked unavailable when it is.
pub(crate) fn sqlx_error(err: sqlx::Error) -> StoreError {
    let unavailable = match &err {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            code.parse::<i32>()
                .map_or_else(|_| postgres_unavailable(&code), sqlite_unavailable)
        }),
        _ => false,
    };
    if unavailable {
        StoreError::unavailable(err)
    } else {
        StoreError::new(err)
    }
}

/// A rusqlite failure (the SQLite writer thread and readers) as the core's storage error.
pub(crate) fn rusqlite_error(err: rusqlite::Error) -> StoreError {
    match &err {
        rusqlite::Error::SqliteFailure(e, _) if sqlite_unavailable(e.extended_code) => {
            StoreError::unavailable(err)
        }
        _ => StoreError::new(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_shutdown_and_disk_full_states_are_unavailable() {
        for state in ["08006", "08001", "57P01", "57P03", "53100"] {
            assert!(postgres_unavailable(state), "{state}");
        }
        for state in ["23505", "40001", "42P01", "22P02"] {
            assert!(!postgres_unavailable(state), "{state}");
        }
    }

    #[test]
    fn sqlite_full_ioerr_and_busy_are_unavailable_constraints_are_not() {
        // SQLITE_FULL, SQLITE_IOERR_WRITE (778), SQLITE_BUSY, SQLITE_CANTOPEN.
        for code in [13, 778, 5, 14] {
            assert!(sqlite_unavailable(code), "{code}");
        }
        // SQLITE_CONSTRAINT_UNIQUE (2067), SQLITE_CORRUPT (11), SQLITE_ERROR (1).
        for code in [2067, 11, 1] {
            assert!(!sqlite_unavailable(code), "{code}");
        }
    }

    #[test]
    fn a_full_disk_from_rusqlite_is_unavailable() {
        let full = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(13),
            Some("database or disk is full".into()),
        );
        assert!(rusqlite_error(full).is_unavailable());
        assert!(!rusqlite_error(rusqlite::Error::QueryReturnedNoRows).is_unavailable());
        assert!(sqlx_error(sqlx::Error::PoolTimedOut).is_unavailable());
        assert!(!sqlx_error(sqlx::Error::RowNotFound).is_unavailable());
    }
}
