//! Why opening a store failed: a bad URL, an unreachable server, a failed migration, or the
//! SQLite file's own connections and threads. Told to the operator as it is.

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("unsupported database URL {0:?}: use sqlite://PATH or postgres://USER@HOST/DB")]
    Url(String),
    #[error("cannot create the directory for the SQLite database {0}: {1}")]
    Directory(String, std::io::Error),
    #[error("cannot create the SQLite database file {0}: {1}")]
    File(String, std::io::Error),
    #[error("cannot connect to the database: {0}")]
    Connect(sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(sqlx::migrate::MigrateError),
    #[error("cannot open the SQLite database for writing: {0}")]
    Direct(rusqlite::Error),
    #[error("cannot start the SQLite writer thread: {0}")]
    Thread(std::io::Error),
}
