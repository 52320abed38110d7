//! SQL storage for Tessera: one implementation of the core's storage traits over SQLite
//! (the embedded default) and PostgreSQL (for replicas sharing one database).
//!
//! Queries are written once, in the SQL both dialects understand (`$n` parameters,
//! `ON CONFLICT`, `RETURNING`), through sqlx's `Any` driver; what differs between the two
//! is chosen in one place, [`dialect`]. This crate knows SQL, never HTTP.
#![forbid(unsafe_code)]

mod accounts;
mod audit;
mod authorization;
mod books;
#[cfg(feature = "bench-fixtures")]
mod bulk;
mod changes;
mod clients;
mod connect_error;
mod dialect;
mod keys;
mod legacy;
mod legacy_console;
mod multi_row;
pub mod private_fs;
mod read;
mod revocations;
mod scopes;
mod sqlite;
mod statement;
mod unavailable;
mod users;
mod write;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, ConnectOptions};
use tessera_core::error::StoreError;
use tokio::sync::{Mutex, OwnedMutexGuard};

use crate::sqlite::SqliteFile;
pub use connect_error::ConnectError;
pub use dialect::Dialect;

#[derive(Clone)]
pub struct SqlStore {
    pool: AnyPool,
    dialect: Dialect,
    /// SQLite only: serializes this process's writers (see [`SqlStore::begin`]).
    writer: Option<Arc<Mutex<()>>>,
    /// SQLite only: direct connections for the hot path (see [`sqlite`]).
    sqlite: Option<Arc<SqliteFile>>,
}

/// A write transaction that holds the process's SQLite write lock until it ends.
pub(crate) struct WriteTx {
    tx: sqlx::Transaction<'static, sqlx::Any>,
    _guard: Option<OwnedMutexGuard<()>>,
}

impl WriteTx {
    pub(crate) async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }
}

impl std::ops::Deref for WriteTx {
    type Target = sqlx::AnyConnection;

    fn deref(&self) -> &Self::Target {
        &self.tx
    }
}

impl std::ops::DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.tx
    }
}

impl SqlStore {
    /// Connects and applies pending migrations.
    pub async fn connect(url: &str) -> Result<Self, ConnectError> {
        sqlx::any::install_default_drivers();
        let dialect = Dialect::of(url).ok_or_else(|| ConnectError::Url(url.to_owned()))?;
        let (url, sqlite_path) = dialect.prepare_url(url)?;
        let options = AnyConnectOptions::from_str(&url)
            .map_err(ConnectError::Connect)?
            .log_statements(tracing::log::LevelFilter::Trace)
            .log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_secs(1));
        let pool = AnyPoolOptions::new()
            .max_connections(dialect.max_connections())
            .acquire_timeout(dialect.acquire_timeout())
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    for pragma in dialect.session_setup() {
                        sqlx::query(pragma).execute(&mut *conn).await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .map_err(ConnectError::Connect)?;
        dialect
            .migrator()
            .run(&pool)
            .await
            .map_err(ConnectError::Migrate)?;
        let (writer, sqlite) = match sqlite_path {
            Some(path) => {
                let lock = Arc::new(Mutex::new(()));
                let file = SqliteFile::open(&path, dialect.session_setup(), lock.clone())?;
                (Some(lock), Some(Arc::new(file)))
            }
            None => (None, None),
        };
        Ok(Self {
            pool,
            dialect,
            writer,
            sqlite,
        })
    }

    /// A write transaction (see [`Dialect::begin_write`]). On SQLite it also holds this
    /// process's write lock: the database admits one writer at a time anyway, and queueing
    /// writers here costs nothing, while letting them collide inside SQLite makes each loser
    /// sleep in the busy handler for milliseconds.
    pub(crate) async fn begin(&self) -> Result<WriteTx, StoreError> {
        let guard = self.write_guard().await;
        let tx = self
            .pool
            .begin_with(self.dialect.begin_write())
            .await
            .map_err(db)?;
        Ok(WriteTx { tx, _guard: guard })
    }

    /// This process's SQLite write lock, for a write outside [`SqlStore::begin`].
    pub(crate) async fn write_guard(&self) -> Option<OwnedMutexGuard<()>> {
        match &self.writer {
            Some(lock) => Some(lock.clone().lock_owned().await),
            None => None,
        }
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Every sqlx failure becomes the core's opaque storage error, marked when it means the
/// database is unavailable (see `unavailable.rs`).
pub(crate) fn db(err: sqlx::Error) -> StoreError {
    unavailable::sqlx_error(err)
}

/// A row value that does not parse as its domain type: the store was written by something
/// else or is corrupt. Reported, never a panic.
pub(crate) fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::new(format!("corrupt {what} in the database: {value:?}"))
}
