//! A database per test: a SQLite file in the test's directory, or a PostgreSQL database
//! created for the test and dropped after it (also when the test fails).

use std::path::Path;

use sqlx::{Connection, PgConnection};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The PostgreSQL server tests use (trust auth): `TESSERA_TEST_POSTGRES`.
fn admin_url() -> String {
    std::env::var("TESSERA_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
}

pub struct TestDatabase {
    pub url: String,
    pg_name: Option<String>,
}

impl TestDatabase {
    pub async fn create(backend: Backend, dir: &Path) -> Self {
        match backend {
            Backend::Sqlite => Self {
                url: format!("sqlite://{}", dir.join("tessera.db").display()),
                pg_name: None,
            },
            Backend::Postgres => {
                let name = format!("tessera_test_{}", super::random_suffix());
                let mut conn = PgConnection::connect(&format!("{}/postgres", admin_url()))
                    .await
                    .expect("PostgreSQL at 127.0.0.1:5432 (set TESSERA_TEST_POSTGRES)");
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .await
                    .expect("create test database");
                Self {
                    url: format!("{}/{name}", admin_url()),
                    pg_name: Some(name),
                }
            }
        }
    }

    pub async fn drop_now(&mut self) {
        if let Some(name) = self.pg_name.take() {
            drop_database(&name).await;
        }
    }
}

async fn drop_database(name: &str) {
    if let Ok(mut conn) = PgConnection::connect(&format!("{}/postgres", admin_url())).await {
        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut conn)
            .await;
    }
}

impl Drop for TestDatabase {
    /// A test that panicked never reached `drop_now`: drop its database from a thread with
    /// its own runtime (we may be inside the test's runtime here).
    fn drop(&mut self) {
        if let Some(name) = self.pg_name.take() {
            let _ = std::thread::spawn(move || {
                if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    rt.block_on(drop_database(&name));
                }
            })
            .join();
        }
    }
}
