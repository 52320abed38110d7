//! The storage ports. The core talks to storage only through these traits; `tessera-store`
//! implements them for SQLite and PostgreSQL.
//!
//! Contract for every mutation that other processes must see (client status, secrets,
//! signing keys, revocations): the implementation records a [`Change`] in the same
//! transaction, so a server polling [`ChangeFeed`] can never observe the mutation without
//! its change, nor the change without the mutation.

use async_trait::async_trait;

use crate::domain::{
    Account, AccountId, Client, ClientId, ClientStatus, Kid, LegacyId, StoredSecret,
};
use crate::error::StoreError;
use crate::legacy::audit::AuditEvent;
use crate::legacy::report::LegacyReportRow;
use crate::legacy::usage::UsageDelta;
use crate::legacy::{Email, LegacyCredential, PasswordHash};
use crate::token::keys::StoredSigningKey;
use crate::UnixSeconds;

pub type StoreResult<T> = Result<T, StoreError>;

#[async_trait]
pub trait AccountStore: Send + Sync {
    async fn insert_account(&self, account: &Account) -> StoreResult<()>;
    async fn find_account(&self, id: &AccountId) -> StoreResult<Option<Account>>;
    async fn list_accounts(&self) -> StoreResult<Vec<Account>>;
}

#[async_trait]
pub trait ClientStore: Send + Sync {
    /// Inserts clients with their secrets, all or none.
    async fn insert_clients(&self, clients: &[Client]) -> StoreResult<()>;
    async fn find_client(&self, id: &ClientId) -> StoreResult<Option<Client>>;
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
}

#[async_trait]
pub trait KeyStore: Send + Sync {
    /// Inserts a signing key and records a `SigningKey` change.
    async fn insert_signing_key(&self, key: &StoredSigningKey, now: UnixSeconds)
        -> StoreResult<()>;
    /// Every stored key, oldest activation first.
    async fn list_signing_keys(&self) -> StoreResult<Vec<StoredSigningKey>>;
    /// Deletes keys whose public half left the JWKS; records a `SigningKey` change.
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
    /// Revocations whose token has not expired at `now`.
    async fn list_revoked_tokens(
        &self,
        now: UnixSeconds,
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
}

impl ChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Client => "client",
            Self::SigningKey => "signing_key",
            Self::RevokedToken => "revoked_token",
            Self::LegacyCredential => "legacy_credential",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "client" => Some(Self::Client),
            "signing_key" => Some(Self::SigningKey),
            "revoked_token" => Some(Self::RevokedToken),
            "legacy_credential" => Some(Self::LegacyCredential),
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
    /// Deletes changes created before `before`.
    async fn prune_changes(&self, before: UnixSeconds) -> StoreResult<()>;
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
    async fn list_books(&self, account: &AccountId) -> StoreResult<Vec<Book>>;
}

/// An entry of the scope catalog: a name and the plain words shown on the consent page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeEntry {
    pub name: String,
    pub description: String,
}

#[async_trait]
pub trait ScopeStore: Send + Sync {
    async fn list_scopes(&self) -> StoreResult<Vec<ScopeEntry>>;
    /// Inserts or updates the entry with this name.
    async fn upsert_scope(&self, scope: &ScopeEntry) -> StoreResult<()>;
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
    /// The credential with this email that is not removed (at most one exists).
    async fn find_legacy_credential(&self, email: &Email) -> StoreResult<Option<LegacyCredential>>;
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
    /// Sets the client's first-token instant if it has none; later calls change nothing.
    async fn record_first_token(&self, client: &ClientId, now: UnixSeconds) -> StoreResult<()>;
    /// When the client obtained its first token; `None`: never (or no such client).
    async fn find_first_token_at(&self, client: &ClientId) -> StoreResult<Option<UnixSeconds>>;
    /// Adds counted Basic requests to the hourly buckets and advances `last_used_at`.
    async fn add_legacy_usage(&self, deltas: &[UsageDelta]) -> StoreResult<()>;
    /// Deletes hourly buckets that started before `before`.
    async fn prune_legacy_usage(&self, before: UnixSeconds) -> StoreResult<()>;
    /// One row per credential with the Basic requests in buckets starting at or after
    /// `day_from` and `week_from`.
    async fn legacy_report(
        &self,
        day_from: UnixSeconds,
        week_from: UnixSeconds,
    ) -> StoreResult<Vec<LegacyReportRow>>;
}

#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Records an event that goes with no mutation (e.g. a refused removal).
    async fn insert_audit_event(&self, event: &AuditEvent) -> StoreResult<()>;
    /// The newest `limit` events, newest first; only the credential's when given.
    async fn list_audit_events(
        &self,
        credential: Option<&LegacyId>,
        limit: i64,
    ) -> StoreResult<Vec<AuditEvent>>;
}

/// Everything a server needs, as one object.
pub trait Store:
    AccountStore
    + ClientStore
    + KeyStore
    + RevocationStore
    + ChangeFeed
    + BookStore
    + ScopeStore
    + LegacyStore
    + AuditStore
{
}

impl<T> Store for T where
    T: AccountStore
        + ClientStore
        + KeyStore
        + RevocationStore
        + ChangeFeed
        + BookStore
        + ScopeStore
        + LegacyStore
        + AuditStore
{
}
