//! Token sets: starting one (the access token and first refresh token of a new chain, shared
//! by the code exchange and the dashboard's "generate tokens"), and revoking one, the single
//! way every grant and endpoint does it.

use super::identity::{id_token_for, SignIn};
use super::response::TokenResponse;
use crate::domain::{ordered_secret, AccountId, Client, ScopeSet, TokenSetId, UserId};
use crate::error::OAuthError;
use crate::error::StoreError;
use crate::runtime::Caches;
use crate::store::{AuthorizationCode, RefreshToken, Store, TokenSet};
use crate::token::issue::{issue_access_token, Subject, TokenPolicy};
use crate::token::keys::SigningKey;
use crate::token::master_key::MasterKey;
use crate::UnixSeconds;

/// A fresh refresh token (256 random bits) and its stored form.
pub fn new_refresh_token(
    set: &TokenSetId,
    access_jti: &str,
    access_expires_at: UnixSeconds,
    now: UnixSeconds,
) -> Result<(String, RefreshToken), OAuthError> {
    let token = ordered_secret::generate("rt_", now).map_err(OAuthError::server_error)?;
    let record = RefreshToken {
        token_hash: ordered_secret::key(&token),
        token_set_id: set.clone(),
        created_at: now,
        used_at: None,
        access_jti: access_jti.to_owned(),
        access_expires_at,
    };
    Ok((token, record))
}

/// What a grant that touches the store needs: the store, this process's caches, the master
/// key, the signing key, the token policy and the time.
pub struct GrantContext<'a> {
    pub store: &'a dyn Store,
    pub caches: &'a Caches,
    /// Seals what must be kept secret at rest (a refresh's retry answer).
    pub master: &'a MasterKey,
    pub key: &'a SigningKey,
    pub policy: &'a TokenPolicy,
    /// The thumbprint of the request's DPoP key (RFC 9449): the tokens issued are bound to
    /// it.
    pub dpop_jkt: Option<&'a str>,
    pub now: UnixSeconds,
}

/// RFC 9449 §5: `DPoP` for tokens bound to a key, else RFC 6750's `Bearer`.
pub fn token_type(jkt: Option<&str>) -> &'static str {
    if jkt.is_some() {
        "DPoP"
    } else {
        "Bearer"
    }
}

/// Who a new token set is for.
pub struct TokenSetOwner<'a> {
    pub client: &'a Client,
    pub user: &'a UserId,
    pub account: &'a AccountId,
    pub scopes: &'a ScopeSet,
    /// When the user signed in for this set; `None` for sets not started by a sign-in.
    pub auth_time: Option<UnixSeconds>,
    /// The authorization request's OpenID Connect `nonce`.
    pub nonce: Option<&'a str>,
}

pub async fn start_token_set(
    cx: &GrantContext<'_>,
    id: &TokenSetId,
    owner: &TokenSetOwner<'_>,
) -> Result<TokenResponse, OAuthError> {
    let (key, policy, now) = (cx.key, cx.policy, cx.now);
    let TokenSetOwner {
        client,
        user,
        account,
        scopes,
        auth_time,
        nonce,
    } = *owner;
    let subject = Subject {
        sub: user.as_str(),
        account: Some(account.as_str()),
        client_id: client.id.as_str(),
        scope: scopes,
        token_set: Some(id.as_str()),
        jkt: cx.dpop_jkt,
    };
    let ttl = policy.user_token_ttl;
    let (access_token, claims) = issue_access_token(key, policy, &subject, ttl, now)?;
    let (refresh_token, first) = new_refresh_token(id, &claims.jti, claims.exp, now)?;
    let set = TokenSet {
        id: id.clone(),
        client_id: client.id.clone(),
        user_id: user.clone(),
        account_id: account.clone(),
        scopes: scopes.clone(),
        auth_time,
        // §5.0: a public client's refresh tokens are bound to the key too; a confidential
        // client's are bound to its authentication already.
        dpop_jkt: cx.dpop_jkt.filter(|_| client.public).map(str::to_owned),
        created_at: now,
        revoked_at: None,
    };
    let sign_in = SignIn {
        client_id: client.id.as_str(),
        user,
        scopes,
        auth_time,
        nonce,
    };
    let id_token = id_token_for(cx, &sign_in, &access_token, ttl).await?;
    if !cx.store.insert_token_set(&set, &first).await? {
        // The code behind this set was replayed while it was being exchanged (§4.1.2).
        return Err(OAuthError::invalid_grant(
            "the authorization code was already used",
        ));
    }
    Ok(TokenResponse {
        access_token,
        token_type: token_type(cx.dpop_jkt),
        expires_in: ttl,
        refresh_token: Some(refresh_token),
        scope: Some(scopes.to_string()),
        id_token,
    })
}

/// Which token set to revoke.
#[derive(Debug, Clone, Copy)]
pub enum SetToRevoke<'a> {
    /// A stored set, by id.
    Id(&'a TokenSetId),
    /// The set a replayed code's first exchange creates, stored or not yet (§4.1.2).
    OfCode(&'a AuthorizationCode),
}

/// Revokes a token set in the store and remembers it in this process's cache, so its
/// access tokens are refused here at once and elsewhere through the change feed.
pub async fn revoke_token_set(
    store: &dyn Store,
    caches: &Caches,
    policy: &TokenPolicy,
    set: SetToRevoke<'_>,
    now: UnixSeconds,
) -> Result<(), StoreError> {
    let id = match set {
        SetToRevoke::Id(id) => {
            store.revoke_token_set(id, now).await?;
            id
        }
        SetToRevoke::OfCode(code) => {
            store.revoke_token_set_of_code(code, now).await?;
            &code.token_set_id
        }
    };
    caches.remember_revoked_set(id.as_str(), now, policy.max_ttl());
    Ok(())
}
