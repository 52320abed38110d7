//! The Bearer token of a request to a protected resource (RFC 6750 §2.1).

use std::sync::Arc;

use axum::http::{header, HeaderMap};
use tessera_core::token::bearer::{authenticate_bearer, BearerError};
use tessera_core::token::jwt::{AccessTokenClaims, Expectations};

use crate::error::HttpError;
use crate::state::AppState;

/// The verified claims of the request's Bearer token.
pub async fn authenticate(
    app: &AppState,
    headers: &HeaderMap,
) -> Result<Arc<AccessTokenClaims>, HttpError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or(HttpError::MissingToken)?;
    let token = match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
        _ => return Err(HttpError::MissingToken),
    };
    let expect = Expectations {
        issuer: &app.tokens.issuer,
        audience: &app.tokens.audience,
    };
    let now = app.clock.now();
    authenticate_bearer(token, &app.caches, app.store.as_ref(), &expect, now)
        .await
        .map_err(|e| match e {
            BearerError::Token(why) => HttpError::InvalidToken(why),
            BearerError::Store(e) => HttpError::internal(e),
        })
}

/// 403 `insufficient_scope` unless the token carries `scope` (RFC 6750 §3.1).
pub fn require_scope(claims: &AccessTokenClaims, scope: &'static str) -> Result<(), HttpError> {
    if claims.has_scope(scope) {
        Ok(())
    } else {
        Err(HttpError::InsufficientScope(scope))
    }
}
