//! The authorization code grant (RFC 6749 §4.1): minting codes after consent, and
//! exchanging them at the token endpoint.

use super::authorize::{AuthorizationRequest, AuthorizePolicy, Delivery};
use super::pkce;
use super::request::Form;
use super::response::TokenResponse;
use super::token_set::{start_token_set, GrantContext, TokenSetOwner};
use crate::domain::{AccountId, Client, ClientId, ScopeSet, SecretHash, TokenSetId, UserId};
use crate::error::{OAuthError, StoreError};
use crate::random;
use crate::store::{AuthorizationCode, CodeConsumption, Store};
use crate::UnixSeconds;

/// What the user approved on the consent page.
pub struct Approval<'a> {
    pub request: &'a AuthorizationRequest,
    pub user_id: &'a UserId,
    pub account_id: &'a AccountId,
    /// Granted scopes: a subset of the requested ones.
    pub scopes: &'a ScopeSet,
}

/// Stores a new code for an approval (§4.1.2) and returns it; only its hash is stored.
pub async fn mint_authorization_code(
    store: &dyn Store,
    approval: &Approval<'_>,
    policy: &AuthorizePolicy,
    now: UnixSeconds,
) -> Result<String, StoreError> {
    let code = random::token::<32>("ac_").map_err(StoreError::new)?;
    let client_id = ClientId::parse(&approval.request.client_id)
        .ok_or_else(|| StoreError::new("invalid client id in an approved request"))?;
    let record = AuthorizationCode {
        code_hash: SecretHash::of(code.as_bytes()),
        client_id,
        redirect_uri: match &approval.request.delivery {
            Delivery::Redirect(uri) => uri.clone(),
            Delivery::CodePage => String::new(),
        },
        redirect_uri_sent: approval.request.redirect_uri_sent,
        user_id: approval.user_id.clone(),
        account_id: approval.account_id.clone(),
        scopes: approval.scopes.clone(),
        code_challenge: approval.request.code_challenge.clone(),
        token_set_id: TokenSetId::generate().map_err(StoreError::new)?,
        created_at: now,
        expires_at: now + policy.code_ttl,
    };
    store.insert_authorization_code(&record).await?;
    Ok(code)
}

/// §4.1.3: exchanges a code for an access token and the first refresh token of a new set.
#[tracing::instrument(level = "debug", skip_all, fields(client_id = %client.id))]
pub async fn exchange_authorization_code(
    cx: &GrantContext<'_>,
    client: &Client,
    form: &Form,
) -> Result<TokenResponse, OAuthError> {
    let (store, now) = (cx.store, cx.now);
    let code = form.require("code")?;
    let record = match store
        .consume_authorization_code(&SecretHash::of(code.as_bytes()), now)
        .await?
    {
        CodeConsumption::Consumed(record) => record,
        CodeConsumption::NotFound => {
            return Err(OAuthError::invalid_grant(
                "the authorization code is invalid",
            ))
        }
        // §4.1.2: a code used twice revokes every token issued from it.
        CodeConsumption::AlreadyUsed(record) => {
            store.revoke_token_set_of_code(&record, now).await?;
            cx.caches
                .revoked_sets
                .insert(record.token_set_id.to_string(), now + cx.policy.max_ttl());
            tracing::warn!(client_id = %record.client_id, "authorization code reused; its tokens are revoked");
            return Err(OAuthError::invalid_grant(
                "the authorization code was already used",
            ));
        }
    };
    if record.client_id != client.id {
        return Err(OAuthError::invalid_grant(
            "the authorization code was issued to another client",
        ));
    }
    if now >= record.expires_at {
        return Err(OAuthError::invalid_grant(
            "the authorization code has expired; codes live 60 seconds",
        ));
    }
    let sent = form.get("redirect_uri");
    let redirect_ok = match sent {
        Some(uri) => uri == record.redirect_uri,
        None => !record.redirect_uri_sent,
    };
    if !redirect_ok {
        return Err(OAuthError::invalid_grant(
            "redirect_uri must be identical to the one of the authorization request",
        ));
    }
    match (&record.code_challenge, form.get("code_verifier")) {
        (Some(challenge), Some(verifier)) if pkce::verify_s256(verifier, challenge) => {}
        (Some(_), Some(_)) => {
            return Err(OAuthError::invalid_grant(
                "the PKCE code_verifier does not match",
            ))
        }
        (Some(_), None) => {
            return Err(OAuthError::invalid_grant("code_verifier is missing (PKCE)"))
        }
        // RFC 9700 §2.1.1: a verifier without a challenge is a downgrade attempt.
        (None, Some(_)) => {
            return Err(OAuthError::invalid_grant(
                "code_verifier sent but no challenge was made",
            ))
        }
        // Issued before the application was switched to require PKCE.
        (None, None) if client.require_pkce => {
            return Err(OAuthError::invalid_grant(
                "this application requires PKCE; the code was issued without a code_challenge",
            ))
        }
        (None, None) => {}
    }
    let owner = TokenSetOwner {
        client,
        user: &record.user_id,
        account: &record.account_id,
        scopes: &record.scopes,
    };
    start_token_set(cx, &record.token_set_id, &owner).await
}
