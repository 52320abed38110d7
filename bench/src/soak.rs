//! The `soak` command (issue 16, "Prove"): mixed load on one `tessera serve` for a long
//! time — client credentials, refresh-chain rotations, code exchanges, bearer calls —
//! while the server's resident memory and open file descriptors are sampled from /proc.
//! Prints one row per sample and a verdict: after the warm-up, neither may keep growing.
//! `scripts/soak [SECONDS]` runs it; the figures of a 10-minute run are in BENCHMARKS.md.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use hyper::{Method, Request};
use serde_json::Value;

use crate::client::{body_excerpt, Connection};
use crate::fixtures::{self, Credentials, REDIRECT_URI};
use crate::instance::Launcher;
use crate::procfs;
use crate::server::TempDir;
use crate::tessera::{ACCOUNT_PATH, TOKEN_PATH};

#[derive(clap::Args, Debug)]
pub struct SoakArgs {
    /// How long the load runs, in seconds.
    #[arg(long, value_name = "S", default_value_t = 600)]
    seconds: u64,
    /// Seconds between two samples of memory and descriptors.
    #[arg(long, value_name = "S", default_value_t = 10)]
    sample: u64,
    /// Concurrent keep-alive connections.
    #[arg(long, value_name = "N", default_value_t = 8)]
    connections: usize,
    /// Soak on PostgreSQL (a server URL psql can connect to as a superuser).
    #[arg(long, value_name = "URL")]
    postgres: Option<String>,
    /// The tessera binary, built with `--features bench-fixtures`; without it, the
    /// release build is made first.
    #[arg(long, value_name = "PATH")]
    tessera: Option<PathBuf>,
}

/// The server's bounded in-memory state, made small so that it is full within the
/// warm-up: after that, growth is a leak, not a cache filling. (At the defaults, the
/// verified-token cache holds 100 000 tokens, about 1 KiB each, and a rotated access
/// token's id is kept until the token would have expired, an hour for users' tokens:
/// a 10-minute soak would measure them filling.)
const SETTINGS: [(&str, &str); 2] = [
    ("TESSERA_VERIFIED_TOKEN_CACHE", "1000"),
    ("TESSERA_USER_ACCESS_TOKEN_TTL", "60"),
];

/// Codes kept ready for exchanges; refilled by the CLI when they run low.
const CODE_BATCH: usize = 500;
/// Room for growth after the warm-up that still counts as flat: allocator noise and
/// caches settling, not a leak (a leak keeps growing with the run's length).
const RSS_SLACK_KIB: u64 = 4 * 1024;
const RSS_SLACK_FRACTION: f64 = 0.05;
const FD_SLACK: u64 = 4;
/// Fewer samples than this are a smoke run: no verdict on growth.
const MIN_SAMPLES: usize = 12;

/// What the load did, by kind of request.
#[derive(Default)]
struct Counts {
    client_credentials: AtomicU64,
    rotations: AtomicU64,
    exchanges: AtomicU64,
    bearer_calls: AtomicU64,
    failures: AtomicU64,
    first_failure: Mutex<Option<String>>,
}

impl Counts {
    fn total(&self) -> u64 {
        self.client_credentials.load(Ordering::Relaxed)
            + self.rotations.load(Ordering::Relaxed)
            + self.exchanges.load(Ordering::Relaxed)
            + self.bearer_calls.load(Ordering::Relaxed)
    }

    fn fail(&self, what: String) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        let mut first = self.first_failure.lock().unwrap_or_else(|e| e.into_inner());
        first.get_or_insert(what);
    }
}

struct Sample {
    at: Duration,
    requests: u64,
    rss_kib: u64,
    /// The anonymous part of `rss_kib` (heap, stacks): what a leak grows. The rest is
    /// file-backed, mostly SQLite's readers' memory-mapped database (`mmap_size` 64 MiB),
    /// which grows with the file up to that size and which the kernel may reclaim.
    anon_kib: u64,
    fds: u64,
}

pub async fn run(args: SoakArgs) -> Result<()> {
    if args.seconds == 0 || args.sample == 0 || args.connections == 0 {
        bail!("--seconds, --sample and --connections must be at least 1");
    }
    let binary = match &args.tessera {
        Some(path) => path.clone(),
        None => crate::run::build_release().await?,
    };
    let binary = binary
        .canonicalize()
        .with_context(|| format!("no tessera binary at {}", binary.display()))?;
    let dir = TempDir::create("tessera-soak")?;
    let launcher = Launcher::new(binary, dir.path().to_owned(), args.postgres.clone());
    let mut tessera = launcher.start("soak", &SETTINGS).await?;
    let (account_id, client) = fixtures::account_and_client(&tessera.cli).await?;
    let grant = fixtures::app_grant(&tessera.cli, account_id).await?;
    let chains = fixtures::token_sets(&tessera.cli, &grant, args.connections).await?;
    let codes = Arc::new(Mutex::new(VecDeque::from(
        fixtures::codes(&tessera.cli, &grant, CODE_BATCH, false).await?,
    )));
    let addr = tessera.server.addr;
    let pid = tessera.server.pid();
    eprintln!(
        "soak: {} s of mixed load on {} connections, sampled every {} s ({})",
        args.seconds,
        args.connections,
        args.sample,
        tessera.store_label()
    );

    let counts = Arc::new(Counts::default());
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    for (i, chain) in chains.into_iter().enumerate() {
        let worker = Worker {
            addr,
            client: client.clone(),
            grant: grant.app.clone(),
            codes: codes.clone(),
            counts: counts.clone(),
            refresh_token: chain,
            access_token: None,
        };
        workers.push(tokio::spawn(worker.run(i, stop.clone())));
    }

    // Codes are minted by the CLI beside the load, so that sampling keeps its pace.
    let refill = tokio::spawn({
        let (cli, grant, codes, stop) = (
            tessera.cli.clone(),
            grant.clone(),
            codes.clone(),
            stop.clone(),
        );
        async move {
            while !stop.load(Ordering::Relaxed) {
                if codes.lock().unwrap_or_else(|e| e.into_inner()).len() < CODE_BATCH / 2 {
                    let more = fixtures::codes(&cli, &grant, CODE_BATCH, false).await?;
                    codes.lock().unwrap_or_else(|e| e.into_inner()).extend(more);
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            anyhow::Ok(())
        }
    });
    let start = Instant::now();
    let mut samples = Vec::new();
    let mut last = 0;
    let mut next = Duration::ZERO;
    print_header();
    while start.elapsed() < Duration::from_secs(args.seconds) {
        next += Duration::from_secs(args.sample);
        tokio::time::sleep(next.saturating_sub(start.elapsed())).await;
        tessera.server.ensure_running()?;
        let total = counts.total();
        let sample = Sample {
            at: start.elapsed(),
            requests: total - last,
            rss_kib: procfs::memory(pid)?.resident_kib,
            anon_kib: anonymous_kib(pid)?,
            fds: open_fds(pid)?,
        };
        last = total;
        print_row(&sample, args.sample);
        samples.push(sample);
    }
    stop.store(true, Ordering::SeqCst);
    for worker in workers {
        worker.await??;
    }
    refill.await??;
    tessera.stop_server();

    println!();
    println!(
        "requests: {} client credentials, {} refresh rotations, {} code exchanges, {} bearer calls; {} failed",
        counts.client_credentials.load(Ordering::Relaxed),
        counts.rotations.load(Ordering::Relaxed),
        counts.exchanges.load(Ordering::Relaxed),
        counts.bearer_calls.load(Ordering::Relaxed),
        counts.failures.load(Ordering::Relaxed),
    );
    let verdict = judge(&samples);
    println!("{}", verdict.text);
    if let Some(first) = counts
        .first_failure
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take()
    {
        bail!("soak: requests failed; the first: {first}");
    }
    if !verdict.flat {
        bail!("soak: resident memory or descriptors kept growing after the warm-up");
    }
    Ok(())
}

/// One connection's share of the load: in turn, a client credentials grant, a bearer call
/// with its token, a rotation of the connection's own refresh chain and, while codes are
/// left, a code exchange.
struct Worker {
    addr: SocketAddr,
    client: Credentials,
    grant: Credentials,
    codes: Arc<Mutex<VecDeque<String>>>,
    counts: Arc<Counts>,
    refresh_token: String,
    access_token: Option<String>,
}

impl Worker {
    async fn run(mut self, index: usize, stop: Arc<AtomicBool>) -> Result<()> {
        let mut conn = Connection::open(self.addr).await?;
        let mut turn = index;
        while !stop.load(Ordering::Relaxed) {
            turn += 1;
            let outcome = match turn % 4 {
                0 => self.client_credentials(&mut conn).await,
                1 => self.bearer_call(&mut conn).await,
                2 => self.rotate(&mut conn).await,
                _ => self.exchange(&mut conn).await,
            };
            if let Err(e) = outcome {
                self.counts.fail(format!("{e:#}"));
                // A failed exchange may leave the connection unusable: start another.
                conn = Connection::open(self.addr).await?;
            }
        }
        Ok(())
    }

    async fn token(
        &self,
        conn: &mut Connection,
        body: String,
        basic: Option<HeaderValue>,
    ) -> Result<Value> {
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(TOKEN_PATH)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some(basic) = basic {
            request = request.header(AUTHORIZATION, basic);
        }
        let (status, bytes) = conn
            .send(request.body(Full::new(Bytes::from(body)))?)
            .await?;
        if !status.is_success() {
            bail!("POST {TOKEN_PATH}: {status}: {}", body_excerpt(&bytes));
        }
        Ok(serde_json::from_slice(&bytes)?)
    }

    async fn client_credentials(&mut self, conn: &mut Connection) -> Result<()> {
        let basic = self.client.basic_authorization()?;
        let answer = self
            .token(conn, "grant_type=client_credentials".into(), Some(basic))
            .await?;
        self.access_token = answer["access_token"].as_str().map(str::to_owned);
        self.counts
            .client_credentials
            .fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    async fn bearer_call(&mut self, conn: &mut Connection) -> Result<()> {
        let Some(token) = &self.access_token else {
            return Ok(());
        };
        let request = Request::builder()
            .method(Method::GET)
            .uri(ACCOUNT_PATH)
            .header(AUTHORIZATION, format!("Bearer {token}"))
            .body(Full::new(Bytes::new()))?;
        let (status, bytes) = conn.send(request).await?;
        if !status.is_success() {
            bail!("GET {ACCOUNT_PATH}: {status}: {}", body_excerpt(&bytes));
        }
        self.counts.bearer_calls.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn app_auth(&self) -> String {
        let encode = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        format!(
            "client_id={}&client_secret={}",
            encode(&self.grant.client_id),
            encode(&self.grant.client_secret)
        )
    }

    async fn rotate(&mut self, conn: &mut Connection) -> Result<()> {
        let body = format!(
            "grant_type=refresh_token&refresh_token={}&{}",
            self.refresh_token,
            self.app_auth()
        );
        let answer = self.token(conn, body, None).await?;
        self.refresh_token = answer["refresh_token"]
            .as_str()
            .context("no refresh_token in the rotation's answer")?
            .to_owned();
        self.counts.rotations.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    async fn exchange(&mut self, conn: &mut Connection) -> Result<()> {
        let code = self
            .codes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop_front();
        let Some(code) = code else {
            return Ok(());
        };
        let redirect = form_urlencoded::byte_serialize(REDIRECT_URI.as_bytes()).collect::<String>();
        let body = format!(
            "grant_type=authorization_code&code={code}&redirect_uri={redirect}&{}",
            self.app_auth()
        );
        self.token(conn, body, None).await?;
        self.counts.exchanges.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// `RssAnon` of /proc/PID/status, in KiB.
fn anonymous_kib(pid: u32) -> Result<u64> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("RssAnon:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("no RssAnon in {path}"))
}

/// Open file descriptors of `pid`: the entries of /proc/PID/fd.
fn open_fds(pid: u32) -> Result<u64> {
    let dir = format!("/proc/{pid}/fd");
    let entries = std::fs::read_dir(&dir).with_context(|| format!("reading {dir}"))?;
    Ok(entries.count() as u64)
}

fn print_header() {
    println!("| time (s) | requests/s | RSS (MiB) | of it anonymous (MiB) | open fds |");
    println!("|---:|---:|---:|---:|---:|");
}

fn print_row(s: &Sample, every: u64) {
    println!(
        "| {:.0} | {:.0} | {:.1} | {:.1} | {} |",
        s.at.as_secs_f64(),
        s.requests as f64 / every as f64,
        s.rss_kib as f64 / 1024.0,
        s.anon_kib as f64 / 1024.0,
        s.fds
    );
}

struct Verdict {
    flat: bool,
    text: String,
}

/// The first quarter of the samples is the warm-up (caches filling, pools opening). After
/// it, the largest value of the last third may exceed the largest of the first third by
/// the slack only: a leak grows with time, so it shows as the end above the beginning.
fn judge(samples: &[Sample]) -> Verdict {
    let warm = samples.len() / 4;
    let after = &samples[warm..];
    if samples.len() < MIN_SAMPLES {
        // A smoke run (CI's 30 s) is all warm-up: it proves the load runs without errors.
        return Verdict {
            flat: true,
            text: format!(
                "verdict: too short to judge growth ({} samples; {MIN_SAMPLES} are needed)",
                samples.len()
            ),
        };
    }
    let third = after.len() / 3;
    let max = |part: &[Sample], f: fn(&Sample) -> u64| part.iter().map(f).max().unwrap_or(0);
    let (early, late) = (&after[..third], &after[after.len() - third..]);
    // Judged on anonymous memory: the file-backed rest follows the database's size.
    let rss = (max(early, |s| s.anon_kib), max(late, |s| s.anon_kib));
    let fds = (max(early, |s| s.fds), max(late, |s| s.fds));
    let rss_room = RSS_SLACK_KIB.max((rss.0 as f64 * RSS_SLACK_FRACTION) as u64);
    let rss_flat = rss.1 <= rss.0 + rss_room;
    let fds_flat = fds.1 <= fds.0 + FD_SLACK;
    Verdict {
        flat: rss_flat && fds_flat,
        text: format!(
            "verdict: {} — after a {}-sample warm-up, anonymous RSS {:.1} → {:.1} MiB (room {:.1} MiB), open fds {} → {} (room {FD_SLACK})",
            if rss_flat && fds_flat { "no growth" } else { "GROWTH" },
            warm,
            rss.0 as f64 / 1024.0,
            rss.1 as f64 / 1024.0,
            rss_room as f64 / 1024.0,
            fds.0,
            fds.1,
        ),
    }
}
