//! Tokens made from the dashboard: a token set for an approved application (the Apicbase
//! "add application" flow), and a test token for a credential (the Ocrolus "test them by
//! requesting a JWT").

use crate::audit::{record, Actor, AuditAction, AuditEvent, Target};
use crate::domain::{ClientId, ClientKind, ClientSecret, ClientStatus, TokenSetId, User};
use crate::error::{ManageError, OAuthError, StoreError};
use crate::manage::clients::get_client;
use crate::oauth::client_auth::{authenticate_client, AuthMethod, PresentedClient};
use crate::oauth::client_credentials::issue_client_credentials;
use crate::oauth::consent::record_consent;
use crate::oauth::request::Form;
use crate::oauth::response::TokenResponse;
use crate::oauth::scope::within;
use crate::oauth::token_set::{start_token_set, GrantContext, TokenSetOwner};
use crate::store::TokenSource;
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
    let result: Result<TokenResponse, ManageError> = async {
        let app = get_client(cx.store, app_id).await?;
        if app.kind != ClientKind::Application
            || !app.approved
            || app.status != ClientStatus::Active
        {
            return Err(ManageError::Invalid(
                "only active, approved applications can be added".into(),
            ));
        }
        let account = user
            .accounts
            .iter()
            .find(|a| a.as_str() == account_id)
            .ok_or_else(|| ManageError::Invalid("you may not act on that API account".into()))?;
        let requested = crate::domain::ScopeSet::parse(scope)
            .map_err(|e| ManageError::Invalid(e.to_string()))?;
        if requested.is_empty() {
            return Err(ManageError::Invalid("pick at least one scope".into()));
        }
        let scopes = within(&requested, &app.scopes)
            .map_err(|e| ManageError::Invalid(e.description.into_owned()))?;
        record_consent(cx.store, user, &app.id, account, &scopes, cx.now).await?;
        let id = TokenSetId::generate_at(cx.now).map_err(StoreError::new)?;
        let owner = TokenSetOwner {
            client: &app,
            user: &user.id,
            account,
            scopes: &scopes,
            // Generated in the dashboard: no sign-in of the application's, no ID token.
            auth_time: None,
            nonce: None,
        };
        start_token_set(cx, &id, &owner)
            .await
            .map_err(|e| ManageError::Invalid(e.description.into_owned()))
    }
    .await;
    // Always a Settings Center user acting for themselves.
    let mut event = AuditEvent::new(
        cx.now,
        &Actor::user(&user.id),
        AuditAction::TokenSetGenerated,
        Target::new("app", app_id),
    )
    .detail(format!("for account {account_id}, scope {scope:?}"));
    if let Some(id) = ClientId::parse(app_id) {
        event = event.client(&id);
    }
    record(cx.store, event, result).await
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
        id,
        secret: Some(ClientSecret::from_request(secret.to_owned())),
        assertion: None,
        method: AuthMethod::Post,
    };
    let issuer = &cx.policy.issuer;
    let client = authenticate_client(&presented, cx.store, cx.caches, issuer, cx.now).await?;
    let response = issue_client_credentials(&client, &Form::default(), cx)?;
    // A test token is a token: it proves the credential works (the legacy removal rule).
    cx.caches
        .clients
        .record_token_use(cx.store, &client.id, TokenSource::SettingsTest, cx.now)
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
