//! `--scale`: after the other scenarios, make the store large and run the ones whose
//! lookups could slow down with its size again, for the ratio to the small store (the
//! goal is flat).
//!
//! The rows are added by `tessera fixtures backfill`, in bulk: clients until the store holds
//! `--scale-clients` credential clients, then `--scale-tokens` token sets of the bench
//! application and user, each with one live refresh token (the worst case for a refresh
//! token lookup: every row a candidate). The server is stopped for the load and started
//! again on the large store, so it begins with empty caches as it did on the small one.

use anyhow::{bail, Result};
use serde::Deserialize;
use tokio::time::Instant;

use crate::fixtures::MANY_CLIENTS;
use crate::report::Row;
use crate::scenarios::{self, Bench, BASELINE_ROW, SCALE_SCENARIOS};

/// How large the store is made.
#[derive(Clone, Copy, Debug)]
pub struct ScaleCounts {
    /// Credential clients the store holds afterwards, the fixtures' included.
    pub clients: usize,
    /// Token sets added, one live refresh token each.
    pub token_sets: usize,
}

#[derive(Deserialize)]
struct Backfilled {
    clients: usize,
    token_sets: usize,
}

/// Loads the store, restarts the server on it and runs again each of `small`'s rows that
/// `SCALE_SCENARIOS` names, then the baseline; the large store's rows, in the same order.
/// The baseline runs again because minutes pass between the two halves and a shared
/// virtual machine's speed drifts meanwhile: each half is compared through its own
/// baseline.
pub async fn run(bench: &mut Bench, small: &[Row], counts: ScaleCounts) -> Result<Vec<Row>> {
    bench.tessera.stop_server();
    // The fixtures made the one bench client and MANY_CLIENTS more.
    let clients = counts.clients.saturating_sub(MANY_CLIENTS + 1);
    backfill(bench, clients, 0).await?;
    backfill(bench, 0, counts.token_sets).await?;
    bench.tessera.restart().await?;
    eprintln!("tessera restarted on the large store");
    let mut rows = Vec::new();
    for name in SCALE_SCENARIOS {
        if small.iter().any(|row| row.name == name) {
            rows.extend(scenarios::run(bench, name).await?);
        }
    }
    rows.extend(scenarios::run(bench, BASELINE_ROW).await?);
    Ok(rows)
}

/// `tessera fixtures backfill` for the bench account, application and user, timed.
async fn backfill(bench: &Bench, clients: usize, token_sets: usize) -> Result<()> {
    let started = Instant::now();
    let grant = &bench.fixtures.app_grant;
    let (clients_arg, token_sets_arg) = (clients.to_string(), token_sets.to_string());
    let args = [
        "fixtures",
        "backfill",
        "--account",
        &grant.account_id,
        "--clients",
        &clients_arg,
        "--token-sets",
        &token_sets_arg,
        "--app",
        &grant.app.client_id,
        "--user",
        &grant.user_id,
    ];
    let added: Backfilled = bench.tessera.cli.json(&args).await?;
    if (added.clients, added.token_sets) != (clients, token_sets) {
        bail!(
            "tessera fixtures backfill added {} clients and {} token sets, not {clients} and {token_sets}",
            added.clients,
            added.token_sets
        );
    }
    eprintln!(
        "added {clients} clients and {token_sets} token sets in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
