//! `private_key_jwt` client authentication (RFC 7523 §2.2 and §3, OpenID Connect Core §9):
//! the client signs a short-lived JWT with its private key and sends it as
//! `client_assertion`; Tessera checks it against the public keys the client registered.
//!
//! Checked, each failure `invalid_client`: `iss` and `sub` both the client's id; `aud` this
//! server (its issuer, or the URL of one of its client-authenticated endpoints); `exp` in
//! the future and at most [`MAX_LIFETIME`] away (a long-lived assertion is a bearer secret);
//! `nbf` and `iat` not in the future; the signature, by one of the client's keys with that
//! key's own algorithm (never `none` or HMAC); and `jti`, used once: the store remembers it
//! until `exp`, so a captured assertion cannot be replayed on this or any other replica.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;
use serde_json::Value;

use super::routes;
use crate::domain::{Client, ClientId};
use crate::error::OAuthError;
use crate::runtime::Caches;
use crate::store::Store;
use crate::UnixSeconds;

/// RFC 7523 §2.2: the one `client_assertion_type` there is.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// The longest an assertion may live from now, seconds.
pub const MAX_LIFETIME: i64 = 600;
/// Clock skew forgiven on `nbf` and `iat`, seconds.
const LEEWAY: i64 = 30;
const MAX_JTI_LEN: usize = 256;

#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
}

#[derive(Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    aud: Value,
    exp: i64,
    #[serde(default)]
    nbf: Option<i64>,
    #[serde(default)]
    iat: Option<i64>,
    #[serde(default)]
    jti: Option<String>,
}

fn refused(why: &str) -> OAuthError {
    OAuthError::invalid_client(format!("the client assertion is not valid: {why}"))
}

fn part<T: serde::de::DeserializeOwned>(segment: &str) -> Result<T, OAuthError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| refused("it is not a JWT"))?;
    serde_json::from_slice(&bytes)
        .map_err(|_| refused("it is not a JWT with the claims iss, sub, aud and exp"))
}

/// The client an assertion claims to come from (its `sub`), read before anything is
/// verified: only to look the client and its keys up.
pub fn claimed_client(assertion: &str) -> Result<ClientId, OAuthError> {
    let payload = assertion
        .split('.')
        .nth(1)
        .ok_or_else(|| refused("it is not a JWT"))?;
    let claims: Claims = part(payload)?;
    ClientId::parse(&claims.sub)
        .ok_or_else(|| OAuthError::invalid_client("client authentication failed"))
}

/// The audiences an assertion for this server may name.
fn accepted_audiences(issuer: &str) -> Vec<String> {
    let base = issuer.trim_end_matches('/');
    let mut accepted = vec![issuer.to_owned(), base.to_owned()];
    for path in [
        routes::TOKEN,
        routes::PAR,
        routes::REVOKE,
        routes::INTROSPECT,
    ] {
        accepted.push(format!("{base}{path}"));
    }
    accepted
}

/// Verifies `assertion` as `client`'s authentication (see the module's list).
pub async fn verify(
    assertion: &str,
    client: &Client,
    store: &dyn Store,
    caches: &Caches,
    issuer: &str,
    now: UnixSeconds,
) -> Result<(), OAuthError> {
    let Some(registered) = &client.jwks else {
        return Err(OAuthError::invalid_client(
            "this client authenticates with its secret, not with a client assertion",
        ));
    };
    let mut parts = assertion.splitn(3, '.');
    let (Some(h), Some(p), Some(s)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(refused("it is not a JWT"));
    };
    let header: Header = part(h)?;
    let claims: Claims = part(p)?;
    let id = client.id.as_str();
    if claims.iss != id || claims.sub != id {
        return Err(refused("iss and sub must both be the client_id"));
    }
    let accepted = accepted_audiences(issuer);
    let names_us = |v: &Value| v.as_str().is_some_and(|a| accepted.iter().any(|x| x == a));
    let audience_ok = match &claims.aud {
        Value::Array(list) => list.iter().any(names_us),
        one => names_us(one),
    };
    if !audience_ok {
        return Err(refused(
            "aud must be this server's issuer or its token endpoint URL",
        ));
    }
    if now >= claims.exp {
        return Err(refused("it has expired"));
    }
    if claims.exp > now + MAX_LIFETIME {
        return Err(refused(
            "it lives longer than 10 minutes; make a new one for each request",
        ));
    }
    if claims.nbf.is_some_and(|nbf| nbf > now + LEEWAY)
        || claims.iat.is_some_and(|iat| iat > now + LEEWAY)
    {
        return Err(refused("it is not valid yet (nbf or iat is in the future)"));
    }
    let jti = claims
        .jti
        .as_deref()
        .filter(|j| !j.is_empty() && j.len() <= MAX_JTI_LEN)
        .ok_or_else(|| refused("jti is missing (or longer than 256 characters)"))?;
    let keys = caches
        .client_keys
        .keys(registered, header.kid.as_deref(), now)
        .await
        .map_err(|why| {
            tracing::warn!(client_id = %client.id, %why, "the client's keys could not be used");
            OAuthError::invalid_client("the client's registered keys could not be read")
        })?;
    let signature = URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| refused("it is not a JWT"))?;
    let signed = &assertion.as_bytes()[..h.len() + 1 + p.len()];
    // The algorithm must be the key's own: `none` and HS256 never match a public key.
    let verified = keys
        .iter()
        .filter(|k| header.kid.is_none() || k.kid == header.kid)
        .filter(|k| k.alg.as_str() == header.alg)
        .any(|k| k.verify(signed, &signature));
    if !verified {
        return Err(refused(
            "its signature does not verify with the client's registered keys",
        ));
    }
    // Last, so that only a genuine assertion can use up its `jti`.
    if !store
        .record_client_assertion(&client.id, jti, claims.exp)
        .await?
    {
        return Err(refused("it was already used (its jti was seen before)"));
    }
    Ok(())
}
