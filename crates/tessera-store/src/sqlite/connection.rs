//! Opening one rusqlite connection to the store's file, as the writer thread, the inline
//! readers and the checkpointer each do.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

/// One connection with the session settings every connection of the store gets.
pub(super) fn connect(path: &Path, pragmas: &[&str]) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    for pragma in pragmas {
        // `journal_mode` answers with a row, which execute_batch ignores.
        conn.execute_batch(pragma)?;
    }
    conn.set_prepared_statement_cache_capacity(32);
    Ok(conn)
}
