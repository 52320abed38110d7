//! The client credentials grant (RFC 6749 §4.4): a credential client gets a token that acts
//! as its API account.

use super::request::Form;
use super::response::TokenResponse;
use super::scope::{requested_scope, within};
use super::token_set::{token_type, GrantContext};
use crate::domain::{Client, GrantType};
use crate::error::{ErrorCode, OAuthError};
use crate::token::issue::{issue_access_token, Subject};

/// Issues an access token to an already authenticated `client` (§4.4.2, §4.4.3).
// The grants' spans are at debug level: none is built per request unless the log filter asks.
#[tracing::instrument(level = "debug", skip_all, fields(client_id = %client.id))]
pub fn issue_client_credentials(
    client: &Client,
    form: &Form,
    cx: &GrantContext<'_>,
) -> Result<TokenResponse, OAuthError> {
    let (key, policy, now) = (cx.key, cx.policy, cx.now);
    let account = match (
        &client.account_id,
        client.allows_grant(GrantType::ClientCredentials),
    ) {
        (Some(account), true) => account,
        _ => {
            return Err(OAuthError::new(
                ErrorCode::UnauthorizedClient,
                "this client may not use the client_credentials grant",
            ))
        }
    };
    let requested = requested_scope(form)?;
    let granted = match &requested {
        Some(r) => within(r, &client.scopes)?,
        None => client.scopes.clone(),
    };
    let subject = Subject {
        sub: account.as_str(),
        account: None,
        client_id: client.id.as_str(),
        scope: &granted,
        token_set: None,
        jkt: cx.dpop_jkt,
    };
    let ttl = policy.client_credentials_ttl;
    let (access_token, _) = issue_access_token(key, policy, &subject, ttl, now)?;
    // §5.1: `scope` is required only when it differs from what was requested.
    let scope = requested
        .filter(|r| *r != granted)
        .map(|_| granted.to_string());
    Ok(TokenResponse {
        id_token: None,
        access_token,
        token_type: token_type(cx.dpop_jkt),
        expires_in: ttl,
        refresh_token: None,
        scope,
    })
}
