//! WAL checkpoints off the writer's path. By default the connection whose commit takes the
//! WAL past 1 000 pages copies them into the database file and fsyncs it, inside that
//! commit: the writer thread, which every waiting caller is queued behind. Here the writer
//! checkpoints only as a safety valve (a large WAL), and this thread runs a `PASSIVE`
//! checkpoint every few milliseconds on its own connection, which never blocks the writer
//! or a reader, so the copying and its fsync overlap the next batches on the other core.

use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::time::Duration;

use rusqlite::Connection;

use crate::connect_error::ConnectError;

/// How often the checkpointer copies what the WAL gained to the database file.
const INTERVAL: Duration = Duration::from_millis(50);

/// WAL pages after which the writer checkpoints itself (64 MiB of 4 KiB pages): only if
/// this thread falls behind.
pub(crate) const WRITER_AUTOCHECKPOINT_PAGES: u32 = 16_384;

/// Stops the thread when dropped.
pub(crate) struct Checkpointer {
    _stop: Sender<()>,
}

impl Checkpointer {
    pub(crate) fn start(path: &Path, pragmas: &[&str]) -> Result<Self, ConnectError> {
        let conn = super::connection::connect(path, pragmas).map_err(ConnectError::Direct)?;
        let (stop, stopped) = mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("tessera-sqlite-checkpoint".into())
            .spawn(move || {
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(INTERVAL) {
                    checkpoint(&conn);
                }
            })
            .map_err(ConnectError::Thread)?;
        Ok(Self { _stop: stop })
    }
}

fn checkpoint(conn: &Connection) {
    // Answers (busy, WAL frames, frames checkpointed); a busy or partial pass is normal.
    if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
        tracing::warn!(error = %e, "WAL checkpoint failed");
    }
}
