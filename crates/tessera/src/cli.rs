//! The command line. Scripts and the dashboard's tests depend on this shape: extend it,
//! don't bend it.

use std::path::PathBuf;

use std::fmt;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "tessera",
    version,
    about = "OAuth 2.0 authorization server and API gateway"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// `Debug` redacts the password in the database URL (see `config::redact_credentials`).
#[derive(Args)]
pub struct Global {
    /// Database URL: sqlite://PATH or postgres://USER@HOST/DB [default: sqlite://<data_dir>/tessera.db]
    #[arg(long, global = true)]
    pub database: Option<String>,
    /// TOML configuration file (see tessera.example.toml).
    #[arg(long, global = true, env = "TESSERA_CONFIG")]
    pub config: Option<PathBuf>,
    /// Print one JSON object or array on stdout and nothing else.
    #[arg(long, global = true)]
    pub json: bool,
}

impl fmt::Debug for Global {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let database = self
            .database
            .as_deref()
            .map(crate::config::redact_credentials);
        f.debug_struct("Global")
            .field("database", &database)
            .field("config", &self.config)
            .field("json", &self.json)
            .finish()
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server.
    Serve(ServeArgs),
    /// API accounts.
    #[command(subcommand)]
    Account(AccountCommand),
    /// Clients (credentials and applications).
    #[command(subcommand)]
    Client(ClientCommand),
    /// Signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Legacy HTTP Basic credentials (email + password) and their migration to OAuth 2.0.
    #[command(subcommand)]
    Legacy(LegacyCommand),
    /// Reports for the operator.
    #[command(subcommand)]
    Report(ReportCommand),
    /// Users (people who sign in and authorize applications).
    #[command(subcommand)]
    User(UserCommand),
    /// Third-party applications (authorization code grant).
    #[command(subcommand)]
    App(AppCommand),
    /// The scope catalog: what clients may be allowed, users consent to and routes require.
    #[command(subcommand)]
    Scope(ScopeCommand),
    /// The audit log of administrative changes (CLI, Settings Center, Tessera itself),
    /// newest first.
    Audit(AuditArgs),
    /// Bulk fixtures for benchmarks (built only with the `bench-fixtures` feature).
    #[cfg(feature = "bench-fixtures")]
    #[command(subcommand, hide = true)]
    Fixtures(crate::fixtures::FixturesCommand),
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Only events at or after this: an RFC 3339 time or an age such as 30m, 24h, 7d.
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
    /// Only this actor (`cli:ops`, `user:usr_…`, `system`, `config`), or every actor of a
    /// kind (`cli`, `user`).
    #[arg(long)]
    pub actor: Option<String>,
    /// Only events about this id (a client, app, account, user, key, scope or legacy
    /// credential id), or `KIND:ID` for the target alone.
    #[arg(long)]
    pub target: Option<String>,
    #[arg(long, default_value_t = 100)]
    pub limit: i64,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8080]
    #[arg(long)]
    pub listen: Option<String>,
    /// Public base URL, the `iss` of tokens [default: http://<listen>]
    #[arg(long)]
    pub issuer: Option<String>,
    /// The provider's API to proxy to, http://HOST[:PORT] [default: none, the sample API]
    #[arg(long)]
    pub upstream: Option<String>,
}

/// Wherever a command takes an account (`--account`, an import file's `account` column),
/// it accepts Tessera's id (`acct_…`) or `ext:<external id>`.
#[derive(Debug, Subcommand)]
pub enum AccountCommand {
    /// Create an API account.
    Create {
        #[arg(long)]
        name: String,
        /// The provider's own id of the account (unique; 1-200 printable ASCII characters).
        /// The gateway sends it upstream in Tessera-Account.
        #[arg(long, value_name = "ID")]
        external_id: Option<String>,
    },
    /// List API accounts with their external ids.
    List,
    /// Rename an account, or set, change or remove its external id; running servers follow
    /// within the sync interval.
    Update {
        /// acct_… or ext:<external id>
        account: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long, value_name = "ID", conflicts_with = "no_external_id")]
        external_id: Option<String>,
        /// Remove the external id (the upstream sees the acct_ id again).
        #[arg(long)]
        no_external_id: bool,
    },
    /// Create or rename accounts from a CSV file with a header row or JSON Lines (columns
    /// external_id, name). An existing external id is renamed, never duplicated; the same
    /// data again is "unchanged". By default any rejected line aborts it all.
    Import {
        file: std::path::PathBuf,
        /// Check every line and print what would change; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Import the valid lines and report the rejected ones.
        #[arg(long)]
        skip_invalid: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Create a credential client acting as an API account; prints its secret once.
    Create {
        /// The API account: acct_… or ext:<external id>.
        #[arg(long, value_name = "ACCOUNT")]
        account: String,
        #[arg(long)]
        name: String,
        /// Space-separated scopes [default: the whole catalog]
        #[arg(long)]
        scope: Option<String>,
        /// Grant type; credential clients use client_credentials.
        #[arg(long, default_value = "client_credentials")]
        grant: String,
        /// Issue it only DPoP-bound access tokens (RFC 9449): token requests without a
        /// DPoP proof are refused.
        #[arg(long)]
        dpop_bound: bool,
        #[command(flatten)]
        keys: KeyArgs,
    },
    /// List clients.
    List {
        /// Only this API account's: acct_… or ext:<external id>.
        #[arg(long, value_name = "ACCOUNT")]
        account: Option<String>,
    },
    /// Revoke a client: no new tokens, and its live tokens stop working.
    Revoke { client_id: String },
    /// Issue a new secret; the old ones keep working for the overlap, then stop.
    RotateSecret {
        client_id: String,
        /// Seconds the old secrets keep working (0: they stop now).
        #[arg(long, default_value_t = 86_400)]
        overlap: i64,
    },
    /// End a rotation's overlap now: only the newest secret works.
    ExpireOldSecrets { client_id: String },
    /// Create a resource server's credential, which may introspect any token.
    CreateResourceServer {
        #[arg(long)]
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user who may act on the given API accounts.
    Create {
        #[arg(long)]
        email: String,
        /// The user's display name (OpenID Connect's `name` claim).
        #[arg(long)]
        name: Option<String>,
        /// The email address is known to be the user's (`email_verified: true` in ID
        /// tokens and UserInfo).
        #[arg(long)]
        email_verified: bool,
        /// An API account the user may act on, acct_… or ext:<external id> (repeat for
        /// several).
        #[arg(long = "account", value_name = "ACCOUNT")]
        accounts: Vec<String>,
        /// Operators approve partner applications and see the migration report.
        #[arg(long)]
        operator: bool,
        /// Read the password from standard input (first line).
        #[arg(long)]
        password_stdin: bool,
    },
    /// Every user: id, email, operator, API accounts.
    List,
    /// Give a user a new password; every browser session of theirs ends (applications they
    /// authorized keep their tokens: see deauthorize).
    SetPassword {
        /// The user's email address or usr_… id.
        user: String,
        /// Read the password from standard input (first line).
        #[arg(long)]
        password_stdin: bool,
    },
    /// Disable a user: no sign-in until enabled again; their sessions end, their pending
    /// codes and device approvals are spent and every token set of theirs is revoked.
    Disable {
        /// The user's email address or usr_… id.
        user: String,
    },
    /// Enable a disabled user again (sign-in only: revoked tokens stay revoked).
    Enable {
        /// The user's email address or usr_… id.
        user: String,
    },
    /// The applications a user authorized.
    Authorizations {
        /// The user's email address or usr_… id.
        user: String,
    },
    /// Take an application's access away: its tokens for this user die.
    Deauthorize {
        /// The user's email address or usr_… id.
        user: String,
        client_id: String,
    },
}

/// How a confidential client authenticates: a secret, or `private_key_jwt` (RFC 7523
/// §2.2) with its public keys registered here.
#[derive(Debug, Clone, clap::Args)]
pub struct KeyArgs {
    /// client_secret (a secret is generated, the default) or private_key_jwt (no secret;
    /// give --jwks or --jwks-uri).
    #[arg(long, value_name = "METHOD", default_value = "client_secret")]
    pub auth_method: String,
    /// For private_key_jwt: a file holding the client's public keys as a JWK Set.
    #[arg(long, value_name = "FILE")]
    pub jwks: Option<std::path::PathBuf>,
    /// For private_key_jwt: the https URL of the client's JWK Set (fetched and cached).
    #[arg(long, value_name = "URL")]
    pub jwks_uri: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum AppCommand {
    /// Register an application; prints its secret once (none with --public).
    Create {
        #[arg(long)]
        name: String,
        /// Registered redirect URI (repeat for several; none: Tessera's code page).
        #[arg(long = "redirect-uri")]
        redirect_uris: Vec<String>,
        /// Space-separated scopes it may ask for [default: the whole catalog]
        #[arg(long)]
        scope: Option<String>,
        /// A public client (no secret; PKCE required).
        #[arg(long)]
        public: bool,
        /// Operator-approved partner application (listed in the dashboard).
        #[arg(long)]
        approved: bool,
        /// The API account registering it: until approved, only that account's users may
        /// authorize it (without an owner or --approved, nobody can). acct_… or
        /// ext:<external id>.
        #[arg(long = "account", value_name = "ACCOUNT")]
        account: Option<String>,
        /// Refuse its authorization requests without PKCE (RFC 9700 §2.1.1), whatever the
        /// server-wide require_pkce says.
        #[arg(long)]
        require_pkce: bool,
        /// Where OpenID Connect RP-Initiated Logout may send the browser afterwards
        /// (repeat for several).
        #[arg(long = "post-logout-redirect-uri", value_name = "URI")]
        post_logout_redirect_uris: Vec<String>,
        /// Take its authorization requests only as pushed authorization requests (RFC 9126).
        #[arg(long)]
        require_par: bool,
        /// How users authorize it: authorization_code (a browser redirect) or device_code
        /// (RFC 8628: a device shows a code the user types); repeat for both
        /// [default: authorization_code].
        #[arg(long = "grant", value_name = "GRANT")]
        grants: Vec<String>,
        /// Issue it only DPoP-bound access tokens (RFC 9449): token requests without a
        /// DPoP proof are refused.
        #[arg(long)]
        dpop_bound: bool,
        #[command(flatten)]
        keys: KeyArgs,
    },
    /// List applications.
    List,
    /// Change an application's settings.
    Update {
        client_id: String,
        /// Require PKCE of its authorization requests (true) or not (false).
        #[arg(long, value_name = "true|false")]
        require_pkce: Option<bool>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ScopeCommand {
    /// Add a scope to the catalog. NAME: printable ASCII without spaces, quotes or
    /// backslashes (RFC 6749 §3.3), at most 128 characters.
    Create {
        name: String,
        /// What it lets an application do, in plain words: the consent page shows it
        /// (1 to 200 characters).
        #[arg(long)]
        description: String,
    },
    /// List the catalog.
    List,
    /// Show a scope and everything that uses it (clients, applications, consents, routes).
    Describe { name: String },
    /// Replace a scope's description; the consent page shows the new words at once.
    Update {
        name: String,
        #[arg(long)]
        description: String,
    },
    /// Remove a scope; refused, naming them, while anything uses it.
    Remove { name: String },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Publish a new signing key; it signs after the propagation delay.
    Rotate,
    /// List signing keys and their state.
    List,
    /// Emergency: retire a (compromised) signing key at once. It leaves the JWKS and every
    /// token it signed is refused; if it is signing, a new key signs in its place at once.
    Retire {
        /// The key's id (`tessera keys list`).
        kid: String,
        /// Required: the retirement is immediate and breaks every token the key signed.
        /// A planned change of keys is `tessera keys rotate`.
        #[arg(long, required = true)]
        now: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum LegacyCommand {
    /// Create a legacy credential: HTTP Basic with EMAIL and a password acts as ACCOUNT.
    Create {
        /// The API account: acct_… or ext:<external id>.
        #[arg(long, value_name = "ACCOUNT")]
        account: String,
        #[arg(long)]
        email: String,
        /// Read the password from the first line of stdin [default: prompt on a terminal]
        #[arg(long)]
        password_stdin: bool,
    },
    /// Import legacy credentials with the password hashes another system made, from a CSV
    /// file with a header row or JSON Lines (email, account as acct_… or ext:<external id>,
    /// password_hash, and optional created_at, last_used_at in RFC 3339). By default any
    /// rejected line aborts it all.
    Import {
        file: std::path::PathBuf,
        /// Check every line and print what would change; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Import the valid lines and report the rejected ones.
        #[arg(long)]
        skip_invalid: bool,
    },
    /// List legacy credentials (removed ones too).
    List {
        /// Only this API account's: acct_… or ext:<external id>.
        #[arg(long, value_name = "ACCOUNT")]
        account: Option<String>,
    },
    /// Replace a legacy credential's password; the old one stops working at once.
    Password {
        email: String,
        /// Read the password from the first line of stdin [default: prompt on a terminal]
        #[arg(long)]
        password_stdin: bool,
    },
    /// Create OAuth client credentials for the same API account; prints the secret once.
    Migrate { email: String },
    /// Remove a migrated credential whose new client has obtained a token.
    Remove { email: String },
    /// Show the audit log of legacy credentials, newest first.
    Audit {
        /// Only this credential's events.
        email: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: i64,
    },
}

#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// Who still uses HTTP Basic: account (name, external id), state, last use, requests in
    /// 24 h and 7 days, and whether the replacing OAuth client has been used.
    Legacy {
        /// `csv`: one row per credential with a header row, for a spreadsheet or a mail
        /// merge (the dashboard's "Download CSV" is the same file).
        #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
        format: ReportFormat,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    /// A table for people (or one JSON value with --json).
    Text,
    /// RFC 4180 CSV with a header row.
    Csv,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_the_password_in_the_database_flag() {
        let cli = Cli::try_parse_from([
            "tessera",
            "--database",
            "postgres://tessera:hunter2@db.internal/tessera",
            "keys",
            "list",
        ])
        .unwrap();
        let shown = format!("{cli:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(
            shown.contains("postgres://[redacted]@db.internal/tessera"),
            "{shown}"
        );
    }
}
