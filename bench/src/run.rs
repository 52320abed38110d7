//! The `run` command: build Tessera (unless given a binary), start it on a fresh store
//! next to the baseline server, create fixtures, run the selected scenarios (then, with
//! `--scale`, the large-store ones), print the report. Every process and file it makes is
//! owned by a guard, so an error or Ctrl-C cleans up.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::cluster::{self, Cluster};
use crate::console;
use crate::fixtures;
use crate::gateway;
use crate::import;
use crate::instance::Launcher;
use crate::load::LoadConfig;
use crate::report;
use crate::scale::{self, ScaleCounts};
use crate::scenarios::{self, Bench, Selection, BASELINE_ROW, SCALE_SCENARIOS};
use crate::server::{free_loopback_addr, ServerProcess, TempDir};
use crate::tessera::ACCOUNT_PATH;
use crate::upstream::BOOK_PATH;

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// Short run: 2 s measured and 0.5 s warm-up per scenario, unless given below.
    #[arg(long)]
    quick: bool,
    /// Benchmark on PostgreSQL: a server URL psql can connect to as a superuser; a fresh
    /// database is created there and dropped afterwards.
    #[arg(long, value_name = "URL")]
    postgres: Option<String>,
    /// Concurrent keep-alive connections.
    #[arg(long, value_name = "N", default_value_t = 64)]
    connections: usize,
    /// Measured seconds per scenario [default: 10, or 2 with --quick].
    #[arg(long, value_name = "S")]
    duration: Option<f64>,
    /// Warm-up seconds per scenario, discarded [default: 2, or 0.5 with --quick].
    #[arg(long, value_name = "S")]
    warmup: Option<f64>,
    /// The tessera binary to benchmark, built with `--features bench-fixtures` (the bench
    /// makes its fixtures with the hidden `tessera fixtures` commands); without it,
    /// `cargo build --release -p tessera --features bench-fixtures` runs first.
    #[arg(long, value_name = "PATH")]
    tessera: Option<PathBuf>,
    /// Also write the report to FILE.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Only these scenarios: comma-separated names or name prefixes, e.g. "refresh
    /// rotation,bearer". The baseline always runs.
    #[arg(long, value_name = "NAMES")]
    only: Option<String>,
    /// Then fill the store (see --scale-clients, --scale-tokens) and run client
    /// credentials, bearer call and refresh rotation again, compared in a second table.
    #[arg(long)]
    scale: bool,
    /// With --scale: credential clients in the large store, the fixtures' included.
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    scale_clients: usize,
    /// With --scale: token sets added, each with one live refresh token.
    #[arg(long, value_name = "N", default_value_t = 1_000_000)]
    scale_tokens: usize,
    /// MiB uploaded through the gateway for its memory figure [default: 1024, or 64 with
    /// --quick].
    #[arg(long, value_name = "N")]
    upload_mib: Option<u64>,
    /// With --postgres: run Tessera's scenarios through nginx in front of N replicas
    /// (scripts/cluster) on the run's database, and time how long a revocation takes to
    /// reach the other replicas (N ≥ 2).
    #[arg(long, value_name = "N")]
    replicas: Option<usize>,
}

impl RunArgs {
    /// What `--scale` adds, or `None` without it; an error when `--only` leaves it nothing
    /// to compare.
    fn scale_counts(&self, selection: &Selection) -> Result<Option<ScaleCounts>> {
        if !self.scale {
            return Ok(None);
        }
        if !SCALE_SCENARIOS.iter().any(|name| selection.includes(name)) {
            bail!(
                "--scale runs {} again, and --only selects none of them",
                SCALE_SCENARIOS.join(", ")
            );
        }
        Ok(Some(ScaleCounts {
            clients: self.scale_clients,
            token_sets: self.scale_tokens,
        }))
    }

    fn upload_bytes(&self) -> Result<u64> {
        let mib = self
            .upload_mib
            .unwrap_or(if self.quick { 64 } else { 1024 });
        if mib == 0 {
            bail!("--upload-mib must be at least 1");
        }
        mib.checked_mul(1 << 20)
            .context("--upload-mib is too large")
    }

    fn load_config(&self) -> Result<LoadConfig> {
        let (duration, warmup) = if self.quick { (2.0, 0.5) } else { (10.0, 2.0) };
        load_config(
            self.connections,
            self.duration.unwrap_or(duration),
            self.warmup.unwrap_or(warmup),
        )
    }
}

/// Validated load settings from command-line numbers.
pub fn load_config(connections: usize, duration: f64, warmup: f64) -> Result<LoadConfig> {
    if connections == 0 {
        bail!("--connections must be at least 1");
    }
    let seconds = |value: f64, flag: &str| {
        Duration::try_from_secs_f64(value).with_context(|| format!("{flag} {value}"))
    };
    let duration = seconds(duration, "--duration")?;
    if duration.is_zero() {
        bail!("--duration must be more than 0");
    }
    Ok(LoadConfig {
        connections,
        duration,
        warmup: seconds(warmup, "--warmup")?,
    })
}

pub async fn run(args: RunArgs, command_line: &str) -> Result<()> {
    let config = args.load_config()?;
    match args.replicas {
        Some(0) => bail!("--replicas must be at least 1"),
        Some(_) if args.postgres.is_none() => {
            bail!("--replicas needs --postgres URL: replicas share one PostgreSQL")
        }
        _ => {}
    }
    let selection = Selection::parse(args.only.as_deref())?;
    let scale_counts = args.scale_counts(&selection)?;
    let upload_bytes = args.upload_bytes()?;
    let binary = match &args.tessera {
        Some(path) => path.clone(),
        None => build_release().await?,
    };
    if !binary.is_file() {
        bail!("no tessera binary at {}", binary.display());
    }
    let binary = binary.canonicalize()?;

    let dir = TempDir::create("tessera-bench")?;
    let baseline_addr = free_loopback_addr()?;
    let mut baseline = ServerProcess::spawn(
        "baseline",
        baseline_command(baseline_addr),
        baseline_addr,
        dir.path().join("baseline.log"),
    )?;
    let upstream = if gateway::ROWS.iter().any(|name| selection.includes(name)) {
        let addr = free_loopback_addr()?;
        let mut upstream = ServerProcess::spawn(
            "upstream",
            this_program(&["upstream", "--listen", &addr.to_string()]),
            addr,
            dir.path().join("upstream.log"),
        )?;
        upstream.wait_ready(BOOK_PATH).await?;
        Some(upstream)
    } else {
        None
    };
    let launcher = Launcher::new(binary.clone(), dir.path().to_owned(), args.postgres.clone());
    let tessera = launcher.start("tessera", &[]).await?;
    baseline.wait_ready(ACCOUNT_PATH).await?;
    eprintln!(
        "tessera on {}, baseline on {baseline_addr}; creating fixtures …",
        tessera.server.addr
    );

    let fixtures = fixtures::create(&tessera.cli).await?;
    let cluster = match args.replicas {
        Some(n) => Some(Cluster::up(&tessera.cli, &binary, dir.path(), n).await?),
        None => None,
    };
    let mut bench = Bench {
        config,
        tessera,
        baseline,
        fixtures,
        launcher,
        upstream,
        upload_bytes,
        gateway_notes: Mutex::default(),
        cluster,
    };
    let rows = scenarios::run_all(&bench, &selection).await?;
    let propagation = match &bench.cluster {
        Some(cluster) if cluster.replicas.len() > 1 => {
            eprintln!("timing revocations reaching the other replicas …");
            Some(cluster::propagation(cluster, &bench.fixtures.client).await?)
        }
        _ => None,
    };
    let size = if args.quick {
        import::QUICK_IMPORT
    } else {
        import::FULL_IMPORT
    };
    let imported = if selection.includes(import::LEGACY_IMPORT) {
        Some(import::legacy_import(&bench.launcher, size).await?)
    } else {
        None
    };
    let first_call = if selection.includes(import::LEGACY_FIRST_CALL) {
        Some(import::legacy_first_call(&bench).await?)
    } else {
        None
    };
    let console = if selection.includes(console::CONSOLE) {
        Some(console::migration_console(&bench.launcher, size).await?)
    } else {
        None
    };
    let large = match scale_counts {
        Some(counts) => scale::run(&mut bench, &rows, counts).await?,
        None => Vec::new(),
    };

    let context = report::Context {
        command_line,
        store: bench.tessera.store_label(),
        config,
    };
    let mut text = report::render(&context, &rows, BASELINE_ROW);
    let import_section = import::report(imported.as_ref(), first_call.as_ref());
    if !import_section.is_empty() {
        text.push('\n');
        text.push_str(&import_section);
    }
    if let Some(cluster) = &bench.cluster {
        text.push('\n');
        text.push_str(&cluster::report(
            cluster.replicas.len(),
            propagation.as_ref(),
        ));
    }
    if let Some(console) = &console {
        text.push('\n');
        text.push_str(&console::report(console));
    }
    let notes = bench
        .gateway_notes
        .lock()
        .map_err(|_| anyhow::anyhow!("a gateway row panicked"))?;
    if let Some(section) = report::gateway(&rows, &notes) {
        text.push('\n');
        text.push_str(&section);
    }
    drop(notes);
    if let Some(section) = report::dpop(&rows) {
        text.push('\n');
        text.push_str(&section);
    }
    if let Some(counts) = scale_counts {
        let store = format!(
            "{} credential clients, and {} more token sets with one live refresh token each",
            counts.clients, counts.token_sets
        );
        text.push('\n');
        text.push_str(&report::scale(&rows, &large, &store, BASELINE_ROW));
    }
    println!("{text}");
    if let Some(out) = &args.out {
        std::fs::write(out, &text).with_context(|| format!("writing {}", out.display()))?;
    }
    let errors: u64 = rows.iter().chain(&large).map(|row| row.load.errors).sum();
    if errors > 0 {
        eprintln!(
            "end of the tessera log:\n{}",
            bench.tessera.server.log_tail()
        );
        bail!("{errors} requests failed");
    }
    Ok(())
}

/// This same binary's `baseline` subcommand, so the baseline runs in its own process and
/// its memory is measured like Tessera's.
fn baseline_command(addr: SocketAddr) -> Command {
    this_program(&["baseline", "--listen", &addr.to_string()])
}

/// This program with `args` (the `baseline` and `upstream` servers), started through
/// /proc/self/exe, which still names this program after a build has replaced the file it
/// was started from.
fn this_program(args: &[&str]) -> Command {
    let mut command = Command::new("/proc/self/exe");
    command.args(args);
    command
}

/// `cargo build --release -p tessera --features bench-fixtures` in this workspace; the path
/// of the binary it made. The feature adds the `tessera fixtures` commands the bench fills
/// its stores with; the server is the same.
/// Not `-p tessera-bench` too: this program is already built (bench/run did it), and
/// building both together unifies dependency features differently, which relinks and
/// replaces this very binary while it runs.
pub(crate) async fn build_release() -> Result<PathBuf> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("the bench crate has no parent directory")?;
    eprintln!("building tessera (release) …");
    let status =
        tokio::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()))
            .args([
                "build",
                "--release",
                "-p",
                "tessera",
                "--features",
                "bench-fixtures",
            ])
            .arg("--manifest-path")
            .arg(workspace.join("Cargo.toml"))
            .status()
            .await
            .context("running cargo build")?;
    if !status.success() {
        bail!("cargo build --release failed ({status})");
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace.join("target"), PathBuf::from);
    Ok(target.join("release").join("tessera"))
}
