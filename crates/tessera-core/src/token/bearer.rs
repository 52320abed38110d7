//! Authenticating a Bearer access token at a resource (RFC 6750): the hot path of every
//! API call, served from memory.

use std::sync::Arc;

use super::jwt::{self, AccessTokenClaims, Expectations, TokenError};
use crate::domain::{ClientId, ClientStatus, SecretHash};
use crate::error::StoreError;
use crate::runtime::Caches;
use crate::store::ClientStore;
use crate::UnixSeconds;

#[derive(Debug, thiserror::Error)]
pub enum BearerError {
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Verifies the token (or finds it already verified), then checks that it is unexpired, not
/// revoked, and that the client that obtained it is still active.
pub async fn authenticate_bearer(
    token: &str,
    caches: &Caches,
    clients: &dyn ClientStore,
    expect: &Expectations<'_>,
    now: UnixSeconds,
) -> Result<Arc<AccessTokenClaims>, BearerError> {
    let key = SecretHash::of(token.as_bytes());
    let claims = match caches.verified.get(&key, now) {
        Some(claims) => claims,
        None => {
            // Before the keyring: a new keyring landing during the verification voids it.
            let read_at = caches.verified.generation();
            let claims = Arc::new(jwt::verify(token, &caches.keyring(), expect, now)?);
            caches.verified.insert(key, claims.clone(), read_at);
            claims
        }
    };
    let set_revoked = claims
        .sid
        .as_deref()
        .is_some_and(|sid| caches.revoked_sets.contains(sid));
    if set_revoked || caches.revoked.contains(&claims.jti) {
        return Err(TokenError::Revoked.into());
    }
    let client_id = ClientId::parse(&claims.client_id).ok_or(TokenError::Malformed)?;
    match caches.clients.get(&client_id, clients, now).await? {
        Some(c) if c.status == ClientStatus::Active => Ok(claims),
        _ => Err(TokenError::Revoked.into()),
    }
}
