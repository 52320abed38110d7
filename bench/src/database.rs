//! The fresh store a run benchmarks against: an SQLite file in the run's temp dir, or a
//! PostgreSQL database created with `psql` and dropped (by force) when the run ends.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};

pub enum Store {
    Sqlite { url: String },
    Postgres(PostgresDatabase),
}

impl Store {
    pub fn sqlite(dir: &Path) -> Self {
        Self::Sqlite {
            url: format!("sqlite://{}/tessera.db", dir.display()),
        }
    }

    /// Creates a database on the server `admin_url` points to (a `postgres://` URL that
    /// `psql` can connect with, e.g. `postgres://postgres@127.0.0.1:5432`).
    pub fn postgres(admin_url: &str) -> Result<Self> {
        Ok(Self::Postgres(PostgresDatabase::create(admin_url)?))
    }

    /// The URL Tessera is given with `--database`.
    pub fn url(&self) -> &str {
        match self {
            Self::Sqlite { url } => url,
            Self::Postgres(database) => &database.url,
        }
    }

    /// Brings a store that was just bulk-loaded to the state a running one is in: on
    /// PostgreSQL, `VACUUM ANALYZE` (dead row versions gone, planner statistics made),
    /// which autovacuum would do shortly after the load; SQLite keeps no dead versions.
    pub fn settle(&self) -> Result<()> {
        match self {
            Self::Sqlite { .. } => Ok(()),
            Self::Postgres(database) => psql(&database.url, "VACUUM ANALYZE"),
        }
    }

    pub fn label(&self) -> &'static str {
        match self {
            Self::Sqlite { .. } => "SQLite (embedded, fresh file)",
            Self::Postgres(_) => "PostgreSQL (fresh database)",
        }
    }
}

pub struct PostgresDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl PostgresDatabase {
    fn create(admin_url: &str) -> Result<Self> {
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH)?.subsec_nanos();
        let name = format!("tessera_bench_{}_{nanos}", std::process::id());
        psql(admin_url, &format!("CREATE DATABASE {name}"))?;
        Ok(Self {
            admin_url: admin_url.to_owned(),
            url: with_database(admin_url, &name)?,
            name,
        })
    }
}

impl Drop for PostgresDatabase {
    fn drop(&mut self) {
        // FORCE (PostgreSQL 13+) ends sessions a killed server may have left behind.
        let dropped = psql(
            &self.admin_url,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
        if let Err(error) = dropped {
            eprintln!("warning: could not drop database {}: {error:#}", self.name);
        }
    }
}

fn psql(url: &str, sql: &str) -> Result<()> {
    let output = Command::new("psql")
        .args([url, "-v", "ON_ERROR_STOP=1", "-q", "-c", sql])
        .stdin(Stdio::null())
        .output()
        .context("running psql (is the PostgreSQL client installed?)")?;
    if !output.status.success() {
        bail!(
            "psql -c '{sql}' failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

/// `url` with its path (the database name) replaced by `/name`; user, host and query kept.
fn with_database(url: &str, name: &str) -> Result<String> {
    let Some((scheme, rest)) = url.split_once("://") else {
        bail!("--postgres {url:?} is not a postgres:// URL");
    };
    let (before_query, query) = match rest.split_once('?') {
        Some((before, query)) => (before, Some(query)),
        None => (rest, None),
    };
    let authority = before_query.split('/').next().unwrap_or(before_query);
    let mut out = format!("{scheme}://{authority}/{name}");
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_name_replaces_the_path_only() -> Result<()> {
        let cases = [
            (
                "postgres://postgres@127.0.0.1:5432",
                "postgres://postgres@127.0.0.1:5432/db",
            ),
            ("postgres://u:p@h/postgres", "postgres://u:p@h/db"),
            (
                "postgresql://h:5/x?sslmode=disable",
                "postgresql://h:5/db?sslmode=disable",
            ),
        ];
        for (admin, expected) in cases {
            assert_eq!(with_database(admin, "db")?, expected);
        }
        assert!(with_database("127.0.0.1:5432", "db").is_err());
        Ok(())
    }
}
