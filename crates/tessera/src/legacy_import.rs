//! `tessera legacy import FILE`: reads a CSV (with a header row) or JSON Lines file of
//! legacy credentials with their existing password hashes (`import_file.rs`), and hands the
//! rows to `tessera_core::legacy::import`, which decides and writes. Nothing printed here ever
//! contains a hash: rejected lines show their number, email and reason.

use std::path::Path;

use tessera_core::legacy::import::{apply_import, plan_import, ImportRow};
use tessera_core::store::Store;

use crate::context::{now, Output};
use crate::import_file::{print, read_records, ready_to_write, Columns, RunMode};

const COLUMNS: Columns<'static> = Columns {
    // `account`: `acct_…` or `ext:<external id>`.
    required: &["email", "account", "password_hash"],
    optional: &["created_at", "last_used_at"],
};

pub(crate) async fn import(
    store: &dyn Store,
    file: &Path,
    mode: RunMode,
    actor: &str,
    out: &Output,
) -> anyhow::Result<()> {
    let rows = read_records(file, &COLUMNS)?
        .into_iter()
        .map(|r| ImportRow {
            line: r.line,
            email: r.text(0),
            account: r.text(1),
            password_hash: r.text(2),
            created_at: r.get(3),
            last_used_at: r.get(4),
            unreadable: r.unreadable,
        })
        .collect();
    let at = now();
    let plan = plan_import(store, rows, at).await?;
    if !ready_to_write(&plan, mode, "email", out)? {
        return Ok(());
    }
    apply_import(store, &plan, actor, at).await?;
    print(out, &plan, "email", "imported");
    Ok(())
}
