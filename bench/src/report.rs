//! The Markdown report: a header saying where and how the numbers were taken, then one
//! table row per scenario, with throughput as a ratio to the baseline row.

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::dpop::{BEARER_CALL_DPOP, CLIENT_CREDENTIALS_DPOP};
use crate::gateway::{GatewayNotes, GATEWAY_BEARER_CALL, NGINX_PROXY, UPSTREAM_DIRECT};
use crate::load::{LoadConfig, LoadReport};
use crate::procfs::{self, CpuCores};
use crate::scenarios::{BEARER_CALL, CLIENT_CREDENTIALS};

/// One scenario's results.
pub struct Row {
    pub name: String,
    pub load: LoadReport,
    /// Server VmRSS just before the load, KiB.
    pub idle_kib: Option<u64>,
    /// Server VmHWM during the load, KiB.
    pub peak_kib: Option<u64>,
    /// Where the CPU went during the load (warm-up included).
    pub cpu: Option<CpuCores>,
}

/// What the header states besides the machine and the date.
pub struct Context<'a> {
    pub command_line: &'a str,
    pub store: &'a str,
    pub config: LoadConfig,
}

pub fn render(context: &Context<'_>, rows: &[Row], baseline_row: &str) -> String {
    let mut out = String::new();
    let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
    let config = context.config;
    let lines = [
        format!("- date: {}", utc_now()),
        format!("- command: `{}`", context.command_line),
        format!("- machine: nproc {nproc}, {}", procfs::cpu_model()),
        format!("- store: {}", context.store),
        format!(
            "- load: {} keep-alive HTTP/1.1 connections, {:.1} s warm-up (discarded), {:.1} s measured per scenario; the load generator runs on the same machine",
            config.connections,
            config.warmup.as_secs_f64(),
            config.duration.as_secs_f64()
        ),
    ];
    for line in lines {
        let _ = writeln!(out, "{line}");
    }
    out.push('\n');
    out.push_str(&table(rows, baseline_row));
    out.push('\n');
    out.push_str(&resources(rows));
    for row in rows {
        if let Some(error) = &row.load.first_error {
            let _ = writeln!(out, "\nfirst error in {}: {error}", row.name);
        }
    }
    out
}

/// The table alone; the ratio column is "—" when there is no row named `baseline_row`.
pub fn table(rows: &[Row], baseline_row: &str) -> String {
    let baseline = rows
        .iter()
        .find(|row| row.name == baseline_row)
        .map(|row| row.load.requests_per_second());
    let mut out = String::from(
        "| scenario | req/s | ratio to baseline | p50 ms | p99 ms | p99.9 ms | errors | peak RSS MiB |\n\
         |---|--:|--:|--:|--:|--:|--:|--:|\n",
    );
    for row in rows {
        let rate = row.load.requests_per_second();
        let ratio = match baseline {
            // Two significant digits for small ratios, which Tessera's will be.
            Some(base) if base > 0.0 && rate < base / 10.0 => format!("{:.3}", rate / base),
            Some(base) if base > 0.0 => format!("{:.2}", rate / base),
            _ => "—".to_owned(),
        };
        let _ = writeln!(
            out,
            "| {} | {:.0} | {ratio} | {:.2} | {:.2} | {:.2} | {} | {} |",
            row.name,
            rate,
            row.load.latency_ms(0.5),
            row.load.latency_ms(0.99),
            row.load.latency_ms(0.999),
            row.load.errors,
            mib(row.peak_kib),
        );
    }
    out
}

/// Idle memory and CPU use per scenario: whether the server, the load generator or
/// something else had the machine.
pub fn resources(rows: &[Row]) -> String {
    let mut out = String::from(
        "| scenario | idle RSS MiB | server cores | load generator cores | other cores |\n\
         |---|--:|--:|--:|--:|\n",
    );
    for row in rows {
        let cores = |pick: fn(&CpuCores) -> f64| {
            row.cpu
                .as_ref()
                .map_or_else(|| "—".to_owned(), |cpu| format!("{:.2}", pick(cpu)))
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            row.name,
            mib(row.idle_kib),
            cores(|cpu| cpu.server),
            cores(|cpu| cpu.generator),
            cores(|cpu| cpu.other),
        );
    }
    out
}

/// The `--scale` section: each large-store row beside the small-store row of the same
/// scenario, each as a ratio to the baseline measured in its own half of the run, and the
/// two ratios' quotient (flat is 1.0); then the large store's resources and first errors.
/// `store` describes the large store; `baseline` names the baseline row in both halves.
pub fn scale(small: &[Row], large: &[Row], store: &str, baseline: &str) -> String {
    let rate = |rows: &[Row], name: &str| {
        rows.iter()
            .find(|row| row.name == name)
            .map(|row| row.load.requests_per_second())
            .filter(|rate| *rate > 0.0)
    };
    let (small_base, large_base) = (rate(small, baseline), rate(large, baseline));
    let mut out = format!("Large store: {store}.\n\n");
    out.push_str(
        "| scenario | small store req/s | ratio to baseline | large store req/s | ratio to baseline | large / small | small store p99 ms | large store p99 ms |\n\
         |---|--:|--:|--:|--:|--:|--:|--:|\n",
    );
    let fmt = |v: Option<f64>| v.map_or_else(|| "—".to_owned(), |v| format!("{v:.2}"));
    for row in large {
        let Some(before) = small.iter().find(|s| s.name == row.name) else {
            continue;
        };
        let (was, now) = (
            before.load.requests_per_second(),
            row.load.requests_per_second(),
        );
        let was_ratio = small_base.map(|base| was / base);
        let now_ratio = large_base.map(|base| now / base);
        let flat = was_ratio
            .zip(now_ratio)
            .filter(|(w, _)| *w > 0.0)
            .map(|(w, n)| n / w);
        let _ = writeln!(
            out,
            "| {} | {was:.0} | {} | {now:.0} | {} | {} | {:.2} | {:.2} |",
            row.name,
            fmt(was_ratio),
            fmt(now_ratio),
            fmt(flat),
            before.load.latency_ms(0.99),
            row.load.latency_ms(0.99),
        );
    }
    out.push('\n');
    out.push_str(&resources(large));
    for row in large {
        if let Some(error) = &row.load.first_error {
            let _ = writeln!(out, "\nfirst error in {} (large store): {error}", row.name);
        }
    }
    out
}

/// The DPoP targets (issue 19), for each DPoP row that ran with its plain row: at least
/// 0.7 of the plain row's rate in the same run.
pub fn dpop(rows: &[Row]) -> Option<String> {
    let find = |name: &str| rows.iter().find(|row| row.name == name);
    let pairs = [
        (CLIENT_CREDENTIALS_DPOP, CLIENT_CREDENTIALS),
        (BEARER_CALL_DPOP, BEARER_CALL),
    ];
    let mut lines = Vec::new();
    for (bound, plain) in pairs {
        let (Some(b), Some(p)) = (find(bound), find(plain)) else {
            continue;
        };
        let (rate, base) = (b.load.requests_per_second(), p.load.requests_per_second());
        if base > 0.0 {
            let ratio = rate / base;
            let met = if ratio >= 0.7 { "met" } else { "missed" };
            lines.push(format!(
                "| {bound} ≥ 0.7 × {plain} | {ratio:.2} ({rate:.0} / {base:.0} req/s) | {met} |"
            ));
        }
    }
    if lines.is_empty() {
        return None;
    }
    Some(format!(
        "DPoP targets (each rate against its plain row of the same run):\n\n\
         | target | measured | |\n|---|---|---|\n{}\n",
        lines.join("\n")
    ))
}

/// The gateway issue's targets, when a gateway row ran: its rate as a share of nginx's and
/// of the upstream's called directly, Tessera's peak memory under that load, and the
/// upload's effect on that memory.
pub fn gateway(rows: &[Row], notes: &GatewayNotes) -> Option<String> {
    let find = |name: &str| rows.iter().find(|row| row.name == name);
    let gateway = find(GATEWAY_BEARER_CALL)?;
    let rate = gateway.load.requests_per_second();
    let mut out = String::from(
        "Gateway targets (each rate against the other row of the same run):\n\n\
         | target | measured | |\n\
         |---|---|---|\n",
    );
    let verdict = |met: bool| if met { "met" } else { "missed" };
    for (other, target) in [(NGINX_PROXY, 0.8), (UPSTREAM_DIRECT, 0.45)] {
        let label = format!("{GATEWAY_BEARER_CALL} ≥ {target} × {other}");
        match find(other).map(|row| row.load.requests_per_second()) {
            Some(base) if base > 0.0 => {
                let ratio = rate / base;
                let _ = writeln!(
                    out,
                    "| {label} | {ratio:.2} ({rate:.0} / {base:.0} req/s) | {} |",
                    verdict(ratio >= target)
                );
            }
            _ => {
                let why = match (&notes.nginx_skipped, other == NGINX_PROXY) {
                    (Some(reason), true) => format!("skipped: {reason}"),
                    _ => format!("{other} did not run"),
                };
                let _ = writeln!(out, "| {label} | — ({why}) | not measured |");
            }
        }
    }
    if let Some(peak) = gateway.peak_kib {
        let _ = writeln!(
            out,
            "| Tessera's peak RSS under the gateway load ≤ 100 MiB | {} MiB | {} |",
            mib(Some(peak)),
            verdict(peak <= 100 << 10)
        );
    }
    if let Some(upload) = &notes.upload {
        let size = upload.bytes >> 20;
        let speed = |time: std::time::Duration| size as f64 / time.as_secs_f64().max(1e-9);
        let note = if upload.bytes < 1 << 30 {
            " (the target is for 1024 MiB)"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "| a 1 GiB upload through the gateway raises its RSS by ≤ 32 MiB | +{} MiB for {size} MiB{note} ({} → peak {} MiB); through the gateway in {:.2} s ({:.0} MiB/s), directly in {:.2} s ({:.0} MiB/s) | {} |",
            mib(Some(upload.raise_kib())),
            mib(Some(upload.idle_kib)),
            mib(Some(upload.peak_kib)),
            upload.through_gateway.as_secs_f64(),
            speed(upload.through_gateway),
            upload.direct.as_secs_f64(),
            speed(upload.direct),
            verdict(upload.raise_kib() <= 32 << 10),
        );
    }
    Some(out)
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or_else(
        || "—".to_owned(),
        |kib| format!("{:.1}", kib as f64 / 1024.0),
    )
}

/// Now, as `YYYY-MM-DD HH:MM UTC`.
fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        rest / 3600,
        rest % 3600 / 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context as _;

    fn row(name: &str, requests: u64, peak_mib: u64) -> anyhow::Result<Row> {
        Ok(Row {
            name: name.to_owned(),
            load: LoadReport::with_requests(requests, std::time::Duration::from_secs(1))?,
            idle_kib: None,
            peak_kib: Some(peak_mib << 10),
            cpu: None,
        })
    }

    #[test]
    fn gateway_targets_compare_rows_of_the_same_run() -> anyhow::Result<()> {
        let rows = [
            row(UPSTREAM_DIRECT, 10_000, 5)?,
            row(GATEWAY_BEARER_CALL, 4_000, 120)?,
            row(NGINX_PROXY, 4_500, 8)?,
        ];
        let notes = GatewayNotes {
            upload: Some(crate::gateway::UploadFigure {
                bytes: 1 << 30,
                idle_kib: 20 << 10,
                peak_kib: 22 << 10,
                through_gateway: std::time::Duration::from_secs(2),
                direct: std::time::Duration::from_secs(1),
            }),
            nginx_skipped: None,
        };
        let text = gateway(&rows, &notes).context("a section")?;
        assert!(text.contains("| gateway bearer call ≥ 0.8 × nginx proxy (no auth) | 0.89 (4000 / 4500 req/s) | met |"), "{text}");
        assert!(text.contains("| gateway bearer call ≥ 0.45 × upstream direct | 0.40 (4000 / 10000 req/s) | missed |"), "{text}");
        assert!(text.contains("| 120.0 MiB | missed |"), "{text}");
        assert!(text.contains("| +2.0 MiB for 1024 MiB (20.0 → peak 22.0 MiB); through the gateway in 2.00 s (512 MiB/s), directly in 1.00 s (1024 MiB/s) | met |"), "{text}");

        let skipped = GatewayNotes {
            upload: None,
            nginx_skipped: Some("nginx is not installed".to_owned()),
        };
        let text = gateway(&rows[..2], &skipped).context("a section")?;
        assert!(
            text.contains("| — (skipped: nginx is not installed) | not measured |"),
            "{text}"
        );
        assert!(
            gateway(&rows[..1], &skipped).is_none(),
            "no gateway row, no section"
        );
        Ok(())
    }

    #[test]
    fn civil_from_days_matches_known_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(civil_from_days(20_513), (2026, 3, 1));
    }
}
