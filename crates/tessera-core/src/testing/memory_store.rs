//! An in-memory store for core's unit tests: the storage traits' contracts for what the
//! grants, consent rules and catalog actions use (clients, consents, codes, token sets,
//! refresh tokens, revoked access tokens, scopes), kept in maps under one lock, so each
//! "atomic" step is atomic.
//! Everything else answers an error: a test that reaches it needs it implemented first.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use parking_lot::Mutex;

use crate::audit::{AuditEvent, AuditQuery};
use crate::domain::{
    Account, AccountId, Client, ClientId, ClientKind, ClientStatus, ExternalId, Kid, LegacyId,
    SecretHash, StoredSecret, TokenSetId, User, UserId,
};
use crate::error::StoreError;

use crate::legacy::bearer_usage::{BearerUsageDelta, DailyUsage};
use crate::legacy::console::{LegacyTotals, ReportFilter, ReportPage, ReportSort};
use crate::legacy::report::ReportWindows;
use crate::legacy::usage::{LegacyReportRow, UsageDelta};
use crate::legacy::{Email, LegacyCredential, PasswordHash};
use crate::store::{
    AccountStore, AccountUpdate, AuditStore, Authorization, AuthorizationCode, AuthorizationStore,
    Book, BookStore, Change, ChangeFeed, ClientStore, CodeConsumption, Consent, DeviceApproval,
    DeviceAuthorization, DeviceStatus, KeyStore, LeaseStore, LegacyStore, Progress, PushedRequest,
    RefreshToken, RevocationStore, Rotation, ScopeEntry, ScopeStore, ScopeUsage, Session,
    SessionStore, StoreResult, TokenSet, TokenSource, TokenUse, UserStore,
};
use crate::token::keys::StoredSigningKey;
use crate::UnixSeconds;

fn absent<T>() -> StoreResult<T> {
    Err(StoreError::new("not implemented by the memory store"))
}

#[derive(Default)]
struct Tables {
    clients: HashMap<ClientId, Client>,
    consents: Vec<Consent>,
    /// Codes by hash, with when they were used.
    codes: HashMap<[u8; 32], (AuthorizationCode, Option<UnixSeconds>)>,
    pushed: HashMap<[u8; 32], PushedRequest>,
    /// Client assertion `jti`s by client, with their expiry.
    assertions: HashMap<(ClientId, String), UnixSeconds>,
    dpop_proofs: HashMap<[u8; 32], UnixSeconds>,
    devices: Vec<DeviceAuthorization>,
    sets: HashMap<TokenSetId, TokenSet>,
    refresh: HashMap<[u8; 32], RefreshToken>,
    /// Sealed retry answers by the spent token's hash.
    refresh_retries: HashMap<[u8; 32], Vec<u8>>,
    revoked_tokens: HashMap<String, UnixSeconds>,
    token_uses: Vec<(ClientId, TokenSource, UnixSeconds)>,
    scopes: Vec<ScopeEntry>,
    audit: Vec<AuditEvent>,
    accounts: Vec<Account>,
    keys: Vec<StoredSigningKey>,
    users: Vec<User>,
}

#[derive(Default)]
pub struct MemoryStore {
    tables: Mutex<Tables>,
    /// Makes the next rotation lose a race: another refresh spends the token first.
    pub lose_next_rotation: AtomicBool,
}

impl MemoryStore {
    pub fn consents(&self) -> Vec<Consent> {
        self.tables.lock().consents.clone()
    }

    pub fn token_set(&self, id: &TokenSetId) -> Option<TokenSet> {
        self.tables.lock().sets.get(id).cloned()
    }

    pub fn code(&self, hash: &SecretHash) -> Option<(AuthorizationCode, Option<UnixSeconds>)> {
        self.tables.lock().codes.get(&hash.0).cloned()
    }

    pub fn refresh_token(&self, hash: &SecretHash) -> Option<RefreshToken> {
        self.tables.lock().refresh.get(&hash.0).cloned()
    }

    pub fn is_token_revoked(&self, jti: &str) -> bool {
        self.tables.lock().revoked_tokens.contains_key(jti)
    }

    pub fn signing_keys(&self) -> Vec<StoredSigningKey> {
        self.tables.lock().keys.clone()
    }

    pub fn audit_events(&self) -> Vec<AuditEvent> {
        self.tables.lock().audit.clone()
    }

    pub fn token_sets(&self) -> Vec<TokenSet> {
        self.tables.lock().sets.values().cloned().collect()
    }
}

#[async_trait]
impl ClientStore for MemoryStore {
    async fn record_client_assertion(
        &self,
        client: &ClientId,
        jti: &str,
        expires_at: UnixSeconds,
    ) -> StoreResult<bool> {
        let mut t = self.tables.lock();
        let key = (client.clone(), jti.to_owned());
        Ok(t.assertions.insert(key, expires_at).is_none())
    }

    async fn record_dpop_proof(
        &self,
        proof_hash: &SecretHash,
        expires_at: UnixSeconds,
    ) -> StoreResult<bool> {
        let mut t = self.tables.lock();
        Ok(t.dpop_proofs.insert(proof_hash.0, expires_at).is_none())
    }

    async fn prune_dpop_proofs(&self, before: UnixSeconds) -> StoreResult<()> {
        self.tables
            .lock()
            .dpop_proofs
            .retain(|_, exp| *exp >= before);
        Ok(())
    }

    async fn prune_client_assertions(&self, before: UnixSeconds) -> StoreResult<()> {
        self.tables
            .lock()
            .assertions
            .retain(|_, exp| *exp >= before);
        Ok(())
    }

    async fn insert_clients(&self, clients: &[Client]) -> StoreResult<()> {
        let mut t = self.tables.lock();
        for c in clients {
            t.clients.insert(c.id.clone(), c.clone());
        }
        Ok(())
    }
    async fn find_client(&self, id: &ClientId) -> StoreResult<Option<Client>> {
        Ok(self.tables.lock().clients.get(id).cloned())
    }
    async fn list_clients(&self, _: Option<&AccountId>) -> StoreResult<Vec<Client>> {
        absent()
    }
    async fn update_client_status(
        &self,
        _: &ClientId,
        _: ClientStatus,
        _: UnixSeconds,
    ) -> StoreResult<bool> {
        absent()
    }
    async fn insert_client_secret(
        &self,
        _: &ClientId,
        _: &StoredSecret,
        _: Option<UnixSeconds>,
        _: UnixSeconds,
    ) -> StoreResult<bool> {
        absent()
    }
    async fn update_client_approved(
        &self,
        _: &ClientId,
        _: bool,
        _: UnixSeconds,
    ) -> StoreResult<bool> {
        absent()
    }
    async fn update_client_require_pkce(
        &self,
        _: &ClientId,
        _: bool,
        _: UnixSeconds,
    ) -> StoreResult<bool> {
        absent()
    }
    async fn expire_older_client_secrets(&self, _: &ClientId, _: UnixSeconds) -> StoreResult<bool> {
        absent()
    }
}

#[async_trait]
impl AuthorizationStore for MemoryStore {
    async fn upsert_consent(&self, consent: &Consent) -> StoreResult<()> {
        let mut t = self.tables.lock();
        t.consents.retain(|c| {
            (&c.user_id, &c.client_id, &c.account_id)
                != (&consent.user_id, &consent.client_id, &consent.account_id)
        });
        t.consents.push(consent.clone());
        Ok(())
    }

    async fn list_consents(&self, user: &UserId, client: &ClientId) -> StoreResult<Vec<Consent>> {
        Ok(self
            .tables
            .lock()
            .consents
            .iter()
            .filter(|c| &c.user_id == user && &c.client_id == client)
            .cloned()
            .collect())
    }

    async fn insert_device_authorization(&self, d: &DeviceAuthorization) -> StoreResult<bool> {
        let mut t = self.tables.lock();
        let taken = t.devices.iter().any(|o| {
            o.user_code_hash == d.user_code_hash || o.device_code_hash == d.device_code_hash
        });
        if !taken {
            t.devices.push(d.clone());
        }
        Ok(!taken)
    }

    async fn find_device_authorization(
        &self,
        hash: &SecretHash,
    ) -> StoreResult<Option<DeviceAuthorization>> {
        let t = self.tables.lock();
        Ok(t.devices
            .iter()
            .find(|d| d.device_code_hash == *hash)
            .cloned())
    }

    async fn find_device_authorization_by_user_code(
        &self,
        hash: &SecretHash,
    ) -> StoreResult<Option<DeviceAuthorization>> {
        let t = self.tables.lock();
        Ok(t.devices
            .iter()
            .find(|d| d.user_code_hash == *hash)
            .cloned())
    }

    async fn decide_device_authorization(
        &self,
        hash: &SecretHash,
        decision: Option<&DeviceApproval>,
        now: UnixSeconds,
    ) -> StoreResult<bool> {
        let mut t = self.tables.lock();
        let found = t.devices.iter_mut().find(|d| {
            d.user_code_hash == *hash && d.status == DeviceStatus::Pending && d.expires_at > now
        });
        Ok(match found {
            Some(d) => {
                d.status = match decision {
                    Some(a) => DeviceStatus::Approved(a.clone()),
                    None => DeviceStatus::Denied,
                };
                true
            }
            None => false,
        })
    }

    async fn record_device_poll(
        &self,
        hash: &SecretHash,
        now: UnixSeconds,
        interval: i64,
    ) -> StoreResult<()> {
        let mut t = self.tables.lock();
        if let Some(d) = t.devices.iter_mut().find(|d| d.device_code_hash == *hash) {
            d.last_polled_at = Some(now);
            d.interval = interval;
        }
        Ok(())
    }

    async fn spend_device_authorization(
        &self,
        hash: &SecretHash,
        client: &ClientId,
        now: UnixSeconds,
    ) -> StoreResult<bool> {
        let mut t = self.tables.lock();
        let found = t.devices.iter_mut().find(|d| {
            d.device_code_hash == *hash
                && d.client_id == *client
                && matches!(d.status, DeviceStatus::Approved(_))
                && d.used_at.is_none()
        });
        Ok(match found {
            Some(d) => {
                d.used_at = Some(now);
                true
            }
            None => false,
        })
    }

    async fn prune_device_authorizations(&self, before: UnixSeconds) -> StoreResult<()> {
        self.tables
            .lock()
            .devices
            .retain(|d| d.expires_at >= before);
        Ok(())
    }

    async fn insert_pushed_request(&self, request: &PushedRequest) -> StoreResult<()> {
        let mut t = self.tables.lock();
        t.pushed.insert(request.id_hash.0, request.clone());
        Ok(())
    }

    async fn find_pushed_request(&self, id: &SecretHash) -> StoreResult<Option<PushedRequest>> {
        Ok(self.tables.lock().pushed.get(&id.0).cloned())
    }

    async fn spend_pushed_request(&self, id: &SecretHash, now: UnixSeconds) -> StoreResult<bool> {
        let mut t = self.tables.lock();
        Ok(match t.pushed.get_mut(&id.0) {
            Some(p) if p.used_at.is_none() => {
                p.used_at = Some(now);
                true
            }
            _ => false,
        })
    }

    async fn prune_pushed_requests(&self, before: UnixSeconds) -> StoreResult<()> {
        self.tables
            .lock()
            .pushed
            .retain(|_, p| p.expires_at >= before);
        Ok(())
    }

    async fn insert_authorization_code(&self, code: &AuthorizationCode) -> StoreResult<()> {
        self.tables
            .lock()
            .codes
            .insert(code.code_hash.0, (code.clone(), None));
        Ok(())
    }

    async fn prune_authorization_codes(&self, before: UnixSeconds) -> StoreResult<()> {
        self.tables
            .lock()
            .codes
            .retain(|_, (code, _)| code.expires_at >= before);
        Ok(())
    }

    async fn consume_authorization_code(
        &self,
        code_hash: &SecretHash,
        client: &ClientId,
        now: UnixSeconds,
    ) -> StoreResult<CodeConsumption> {
        let mut t = self.tables.lock();
        Ok(match t.codes.get_mut(&code_hash.0) {
            Some((code, used)) if &code.client_id == client => match used {
                Some(_) => CodeConsumption::AlreadyUsed(code.clone()),
                None => {
                    *used = Some(now);
                    CodeConsumption::Consumed(code.clone())
                }
            },
            _ => CodeConsumption::NotFound,
        })
    }

    async fn insert_token_set(&self, set: &TokenSet, first: &RefreshToken) -> StoreResult<bool> {
        let mut t = self.tables.lock();
        if t.sets.contains_key(&set.id) {
            return Ok(false);
        }
        t.sets.insert(set.id.clone(), set.clone());
        t.refresh.insert(first.token_hash.0, first.clone());
        Ok(true)
    }

    async fn find_refresh_token(
        &self,
        token_hash: &SecretHash,
    ) -> StoreResult<Option<(RefreshToken, TokenSet)>> {
        let t = self.tables.lock();
        Ok(t.refresh
            .get(&token_hash.0)
            .and_then(|r| t.sets.get(&r.token_set_id).map(|s| (r.clone(), s.clone()))))
    }

    async fn rotate_refresh_token(
        &self,
        old: &RefreshToken,
        new: &RefreshToken,
        retry: Option<&[u8]>,
        now: UnixSeconds,
    ) -> StoreResult<Rotation> {
        let mut t = self.tables.lock();
        if self.lose_next_rotation.swap(false, Ordering::SeqCst) {
            if let Some(r) = t.refresh.get_mut(&old.token_hash.0) {
                r.used_at = Some(now);
            }
        }
        let Some(stored) = t.refresh.get(&old.token_hash.0).cloned() else {
            return Ok(Rotation::NotFound);
        };
        if stored.used_at.is_some() {
            return Ok(Rotation::Reused);
        }
        let live = t
            .sets
            .get(&stored.token_set_id)
            .is_some_and(|s| s.revoked_at.is_none());
        if !live {
            return Ok(Rotation::SetRevoked);
        }
        if let Some(r) = t.refresh.get_mut(&old.token_hash.0) {
            r.used_at = Some(now);
        }
        t.refresh.insert(new.token_hash.0, new.clone());
        if let Some(sealed) = retry {
            t.refresh_retries.insert(old.token_hash.0, sealed.to_vec());
        }
        t.revoked_tokens
            .insert(old.access_jti.clone(), old.access_expires_at);
        Ok(Rotation::Rotated)
    }

    async fn refresh_retry(&self, token_hash: &SecretHash) -> StoreResult<Option<Vec<u8>>> {
        Ok(self
            .tables
            .lock()
            .refresh_retries
            .get(&token_hash.0)
            .cloned())
    }

    async fn prune_refresh_retries(&self, before: UnixSeconds) -> StoreResult<()> {
        let mut t = self.tables.lock();
        let Tables {
            refresh,
            refresh_retries,
            ..
        } = &mut *t;
        refresh_retries.retain(|hash, _| {
            refresh
                .get(hash)
                .and_then(|r| r.used_at)
                .is_some_and(|used| used >= before)
        });
        Ok(())
    }

    async fn prune_refresh_tokens(
        &self,
        spent_before: UnixSeconds,
        revoked_before: UnixSeconds,
    ) -> StoreResult<u64> {
        let mut t = self.tables.lock();
        let Tables { sets, refresh, .. } = &mut *t;
        sets.retain(|_, s| s.revoked_at.is_none_or(|at| at >= revoked_before));
        let before = refresh.len();
        refresh.retain(|_, r| {
            sets.contains_key(&r.token_set_id) && r.used_at.is_none_or(|at| at >= spent_before)
        });
        Ok((before - refresh.len()) as u64)
    }

    async fn revoke_token_set(&self, id: &TokenSetId, now: UnixSeconds) -> StoreResult<bool> {
        let mut t = self.tables.lock();
        Ok(match t.sets.get_mut(id) {
            Some(s) if s.revoked_at.is_none() => {
                s.revoked_at = Some(now);
                true
            }
            _ => false,
        })
    }

    async fn revoke_token_set_of_code(
        &self,
        code: &AuthorizationCode,
        now: UnixSeconds,
    ) -> StoreResult<()> {
        let mut t = self.tables.lock();
        let set = t
            .sets
            .entry(code.token_set_id.clone())
            .or_insert_with(|| TokenSet {
                id: code.token_set_id.clone(),
                client_id: code.client_id.clone(),
                user_id: code.user_id.clone(),
                account_id: code.account_id.clone(),
                scopes: code.scopes.clone(),
                auth_time: code.auth_time,
                dpop_jkt: None,
                created_at: now,
                revoked_at: None,
            });
        set.revoked_at.get_or_insert(now);
        Ok(())
    }

    async fn list_authorizations(&self, _: &UserId) -> StoreResult<Vec<Authorization>> {
        absent()
    }
    async fn deauthorize(
        &self,
        _: &UserId,
        _: &ClientId,
        _: Option<&AccountId>,
        _: UnixSeconds,
    ) -> StoreResult<Vec<TokenSetId>> {
        absent()
    }
    async fn list_revoked_token_sets(&self, _: UnixSeconds) -> StoreResult<Vec<TokenSetId>> {
        absent()
    }
}

#[async_trait]
impl RevocationStore for MemoryStore {
    async fn insert_revoked_token(
        &self,
        jti: &str,
        expires_at: UnixSeconds,
        _: UnixSeconds,
    ) -> StoreResult<()> {
        self.tables
            .lock()
            .revoked_tokens
            .insert(jti.to_owned(), expires_at);
        Ok(())
    }
    async fn prune_revoked_tokens(&self, _: UnixSeconds) -> StoreResult<()> {
        absent()
    }
    async fn list_revoked_tokens(&self, _: UnixSeconds) -> StoreResult<Vec<(String, UnixSeconds)>> {
        absent()
    }
    async fn revoked_token_expiries(
        &self,
        jtis: &[String],
    ) -> StoreResult<Vec<(String, UnixSeconds)>> {
        let t = self.tables.lock();
        Ok(jtis
            .iter()
            .filter_map(|jti| t.revoked_tokens.get(jti).map(|exp| (jti.clone(), *exp)))
            .collect())
    }
}

#[async_trait]
impl LegacyStore for MemoryStore {
    async fn import_legacy_credentials(
        &self,
        _: &[(LegacyCredential, AuditEvent)],
        _: &[(LegacyId, PasswordHash, AuditEvent)],
        _: Progress<'_>,
    ) -> StoreResult<()> {
        absent()
    }
    async fn find_legacy_credentials(&self, _: &[Email]) -> StoreResult<Vec<LegacyCredential>> {
        absent()
    }
    async fn insert_legacy_credential(
        &self,
        _: &LegacyCredential,
        _: &AuditEvent,
    ) -> StoreResult<()> {
        absent()
    }
    async fn find_legacy_credential(&self, _: &Email) -> StoreResult<Option<LegacyCredential>> {
        absent()
    }
    async fn list_legacy_credentials(
        &self,
        _: Option<&AccountId>,
    ) -> StoreResult<Vec<LegacyCredential>> {
        absent()
    }
    async fn update_legacy_password(
        &self,
        _: &LegacyId,
        _: &PasswordHash,
        _: &AuditEvent,
    ) -> StoreResult<bool> {
        absent()
    }
    async fn mark_legacy_migrated(
        &self,
        _: &LegacyId,
        _: &ClientId,
        _: Option<&ClientId>,
        _: &AuditEvent,
    ) -> StoreResult<bool> {
        absent()
    }
    async fn mark_legacy_removed(&self, _: &LegacyId, _: &AuditEvent) -> StoreResult<bool> {
        absent()
    }
    async fn record_token_use(
        &self,
        client: &ClientId,
        source: TokenSource,
        now: UnixSeconds,
    ) -> StoreResult<()> {
        self.tables
            .lock()
            .token_uses
            .push((client.clone(), source, now));
        Ok(())
    }
    async fn find_token_use(&self, client: &ClientId) -> StoreResult<Option<TokenUse>> {
        let tables = self.tables.lock();
        let uses: Vec<_> = tables
            .token_uses
            .iter()
            .filter(|(c, _, _)| c == client)
            .collect();
        let first = |of: Option<TokenSource>| {
            uses.iter()
                .filter(|(_, s, _)| of.is_none_or(|o| o == *s))
                .map(|(_, _, at)| *at)
                .min()
        };
        Ok(Some(TokenUse {
            first_token_at: first(None),
            last_token_at: uses.iter().map(|(_, _, at)| *at).max(),
            first_tested_at: first(Some(TokenSource::SettingsTest)),
            first_integration_at: first(Some(TokenSource::Integration)),
        }))
    }
    async fn find_last_token_at(&self, _: &ClientId) -> StoreResult<Option<UnixSeconds>> {
        absent()
    }
    async fn find_first_token_at(&self, _: &ClientId) -> StoreResult<Option<UnixSeconds>> {
        absent()
    }
    async fn add_legacy_usage(&self, _: &[UsageDelta]) -> StoreResult<()> {
        absent()
    }
    async fn prune_legacy_usage(&self, _: UnixSeconds) -> StoreResult<()> {
        absent()
    }
    async fn refresh_legacy_traffic(&self, _: UnixSeconds) -> StoreResult<()> {
        absent()
    }
    async fn count_legacy_requests(&self, _: &LegacyId, _: UnixSeconds) -> StoreResult<i64> {
        absent()
    }
    async fn find_legacy_report(
        &self,
        _: &ReportFilter,
        _: ReportSort,
        _: Option<ReportPage>,
        _: ReportWindows,
    ) -> StoreResult<Vec<LegacyReportRow>> {
        absent()
    }
    async fn count_legacy_report(&self, _: &ReportFilter) -> StoreResult<u64> {
        absent()
    }
    async fn legacy_totals(&self, _: UnixSeconds, _: UnixSeconds) -> StoreResult<LegacyTotals> {
        absent()
    }
    async fn add_bearer_usage(&self, _: &[BearerUsageDelta]) -> StoreResult<()> {
        absent()
    }
    async fn daily_usage(&self, _: UnixSeconds) -> StoreResult<Vec<DailyUsage>> {
        absent()
    }
    async fn prune_daily_usage(&self, _: UnixSeconds) -> StoreResult<()> {
        absent()
    }
}

#[async_trait]
impl AccountStore for MemoryStore {
    async fn insert_account(&self, account: &Account) -> StoreResult<bool> {
        let mut t = self.tables.lock();
        let taken = t.accounts.iter().any(|a| {
            a.id == account.id || (a.external_id.is_some() && a.external_id == account.external_id)
        });
        if !taken {
            t.accounts.push(account.clone());
        }
        Ok(!taken)
    }
    async fn find_account(&self, id: &AccountId) -> StoreResult<Option<Account>> {
        Ok(self
            .tables
            .lock()
            .accounts
            .iter()
            .find(|a| &a.id == id)
            .cloned())
    }
    async fn find_account_by_external_id(&self, ext: &ExternalId) -> StoreResult<Option<Account>> {
        let t = self.tables.lock();
        Ok(t.accounts
            .iter()
            .find(|a| a.external_id.as_ref() == Some(ext))
            .cloned())
    }
    async fn find_accounts(&self, ids: &[AccountId]) -> StoreResult<Vec<Account>> {
        let t = self.tables.lock();
        Ok(t.accounts
            .iter()
            .filter(|a| ids.contains(&a.id))
            .cloned()
            .collect())
    }
    async fn find_accounts_by_external_ids(&self, ids: &[ExternalId]) -> StoreResult<Vec<Account>> {
        let t = self.tables.lock();
        Ok(t.accounts
            .iter()
            .filter(|a| a.external_id.as_ref().is_some_and(|e| ids.contains(e)))
            .cloned()
            .collect())
    }
    async fn list_accounts(&self) -> StoreResult<Vec<Account>> {
        Ok(self.tables.lock().accounts.clone())
    }
    async fn update_account(
        &self,
        account: &Account,
        _: UnixSeconds,
    ) -> StoreResult<AccountUpdate> {
        let mut t = self.tables.lock();
        if account.external_id.is_some()
            && t.accounts
                .iter()
                .any(|a| a.id != account.id && a.external_id == account.external_id)
        {
            return Ok(AccountUpdate::ExternalIdTaken);
        }
        match t.accounts.iter_mut().find(|a| a.id == account.id) {
            Some(a) => {
                *a = account.clone();
                Ok(AccountUpdate::Updated)
            }
            None => Ok(AccountUpdate::NotFound),
        }
    }
    async fn import_accounts(
        &self,
        new: &[Account],
        updated: &[Account],
        _: UnixSeconds,
    ) -> StoreResult<bool> {
        let mut t = self.tables.lock();
        t.accounts.extend(new.iter().cloned());
        for u in updated {
            if let Some(a) = t.accounts.iter_mut().find(|a| a.id == u.id) {
                *a = u.clone();
            }
        }
        Ok(true)
    }
}

#[async_trait]
impl KeyStore for MemoryStore {
    async fn insert_signing_key(&self, key: &StoredSigningKey, _: UnixSeconds) -> StoreResult<()> {
        let mut t = self.tables.lock();
        t.keys.push(key.clone());
        t.keys.sort_by_key(|k| k.activates_at);
        Ok(())
    }
    async fn list_signing_keys(&self) -> StoreResult<Vec<StoredSigningKey>> {
        Ok(self.signing_keys())
    }
    async fn delete_signing_keys(&self, kids: &[Kid], _: UnixSeconds) -> StoreResult<()> {
        self.tables.lock().keys.retain(|k| !kids.contains(&k.kid));
        Ok(())
    }
}

#[async_trait]
impl LeaseStore for MemoryStore {
    async fn acquire_lease(
        &self,
        _: &str,
        _: &str,
        _: UnixSeconds,
        _: UnixSeconds,
    ) -> StoreResult<bool> {
        absent()
    }
    async fn release_lease(&self, _: &str, _: &str) -> StoreResult<()> {
        absent()
    }
}

#[async_trait]
impl ChangeFeed for MemoryStore {
    async fn list_changes_after(&self, _: i64, _: i64) -> StoreResult<Vec<Change>> {
        absent()
    }
    async fn latest_change_seq(&self) -> StoreResult<i64> {
        absent()
    }
    async fn oldest_change_seq(&self) -> StoreResult<i64> {
        absent()
    }
    async fn prune_changes(&self, _: UnixSeconds) -> StoreResult<()> {
        absent()
    }
}

#[async_trait]
impl BookStore for MemoryStore {
    async fn insert_book(&self, _: &Book) -> StoreResult<()> {
        absent()
    }
    async fn find_book(&self, _: &AccountId, _: &str) -> StoreResult<Option<Book>> {
        absent()
    }
    async fn list_books(&self, _: &AccountId) -> StoreResult<Vec<Book>> {
        absent()
    }
}

#[async_trait]
impl ScopeStore for MemoryStore {
    async fn list_scopes(&self) -> StoreResult<Vec<ScopeEntry>> {
        let mut list = self.tables.lock().scopes.clone();
        list.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(list)
    }
    async fn insert_scope(&self, scope: &ScopeEntry, _: UnixSeconds) -> StoreResult<bool> {
        let mut t = self.tables.lock();
        if t.scopes.iter().any(|s| s.name == scope.name) {
            return Ok(false);
        }
        t.scopes.push(scope.clone());
        Ok(true)
    }
    async fn update_scope(&self, scope: &ScopeEntry, _: UnixSeconds) -> StoreResult<bool> {
        let mut t = self.tables.lock();
        let Some(entry) = t.scopes.iter_mut().find(|s| s.name == scope.name) else {
            return Ok(false);
        };
        entry.description = scope.description.clone();
        Ok(true)
    }
    async fn delete_scope(&self, name: &str, _: UnixSeconds) -> StoreResult<bool> {
        let mut t = self.tables.lock();
        let before = t.scopes.len();
        t.scopes.retain(|s| s.name != name);
        Ok(t.scopes.len() < before)
    }
    async fn find_scope_usage(&self, name: &str) -> StoreResult<ScopeUsage> {
        let t = self.tables.lock();
        let live = |id: &ClientId| {
            t.clients
                .get(id)
                .is_some_and(|c| c.status != ClientStatus::Revoked)
        };
        let mut using: Vec<&Client> = t
            .clients
            .values()
            .filter(|c| live(&c.id) && c.scopes.contains(name))
            .collect();
        using.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        let of_kind = |kind: ClientKind| {
            using
                .iter()
                .filter(|c| c.kind == kind)
                .map(|c| c.id.clone())
                .collect()
        };
        let consents: Vec<&Consent> = t
            .consents
            .iter()
            .filter(|c| live(&c.client_id) && c.scopes.contains(name))
            .collect();
        let users: std::collections::HashSet<&UserId> =
            consents.iter().map(|c| &c.user_id).collect();
        Ok(ScopeUsage {
            clients: of_kind(ClientKind::Credential),
            applications: of_kind(ClientKind::Application),
            consents: consents.len() as i64,
            consent_users: users.len() as i64,
        })
    }
}

#[async_trait]
impl AuditStore for MemoryStore {
    async fn insert_audit_event(&self, event: &AuditEvent) -> StoreResult<()> {
        self.tables.lock().audit.push(event.clone());
        Ok(())
    }
    async fn list_audit_events(&self, query: &AuditQuery) -> StoreResult<Vec<AuditEvent>> {
        let tables = self.tables.lock();
        Ok(tables
            .audit
            .iter()
            .rev()
            .filter(|e| query.since.is_none_or(|s| e.at >= s))
            .skip(query.skip.max(0) as usize)
            .take(query.limit.clamp(1, 10_000) as usize)
            .cloned()
            .collect())
    }
}

#[async_trait]
impl UserStore for MemoryStore {
    async fn insert_user(&self, user: &User) -> StoreResult<bool> {
        let mut t = self.tables.lock();
        if t.users.iter().any(|u| u.email == user.email) {
            return Ok(false);
        }
        t.users.push(user.clone());
        Ok(true)
    }
    async fn find_user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        let t = self.tables.lock();
        Ok(t.users.iter().find(|u| u.email == email).cloned())
    }
    async fn find_user(&self, id: &UserId) -> StoreResult<Option<User>> {
        let t = self.tables.lock();
        Ok(t.users.iter().find(|u| u.id == *id).cloned())
    }
    async fn list_users(&self) -> StoreResult<Vec<User>> {
        let mut users = self.tables.lock().users.clone();
        users.sort_by(|a, b| a.email.cmp(&b.email));
        Ok(users)
    }
    /// The memory store keeps no sessions, codes or token sets of users: only the user changes.
    async fn set_user_disabled(
        &self,
        id: &UserId,
        disabled_at: Option<UnixSeconds>,
    ) -> StoreResult<Option<Vec<TokenSetId>>> {
        let mut t = self.tables.lock();
        let Some(user) = t.users.iter_mut().find(|u| u.id == *id) else {
            return Ok(None);
        };
        user.disabled_at = disabled_at;
        // As the SQL stores do, but for sessions and device approvals, which this store
        // does not follow per user: spend the codes, revoke the live sets.
        let Some(now) = disabled_at else {
            return Ok(Some(Vec::new()));
        };
        for (code, used) in t.codes.values_mut() {
            if code.user_id == *id && used.is_none() {
                *used = Some(now);
            }
        }
        let mut revoked = Vec::new();
        for set in t.sets.values_mut() {
            if set.user_id == *id && set.revoked_at.is_none() {
                set.revoked_at = Some(now);
                revoked.push(set.id.clone());
            }
        }
        Ok(Some(revoked))
    }
    /// The memory store keeps no sessions; only the hash changes.
    async fn set_user_password(&self, id: &UserId, password_hash: &str) -> StoreResult<bool> {
        let mut t = self.tables.lock();
        let Some(user) = t.users.iter_mut().find(|u| u.id == *id) else {
            return Ok(false);
        };
        user.password_hash = password_hash.to_owned();
        Ok(true)
    }
}

#[async_trait]
impl SessionStore for MemoryStore {
    async fn insert_session(&self, _: &Session) -> StoreResult<()> {
        absent()
    }
    async fn find_session(&self, _: &SecretHash) -> StoreResult<Option<Session>> {
        absent()
    }
    async fn touch_session(&self, _: &SecretHash, _: UnixSeconds) -> StoreResult<()> {
        absent()
    }
    async fn delete_session(&self, _: &SecretHash) -> StoreResult<()> {
        absent()
    }
    async fn prune_sessions(&self, _: UnixSeconds, _: UnixSeconds) -> StoreResult<()> {
        absent()
    }
}
