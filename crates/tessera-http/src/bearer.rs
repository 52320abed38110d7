//! The Bearer token of a request to a protected resource (RFC 6750 §2.1). The scheme is
//! read by [`crate::caller`], which also accepts legacy Basic until the sunset.

use std::sync::Arc;

use tessera_core::token::bearer::{authenticate_bearer, BearerError};
use tessera_core::token::jwt::{AccessTokenClaims, Expectations};

use crate::error::HttpError;
use crate::state::AppState;

/// The verified claims of `token` (what follows `Bearer `).
pub async fn authenticate_token(
    app: &AppState,
    token: &str,
) -> Result<Arc<AccessTokenClaims>, HttpError> {
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
