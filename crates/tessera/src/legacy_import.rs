//! `tessera legacy import FILE`: reads a CSV (with a header row) or JSON Lines file of
//! legacy credentials with their existing password hashes as a stream (`import_file.rs`),
//! hands each row to `tessera_core::legacy::import` as it is read, which checks, plans and
//! writes. Long imports show their progress (`progress.rs`). Nothing printed here ever
//! contains a hash: rejected lines show their number, email and reason.

use std::path::Path;

use tessera_core::audit::Actor;
use tessera_core::import::{ImportCounts, ImportSummary, Rejected};
use tessera_core::legacy::import::{apply_import, plan_import, ImportCheck, ImportRow};
use tessera_core::store::Store;

use crate::context::{now, Output};
use crate::import_file::{count_lines, for_each_record, print, ready_to_write, Columns, RunMode};
use crate::progress::Display;

const COLUMNS: Columns<'static> = Columns {
    // `account`: `acct_…` or `ext:<external id>`.
    required: &["email", "account", "password_hash"],
    optional: &["created_at", "last_used_at"],
};

pub(crate) async fn import(
    store: &dyn Store,
    file: &Path,
    mode: RunMode,
    actor: &Actor,
    out: &Output,
) -> anyhow::Result<()> {
    let display = Display::choose(out.json);
    let total = count_lines(file)?;
    let checking = display.phase("checking", "lines", total);
    let mut check = ImportCheck::new();
    for_each_record(file, &COLUMNS, Some(&checking), |r| {
        check.add(ImportRow {
            line: r.line,
            email: r.text(0),
            account: r.text(1),
            password_hash: r.text(2),
            created_at: r.get(3),
            last_used_at: r.get(4),
            unreadable: r.unreadable,
        });
    })?;
    checking.finish(total);
    let at = now();
    let plan = plan_import(store, check, at).await?;
    if !ready_to_write(&plan, mode, "email", out)? {
        return Ok(());
    }
    // What to print once the plan has been written (and given away).
    let summary = Summary {
        counts: plan.counts(),
        rejected: plan.rejected.clone(),
    };
    let to_write = (summary.counts.new + summary.counts.updated) as u64;
    let writing = display.phase("writing", "credentials", to_write);
    apply_import(store, plan, actor, at, &|done| writing.set(done as u64)).await?;
    writing.finish(to_write);
    print(out, &summary, "email", "imported");
    Ok(())
}

struct Summary {
    counts: ImportCounts,
    rejected: Vec<Rejected>,
}

impl ImportSummary for Summary {
    fn counts(&self) -> ImportCounts {
        self.counts
    }

    fn rejected(&self) -> &[Rejected] {
        &self.rejected
    }
}
