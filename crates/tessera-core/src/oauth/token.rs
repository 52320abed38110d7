//! The token endpoint (RFC 6749 §3.2): authenticates the client (§3.2.1), checks that it
//! may use the grant it names (§5.2 `unauthorized_client`) and hands the request to that
//! grant's file. HTTP parses the request, calls [`token`] and renders what it answers.

use super::authorization_code::exchange_authorization_code;
use super::device::exchange_device_code;
use std::sync::Arc;

use super::client_auth::{authenticate_request, Accepted, ClientRequest};
use super::client_credentials::issue_client_credentials;
use super::dpop::{token_request_proof, DpopPolicy};
use super::refresh_token::{refresh, RefreshPolicy};
use super::request::Form;
use super::response::TokenResponse;
use super::token_set::GrantContext;
use crate::domain::{Client, GrantType};
use crate::error::{ErrorCode, OAuthError};
use crate::runtime::endpoint_limits::Passage;
use crate::runtime::Caches;
use crate::store::{Store, TokenSource};
use crate::token::issue::TokenPolicy;
use crate::token::keys::Keyring;
use crate::token::master_key::MasterKey;
use crate::UnixSeconds;

/// What the client-authenticated endpoints (token, revocation, introspection) need: the
/// store, this process's caches and the token policies; never the whole configuration.
#[derive(Clone, Copy)]
pub struct EndpointContext<'a> {
    pub store: &'a dyn Store,
    pub caches: &'a Caches,
    pub master: &'a MasterKey,
    pub tokens: &'a TokenPolicy,
    pub refresh: &'a RefreshPolicy,
    pub dpop: &'a DpopPolicy,
    /// This request's way through the rate limits; `None`: not limited.
    pub passage: Option<&'a Passage<'a>>,
}

impl<'a> EndpointContext<'a> {
    /// The client `request` authenticates as (see [`authenticate_request`]), once its rate
    /// limit lets it in: `slow_down` when it does not, which the HTTP layer answers with 429.
    pub async fn authenticate(
        &self,
        request: &ClientRequest<'_>,
        accepted: Accepted,
        now: UnixSeconds,
    ) -> Result<Arc<Client>, OAuthError> {
        let issuer = &self.tokens.issuer;
        let client =
            authenticate_request(request, accepted, self.store, self.caches, issuer, now).await?;
        if let Some(passage) = self.passage {
            passage
                .admit_client(client.id.as_str())
                .map_err(|limited| {
                    OAuthError::new(
                        ErrorCode::SlowDown,
                        format!(
                            "this client sent too many requests; retry in {} seconds",
                            limited.retry_after
                        ),
                    )
                })?;
        }
        Ok(client)
    }

    /// What a grant needs, with the key of `keyring` that signs at `now`. The caller holds
    /// the keyring (`caches.keyring()`) so a concurrent rotation cannot pull the key away.
    pub fn grant_context(
        &self,
        keyring: &'a Keyring,
        now: UnixSeconds,
    ) -> Result<GrantContext<'a>, OAuthError> {
        let key = keyring
            .current(now)
            .ok_or_else(|| OAuthError::server_error("no signing key is active"))?;
        Ok(GrantContext {
            store: self.store,
            caches: self.caches,
            master: self.master,
            key,
            policy: self.tokens,
            dpop_jkt: None,
            now,
        })
    }
}

/// §4.1.3, §4.4.2, §6: one token request, whichever grant it names.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn token(
    request: &ClientRequest<'_>,
    cx: &EndpointContext<'_>,
    now: UnixSeconds,
) -> Result<TokenResponse, OAuthError> {
    let grant = grant_type(request.form)?;
    let client = cx.authenticate(request, Accepted::Any, now).await?;
    if !client.allows_grant(grant) {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            format!("this client may not use the {} grant", grant.as_str()),
        ));
    }
    let binding = (cx.tokens.issuer.as_str(), cx.master, cx.dpop);
    let proof = token_request_proof(request, &client, cx.store, binding, now).await?;
    let keyring = cx.caches.keyring();
    let grant_cx = GrantContext {
        dpop_jkt: proof.as_ref().map(|p| p.jkt.as_str()),
        ..cx.grant_context(&keyring, now)?
    };
    let form = request.form;
    let response = match grant {
        GrantType::ClientCredentials => issue_client_credentials(&client, form, &grant_cx)?,
        GrantType::AuthorizationCode => {
            exchange_authorization_code(&grant_cx, &client, form).await?
        }
        GrantType::RefreshToken => refresh(&grant_cx, &client, form, cx.refresh).await?,
        GrantType::DeviceCode => exchange_device_code(&grant_cx, &client, form).await?,
    };
    cx.caches
        .clients
        .record_token_use(cx.store, &client.id, TokenSource::Integration, now)
        .await;
    Ok(response)
}

/// `grant_type` (§4.1.3, §4.4.2, §6): missing is `invalid_request`, unknown is
/// `unsupported_grant_type` (§5.2).
fn grant_type(form: &Form) -> Result<GrantType, OAuthError> {
    let raw = form
        .require("grant_type")
        .map_err(|_| OAuthError::invalid_request("the parameter `grant_type` is missing"))?;
    GrantType::parse(raw).ok_or_else(|| {
        OAuthError::new(
            ErrorCode::UnsupportedGrantType,
            format!(
                "grant_type {raw:?} is not supported; use client_credentials, authorization_code, refresh_token or urn:ietf:params:oauth:grant-type:device_code"
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Client, ClientStatus};
    use crate::testing::{
        application, authenticated, credential_client, form, request, World, NOW,
    };
    use crate::token::jwt::{self, Expectations};

    struct Case {
        description: &'static str,
        client: Client,
        /// The form; `None`: authenticated as `client` with `rest`.
        body: Option<String>,
        rest: &'static str,
        /// The access token's `scope` claim, or the error.
        expect: Result<&'static str, ErrorCode>,
    }

    fn revoked(mut c: Client) -> Client {
        c.status = ClientStatus::Revoked;
        c
    }

    #[tokio::test]
    async fn token_endpoint_dispatch_client_auth_and_client_credentials() {
        let cc = credential_client("books:read books:write");
        let cases = vec![
            Case {
                description: "should issue every scope of the client when none is requested",
                client: cc.clone(),
                body: None,
                rest: "grant_type=client_credentials",
                expect: Ok("books:read books:write"),
            },
            Case {
                description: "should narrow the token to the requested scope",
                client: cc.clone(),
                body: None,
                rest: "grant_type=client_credentials&scope=books:read",
                expect: Ok("books:read"),
            },
            Case {
                description: "should fail because a requested scope is not the client's",
                client: cc.clone(),
                body: None,
                rest: "grant_type=client_credentials&scope=books:read+admin",
                expect: Err(ErrorCode::InvalidScope),
            },
            Case {
                description: "should fail because grant_type is missing",
                client: cc.clone(),
                body: None,
                rest: "",
                expect: Err(ErrorCode::InvalidRequest),
            },
            Case {
                description: "should fail because grant_type is not one the server knows",
                client: cc.clone(),
                body: None,
                rest: "grant_type=password",
                expect: Err(ErrorCode::UnsupportedGrantType),
            },
            Case {
                description: "should fail because the secret is wrong",
                client: cc.clone(),
                body: Some(format!(
                    "grant_type=client_credentials&client_id={}&client_secret=wrong",
                    cc.id
                )),
                rest: "",
                expect: Err(ErrorCode::InvalidClient),
            },
            Case {
                description: "should fail because a confidential client sent no secret",
                client: cc.clone(),
                body: Some(format!("grant_type=client_credentials&client_id={}", cc.id)),
                rest: "",
                expect: Err(ErrorCode::InvalidClient),
            },
            Case {
                description: "should fail because no client authentication was sent",
                client: cc.clone(),
                body: Some("grant_type=client_credentials".into()),
                rest: "",
                expect: Err(ErrorCode::InvalidClient),
            },
            Case {
                description: "should fail because the client is revoked",
                client: revoked(credential_client("books:read")),
                body: None,
                rest: "grant_type=client_credentials",
                expect: Err(ErrorCode::InvalidClient),
            },
            Case {
                description: "should fail because the client is unknown",
                client: cc.clone(),
                body: Some(
                    "grant_type=client_credentials&client_id=cl_nobody&client_secret=x".into(),
                ),
                rest: "",
                expect: Err(ErrorCode::InvalidClient),
            },
            Case {
                description: "should fail because a credential client may not use the code grant",
                client: cc.clone(),
                body: None,
                rest: "grant_type=authorization_code&code=ac_x",
                expect: Err(ErrorCode::UnauthorizedClient),
            },
            Case {
                description: "should fail because an application may not use client credentials",
                client: application(false, true, None),
                body: None,
                rest: "grant_type=client_credentials",
                expect: Err(ErrorCode::UnauthorizedClient),
            },
        ];
        for case in cases {
            let world = World::new();
            let client = world.add(case.client).await;
            let body = match case.body {
                Some(b) => form(&b),
                None => authenticated(&client, case.rest),
            };
            let got = token(&request(&body), &world.endpoint(), NOW).await;
            let got = match got {
                Ok(response) => {
                    let expect = Expectations {
                        issuer: &world.tokens.issuer,
                        audience: &world.tokens.audience,
                    };
                    let claims = jwt::verify(
                        &response.access_token,
                        &world.caches.keyring(),
                        &expect,
                        NOW,
                    )
                    .unwrap();
                    assert_eq!(claims.sub, "acct_a", "{}", case.description);
                    Ok(claims.scope)
                }
                Err(e) => Err(e.code),
            };
            assert_eq!(got, case.expect.map(str::to_owned), "{}", case.description);
        }
    }

    #[tokio::test]
    async fn a_client_over_its_rate_limit_is_slow_down_and_a_failed_authentication_spends_nothing()
    {
        use crate::runtime::endpoint_limits::{
            EndpointGroup, EndpointLimitPolicy, EndpointLimits, GroupQuotas,
        };
        use crate::runtime::rate_limit::Quota;
        let quotas = GroupQuotas {
            per_client: Quota {
                burst: 1,
                period_secs: 60,
            },
            per_address: Quota {
                burst: 100,
                period_secs: 60,
            },
        };
        let limits = EndpointLimits::new(&EndpointLimitPolicy {
            token: quotas,
            revocation: quotas,
            introspection: quotas,
            exempt_clients: Vec::new(),
        });
        let world = World::new();
        let client = world.add(credential_client("books:read")).await;
        let good = authenticated(&client, "grant_type=client_credentials");
        let wrong = form(&format!(
            "grant_type=client_credentials&client_id={}&client_secret=wrong",
            client.id
        ));
        async fn at(
            limits: &EndpointLimits,
            world: &World,
            now: UnixSeconds,
            body: &Form,
        ) -> Option<ErrorCode> {
            let address = "192.0.2.1".parse().ok();
            let passage = limits
                .enter(EndpointGroup::Token, address, now * 1000)
                .unwrap();
            let cx = EndpointContext {
                passage: Some(&passage),
                ..world.endpoint()
            };
            token(&request(body), &cx, now).await.err().map(|e| e.code)
        }
        let w = &world;
        let l = &limits;
        assert_eq!(at(l, w, NOW, &wrong).await, Some(ErrorCode::InvalidClient));
        assert_eq!(
            at(l, w, NOW, &good).await,
            None,
            "the failure spent nothing"
        );
        assert_eq!(at(l, w, NOW, &good).await, Some(ErrorCode::SlowDown));
        assert_eq!(at(l, w, NOW, &wrong).await, Some(ErrorCode::InvalidClient));
        assert_eq!(at(l, w, NOW + 60, &good).await, None, "refilled");
    }
}
