//! The accounts, clients and users a run needs, created through Tessera's own CLI before
//! any load: one account, one client with every sample scope, a bulk set of clients for
//! the many-clients scenarios, and an application with a user who approved it. The
//! single-use credentials (refresh tokens, codes) are minted by their scenario, just
//! before it runs, through the CLI's hidden `fixtures` commands.

use anyhow::{Context, Result};
use base64::Engine;
use hyper::header::HeaderValue;
use serde::Deserialize;
use tokio::time::Instant;

use crate::tessera::Tessera;

/// How many clients the "(10k clients)" scenario spreads its requests over.
pub const MANY_CLIENTS: usize = 10_000;
/// The application's one redirect URI; codes name it, nothing is ever sent there.
pub const REDIRECT_URI: &str = "http://127.0.0.1/callback";
const APP_SCOPE: &str = "account:read books:read books:write";
const USER_EMAIL: &str = "bench@example.com";
const USER_PASSWORD: &str = "bench-password-never-used";
/// The bench never signs in, so the user's password hash may be cheap to make.
const CHEAP_ARGON2: [(&str, &str); 2] = [
    ("TESSERA_ARGON2_MEMORY_KIB", "1024"),
    ("TESSERA_ARGON2_ITERATIONS", "1"),
];

#[derive(Clone, Debug, Deserialize)]
pub struct Credentials {
    pub client_id: String,
    pub client_secret: String,
}

impl Credentials {
    /// RFC 6749 §2.3.1: id and secret are form-encoded, then sent as HTTP Basic.
    pub fn basic_authorization(&self) -> Result<HeaderValue> {
        let encode = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let pair = format!(
            "{}:{}",
            encode(&self.client_id),
            encode(&self.client_secret)
        );
        let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
        Ok(HeaderValue::from_str(&format!("Basic {encoded}"))?)
    }
}

pub struct Fixtures {
    /// A client allowed `account:read books:read books:write`.
    pub client: Credentials,
    /// `MANY_CLIENTS` clients allowed `account:read`.
    pub many_clients: Vec<Credentials>,
    /// The application and the user it acts for, for the user-facing grants.
    pub app_grant: AppGrant,
}

/// A third-party application (authorization code and refresh token grants, redirect URI
/// `REDIRECT_URI`, scopes `APP_SCOPE`), and the user and account it is approved for.
#[derive(Clone)]
pub struct AppGrant {
    pub app: Credentials,
    pub user_id: String,
    pub account_id: String,
}

#[derive(Deserialize)]
struct AccountCreated {
    account_id: String,
}

#[derive(Deserialize)]
struct UserCreated {
    user_id: String,
}

#[derive(Deserialize)]
struct TokenSetStarted {
    refresh_token: String,
}

/// `tessera fixtures clients` prints an array; an object holding one is accepted too.
#[derive(Deserialize)]
#[serde(untagged)]
enum BulkClients {
    List(Vec<Credentials>),
    Wrapped { clients: Vec<Credentials> },
}

pub async fn create(tessera: &Tessera) -> Result<Fixtures> {
    let (account_id, client) = account_and_client(tessera).await?;
    let started = Instant::now();
    let count = MANY_CLIENTS.to_string();
    let bulk: BulkClients = tessera
        .json(&[
            "fixtures",
            "clients",
            "--account",
            &account_id,
            "--count",
            &count,
            "--scope",
            "account:read",
        ])
        .await?;
    let many_clients = match bulk {
        BulkClients::List(list) | BulkClients::Wrapped { clients: list } => list,
    };
    if many_clients.len() != MANY_CLIENTS {
        anyhow::bail!(
            "tessera fixtures clients made {} clients, not {MANY_CLIENTS}",
            many_clients.len()
        );
    }
    eprintln!(
        "created {MANY_CLIENTS} clients in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let app_grant = app_grant(tessera, account_id).await?;
    Ok(Fixtures {
        client,
        many_clients,
        app_grant,
    })
}

/// An account and a client of it allowed `APP_SCOPE`: (account id, client).
pub async fn account_and_client(tessera: &Tessera) -> Result<(String, Credentials)> {
    let account: AccountCreated = tessera
        .json(&["account", "create", "--name", "bench"])
        .await?;
    let client: Credentials = tessera
        .json(&[
            "client",
            "create",
            "--account",
            &account.account_id,
            "--name",
            "bench",
            "--scope",
            APP_SCOPE,
        ])
        .await?;
    Ok((account.account_id, client))
}

pub async fn app_grant(tessera: &Tessera, account_id: String) -> Result<AppGrant> {
    let app: Credentials = tessera
        .json(&[
            "app",
            "create",
            "--name",
            "bench app",
            "--redirect-uri",
            REDIRECT_URI,
            "--scope",
            APP_SCOPE,
        ])
        .await?;
    let user: UserCreated = tessera
        .json_with(
            &[
                "user",
                "create",
                "--email",
                USER_EMAIL,
                "--name",
                "Bench User",
                "--email-verified",
                "--account",
                &account_id,
                "--password-stdin",
            ],
            &CHEAP_ARGON2,
            Some(USER_PASSWORD),
        )
        .await?;
    Ok(AppGrant {
        app,
        user_id: user.user_id,
        account_id,
    })
}

/// `count` token sets started for `grant`, as a code exchange would; their refresh tokens.
pub async fn token_sets(tessera: &Tessera, grant: &AppGrant, count: usize) -> Result<Vec<String>> {
    let started = Instant::now();
    let count_arg = count.to_string();
    let args = grant.fixture_args("token-sets", &count_arg);
    let sets: Vec<TokenSetStarted> = tessera.json(&args).await?;
    check_count("token-sets", sets.len(), count)?;
    eprintln!(
        "started {count} token sets in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(sets.into_iter().map(|set| set.refresh_token).collect())
}

/// `count` authorization codes for `grant`, delivered to `REDIRECT_URI`, without PKCE;
/// with `openid`, for the identity scopes too (each exchange then signs an ID token).
pub async fn codes(
    tessera: &Tessera,
    grant: &AppGrant,
    count: usize,
    openid: bool,
) -> Result<Vec<String>> {
    let started = Instant::now();
    let count_arg = count.to_string();
    let mut args = grant.fixture_args("codes", &count_arg);
    args.extend(["--redirect-uri", REDIRECT_URI]);
    if openid {
        args.push("--openid");
    }
    let codes: Vec<String> = tessera.json(&args).await?;
    check_count("codes", codes.len(), count)?;
    eprintln!(
        "minted {count} authorization codes in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(codes)
}

impl AppGrant {
    /// `tessera fixtures KIND` for this application, user and account.
    fn fixture_args<'a>(&'a self, kind: &'a str, count: &'a str) -> Vec<&'a str> {
        vec![
            "fixtures",
            kind,
            "--app",
            &self.app.client_id,
            "--account",
            &self.account_id,
            "--user",
            &self.user_id,
            "--count",
            count,
        ]
    }
}

fn check_count(command: &str, made: usize, wanted: usize) -> Result<()> {
    if made != wanted {
        anyhow::bail!("tessera fixtures {command} made {made}, not {wanted}");
    }
    Ok(())
}

/// Authorization headers for `clients`, in order.
/// RFC 7617 Basic credentials as legacy integrations send them: `email:password`, base64,
/// no form-encoding (that is OAuth's client authentication only).
pub fn plain_basic(email: &str, password: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{email}:{password}"))
}

const LEGACY_EMAIL: &str = "legacy@bench.example";
const LEGACY_PASSWORD: &str = "legacy bench password";

#[derive(Deserialize)]
struct LegacyCreated {
    #[allow(dead_code)]
    state: String,
}

/// A legacy Basic credential on the bench account, hashed at the production argon2id cost
/// (the CLI runs without the cheap-argon2 environment here): (email, password).
pub async fn legacy_credential(tessera: &Tessera, fixtures: &Fixtures) -> Result<(String, String)> {
    legacy_credential_as(
        tessera,
        &fixtures.app_grant.account_id,
        LEGACY_EMAIL,
        LEGACY_PASSWORD,
    )
    .await
}

/// The same for `account`, with this email and password.
pub async fn legacy_credential_as(
    tessera: &Tessera,
    account: &str,
    email: &str,
    password: &str,
) -> Result<(String, String)> {
    let _: LegacyCreated = tessera
        .json_with(
            &[
                "legacy",
                "create",
                "--account",
                account,
                "--email",
                email,
                "--password-stdin",
            ],
            &[],
            Some(password),
        )
        .await?;
    Ok((email.to_owned(), password.to_owned()))
}

/// A resource server's credential, which may introspect any token.
pub async fn resource_server(tessera: &Tessera) -> Result<Credentials> {
    tessera
        .json(&["client", "create-resource-server", "--name", "bench-rs"])
        .await
}

pub fn basic_authorizations(clients: &[Credentials]) -> Result<Vec<HeaderValue>> {
    clients
        .iter()
        .map(Credentials::basic_authorization)
        .collect::<Result<_>>()
        .context("encoding client credentials")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_authorization_form_encodes_then_base64s() -> Result<()> {
        let credentials = Credentials {
            client_id: "c 1".to_owned(),
            client_secret: "s:é".to_owned(),
        };
        let header = credentials.basic_authorization()?;
        let encoded = header
            .to_str()?
            .strip_prefix("Basic ")
            .context("not Basic")?;
        let decoded = base64::engine::general_purpose::STANDARD.decode(encoded)?;
        assert_eq!(decoded, b"c+1:s%3A%C3%A9");
        Ok(())
    }

    #[test]
    fn bulk_output_is_an_array_or_an_object_holding_one() -> Result<()> {
        let array = r#"[{"client_id":"a","client_secret":"b"}]"#;
        let object = r#"{"clients":[{"client_id":"a","client_secret":"b","extra":1}]}"#;
        for text in [array, object] {
            let (BulkClients::List(list) | BulkClients::Wrapped { clients: list }) =
                serde_json::from_str(text)?;
            assert_eq!(list.first().map(|c| c.client_id.as_str()), Some("a"));
        }
        Ok(())
    }
}
