//! `tessera legacy import FILE`: reads a CSV (with a header row) or JSON Lines file of
//! legacy credentials with their existing password hashes, and hands the rows to
//! `tessera_core::legacy::import`, which decides and writes. Nothing printed here ever
//! contains a hash: rejected lines show their number, email and reason.

use std::path::Path;

use anyhow::{bail, Context};
use serde_json::{json, Value};
use tessera_core::legacy::import::{apply_import, plan_import, ImportPlan, ImportRow};
use tessera_core::store::Store;

use crate::context::{now, Output};

/// What a malformed record is rejected with; the parsers' own messages may quote fields.
const BAD_CSV: &str = "not a CSV record with as many fields as the header";
const BAD_JSON: &str = "not a JSON object";

pub(crate) async fn import(
    store: &dyn Store,
    file: &Path,
    dry_run: bool,
    skip_invalid: bool,
    actor: &str,
    out: &Output,
) -> anyhow::Result<()> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let rows = read_rows(&text)?;
    let at = now();
    let plan = plan_import(store, rows, at).await?;
    if dry_run {
        print(out, &plan, "dry run, nothing written");
        return Ok(());
    }
    if !plan.rejected.is_empty() && !skip_invalid {
        print(out, &plan, "aborted, nothing written");
        bail!(
            "{} line(s) rejected, so nothing was imported; fix them, or pass --skip-invalid \
             to import the other lines",
            plan.rejected.len()
        );
    }
    apply_import(store, &plan, actor, at).await?;
    print(out, &plan, "imported");
    Ok(())
}

fn print(out: &Output, plan: &ImportPlan, outcome: &str) {
    let rejected: Vec<Value> = plan
        .rejected
        .iter()
        .map(|r| json!({ "line": r.line, "email": r.email, "reason": r.reason }))
        .collect();
    let value = json!({
        "outcome": outcome,
        "new": plan.new.len(),
        "updated": plan.updated.len(),
        "unchanged": plan.unchanged,
        "rejected": rejected,
    });
    out.print(&value, || {
        let mut t = format!(
            "{outcome}: {} new, {} updated, {} unchanged, {} rejected",
            plan.new.len(),
            plan.updated.len(),
            plan.unchanged,
            plan.rejected.len()
        );
        for r in &plan.rejected {
            t.push_str(&format!("\n  line {} ({}): {}", r.line, r.email, r.reason));
        }
        t
    });
}

/// JSON Lines when the first non-blank line is an object, CSV with a header otherwise.
/// A malformed record becomes a row that the core rejects with `reason`.
fn read_rows(text: &str) -> anyhow::Result<Vec<ImportRow>> {
    let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    if first.trim_start().starts_with('{') {
        Ok(json_rows(text))
    } else {
        csv_rows(text)
    }
}

fn json_rows(text: &str) -> Vec<ImportRow> {
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let line_no = i + 1;
        let Ok(Value::Object(obj)) = serde_json::from_str::<Value>(line) else {
            rows.push(malformed(line_no, BAD_JSON));
            continue;
        };
        let field = |name: &str| obj.get(name).and_then(Value::as_str).map(str::to_owned);
        rows.push(ImportRow {
            line: line_no,
            email: field("email").unwrap_or_default(),
            account: field("account").unwrap_or_default(),
            password_hash: field("password_hash").unwrap_or_default(),
            created_at: field("created_at"),
            last_used_at: field("last_used_at"),
            unreadable: None,
        });
    }
    rows
}

fn csv_rows(text: &str) -> anyhow::Result<Vec<ImportRow>> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .context("the first line must be a CSV header")?
        .clone();
    let column = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
    let (Some(email), Some(account), Some(hash)) =
        (column("email"), column("account"), column("password_hash"))
    else {
        bail!("the CSV header must name the columns email, account and password_hash");
    };
    let (created, last_used) = (column("created_at"), column("last_used_at"));
    let mut rows = Vec::new();
    let mut record = csv::StringRecord::new();
    loop {
        let line_no = reader.position().line() as usize;
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                let get = |i: usize| record.get(i).unwrap_or_default().to_owned();
                let optional = |i: Option<usize>| i.map(get).filter(|v| !v.is_empty());
                rows.push(ImportRow {
                    line: record.position().map_or(line_no, |p| p.line() as usize),
                    email: get(email),
                    account: get(account),
                    password_hash: get(hash),
                    created_at: optional(created),
                    last_used_at: optional(last_used),
                    unreadable: None,
                });
            }
            Err(_) => rows.push(malformed(line_no, BAD_CSV)),
        }
    }
    Ok(rows)
}

fn malformed(line: usize, why: &str) -> ImportRow {
    ImportRow {
        line,
        unreadable: Some(why.to_owned()),
        ..ImportRow::default()
    }
}
