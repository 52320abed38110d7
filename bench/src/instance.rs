//! A Tessera server on a store of its own: the fresh store, the CLI bound to it, and the
//! `tessera serve` process. The run's main server is one; the EdDSA row starts a second
//! for its own row only. Each lives in its own directory of the run's temp dir (data dir,
//! SQLite file, server log).

use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::database::Store;
use crate::server::{free_loopback_addr, ServerProcess};
use crate::tessera::{random_master_key, Tessera, JWKS_PATH};

/// Makes instances: which binary, where their directories go, and which kind of store.
pub struct Launcher {
    binary: PathBuf,
    dir: PathBuf,
    /// A PostgreSQL server to create each instance's database on; `None`: SQLite files.
    postgres: Option<String>,
}

/// A running server with its store. Dropping it kills the server, then drops the store.
pub struct Instance {
    pub server: ServerProcess,
    pub cli: Tessera,
    name: String,
    dir: PathBuf,
    starts: u32,
    /// Declared after the server, so it is dropped after the server is dead.
    store: Store,
}

impl Launcher {
    pub fn new(binary: PathBuf, dir: PathBuf, postgres: Option<String>) -> Self {
        Self {
            binary,
            dir,
            postgres,
        }
    }

    /// The run's directory, where each instance gets its own.
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// Starts `tessera serve` named `name` on a fresh store, with `settings` (`TESSERA_*`
    /// variables) for the server and every CLI command; returns once it answers.
    pub async fn start(&self, name: &str, settings: &[(&str, &str)]) -> Result<Instance> {
        let dir = self.dir.join(name);
        std::fs::create_dir(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let (store, master_key) = match &self.postgres {
            Some(url) => (Store::postgres(url)?, Some(random_master_key()?)),
            None => (Store::sqlite(&dir), None),
        };
        let cli = Tessera::new(
            self.binary.clone(),
            dir.clone(),
            store.url().to_owned(),
            master_key,
        )
        .with_settings(settings);
        let server = serve(name, &cli, dir.join("tessera.log")).await?;
        Ok(Instance {
            server,
            cli,
            name: name.to_owned(),
            dir,
            starts: 1,
            store,
        })
    }
}

impl Launcher {
    /// A fresh store named `name` and the CLI bound to it, without a server: for commands
    /// measured on their own (the legacy import). Dropping the store removes it.
    pub fn store_only(&self, name: &str) -> Result<(Tessera, Store)> {
        let dir = self.dir.join(name);
        std::fs::create_dir(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let (store, master_key) = match &self.postgres {
            Some(url) => (Store::postgres(url)?, Some(random_master_key()?)),
            None => (Store::sqlite(&dir), None),
        };
        let cli = Tessera::new(self.binary.clone(), dir, store.url().to_owned(), master_key);
        Ok((cli, store))
    }
}

impl Instance {
    /// Stops the server and starts it again on the same store, on a new port, so it begins
    /// with empty caches as at its first start. Its log goes to a new file.
    pub async fn restart(&mut self) -> Result<()> {
        self.server.stop();
        self.starts += 1;
        let log = self.dir.join(format!("tessera-{}.log", self.starts));
        self.server = serve(&self.name, &self.cli, log).await?;
        Ok(())
    }

    /// Stops the server, leaving the store for the CLI alone.
    pub fn stop_server(&mut self) {
        self.server.stop();
    }

    pub fn store_label(&self) -> &'static str {
        self.store.label()
    }

    /// After a bulk load: what autovacuum does on PostgreSQL within a minute or so.
    pub fn settle_store(&self) -> Result<()> {
        self.store.settle()
    }
}

async fn serve(name: &str, cli: &Tessera, log: PathBuf) -> Result<ServerProcess> {
    let addr = free_loopback_addr()?;
    let mut server = ServerProcess::spawn(name, cli.serve(addr), addr, log)?;
    server.wait_ready(JWKS_PATH).await?;
    Ok(server)
}
