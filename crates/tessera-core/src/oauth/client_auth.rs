//! Client authentication (RFC 6749 §2.3.1) at the token, PAR, revocation and introspection
//! endpoints: reading the credentials from the request and checking them; a secret, or a
//! `private_key_jwt` client assertion (`client_assertion.rs`).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use std::sync::Arc;

use super::client_assertion::{self, claimed_client, JWT_BEARER};
use super::request::{decode_component, Form};
use crate::domain::{Client, ClientId, ClientSecret, ClientStatus};
use crate::error::OAuthError;
use crate::runtime::Caches;
use crate::store::Store;
use crate::UnixSeconds;

/// What a client-authenticated endpoint reads of an HTTP request: the `Authorization`
/// header's value and the strictly parsed form body.
#[derive(Debug, Clone, Copy)]
pub struct ClientRequest<'a> {
    pub authorization: Option<&'a str>,
    pub form: &'a Form,
    /// The request's one `DPoP` header (RFC 9449 §4.1), for the token endpoint.
    pub dpop: Option<&'a str>,
}

/// How the client presented its credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// `client_secret_basic`: HTTP Basic with form-encoded id and secret.
    Basic,
    /// `client_secret_post`: `client_id` and `client_secret` in the body.
    Post,
    /// `none`: a public client sends only its `client_id`.
    None,
    /// `private_key_jwt`: a JWT signed with the client's key (RFC 7523 §2.2).
    PrivateKeyJwt,
}

#[derive(Debug)]
pub struct PresentedClient {
    pub id: ClientId,
    pub secret: Option<ClientSecret>,
    /// The `client_assertion` of `private_key_jwt`.
    pub assertion: Option<String>,
    pub method: AuthMethod,
}

/// Reads the client's credentials from the `Authorization` header value and the body.
pub fn extract(authorization: Option<&str>, form: &Form) -> Result<PresentedClient, OAuthError> {
    if let Some(presented) = asserted(authorization, form)? {
        return Ok(presented);
    }
    let basic = match authorization {
        Some(value) => Some(parse_basic(value)?),
        None => None,
    };
    let body_id = form.get("client_id");
    let body_secret = form.get("client_secret");
    match basic {
        Some((id, secret)) => {
            // §2.3: "The client MUST NOT use more than one authentication method".
            if body_secret.is_some() {
                return Err(OAuthError::invalid_request(
                    "the client authenticated twice (HTTP Basic and client_secret in the body); use one method",
                ));
            }
            if body_id.is_some_and(|b| b != id) {
                return Err(OAuthError::invalid_request(
                    "client_id in the body differs from the one in the Authorization header",
                ));
            }
            let id = ClientId::parse(&id)
                .ok_or_else(|| OAuthError::invalid_client("client authentication failed"))?;
            Ok(PresentedClient {
                id,
                secret: Some(ClientSecret::from_request(secret)),
                assertion: None,
                method: AuthMethod::Basic,
            })
        }
        None => {
            let raw_id = body_id.ok_or_else(|| {
                OAuthError::invalid_client(
                    "client authentication is missing: send HTTP Basic credentials or client_id and client_secret",
                )
            })?;
            let id = ClientId::parse(raw_id)
                .ok_or_else(|| OAuthError::invalid_client("client authentication failed"))?;
            Ok(match body_secret {
                Some(s) => PresentedClient {
                    id,
                    secret: Some(ClientSecret::from_request(s.to_owned())),
                    assertion: None,
                    method: AuthMethod::Post,
                },
                None => PresentedClient {
                    id,
                    secret: None,
                    assertion: None,
                    method: AuthMethod::None,
                },
            })
        }
    }
}

/// A `private_key_jwt` client's credentials (RFC 7523 §2.2), if the body carries a client
/// assertion: never together with another method, and `client_id`, when sent, must be the
/// assertion's.
fn asserted(
    authorization: Option<&str>,
    form: &Form,
) -> Result<Option<PresentedClient>, OAuthError> {
    let kind = form.get("client_assertion_type");
    let assertion = form.get("client_assertion");
    let assertion = match (kind, assertion) {
        (None, None) => return Ok(None),
        (Some(JWT_BEARER), Some(a)) => a,
        (Some(JWT_BEARER), None) => {
            return Err(OAuthError::invalid_request(
                "client_assertion is missing (client_assertion_type is jwt-bearer)",
            ))
        }
        (Some(other), _) => {
            return Err(OAuthError::invalid_client(format!(
                "client_assertion_type {other:?} is not supported; use {JWT_BEARER}"
            )))
        }
        (None, Some(_)) => {
            return Err(OAuthError::invalid_request(
                "client_assertion_type is missing",
            ))
        }
    };
    if authorization.is_some() || form.get("client_secret").is_some() {
        return Err(OAuthError::invalid_request(
            "the client authenticated twice (a client assertion and a secret); use one method",
        ));
    }
    let id = claimed_client(assertion)?;
    if form
        .get("client_id")
        .is_some_and(|sent| sent != id.as_str())
    {
        return Err(OAuthError::invalid_client(
            "client_id differs from the client assertion's sub",
        ));
    }
    Ok(Some(PresentedClient {
        id,
        secret: None,
        assertion: Some(assertion.to_owned()),
        method: AuthMethod::PrivateKeyJwt,
    }))
}

/// `Basic base64(urlencode(id) ":" urlencode(secret))` (§2.3.1, RFC 7617).
fn parse_basic(value: &str) -> Result<(String, String), OAuthError> {
    let bad = || {
        OAuthError::invalid_request(
            "the Authorization header must be `Basic base64(client_id:client_secret)`",
        )
    };
    let (scheme, rest) = value.split_once(' ').ok_or_else(bad)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(bad());
    }
    let decoded = STANDARD.decode(rest.trim()).map_err(|_| bad())?;
    let colon = decoded.iter().position(|&b| b == b':').ok_or_else(bad)?;
    let id = decode_component(&decoded[..colon])?;
    let secret = decode_component(&decoded[colon + 1..])?;
    Ok((id, secret))
}

/// Checks a confidential client's secret against `client` (already looked up by id).
/// Every failure is the same `invalid_client`, so the response tells nothing about which
/// part was wrong.
pub fn authenticate(
    presented: &PresentedClient,
    client: Option<&Client>,
    now: UnixSeconds,
) -> Result<(), OAuthError> {
    let failed = || OAuthError::invalid_client("client authentication failed");
    let client = client.ok_or_else(failed)?;
    if client.status != ClientStatus::Active {
        return Err(OAuthError::invalid_client("the client has been revoked"));
    }
    match &presented.secret {
        Some(secret) if client.secret_matches(&secret.hash(), now) => Ok(()),
        Some(_) => Err(failed()),
        None if client.public => Ok(()),
        None if client.jwks.is_some() => Err(OAuthError::invalid_client(
            "client authentication is missing: this client must send a client assertion (private_key_jwt)",
        )),
        None => Err(OAuthError::invalid_client(
            "client authentication is missing: this client must send its client_secret",
        )),
    }
}

/// The client a request authenticates as (credentials read by [`extract`], checked by
/// [`authenticate`] or, for a client assertion, by [`client_assertion::verify`] against
/// `issuer`), from the client cache.
pub async fn authenticate_client(
    presented: &PresentedClient,
    store: &dyn Store,
    caches: &Caches,
    issuer: &str,
    now: UnixSeconds,
) -> Result<Arc<Client>, OAuthError> {
    let client = caches.clients.get(&presented.id, store, now).await?;
    let found = client
        .as_deref()
        .ok_or_else(|| OAuthError::invalid_client("client authentication failed"))?;
    match &presented.assertion {
        Some(assertion) => {
            if found.status != ClientStatus::Active {
                return Err(OAuthError::invalid_client("the client has been revoked"));
            }
            client_assertion::verify(assertion, found, store, caches, issuer, now).await?;
        }
        None => authenticate(presented, Some(found), now)?,
    }
    client.ok_or_else(|| OAuthError::invalid_client("client authentication failed"))
}

/// Which clients an endpoint lets authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepted {
    /// Confidential clients with their secret, public clients with their id alone.
    Any,
    /// Only clients proving a secret; the description says why to one that sent none.
    WithSecret(&'static str),
}

/// The client a request authenticates as: its credentials read from the request
/// ([`extract`]), a missing secret refused where `accepted` demands one before any lookup,
/// then checked against the client ([`authenticate_client`]).
pub async fn authenticate_request(
    request: &ClientRequest<'_>,
    accepted: Accepted,
    store: &dyn Store,
    caches: &Caches,
    issuer: &str,
    now: UnixSeconds,
) -> Result<Arc<Client>, OAuthError> {
    let presented = extract(request.authorization, request.form)?;
    let proves = presented.secret.is_some() || presented.assertion.is_some();
    if let (Accepted::WithSecret(why), false) = (accepted, proves) {
        return Err(OAuthError::invalid_client(why));
    }
    authenticate_client(&presented, store, caches, issuer, now).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_form_decoded() {
        let header = format!("Basic {}", STANDARD.encode("cl_a%2Bb:s%3Acret+x"));
        let p = extract(Some(&header), &Form::default()).unwrap();
        assert_eq!(p.id.as_str(), "cl_a+b");
        assert_eq!(p.secret.unwrap().expose(), "s:cret x");
        assert_eq!(p.method, AuthMethod::Basic);
    }

    #[test]
    fn basic_plus_body_secret_is_invalid_request() {
        let header = format!("Basic {}", STANDARD.encode("a:b"));
        let form = Form::parse(b"client_secret=b").unwrap();
        assert_eq!(
            extract(Some(&header), &form).unwrap_err().code,
            crate::error::ErrorCode::InvalidRequest
        );
    }

    #[tokio::test]
    async fn an_endpoint_demanding_a_secret_refuses_a_public_client_with_its_reason() {
        use crate::testing::{application, form, request, World, NOW};
        let world = World::new();
        let public = world.add(application(true, true, None)).await;
        let body = form(&format!("client_id={}", public.id));
        let (store, caches) = (&world.store, &world.caches);
        let issuer = "http://i";
        let any =
            authenticate_request(&request(&body), Accepted::Any, store, caches, issuer, NOW).await;
        assert_eq!(any.unwrap().id, public.id);
        let why = "introspection needs client authentication with a secret";
        for id in [public.id.as_str(), "cl_nobody"] {
            let body = form(&format!("client_id={id}"));
            let err = authenticate_request(
                &request(&body),
                Accepted::WithSecret(why),
                store,
                caches,
                issuer,
                NOW,
            )
            .await
            .unwrap_err();
            assert_eq!(err.code, crate::error::ErrorCode::InvalidClient, "{id}");
            assert_eq!(err.description, why, "{id}: refused before any lookup");
        }
    }
}
