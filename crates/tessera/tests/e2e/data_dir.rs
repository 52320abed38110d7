//! The data directory and the files in it are private to the server's user: they hold
//! password and secret hashes, sealed signing keys and the master key that opens them.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::support::{Backend, TestApp};

fn mode(path: &Path) -> u32 {
    let meta = std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    meta.permissions().mode() & 0o777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_data_dir_is_0700_and_its_files_0600() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        // The embedded default on a directory that does not exist yet: the server creates
        // the directory, the SQLite file and the master key itself.
        c.data_dir = c.data_dir.join("fresh");
        c.database = None;
        c.master_key = None;
    })
    .await;
    // A write, so the write-ahead log and its index certainly exist.
    let client = app.client(None).await;
    app.access_token(&client).await;

    let dir = app.config.data_dir.clone();
    assert_eq!(mode(&dir), 0o700, "{}", dir.display());
    for name in [
        "master.key",
        "tessera.db",
        "tessera.db-wal",
        "tessera.db-shm",
    ] {
        assert_eq!(mode(&dir.join(name)), 0o600, "{name}");
    }
    app.stop().await;
}
