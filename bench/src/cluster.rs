//! `--replicas N`: the scenarios run through Debian's nginx in front of N replicas on the
//! run's PostgreSQL database, started with `scripts/cluster` (the deployment the end-to-end
//! suite proves correct), and how long a revocation takes to reach every other replica.
//!
//! The replicas share the run's store and master key, so the fixtures the CLI made are
//! theirs too; the run's own server stays up beside them, outside the load balancer. CPU
//! and memory of a row are summed over the replicas and nginx.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE};
use hyper::{Method, Request, StatusCode};

use crate::client::{body_excerpt, send_once};
use crate::fixtures::{basic_authorizations, Credentials};
use crate::procfs;
use crate::scenarios::fetch_token_at;
use crate::tessera::{Tessera, ACCOUNT_PATH};

/// Revocations timed for the propagation figure.
const PROPAGATION_SAMPLES: usize = 100;
/// Longest a revocation may take to reach a replica before the run fails.
const PROPAGATION_BOUND: Duration = Duration::from_secs(2);

pub struct Cluster {
    /// nginx, round-robin over the replicas.
    pub addr: SocketAddr,
    pub replicas: Vec<SocketAddr>,
    dir: PathBuf,
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/cluster")
}

fn addr_of(url: &str) -> Result<SocketAddr> {
    url.trim()
        .strip_prefix("http://")
        .context("a cluster URL without http://")?
        .parse()
        .with_context(|| format!("cluster URL {url}"))
}

impl Cluster {
    /// `replicas` replicas of `binary` on `cli`'s store and master key, behind nginx.
    pub async fn up(cli: &Tessera, binary: &Path, dir: &Path, replicas: usize) -> Result<Self> {
        let dir = dir.join("cluster");
        eprintln!("starting {replicas} replicas behind nginx (scripts/cluster) …");
        let mut command = tokio::process::Command::new(script());
        command
            .args(["up", "--replicas", &replicas.to_string()])
            .args(["--database", cli.database_url()])
            .arg("--bin")
            .arg(binary)
            .env("TESSERA_CLUSTER_DIR", &dir)
            // As the run's own server: the load is the server's, not its rate limits'.
            .env("TESSERA_RATE_LIMITS", "false");
        if let Some(key) = cli.master_key() {
            command.env("TESSERA_MASTER_KEY", key);
        }
        let output = command.output().await.context("running scripts/cluster")?;
        if !output.status.success() {
            bail!(
                "scripts/cluster up failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let read = |file: &str| {
            std::fs::read_to_string(dir.join(file))
                .with_context(|| format!("reading the cluster's {file}"))
        };
        let addr = addr_of(&read("url")?)?;
        let replicas = read("replicas")?
            .lines()
            .map(addr_of)
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            addr,
            replicas,
            dir,
        })
    }

    /// The replicas' processes and nginx's (master and workers), for CPU and memory.
    pub fn pids(&self) -> Vec<u32> {
        let mut files: Vec<PathBuf> = (1..=self.replicas.len())
            .map(|i| self.dir.join(format!("replica-{i}.pid")))
            .collect();
        files.push(self.dir.join("nginx").join("nginx.pid.run"));
        files
            .iter()
            .filter_map(|file| std::fs::read_to_string(file).ok()?.trim().parse().ok())
            .flat_map(procfs::family)
            .collect()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = std::process::Command::new(script())
            .arg("down")
            .env("TESSERA_CLUSTER_DIR", &self.dir)
            .status();
    }
}

/// How long a token revoked at one replica stays usable at the others.
pub struct Propagation {
    pub samples: usize,
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
}

/// Revokes a fresh token at each replica in turn and times, from the revocation's answer,
/// until every other replica refuses it (polled directly, not through nginx, so none is
/// missed); the slowest replica's time is the sample.
pub async fn propagation(cluster: &Cluster, client: &Credentials) -> Result<Propagation> {
    if cluster.replicas.len() < 2 {
        bail!("the propagation delay needs at least 2 replicas");
    }
    let authorization = basic_authorizations(std::slice::from_ref(client))?
        .pop()
        .context("no authorization")?;
    let mut samples = Vec::with_capacity(PROPAGATION_SAMPLES);
    for i in 0..PROPAGATION_SAMPLES {
        let token = fetch_token_at(cluster.addr, client).await?;
        let at = cluster.replicas[i % cluster.replicas.len()];
        let others: Vec<SocketAddr> = cluster
            .replicas
            .iter()
            .copied()
            .filter(|r| *r != at)
            .collect();
        for replica in &others {
            let status = call_with(*replica, &token).await?;
            if status != StatusCode::OK {
                bail!("a fresh token was refused by {replica} ({status})");
            }
        }
        let revoke = Request::builder()
            .method(Method::POST)
            .uri(crate::tessera::REVOKE_PATH)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(AUTHORIZATION, authorization.clone())
            .body(Full::new(Bytes::from(format!("token={token}"))))?;
        let (status, body) = send_once(at, revoke).await?;
        if status != StatusCode::OK {
            bail!("revocation at {at}: {status}: {}", body_excerpt(&body));
        }
        let revoked = Instant::now();
        let mut slowest = Duration::ZERO;
        for replica in others {
            loop {
                if call_with(replica, &token).await? == StatusCode::UNAUTHORIZED {
                    break;
                }
                if revoked.elapsed() > PROPAGATION_BOUND {
                    bail!("{replica} still accepted a token revoked at {at} after {PROPAGATION_BOUND:?}");
                }
            }
            slowest = slowest.max(revoked.elapsed());
        }
        samples.push(slowest);
    }
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    Ok(Propagation {
        samples: samples.len(),
        p50: at(0.5),
        p99: at(0.99),
        max: samples[samples.len() - 1],
    })
}

async fn call_with(addr: SocketAddr, token: &str) -> Result<StatusCode> {
    let request = Request::get(ACCOUNT_PATH)
        .header(AUTHORIZATION, format!("Bearer {token}"))
        .body(Full::new(Bytes::new()))?;
    Ok(send_once(addr, request).await?.0)
}

/// The report's section for the replicas: what was measured how, and the propagation.
pub fn report(replicas: usize, propagation: Option<&Propagation>) -> String {
    let mut out = format!(
        "### Through nginx to {replicas} replica{}\n\n\
         The rows above went through Debian's nginx (round-robin, no stickiness) to {replicas} \
         `tessera serve` replica{} on this run's PostgreSQL (`scripts/cluster`); their CPU and \
         memory are the replicas' and nginx's together.\n",
        if replicas == 1 { "" } else { "s" },
        if replicas == 1 { "" } else { "s" },
    );
    if let Some(p) = propagation {
        out.push_str(&format!(
            "\nRevocation reaching every other replica (a token revoked at one replica, then \
             polled at the others until refused; {} samples): p50 {:.1} ms, p99 {:.1} ms, \
             max {:.1} ms.\n",
            p.samples,
            p.p50.as_secs_f64() * 1e3,
            p.p99.as_secs_f64() * 1e3,
            p.max.as_secs_f64() * 1e3
        ));
    }
    out
}
