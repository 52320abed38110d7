//! `tessera account import FILE`: API accounts with the provider's own ids, from a CSV file
//! with a header row or JSON Lines (`external_id`, `name`), read by `import_file.rs` and
//! decided by `tessera_core::manage::account_import`. Re-running a file changes nothing.

use std::path::Path;

use tessera_core::manage::account_import::{apply_account_import, plan_account_import, AccountRow};
use tessera_core::store::Store;

use crate::context::{actor, now, Output};
use crate::import_file::{print, read_records, ready_to_write, Columns, RunMode};

const COLUMNS: Columns<'static> = Columns {
    required: &["external_id", "name"],
    optional: &[],
};

pub(crate) async fn import(
    store: &dyn Store,
    file: &Path,
    mode: RunMode,
    out: &Output,
) -> anyhow::Result<()> {
    let rows = read_records(file, &COLUMNS)?
        .into_iter()
        .map(|r| AccountRow {
            line: r.line,
            external_id: r.text(0),
            name: r.text(1),
            unreadable: r.unreadable,
        })
        .collect();
    let at = now();
    let plan = plan_account_import(store, rows, at).await?;
    if !ready_to_write(&plan, mode, "external_id", out)? {
        return Ok(());
    }
    apply_account_import(store, &actor(), &plan, at).await?;
    print(out, &plan, "external_id", "imported");
    Ok(())
}
