//! The UserInfo endpoint (OpenID Connect Core 1.0 §5.3), GET and POST alike: a Bearer
//! access token in the `Authorization` header (RFC 6750 §2.1), or a DPoP-bound one with its
//! proof (RFC 9449 §7), answered with the claims its scopes release, or with RFC 6750's
//! (or RFC 9449's) errors and challenges.

use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use tessera_core::oauth::identity::OPENID;
use tessera_core::oauth::userinfo::{userinfo, UserInfoRefusal};
use tessera_core::token::jwt::TokenError;

use crate::bearer::{authenticate_token, check_binding, Presented};
use crate::error::HttpError;
use crate::state::AppState;

pub async fn userinfo_endpoint(
    State(app): State<AppState>,
    RawQuery(query): RawQuery,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    if query.is_some_and(|q| q.split('&').any(|p| p.starts_with("access_token="))) {
        return Err(HttpError::BadRequest(
            "send the access token in the Authorization header, not in the URL".into(),
        ));
    }
    let (scheme, token) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| {
            scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("dpop")
        })
        .ok_or(HttpError::MissingToken)?;
    let token = token.trim();
    let claims = authenticate_token(&app, token).await?;
    let presented = Presented {
        token,
        dpop: scheme.eq_ignore_ascii_case("dpop"),
        method: &method,
        path: uri.path(),
        headers: &headers,
    };
    check_binding(&app, &claims, &presented)?;
    let answer = userinfo(app.store.as_ref(), &app.caches, &claims, app.clock.now())
        .await
        .map_err(|refusal| match refusal {
            UserInfoRefusal::NotOpenId => HttpError::InsufficientScope(OPENID.into()),
            UserInfoRefusal::UnknownUser => HttpError::InvalidToken(TokenError::Revoked),
            UserInfoRefusal::Store(e) => HttpError::internal(e),
        })?;
    let mut res = Json(answer).into_response();
    // Claims about a person: no shared cache may keep them (RFC 9111 §5.2.2.5).
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}
