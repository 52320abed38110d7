//! Pooled read connections for the hot point lookups (a refresh token or a code by its
//! hash). A lookup runs inline on the calling task's thread: it reads one row through an
//! index, from pages SQLite or the OS has cached, in microseconds, which is less than
//! handing it to another thread and waking up again would cost.

use std::path::{Path, PathBuf};

use parking_lot::Mutex;
use rusqlite::Connection;
use tessera_core::store::StoreResult;

/// Idle connections kept for reuse; more are opened under load and closed after.
const KEEP_IDLE: usize = 4;

/// Read-only; pages read through a memory map of the file. Every commit of the writer
/// empties a reader's page cache, so without the map each lookup copies its B-tree pages
/// in again with `pread`; through the map it reads them where the OS keeps them.
const READER_PRAGMAS: &str = "PRAGMA query_only = ON; PRAGMA mmap_size = 67108864;";

pub(crate) struct SqliteReaders {
    path: PathBuf,
    pragmas: &'static [&'static str],
    idle: Mutex<Vec<Connection>>,
}

impl SqliteReaders {
    pub(crate) fn new(path: &Path, pragmas: &'static [&'static str]) -> Self {
        Self {
            path: path.to_owned(),
            pragmas,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// Runs `read` on an idle connection (opened if none is).
    pub(crate) fn read<T>(
        &self,
        read: impl FnOnce(&Connection) -> StoreResult<T>,
    ) -> StoreResult<T> {
        let idle = self.idle.lock().pop();
        let conn = match idle {
            Some(conn) => conn,
            None => {
                let conn = super::connection::connect(&self.path, self.pragmas)
                    .map_err(crate::unavailable::rusqlite_error)?;
                conn.execute_batch(READER_PRAGMAS)
                    .map_err(crate::unavailable::rusqlite_error)?;
                conn
            }
        };
        let result = read(&conn);
        let mut idle = self.idle.lock();
        if idle.len() < KEEP_IDLE {
            idle.push(conn);
        }
        result
    }
}
