//! SQLite's hot path without sqlx: the code flow's single-use writes go to one
//! group-committing writer thread, its point reads to pooled connections used inline.
//! Both use rusqlite, which links the same SQLite library as sqlx (libsqlite3-sys 0.30):
//! a statement runs where it is called, from a cache of prepared statements, instead of
//! travelling to a per-connection worker thread and back as in sqlx, which on this path
//! cost more than the SQL itself. Everything else keeps going through sqlx.

mod checkpointer;
mod connection;
mod readers;
mod writer;

use std::path::Path;
use std::sync::Arc;

use tokio::sync::Mutex;

use checkpointer::{Checkpointer, WRITER_AUTOCHECKPOINT_PAGES};
use connection::connect;
pub(crate) use readers::SqliteReaders;
pub(crate) use writer::SqliteWriter;

use crate::connect_error::ConnectError;

/// The direct connections to one SQLite file.
pub(crate) struct SqliteFile {
    pub writer: SqliteWriter,
    pub readers: SqliteReaders,
    _checkpointer: Checkpointer,
}

impl SqliteFile {
    /// `path` must exist and be migrated (sqlx connected first); `lock` is the process's
    /// write lock, shared with sqlx's writers.
    pub(crate) fn open(
        path: &Path,
        pragmas: &'static [&'static str],
        lock: Arc<Mutex<()>>,
    ) -> Result<Self, ConnectError> {
        let writer = connect(path, pragmas)
            .and_then(|conn| {
                conn.pragma_update(None, "wal_autocheckpoint", WRITER_AUTOCHECKPOINT_PAGES)?;
                // Each write of a batch runs in its own savepoint, and every page a write
                // changes that the batch had already changed is first copied to the
                // statement journal, which SQLite spills to a temporary file past 64 KiB:
                // an open, writes and an unlink per batch. Kept in memory, a batch's
                // journal is a few MiB at most (256 writes of a few pages each) and is
                // freed at its commit.
                conn.pragma_update(None, "temp_store", "MEMORY")?;
                Ok(conn)
            })
            .map_err(ConnectError::Direct)?;
        Ok(Self {
            writer: SqliteWriter::start(writer, lock)?,
            readers: SqliteReaders::new(path, pragmas),
            _checkpointer: Checkpointer::start(path, pragmas)?,
        })
    }
}
