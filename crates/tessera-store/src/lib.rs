//! SQL storage for Tessera: one implementation of the core's storage traits over SQLite
//! (the embedded default) and PostgreSQL (for replicas sharing one database).
//!
//! Queries are written once, in the SQL both dialects understand (`$n` parameters,
//! `ON CONFLICT`, `RETURNING`), through sqlx's `Any` driver; what differs between the two
//! is chosen in one place, [`dialect`]. This crate knows SQL, never HTTP.
#![forbid(unsafe_code)]

mod accounts;
mod authorization;
mod books;
mod changes;
mod clients;
mod dialect;
mod keys;
mod legacy;
mod revocations;
mod scopes;
mod users;

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, ConnectOptions};
use tessera_core::error::StoreError;

pub use dialect::Dialect;

#[derive(Clone)]
pub struct SqlStore {
    pool: AnyPool,
    dialect: Dialect,
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("unsupported database URL {0:?}: use sqlite://PATH or postgres://USER@HOST/DB")]
    Url(String),
    #[error("cannot create the directory for the SQLite database {0}: {1}")]
    Directory(String, std::io::Error),
    #[error("cannot connect to the database: {0}")]
    Connect(sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(sqlx::migrate::MigrateError),
}

impl SqlStore {
    /// Connects and applies pending migrations.
    pub async fn connect(url: &str) -> Result<Self, ConnectError> {
        sqlx::any::install_default_drivers();
        let dialect = Dialect::of(url).ok_or_else(|| ConnectError::Url(url.to_owned()))?;
        let url = dialect.prepare_url(url)?;
        let options = AnyConnectOptions::from_str(&url)
            .map_err(ConnectError::Connect)?
            .log_statements(tracing::log::LevelFilter::Trace)
            .log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_secs(1));
        let pool = AnyPoolOptions::new()
            .max_connections(dialect.max_connections())
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
        Ok(Self { pool, dialect })
    }

    /// A write transaction (see [`Dialect::begin_write`]).
    pub(crate) async fn begin(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, StoreError> {
        self.pool
            .begin_with(self.dialect.begin_write())
            .await
            .map_err(db)
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Every sqlx failure becomes the core's opaque storage error.
pub(crate) fn db(err: sqlx::Error) -> StoreError {
    StoreError::new(err)
}

/// A row value that does not parse as its domain type: the store was written by something
/// else or is corrupt. Reported, never a panic.
pub(crate) fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::new(format!("corrupt {what} in the database: {value:?}"))
}
