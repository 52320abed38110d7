//! Finding the operator's master key.

use std::io::Write;
use std::path::Path;

use anyhow::{bail, Context};
use tessera_core::token::master_key::MasterKey;
use tessera_store::private_fs::create_private_dir;
use tessera_store::Dialect;

use crate::config::Config;

/// The master key from `master_key` (`TESSERA_MASTER_KEY`), else `master_key_file`, else —
/// for the embedded SQLite store only — `<data_dir>/master.key`, generated on first start.
pub fn resolve(config: &Config) -> anyhow::Result<MasterKey> {
    if let Some(text) = &config.master_key {
        return MasterKey::from_base64(text).context("master_key (TESSERA_MASTER_KEY)");
    }
    if let Some(path) = &config.master_key_file {
        return read(path);
    }
    if Dialect::of(&config.database_url()) != Some(Dialect::Sqlite) {
        bail!(
            "a PostgreSQL store needs a master key shared by every replica: set TESSERA_MASTER_KEY \
             (32 random bytes, base64: `openssl rand -base64 32`) or master_key_file"
        );
    }
    let path = config.data_dir.join("master.key");
    if path.exists() {
        return read(&path);
    }
    create_private_dir(&config.data_dir)
        .with_context(|| format!("cannot create {}", config.data_dir.display()))?;
    let text = MasterKey::generate_base64()?;
    write_private(&path, &text)?;
    tracing::warn!(
        path = %path.display(),
        "generated a master key for the signing keys; back this file up, tokens cannot be signed without it"
    );
    Ok(MasterKey::from_base64(&text)?)
}

fn read(path: &Path) -> anyhow::Result<MasterKey> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the master key file {}", path.display()))?;
    MasterKey::from_base64(&text).with_context(|| format!("master key file {}", path.display()))
}

/// Creates the file readable by its owner only (0600), failing if it exists.
fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot create the master key file {}", path.display()))?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    Ok(())
}
