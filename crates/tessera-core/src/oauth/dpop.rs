//! DPoP at the token endpoint (RFC 9449 §5): a token request with a valid proof gets
//! access tokens bound to the proof's key (`token_type: DPoP`, `cnf.jkt`), and a public
//! client's token set is bound too, so its refresh tokens need proofs of the same key
//! (§5.0). A client registered `dpop_bound_access_tokens` must send a proof (§5.2).
//!
//! Proofs are checked by `token/dpop.rs`; here they are used once across every replica:
//! each accepted proof is recorded in the store until it could no longer pass the window.

use super::client_auth::ClientRequest;
use super::routes;
use crate::domain::Client;
use crate::error::{ErrorCode, OAuthError};
use crate::store::Store;
use crate::token::dpop::{verify_proof, Proof, ProofError, ProofPolicy, ProofTarget};
use crate::token::master_key::MasterKey;
use crate::UnixSeconds;

/// How this server treats DPoP proofs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DpopPolicy {
    /// How far a proof's `iat` may be from now, seconds.
    pub max_age: i64,
    /// Every proof must carry a server nonce (`DPoP-Nonce`).
    pub require_nonce: bool,
}

impl Default for DpopPolicy {
    fn default() -> Self {
        Self {
            max_age: 60,
            require_nonce: false,
        }
    }
}

impl DpopPolicy {
    pub fn proof_policy<'a>(&self, master: &'a MasterKey) -> ProofPolicy<'a> {
        ProofPolicy {
            max_age: self.max_age,
            nonces: self.require_nonce.then_some(master),
        }
    }
}

/// A refusal of a proof as the OAuth error it is (§5, §8).
pub fn proof_refused(err: ProofError) -> OAuthError {
    match err {
        ProofError::Invalid(why) => OAuthError::new(ErrorCode::InvalidDpopProof, why),
        ProofError::UseNonce => OAuthError::new(
            ErrorCode::UseDpopNonce,
            "make the DPoP proof again with the nonce of the DPoP-Nonce header",
        ),
    }
}

/// What checking a proof at one of Tessera's endpoints needs: the issuer (whose origin the
/// proof's `htu` names), the master key (nonces) and the policy.
pub type ProofBinding<'a> = (&'a str, &'a MasterKey, &'a DpopPolicy);

/// The proof of a token request, checked and spent; `None` when the request has none and
/// the client may do without.
pub async fn token_request_proof(
    request: &ClientRequest<'_>,
    client: &Client,
    store: &dyn Store,
    binding: ProofBinding<'_>,
    now: UnixSeconds,
) -> Result<Option<Proof>, OAuthError> {
    if request.dpop.is_none() && client.dpop_bound {
        return Err(OAuthError::new(
            ErrorCode::InvalidDpopProof,
            "this client must send a DPoP proof with every token request (dpop_bound_access_tokens)",
        ));
    }
    endpoint_proof(request, routes::TOKEN, store, binding, now).await
}

/// The proof sent to the endpoint at `path` (a POST), checked and spent; `None` without one.
pub async fn endpoint_proof(
    request: &ClientRequest<'_>,
    path: &str,
    store: &dyn Store,
    (issuer, master, policy): ProofBinding<'_>,
    now: UnixSeconds,
) -> Result<Option<Proof>, OAuthError> {
    let Some(raw) = request.dpop else {
        return Ok(None);
    };
    let uri = format!("{}{}", issuer.trim_end_matches('/'), path);
    let target = ProofTarget {
        method: "POST",
        uri: &uri,
        access_token: None,
    };
    let proof =
        verify_proof(raw, &target, &policy.proof_policy(master), now).map_err(proof_refused)?;
    let until = proof.remembered_until(policy.max_age);
    if !store.record_dpop_proof(&proof.replay_key, until).await? {
        return Err(OAuthError::new(
            ErrorCode::InvalidDpopProof,
            "this DPoP proof was used before; make a fresh proof (a new jti) for every request",
        ));
    }
    Ok(Some(proof))
}
