//! `tessera-bench`: Tessera's load harness. `run` benchmarks a Tessera binary against the
//! baseline server and prints a Markdown table; `baseline` is that server; `upstream` is
//! the API the gateway rows put Tessera (and nginx) in front of; `load` (hidden) loads any
//! URL, for checking the generator itself.
//!
//! Talks to Tessera only over HTTP and through its CLI: it links no Tessera crate, so it
//! measures the binary as shipped.
#![forbid(unsafe_code)]

mod baseline;
mod client;
mod cluster;
mod console;
mod database;
mod dpop;
mod fixtures;
mod gateway;
mod import;
mod instance;
mod load;
mod nginx;
mod procfs;
mod report;
mod run;
mod scale;
mod scenarios;
mod server;
mod single_use;
mod soak;
mod tessera;
mod upload;
mod upstream;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use clap::{Parser, Subcommand};
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Uri};

use crate::procfs::CpuSample;
use crate::report::Row;
use crate::scenarios::RoundRobin;

#[derive(Parser)]
#[command(
    name = "tessera-bench",
    about = "Load harness for the Tessera OAuth 2.0 server"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Benchmark Tessera against the baseline and print a Markdown table.
    Run(run::RunArgs),
    /// Serve the baseline: POST /oauth/token and GET /v1/account with fixed answers.
    Baseline {
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8090")]
        listen: SocketAddr,
    },
    /// Serve the gateway rows' upstream: GET of any path answers a fixed small JSON, POST
    /// counts the body's bytes.
    Upstream {
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8091")]
        listen: SocketAddr,
    },
    /// Mixed load for a long time, sampling the server's memory and descriptors; prints a
    /// table and a verdict (growth after the warm-up fails the command).
    Soak(soak::SoakArgs),
    /// Load one URL with one request (for checking the load generator).
    #[command(hide = true)]
    Load(LoadArgs),
}

#[derive(clap::Args)]
struct LoadArgs {
    /// http://HOST:PORT/PATH, on this machine.
    #[arg(long)]
    url: String,
    #[arg(long, default_value = "GET")]
    method: String,
    #[arg(long, default_value = "")]
    body: String,
    /// "Name: value", repeatable.
    #[arg(long = "header", value_name = "HEADER")]
    headers: Vec<String>,
    #[arg(long, default_value_t = 64)]
    connections: usize,
    #[arg(long, default_value_t = 2.0)]
    duration: f64,
    #[arg(long, default_value_t = 0.5)]
    warmup: f64,
    /// The server's process id, to report its memory.
    #[arg(long)]
    pid: Option<u32>,
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Baseline { listen } => baseline::serve(listen).await,
        Command::Upstream { listen } => upstream::serve(listen).await,
        Command::Load(args) => load_url(args).await,
        Command::Soak(args) => tokio::select! {
            result = soak::run(args) => result,
            _ = tokio::signal::ctrl_c() => bail!("interrupted"),
        },
        Command::Run(args) => {
            let command_line = command_line();
            // Returning drops the run, and with it every guard: children die, files go.
            tokio::select! {
                result = run::run(args, &command_line) => result,
                _ = tokio::signal::ctrl_c() => bail!("interrupted"),
            }
        }
    }
}

async fn load_url(args: LoadArgs) -> Result<()> {
    let uri: Uri = args.url.parse().context("--url")?;
    let authority = uri.authority().context("--url needs host:port")?.as_str();
    let addr = tokio::net::lookup_host(authority)
        .await?
        .next()
        .with_context(|| format!("{authority} has no address"))?;
    let mut headers = HeaderMap::new();
    for header in &args.headers {
        let (name, value) = header
            .split_once(':')
            .with_context(|| format!("--header {header:?} is not \"Name: value\""))?;
        headers.append(
            HeaderName::from_bytes(name.trim().as_bytes())?,
            HeaderValue::from_str(value.trim())?,
        );
    }
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let method = Method::from_bytes(args.method.as_bytes())?;
    let scenario = RoundRobin::new(method, path, headers, Bytes::from(args.body), Vec::new())?;
    let config = run::load_config(args.connections, args.duration, args.warmup)?;
    let idle_kib = args
        .pid
        .and_then(|pid| {
            procfs::reset_peak(pid)
                .and_then(|()| procfs::memory(pid))
                .ok()
        })
        .map(|m| m.resident_kib);
    let before = args.pid.and_then(|pid| CpuSample::take(&[pid]).ok());
    let report = load::run(addr, Arc::new(scenario), config).await?;
    let after = args.pid.and_then(|pid| CpuSample::take(&[pid]).ok());
    let peak_kib = args
        .pid
        .and_then(|pid| procfs::memory(pid).ok())
        .map(|m| m.peak_kib);
    let row = Row {
        name: args.url,
        load: report,
        idle_kib,
        peak_kib,
        cpu: before.zip(after).and_then(|(b, a)| b.cores_until(&a)),
    };
    let rows = std::slice::from_ref(&row);
    print!("{}\n{}", report::table(rows, ""), report::resources(rows));
    if let Some(error) = &row.load.first_error {
        println!("first error: {error}");
    }
    if row.load.errors > 0 {
        bail!("{} requests failed", row.load.errors);
    }
    Ok(())
}

/// This invocation for the report header, with any password in a URL hidden.
fn command_line() -> String {
    let args = std::env::args()
        .skip(1)
        .map(|arg| shell_word(&redact(&arg)));
    std::iter::once("tessera-bench".to_owned())
        .chain(args)
        .collect::<Vec<_>>()
        .join(" ")
}

/// `scheme://user:password@host` → `scheme://user:***@host`.
fn redact(arg: &str) -> String {
    let Some((scheme, rest)) = arg.split_once("://") else {
        return arg.to_owned();
    };
    let Some((userinfo, host)) = rest.split_once('@') else {
        return arg.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:***@{host}"),
        None => arg.to_owned(),
    }
}

fn shell_word(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@,+%".contains(c));
    if plain {
        arg.to_owned()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_hides_passwords_and_quotes_words() {
        assert_eq!(
            redact("postgres://postgres:secret@127.0.0.1:5432/x"),
            "postgres://postgres:***@127.0.0.1:5432/x"
        );
        assert_eq!(redact("postgres://postgres@h"), "postgres://postgres@h");
        assert_eq!(shell_word("--quick"), "--quick");
        assert_eq!(shell_word("a b"), "'a b'");
    }
}
