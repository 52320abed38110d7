//! What `tessera legacy import` and `tessera account import` share: reading a CSV file with
//! a header row, or JSON Lines, into records by column name; and how a plan is checked,
//! reported and stopped (`--dry-run`, all or nothing, `--skip-invalid`). The file is read
//! as a stream. The core decides what each line does (`tessera_core::import`); nothing
//! here looks at a value.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use anyhow::{bail, Context};
use serde_json::{json, Value};
use tessera_core::import::ImportSummary;

use crate::context::Output;
use crate::progress::Phase;

/// What a malformed record is rejected with; the parsers' own messages may quote fields.
const BAD_CSV: &str = "not a CSV record with as many fields as the header";
const BAD_JSON: &str = "not a JSON object";
const NOT_UTF8: &str = "not UTF-8 text";

/// The columns of a file: the required ones (a CSV header must name them), then the
/// optional ones, in the order [`Record::get`] indexes them.
pub(crate) struct Columns<'a> {
    pub required: &'a [&'a str],
    pub optional: &'a [&'a str],
}

impl Columns<'_> {
    fn all(&self) -> impl Iterator<Item = &str> {
        self.required.iter().chain(self.optional).copied()
    }
}

/// One line of the file.
#[derive(Debug)]
pub(crate) struct Record {
    /// 1-based line number in the file.
    pub line: usize,
    /// By column, in [`Columns`] order; `None`: absent, or an empty optional CSV cell.
    values: Vec<Option<String>>,
    /// Set when the line is not a record at all; the import rejects it with this.
    pub unreadable: Option<String>,
}

impl Record {
    /// The value of column `i`, if the line has one.
    pub(crate) fn get(&self, i: usize) -> Option<String> {
        self.values.get(i).cloned().flatten()
    }

    /// The value of column `i`, empty when absent.
    pub(crate) fn text(&self, i: usize) -> String {
        self.get(i).unwrap_or_default()
    }

    fn malformed(line: usize, why: String) -> Self {
        Self {
            line,
            values: Vec::new(),
            unreadable: Some(why),
        }
    }
}

/// Reads `file`: JSON Lines when the first non-blank line is an object, CSV with a header
/// otherwise. A malformed line becomes a record the import rejects, not an error.
pub(crate) fn read_records(file: &Path, columns: &Columns<'_>) -> anyhow::Result<Vec<Record>> {
    let mut records = Vec::new();
    for_each_record(file, columns, None, |r| records.push(r))?;
    Ok(records)
}

/// The same as a stream: each record goes to `each` as it is read, so a large file is never
/// held in memory; `progress` hears the line reached.
pub(crate) fn for_each_record(
    file: &Path,
    columns: &Columns<'_>,
    progress: Option<&Phase>,
    mut each: impl FnMut(Record),
) -> anyhow::Result<()> {
    let opened = File::open(file).with_context(|| format!("cannot read {}", file.display()))?;
    let mut reader = BufReader::with_capacity(1 << 16, opened);
    let tick = |line: usize| {
        if let Some(p) = progress {
            p.set(line as u64);
        }
    };
    // The first byte that is not blank, peeked at in the buffer (nothing consumed).
    let first = reader
        .fill_buf()?
        .iter()
        .copied()
        .find(|b| !b.is_ascii_whitespace());
    if first == Some(b'{') {
        json_records(reader, columns, tick, &mut each)
    } else {
        csv_records(reader, columns, tick, &mut each)
    }
}

/// Lines in `file` (a last line without a newline counts): a progress total.
pub(crate) fn count_lines(file: &Path) -> anyhow::Result<u64> {
    let opened = File::open(file).with_context(|| format!("cannot read {}", file.display()))?;
    let mut reader = BufReader::with_capacity(1 << 16, opened);
    let (mut lines, mut last) = (0u64, b'\n');
    loop {
        let chunk = reader.fill_buf()?;
        let Some(&end) = chunk.last() else { break };
        lines += chunk.iter().filter(|&&b| b == b'\n').count() as u64;
        last = end;
        let n = chunk.len();
        reader.consume(n);
    }
    Ok(lines + u64::from(last != b'\n'))
}

fn json_records(
    mut reader: impl BufRead,
    columns: &Columns<'_>,
    tick: impl Fn(usize),
    each: &mut impl FnMut(Record),
) -> anyhow::Result<()> {
    let mut buf = Vec::new();
    let mut line_no = 0;
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf)? == 0 {
            return Ok(());
        }
        line_no += 1;
        tick(line_no);
        let Ok(line) = std::str::from_utf8(&buf) else {
            each(Record::malformed(line_no, NOT_UTF8.into()));
            continue;
        };
        if line.trim().is_empty() {
            continue;
        }
        let Ok(Value::Object(obj)) = serde_json::from_str::<Value>(line) else {
            each(Record::malformed(line_no, BAD_JSON.into()));
            continue;
        };
        let mut values = Vec::new();
        let mut unreadable = None;
        for name in columns.all() {
            values.push(match obj.get(name) {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(s.clone()),
                // Provider ids are often numbers: 42 is the id "42".
                Some(Value::Number(n)) => Some(n.to_string()),
                Some(_) => {
                    unreadable.get_or_insert_with(|| format!("{name} must be a string"));
                    None
                }
            });
        }
        each(Record {
            line: line_no,
            values,
            unreadable,
        });
    }
}

fn csv_records(
    reader: impl Read,
    columns: &Columns<'_>,
    tick: impl Fn(usize),
    each: &mut impl FnMut(Record),
) -> anyhow::Result<()> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(reader);
    let headers = reader
        .headers()
        .context("the first line must be a CSV header")?
        .clone();
    let position = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
    if columns.required.iter().any(|c| position(c).is_none()) {
        bail!(
            "the CSV header must name the columns {}",
            listed(columns.required)
        );
    }
    let required = columns.required.len();
    let found: Vec<Option<usize>> = columns.all().map(position).collect();
    let mut record = csv::StringRecord::new();
    loop {
        let line_no = reader.position().line() as usize;
        match reader.read_record(&mut record) {
            Ok(false) => return Ok(()),
            Ok(true) => {
                let values = found
                    .iter()
                    .enumerate()
                    .map(|(i, at)| {
                        let value = at.and_then(|at| record.get(at)).unwrap_or_default();
                        // An empty optional cell is an absent value.
                        (i < required || !value.is_empty()).then(|| value.to_owned())
                    })
                    .collect();
                each(Record {
                    line: record.position().map_or(line_no, |p| p.line() as usize),
                    values,
                    unreadable: None,
                });
            }
            Err(e) if matches!(e.kind(), csv::ErrorKind::Io(_)) => {
                return Err(e).context("reading the import file");
            }
            Err(_) => each(Record::malformed(line_no, BAD_CSV.into())),
        }
        // The line the next record starts on, less one: the lines read so far.
        tick((reader.position().line() as usize).saturating_sub(1));
    }
}

/// `a`, `a and b`, `a, b and c`.
fn listed(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// How the operator asked to run an import.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RunMode {
    pub dry_run: bool,
    pub skip_invalid: bool,
}

/// Whether to write the plan now. A dry run prints it and stops; without `--skip-invalid`
/// any rejected line prints it and fails, nothing written. `subject` names what a rejected
/// line's subject is (`email`, `external_id`) in the report.
pub(crate) fn ready_to_write(
    plan: &dyn ImportSummary,
    mode: RunMode,
    subject: &str,
    out: &Output,
) -> anyhow::Result<bool> {
    if mode.dry_run {
        print(out, plan, subject, "dry run, nothing written");
        return Ok(false);
    }
    let rejected = plan.rejected().len();
    if rejected > 0 && !mode.skip_invalid {
        print(out, plan, subject, "aborted, nothing written");
        bail!(
            "{rejected} line(s) rejected, so nothing was imported; fix them, or pass \
             --skip-invalid to import the other lines"
        );
    }
    Ok(true)
}

/// The counts and every rejected line: one JSON object with `--json`, else text.
pub(crate) fn print(out: &Output, plan: &dyn ImportSummary, subject: &str, outcome: &str) {
    let counts = plan.counts();
    let rejected: Vec<Value> = plan
        .rejected()
        .iter()
        .map(|r| json!({ "line": r.line, subject: r.subject, "reason": r.reason }))
        .collect();
    let value = json!({
        "outcome": outcome,
        "new": counts.new,
        "updated": counts.updated,
        "unchanged": counts.unchanged,
        "rejected": rejected,
    });
    out.print(&value, || {
        let mut t = format!(
            "{outcome}: {} new, {} updated, {} unchanged, {} rejected",
            counts.new,
            counts.updated,
            counts.unchanged,
            plan.rejected().len()
        );
        for r in plan.rejected() {
            if r.subject.is_empty() {
                t.push_str(&format!("\n  line {}: {}", r.line, r.reason));
            } else {
                t.push_str(&format!(
                    "\n  line {} ({}): {}",
                    r.line, r.subject, r.reason
                ));
            }
        }
        t
    });
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const COLUMNS: Columns<'static> = Columns {
        required: &["external_id", "name"],
        optional: &["note"],
    };

    fn read(text: &str) -> anyhow::Result<Vec<Record>> {
        let dir =
            std::env::temp_dir().join(tessera_core::random::token::<8>("tessera-import-").unwrap());
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("f");
        std::fs::write(&path, text).unwrap();
        let records = read_records(&path, &COLUMNS);
        std::fs::remove_dir_all(&dir).unwrap();
        records
    }

    #[test]
    fn csv_columns_are_found_by_header_name_in_any_order_and_case() {
        let r = read("Name,EXTERNAL_ID,note\n\"Acme, Inc\",42,\nGlobex,43,vip\n").unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(
            (r[0].line, r[0].text(0), r[0].text(1)),
            (2, "42".into(), "Acme, Inc".into())
        );
        assert_eq!((r[0].get(2), r[1].get(2)), (None, Some("vip".into())));
        assert_eq!(r[1].line, 3);
    }

    #[test]
    fn a_csv_header_missing_a_required_column_names_them_all() {
        let err = read("external_id,title\n1,A\n").unwrap_err().to_string();
        assert_eq!(
            err,
            "the CSV header must name the columns external_id and name"
        );
    }

    #[test]
    fn json_lines_take_numbers_as_text_and_reject_other_shapes() {
        let r = read(
            "{\"external_id\": 42, \"name\": \"Acme\"}\n\n[1]\n{\"external_id\": true, \"name\": \"B\"}\n",
        )
        .unwrap();
        assert_eq!(r.len(), 3);
        assert_eq!(
            (r[0].text(0), r[0].text(1), r[0].get(2)),
            ("42".into(), "Acme".into(), None)
        );
        assert_eq!((r[1].line, r[1].unreadable.as_deref()), (3, Some(BAD_JSON)));
        assert_eq!(
            (r[2].line, r[2].unreadable.as_deref()),
            (4, Some("external_id must be a string"))
        );
    }

    #[test]
    fn a_csv_line_with_too_many_fields_is_unreadable_not_fatal() {
        let r = read("external_id,name\n1,A\n2,B,extra\n3,C\n").unwrap();
        assert_eq!(r.len(), 3);
        assert_eq!((r[1].line, r[1].unreadable.as_deref()), (3, Some(BAD_CSV)));
        assert_eq!(r[2].text(0), "3");
    }
}
