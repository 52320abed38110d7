//! What differs between SQLite and PostgreSQL, in one place.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sqlx::migrate::Migrator;

use crate::connect_error::ConnectError;
use crate::private_fs::{create_private_dir, create_private_file};

static SQLITE: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES: Migrator = sqlx::migrate!("./migrations/postgres");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// The operator that matches a `LIKE` pattern ignoring case without `LOWER()` on every
    /// row: SQLite's `LIKE` ignores ASCII case already; PostgreSQL's does not.
    pub(crate) fn like_any_case(self) -> &'static str {
        match self {
            Self::Sqlite => "LIKE",
            Self::Postgres => "ILIKE",
        }
    }

    pub fn of(url: &str) -> Option<Self> {
        if url.starts_with("sqlite:") {
            Some(Self::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Self::Postgres)
        } else {
            None
        }
    }

    /// SQLite: create the file (and its directory) on first start, readable by the owner
    /// only. Returns the URL to connect with and, for SQLite, the database file's path.
    pub(crate) fn prepare_url(self, url: &str) -> Result<(String, Option<PathBuf>), ConnectError> {
        match self {
            Self::Postgres => Ok((url.to_owned(), None)),
            Self::Sqlite => {
                let path = url
                    .trim_start_matches("sqlite://")
                    .trim_start_matches("sqlite:");
                let path = path.split('?').next().unwrap_or(path);
                // Every process, and the writer thread, must open the same file.
                if path.is_empty() || path == ":memory:" || url.contains("mode=memory") {
                    return Err(ConnectError::Url(url.to_owned()));
                }
                let file = Path::new(path);
                if let Some(dir) = file.parent() {
                    if !dir.as_os_str().is_empty() {
                        create_private_dir(dir)
                            .map_err(|e| ConnectError::Directory(dir.display().to_string(), e))?;
                    }
                }
                create_private_file(file)
                    .map_err(|e| ConnectError::File(file.display().to_string(), e))?;
                let sep = if url.contains('?') { '&' } else { '?' };
                Ok((format!("{url}{sep}mode=rwc"), Some(PathBuf::from(path))))
            }
        }
    }

    pub(crate) fn session_setup(self) -> &'static [&'static str] {
        match self {
            // WAL: readers never block the writer; FULL sync makes every commit durable
            // (fsync of the WAL) before a caller hears of it, which the group commit of
            // the hot writes keeps cheap; busy_timeout lets the CLI and the server share
            // the file.
            Self::Sqlite => &[
                "PRAGMA journal_mode = WAL",
                "PRAGMA synchronous = FULL",
                "PRAGMA busy_timeout = 5000",
                "PRAGMA foreign_keys = ON",
            ],
            // No JIT compilation: Tessera's queries are short, and PostgreSQL's cost
            // estimate of a console query over 100 000 credentials passes `jit_above_cost`,
            // after which compiling it took 5 times as long as running it (0.5 s against
            // 0.1 s, measured on PostgreSQL 15).
            Self::Postgres => &["SET jit = off"],
        }
    }

    pub(crate) fn max_connections(self) -> u32 {
        match self {
            Self::Sqlite => 8,
            Self::Postgres => 16,
        }
    }

    /// How long a query waits for a pooled connection. On PostgreSQL a restart or a
    /// failover makes every new connection fail, and sqlx retries them until this passes:
    /// a few seconds, so that a request is answered 503 with `Retry-After` promptly rather
    /// than held for sqlx's default of 30 s. SQLite's connections are local files, where a
    /// wait means a long queue behind the one writer, which the default tolerates.
    pub(crate) fn acquire_timeout(self) -> Duration {
        match self {
            Self::Sqlite => Duration::from_secs(30),
            Self::Postgres => Duration::from_secs(3),
        }
    }

    pub(crate) fn migrator(self) -> &'static Migrator {
        match self {
            Self::Sqlite => &SQLITE,
            Self::Postgres => &POSTGRES,
        }
    }

    /// Starts a transaction that takes the write lock at once. SQLite's default deferred
    /// transaction fails with SQLITE_BUSY when two of them read and then both try to write.
    pub(crate) fn begin_write(self) -> &'static str {
        match self {
            Self::Sqlite => "BEGIN IMMEDIATE",
            Self::Postgres => "BEGIN",
        }
    }
}
