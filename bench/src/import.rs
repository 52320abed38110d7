//! The legacy import rows, which time one command or one request rather than a load:
//!
//! - **legacy import**: `tessera legacy import FILE --json` of N credentials with bcrypt
//!   hashes (100 000, or 2 000 with `--quick`) spread over accounts of their own, into a
//!   fresh store of the run's kind (an SQLite file, or a new PostgreSQL database): wall
//!   time of the whole process, and its peak RSS (VmHWM, sampled every 10 ms until it
//!   exits; a high-water mark, so a sample after the peak holds it).
//! - **legacy first call**: the first Basic call of imported bcrypt (cost 10) credentials
//!   against the first call of argon2id credentials made by `legacy create`, on the run's
//!   server, alternating one of each; the medians and their ratio.
//!
//! The import parses hashes, it does not verify them, so its speed does not depend on the
//! bcrypt cost: the file's hashes are real bcrypt hashes of cost 4 (the least bcrypt
//! allows), each with its own random salt, made on every core once and cached under
//! `target/bench-cache/` (a run only writes the accounts of its fresh store into them).

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use hyper::header::{HeaderMap, HeaderValue};
use hyper::Method;
use serde::Deserialize;

use crate::client::{body_excerpt, send_once};
use crate::fixtures::{self, plain_basic};
use crate::instance::Launcher;
use crate::load::Scenario;
use crate::scenarios::{Bench, RoundRobin};
use crate::tessera::ACCOUNT_PATH;

pub const LEGACY_IMPORT: &str = "legacy import";
pub const LEGACY_FIRST_CALL: &str = "legacy first call";
/// The rows of this module, in the order of the report; `--only` selects them by name.
pub const IMPORT_ROWS: [&str; 2] = [LEGACY_IMPORT, LEGACY_FIRST_CALL];

/// The import's size: credentials, and accounts they are spread over.
#[derive(Clone, Copy, Debug)]
pub struct ImportSize {
    pub lines: usize,
    pub accounts: usize,
}

pub const FULL_IMPORT: ImportSize = ImportSize {
    lines: 100_000,
    accounts: 10_000,
};
pub const QUICK_IMPORT: ImportSize = ImportSize {
    lines: 2_000,
    accounts: 200,
};
/// bcrypt's least cost: the file's hashes only have to be real, not slow.
const FILE_BCRYPT_COST: u32 = 4;
/// The case for the first-call row: bcrypt at cost 10.
const FIRST_CALL_BCRYPT_COST: u32 = 10;
/// First calls timed per kind of hash.
const FIRST_CALLS: usize = 5;

pub struct ImportResult {
    pub size: ImportSize,
    pub store: &'static str,
    pub elapsed: Duration,
    pub peak_kib: Option<u64>,
}

pub struct FirstCallResult {
    pub bcrypt_ms: Vec<f64>,
    pub argon2id_ms: Vec<f64>,
}

#[derive(Deserialize)]
struct ImportOutput {
    new: usize,
    rejected: Vec<serde_json::Value>,
}

/// Imports `size` credentials into a fresh store of the run's kind.
pub async fn legacy_import(launcher: &Launcher, size: ImportSize) -> Result<ImportResult> {
    let pairs = cached_file(size.lines)?;
    let (cli, store) = launcher.store_only("import")?;
    eprintln!("running {LEGACY_IMPORT} ({} lines) …", size.lines);
    let accounts: Vec<String> = cli
        .json(&[
            "fixtures",
            "accounts",
            "--count",
            &size.accounts.to_string(),
        ])
        .await?;
    if accounts.len() != size.accounts || accounts.is_empty() {
        bail!("tessera fixtures accounts made {} accounts", accounts.len());
    }
    let file = cli.data_dir().join("legacy-import.csv");
    write_import_file(&file, &pairs, &accounts)?;
    let path = file.to_string_lossy().into_owned();
    let measured = cli
        .json_measured::<ImportOutput>(&["legacy", "import", &path])
        .await?;
    if measured.value.new != size.lines || !measured.value.rejected.is_empty() {
        bail!(
            "the import made {} credentials of {} and rejected {} lines",
            measured.value.new,
            size.lines,
            measured.value.rejected.len()
        );
    }
    Ok(ImportResult {
        size,
        store: store.label(),
        elapsed: measured.elapsed,
        peak_kib: measured.peak_kib,
    })
}

/// `email<TAB>bcrypt hash` lines for `lines` credentials, made once and kept under
/// `target/bench-cache/`.
pub(crate) fn cached_file(lines: usize) -> Result<Vec<(String, String)>> {
    let dir = cache_dir()?;
    let path = dir.join(format!(
        "legacy-import-{lines}-bcrypt{FILE_BCRYPT_COST}.tsv"
    ));
    if let Ok(text) = std::fs::read_to_string(&path) {
        let pairs: Vec<(String, String)> = text
            .lines()
            .filter_map(|l| l.split_once('\t'))
            .map(|(e, h)| (e.to_owned(), h.to_owned()))
            .collect();
        if pairs.len() == lines {
            return Ok(pairs);
        }
    }
    let started = Instant::now();
    eprintln!(
        "making {lines} bcrypt hashes for the import file (once; cached in {}) …",
        dir.display()
    );
    let pairs = make_pairs(lines)?;
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut text = String::with_capacity(lines * 100);
    for (email, hash) in &pairs {
        let _ = writeln!(text, "{email}\t{hash}");
    }
    // Written aside and renamed: an interrupted run never leaves half a file to reuse.
    let partial = path.with_extension("partial");
    std::fs::write(&partial, text).with_context(|| format!("writing {}", partial.display()))?;
    std::fs::rename(&partial, &path)?;
    eprintln!("made them in {:.1} s", started.elapsed().as_secs_f64());
    Ok(pairs)
}

/// Real bcrypt hashes, each of its own password and with its own random salt, on every
/// core.
fn make_pairs(lines: usize) -> Result<Vec<(String, String)>> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per_thread = lines.div_ceil(threads);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || -> Result<Vec<(String, String)>> {
                    let range = t * per_thread..((t + 1) * per_thread).min(lines);
                    range
                        .map(|i| {
                            let hash =
                                bcrypt::hash(format!("import password {i}"), FILE_BCRYPT_COST)?;
                            Ok((format!("user{i}@import.bench.example"), hash))
                        })
                        .collect()
                })
            })
            .collect();
        let mut pairs = Vec::with_capacity(lines);
        for worker in workers {
            match worker.join() {
                Ok(part) => pairs.extend(part?),
                Err(_) => bail!("a bcrypt worker thread panicked"),
            }
        }
        Ok(pairs)
    })
}

fn cache_dir() -> Result<PathBuf> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("the bench crate has no parent directory")?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace.join("target"), PathBuf::from);
    Ok(target.join("bench-cache"))
}

/// The CSV `tessera legacy import` reads: the cached pairs, account after account.
pub(crate) fn write_import_file(
    path: &Path,
    pairs: &[(String, String)],
    accounts: &[String],
) -> Result<()> {
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut out = std::io::BufWriter::new(file);
    writeln!(out, "email,account,password_hash")?;
    for (i, (email, hash)) in pairs.iter().enumerate() {
        let account = &accounts[i % accounts.len()];
        writeln!(out, "{email},{account},{hash}")?;
    }
    out.flush()?;
    Ok(())
}

/// The first Basic call of imported bcrypt (cost 10) credentials and of argon2id ones, on
/// the run's server.
pub async fn legacy_first_call(bench: &Bench) -> Result<FirstCallResult> {
    eprintln!("running {LEGACY_FIRST_CALL} …");
    let cli = &bench.tessera.cli;
    let account = &bench.fixtures.app_grant.account_id;
    let mut csv = String::from("email,account,password_hash\n");
    let mut bcrypt_creds = Vec::new();
    for i in 0..FIRST_CALLS {
        let (email, password) = (
            format!("bcrypt{i}@first.bench.example"),
            format!("bcrypt first call {i}"),
        );
        let hash = bcrypt::hash(&password, FIRST_CALL_BCRYPT_COST)?;
        let _ = writeln!(csv, "{email},{account},{hash}");
        bcrypt_creds.push((email, password));
    }
    let file = cli.data_dir().join("first-call.csv");
    std::fs::write(&file, csv)?;
    let imported: ImportOutput = cli
        .json(&["legacy", "import", &file.to_string_lossy()])
        .await?;
    if imported.new != FIRST_CALLS {
        bail!("the first-call import made {} credentials", imported.new);
    }
    let mut argon2_creds = Vec::new();
    for i in 0..FIRST_CALLS {
        let email = format!("argon2id{i}@first.bench.example");
        let password = format!("argon2id first call {i}");
        argon2_creds.push(fixtures::legacy_credential_as(cli, account, &email, &password).await?);
    }
    // The new credentials reach the server's cache through the change feed (within 250 ms).
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut result = FirstCallResult {
        bcrypt_ms: Vec::new(),
        argon2id_ms: Vec::new(),
    };
    for (b, a) in bcrypt_creds.iter().zip(&argon2_creds) {
        result.bcrypt_ms.push(first_call(bench, b).await?);
        result.argon2id_ms.push(first_call(bench, a).await?);
    }
    Ok(result)
}

/// One uncached Basic call, in milliseconds.
async fn first_call(bench: &Bench, (email, password): &(String, String)) -> Result<f64> {
    let basic = HeaderValue::from_str(&format!("Basic {}", plain_basic(email, password)))?;
    let scenario = RoundRobin::new(
        Method::GET,
        ACCOUNT_PATH,
        HeaderMap::new(),
        bytes::Bytes::new(),
        vec![basic],
    )?;
    let request = scenario.request(&mut ());
    let started = Instant::now();
    let (status, body) = send_once(bench.tessera.server.addr, request).await?;
    let elapsed = started.elapsed();
    if !status.is_success() {
        bail!(
            "first Basic call of {email}: status {status}: {}",
            body_excerpt(&body)
        );
    }
    Ok(elapsed.as_secs_f64() * 1e3)
}

pub fn median(values: &[f64]) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => sorted.get(n / 2).copied(),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
    }
}

/// The report's section for these rows (empty when neither ran).
pub fn report(import: Option<&ImportResult>, first: Option<&FirstCallResult>) -> String {
    let mut out = String::new();
    if let Some(r) = import {
        let seconds = r.elapsed.as_secs_f64();
        out.push_str(
            "| legacy import | credentials | accounts | store | seconds | credentials/s | peak RSS MiB |\n\
             |---|--:|--:|---|--:|--:|--:|\n",
        );
        let _ = writeln!(
            out,
            "| `tessera legacy import` (bcrypt hashes, CSV) | {} | {} | {} | {seconds:.1} | {:.0} | {} |",
            r.size.lines,
            r.size.accounts,
            r.store,
            r.size.lines as f64 / seconds.max(1e-9),
            r.peak_kib
                .map_or_else(|| "—".to_owned(), |kib| format!("{:.1}", kib as f64 / 1024.0)),
        );
    }
    if let Some(r) = first {
        if !out.is_empty() {
            out.push('\n');
        }
        let (bcrypt, argon2) = (median(&r.bcrypt_ms), median(&r.argon2id_ms));
        let list = |v: &[f64]| {
            v.iter()
                .map(|ms| format!("{ms:.0}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let fmt = |v: Option<f64>| v.map_or_else(|| "—".to_owned(), |v| format!("{v:.1}"));
        let ratio = bcrypt
            .zip(argon2)
            .filter(|(_, a)| *a > 0.0)
            .map_or_else(|| "—".to_owned(), |(b, a)| format!("{:.2}", b / a));
        out.push_str(
            "| first Basic call | median ms | each call ms | ratio to argon2id |\n\
             |---|--:|---|--:|\n",
        );
        let _ = writeln!(
            out,
            "| argon2id (`legacy create`, m=19456, t=2) | {} | {} | 1.00 |",
            fmt(argon2),
            list(&r.argon2id_ms)
        );
        let _ = writeln!(
            out,
            "| imported bcrypt cost {FIRST_CALL_BCRYPT_COST} (verify, then upgrade to argon2id) | {} | {} | {ratio} |",
            fmt(bcrypt),
            list(&r.bcrypt_ms)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn bcrypt_pairs_are_real_and_salted_apart() -> Result<()> {
        let pairs = make_pairs(3)?;
        assert_eq!(pairs.len(), 3);
        assert!(bcrypt::verify("import password 1", &pairs[1].1)?);
        assert_ne!(pairs[0].1[7..29], pairs[1].1[7..29], "distinct salts");
        Ok(())
    }
}
