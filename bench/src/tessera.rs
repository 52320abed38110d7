//! How the bench runs the `tessera` binary against its store: `tessera serve` and the
//! CLI commands that print one JSON document (`--json`). Every invocation gets the same
//! environment (`TESSERA_DATA_DIR`, `TESSERA_MASTER_KEY` for PostgreSQL, the settings the
//! instance was made with, and no other `TESSERA_*` variable) and the same `--database`.
//!
//! Only the command line and the paths of Tessera's endpoints live here; which fixtures to
//! make is fixtures.rs.

use std::fs::File;
use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use base64::Engine;
use serde::de::DeserializeOwned;
use tokio::io::AsyncWriteExt;

use crate::procfs;

/// Tessera's paths the bench calls (the baseline serves the same two it measures).
pub const TOKEN_PATH: &str = "/oauth/token";
pub const ACCOUNT_PATH: &str = "/v1/account";
pub const INTROSPECT_PATH: &str = "/oauth/introspect";
pub const USERINFO_PATH: &str = "/oauth/userinfo";
pub const REVOKE_PATH: &str = "/oauth/revoke";
pub const JWKS_PATH: &str = "/.well-known/jwks.json";

/// Generous: the bulk fixtures commands hash one secret per client, or write a row per
/// code, hundreds of thousands of them on a fast machine.
const CLI_TIMEOUT: Duration = Duration::from_secs(600);
/// How often a measured command's peak RSS is read.
const RSS_SAMPLE_EVERY: Duration = Duration::from_millis(10);

/// What a measured command printed, how long it ran and its peak RSS.
pub struct Measured<T> {
    pub value: T,
    pub elapsed: Duration,
    pub peak_kib: Option<u64>,
}

#[derive(Clone)]
pub struct Tessera {
    binary: PathBuf,
    data_dir: PathBuf,
    database_url: String,
    master_key: Option<String>,
    /// `TESSERA_*` settings for every command, e.g. `TESSERA_SIGNING_ALG`.
    settings: Vec<(String, String)>,
}

impl Tessera {
    pub fn new(
        binary: PathBuf,
        data_dir: PathBuf,
        database_url: String,
        master_key: Option<String>,
    ) -> Self {
        Self {
            binary,
            data_dir,
            database_url,
            master_key,
            settings: Vec::new(),
        }
    }

    /// The same, with `TESSERA_*` settings for every command it runs.
    pub fn with_settings(mut self, settings: &[(&str, &str)]) -> Self {
        self.settings = settings
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect();
        self
    }

    fn command(&self) -> Command {
        let mut command = Command::new(&self.binary);
        // A TESSERA_* setting left in the caller's shell would change what is measured.
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("TESSERA_") {
                command.env_remove(name);
            }
        }
        command.env("TESSERA_DATA_DIR", &self.data_dir);
        if let Some(key) = &self.master_key {
            command.env("TESSERA_MASTER_KEY", key);
        }
        command.envs(self.settings.iter().map(|(name, value)| (name, value)));
        command
    }

    /// `tessera serve` on `addr`, with the issuer set to the address it is reached at.
    pub fn serve(&self, addr: SocketAddr) -> Command {
        let mut command = self.command();
        // The load comes from one address far above any client's quota: what is measured
        // is the server, not its rate limits.
        command.env("TESSERA_RATE_LIMITS", "false");
        command.args([
            "serve",
            "--listen",
            &addr.to_string(),
            "--database",
            &self.database_url,
            "--issuer",
            &format!("http://{addr}"),
        ]);
        command
    }

    /// The store every command and the server use.
    pub fn database_url(&self) -> &str {
        &self.database_url
    }

    /// The master key given to every command and the server (PostgreSQL stores).
    pub fn master_key(&self) -> Option<&str> {
        self.master_key.as_deref()
    }

    /// The directory the commands run with as `TESSERA_DATA_DIR` (the instance's own).
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Runs a CLI command with `--database … --json` as [`Tessera::json`] does, and measures
    /// it: wall time from spawn to exit, and the process's peak RSS (VmHWM, read every
    /// 10 ms while it runs; a high-water mark, so the last read after the peak holds it).
    pub async fn json_measured<T: DeserializeOwned>(&self, args: &[&str]) -> Result<Measured<T>> {
        let mut command = self.command();
        command
            .args(args)
            .args(["--database", &self.database_url, "--json"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let shown = format!("tessera {}", args.join(" "));
        let mut command = tokio::process::Command::from(command);
        command.kill_on_drop(true);
        let started = Instant::now();
        let child = command
            .spawn()
            .with_context(|| format!("running {shown}"))?;
        let pid = child.id().context("the command has no process id")?;
        let output = child.wait_with_output();
        tokio::pin!(output);
        let mut peak_kib = None;
        let deadline = tokio::time::sleep(CLI_TIMEOUT);
        tokio::pin!(deadline);
        let output = loop {
            tokio::select! {
                output = &mut output => break output.with_context(|| format!("running {shown}"))?,
                () = &mut deadline => bail!("{shown} did not finish within {CLI_TIMEOUT:?}"),
                () = tokio::time::sleep(RSS_SAMPLE_EVERY) => {
                    if let Ok(memory) = procfs::memory(pid) {
                        peak_kib = peak_kib.max(Some(memory.peak_kib));
                    }
                }
            }
        };
        let elapsed = started.elapsed();
        if !output.status.success() {
            bail!(
                "{shown} failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        let value = serde_json::from_slice(&output.stdout).with_context(|| {
            format!(
                "{shown} printed no JSON of the expected shape: {}",
                String::from_utf8_lossy(&output.stdout).trim()
            )
        })?;
        Ok(Measured {
            value,
            elapsed,
            peak_kib,
        })
    }

    /// Runs a CLI command with `--database … --json` and parses what it prints.
    pub async fn json<T: DeserializeOwned>(&self, args: &[&str]) -> Result<T> {
        self.json_with(args, &[], None).await
    }

    /// The same, with extra environment variables and, if given, a line on standard input
    /// (for `--password-stdin`).
    pub async fn json_with<T: DeserializeOwned>(
        &self,
        args: &[&str],
        env: &[(&str, &str)],
        stdin: Option<&str>,
    ) -> Result<T> {
        let mut command = self.command();
        command
            .args(args)
            .args(["--database", &self.database_url, "--json"])
            .envs(env.iter().copied())
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let shown = format!("tessera {}", args.join(" "));
        let mut command = tokio::process::Command::from(command);
        command.kill_on_drop(true);
        let run = async {
            let mut child = command.spawn()?;
            if let (Some(line), Some(mut pipe)) = (stdin, child.stdin.take()) {
                pipe.write_all(line.as_bytes()).await?;
                pipe.write_all(b"\n").await?;
                // Dropping the pipe closes it, so the command sees the end of its input.
            }
            child.wait_with_output().await
        };
        let output = tokio::time::timeout(CLI_TIMEOUT, run)
            .await
            .with_context(|| format!("{shown} did not finish within {CLI_TIMEOUT:?}"))?
            .with_context(|| format!("running {shown}"))?;
        if !output.status.success() {
            bail!(
                "{shown} failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        serde_json::from_slice(&output.stdout).with_context(|| {
            format!(
                "{shown} printed no JSON of the expected shape: {}",
                String::from_utf8_lossy(&output.stdout).trim()
            )
        })
    }
}

/// A fresh master key: base64 (standard, padded) of 32 random bytes.
pub fn random_master_key() -> Result<String> {
    let mut key = [0u8; 32];
    File::open("/dev/urandom")
        .and_then(|mut random| random.read_exact(&mut key))
        .context("reading /dev/urandom")?;
    Ok(base64::engine::general_purpose::STANDARD.encode(key))
}
