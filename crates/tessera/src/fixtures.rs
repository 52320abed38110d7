//! `tessera fixtures …`, hidden, and compiled only with the `bench-fixtures` feature
//! (bench/run builds the binary with it): bulk fixtures for benchmarks. Token sets and
//! codes a benchmark presents are made by the same core functions as the real flow (a code
//! exchange, a consent); `backfill` adds rows nobody can use, only to make the store large,
//! many per statement through the store's bulk inserts (tessera-store's `bulk.rs`).

use anyhow::bail;
use clap::Subcommand;
use serde_json::{json, Value};
use tessera_core::audit::Actor;
use tessera_core::domain::{
    Account, AccountId, Client, ClientKind, ClientStatus, GrantType, Jti, TokenSetId, UserId,
};
use tessera_core::manage::accounts;
use tessera_core::manage::clients::{self, NewCredentialClient};
use tessera_core::oauth::authorization_code::{mint_authorization_code, Approval};
use tessera_core::oauth::authorize::{AuthorizationRequest, AuthorizePolicy, Delivery};
use tessera_core::oauth::token_set::{
    new_refresh_token, start_token_set, GrantContext, TokenSetOwner,
};
use tessera_core::runtime::Caches;
use tessera_core::store::{KeyStore, RefreshToken, TokenSet, UserStore};
use tessera_core::token::keys::Keyring;
use tessera_store::SqlStore;

use crate::config::Config;
use crate::context::{now, Output};
use crate::serve::{open_store, token_policy};

#[derive(Debug, Subcommand)]
pub enum FixturesCommand {
    /// Create many API accounts at once, in one transaction; prints their ids.
    Accounts {
        #[arg(long)]
        count: usize,
    },
    /// Create many credential clients at once.
    Clients {
        #[arg(long)]
        account: String,
        #[arg(long)]
        count: usize,
        #[arg(long)]
        scope: Option<String>,
    },
    /// Start token sets for a user through an application, as a code exchange would;
    /// prints each set's refresh token.
    TokenSets {
        /// The application's client id.
        #[arg(long)]
        app: String,
        #[arg(long)]
        account: String,
        #[arg(long)]
        user: String,
        #[arg(long)]
        count: usize,
    },
    /// Mint authorization codes as if the user had approved the application (no PKCE;
    /// valid for an hour, so they outlast a benchmark run).
    Codes {
        /// The application's client id.
        #[arg(long)]
        app: String,
        #[arg(long)]
        account: String,
        #[arg(long)]
        user: String,
        /// One of the application's registered redirect URIs.
        #[arg(long)]
        redirect_uri: String,
        #[arg(long)]
        count: usize,
        /// OpenID Connect codes: the identity scopes and a nonce, so that each exchange
        /// also returns an ID token.
        #[arg(long)]
        openid: bool,
    },
    /// Fill the store for scale runs: credential clients of the account, and token sets of
    /// the application for the user, each with one live refresh token, inserted in bulk.
    /// Nobody can use them: their secrets and tokens are never printed, and no access token
    /// is signed. Prints only the counts.
    Backfill {
        #[arg(long)]
        account: String,
        /// Credential clients to add (all the catalog's scopes).
        #[arg(long, value_name = "N", default_value_t = 0)]
        clients: usize,
        /// Token sets to add; needs --app and --user.
        #[arg(long, value_name = "N", default_value_t = 0)]
        token_sets: usize,
        /// The application's client id.
        #[arg(long, requires = "user")]
        app: Option<String>,
        #[arg(long, requires = "app")]
        user: Option<String>,
    },
    /// Give the store's legacy credentials 30 days of Basic usage, as the migration
    /// console reads it: every `--every`th credential called on each day (one hourly
    /// bucket a day for the last 8 days, whose buckets the server keeps, and day totals
    /// for all 30), and the first `--migrated` credentials migrated to one credential
    /// client of their account that called with Bearer every day. Prints the counts.
    LegacyUsage {
        #[arg(long, default_value_t = 30)]
        days: i64,
        #[arg(long, default_value_t = 5)]
        every: usize,
        #[arg(long, default_value_t = 1000)]
        migrated: usize,
    },
    /// Create an operator user with a session; prints the `Cookie` header value that
    /// signs in as it (the benchmark of the operator's pages uses it).
    OperatorSession,
}

/// Fixture codes live an hour, not the configured minute: a benchmark mints them all
/// before its run and exchanges them over the following minutes.
const FIXTURE_CODE_TTL: i64 = 3600;

/// The hidden bulk commands for benchmarks. Token sets and codes are made by the same core
/// functions as the real flow (a code exchange, a consent), never by SQL of their own.
pub(crate) async fn fixtures(
    config: &Config,
    cmd: FixturesCommand,
    out: &Output,
) -> anyhow::Result<()> {
    let store = open_store(config).await?;
    let now = now();
    match cmd {
        FixturesCommand::Accounts { count } => {
            let mut accounts = Vec::with_capacity(count);
            for i in 0..count {
                accounts.push(Account {
                    id: AccountId::generate()?,
                    name: format!("Fixture account {i}"),
                    external_id: None,
                    created_at: now,
                });
            }
            store.insert_new_accounts(&accounts).await?;
            let ids: Vec<Value> = accounts
                .iter()
                .map(|a| Value::String(a.id.as_str().to_owned()))
                .collect();
            out.print(&Value::Array(ids), || format!("created {count} accounts"));
        }
        FixturesCommand::Clients {
            account,
            count,
            scope,
        } => {
            let new = NewCredentialClient {
                account_id: &account,
                name: "fixture",
                scope: scope.as_deref(),
                dpop_bound: false,
            };
            let created = clients::create_credential_clients(
                &store,
                &Actor::cli("bench-fixtures"),
                &new,
                count,
                now,
            )
            .await?;
            let list: Vec<Value> = created
                .iter()
                .map(|c| json!({ "client_id": c.client.id.as_str(), "client_secret": c.secret.expose() }))
                .collect();
            out.print(&Value::Array(list), || format!("created {count} clients"));
        }
        FixturesCommand::TokenSets {
            app,
            account,
            user,
            count,
        } => {
            let owner = FixtureOwner::load(&store, &app, &account, &user).await?;
            let master = crate::master_key::resolve(config)?;
            let policy = token_policy(config);
            let stored = store.list_signing_keys().await?;
            // Throwaway caches: a new set revokes nothing, so nothing here needs sharing.
            // Throwaway caches: a CLI process verifies nothing later.
            let caches = Caches::new(
                Keyring::from_stored(&stored, &master, policy.max_ttl())?,
                0,
                tessera_core::legacy::cache::VerificationCache::new([0; 32], 0, 0),
            );
            let keyring = caches.keyring();
            let Some(key) = keyring.current(now) else {
                bail!("no signing key is active yet: start `tessera serve` once on this store");
            };
            let cx = GrantContext {
                store: &store,
                caches: &caches,
                master: &master,
                key,
                policy: &policy,
                dpop_jkt: None,
                now,
            };
            let set_owner = TokenSetOwner {
                client: &owner.client,
                user: &owner.user,
                account: &owner.account,
                scopes: &owner.client.scopes,
                auth_time: None,
                nonce: None,
            };
            let mut list = Vec::with_capacity(count);
            for _ in 0..count {
                let started = start_token_set(&cx, &TokenSetId::generate()?, &set_owner).await?;
                list.push(json!({ "refresh_token": started.refresh_token }));
            }
            out.print(&Value::Array(list), || {
                format!("started {count} token sets")
            });
        }
        FixturesCommand::Codes {
            app,
            account,
            user,
            redirect_uri,
            count,
            openid,
        } => {
            let owner = FixtureOwner::load(&store, &app, &account, &user).await?;
            // With --openid, the identity scopes too: each exchange returns an ID token
            // with the user's name and email (so the user is read, as in production).
            let mut scope = owner.client.scopes.clone();
            if openid {
                scope =
                    tessera_core::domain::ScopeSet::parse(&format!("{scope} openid profile email"))
                        .map_err(|e| anyhow::anyhow!("{e}"))?;
            }
            // RFC 6749 §3.1.2.3: the exchange compares against a registered URI.
            if !owner.client.redirect_uris.contains(&redirect_uri) {
                bail!("--redirect-uri {redirect_uri} is not registered for application {app}");
            }
            let request = AuthorizationRequest {
                client_id: owner.client.id.clone(),
                delivery: Delivery::Redirect(redirect_uri),
                redirect_uri_sent: true,
                scope: scope.clone(),
                state: None,
                code_challenge: None,
                login_hint: None,
                nonce: openid.then(|| "bench-nonce".to_owned()),
                prompt: Default::default(),
                max_age: None,
                signed_in_after: None,
                pushed: None,
                dpop_jkt: None,
                hinted_user: None,
            };
            let approval = Approval {
                request: &request,
                user_id: &owner.user,
                account_id: &owner.account,
                scopes: &scope,
                auth_time: now,
            };
            let policy = AuthorizePolicy {
                require_pkce: false,
                code_ttl: FIXTURE_CODE_TTL,
                skip_consent_when_granted: true,
                require_par: false,
                par_ttl: 60,
            };
            let mut list = Vec::with_capacity(count);
            for _ in 0..count {
                let code = mint_authorization_code(&store, &approval, &policy, now).await?;
                list.push(Value::String(code));
            }
            out.print(&Value::Array(list), || format!("minted {count} codes"));
        }
        FixturesCommand::Backfill {
            account,
            clients,
            token_sets,
            app,
            user,
        } => {
            backfill_clients(&store, &account, clients, now).await?;
            if token_sets > 0 {
                let (Some(app), Some(user)) = (app, user) else {
                    bail!("--token-sets needs --app and --user");
                };
                let owner = FixtureOwner::load(&store, &app, &account, &user).await?;
                let access_ttl = token_policy(config).user_token_ttl;
                backfill_token_sets(&store, &owner, token_sets, access_ttl, now).await?;
            }
            out.print(
                &json!({ "clients": clients, "token_sets": token_sets }),
                || format!("added {clients} clients and {token_sets} token sets"),
            );
        }
        FixturesCommand::LegacyUsage {
            days,
            every,
            migrated,
        } => {
            let counts = legacy_usage(&store, days, every.max(1), migrated, now).await?;
            out.print(&counts, || format!("{counts}"));
        }
        FixturesCommand::OperatorSession => {
            let cookie = operator_session(&store, now).await?;
            out.print(&json!({ "cookie": cookie }), || cookie.clone());
        }
    }
    Ok(())
}

/// See [`FixturesCommand::LegacyUsage`].
async fn legacy_usage(
    store: &SqlStore,
    days: i64,
    every: usize,
    migrated: usize,
    now: i64,
) -> anyhow::Result<Value> {
    use tessera_core::audit::{AuditAction, AuditEvent, Target};
    use tessera_core::legacy::bearer_usage::{day_start, BearerUsageDelta, DAY_SECONDS};
    use tessera_core::legacy::report::legacy_windows;
    use tessera_core::legacy::usage::{UsageDelta, BUCKET_SECONDS};
    use tessera_core::store::LegacyStore;
    use tessera_core::store::TokenSource;

    let credentials = store.list_legacy_credentials(None).await?;
    let today = day_start(now);
    let mut deltas = Vec::new();
    for (i, c) in credentials
        .iter()
        .enumerate()
        .filter(|(i, _)| i % every == 0)
    {
        for d in 0..days {
            // Hours spread over the day; a count that varies by credential and day.
            let hour_start = today - d * DAY_SECONDS + ((i as i64 + d) % 24) * BUCKET_SECONDS;
            if hour_start > now {
                continue;
            }
            deltas.push(UsageDelta {
                credential_id: c.id.clone(),
                hour_start,
                count: 1 + (i as i64 * 7 + d * 3) % 40,
                last_used_at: hour_start + 60,
            });
        }
    }
    let hourly_from = now - 8 * DAY_SECONDS;
    for batch in deltas.chunks(BACKFILL_BATCH) {
        store.add_legacy_usage(batch).await?;
    }
    // The server keeps hourly buckets 8 days; the day totals stay.
    store.prune_legacy_usage(hourly_from).await?;
    // As the server's housekeeping does: the traffic order counts the last 7 days only.
    store
        .refresh_legacy_traffic(legacy_windows(now).week_from)
        .await?;

    let fixtures = Actor::cli("bench-fixtures");
    let mut bearer = Vec::new();
    let mut moved = 0;
    for c in credentials.iter().take(migrated) {
        let new = NewCredentialClient {
            account_id: c.account_id.as_str(),
            name: "migrated fixture",
            scope: None,
            dpop_bound: false,
        };
        let created = clients::create_credential_clients(store, &fixtures, &new, 1, now).await?;
        let Some(client) = created.first() else {
            continue;
        };
        let audit = AuditEvent::new(
            now,
            &fixtures,
            AuditAction::LegacyMigrated,
            Target::new("legacy", c.id.as_str()),
        )
        .credential(&c.id)
        .account(&c.account_id)
        .client(&client.client.id);
        if store
            .mark_legacy_migrated(&c.id, &client.client.id, None, &audit)
            .await?
        {
            moved += 1;
        }
        if moved % 2 == 0 {
            store
                .record_token_use(&client.client.id, TokenSource::Integration, now)
                .await?;
        }
        for d in 0..days {
            bearer.push(BearerUsageDelta {
                client_id: client.client.id.clone(),
                day_start: today - d * DAY_SECONDS,
                count: 10 + d,
            });
        }
    }
    for batch in bearer.chunks(BACKFILL_BATCH) {
        store.add_bearer_usage(batch).await?;
    }
    Ok(json!({
        "credentials": credentials.len(),
        "basic_buckets": deltas.len(),
        "migrated": moved,
        "bearer_days": bearer.len(),
    }))
}

/// A new operator user and a session of theirs; the `Cookie` value (for an http issuer).
async fn operator_session(store: &SqlStore, now: i64) -> anyhow::Result<String> {
    use tessera_core::domain::{SecretHash, User};
    use tessera_core::store::{Session, SessionStore};

    let user = User {
        id: UserId::generate()?,
        email: format!(
            "operator-{}@bench.example",
            tessera_core::random::token::<8>("")?
        ),
        name: None,
        email_verified: false,
        // Nobody signs in with a password: this is no PHC string a password matches.
        password_hash: "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaA".into(),
        accounts: Vec::new(),
        operator: true,
        created_at: now,
        disabled_at: None,
    };
    if !store.insert_user(&user).await? {
        bail!("the operator's email is taken");
    }
    let secret = tessera_core::random::token::<32>("")?;
    store
        .insert_session(&Session {
            id_hash: SecretHash::of(secret.as_bytes()),
            user_id: user.id,
            created_at: now,
            last_seen_at: now,
        })
        .await?;
    Ok(format!("tessera_session={secret}"))
}

/// Rows generated and inserted per bulk transaction: large enough that a commit's cost is
/// spread thin, small enough to keep memory and the time the write lock is held low.
const BACKFILL_BATCH: usize = 10_000;

/// `count` active credential clients of `account` with the catalog's scopes, made by the
/// same function as `tessera client create`; their secrets are dropped.
async fn backfill_clients(
    store: &SqlStore,
    account: &str,
    count: usize,
    now: i64,
) -> anyhow::Result<()> {
    if count == 0 {
        return Ok(());
    }
    let account = accounts::get_account(store, account).await?.id;
    let scopes = clients::catalog_scopes(store, None).await?;
    let mut left = count;
    while left > 0 {
        let batch = left.min(BACKFILL_BATCH);
        let list = (0..batch)
            .map(|_| {
                clients::new_credential_client(&account, "backfill", &scopes, now).map(|c| c.client)
            })
            .collect::<Result<Vec<_>, _>>()?;
        store.insert_new_clients(&list).await?;
        left -= batch;
    }
    Ok(())
}

/// `count` token sets of `owner`, each with one live refresh token: the worst case for the
/// refresh token lookups, every row a candidate. Nothing else is stored for them.
///
/// Set ids and refresh token hashes are random, and inserting random keys into a large
/// index rewrites pages all over it: a million sets took minutes that way. So all ids and
/// all first refresh tokens are drawn up front (about 250 MB for a million), each sorted,
/// and the i-th id is given the i-th token. Every batch then only appends to the indexes.
/// Which set holds which token does not matter: all are alike and nobody knows the tokens.
async fn backfill_token_sets(
    store: &SqlStore,
    owner: &FixtureOwner,
    count: usize,
    access_ttl: i64,
    now: i64,
) -> anyhow::Result<()> {
    let mut ids = (0..count)
        .map(|_| TokenSetId::generate())
        .collect::<Result<Vec<_>, _>>()?;
    ids.sort_unstable();
    let mut tokens = ids
        .iter()
        .map(|id| first_refresh_token(id, access_ttl, now))
        .collect::<anyhow::Result<Vec<_>>>()?;
    tokens.sort_unstable_by_key(|t| t.token_hash.0);
    let mut tokens = tokens.into_iter();
    for batch in ids.chunks(BACKFILL_BATCH) {
        let sets: Vec<(TokenSet, RefreshToken)> = batch
            .iter()
            .zip(tokens.by_ref())
            .map(|(id, mut token)| {
                token.token_set_id = id.clone();
                (owner.token_set(id.clone(), now), token)
            })
            .collect();
        store.insert_token_sets(&sets).await?;
    }
    Ok(())
}

/// A first refresh token as `start_token_set` makes it, but dropped at once, and with an
/// access token that is never signed: only a fresh `jti` is recorded, as a rotation would
/// revoke it.
fn first_refresh_token(id: &TokenSetId, access_ttl: i64, now: i64) -> anyhow::Result<RefreshToken> {
    let jti = Jti::generate()?;
    let (_token, first) = new_refresh_token(id, jti.as_str(), now + access_ttl, now)?;
    Ok(first)
}

/// The application, user and account a fixture token set or code is for, checked as the
/// consent page would: an active application, and a user allowed to act on the account.
struct FixtureOwner {
    client: Client,
    user: UserId,
    account: AccountId,
}

impl FixtureOwner {
    /// A new token set of this owner, as `start_token_set` stores it.
    fn token_set(&self, id: TokenSetId, now: i64) -> TokenSet {
        TokenSet {
            id,
            client_id: self.client.id.clone(),
            user_id: self.user.clone(),
            account_id: self.account.clone(),
            scopes: self.client.scopes.clone(),
            auth_time: None,
            dpop_jkt: None,
            created_at: now,
            revoked_at: None,
        }
    }

    async fn load(store: &SqlStore, app: &str, account: &str, user: &str) -> anyhow::Result<Self> {
        let client = clients::get_client(store, app).await?;
        if client.kind != ClientKind::Application
            || client.status != ClientStatus::Active
            || !client.allows_grant(GrantType::AuthorizationCode)
        {
            bail!("client {app} is not an active application (see `tessera app create`)");
        }
        let account = accounts::get_account(store, account).await?.id;
        let found = match UserId::parse(user) {
            Some(id) => store.find_user(&id).await?,
            None => None,
        };
        let Some(found) = found else {
            bail!("no user {user}");
        };
        if !found.accounts.contains(&account) {
            bail!("user {user} may not act on account {account}");
        }
        Ok(Self {
            client,
            user: found.id,
            account,
        })
    }
}
