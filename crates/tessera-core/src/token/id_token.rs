//! OpenID Connect ID tokens (Core 1.0 §2, §3.1.3.6): what the client learns about the
//! user's authentication, signed with the same keys and algorithm as access tokens but
//! typed `JWT`, so neither kind can pass for the other.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256, Sha512};

use super::jwt::{self, TokenError};
use super::keys::{Algorithm, Keyring, SigningKey};
use crate::error::OAuthError;
use crate::UnixSeconds;

/// The claims of an ID token (§2), with the identity claims the granted scopes release.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdTokenClaims {
    pub iss: String,
    /// The user's id: stable, never reassigned, the same for every client (§8, `public`).
    pub sub: String,
    /// The client the token is for; a single audience, so no `azp` is needed (§2).
    pub aud: String,
    pub exp: UnixSeconds,
    pub iat: UnixSeconds,
    /// When the user signed in; a refresh repeats the original time (§12.2).
    pub auth_time: UnixSeconds,
    /// The authorization request's `nonce`, echoed; never on a refresh's ID token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// The left half of the access token's hash (§3.1.3.6), binding the two.
    pub at_hash: String,
    /// `name`, `email`, `email_verified`, as the scopes allow (`identity.rs`).
    #[serde(flatten)]
    pub released: Map<String, Value>,
}

/// What an ID token states, besides the issuer and the times.
pub struct IdTokenFacts<'a> {
    pub sub: &'a str,
    pub client_id: &'a str,
    pub auth_time: UnixSeconds,
    pub nonce: Option<&'a str>,
    /// The access token issued beside it.
    pub access_token: &'a str,
    pub released: Map<String, Value>,
}

/// Signs an ID token valid for `ttl` seconds from `now`.
pub fn issue_id_token(
    key: &SigningKey,
    issuer: &str,
    facts: IdTokenFacts<'_>,
    ttl: i64,
    now: UnixSeconds,
) -> Result<String, OAuthError> {
    let claims = IdTokenClaims {
        iss: issuer.to_owned(),
        sub: facts.sub.to_owned(),
        aud: facts.client_id.to_owned(),
        exp: now + ttl,
        iat: now,
        auth_time: facts.auth_time,
        nonce: facts.nonce.map(str::to_owned),
        at_hash: at_hash(key.alg, facts.access_token),
        released: facts.released,
    };
    jwt::sign_with_header(key, &key.id_header_prefix, &claims).map_err(OAuthError::server_error)
}

/// §3.1.3.6: the left-most half of the hash of the access token's ASCII, base64url; the
/// hash is the one of the signing algorithm (SHA-256 for ES256 and RS256; SHA-512 for
/// EdDSA with Ed25519, as the OpenID Foundation's errata settle it).
pub fn at_hash(alg: Algorithm, access_token: &str) -> String {
    let digest = match alg {
        Algorithm::Es256 | Algorithm::Rs256 => Sha256::digest(access_token).to_vec(),
        Algorithm::EdDsa => Sha512::digest(access_token).to_vec(),
    };
    URL_SAFE_NO_PAD.encode(&digest[..digest.len() / 2])
}

/// An ID token this server signed, whatever its age: what an `id_token_hint` must be.
/// Its issuer must be `issuer`; its expiry is not checked (a hint names a past sign-in).
pub fn verify_hint(
    token: &str,
    keys: &Keyring,
    issuer: &str,
    now: UnixSeconds,
) -> Result<IdTokenClaims, TokenError> {
    let payload = jwt::verified_payload(token, keys, "JWT", now)?;
    let claims: IdTokenClaims =
        serde_json::from_slice(&payload).map_err(|_| TokenError::Malformed)?;
    if claims.iss != issuer {
        return Err(TokenError::WrongIssuer);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::jwt::Expectations;
    use crate::token::keys;
    use crate::token::master_key::MasterKey;

    fn ring(alg: Algorithm) -> Keyring {
        let master = MasterKey::from_base64(&MasterKey::generate_base64().unwrap()).unwrap();
        let k = keys::generate(alg, &master, 0, 0).unwrap();
        Keyring::from_stored(&[k], &master, 3600).unwrap()
    }

    fn facts(nonce: Option<&str>) -> IdTokenFacts<'_> {
        let mut released = Map::new();
        released.insert("name".into(), Value::from("Ada Lovelace"));
        IdTokenFacts {
            sub: "usr_1",
            client_id: "cl_app",
            auth_time: 5,
            nonce,
            access_token: "eyJ.access.token",
            released,
        }
    }

    #[test]
    fn an_id_token_states_the_sign_in_and_binds_the_access_token() {
        for alg in [Algorithm::Es256, Algorithm::EdDsa, Algorithm::Rs256] {
            let ring = ring(alg);
            let key = ring.current(0).unwrap();
            let token = issue_id_token(key, "http://i", facts(Some("n-0S6")), 600, 10).unwrap();
            let claims = verify_hint(&token, &ring, "http://i", 10).unwrap();
            assert_eq!(
                (
                    claims.sub.as_str(),
                    claims.aud.as_str(),
                    claims.iat,
                    claims.exp
                ),
                ("usr_1", "cl_app", 10, 610),
                "{alg:?}"
            );
            assert_eq!(claims.auth_time, 5);
            assert_eq!(claims.nonce.as_deref(), Some("n-0S6"));
            assert_eq!(claims.at_hash, at_hash(alg, "eyJ.access.token"));
            assert_eq!(claims.released["name"], "Ada Lovelace");
            assert_eq!(
                verify_hint(&token, &ring, "http://other", 10),
                Err(TokenError::WrongIssuer)
            );
            // An ID token is no access token, even with the claims it would need.
            let expect = Expectations {
                issuer: "http://i",
                audience: "cl_app",
            };
            assert_eq!(
                jwt::verify(&token, &ring, &expect, 10),
                Err(TokenError::WrongType)
            );
        }
    }

    #[test]
    fn at_hash_follows_the_algorithm() {
        // OpenID Connect Core §A.3's example access token and its at_hash (SHA-256).
        let example = "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y";
        assert_eq!(at_hash(Algorithm::Es256, example), "77QmUPtjPfzWtF2AnpK9RQ");
        assert_eq!(at_hash(Algorithm::Rs256, example), "77QmUPtjPfzWtF2AnpK9RQ");
        // SHA-512's left half: 32 bytes, 43 characters.
        assert_eq!(at_hash(Algorithm::EdDsa, example).len(), 43);
    }

    #[test]
    fn no_nonce_no_claim() {
        let ring = ring(Algorithm::Es256);
        let token =
            issue_id_token(ring.current(0).unwrap(), "http://i", facts(None), 60, 0).unwrap();
        let payload = token.split('.').nth(1).unwrap();
        let json: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        assert!(json.get("nonce").is_none(), "{json}");
    }
}
