//! RFC 9068 access tokens: issue and verify.
//!
//! Written here rather than through the `jsonwebtoken` crate: with the key pair parsed once
//! and the JOSE header pre-encoded per key, signing costs the signature and one small JSON
//! serialization (about 17 µs for ES256 against 29 µs through the crate), and verification
//! enforces exactly our rules (`typ: at+jwt`, the key's own `alg`, no `none`, no HMAC)
//! instead of a general-purpose validator's.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};

use super::keys::{KeyError, Keyring, SigningKey};
use crate::UnixSeconds;

/// The claims of an RFC 9068 access token (§2.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessTokenClaims {
    pub iss: String,
    /// The API account (client credentials) or the user (authorization code).
    pub sub: String,
    pub aud: String,
    pub client_id: String,
    /// Space-delimited granted scopes (RFC 9068 §2.2.3, RFC 8693 §4.2).
    pub scope: String,
    pub iat: UnixSeconds,
    pub exp: UnixSeconds,
    pub jti: String,
    /// The API account the token acts on, when `sub` is a user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acct: Option<String>,
    /// The token set (refresh-token chain) that issued this token, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// Only in the gateway's internal token: the API account's external id, when it has
    /// one (the value of the `Tessera-Account` header then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_external_id: Option<String>,
    /// RFC 9449 §6.1: the key a DPoP-bound token is bound to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation>,
}

/// RFC 7800 `cnf` with RFC 9449's `jkt`: the thumbprint of the DPoP key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmation {
    pub jkt: String,
}

impl AccessTokenClaims {
    /// The API account whose data the token reaches.
    pub fn account(&self) -> &str {
        self.acct.as_deref().unwrap_or(&self.sub)
    }

    pub fn has_scope(&self, wanted: &str) -> bool {
        self.scope.split(' ').any(|s| s == wanted)
    }
}

/// Serializes and signs the claims of an access token with `key`.
pub fn sign(key: &SigningKey, claims: &AccessTokenClaims) -> Result<String, KeyError> {
    sign_with_header(key, &key.header_prefix, claims)
}

/// A compact JWS of `claims` under the encoded header `header_prefix` of `key`.
pub(crate) fn sign_with_header(
    key: &SigningKey,
    header_prefix: &str,
    claims: &impl Serialize,
) -> Result<String, KeyError> {
    let payload = serde_json::to_vec(claims).map_err(|_| KeyError::Sign)?;
    let mut token = String::with_capacity(header_prefix.len() + payload.len() * 2 + 100);
    token.push_str(header_prefix);
    URL_SAFE_NO_PAD.encode_string(&payload, &mut token);
    let signature = key.sign(token.as_bytes())?;
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(signature, &mut token);
    Ok(token)
}

/// Why a token was refused; each is `invalid_token` to the caller (RFC 6750 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the access token is malformed")]
    Malformed,
    #[error("the access token is not an RFC 9068 access token (typ must be at+jwt)")]
    WrongType,
    #[error("the access token was signed by an unknown key")]
    UnknownKey,
    #[error("the access token's algorithm does not match its key")]
    WrongAlgorithm,
    #[error("the access token's signature is invalid")]
    BadSignature,
    #[error("the access token has expired")]
    Expired,
    #[error("the access token was issued by another issuer or for another audience")]
    WrongIssuer,
    #[error("the access token has been revoked")]
    Revoked,
}

#[derive(Deserialize)]
struct Header<'a> {
    alg: &'a str,
    #[serde(default)]
    typ: Option<&'a str>,
    #[serde(default)]
    kid: Option<&'a str>,
}

/// What a verified token must carry besides a valid signature.
pub struct Expectations<'a> {
    pub issuer: &'a str,
    pub audience: &'a str,
}

/// Verifies signature, type, issuer, audience and expiry. Revocation is the caller's check.
pub fn verify(
    token: &str,
    keys: &Keyring,
    expect: &Expectations<'_>,
    now: UnixSeconds,
) -> Result<AccessTokenClaims, TokenError> {
    // RFC 9068 §4: reject anything not typed as an access token.
    let payload = verified_payload(token, keys, "at+jwt", now)?;
    let claims: AccessTokenClaims =
        serde_json::from_slice(&payload).map_err(|_| TokenError::Malformed)?;
    if claims.iss != expect.issuer || claims.aud != expect.audience {
        return Err(TokenError::WrongIssuer);
    }
    if now >= claims.exp {
        return Err(TokenError::Expired);
    }
    Ok(claims)
}

/// The payload of a compact JWS of type `typ` whose signature one of `keys` (published at
/// `now`) verifies; claims are the caller's to check.
pub(crate) fn verified_payload(
    token: &str,
    keys: &Keyring,
    typ: &str,
    now: UnixSeconds,
) -> Result<Vec<u8>, TokenError> {
    let mut parts = token.splitn(3, '.');
    let (Some(h), Some(p), Some(s)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(TokenError::Malformed);
    };
    let header_json = URL_SAFE_NO_PAD
        .decode(h)
        .map_err(|_| TokenError::Malformed)?;
    let header: Header<'_> =
        serde_json::from_slice(&header_json).map_err(|_| TokenError::Malformed)?;
    if !header.typ.is_some_and(|t| t.eq_ignore_ascii_case(typ)) {
        return Err(TokenError::WrongType);
    }
    let key = header
        .kid
        .and_then(|kid| keys.verifier(kid, now))
        .ok_or(TokenError::UnknownKey)?;
    // The algorithm comes from the key, never from the token: `none` and HS256-with-the-
    // public-key are refused here (RFC 8725 §3.1).
    if header.alg != key.alg.as_str() {
        return Err(TokenError::WrongAlgorithm);
    }
    let signature = URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| TokenError::Malformed)?;
    let signed_len = h.len() + 1 + p.len();
    if !key.verify(&token.as_bytes()[..signed_len], &signature) {
        return Err(TokenError::BadSignature);
    }
    URL_SAFE_NO_PAD.decode(p).map_err(|_| TokenError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::keys::{self, Algorithm};
    use crate::token::master_key::MasterKey;

    fn ring(alg: Algorithm) -> Keyring {
        let master = MasterKey::from_base64(&MasterKey::generate_base64().unwrap()).unwrap();
        let k = keys::generate(alg, &master, 0, 0).unwrap();
        Keyring::from_stored(&[k], &master, 3600).unwrap()
    }

    fn claims() -> AccessTokenClaims {
        AccessTokenClaims {
            iss: "http://i".into(),
            sub: "acct".into(),
            aud: "http://i".into(),
            client_id: "cl".into(),
            scope: "a b".into(),
            iat: 0,
            exp: 100,
            jti: "j".into(),
            acct: None,
            sid: None,
            account_external_id: None,
            cnf: None,
        }
    }

    const EXPECT: Expectations<'static> = Expectations {
        issuer: "http://i",
        audience: "http://i",
    };

    #[test]
    fn every_algorithm_signs_and_verifies() {
        for alg in [Algorithm::Es256, Algorithm::EdDsa, Algorithm::Rs256] {
            let ring = ring(alg);
            let token = sign(ring.current(0).unwrap(), &claims()).unwrap();
            assert_eq!(verify(&token, &ring, &EXPECT, 10), Ok(claims()), "{alg:?}");
            assert_eq!(
                verify(&token, &ring, &EXPECT, 100),
                Err(TokenError::Expired)
            );
        }
    }

    #[test]
    fn tampered_payload_and_alg_none_are_refused() {
        let ring = ring(Algorithm::Es256);
        let token = sign(ring.current(0).unwrap(), &claims()).unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        let mut c = claims();
        c.scope = "admin".into();
        let forged = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&c).unwrap());
        let tampered = format!("{}.{}.{}", parts[0], forged, parts[2]);
        assert_eq!(
            verify(&tampered, &ring, &EXPECT, 10),
            Err(TokenError::BadSignature)
        );

        let kid = ring.current(0).unwrap().kid.to_string();
        let none =
            URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"none","typ":"at+jwt","kid":"{kid}"}}"#));
        assert_eq!(
            verify(&format!("{none}.{}.", parts[1]), &ring, &EXPECT, 10),
            Err(TokenError::WrongAlgorithm)
        );
    }
}
