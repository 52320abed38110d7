//! Pushed authorization requests (RFC 9126). The client posts its authorization request to
//! the PAR endpoint, authenticated as at the token endpoint (§2), and gets a `request_uri`
//! that stands for it at the authorization endpoint (§4): for that client only, for
//! `par_ttl` seconds, and for one authorization, which spends it. The parameters never pass
//! through the browser, and a confidential client's request is known to be its own.

use super::authorize::{self, AuthorizeError, AuthorizePolicy, HintCheck};
use super::client_auth::{Accepted, ClientRequest};
use super::dpop::endpoint_proof;
use super::request::Form;
use super::routes;
use super::token::EndpointContext;
use crate::domain::{ClientId, SecretHash};
use crate::error::{ErrorCode, OAuthError, StoreError};
use crate::random;
use crate::store::{PushedRequest, Store};
use crate::UnixSeconds;

/// §2.2: what every `request_uri` starts with.
pub const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

/// Client authentication, not part of the authorization request that is kept.
const CLIENT_AUTHENTICATION: [&str; 3] =
    ["client_secret", "client_assertion", "client_assertion_type"];

/// §2.2: the answer to a pushed request.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Pushed {
    pub request_uri: String,
    pub expires_in: i64,
}

/// §2.1: authenticates the client, checks the request as the authorization endpoint would
/// (every error is answered here, in JSON: nothing is redirected), and stores it.
pub async fn push(
    request: &ClientRequest<'_>,
    cx: &EndpointContext<'_>,
    policy: &AuthorizePolicy,
    now: UnixSeconds,
) -> Result<Pushed, OAuthError> {
    let client = cx.authenticate(request, Accepted::Any, now).await?;
    let form = request.form;
    if form.get("request_uri").is_some() {
        return Err(OAuthError::invalid_request(
            "request_uri cannot be pushed; push the authorization request's parameters themselves",
        ));
    }
    if form.get("client_id").is_none() {
        // §2.1: `client_id` is part of the request even when Basic authenticated it.
        return Err(OAuthError::invalid_request(
            "the pushed request must carry client_id",
        ));
    }
    let token = random::token::<32>("").map_err(OAuthError::server_error)?;
    let request_uri = format!("{REQUEST_URI_PREFIX}{token}");
    let id_hash = SecretHash::of(request_uri.as_bytes());
    let keyring = cx.caches.keyring();
    let hints = HintCheck {
        keys: &keyring,
        issuer: &cx.tokens.issuer,
        now,
    };
    authorize::validate(form, Some(&client), (policy, hints), Some(id_hash)).map_err(
        |e| match e {
            AuthorizeError::Page(message) => OAuthError::invalid_request(message),
            AuthorizeError::Redirect { error, .. } => error,
        },
    )?;
    let mut params = form.encode_without(&CLIENT_AUTHENTICATION);
    // RFC 9449 §10.1: a proof sent with the pushed request binds its code to the proof's
    // key, as `dpop_jkt` would; when both come, they must name the same key.
    let binding = (cx.tokens.issuer.as_str(), cx.master, cx.dpop);
    if let Some(proof) = endpoint_proof(request, routes::PAR, cx.store, binding, now).await? {
        match form.get("dpop_jkt") {
            Some(jkt) if jkt != proof.jkt => {
                return Err(OAuthError::new(
                    ErrorCode::InvalidDpopProof,
                    "dpop_jkt is not the thumbprint of the DPoP proof's key",
                ))
            }
            Some(_) => {}
            None => params.push_str(&format!("&dpop_jkt={}", proof.jkt)),
        }
    }
    let stored = PushedRequest {
        id_hash,
        client_id: client.id.clone(),
        params,
        created_at: now,
        expires_at: now + policy.par_ttl,
        used_at: None,
    };
    cx.store.insert_pushed_request(&stored).await?;
    Ok(Pushed {
        request_uri,
        expires_in: policy.par_ttl,
    })
}

/// Why a `request_uri` at the authorization endpoint stands for nothing; each is shown on
/// a page (the redirect URI inside cannot be trusted when the request cannot be found).
#[derive(Debug)]
pub enum Unresolved {
    Refused(&'static str),
    Store(StoreError),
}

impl From<StoreError> for Unresolved {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

/// §4: the pushed request `request_uri` stands for, if `client_id` pushed it, it has not
/// expired and no authorization has used it: its parameters and the hash that spends it.
pub async fn resolve(
    store: &dyn Store,
    request_uri: &str,
    client_id: Option<&str>,
    now: UnixSeconds,
) -> Result<(String, SecretHash), Unresolved> {
    let id_hash = SecretHash::of(request_uri.as_bytes());
    let Some(client_id) = client_id.and_then(ClientId::parse) else {
        return Err(Unresolved::Refused(
            "The request does not name an application (client_id is missing).",
        ));
    };
    let found = store.find_pushed_request(&id_hash).await?;
    match found {
        Some(p) if p.client_id != client_id => Err(Unresolved::Refused(
            "This authorization request was pushed by another application.",
        )),
        Some(p) if p.used_at.is_some() => Err(Unresolved::Refused(
            "This authorization request was already used. Go back to the application and start again.",
        )),
        Some(p) if now >= p.expires_at => Err(Unresolved::Refused(
            "This authorization request has expired. Go back to the application and start again.",
        )),
        Some(p) => Ok((p.params, id_hash)),
        None => Err(Unresolved::Refused(
            "This authorization request is unknown or has expired. Go back to the application and start again.",
        )),
    }
}

/// The parameters of the request to validate: a pushed request's own, with Tessera's
/// [`authorize::SIGNED_IN_AFTER`] carried over from the URL (it is added on the way back
/// from a sign-in, after the push). RFC 9126 §4: every other parameter outside the
/// pushed request is ignored.
pub fn with_sign_in_marker(pushed: &str, outer: &Form) -> String {
    match outer.get(authorize::SIGNED_IN_AFTER) {
        Some(after) if after.bytes().all(|b| b.is_ascii_digit()) => {
            format!("{pushed}&{}={after}", authorize::SIGNED_IN_AFTER)
        }
        _ => pushed.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;
    use crate::store::AuthorizationStore;
    use crate::testing::{application, authenticated, request, World, HTTPS_CB, NOW};

    const POLICY: AuthorizePolicy = AuthorizePolicy {
        require_pkce: false,
        code_ttl: 60,
        skip_consent_when_granted: true,
        require_par: false,
        par_ttl: 90,
    };

    #[tokio::test]
    async fn a_pushed_request_stands_for_its_client_once_and_for_its_lifetime() {
        let world = World::new();
        let app = world.add(application(false, true, None)).await;
        let body = authenticated(
            &app,
            &format!("response_type=code&redirect_uri={HTTPS_CB}&scope=books:read&state=s1"),
        );
        let pushed = push(&request(&body), &world.endpoint(), &POLICY, NOW)
            .await
            .unwrap();
        assert!(pushed.request_uri.starts_with(REQUEST_URI_PREFIX));
        assert_eq!(pushed.expires_in, 90);
        let uri = pushed.request_uri.as_str();
        let id = app.id.as_str();
        let (params, hash) = resolve(&world.store, uri, Some(id), NOW).await.unwrap();
        let params = Form::parse(params.as_bytes()).unwrap();
        assert_eq!(params.get("state"), Some("s1"));
        assert_eq!(
            params.get("client_secret"),
            None,
            "authentication is not kept"
        );
        for (client, at, words) in [
            (Some("cl_other"), NOW, "another application"),
            (None, NOW, "client_id is missing"),
            (Some(id), NOW + 90, "expired"),
        ] {
            match resolve(&world.store, uri, client, at).await {
                Err(Unresolved::Refused(m)) => assert!(m.contains(words), "{m}"),
                other => panic!("{words}: {other:?}"),
            }
        }
        assert!(world.store.spend_pushed_request(&hash, NOW).await.unwrap());
        assert!(!world.store.spend_pushed_request(&hash, NOW).await.unwrap());
        match resolve(&world.store, uri, Some(id), NOW).await {
            Err(Unresolved::Refused(m)) => assert!(m.contains("already used"), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn a_bad_push_is_answered_in_json_and_stores_nothing() {
        let world = World::new();
        let app = world.add(application(false, true, None)).await;
        for (rest, code) in [
            (
                "response_type=code&redirect_uri=https://evil.example/".to_owned(),
                ErrorCode::InvalidRequest,
            ),
            (
                format!("response_type=token&redirect_uri={HTTPS_CB}"),
                ErrorCode::UnsupportedResponseType,
            ),
            (
                format!("response_type=code&redirect_uri={HTTPS_CB}&scope=admin"),
                ErrorCode::InvalidScope,
            ),
            (
                format!(
                    "response_type=code&redirect_uri={HTTPS_CB}&request_uri={REQUEST_URI_PREFIX}x"
                ),
                ErrorCode::InvalidRequest,
            ),
        ] {
            let body = authenticated(&app, &rest);
            let err = push(&request(&body), &world.endpoint(), &POLICY, NOW)
                .await
                .unwrap_err();
            assert_eq!(err.code, code, "{rest}");
        }
        let wrong = crate::testing::form(&format!(
            "client_id={}&client_secret=wrong&response_type=code",
            app.id
        ));
        let err = push(&request(&wrong), &world.endpoint(), &POLICY, NOW)
            .await
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidClient);
    }
}
