//! The storage ports. The core talks to storage only through these traits; `tessera-store`
//! implements them for SQLite and PostgreSQL.
//!
//! Contract for every mutation that other processes must see (client status, secrets,
//! signing keys, revocations, account names and external ids): the implementation records
//! a [`Change`] in the same transaction, so a server polling [`ChangeFeed`] can never
//! observe the mutation without its change, nor the change without the mutation.

use async_trait::async_trait;

use crate::audit::{AuditEvent, AuditQuery};
use crate::domain::{
    Account, AccountId, Client, ClientId, ClientStatus, ExternalId, Kid, LegacyId, ScopeSet,
    SecretHash, StoredSecret, TokenSetId, User, UserId,
};
use crate::error::StoreError;
use crate::legacy::bearer_usage::{BearerUsageDelta, DailyUsage};
use crate::legacy::console::{LegacyTotals, ReportFilter, ReportPage, ReportSort};
use crate::legacy::report::ReportWindows;
use crate::legacy::usage::{LegacyReportRow, UsageDelta};
use crate::legacy::{Email, LegacyCredential, PasswordHash};
use crate::token::keys::StoredSigningKey;
use crate::UnixSeconds;

pub type StoreResult<T> = Result<T, StoreError>;

/// Told how far a long write has got (rows written so far), for a progress display.
pub type Progress<'a> = &'a (dyn Fn(usize) + Send + Sync);

/// What [`AccountStore::update_account`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountUpdate {
    /// Stored, with its `Account` change.
    Updated,
    /// No account has that id; nothing was changed.
    NotFound,
    /// Another account has that external id; nothing was changed.
    ExternalIdTaken,
}

/// API accounts. An external id belongs to at most one account; accounts without one do
/// not conflict. Accounts are never deleted.
#[async_trait]
pub trait AccountStore: Send + Sync {
    /// Inserts the account; `false`, storing nothing, when its external id is taken. A new
    /// account records no change: no server can have cached it.
    async fn insert_account(&self, account: &Account) -> StoreResult<bool>;
    async fn find_account(&self, id: &AccountId) -> StoreResult<Option<Account>>;
    /// Those of `ids` that exist, in no particular order; a few batched reads however many
    /// ids are given (an import names thousands).
    async fn find_accounts(&self, ids: &[AccountId]) -> StoreResult<Vec<Account>>;
    /// The account with exactly this external id (case matters).
    async fn find_account_by_external_id(&self, id: &ExternalId) -> StoreResult<Option<Account>>;
    /// Those accounts whose external id is one of `ids`, in no particular order; a few
    /// batched reads however many are given.
    async fn find_accounts_by_external_ids(&self, ids: &[ExternalId]) -> StoreResult<Vec<Account>>;
    /// Every account, oldest first.
    async fn list_accounts(&self) -> StoreResult<Vec<Account>>;
    /// Replaces the name and external id of the account with `account.id` (its
    /// `created_at` is left as stored) and records an `Account` change.
    async fn update_account(
        &self,
        account: &Account,
        now: UnixSeconds,
    ) -> StoreResult<AccountUpdate>;
    /// Writes a `tessera account import` in one transaction: inserts `new`, replaces the
    /// name and external id of each of `updated` (recording an `Account` change for each).
    /// All or nothing: `false`, with nothing written, when an external id of the file was
    /// taken meanwhile or an updated account does not exist.
    async fn import_accounts(
        &self,
        new: &[Account],
        updated: &[Account],
        now: UnixSeconds,
    ) -> StoreResult<bool>;
}

#[async_trait]
pub trait ClientStore: Send + Sync {
    /// Inserts clients with their secrets, all or none.
    async fn insert_clients(&self, clients: &[Client]) -> StoreResult<()>;
    /// Remembers a client assertion's `jti` until `expires_at`: `false` when the client
    /// used it before (of concurrent calls with one `jti`, exactly one gets `true`).
    async fn record_client_assertion(
        &self,
        client: &ClientId,
        jti: &str,
        expires_at: UnixSeconds,
    ) -> StoreResult<bool>;
    /// Forgets the `jti`s of assertions expired before `before`.
    async fn prune_client_assertions(&self, before: UnixSeconds) -> StoreResult<()>;
    /// Records a DPoP proof (RFC 9449 §11.1) by the hash of its key and `jti`, kept until
    /// `expires_at`; `false` when it was recorded before (a replay).
    async fn record_dpop_proof(
        &self,
        proof_hash: &SecretHash,
        expires_at: UnixSeconds,
    ) -> StoreResult<bool>;
    async fn prune_dpop_proofs(&self, before: UnixSeconds) -> StoreResult<()>;
    /// The client with its secrets, oldest secret first.
    async fn find_client(&self, id: &ClientId) -> StoreResult<Option<Client>>;
    /// Clients oldest first, each with its secrets; only `account`'s when given.
    async fn list_clients(&self, account: Option<&AccountId>) -> StoreResult<Vec<Client>>;
    /// Sets the status and records a `Client` change. `false` when no such client exists.
    async fn update_client_status(
        &self,
        id: &ClientId,
        status: ClientStatus,
        now: UnixSeconds,
    ) -> StoreResult<bool>;
    /// Adds a secret and sets the end of every other live secret of the client to
    /// `others_expire_at` (or leaves it when `None`); records a `Client` change.
    async fn insert_client_secret(
        &self,
        id: &ClientId,
        secret: &StoredSecret,
        others_expire_at: Option<UnixSeconds>,
        now: UnixSeconds,
    ) -> StoreResult<bool>;
    /// Marks an application operator-approved (or not); records a `Client` change.
    async fn update_client_approved(
        &self,
        id: &ClientId,
        approved: bool,
        now: UnixSeconds,
    ) -> StoreResult<bool>;
    /// Sets whether the application must use PKCE; records a `Client` change. `false`
    /// when no such client exists.
    async fn update_client_require_pkce(
        &self,
        id: &ClientId,
        require_pkce: bool,
        now: UnixSeconds,
    ) -> StoreResult<bool>;
    /// Ends every secret of the client but the newest at `now`; records a `Client` change.
    async fn expire_older_client_secrets(
        &self,
        id: &ClientId,
        now: UnixSeconds,
    ) -> StoreResult<bool>;
}

#[async_trait]
pub trait KeyStore: Send + Sync {
    /// Inserts a signing key and records a `SigningKey` change.
    async fn insert_signing_key(&self, key: &StoredSigningKey, now: UnixSeconds)
        -> StoreResult<()>;
    /// Every stored key, oldest activation first.
    async fn list_signing_keys(&self) -> StoreResult<Vec<StoredSigningKey>>;
    /// Deletes keys (whose public half left the JWKS, or retired at once); records a
    /// `SigningKey` change.
    async fn delete_signing_keys(&self, kids: &[Kid], now: UnixSeconds) -> StoreResult<()>;
}

#[async_trait]
pub trait RevocationStore: Send + Sync {
    /// Marks an access token (by `jti`) revoked until it would have expired anyway, and
    /// records a `RevokedToken` change. Revoking twice is not an error.
    async fn insert_revoked_token(
        &self,
        jti: &str,
        expires_at: UnixSeconds,
        now: UnixSeconds,
    ) -> StoreResult<()>;
    /// Deletes revocations whose token has expired by `now`: nobody can present it anyway.
    async fn prune_revoked_tokens(&self, now: UnixSeconds) -> StoreResult<()>;
    /// Revocations whose token has not expired at `now`.
    async fn list_revoked_tokens(
        &self,
        now: UnixSeconds,
    ) -> StoreResult<Vec<(String, UnixSeconds)>>;
    /// The expiry of each of `jtis` that is stored as revoked; a jti whose revocation was
    /// pruned (its token expired) is absent.
    async fn revoked_token_expiries(
        &self,
        jtis: &[String],
    ) -> StoreResult<Vec<(String, UnixSeconds)>>;
}

/// What changed; the subject says which row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Client,
    SigningKey,
    RevokedToken,
    /// A legacy credential's password, state or existence changed; the subject is its id.
    LegacyCredential,
    TokenSet,
    /// An API account's name or external id changed; the subject is its id.
    Account,
    /// A scope catalog entry was added, described anew or deleted; the subject is its name.
    Scope,
    /// A kind this version does not know, written by a newer Tessera sharing the store
    /// during a rolling upgrade. Readers skip it and move past it; nothing writes it.
    Unrecognized,
}

impl ChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Client => "client",
            Self::SigningKey => "signing_key",
            Self::RevokedToken => "revoked_token",
            Self::LegacyCredential => "legacy_credential",
            Self::TokenSet => "token_set",
            Self::Account => "account",
            Self::Scope => "scope",
            Self::Unrecognized => "unrecognized",
        }
    }

    /// The kind a stored row names; [`Self::Unrecognized`] for one this version does not
    /// know, so an older replica keeps following the feed past a newer one's changes.
    pub fn from_stored(raw: &str) -> Self {
        Self::parse(raw).unwrap_or(Self::Unrecognized)
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "client" => Some(Self::Client),
            "signing_key" => Some(Self::SigningKey),
            "revoked_token" => Some(Self::RevokedToken),
            "legacy_credential" => Some(Self::LegacyCredential),
            "token_set" => Some(Self::TokenSet),
            "account" => Some(Self::Account),
            "scope" => Some(Self::Scope),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub seq: i64,
    pub kind: ChangeKind,
    pub subject: String,
    pub created_at: UnixSeconds,
}

#[async_trait]
pub trait ChangeFeed: Send + Sync {
    /// Changes with `seq > after`, in `seq` order, at most `limit`.
    async fn list_changes_after(&self, after: i64, limit: i64) -> StoreResult<Vec<Change>>;
    /// The highest `seq` stored, 0 when there is none.
    async fn latest_change_seq(&self) -> StoreResult<i64>;
    /// The lowest `seq` stored, 0 when there is none: a cursor below it may have missed
    /// pruned changes.
    async fn oldest_change_seq(&self) -> StoreResult<i64>;
    /// Deletes changes created before `before`, except the newest change: it stays, so the
    /// feed's position survives pruning (see [`ChangeFeed::oldest_change_seq`]). A `seq` is
    /// never given out again, so a cursor past pruned changes still sees every later one.
    async fn prune_changes(&self, before: UnixSeconds) -> StoreResult<()>;
}

/// Leases on work that must run once per cluster, however many replicas share the store.
#[async_trait]
pub trait LeaseStore: Send + Sync {
    /// Takes or renews lease `name` for `holder` until `until`, if it is free, expired at
    /// `now`, or already `holder`'s; `true` when `holder` holds it now. Of concurrent calls
    /// for a free lease, exactly one gets `true`.
    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        until: UnixSeconds,
        now: UnixSeconds,
    ) -> StoreResult<bool>;
    /// Gives lease `name` up, if `holder` holds it.
    async fn release_lease(&self, name: &str, holder: &str) -> StoreResult<()>;
}

/// A document collection uploaded to the sample API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Book {
    pub id: String,
    pub account_id: AccountId,
    pub name: String,
    /// The uploaded documents, as JSON text.
    pub documents: String,
    pub created_at: UnixSeconds,
}

#[async_trait]
pub trait BookStore: Send + Sync {
    async fn insert_book(&self, book: &Book) -> StoreResult<()>;
    /// The book with this id *owned by this account*; another account's book is `None`.
    async fn find_book(&self, account: &AccountId, id: &str) -> StoreResult<Option<Book>>;
    /// The account's books, oldest first.
    async fn list_books(&self, account: &AccountId) -> StoreResult<Vec<Book>>;
}

/// An entry of the scope catalog: a name and the plain words shown on the consent page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeEntry {
    pub name: String,
    pub description: String,
}

/// What in the store uses a scope. Revoked clients, and consents given to them, use
/// nothing: they can never obtain a token again.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopeUsage {
    /// Credential clients allowed the scope, oldest first.
    pub clients: Vec<ClientId>,
    /// Applications allowed the scope, oldest first.
    pub applications: Vec<ClientId>,
    /// Consents that include the scope.
    pub consents: i64,
    /// The users who gave those consents.
    pub consent_users: i64,
}

impl ScopeUsage {
    pub fn is_unused(&self) -> bool {
        self.clients.is_empty() && self.applications.is_empty() && self.consents == 0
    }
}

/// The scope catalog. Every mutation records a `Scope` change (subject: the name) in the
/// same transaction, so running servers reload the catalog they keep in memory. Names are
/// compared exactly (scope names are case-sensitive, RFC 6749 §3.3).
#[async_trait]
pub trait ScopeStore: Send + Sync {
    /// The catalog, by name.
    async fn list_scopes(&self) -> StoreResult<Vec<ScopeEntry>>;
    /// Adds an entry; `false`, changing nothing, when the name is taken.
    async fn insert_scope(&self, scope: &ScopeEntry, now: UnixSeconds) -> StoreResult<bool>;
    /// Replaces the description of the entry with this name; `false` when there is none.
    async fn update_scope(&self, scope: &ScopeEntry, now: UnixSeconds) -> StoreResult<bool>;
    /// Deletes the entry; `false` when there is none. Whether anything still uses it is the
    /// caller's question ([`ScopeStore::find_scope_usage`]).
    async fn delete_scope(&self, name: &str, now: UnixSeconds) -> StoreResult<bool>;
    /// The clients (not revoked), applications and consents whose scopes include `name`.
    async fn find_scope_usage(&self, name: &str) -> StoreResult<ScopeUsage>;
}

/// Legacy Basic credentials, their usage counts, and the first-token mark of clients the
/// migration checks. Every mutation of a credential records a `LegacyCredential` change
/// and its audit event in the same transaction.
#[async_trait]
pub trait LegacyStore: Send + Sync {
    async fn insert_legacy_credential(
        &self,
        credential: &LegacyCredential,
        audit: &AuditEvent,
    ) -> StoreResult<()>;
    /// Writes a `tessera legacy import` in one transaction: the new credentials and the
    /// replaced hashes, each with its change record and audit event. All or nothing: if
    /// any write fails (an email taken meanwhile, a credential removed meanwhile), none
    /// is kept. `progress` is called with the count written so far as batches go in.
    async fn import_legacy_credentials(
        &self,
        new: &[(LegacyCredential, AuditEvent)],
        rehashed: &[(LegacyId, PasswordHash, AuditEvent)],
        progress: Progress<'_>,
    ) -> StoreResult<()>;
    /// The credential with this email that is not removed (at most one exists).
    async fn find_legacy_credential(&self, email: &Email) -> StoreResult<Option<LegacyCredential>>;
    /// The credentials not removed whose email is one of `emails`, in no particular order;
    /// a few batched reads however many emails are given (an import names thousands).
    async fn find_legacy_credentials(&self, emails: &[Email])
        -> StoreResult<Vec<LegacyCredential>>;
    /// Every credential, removed ones too, oldest first; only `account`'s when given.
    async fn list_legacy_credentials(
        &self,
        account: Option<&AccountId>,
    ) -> StoreResult<Vec<LegacyCredential>>;
    /// Replaces the hash of a credential that is not removed. `false`: no such credential.
    async fn update_legacy_password(
        &self,
        id: &LegacyId,
        hash: &PasswordHash,
        audit: &AuditEvent,
    ) -> StoreResult<bool>;
    /// `active` → `migrated` with the new client, or, with `previous`, a migrated
    /// credential from that (revoked) client to the new one. `false` when the credential
    /// is not in that state any more (a concurrent migration won).
    async fn mark_legacy_migrated(
        &self,
        id: &LegacyId,
        client: &ClientId,
        previous: Option<&ClientId>,
        audit: &AuditEvent,
    ) -> StoreResult<bool>;
    /// `migrated` → `removed`, erasing the password hash. `false` when it was not migrated.
    async fn mark_legacy_removed(&self, id: &LegacyId, audit: &AuditEvent) -> StoreResult<bool>;
    /// Records that the client obtained a token at `now`: sets its last-token instant, and
    /// its first-token instant if it has none; and the first instant of that `source`
    /// (a Settings Center test, or an integration) if it has none.
    async fn record_token_use(
        &self,
        client: &ClientId,
        source: TokenSource,
        now: UnixSeconds,
    ) -> StoreResult<()>;
    /// How the client has obtained tokens so far; `None`: no such client.
    async fn find_token_use(&self, client: &ClientId) -> StoreResult<Option<TokenUse>>;
    /// When the client last obtained a token, as last recorded; `None`: never.
    async fn find_last_token_at(&self, client: &ClientId) -> StoreResult<Option<UnixSeconds>>;
    /// When the client obtained its first token; `None`: never (or no such client).
    async fn find_first_token_at(&self, client: &ClientId) -> StoreResult<Option<UnixSeconds>>;
    /// Adds counted Basic requests to the hourly buckets and to the day's total, and
    /// advances `last_used_at`.
    async fn add_legacy_usage(&self, deltas: &[UsageDelta]) -> StoreResult<()>;
    /// Deletes hourly buckets that started before `before`.
    async fn prune_legacy_usage(&self, before: UnixSeconds) -> StoreResult<()>;
    /// Recounts each credential's Basic requests in buckets starting at or after
    /// `week_from`, the key of the console's traffic order ([`ReportSort::Traffic`]), which
    /// [`add_legacy_usage`](Self::add_legacy_usage) only adds to. Called hourly.
    async fn refresh_legacy_traffic(&self, week_from: UnixSeconds) -> StoreResult<()>;
    /// The credential's Basic requests in buckets starting at or after `from`.
    async fn count_legacy_requests(&self, id: &LegacyId, from: UnixSeconds) -> StoreResult<i64>;
    /// One row per credential `filter` matches (search: a substring of the email, the
    /// account's name, external id or id, any case), in `sort` order with the credential id
    /// breaking ties, only `page`'s rows when given; the Basic requests counted are those
    /// in buckets starting at or after `windows.day_from` and `windows.week_from`.
    async fn find_legacy_report(
        &self,
        filter: &ReportFilter,
        sort: ReportSort,
        page: Option<ReportPage>,
        windows: ReportWindows,
    ) -> StoreResult<Vec<LegacyReportRow>>;
    /// How many credentials `filter` matches.
    async fn count_legacy_report(&self, filter: &ReportFilter) -> StoreResult<u64>;
    /// Credentials by state; those not removed whose last Basic request is at or after
    /// `day_since` (`week_since`); migrated ones whose client never obtained a token.
    async fn legacy_totals(
        &self,
        day_since: UnixSeconds,
        week_since: UnixSeconds,
    ) -> StoreResult<LegacyTotals>;
    /// Adds counted Bearer requests to each client's day.
    async fn add_bearer_usage(&self, deltas: &[BearerUsageDelta]) -> StoreResult<()>;
    /// Per day from the day starting at `from` on, oldest first, days without requests
    /// left out: the Basic requests of all credentials, and the Bearer requests of the
    /// clients legacy credentials were migrated to.
    async fn daily_usage(&self, from: UnixSeconds) -> StoreResult<Vec<DailyUsage>>;
    /// Deletes the daily Basic and Bearer counts of days that started before `before`.
    async fn prune_daily_usage(&self, before: UnixSeconds) -> StoreResult<()>;
}

#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Records an event on its own (the legacy methods above write theirs in the change's
    /// transaction).
    async fn insert_audit_event(&self, event: &AuditEvent) -> StoreResult<()>;
    /// The events `query` selects, newest first.
    async fn list_audit_events(&self, query: &AuditQuery) -> StoreResult<Vec<AuditEvent>>;
}

#[async_trait]
pub trait UserStore: Send + Sync {
    /// Inserts the user and its account memberships; `false` when the email is taken.
    async fn insert_user(&self, user: &User) -> StoreResult<bool>;
    /// By normalized (lower-cased) email.
    async fn find_user_by_email(&self, email: &str) -> StoreResult<Option<User>>;
    async fn find_user(&self, id: &UserId) -> StoreResult<Option<User>>;
    /// Every user, by email.
    async fn list_users(&self) -> StoreResult<Vec<User>>;
    /// Replaces the user's password hash and deletes all their sessions, in one
    /// transaction; `false` when there is no such user.
    async fn set_user_password(&self, id: &UserId, password_hash: &str) -> StoreResult<bool>;
    /// Disables the user (`Some(at)`) or enables them again (`None`). Disabling also, in the
    /// same transaction, deletes their sessions, spends their unused authorization codes,
    /// denies their approved device authorizations not yet collected, and revokes their
    /// live token sets, whose ids it returns; `None` when there is no such user.
    async fn set_user_disabled(
        &self,
        id: &UserId,
        disabled_at: Option<UnixSeconds>,
    ) -> StoreResult<Option<Vec<TokenSetId>>>;
}

/// A signed-in browser session; the cookie holds the secret, the store its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id_hash: SecretHash,
    pub user_id: UserId,
    pub created_at: UnixSeconds,
    pub last_seen_at: UnixSeconds,
}

#[async_trait]
pub trait SessionStore: Send + Sync {
    async fn insert_session(&self, session: &Session) -> StoreResult<()>;
    async fn find_session(&self, id_hash: &SecretHash) -> StoreResult<Option<Session>>;
    async fn touch_session(&self, id_hash: &SecretHash, now: UnixSeconds) -> StoreResult<()>;
    async fn delete_session(&self, id_hash: &SecretHash) -> StoreResult<()>;
    /// Deletes sessions that nobody can use any more: last seen at or before
    /// `last_seen_by`, or created at or before `created_by`.
    async fn prune_sessions(
        &self,
        last_seen_by: UnixSeconds,
        created_by: UnixSeconds,
    ) -> StoreResult<()>;
}

/// A user's standing approval of an application on one API account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consent {
    pub user_id: UserId,
    pub client_id: ClientId,
    pub account_id: AccountId,
    pub scopes: ScopeSet,
    pub updated_at: UnixSeconds,
}

/// A pushed authorization request (RFC 9126 §2), stored by the hash of its `request_uri`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedRequest {
    pub id_hash: SecretHash,
    /// The client that pushed it; only it may use the `request_uri`.
    pub client_id: ClientId,
    /// The authorization request's parameters, form-encoded, client authentication left out.
    pub params: String,
    pub created_at: UnixSeconds,
    pub expires_at: UnixSeconds,
    /// When an authorization completed with it; a `request_uri` completes one at most.
    pub used_at: Option<UnixSeconds>,
}

/// What the user approved for a device (RFC 8628 §3.3): the account and the scopes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceApproval {
    pub user_id: UserId,
    pub account_id: AccountId,
    /// Granted scopes: a subset of the requested ones.
    pub scopes: ScopeSet,
    /// When the user who approved signed in.
    pub auth_time: UnixSeconds,
}

/// Where a device authorization stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceStatus {
    /// The user has not decided yet (`authorization_pending`).
    Pending,
    Approved(DeviceApproval),
    /// The user denied it (`access_denied`).
    Denied,
}

/// A device authorization request (RFC 8628 §3.1–3.2), stored by the hashes of its device
/// code and its user code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceAuthorization {
    pub device_code_hash: SecretHash,
    /// Of the user code's canonical form (eight letters, no dash, upper case).
    pub user_code_hash: SecretHash,
    pub client_id: ClientId,
    /// The requested scopes.
    pub scopes: ScopeSet,
    pub status: DeviceStatus,
    /// The token set the approval starts; chosen up front, like a code's.
    pub token_set_id: TokenSetId,
    /// Seconds the device must wait between polls (§3.5: raised by `slow_down`).
    pub interval: i64,
    pub last_polled_at: Option<UnixSeconds>,
    pub created_at: UnixSeconds,
    pub expires_at: UnixSeconds,
    /// When the one token response of an approved request was issued.
    pub used_at: Option<UnixSeconds>,
}

/// An issued authorization code (RFC 6749 §4.1.2), stored by hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationCode {
    pub code_hash: SecretHash,
    pub client_id: ClientId,
    /// Where the code was delivered; empty for Tessera's own code page.
    pub redirect_uri: String,
    /// Whether the request carried `redirect_uri` (then the token request must repeat it).
    pub redirect_uri_sent: bool,
    pub user_id: UserId,
    pub account_id: AccountId,
    pub scopes: ScopeSet,
    /// The S256 PKCE challenge (RFC 7636 §4.2).
    pub code_challenge: Option<String>,
    /// The request's OpenID Connect `nonce`, for the ID token.
    pub nonce: Option<String>,
    /// When the user who approved signed in (the ID token's `auth_time`).
    pub auth_time: Option<UnixSeconds>,
    /// The token set an exchange of this code creates; chosen up front so a second use can
    /// revoke what the first one issued.
    pub token_set_id: TokenSetId,
    pub created_at: UnixSeconds,
    pub expires_at: UnixSeconds,
    /// The JWK thumbprint of the DPoP key the exchange must prove (RFC 9449 §10).
    pub dpop_jkt: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeConsumption {
    /// First use: the code is now spent.
    Consumed(AuthorizationCode),
    /// The code was used before.
    AlreadyUsed(AuthorizationCode),
    /// No such code, or it was issued to another client.
    NotFound,
}

/// One refresh-token chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSet {
    pub id: TokenSetId,
    pub client_id: ClientId,
    pub user_id: UserId,
    pub account_id: AccountId,
    pub scopes: ScopeSet,
    /// When the user signed in for the authorization that started the set; `None` for
    /// sets not started by a sign-in (the dashboard's). Every ID token of the set names it.
    pub auth_time: Option<UnixSeconds>,
    /// The JWK thumbprint (RFC 7638) of the DPoP key a public client's set is bound to
    /// (RFC 9449 §5): its refresh tokens are accepted only with a proof of that key.
    pub dpop_jkt: Option<String>,
    pub created_at: UnixSeconds,
    pub revoked_at: Option<UnixSeconds>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshToken {
    pub token_hash: SecretHash,
    pub token_set_id: TokenSetId,
    pub created_at: UnixSeconds,
    /// When it was rotated away; a refresh token is used at most once.
    pub used_at: Option<UnixSeconds>,
    /// The access token issued together with it, revoked when it is rotated.
    pub access_jti: String,
    pub access_expires_at: UnixSeconds,
}

/// An application a user authorized, as the user sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    pub client_id: ClientId,
    pub client_name: String,
    pub account_id: AccountId,
    pub scopes: ScopeSet,
    pub updated_at: UnixSeconds,
    pub last_used_at: Option<UnixSeconds>,
}

/// Where a client's token came from: the Settings Center's Test button, or anything else
/// (the token endpoint: an integration, or a person's script). Issue 15: "tested" is not
/// "in use".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenSource {
    SettingsTest,
    Integration,
}

impl TokenSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SettingsTest => "settings_test",
            Self::Integration => "integration",
        }
    }
}

/// A client's token history, as recorded by [`LegacyStore::record_token_use`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TokenUse {
    pub first_token_at: Option<UnixSeconds>,
    pub last_token_at: Option<UnixSeconds>,
    /// The first token obtained with the Settings Center's Test.
    pub first_tested_at: Option<UnixSeconds>,
    /// The first token obtained any other way (from 0009 on; earlier ones are unknown).
    pub first_integration_at: Option<UnixSeconds>,
}

/// What [`AuthorizationStore::rotate_refresh_token`] found. The store only reports; the
/// core decides what a replay costs (RFC 9700 §4.14.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotation {
    /// The old token is spent, the new one stored, the old access token revoked.
    Rotated,
    /// The old token had already been used; nothing was changed.
    Reused,
    /// The old token's set is revoked; nothing was changed.
    SetRevoked,
    /// No such refresh token.
    NotFound,
}

#[async_trait]
pub trait AuthorizationStore: Send + Sync {
    async fn upsert_consent(&self, consent: &Consent) -> StoreResult<()>;
    async fn list_consents(&self, user: &UserId, client: &ClientId) -> StoreResult<Vec<Consent>>;

    async fn insert_pushed_request(&self, request: &PushedRequest) -> StoreResult<()>;
    async fn find_pushed_request(&self, id_hash: &SecretHash)
        -> StoreResult<Option<PushedRequest>>;
    /// Marks the pushed request used, atomically: of concurrent calls, one gets `true`.
    async fn spend_pushed_request(
        &self,
        id_hash: &SecretHash,
        now: UnixSeconds,
    ) -> StoreResult<bool>;
    async fn prune_pushed_requests(&self, before: UnixSeconds) -> StoreResult<()>;

    /// Stores a device authorization; `false`, storing nothing, when another one holds the
    /// same user code (the caller draws a new one).
    async fn insert_device_authorization(&self, device: &DeviceAuthorization) -> StoreResult<bool>;
    async fn find_device_authorization(
        &self,
        device_code_hash: &SecretHash,
    ) -> StoreResult<Option<DeviceAuthorization>>;
    async fn find_device_authorization_by_user_code(
        &self,
        user_code_hash: &SecretHash,
    ) -> StoreResult<Option<DeviceAuthorization>>;
    /// Records the user's decision (`None`: denied) if the request is still pending and
    /// unexpired at `now`, atomically: of concurrent decisions, one gets `true`.
    async fn decide_device_authorization(
        &self,
        user_code_hash: &SecretHash,
        decision: Option<&DeviceApproval>,
        now: UnixSeconds,
    ) -> StoreResult<bool>;
    /// Records a poll at `now`, with the interval the device must keep from now on.
    async fn record_device_poll(
        &self,
        device_code_hash: &SecretHash,
        now: UnixSeconds,
        interval: i64,
    ) -> StoreResult<()>;
    /// Marks an approved request's token response issued if it is `client`'s and was not
    /// before, atomically: of concurrent calls, exactly one gets `true`.
    async fn spend_device_authorization(
        &self,
        device_code_hash: &SecretHash,
        client: &ClientId,
        now: UnixSeconds,
    ) -> StoreResult<bool>;
    async fn prune_device_authorizations(&self, before: UnixSeconds) -> StoreResult<()>;

    async fn insert_authorization_code(&self, code: &AuthorizationCode) -> StoreResult<()>;
    /// Marks the code used if it was issued to `client`, atomically: of any number of
    /// concurrent calls with one code, exactly one gets `Consumed`. Another client's code is
    /// `NotFound` and left as it was, so presenting it neither spends nor replays it.
    async fn consume_authorization_code(
        &self,
        code_hash: &SecretHash,
        client: &ClientId,
        now: UnixSeconds,
    ) -> StoreResult<CodeConsumption>;
    /// Deletes codes that expired before `before`, used or not. Until then a replayed
    /// code is still recognized, and revokes what it issued.
    async fn prune_authorization_codes(&self, before: UnixSeconds) -> StoreResult<()>;

    /// Stores a new token set with its first refresh token; `false`, storing nothing, when
    /// the set was revoked before it was created (see
    /// [`AuthorizationStore::revoke_token_set_of_code`]).
    async fn insert_token_set(&self, set: &TokenSet, first: &RefreshToken) -> StoreResult<bool>;
    async fn find_refresh_token(
        &self,
        token_hash: &SecretHash,
    ) -> StoreResult<Option<(RefreshToken, TokenSet)>>;
    /// Atomically spends `old` if it is unused and its set live, storing `new`, revoking
    /// `old`'s access token and keeping `retry` (the answer sealed for a retry of the same
    /// request) with `old`; otherwise changes nothing and reports what it found. Of
    /// concurrent calls with one `old`, exactly one gets `Rotated`.
    async fn rotate_refresh_token(
        &self,
        old: &RefreshToken,
        new: &RefreshToken,
        retry: Option<&[u8]>,
        now: UnixSeconds,
    ) -> StoreResult<Rotation>;
    /// The sealed answer kept with a spent refresh token by
    /// [`AuthorizationStore::rotate_refresh_token`], until
    /// [`AuthorizationStore::prune_refresh_retries`] clears it.
    async fn refresh_retry(&self, token_hash: &SecretHash) -> StoreResult<Option<Vec<u8>>>;
    /// Forgets the sealed answers of refresh tokens spent before `before`.
    async fn prune_refresh_retries(&self, before: UnixSeconds) -> StoreResult<()>;
    /// Deletes the refresh tokens spent before `spent_before`, and the token sets revoked
    /// before `revoked_before` with all their refresh tokens; answers how many refresh
    /// tokens went. A deleted token is unknown afterwards: presenting it is `invalid_grant`
    /// as before, but no longer revokes its set (the housekeeping's retention says why that
    /// is safe). The newest token of a live set is never spent, so it always stays.
    async fn prune_refresh_tokens(
        &self,
        spent_before: UnixSeconds,
        revoked_before: UnixSeconds,
    ) -> StoreResult<u64>;
    /// Revokes a token set (its refresh tokens and access tokens); records a `TokenSet`
    /// change. `false` when it was already revoked or does not exist.
    async fn revoke_token_set(&self, id: &TokenSetId, now: UnixSeconds) -> StoreResult<bool>;
    /// Revokes the token set a reused code's first exchange creates, even if that exchange
    /// has not stored it yet: a revoked set with that id is stored then, and the exchange's
    /// [`AuthorizationStore::insert_token_set`] finds it and stores nothing. Records a
    /// `TokenSet` change when it revoked something.
    async fn revoke_token_set_of_code(
        &self,
        code: &AuthorizationCode,
        now: UnixSeconds,
    ) -> StoreResult<()>;
    /// The applications a user authorized, one row per (application, API account), with
    /// the last time a token set of that authorization was refreshed or started.
    async fn list_authorizations(&self, user: &UserId) -> StoreResult<Vec<Authorization>>;
    /// Forgets the user's consents for the client and revokes every live token set of the
    /// pair (recording a `TokenSet` change for each); returns the revoked sets. With
    /// `account`, only that account's consent and token sets: the same application
    /// authorized for another account keeps working.
    async fn deauthorize(
        &self,
        user: &UserId,
        client: &ClientId,
        account: Option<&AccountId>,
        now: UnixSeconds,
    ) -> StoreResult<Vec<TokenSetId>>;
    /// Token sets revoked after `since` (their access tokens may still be unexpired).
    async fn list_revoked_token_sets(&self, since: UnixSeconds) -> StoreResult<Vec<TokenSetId>>;
}

/// Everything a server needs, as one object.
pub trait Store:
    AccountStore
    + ClientStore
    + KeyStore
    + RevocationStore
    + ChangeFeed
    + LeaseStore
    + BookStore
    + ScopeStore
    + LegacyStore
    + AuditStore
    + UserStore
    + SessionStore
    + AuthorizationStore
{
}

impl<T> Store for T where
    T: AccountStore
        + ClientStore
        + KeyStore
        + RevocationStore
        + ChangeFeed
        + LeaseStore
        + BookStore
        + ScopeStore
        + LegacyStore
        + AuditStore
        + UserStore
        + SessionStore
        + AuthorizationStore
{
}
