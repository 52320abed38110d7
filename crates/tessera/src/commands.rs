//! Running each command: load the configuration, open the store, call `tessera-core`'s
//! `manage` functions, print JSON or a readable table.

use std::sync::Arc;

use anyhow::{bail, Context};
use serde_json::{json, Value};
use tessera_core::domain::{hash_password, Password};
use tessera_core::domain::{Account, Client, ClientKeys, GrantType};
use tessera_core::manage::clients::{self, NewCredentialClient};
use tessera_core::manage::{accounts, apps, authorizations, keys, users};
use tessera_http::SystemClock;

use crate::cli::{
    AccountCommand, AppCommand, Cli, ClientCommand, Command, KeyArgs, KeysCommand, UserCommand,
};
use crate::config::Config;
use crate::context::{actor, now, Output};
use crate::import_file::RunMode;
use crate::legacy;
use crate::serve::{key_policy, open_store};

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let mut config = Config::load(cli.global.config.as_deref(), |k| std::env::var(k).ok())?;
    if let Some(db) = cli.global.database {
        config.database = Some(db);
    }
    let serving = matches!(cli.command, Command::Serve(_));
    init_logging(&config, serving);
    let out = Output {
        json: cli.global.json,
    };
    match cli.command {
        Command::Serve(args) => {
            if let Some(listen) = args.listen {
                config.listen = listen;
            }
            if let Some(upstream) = args.upstream {
                config.upstream = Some(upstream);
            }
            if let Some(issuer) = args.issuer {
                config.issuer = Some(issuer);
            }
            serve(config).await
        }
        Command::Account(cmd) => account(&config, cmd, &out).await,
        Command::Client(cmd) => client(&config, cmd, &out).await,
        Command::Keys(cmd) => keys_command(&config, cmd, &out).await,
        Command::Legacy(cmd) => legacy::legacy(&config, cmd, &out).await,
        Command::Report(cmd) => legacy::report(&config, cmd, &out).await,
        Command::User(cmd) => user(&config, cmd, &out).await,
        Command::App(cmd) => app(&config, cmd, &out).await,
        Command::Scope(cmd) => crate::scopes::scope(&config, cmd, &out).await,
        Command::Audit(args) => crate::audit::audit(&config, args, &out).await,
        #[cfg(feature = "bench-fixtures")]
        Command::Fixtures(cmd) => crate::fixtures::fixtures(&config, cmd, &out).await,
    }
}

fn init_logging(config: &Config, serving: bool) {
    let default = if serving { "info" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_env("TESSERA_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if config.log_format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

async fn serve(config: Config) -> anyhow::Result<()> {
    // Listening before the server starts: a signal during start-up is not lost.
    let mut signals = crate::signals::Signals::listen()?;
    let server = crate::serve::start(&config, Arc::new(SystemClock)).await?;
    let first = signals.recv().await;
    tracing::info!(
        signal = first.name(),
        "shutting down; a second signal exits at once"
    );
    tokio::spawn(async move {
        let second = signals.recv().await;
        tracing::warn!(
            signal = second.name(),
            "second signal: exiting now, without waiting for requests or flushing usage counts"
        );
        std::process::exit(second.exit_code());
    });
    server.stop().await
}

fn client_json(c: &Client) -> Value {
    json!({
        "client_id": c.id.as_str(),
        "name": c.name,
        "kind": c.kind.as_str(),
        "account_id": c.account_id.as_ref().map(|a| a.as_str()),
        "grant_types": c.grant_types.iter().map(|g| g.as_str()).collect::<Vec<_>>(),
        "scope": c.scopes.to_string(),
        "redirect_uris": c.redirect_uris,
        "token_endpoint_auth_method": match (&c.jwks, c.public) {
            (Some(_), _) => "private_key_jwt",
            (None, true) => "none",
            (None, false) => "client_secret_basic",
        },
        "status": c.status.as_str(),
        "dpop_bound_access_tokens": c.dpop_bound,
        "created_at": c.created_at,
    })
}

fn account_json(a: &Account) -> Value {
    json!({
        "account_id": a.id.as_str(),
        "name": a.name,
        "external_id": a.external_id.as_ref().map(|e| e.as_str()),
        "created_at": a.created_at,
    })
}

async fn account(config: &Config, cmd: AccountCommand, out: &Output) -> anyhow::Result<()> {
    let store = open_store(config).await?;
    match cmd {
        AccountCommand::Create { name, external_id } => {
            let a =
                accounts::create_account(&store, &actor(), &name, external_id.as_deref(), now())
                    .await?;
            out.print(&account_json(&a), || match &a.external_id {
                Some(ext) => format!(
                    "created API account {} ({}, external id {ext})",
                    a.id, a.name
                ),
                None => format!("created API account {} ({})", a.id, a.name),
            });
        }
        AccountCommand::List => {
            let list = tessera_core::store::AccountStore::list_accounts(&store).await?;
            out.print(
                &Value::Array(list.iter().map(account_json).collect()),
                || {
                    let mut t = format!("{:<28} {:<24} {}\n", "ACCOUNT", "EXTERNAL ID", "NAME");
                    for a in &list {
                        let ext = a.external_id.as_ref().map_or("-", |e| e.as_str());
                        t.push_str(&format!("{:<28} {:<24} {}\n", a.id, ext, a.name));
                    }
                    t.trim_end().to_owned()
                },
            );
        }
        AccountCommand::Update {
            account,
            name,
            external_id,
            no_external_id,
        } => {
            let changes = accounts::AccountChanges {
                name: name.as_deref(),
                external_id: match (external_id.as_deref(), no_external_id) {
                    (_, true) => Some(None),
                    (Some(ext), false) => Some(Some(ext)),
                    (None, false) => None,
                },
            };
            if changes.name.is_none() && changes.external_id.is_none() {
                bail!("nothing to change: pass --name, --external-id or --no-external-id");
            }
            let a = accounts::update_account(&store, &actor(), &account, changes, now()).await?;
            out.print(&account_json(&a), || {
                let ext = a.external_id.as_ref().map_or("none", |e| e.as_str());
                format!(
                    "updated API account {} ({}, external id {ext})",
                    a.id, a.name
                )
            });
        }
        AccountCommand::Import {
            file,
            dry_run,
            skip_invalid,
        } => {
            let mode = RunMode {
                dry_run,
                skip_invalid,
            };
            crate::account_import::import(&store, &file, mode, out).await?;
        }
    }
    Ok(())
}

async fn client(config: &Config, cmd: ClientCommand, out: &Output) -> anyhow::Result<()> {
    let store = open_store(config).await?;
    match cmd {
        ClientCommand::Create {
            account,
            name,
            scope,
            grant,
            dpop_bound,
            keys,
        } => {
            if GrantType::parse(&grant) != Some(GrantType::ClientCredentials) {
                bail!("--grant {grant:?}: credential clients use client_credentials");
            }
            let new = NewCredentialClient {
                account_id: &account,
                name: &name,
                scope: scope.as_deref(),
                dpop_bound,
            };
            if let Some(keys) = client_keys(&keys)? {
                let c = clients::create_credential_client_with_keys(
                    &store,
                    &actor(),
                    &new,
                    keys,
                    now(),
                )
                .await?;
                out.print(&client_json(&c), || {
                    format!("created client {} (private_key_jwt: no secret)", c.id)
                });
                return Ok(());
            }
            let mut created =
                clients::create_credential_clients(&store, &actor(), &new, 1, now()).await?;
            let Some(c) = created.pop() else {
                bail!("no client was created")
            };
            let mut value = client_json(&c.client);
            value["client_secret"] = json!(c.secret.expose());
            out.print(&value, || {
                format!(
                    "created client {}\nclient_secret: {}\n(the secret is shown only now; store it safely)",
                    c.client.id,
                    c.secret.expose()
                )
            });
        }
        ClientCommand::List { account } => {
            let account = match account {
                Some(a) => Some(accounts::get_account(&store, &a).await?.id),
                None => None,
            };
            let list =
                tessera_core::store::ClientStore::list_clients(&store, account.as_ref()).await?;
            out.print(
                &Value::Array(list.iter().map(client_json).collect()),
                || {
                    let mut t = format!(
                        "{:<26} {:<8} {:<28} {}\n",
                        "CLIENT", "STATUS", "ACCOUNT", "NAME"
                    );
                    for c in &list {
                        let acct = c.account_id.as_ref().map(|a| a.as_str()).unwrap_or("-");
                        t.push_str(&format!(
                            "{:<26} {:<8} {:<28} {}\n",
                            c.id,
                            c.status.as_str(),
                            acct,
                            c.name
                        ));
                    }
                    t.trim_end().to_owned()
                },
            );
        }
        ClientCommand::RotateSecret { client_id, overlap } => {
            let c = clients::rotate_secret(&store, &actor(), &client_id, overlap, now()).await?;
            out.print(
                &json!({ "client_id": c.client.id.as_str(), "client_secret": c.secret.expose(), "old_secrets_expire_at": now() + overlap }),
                || format!("new client_secret: {}\n(shown only now; the old one works for {overlap} more seconds)", c.secret.expose()),
            );
        }
        ClientCommand::ExpireOldSecrets { client_id } => {
            let c = clients::expire_old_secrets(&store, &actor(), &client_id, now()).await?;
            out.print(&json!({ "client_id": c.id.as_str() }), || {
                format!("only the newest secret of {} works now", c.id)
            });
        }
        ClientCommand::CreateResourceServer { name } => {
            let c = clients::create_resource_server(&store, &actor(), &name, now()).await?;
            let mut value = client_json(&c.client);
            value["client_secret"] = json!(c.secret.expose());
            out.print(&value, || {
                format!(
                    "created resource server {}\nclient_secret: {} (shown only now)",
                    c.client.id,
                    c.secret.expose()
                )
            });
        }
        ClientCommand::Revoke { client_id } => {
            let c = clients::revoke_client(&store, &actor(), &client_id, now()).await?;
            out.print(
                &json!({ "client_id": c.id.as_str(), "status": c.status.as_str() }),
                || format!("revoked client {}", c.id),
            );
        }
    }
    Ok(())
}

fn read_password(from_stdin: bool) -> anyhow::Result<String> {
    if !from_stdin {
        bail!("pass the password on standard input with --password-stdin");
    }
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

/// A user's new password from standard input, checked and hashed with the configured cost.
async fn new_password_hash(config: &Config, from_stdin: bool) -> anyhow::Result<String> {
    let password = read_password(from_stdin)?;
    users::check_password_strength(&password)?;
    let policy = config.password_policy()?;
    let password = Password::new(password).map_err(|e| anyhow::anyhow!(e))?;
    let hash = tokio::task::spawn_blocking(move || hash_password(&policy, &password)).await??;
    Ok(hash.as_str().to_owned())
}

async fn user(config: &Config, cmd: UserCommand, out: &Output) -> anyhow::Result<()> {
    let store = open_store(config).await?;
    match cmd {
        UserCommand::Create {
            email,
            name,
            email_verified,
            accounts,
            operator,
            password_stdin,
        } => {
            let hash = new_password_hash(config, password_stdin).await?;
            let new = users::NewUser {
                email: &email,
                name: name.as_deref(),
                email_verified,
                accounts: &accounts,
                operator,
                password_hash: hash,
            };
            let u = users::create_user(&store, &actor(), new, now()).await?;
            out.print(
                &json!({
                    "user_id": u.id.as_str(), "email": u.email, "name": u.name,
                    "email_verified": u.email_verified, "operator": u.operator,
                }),
                || format!("created user {} ({})", u.id, u.email),
            );
        }
        UserCommand::List => {
            let list = users::list_users(&store).await?;
            let value: Vec<Value> = list
                .iter()
                .map(|u| {
                    json!({
                        "user_id": u.id.as_str(), "email": u.email, "name": u.name,
                        "email_verified": u.email_verified, "operator": u.operator,
                        "accounts": u.accounts.iter().map(|a| a.as_str()).collect::<Vec<_>>(),
                        "created_at": u.created_at, "disabled_at": u.disabled_at,
                    })
                })
                .collect();
            out.print(&Value::Array(value), || {
                let mut t = format!(
                    "{:<26} {:<32} {:<8} {}\n",
                    "USER", "EMAIL", "ROLE", "ACCOUNTS"
                );
                for u in &list {
                    let accounts: Vec<&str> = u.accounts.iter().map(|a| a.as_str()).collect();
                    t.push_str(&format!(
                        "{:<26} {:<32} {:<8} {}\n",
                        u.id,
                        u.email,
                        match (u.disabled_at, u.operator) {
                            (Some(_), _) => "disabled",
                            (None, true) => "operator",
                            (None, false) => "user",
                        },
                        accounts.join(" ")
                    ));
                }
                t.trim_end().to_owned()
            });
        }
        UserCommand::SetPassword {
            user,
            password_stdin,
        } => {
            let hash = new_password_hash(config, password_stdin).await?;
            let u = users::set_password(&store, &actor(), &user, hash, now()).await?;
            out.print(
                &json!({ "user_id": u.id.as_str(), "email": u.email, "sessions_ended": true }),
                || {
                    format!(
                        "new password set for {} ({}); their sessions have ended",
                        u.id, u.email
                    )
                },
            );
        }
        UserCommand::Disable { user } => switch_user(config, &store, out, &user, true).await?,
        UserCommand::Enable { user } => switch_user(config, &store, out, &user, false).await?,
        UserCommand::Authorizations { user } => {
            let u = authorizations::get_user(&store, &user).await?;
            let list = authorizations::list_authorizations(&store, &u).await?;
            let value: Vec<Value> = list
                .iter()
                .map(|a| {
                    json!({
                        "client_id": a.client_id.as_str(), "name": a.client_name,
                        "account_id": a.account_id.as_str(), "scope": a.scopes.to_string(),
                        "authorized_at": a.updated_at, "last_used_at": a.last_used_at,
                    })
                })
                .collect();
            out.print(&Value::Array(value), || {
                let mut t = format!("{:<26} {:<24} {}\n", "CLIENT", "NAME", "SCOPE");
                for a in &list {
                    t.push_str(&format!(
                        "{:<26} {:<24} {}\n",
                        a.client_id, a.client_name, a.scopes
                    ));
                }
                t.trim_end().to_owned()
            });
        }
        UserCommand::Deauthorize { user, client_id } => {
            let u = authorizations::get_user(&store, &user).await?;
            let max_ttl = crate::serve::token_policy(config).max_ttl();
            let what = authorizations::Deauthorization {
                user: &u,
                client_id: &client_id,
                account: None,
            };
            let n =
                authorizations::deauthorize(&store, &actor(), None, what, max_ttl, now()).await?;
            out.print(
                &json!({ "client_id": client_id, "revoked_token_sets": n }),
                || format!("de-authorized {client_id}: {n} token sets revoked"),
            );
        }
    }
    Ok(())
}

/// `user disable` and `user enable`.
async fn switch_user(
    config: &Config,
    store: &tessera_store::SqlStore,
    out: &Output,
    user: &str,
    disable: bool,
) -> anyhow::Result<()> {
    let max_ttl = crate::serve::token_policy(config).max_ttl();
    let (u, revoked) =
        users::set_disabled(store, &actor(), None, user, disable, max_ttl, now()).await?;
    out.print(
        &json!({
            "user_id": u.id.as_str(), "email": u.email,
            "disabled_at": u.disabled_at, "revoked_token_sets": revoked,
        }),
        || match u.disabled_at {
            Some(_) => format!(
                "disabled {} ({}): sessions ended, {revoked} token sets revoked",
                u.id, u.email
            ),
            None => format!("enabled {} ({}) again", u.id, u.email),
        },
    );
    Ok(())
}

/// An application as the `app` commands print it.
fn app_json(c: &Client) -> Value {
    let mut value = client_json(c);
    value["public"] = json!(c.public);
    value["approved"] = json!(c.approved);
    value["require_pkce"] = json!(c.require_pkce);
    value["require_par"] = json!(c.require_par);
    value["post_logout_redirect_uris"] = json!(c.post_logout_redirect_uris);
    value
}

/// The `private_key_jwt` keys the command line names, read from `--jwks FILE`.
fn client_keys(args: &KeyArgs) -> anyhow::Result<Option<ClientKeys>> {
    match (args.auth_method.as_str(), &args.jwks, &args.jwks_uri) {
        ("client_secret", None, None) => Ok(None),
        ("client_secret", _, _) => {
            bail!("--jwks and --jwks-uri are for --auth-method private_key_jwt")
        }
        ("private_key_jwt", Some(file), None) => {
            let set = std::fs::read_to_string(file)
                .with_context(|| format!("reading the JWK Set {}", file.display()))?;
            Ok(Some(ClientKeys::Inline(set)))
        }
        ("private_key_jwt", None, Some(uri)) => Ok(Some(ClientKeys::Uri(uri.clone()))),
        ("private_key_jwt", _, _) => {
            bail!("--auth-method private_key_jwt takes one of --jwks FILE or --jwks-uri URL")
        }
        (other, _, _) => {
            bail!("--auth-method {other:?}: use client_secret or private_key_jwt")
        }
    }
}

fn app_line(c: &Client) -> String {
    let pkce = if c.public || c.require_pkce {
        "required"
    } else {
        "optional"
    };
    format!(
        "{:<26} {:<8} {:<9} {}",
        c.id,
        c.status.as_str(),
        pkce,
        c.name
    )
}

async fn app(config: &Config, cmd: AppCommand, out: &Output) -> anyhow::Result<()> {
    let store = open_store(config).await?;
    match cmd {
        AppCommand::Create {
            name,
            redirect_uris,
            scope,
            public,
            approved,
            account,
            require_pkce,
            post_logout_redirect_uris,
            require_par,
            grants,
            dpop_bound,
            keys,
        } => {
            let grants = grants
                .iter()
                .map(|g| {
                    GrantType::parse(g)
                        .or_else(|| (g == "device_code").then_some(GrantType::DeviceCode))
                        .with_context(|| {
                            format!("--grant {g:?}: use authorization_code or device_code")
                        })
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let new = apps::NewApplication {
                name: &name,
                redirect_uris: &redirect_uris,
                scope: scope.as_deref(),
                public,
                approved,
                require_pkce,
                post_logout_redirect_uris: &post_logout_redirect_uris,
                require_par,
                jwks: client_keys(&keys)?,
                owner: account.as_deref(),
                grants: &grants,
                dpop_bound,
            };
            let (client, secret) = apps::create_application(&store, &actor(), &new, now()).await?;
            let mut value = app_json(&client);
            value["client_secret"] = json!(secret.as_ref().map(|s| s.expose()));
            out.print(&value, || match &secret {
                Some(s) => format!(
                    "registered application {}\nclient_secret: {}\n(the secret is shown only now; store it safely)",
                    client.id,
                    s.expose()
                ),
                None if client.jwks.is_some() => format!(
                    "registered application {} (private_key_jwt: no secret)",
                    client.id
                ),
                None => format!("registered public application {} (no secret; PKCE required)", client.id),
            });
        }
        AppCommand::List => {
            let list = apps::list_applications(&store).await?;
            out.print(&Value::Array(list.iter().map(app_json).collect()), || {
                let mut t = format!(
                    "{:<26} {:<8} {:<9} {}\n",
                    "CLIENT", "STATUS", "PKCE", "NAME"
                );
                for c in &list {
                    t.push_str(&app_line(c));
                    t.push('\n');
                }
                t.trim_end().to_owned()
            });
        }
        AppCommand::Update {
            client_id,
            require_pkce,
        } => {
            let Some(require_pkce) = require_pkce else {
                bail!("nothing to change: pass --require-pkce true|false");
            };
            let client =
                apps::set_require_pkce(&store, &actor(), &client_id, require_pkce, now()).await?;
            out.print(&app_json(&client), || app_line(&client));
        }
    }
    Ok(())
}

async fn keys_command(config: &Config, cmd: KeysCommand, out: &Output) -> anyhow::Result<()> {
    let store = open_store(config).await?;
    match cmd {
        KeysCommand::Rotate => {
            let master = crate::master_key::resolve(config)?;
            let k = keys::rotate(&store, &actor(), &master, &key_policy(config)?, now()).await?;
            out.print(
                &json!({ "kid": k.kid.as_str(), "alg": k.alg.as_str(), "activates_at": k.activates_at }),
                || format!("new key {} ({}) signs from {}", k.kid, k.alg.as_str(), k.activates_at),
            );
        }
        KeysCommand::Retire { kid, now: _ } => {
            let master = crate::master_key::resolve(config)?;
            let policy = key_policy(config)?;
            let retired = keys::retire_now(&store, &actor(), &master, &policy, &kid, now()).await?;
            eprintln!("{}", retire_warning(&retired, &policy, config));
            let replacement = retired.replacement.as_ref().map(|k| {
                json!({ "kid": k.kid.as_str(), "alg": k.alg.as_str(), "activates_at": k.activates_at })
            });
            out.print(
                &json!({ "retired": retired.kid.as_str(), "replacement": replacement }),
                || match &retired.replacement {
                    Some(k) => format!(
                        "retired key {}; key {} signs in its place",
                        retired.kid, k.kid
                    ),
                    None => format!("retired key {}", retired.kid),
                },
            );
        }
        KeysCommand::List => {
            let list = keys::list_keys(&store, now()).await?;
            let value: Vec<Value> = list
                .iter()
                .map(|(k, state)| {
                    json!({
                        "kid": k.kid.as_str(), "alg": k.alg.as_str(), "state": state.as_str(),
                        "created_at": k.created_at, "activates_at": k.activates_at,
                    })
                })
                .collect();
            out.print(&Value::Array(value), || {
                let mut t = format!(
                    "{:<28} {:<6} {:<9} {}\n",
                    "KID", "ALG", "STATE", "ACTIVATES_AT"
                );
                for (k, s) in &list {
                    t.push_str(&format!(
                        "{:<28} {:<6} {:<9} {}\n",
                        k.kid,
                        k.alg.as_str(),
                        s.as_str(),
                        k.activates_at
                    ));
                }
                t.trim_end().to_owned()
            });
        }
    }
    Ok(())
}

/// What an emergency retirement breaks, for the operator who just did it.
fn retire_warning(retired: &keys::Retired, policy: &keys::KeyPolicy, config: &Config) -> String {
    let mut text = format!(
        "warning: signing key {} is retired now. Every access token it signed (up to {} s \
         old) is refused by every server within {} ms; the clients holding them must get \
         new tokens, and resource servers that verify tokens themselves trust the key until \
         they fetch the JWKS again. Refresh tokens keep working.",
        retired.kid, policy.max_token_ttl, config.sync_interval_ms
    );
    if let Some(k) = &retired.replacement {
        text.push_str(&format!(
            "\nwarning: {} was signing: new key {} signs in its place at once, without the \
             {} s propagation delay, so a resource server that cached the JWKS meets an \
             unknown kid until it fetches the JWKS again.",
            retired.kid, k.kid, policy.propagation_delay
        ));
    }
    text
}
