//! The access token of a request to a protected resource: a Bearer token (RFC 6750 §2.1),
//! or a DPoP-bound one with its proof (RFC 9449 §7). The scheme is read by
//! [`crate::caller`], which also accepts legacy Basic until the sunset.

use std::sync::Arc;

use axum::http::{HeaderMap, Method};
use tessera_core::error::ErrorCode;
use tessera_core::token::bearer::{authenticate_bearer, BearerError};
use tessera_core::token::dpop::{new_nonce, verify_proof, ProofError, ProofTarget};
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

/// How a token came: its scheme, and the request its DPoP proof must be about.
pub struct Presented<'a> {
    pub token: &'a str,
    /// `Authorization: DPoP` rather than `Bearer`.
    pub dpop: bool,
    pub method: &'a Method,
    pub path: &'a str,
    pub headers: &'a HeaderMap,
}

/// RFC 9449 §7.1: a DPoP-bound token (`cnf.jkt`) only as `DPoP` with a proof of its key
/// for this request, used once; an unbound token only as `Bearer`. The proof's `htu` is
/// the issuer's origin and the request's path: the URL clients reach Tessera at.
pub fn check_binding(
    app: &AppState,
    claims: &AccessTokenClaims,
    presented: &Presented<'_>,
) -> Result<(), HttpError> {
    let refuse = |code: ErrorCode, why: String| HttpError::Dpop {
        code,
        description: why,
        nonce: None,
    };
    let cnf =
        match (&claims.cnf, presented.dpop) {
            (None, false) => return Ok(()),
            (None, true) => {
                return Err(refuse(
                    ErrorCode::InvalidToken,
                    "this access token is not DPoP-bound; send it as Authorization: Bearer".into(),
                ))
            }
            (Some(_), false) => return Err(refuse(
                ErrorCode::InvalidToken,
                "this access token is DPoP-bound; send it as Authorization: DPoP with a DPoP proof"
                    .into(),
            )),
            (Some(cnf), true) => cnf,
        };
    let proof = crate::oauth::dpop_header(presented.headers)
        .map_err(|e| refuse(ErrorCode::InvalidDpopProof, e.description.into_owned()))?
        .ok_or_else(|| {
            refuse(
                ErrorCode::InvalidDpopProof,
                "a DPoP-bound token needs a DPoP proof in the DPoP header".into(),
            )
        })?;
    let uri = format!("{}{}", app.tokens.issuer_origin(), presented.path);
    let target = ProofTarget {
        method: presented.method.as_str(),
        uri: &uri,
        access_token: Some(presented.token),
    };
    let now = app.clock.now();
    let policy = app.dpop.proof_policy(&app.master);
    let proof = verify_proof(proof, &target, &policy, now).map_err(|e| match e {
        ProofError::Invalid(why) => refuse(ErrorCode::InvalidDpopProof, why),
        ProofError::UseNonce => HttpError::Dpop {
            code: ErrorCode::UseDpopNonce,
            description: "make the DPoP proof again with the nonce of the DPoP-Nonce header".into(),
            nonce: new_nonce(&app.master, now),
        },
    })?;
    if proof.jkt != cnf.jkt {
        return Err(refuse(
            ErrorCode::InvalidDpopProof,
            "the DPoP proof was made with another key than the one the token is bound to".into(),
        ));
    }
    if !app.dpop_replay.first_use(&proof, app.dpop.max_age, now) {
        return Err(refuse(
            ErrorCode::InvalidDpopProof,
            "this DPoP proof was used before; make a fresh proof for every request".into(),
        ));
    }
    Ok(())
}
