//! Tokens made from the dashboard: a token set for an approved application (the Apicbase
//! "add application" flow), and a test token for a credential (the Ocrolus "test them by
//! requesting a JWT").

use crate::domain::{ClientId, ClientKind, ClientSecret, ClientStatus, TokenSetId, User};
use crate::error::{ManageError, OAuthError, StoreError};
use crate::manage::clients::get_client;
use crate::oauth::client_auth::{self, AuthMethod, PresentedClient};
use crate::oauth::client_credentials::{issue_client_credentials, within};
use crate::oauth::request::Form;
use crate::oauth::response::TokenResponse;
use crate::oauth::token_set::{start_token_set, GrantContext, TokenSetOwner};
use crate::store::Consent;
use crate::token::jwt::{self, AccessTokenClaims, Expectations};

/// Starts a token set for an approved application acting on one of the user's accounts,
/// exactly as an authorization would (consent recorded, a new independent chain).
pub async fn generate_token_set(
    cx: &GrantContext<'_>,
    user: &User,
    account_id: &str,
    app_id: &str,
    scope: &str,
) -> Result<TokenResponse, ManageError> {
    let app = get_client(cx.store, app_id).await?;
    if app.kind != ClientKind::Application || !app.approved || app.status != ClientStatus::Active {
        return Err(ManageError::Invalid(
            "only active, approved applications can be added".into(),
        ));
    }
    let account = user
        .accounts
        .iter()
        .find(|a| a.as_str() == account_id)
        .ok_or_else(|| ManageError::Invalid("you may not act on that API account".into()))?;
    let requested =
        crate::domain::ScopeSet::parse(scope).map_err(|e| ManageError::Invalid(e.to_string()))?;
    if requested.is_empty() {
        return Err(ManageError::Invalid("pick at least one scope".into()));
    }
    let scopes = within(&requested, &app.scopes)
        .map_err(|e| ManageError::Invalid(e.description.into_owned()))?;
    cx.store
        .upsert_consent(&Consent {
            user_id: user.id.clone(),
            client_id: app.id.clone(),
            account_id: account.clone(),
            scopes: scopes.clone(),
            updated_at: cx.now,
        })
        .await?;
    let id = TokenSetId::generate().map_err(StoreError::new)?;
    let owner = TokenSetOwner {
        client: &app,
        user: &user.id,
        account,
        scopes: &scopes,
    };
    start_token_set(cx, &id, &owner)
        .await
        .map_err(|e| ManageError::Invalid(e.description.into_owned()))
}

/// Requests a client credentials token with `client_id` and `secret` through the same
/// functions as the token endpoint, and returns its verified claims.
pub async fn test_credential(
    cx: &GrantContext<'_>,
    client_id: &str,
    secret: &str,
) -> Result<AccessTokenClaims, OAuthError> {
    let id =
        ClientId::parse(client_id).ok_or_else(|| OAuthError::invalid_client("unknown client"))?;
    let presented = PresentedClient {
        id: id.clone(),
        secret: Some(ClientSecret::from_request(secret.to_owned())),
        method: AuthMethod::Post,
    };
    let client = cx.caches.clients.get(&id, cx.store).await?;
    client_auth::authenticate(&presented, client.as_deref(), cx.now)?;
    let client = client.ok_or_else(|| OAuthError::invalid_client("unknown client"))?;
    let response = issue_client_credentials(&client, &Form::default(), cx.key, cx.policy, cx.now)?;
    // A test token is a token: it proves the credential works (the legacy removal rule).
    cx.caches
        .clients
        .record_token_use(cx.store, &client.id, cx.now)
        .await;
    let expect = Expectations {
        issuer: &cx.policy.issuer,
        audience: &cx.policy.audience,
    };
    jwt::verify(
        &response.access_token,
        &cx.caches.keyring(),
        &expect,
        cx.now,
    )
    .map_err(|e| OAuthError::server_error(e.to_string()))
}
