//! The refresh token grant (RFC 6749 §6) with rotation and reuse detection
//! (RFC 9700 §4.14.2): every refresh returns a new refresh token, the old one and its access
//! token die, and presenting a spent refresh token revokes the whole token set.

use super::client_credentials::{requested_scope, within};
use super::request::Form;
use super::response::TokenResponse;
use super::token_set::{new_refresh_token, GrantContext};
use crate::domain::{Client, SecretHash};
use crate::error::OAuthError;
use crate::store::Rotation;
use crate::token::issue::{issue_access_token, Subject};

/// Optional lifetimes of refresh tokens; `None`: no limit (the seeds' default).
#[derive(Debug, Clone, Copy, Default)]
pub struct RefreshPolicy {
    /// A refresh token unused for this long expires, seconds.
    pub idle_ttl: Option<i64>,
    /// A token set older than this can no longer be refreshed, seconds.
    pub absolute_ttl: Option<i64>,
}

#[tracing::instrument(level = "debug", skip_all, fields(client_id = %client.id))]
pub async fn refresh(
    cx: &GrantContext<'_>,
    client: &Client,
    form: &Form,
    lifetimes: &RefreshPolicy,
) -> Result<TokenResponse, OAuthError> {
    let GrantContext {
        store,
        caches,
        key,
        policy,
        now,
    } = *cx;
    let presented = form.require("refresh_token")?;
    let invalid = || OAuthError::invalid_grant("the refresh token is invalid, expired or revoked");
    let (old, set) = store
        .find_refresh_token(&SecretHash::of(presented.as_bytes()))
        .await?
        .ok_or_else(invalid)?;
    // Another client's token is refused without touching it: the caller is not its owner.
    if set.client_id != client.id {
        return Err(OAuthError::invalid_grant(
            "the refresh token was issued to another client",
        ));
    }
    if set.revoked_at.is_some() {
        return Err(invalid());
    }
    if old.used_at.is_some() {
        store.revoke_token_set(&set.id, now).await?;
        caches
            .revoked_sets
            .insert(set.id.to_string(), now + policy.max_ttl());
        tracing::warn!(client_id = %client.id, token_set = %set.id, "refresh token reused; token set revoked");
        return Err(OAuthError::invalid_grant(
            "the refresh token was already used; the token set is revoked",
        ));
    }
    let idle_expired = lifetimes
        .idle_ttl
        .is_some_and(|ttl| now >= old.created_at + ttl);
    let absolute_expired = lifetimes
        .absolute_ttl
        .is_some_and(|ttl| now >= set.created_at + ttl);
    if idle_expired || absolute_expired {
        return Err(OAuthError::invalid_grant(
            "the refresh token has expired; authorize again",
        ));
    }
    // §6: the scope may narrow, never widen.
    let scope = match requested_scope(form)? {
        Some(requested) => within(&requested, &set.scopes)?,
        None => set.scopes.clone(),
    };
    let subject = Subject {
        sub: set.user_id.as_str(),
        account: Some(set.account_id.as_str()),
        client_id: client.id.as_str(),
        scope: &scope,
        token_set: Some(set.id.as_str()),
    };
    let ttl = policy.user_token_ttl;
    let (access_token, claims) = issue_access_token(key, policy, &subject, ttl, now)?;
    let (refresh_token, new) = new_refresh_token(&set.id, &claims.jti, claims.exp, now)?;
    match store.rotate_refresh_token(&old, &new, now).await? {
        Rotation::Rotated => {
            // The access token issued with the old refresh token dies with it; this process
            // knows at once, the others through the change feed.
            caches
                .revoked
                .insert(old.access_jti.clone(), old.access_expires_at);
            Ok(TokenResponse {
                access_token,
                token_type: "Bearer",
                expires_in: ttl,
                refresh_token: Some(refresh_token),
                scope: Some(scope.to_string()),
            })
        }
        Rotation::Reused => {
            caches
                .revoked_sets
                .insert(set.id.to_string(), now + policy.max_ttl());
            Err(OAuthError::invalid_grant(
                "the refresh token was already used; the token set is revoked",
            ))
        }
    }
}
