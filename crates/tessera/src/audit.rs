//! `tessera audit` (every administrative change) and `tessera legacy audit` (one legacy
//! credential's): both read the one audit log through `AuditStore::list_audit_events`.

use anyhow::anyhow;
use serde_json::{json, Value};
use tessera_core::audit::{parse_since, AuditEvent, AuditQuery};
use tessera_core::rfc3339::format_rfc3339;
use tessera_core::store::AuditStore;

use crate::cli::AuditArgs;
use crate::config::Config;
use crate::context::{now, Output};
use crate::serve::open_store;

pub(crate) async fn audit(config: &Config, args: AuditArgs, out: &Output) -> anyhow::Result<()> {
    let since = args
        .since
        .as_deref()
        .map(|raw| parse_since(raw, now()).map_err(|e| anyhow!("--since: {e}")))
        .transpose()?;
    let store = open_store(config).await?;
    let query = AuditQuery {
        since,
        actor: args.actor,
        target: args.target,
        limit: args.limit,
        skip: 0,
    };
    print_events(&store, &query, out).await
}

/// Prints the events `query` selects, as a table or (with `--json`) an array.
pub(crate) async fn print_events(
    store: &dyn AuditStore,
    query: &AuditQuery,
    out: &Output,
) -> anyhow::Result<()> {
    let events = store.list_audit_events(query).await?;
    out.print(
        &Value::Array(events.iter().map(event_json).collect()),
        || table(&events),
    );
    Ok(())
}

fn event_json(e: &AuditEvent) -> Value {
    json!({
        "at": e.at,
        "time": format_rfc3339(e.at),
        "actor": e.actor.as_str(),
        "action": e.action.as_str(),
        "target": e.target.to_string(),
        "outcome": e.outcome.as_str(),
        "account_id": e.account_id.as_ref().map(|a| a.as_str()),
        "client_id": e.client_id.as_ref().map(|c| c.as_str()),
        "credential_id": e.credential_id.as_ref().map(|c| c.as_str()),
        "detail": e.detail,
    })
}

fn table(events: &[AuditEvent]) -> String {
    if events.is_empty() {
        return "no audit events match".into();
    }
    let mut t = format!(
        "{:<20} {:<22} {:<26} {:<34} {:<8} {}\n",
        "AT", "ACTOR", "ACTION", "TARGET", "OUTCOME", "DETAIL"
    );
    for e in events {
        t.push_str(&format!(
            "{:<20} {:<22} {:<26} {:<34} {:<8} {}\n",
            format_rfc3339(e.at),
            e.actor.as_str(),
            e.action.as_str(),
            e.target.to_string(),
            e.outcome.as_str(),
            e.detail
        ));
    }
    t.trim_end().to_owned()
}
