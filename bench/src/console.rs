//! The migration console row: the operator's pages on a server whose store holds N legacy
//! credentials (100 000, or 2 000 with `--quick`; the legacy import row's cached bcrypt
//! file, imported by `tessera legacy import`) with 30 days of usage (`tessera fixtures
//! legacy-usage`: every fifth credential called each day, 1 000 migrated ones calling with
//! Bearer). Each page is requested a few times by an operator (`tessera fixtures
//! operator-session`) over loopback, one request at a time, after one untimed request;
//! the row gives each page's median and slowest time, from the request's first byte sent
//! to its whole body read — the server's time plus a loopback round trip.

use std::fmt::Write as _;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use hyper::header::{HeaderMap, HeaderValue, COOKIE};
use hyper::Method;
use serde::Deserialize;

use crate::client::{body_excerpt, send_once};
use crate::import::{cached_file, median, write_import_file, ImportSize};
use crate::instance::Launcher;
use crate::load::Scenario;
use crate::scenarios::RoundRobin;

pub const CONSOLE: &str = "migration console";
/// The rows of this module; `--only` selects them by name.
pub const CONSOLE_ROWS: [&str; 1] = [CONSOLE];
/// Timed requests per page.
const REPEATS: usize = 5;

/// The pages timed: what the row calls them, and their path.
const PAGES: [(&str, &str); 7] = [
    (
        "migration page (default: sorted by Basic traffic)",
        "/settings/operator",
    ),
    (
        "search (substring of email, name, external id)",
        "/settings/operator?q=user1234",
    ),
    (
        "filtered: active, still on Basic",
        "/settings/operator?state=active&basic=1",
    ),
    (
        "sorted by email, page 100",
        "/settings/operator?sort=email&page=100",
    ),
    (
        "sorted by last Basic use",
        "/settings/operator?sort=last-use",
    ),
    ("CSV of a search", "/settings/operator/report.csv?q=user12"),
    ("CSV of every credential", "/settings/operator/report.csv"),
];

pub struct ConsoleResult {
    pub size: ImportSize,
    pub store: &'static str,
    pub fixture: serde_json::Value,
    /// Per page of [`PAGES`]: the timed requests, in milliseconds, and the body's size.
    pub pages: Vec<(Vec<f64>, usize)>,
}

#[derive(Deserialize)]
struct Session {
    cookie: String,
}

pub async fn migration_console(launcher: &Launcher, size: ImportSize) -> Result<ConsoleResult> {
    let pairs = cached_file(size.lines)?;
    let instance = launcher.start("console", &[]).await?;
    let cli = &instance.cli;
    eprintln!("running {CONSOLE} ({} credentials) …", size.lines);
    let accounts: Vec<String> = cli
        .json(&[
            "fixtures",
            "accounts",
            "--count",
            &size.accounts.to_string(),
        ])
        .await?;
    let file = cli.data_dir().join("console-import.csv");
    write_import_file(&file, &pairs, &accounts)?;
    let _: serde_json::Value = cli
        .json(&["legacy", "import", &file.to_string_lossy()])
        .await?;
    let fixture: serde_json::Value = cli.json(&["fixtures", "legacy-usage"]).await?;
    let session: Session = cli.json(&["fixtures", "operator-session"]).await?;
    instance.settle_store()?;
    let mut headers = HeaderMap::new();
    headers.insert(
        COOKIE,
        HeaderValue::from_str(&session.cookie).context("the session cookie")?,
    );
    let mut pages = Vec::new();
    for (label, path) in PAGES {
        let scenario = RoundRobin::new(
            Method::GET,
            path,
            headers.clone(),
            bytes::Bytes::new(),
            Vec::new(),
        )?;
        let mut times = Vec::with_capacity(REPEATS);
        let mut bytes = 0;
        for i in 0..=REPEATS {
            let started = Instant::now();
            let (status, body) = send_once(instance.server.addr, scenario.request(&mut ())).await?;
            let elapsed = started.elapsed().as_secs_f64() * 1e3;
            if !status.is_success() {
                bail!("{label} ({path}): status {status}: {}", body_excerpt(&body));
            }
            // The first request warms the caches and the connection pool: not timed.
            if i > 0 {
                times.push(elapsed);
            }
            bytes = body.len();
        }
        pages.push((times, bytes));
    }
    Ok(ConsoleResult {
        size,
        store: instance.store_label(),
        fixture,
        pages,
    })
}

/// The report's section for this row.
pub fn report(r: &ConsoleResult) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| migration console, {} legacy credentials, {} | median ms | slowest ms | body KiB |\n\
         |---|--:|--:|--:|",
        r.size.lines, r.store
    );
    for ((label, path), (times, bytes)) in PAGES.iter().zip(&r.pages) {
        let slowest = times.iter().copied().fold(0.0, f64::max);
        let _ = writeln!(
            out,
            "| {label} `{path}` | {} | {slowest:.0} | {:.0} |",
            median(times).map_or_else(|| "—".to_owned(), |m| format!("{m:.0}")),
            *bytes as f64 / 1024.0
        );
    }
    let _ = writeln!(out, "\nfixture: `{}`", r.fixture);
    out
}
