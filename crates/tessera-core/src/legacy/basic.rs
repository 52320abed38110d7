//! Authenticating a request that uses HTTP Basic (RFC 7617) with a legacy credential.
//!
//! Order matters: the sunset first (after it, nothing about the credential is looked at),
//! then the failure limit (a limited caller costs no argon2 and learns nothing), then the
//! verification cache, and only then the store and argon2id.

use std::net::IpAddr;

use async_trait::async_trait;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use super::cache::{LegacyIdentity, VerificationCache};
use super::credential::{Email, LegacyState};
use super::limiter::FailureLimiter;
use super::password::{LegacyPassword, PasswordHash};
use super::sunset::{SunsetDecision, SunsetPolicy};
use super::usage::UsageCounter;
use crate::error::StoreError;
use crate::store::LegacyStore;
use crate::UnixSeconds;

/// Runs argon2id verification somewhere it may block (the HTTP layer: `spawn_blocking`).
#[async_trait]
pub trait PasswordVerifier: Send + Sync {
    async fn verify(&self, hash: PasswordHash, password: LegacyPassword) -> bool;
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
pub fn parse_basic(credentials: &str) -> Result<(Email, LegacyPassword), BasicError> {
    let decoded = STANDARD
        .decode(credentials.trim())
        .map_err(|_| BasicError::Malformed)?;
    let text = String::from_utf8(decoded).map_err(|_| BasicError::Malformed)?;
    let (user, password) = text.split_once(':').ok_or(BasicError::Malformed)?;
    // An unparseable email can match no credential: same answer as a wrong password.
    let email = Email::parse(user).ok_or(BasicError::Invalid)?;
    Ok((email, LegacyPassword::from_request(password.to_owned())))
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
            ctx.limiter.fail_address(peer, now);
            return Err(e);
        }
    };
    if let Some(retry_after) = ctx.limiter.retry_after(email.as_str(), peer, now) {
        return Err(BasicError::Limited { retry_after });
    }
    let key = ctx.cache.key_of(&email, &password);
    if let Some(identity) = ctx.cache.get(&key, now_ms) {
        ctx.usage.record(&identity.credential_id, now);
        return Ok(identity);
    }
    let generation = ctx.cache.generation();
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
    let matched = verifier.verify(hash, password).await;
    let Some(credential) = credential.filter(|_| matched) else {
        ctx.limiter.fail(email.as_str(), peer, now);
        return Err(BasicError::Invalid);
    };
    ctx.limiter.succeed(email.as_str());
    let identity = LegacyIdentity {
        credential_id: credential.id,
        account_id: credential.account_id,
        created_at: credential.created_at,
    };
    ctx.cache.insert(key, identity.clone(), generation, now_ms);
    ctx.usage.record(&identity.credential_id, now);
    Ok(identity)
}

#[cfg(test)]
mod tests {
    use super::*;

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
