//! `tessera scope …`: the CLI face of `tessera_core::manage::scopes`. The configuration's
//! `[[route]]` and `[[scope]]` tables count as users of a scope, so pass the server's
//! `--config` for a refusal to name them.

use serde_json::{json, Value};
use tessera_core::manage::scopes::{self, ScopeDetails};
use tessera_core::store::ScopeEntry;

use crate::cli::ScopeCommand;
use crate::config::Config;
use crate::context::{actor, now, Output};
use crate::serve::open_store;

fn entry_json(e: &ScopeEntry) -> Value {
    json!({ "name": e.name, "description": e.description })
}

fn details_json(d: &ScopeDetails) -> Value {
    let ids = |list: &[tessera_core::domain::ClientId]| -> Vec<String> {
        list.iter().map(|id| id.to_string()).collect()
    };
    let mut value = entry_json(&d.entry);
    value["sample"] = json!(d.sample);
    value["in_use"] = json!(d.in_use());
    value["clients"] = json!(ids(&d.usage.clients));
    value["applications"] = json!(ids(&d.usage.applications));
    value["consents"] = json!(d.usage.consents);
    value["consent_users"] = json!(d.usage.consent_users);
    value["routes"] = d
        .routes
        .iter()
        .map(|(index, path)| json!({ "index": index, "path": path }))
        .collect();
    value["configured"] = json!(d.configured);
    value
}

fn details_text(d: &ScopeDetails) -> String {
    let mut text = format!("{}\n  {}\n", d.entry.name, d.entry.description);
    if d.sample {
        text.push_str("  (a sample scope, as a fresh store holds it)\n");
    }
    let users = d.users();
    if users.is_empty() {
        text.push_str("  used by nothing: `tessera scope remove` may remove it");
    } else {
        text.push_str("  used by:");
        for user in users {
            text.push_str(&format!("\n    {user}"));
        }
    }
    text
}

pub(crate) async fn scope(config: &Config, cmd: ScopeCommand, out: &Output) -> anyhow::Result<()> {
    let store = open_store(config).await?;
    match cmd {
        ScopeCommand::Create { name, description } => {
            let e = scopes::create_scope(&store, &actor(), &name, &description, now()).await?;
            out.print(&entry_json(&e), || {
                format!("created scope {} ({})", e.name, e.description)
            });
        }
        ScopeCommand::List => {
            let list = scopes::list_scopes(&store).await?;
            out.print(&Value::Array(list.iter().map(entry_json).collect()), || {
                let width = list.iter().map(|e| e.name.len()).max().unwrap_or(0).max(5);
                let mut t = format!("{:<width$}  {}\n", "SCOPE", "DESCRIPTION");
                for e in &list {
                    t.push_str(&format!("{:<width$}  {}\n", e.name, e.description));
                }
                t.trim_end().to_owned()
            });
        }
        ScopeCommand::Describe { name } => {
            let d = scopes::show_scope(&store, &name, config.catalog()).await?;
            out.print(&details_json(&d), || details_text(&d));
        }
        ScopeCommand::Update { name, description } => {
            let e = scopes::update_description(
                &store,
                &actor(),
                &name,
                &description,
                config.catalog(),
                now(),
            )
            .await?;
            out.print(&entry_json(&e), || {
                format!("scope {} is now described as: {}", e.name, e.description)
            });
        }
        ScopeCommand::Remove { name } => {
            let e = scopes::remove_scope(&store, &actor(), &name, config.catalog(), now()).await?;
            out.print(&json!({ "name": e.name, "removed": true }), || {
                format!("removed scope {}", e.name)
            });
        }
    }
    Ok(())
}
