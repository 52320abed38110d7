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
mod device;
mod dialect;
mod keys;
mod leases;
mod legacy;
mod legacy_console;
mod multi_row;
mod notify;
mod pg_batch;
pub mod private_fs;
mod read;
mod refresh_pruning;
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
use tessera_core::metrics::BatchSizes;
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
    /// PostgreSQL only: tells the other replicas that the feed has news (see [`notify`]).
    notifier: Option<Arc<notify::Notifier>>,
    /// PostgreSQL only: the database's URL, for the notification listener.
    listen_url: Option<String>,
    /// PostgreSQL only: concurrent rotations and point reads run together (see
    /// [`pg_batch`]).
    batches: Option<Arc<pg_batch::PgBatches>>,
    /// See [`SqlStore::announcing_each_write`].
    announce_at_once: bool,
}

/// A write transaction that holds the process's SQLite write lock until it ends.
pub(crate) struct WriteTx {
    tx: sqlx::Transaction<'static, sqlx::Any>,
    _guard: Option<OwnedMutexGuard<()>>,
    /// Announces the commit to the other replicas (PostgreSQL; see [`notify`]).
    notifier: Option<Arc<notify::Notifier>>,
    /// Announce before `commit` returns rather than from the notifier's task.
    announce_at_once: bool,
}

impl WriteTx {
    pub(crate) async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await?;
        match &self.notifier {
            Some(notifier) if self.announce_at_once => notifier.send().await,
            Some(notifier) => notifier.changed(),
            None => {}
        }
        Ok(())
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
        let (notifier, listen_url, batches) = match dialect {
            Dialect::Postgres => (
                Some(notify::Notifier::start(pool.clone())),
                Some(url.clone()),
                Some(
                    pg_batch::PgBatches::start(&url, dialect.acquire_timeout())
                        .map_err(ConnectError::Connect)?,
                ),
            ),
            Dialect::Sqlite => (None, None, None),
        };
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
            notifier,
            listen_url,
            batches,
            announce_at_once: false,
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
        Ok(WriteTx {
            tx,
            _guard: guard,
            notifier: self.notifier.clone(),
            announce_at_once: self.announce_at_once,
        })
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

    /// How many requests the store's batches carried, by queue: the SQLite writer's group
    /// commits (`sqlite_writes`), or PostgreSQL's batch statements (`rotations`,
    /// `token_sets`, `reads`).
    pub fn batch_sizes(&self) -> Vec<(&'static str, Arc<BatchSizes>)> {
        let mut queues = Vec::new();
        if let Some(file) = &self.sqlite {
            queues.push(("sqlite_writes", file.writer.sizes.clone()));
        }
        if let Some(batches) = &self.batches {
            queues.extend(batches.batch_sizes());
        }
        queues
    }

    pub async fn close(&self) {
        if let Some(notifier) = &self.notifier {
            notifier.flush().await;
        }
        self.pool.close().await;
        if let Some(batches) = &self.batches {
            batches.close().await;
        }
    }

    /// This store for a short-lived process (a CLI command): each write that commits is
    /// announced to the replicas before it returns, not later from a background task the
    /// exiting process might never run.
    pub fn announcing_each_write(self) -> Self {
        Self {
            announce_at_once: true,
            ..self
        }
    }

    /// A write outside [`SqlStore::begin`] recorded a change: announce it as a committed
    /// write transaction does (PostgreSQL).
    pub(crate) async fn announce_change(&self) {
        match &self.notifier {
            Some(notifier) if self.announce_at_once => notifier.send().await,
            Some(notifier) => notifier.changed(),
            None => {}
        }
    }

    /// PostgreSQL only: a signal woken whenever a process (this one included) announces a
    /// committed change, for the change feed's reader to read at once; `None` on SQLite,
    /// where the poll alone follows the feed. Each call starts a listener of its own.
    pub fn change_notifications(&self) -> Option<Arc<tokio::sync::Notify>> {
        self.listen_url.clone().map(notify::listen)
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
