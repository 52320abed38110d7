//! Files other local users must not read: the data directory, which holds the master key
//! and by default the SQLite store (password and secret hashes, sealed signing keys).

use std::fs::{DirBuilder, OpenOptions};
use std::io;
use std::path::Path;

/// Creates the directory (and missing parents) as 0700. An existing directory keeps the
/// mode its owner gave it.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Creates the empty database file as 0600 if it does not exist. SQLite gives its `-wal`
/// and `-shm` files the mode of the database file, so they are 0600 too; without this, all
/// three would follow the process umask (usually world-readable).
pub fn create_private_file(file: &Path) -> io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(file) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}
