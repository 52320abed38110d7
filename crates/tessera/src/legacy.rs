//! `tessera legacy …` and `tessera report legacy`: the CLI face of `tessera_core::legacy`.
//! Passwords are read from stdin or a prompt, hashed off the async threads, and never
//! printed; a migrated client's secret is printed exactly once.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{anyhow, bail};
use serde_json::{json, Value};
use tessera_core::audit::AuditQuery;
use tessera_core::domain::password::hash_password;
use tessera_core::legacy::provision::{
    change_legacy_password, create_legacy_credential, get_legacy_credential, NewLegacyCredential,
};
use tessera_core::legacy::report::{legacy_report, report_csv};
use tessera_core::legacy::usage::LegacyReportRow;
use tessera_core::legacy::{migration, LegacyCredential, Password, PasswordHash};
use tessera_core::manage::accounts;
use tessera_core::rfc3339::format_rfc3339;
use tessera_core::store::LegacyStore;

use crate::cli::{LegacyCommand, ReportCommand, ReportFormat};
use crate::config::Config;
use crate::context::{actor, now, Output};
use crate::import_file::RunMode;
use crate::serve::open_store;

fn time(t: Option<i64>) -> Value {
    t.map_or(Value::Null, |t| json!(format_rfc3339(t)))
}

fn credential_json(c: &LegacyCredential) -> Value {
    json!({
        "credential_id": c.id.as_str(),
        "email": c.email.as_str(),
        "account_id": c.account_id.as_str(),
        "state": c.state.as_str(),
        // Which format the stored hash is in (argon2id, or an imported one until its
        // first login); never the hash.
        "hash_algorithm": c.password_hash.as_ref().map(|h| h.family().name()),
        "migrated_client_id": c.migrated_client_id.as_ref().map(|id| id.as_str()),
        "created_at": c.created_at,
        "migrated_at": c.migrated_at,
        "removed_at": c.removed_at,
        "last_used_at": c.last_used_at,
    })
}

pub(crate) async fn legacy(
    config: &Config,
    cmd: LegacyCommand,
    out: &Output,
) -> anyhow::Result<()> {
    let store = open_store(config).await?;
    match cmd {
        LegacyCommand::Create {
            account,
            email,
            password_stdin,
        } => {
            // Fail on an unknown account before asking for a password.
            accounts::get_account(&store, &account).await?;
            let hash = read_and_hash(config, password_stdin).await?;
            let new = NewLegacyCredential {
                account_id: &account,
                email: &email,
                password_hash: hash,
            };
            let c = create_legacy_credential(&store, new, &actor(), now()).await?;
            out.print(&credential_json(&c), || {
                format!(
                    "created legacy credential {} for {} (account {})",
                    c.id, c.email, c.account_id
                )
            });
        }
        LegacyCommand::Import {
            file,
            dry_run,
            skip_invalid,
        } => {
            let mode = RunMode {
                dry_run,
                skip_invalid,
            };
            crate::legacy_import::import(&store, &file, mode, &actor(), out).await?;
        }
        LegacyCommand::List { account } => {
            let account = match account {
                Some(a) => Some(accounts::get_account(&store, &a).await?.id),
                None => None,
            };
            let list = store.list_legacy_credentials(account.as_ref()).await?;
            out.print(
                &Value::Array(list.iter().map(credential_json).collect()),
                || {
                    let mut t = format!(
                        "{:<32} {:<9} {:<28} {}\n",
                        "EMAIL", "STATE", "ACCOUNT", "NEW CLIENT"
                    );
                    for c in &list {
                        let client = c.migrated_client_id.as_ref().map_or("-", |id| id.as_str());
                        t.push_str(&format!(
                            "{:<32} {:<9} {:<28} {}\n",
                            c.email,
                            c.state.as_str(),
                            c.account_id.as_str(),
                            client
                        ));
                    }
                    t.trim_end().to_owned()
                },
            );
        }
        LegacyCommand::Password {
            email,
            password_stdin,
        } => {
            // Fail on an unknown email before asking for a password.
            get_legacy_credential(&store, &email).await?;
            let hash = read_and_hash(config, password_stdin).await?;
            let c = change_legacy_password(&store, &email, hash, &actor(), now()).await?;
            out.print(&credential_json(&c), || {
                format!(
                    "changed the password of the legacy credential for {}",
                    c.email
                )
            });
        }
        LegacyCommand::Migrate { email } => {
            let m = migration::migrate(&store, &email, &actor(), now()).await?;
            let (c, client, secret) = (&m.credential, &m.created.client, &m.created.secret);
            let value = json!({
                "client_id": client.id.as_str(),
                "client_secret": secret.expose(),
                "account_id": c.account_id.as_str(),
                "email": c.email.as_str(),
                "state": c.state.as_str(),
                "scope": client.scopes.to_string(),
            });
            out.print(&value, || {
                format!(
                    "migrated the legacy credential for {email} (account {account})\n\
                     client_id:     {id}\n\
                     client_secret: {secret}\n\
                     (the secret is shown only now; store it safely)\n\n\
                     Test it by requesting an access token:\n  \
                     curl -u '{id}:<client_secret>' -d grant_type=client_credentials {issuer}/oauth/token\n\
                     Then, once production uses it: tessera legacy remove {email}",
                    email = c.email,
                    account = c.account_id,
                    id = client.id,
                    secret = secret.expose(),
                    issuer = config.issuer(),
                )
            });
        }
        LegacyCommand::Remove { email } => {
            let c = migration::remove(&store, &email, &actor(), now()).await?;
            out.print(&credential_json(&c), || {
                format!(
                    "removed the legacy credential for {}; HTTP Basic with it is refused from now on",
                    c.email
                )
            });
        }
        LegacyCommand::Audit { email, limit } => {
            let target = match email {
                Some(e) => Some(format!(
                    "legacy:{}",
                    get_credential_any_state(&store, &e).await?
                )),
                None => None,
            };
            let query = AuditQuery {
                target,
                limit,
                ..AuditQuery::default()
            };
            crate::audit::print_events(&store, &query, out).await?;
        }
    }
    Ok(())
}

/// The credential id of the newest credential with this email, removed ones included
/// (the audit log outlives removal).
async fn get_credential_any_state(
    store: &dyn LegacyStore,
    email: &str,
) -> anyhow::Result<tessera_core::domain::LegacyId> {
    let wanted = email.trim().to_lowercase();
    store
        .list_legacy_credentials(None)
        .await?
        .into_iter()
        .rev()
        .find(|c| c.email.as_str() == wanted)
        .map(|c| c.id)
        .ok_or_else(|| {
            anyhow!(
                "no legacy credential for {email}; `tessera legacy list` shows the existing ones"
            )
        })
}

pub(crate) async fn report(
    config: &Config,
    cmd: ReportCommand,
    out: &Output,
) -> anyhow::Result<()> {
    let store = open_store(config).await?;
    match cmd {
        ReportCommand::Legacy { format } => {
            if format == ReportFormat::Csv && out.json {
                bail!("--json and --format csv are two different outputs; pick one");
            }
            let rows = legacy_report(&store, now()).await?;
            match format {
                // Exactly what the dashboard's "Download CSV" serves.
                ReportFormat::Csv => print!("{}", report_csv(&rows)?),
                ReportFormat::Text => out.print(
                    &Value::Array(rows.iter().map(report_json).collect()),
                    || report_table(&rows),
                ),
            }
        }
    }
    Ok(())
}

fn report_json(r: &LegacyReportRow) -> Value {
    json!({
        "credential_id": r.credential_id.as_str(),
        "email": r.email.as_str(),
        "account_id": r.account_id.as_str(),
        "account_name": r.account_name,
        "external_id": r.account_external_id.as_ref().map(|e| e.as_str()),
        "state": r.state.as_str(),
        "created_at": time(Some(r.created_at)),
        "last_basic_use": time(r.last_used_at),
        "basic_requests_24h": r.requests_24h,
        "basic_requests_7d": r.requests_7d,
        "client_id": r.client_id.as_ref().map(|c| c.as_str()),
        "client_used": r.client_first_token_at.is_some(),
        "client_first_token_at": time(r.client_first_token_at),
        "client_first_test_at": time(r.client_first_tested_at),
        "client_first_integration_at": time(r.client_first_integration_at),
    })
}

/// The account as people know it: its name, then the external id or else Tessera's id.
fn account_label(r: &LegacyReportRow) -> String {
    let id = r
        .account_external_id
        .as_ref()
        .map_or(r.account_id.as_str(), |e| e.as_str());
    format!("{} ({id})", r.account_name)
}

/// Whether the migrated client is used, telling an integration from a Settings Center test.
fn client_use(r: &LegacyReportRow) -> String {
    match (
        &r.client_id,
        r.client_first_integration_at,
        r.client_first_tested_at,
    ) {
        (None, _, _) => "-".to_owned(),
        (Some(_), Some(at), _) => format!("by an integration (since {})", format_rfc3339(at)),
        (Some(_), None, Some(at)) => format!("only tested ({})", format_rfc3339(at)),
        (Some(_), None, None) => match r.client_first_token_at {
            Some(at) => format!("yes (since {})", format_rfc3339(at)),
            None => "no".to_owned(),
        },
    }
}

fn report_table(rows: &[LegacyReportRow]) -> String {
    let mut t = format!(
        "{:<32} {:<36} {:<9} {:<21} {:>7} {:>7}  {}\n",
        "EMAIL", "ACCOUNT", "STATE", "LAST BASIC USE", "24H", "7D", "NEW CLIENT USED"
    );
    for r in rows {
        let last = r
            .last_used_at
            .map_or_else(|| "never".to_owned(), format_rfc3339);
        let used = client_use(r);
        t.push_str(&format!(
            "{:<32} {:<36} {:<9} {:<21} {:>7} {:>7}  {}\n",
            r.email,
            account_label(r),
            r.state.as_str(),
            last,
            r.requests_24h,
            r.requests_7d,
            used
        ));
    }
    t.trim_end().to_owned()
}

/// Reads the new password (stdin, or a prompt with echo off on a terminal) and hashes it
/// with the configured argon2id cost on the blocking pool.
async fn read_and_hash(config: &Config, from_stdin: bool) -> anyhow::Result<PasswordHash> {
    let policy = config.password_policy()?;
    let password = read_password(from_stdin)?;
    tokio::task::spawn_blocking(move || hash_password(&policy, &password))
        .await?
        .map_err(|e| anyhow!(e))
}

fn read_password(from_stdin: bool) -> anyhow::Result<Password> {
    let stdin = std::io::stdin();
    if from_stdin {
        return Password::new(read_line(&stdin)?).map_err(|e| anyhow!(e));
    }
    if !stdin.is_terminal() {
        bail!("stdin is not a terminal: pass --password-stdin and the password on stdin");
    }
    let first = prompt(&stdin, "Password: ")?;
    let again = prompt(&stdin, "Repeat the password: ")?;
    if first != again {
        bail!("the two passwords differ");
    }
    Password::new(first).map_err(|e| anyhow!(e))
}

/// One line without its line ending.
fn read_line(stdin: &std::io::Stdin) -> anyhow::Result<String> {
    let mut line = String::new();
    stdin.lock().read_line(&mut line)?;
    let trimmed = line.strip_suffix('\n').unwrap_or(&line);
    Ok(trimmed.strip_suffix('\r').unwrap_or(trimmed).to_owned())
}

/// Asks on stderr with terminal echo off (through `stty`, so no terminal crate is needed;
/// where `stty` is missing the input echoes, which is still better than failing).
fn prompt(stdin: &std::io::Stdin, question: &str) -> anyhow::Result<String> {
    eprint!("{question}");
    std::io::stderr().flush()?;
    let echo = |on: bool| {
        let _ = std::process::Command::new("stty")
            .arg(if on { "echo" } else { "-echo" })
            .stdin(std::process::Stdio::inherit())
            .status();
    };
    echo(false);
    let line = read_line(stdin);
    echo(true);
    eprintln!();
    line
}
