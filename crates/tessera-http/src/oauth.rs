//! The client-authenticated OAuth endpoints: token (RFC 6749 §3.2), revocation (RFC 7009)
//! and introspection (RFC 7662).

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use tessera_core::domain::GrantType;
use tessera_core::error::{ErrorCode, OAuthError};
use tessera_core::oauth::authorization_code::exchange_authorization_code;
use tessera_core::oauth::client_auth::{self, PresentedClient};
use tessera_core::oauth::client_credentials::issue_client_credentials;
use tessera_core::oauth::introspection::introspect;
use tessera_core::oauth::refresh_token::refresh;
use tessera_core::oauth::request::Form;
use tessera_core::oauth::response::TokenResponse;
use tessera_core::oauth::revocation::revoke;

use crate::body::read_form;
use crate::error::{Challenge, HttpError};
use crate::state::AppState;

/// The parts every client-authenticated endpoint reads: the `Authorization` header, which
/// challenge a failure gets, and the strictly parsed form body.
struct ClientRequest<'h> {
    authorization: Option<&'h str>,
    challenge: Challenge,
    form: Form,
}

async fn client_request<'h>(
    app: &AppState,
    headers: &'h HeaderMap,
    body: Body,
) -> Result<ClientRequest<'h>, HttpError> {
    let authorization = match headers.get(header::AUTHORIZATION) {
        Some(v) => Some(v.to_str().map_err(|_| {
            HttpError::OAuth(
                OAuthError::invalid_request("the Authorization header is not valid ASCII"),
                Challenge::None,
            )
        })?),
        None => None,
    };
    let challenge = match authorization {
        Some(a) if a.len() >= 6 && a[..6].eq_ignore_ascii_case("basic ") => Challenge::Basic,
        _ => Challenge::None,
    };
    let form = read_form(headers, body, app.http.form_limit, challenge).await?;
    Ok(ClientRequest {
        authorization,
        challenge,
        form,
    })
}

pub async fn post_token(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, HttpError> {
    let req = client_request(&app, &headers, body).await?;
    let response = token(&app, req.authorization, &req.form)
        .await
        .map_err(|e| HttpError::OAuth(e, req.challenge))?;
    Ok(token_response(response))
}

/// RFC 7009 §2.1: 200 with an empty body whether or not the token was known.
pub async fn post_revoke(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, HttpError> {
    let req = client_request(&app, &headers, body).await?;
    let run = async {
        let presented = client_auth::extract(req.authorization, &req.form)?;
        let client = authenticate(&app, &presented).await?;
        let now = app.clock.now();
        revoke(
            app.store.as_ref(),
            &app.caches,
            &client,
            &req.form,
            &app.tokens,
            now,
        )
        .await
    };
    let revoked = run.await.map_err(|e| HttpError::OAuth(e, req.challenge))?;
    tracing::info!(?revoked, "revocation request");
    let mut res = ().into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}

/// RFC 7662 §2.2: the token's state as JSON.
pub async fn post_introspect(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, HttpError> {
    let req = client_request(&app, &headers, body).await?;
    let run = async {
        let presented = client_auth::extract(req.authorization, &req.form)?;
        if presented.secret.is_none() {
            return Err(OAuthError::invalid_client(
                "introspection needs client authentication with a secret",
            ));
        }
        let caller = authenticate(&app, &presented).await?;
        let now = app.clock.now();
        introspect(
            app.store.as_ref(),
            &app.caches,
            &caller,
            &req.form,
            &app.tokens,
            now,
        )
        .await
    };
    let value = run.await.map_err(|e| HttpError::OAuth(e, req.challenge))?;
    let mut res = Json(value).into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}

async fn token(
    app: &AppState,
    authorization: Option<&str>,
    form: &Form,
) -> Result<TokenResponse, OAuthError> {
    let grant = form
        .require("grant_type")
        .map_err(|_| OAuthError::invalid_request("the parameter `grant_type` is missing"))?;
    let grant = GrantType::parse(grant).ok_or_else(|| {
        OAuthError::new(
            ErrorCode::UnsupportedGrantType,
            format!(
                "grant_type {grant:?} is not supported; use client_credentials, authorization_code or refresh_token"
            ),
        )
    })?;
    let presented = client_auth::extract(authorization, form)?;
    let now = app.clock.now();
    let client = authenticate(app, &presented).await?;
    if !client.allows_grant(grant) {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            format!("this client may not use the {} grant", grant.as_str()),
        ));
    }
    let keyring = app.caches.keyring();
    let cx = app.grant_context(&keyring, now)?;
    let response = match grant {
        GrantType::ClientCredentials => {
            issue_client_credentials(&client, form, cx.key, &app.tokens, now)?
        }
        GrantType::AuthorizationCode => exchange_authorization_code(&cx, &client, form).await?,
        GrantType::RefreshToken => refresh(&cx, &client, form, &app.refresh).await?,
    };
    app.caches
        .clients
        .record_token_use(app.store.as_ref(), &client.id, now)
        .await;
    Ok(response)
}

async fn authenticate(
    app: &AppState,
    presented: &PresentedClient,
) -> Result<std::sync::Arc<tessera_core::domain::Client>, OAuthError> {
    let client = app
        .caches
        .clients
        .get(&presented.id, app.store.as_ref())
        .await?;
    client_auth::authenticate(presented, client.as_deref(), app.clock.now())?;
    client.ok_or_else(|| OAuthError::invalid_client("client authentication failed"))
}

/// §5.1: JSON, never cached.
fn token_response(body: TokenResponse) -> Response {
    let mut res = Json(body).into_response();
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    res
}

/// Any method but POST (RFC 6749 §3.2, RFC 7009 §2.1, RFC 7662 §2.1 all require POST).
pub async fn wrong_method() -> HttpError {
    HttpError::PostOnly
}
