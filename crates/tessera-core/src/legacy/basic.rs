//! Authenticating a request that uses HTTP Basic (RFC 7617) with a legacy credential.
//!
//! Order matters: the sunset first (after it, nothing about the credential is looked at),
//! then the caller's own limits, counting the attempt (a limited caller costs no argon2 and
//! learns nothing, not even from the cache), then the verification cache (a cached success
//! passes the credential's ceiling, so guesses from elsewhere cannot lock it out), then the
//! credential's ceiling, and only then the store and argon2id.

use std::net::IpAddr;

use async_trait::async_trait;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use super::cache::{LegacyIdentity, VerificationCache};
use super::credential::{Email, LegacyState};
use super::limiter::FailureLimiter;
use super::sunset::{SunsetDecision, SunsetPolicy};
use super::upgrade::upgrade_imported_hash;
use super::usage::UsageCounter;
use crate::domain::password::{Password, PasswordHash};
use crate::error::StoreError;
use crate::runtime::rate_limit::RetryAfter;
use crate::store::LegacyStore;
use crate::UnixSeconds;

/// Runs argon2id verification somewhere it may block (the HTTP layer: `spawn_blocking`).
#[async_trait]
pub trait PasswordVerifier: Send + Sync {
    async fn verify(&self, hash: PasswordHash, password: Password) -> bool;
    /// An argon2id hash of `password` with the configured cost, to replace an imported
    /// hash (see `upgrade`); `None` if hashing failed.
    async fn rehash(&self, password: Password) -> Option<PasswordHash>;
}

#[derive(Debug, thiserror::Error)]
pub enum BasicError {
    #[error("the Authorization header must be `Basic base64(email:password)`")]
    Malformed,
    #[error("HTTP Basic authentication has ended")]
    Ended { at: UnixSeconds },
    #[error("HTTP Basic authentication is switched off for a while (brownout)")]
    Brownout { until: UnixSeconds },
    #[error("too many failed attempts")]
    Limited { retry_after: i64 },
    #[error("the email or password is wrong")]
    Invalid,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The in-memory state Basic authentication shares across requests.
pub struct BasicContext<'a> {
    pub sunset: &'a SunsetPolicy,
    pub cache: &'a VerificationCache,
    pub limiter: &'a FailureLimiter,
    pub usage: &'a UsageCounter,
    /// Verified when the email is unknown, so a miss takes as long as a wrong password
    /// and response timing does not tell which emails exist.
    pub dummy_hash: &'a PasswordHash,
}

/// `base64(user-id ":" password)` after the scheme (RFC 7617 §2); the password may
/// contain `:`, the user-id may not.
pub fn parse_basic(credentials: &str) -> Result<(Email, Password), BasicError> {
    let decoded = STANDARD
        .decode(credentials.trim())
        .map_err(|_| BasicError::Malformed)?;
    let text = String::from_utf8(decoded).map_err(|_| BasicError::Malformed)?;
    let (user, password) = text.split_once(':').ok_or(BasicError::Malformed)?;
    // An unparseable email can match no credential: same answer as a wrong password.
    let email = Email::parse(user).ok_or(BasicError::Invalid)?;
    Ok((email, Password::from_request(password.to_owned())))
}

/// The identity of the credential in `credentials` (the part after `Basic `).
pub async fn authenticate_basic(
    credentials: &str,
    ctx: &BasicContext<'_>,
    store: &dyn LegacyStore,
    verifier: &dyn PasswordVerifier,
    peer: Option<IpAddr>,
    now_ms: i64,
) -> Result<LegacyIdentity, BasicError> {
    let now = now_ms.div_euclid(1000);
    match ctx.sunset.decide(now) {
        SunsetDecision::Accepted => {}
        SunsetDecision::Brownout { until } => return Err(BasicError::Brownout { until }),
        SunsetDecision::Ended { at } => return Err(BasicError::Ended { at }),
    }
    let (email, password) = match parse_basic(credentials) {
        Ok(parsed) => parsed,
        Err(e) => {
            ctx.limiter.fail_address(peer, now_ms);
            return Err(e);
        }
    };
    let limited = |RetryAfter(retry_after)| BasicError::Limited { retry_after };
    let key = ctx.cache.key_of(&email, &password);
    let (attempt, _flight) = loop {
        let attempt = ctx
            .limiter
            .begin(email.as_str(), peer, now_ms)
            .map_err(limited)?;
        if let Some(identity) = ctx.cache.get(&key, now_ms) {
            ctx.limiter.succeed(attempt, false);
            ctx.usage.record(&identity.credential_id, now);
            return Ok(identity);
        }
        match ctx.cache.start_verifying(key) {
            Ok(flight) => break (attempt, flight),
            // The same credentials are being verified: wait for that answer without
            // holding an attempt (a burst of an integration's requests after its cache
            // entry expired must not spend its budget), then ask again.
            Err(in_flight) => {
                ctx.limiter.release(attempt);
                in_flight.await;
            }
        }
    };
    ctx.limiter
        .before_verifying(&attempt, now_ms)
        .map_err(limited)?;
    let read_at = ctx.cache.generation();
    let found = store
        .find_legacy_credential(&email)
        .await?
        .filter(|c| c.state != LegacyState::Removed);
    let (hash, credential) = match found {
        Some(c) => match c.password_hash.clone() {
            Some(h) => (h, Some(c)),
            None => (ctx.dummy_hash.clone(), None),
        },
        None => (ctx.dummy_hash.clone(), None),
    };
    // An imported hash is replaced after its first success: keep the password for that.
    let upgrade_with = hash.needs_upgrade().then(|| password.clone());
    let matched = verifier.verify(hash, password).await;
    // A failure keeps its attempt counted.
    let Some(credential) = credential.filter(|_| matched) else {
        return Err(BasicError::Invalid);
    };
    ctx.limiter.succeed(attempt, true);
    if let Some(password) = upgrade_with {
        upgrade_imported_hash(store, verifier, &credential, password, now).await;
    }
    let identity = LegacyIdentity {
        credential_id: credential.id,
        account_id: credential.account_id,
        created_at: credential.created_at,
    };
    ctx.cache.insert(key, identity.clone(), read_at, now_ms);
    ctx.usage.record(&identity.credential_id, now);
    Ok(identity)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::audit::{AuditAction, AuditEvent};
    use crate::domain::password::{hash_password, verify_password, PasswordPolicy};
    use crate::domain::{AccountId, ClientId, LegacyId};
    use crate::legacy::bearer_usage::{BearerUsageDelta, DailyUsage};
    use crate::legacy::cache::VerificationCache;
    use crate::legacy::console::{LegacyTotals, ReportFilter, ReportPage, ReportSort};
    use crate::legacy::limiter::LimitPolicy;
    use crate::legacy::report::ReportWindows;
    use crate::legacy::usage::{LegacyReportRow, UsageDelta};
    use crate::legacy::LegacyCredential;
    use crate::store::{Progress, StoreResult};
    use crate::testing::block_on;

    const CHEAP: PasswordPolicy = PasswordPolicy {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    };

    /// One credential; records hash replacements and serves the latest hash.
    struct OneCredential(
        LegacyCredential,
        AtomicUsize,
        parking_lot::Mutex<Vec<(PasswordHash, AuditEvent)>>,
    );

    impl OneCredential {
        fn new(credential: LegacyCredential) -> Self {
            Self(credential, AtomicUsize::new(0), Default::default())
        }
    }

    #[async_trait]
    impl LegacyStore for OneCredential {
        async fn import_legacy_credentials(
            &self,
            _: &[(LegacyCredential, AuditEvent)],
            _: &[(LegacyId, PasswordHash, AuditEvent)],
            _: Progress<'_>,
        ) -> StoreResult<()> {
            unimplemented!()
        }
        async fn find_legacy_credentials(&self, _: &[Email]) -> StoreResult<Vec<LegacyCredential>> {
            unimplemented!()
        }
        async fn insert_legacy_credential(
            &self,
            _: &LegacyCredential,
            _: &AuditEvent,
        ) -> StoreResult<()> {
            unimplemented!()
        }
        async fn find_legacy_credential(
            &self,
            email: &Email,
        ) -> StoreResult<Option<LegacyCredential>> {
            self.1.fetch_add(1, Ordering::SeqCst);
            let mut found = self.0.clone();
            if let Some((hash, _)) = self.2.lock().last() {
                found.password_hash = Some(hash.clone());
            }
            Ok((*email == self.0.email).then_some(found))
        }
        async fn list_legacy_credentials(
            &self,
            _: Option<&AccountId>,
        ) -> StoreResult<Vec<LegacyCredential>> {
            unimplemented!()
        }
        async fn update_legacy_password(
            &self,
            _: &LegacyId,
            hash: &PasswordHash,
            audit: &AuditEvent,
        ) -> StoreResult<bool> {
            self.2.lock().push((hash.clone(), audit.clone()));
            Ok(true)
        }
        async fn mark_legacy_migrated(
            &self,
            _: &LegacyId,
            _: &ClientId,
            _: Option<&ClientId>,
            _: &AuditEvent,
        ) -> StoreResult<bool> {
            unimplemented!()
        }
        async fn mark_legacy_removed(&self, _: &LegacyId, _: &AuditEvent) -> StoreResult<bool> {
            unimplemented!()
        }
        async fn record_token_use(
            &self,
            _: &ClientId,
            _: crate::store::TokenSource,
            _: UnixSeconds,
        ) -> StoreResult<()> {
            unimplemented!()
        }
        async fn find_token_use(
            &self,
            _: &ClientId,
        ) -> StoreResult<Option<crate::store::TokenUse>> {
            unimplemented!()
        }
        async fn find_last_token_at(&self, _: &ClientId) -> StoreResult<Option<UnixSeconds>> {
            unimplemented!()
        }
        async fn find_first_token_at(&self, _: &ClientId) -> StoreResult<Option<UnixSeconds>> {
            unimplemented!()
        }
        async fn add_legacy_usage(&self, _: &[UsageDelta]) -> StoreResult<()> {
            unimplemented!()
        }
        async fn prune_legacy_usage(&self, _: UnixSeconds) -> StoreResult<()> {
            unimplemented!()
        }
        async fn refresh_legacy_traffic(&self, _: UnixSeconds) -> StoreResult<()> {
            unimplemented!()
        }
        async fn count_legacy_requests(&self, _: &LegacyId, _: UnixSeconds) -> StoreResult<i64> {
            unimplemented!()
        }
        async fn find_legacy_report(
            &self,
            _: &ReportFilter,
            _: ReportSort,
            _: Option<ReportPage>,
            _: ReportWindows,
        ) -> StoreResult<Vec<LegacyReportRow>> {
            unimplemented!()
        }
        async fn count_legacy_report(&self, _: &ReportFilter) -> StoreResult<u64> {
            unimplemented!()
        }
        async fn legacy_totals(&self, _: UnixSeconds, _: UnixSeconds) -> StoreResult<LegacyTotals> {
            unimplemented!()
        }
        async fn add_bearer_usage(&self, _: &[BearerUsageDelta]) -> StoreResult<()> {
            unimplemented!()
        }
        async fn daily_usage(&self, _: UnixSeconds) -> StoreResult<Vec<DailyUsage>> {
            unimplemented!()
        }
        async fn prune_daily_usage(&self, _: UnixSeconds) -> StoreResult<()> {
            unimplemented!()
        }
    }

    #[derive(Default)]
    struct CountingVerifier(AtomicUsize);

    #[async_trait]
    impl PasswordVerifier for CountingVerifier {
        async fn verify(&self, hash: PasswordHash, password: Password) -> bool {
            self.0.fetch_add(1, Ordering::SeqCst);
            verify_password(&hash, &password)
        }
        async fn rehash(&self, password: Password) -> Option<PasswordHash> {
            hash_password(&CHEAP, &password).ok()
        }
    }

    fn credential_with(hash: PasswordHash) -> LegacyCredential {
        LegacyCredential {
            id: LegacyId::parse("lc_1").unwrap(),
            account_id: AccountId::parse("acct_1").unwrap(),
            email: Email::parse("ops@acme.example").unwrap(),
            password_hash: Some(hash),
            state: LegacyState::Active,
            migrated_client_id: None,
            created_at: 0,
            updated_at: 0,
            migrated_at: None,
            removed_at: None,
            last_used_at: None,
        }
    }

    /// What a Basic check borrows, with default policies and a cheap decoy hash.
    struct Parts {
        sunset: SunsetPolicy,
        cache: VerificationCache,
        limiter: FailureLimiter,
        usage: UsageCounter,
        dummy: PasswordHash,
    }

    impl Parts {
        fn new() -> Self {
            Parts {
                sunset: SunsetPolicy::default(),
                cache: VerificationCache::new([9; 32], 10, 60_000),
                limiter: FailureLimiter::new(LimitPolicy::default()),
                usage: UsageCounter::default(),
                dummy: hash_password(&CHEAP, &Password::from_request("filler".into())).unwrap(),
            }
        }

        fn context(&self) -> BasicContext<'_> {
            BasicContext {
                sunset: &self.sunset,
                cache: &self.cache,
                limiter: &self.limiter,
                usage: &self.usage,
                dummy_hash: &self.dummy,
            }
        }
    }

    #[test]
    fn argon2_runs_once_per_credential_until_the_cache_entry_is_invalidated() {
        let pw = Password::new("correct horse".into()).unwrap();
        let credential = LegacyCredential {
            id: LegacyId::parse("lc_1").unwrap(),
            account_id: AccountId::parse("acct_1").unwrap(),
            email: Email::parse("ops@acme.example").unwrap(),
            password_hash: Some(hash_password(&CHEAP, &pw).unwrap()),
            state: LegacyState::Active,
            migrated_client_id: None,
            created_at: 0,
            updated_at: 0,
            migrated_at: None,
            removed_at: None,
            last_used_at: None,
        };
        let store = OneCredential::new(credential);
        let verifier = CountingVerifier::default();
        let parts = Parts::new();
        let ctx = parts.context();
        let header = STANDARD.encode("ops@acme.example:correct horse");
        let run = |h: &str, at_ms: i64| {
            block_on(authenticate_basic(h, &ctx, &store, &verifier, None, at_ms))
        };

        for at in [0, 1_000, 2_000] {
            assert_eq!(run(&header, at).unwrap().account_id.as_str(), "acct_1");
        }
        assert_eq!(
            verifier.0.load(Ordering::SeqCst),
            1,
            "argon2 once, then the cache"
        );
        assert_eq!(store.1.load(Ordering::SeqCst), 1, "no store read on a hit");
        assert_eq!(parts.usage.take().iter().map(|d| d.count).sum::<i64>(), 3);

        parts.cache.invalidate("lc_1");
        run(&header, 3_000).unwrap();
        assert_eq!(
            verifier.0.load(Ordering::SeqCst),
            2,
            "invalidated: verified again"
        );
        run(&header, 3_000 + 60_000).unwrap();
        assert_eq!(
            verifier.0.load(Ordering::SeqCst),
            3,
            "expired: verified again"
        );

        let wrong = STANDARD.encode("ops@acme.example:wrong horse");
        assert!(matches!(run(&wrong, 70_000), Err(BasicError::Invalid)));
        let unknown = STANDARD.encode("nobody@acme.example:correct horse");
        assert!(matches!(run(&unknown, 70_000), Err(BasicError::Invalid)));
        assert_eq!(
            verifier.0.load(Ordering::SeqCst),
            5,
            "misses cost argon2 too (timing)"
        );
        assert!(
            store.2.lock().is_empty(),
            "argon2id hashes are never rehashed"
        );
    }

    #[test]
    fn an_imported_hash_is_replaced_by_argon2id_at_its_first_success_only() {
        let imported = bcrypt::hash("correct horse", 4).unwrap();
        let hash = PasswordHash::parse_imported(&imported).unwrap();
        let store = OneCredential::new(credential_with(hash));
        let verifier = CountingVerifier::default();
        let parts = Parts::new();
        let ctx = parts.context();
        let run = |h: &str, at_ms: i64| {
            block_on(authenticate_basic(h, &ctx, &store, &verifier, None, at_ms))
        };

        let wrong = STANDARD.encode("ops@acme.example:wrong horse");
        assert!(matches!(run(&wrong, 0), Err(BasicError::Invalid)));
        assert!(store.2.lock().is_empty(), "a failure upgrades nothing");

        let right = STANDARD.encode("ops@acme.example:correct horse");
        run(&right, 1_000).unwrap();
        {
            let updates = store.2.lock();
            assert_eq!(updates.len(), 1);
            let (new_hash, audit) = &updates[0];
            assert!(new_hash
                .as_str()
                .starts_with("$argon2id$v=19$m=64,t=1,p=1$"));
            assert!(verify_password(
                new_hash,
                &Password::from_request("correct horse".into())
            ));
            assert_eq!(audit.action, AuditAction::HashUpgraded);
            assert_eq!(audit.detail, "hash upgraded from bcrypt");
            assert_eq!(audit.at, 1);
            assert!(!audit.detail.contains(&imported));
        }

        // The store's change drops the cache entry on every server; the next miss
        // verifies the argon2id hash and leaves it alone.
        parts.cache.invalidate("lc_1");
        run(&right, 2_000).unwrap();
        assert_eq!(store.2.lock().len(), 1, "upgraded once");
        assert!(matches!(run(&wrong, 3_000), Err(BasicError::Invalid)));
    }

    #[test]
    fn basic_credentials_split_at_the_first_colon() {
        let (email, pw) = parse_basic(&STANDARD.encode("Ops@Acme.example:pa:ss word")).unwrap();
        assert_eq!(email.as_str(), "ops@acme.example");
        assert_eq!(pw.expose(), "pa:ss word");
        assert!(matches!(parse_basic("%%%"), Err(BasicError::Malformed)));
        assert!(matches!(
            parse_basic(&STANDARD.encode("no-colon")),
            Err(BasicError::Malformed)
        ));
        assert!(matches!(
            parse_basic(&STANDARD.encode("not an email:pw")),
            Err(BasicError::Invalid)
        ));
    }
}
