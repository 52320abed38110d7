//! Token revocation (RFC 7009).
//!
//! The hint is honoured for the order of lookups, never trusted (§2.1). An unknown, expired
//! or already revoked token is a success (§2.2). A client revokes only its own tokens.

use super::client_auth::{Accepted, ClientRequest};
use super::request::Form;
use super::token::EndpointContext;
use super::token_set::{revoke_token_set, SetToRevoke};
use crate::domain::{ordered_secret, Client};
use crate::error::{ErrorCode, OAuthError};
use crate::runtime::Caches;
use crate::store::Store;
use crate::token::issue::TokenPolicy;
use crate::token::jwt::{self, Expectations, TokenError};
use crate::UnixSeconds;

/// What the revocation found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revoked {
    AccessToken {
        jti: String,
    },
    TokenSet {
        id: String,
    },
    /// Unknown, expired or malformed: nothing to do (§2.2).
    Nothing,
}

fn not_yours() -> OAuthError {
    OAuthError::new(
        ErrorCode::UnauthorizedClient,
        "the token was not issued to this client",
    )
}

/// §2.1: the client authenticates, then revokes one of its tokens.
pub async fn revoke_request(
    request: &ClientRequest<'_>,
    cx: &EndpointContext<'_>,
    now: UnixSeconds,
) -> Result<Revoked, OAuthError> {
    let client = cx.authenticate(request, Accepted::Any, now).await?;
    revoke(cx.store, cx.caches, &client, request.form, cx.tokens, now).await
}

#[tracing::instrument(level = "debug", skip_all, fields(client_id = %client.id))]
pub async fn revoke(
    store: &dyn Store,
    caches: &Caches,
    client: &Client,
    form: &Form,
    policy: &TokenPolicy,
    now: UnixSeconds,
) -> Result<Revoked, OAuthError> {
    let token = form.require("token")?;
    let hint = form.get("token_type_hint");
    // §2.1 registers two hints; any other names a type this server cannot revoke (§2.2.1).
    if let Some(other) = hint.filter(|h| !matches!(*h, "access_token" | "refresh_token")) {
        return Err(OAuthError::new(
            ErrorCode::UnsupportedTokenType,
            format!(
                "token_type_hint {other:?} is not a type this server issues; use access_token or refresh_token, or leave it out"
            ),
        ));
    }
    let refresh_first = hint == Some("refresh_token") || !token.contains('.');
    if refresh_first {
        if let Some(done) = revoke_refresh(store, caches, client, token, policy, now).await? {
            return Ok(done);
        }
        return revoke_access(store, caches, client, token, policy, now).await;
    }
    match revoke_access(store, caches, client, token, policy, now).await? {
        Revoked::Nothing => Ok(revoke_refresh(store, caches, client, token, policy, now)
            .await?
            .unwrap_or(Revoked::Nothing)),
        done => Ok(done),
    }
}

/// A refresh token revokes its whole token set, and with it every access token of the set.
async fn revoke_refresh(
    store: &dyn Store,
    caches: &Caches,
    client: &Client,
    token: &str,
    policy: &TokenPolicy,
    now: UnixSeconds,
) -> Result<Option<Revoked>, OAuthError> {
    let Some((_, set)) = store
        .find_refresh_token(&ordered_secret::key(token))
        .await?
    else {
        return Ok(None);
    };
    if set.client_id != client.id {
        return Err(not_yours());
    }
    revoke_token_set(store, caches, policy, SetToRevoke::Id(&set.id), now).await?;
    Ok(Some(Revoked::TokenSet {
        id: set.id.to_string(),
    }))
}

async fn revoke_access(
    store: &dyn Store,
    caches: &Caches,
    client: &Client,
    token: &str,
    policy: &TokenPolicy,
    now: UnixSeconds,
) -> Result<Revoked, OAuthError> {
    let expect = Expectations {
        issuer: &policy.issuer,
        audience: &policy.audience,
    };
    let claims = match jwt::verify(token, &caches.keyring(), &expect, now) {
        Ok(c) => c,
        Err(TokenError::Expired) | Err(_) => return Ok(Revoked::Nothing),
    };
    if claims.client_id != client.id.as_str() {
        return Err(not_yours());
    }
    store
        .insert_revoked_token(&claims.jti, claims.exp, now)
        .await?;
    caches.revoked.insert(claims.jti.clone(), claims.exp);
    Ok(Revoked::AccessToken { jti: claims.jti })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{application, authenticated, request, user, World, NOW};

    #[tokio::test]
    async fn revoking_a_refresh_token_revokes_its_set_here_and_in_the_store() {
        let world = World::new();
        let app = world.add(application(false, true, None)).await;
        let (set, rt) = world.token_set(&app, &user(&["acct_a"]), NOW).await;
        let body = authenticated(&app, &format!("token={rt}"));
        let done = revoke_request(&request(&body), &world.endpoint(), NOW)
            .await
            .unwrap();
        assert_eq!(
            done,
            Revoked::TokenSet {
                id: set.id.to_string()
            }
        );
        assert!(world.store.token_set(&set.id).unwrap().revoked_at.is_some());
        assert!(world.caches.revoked_sets.contains(set.id.as_str()));
    }

    #[tokio::test]
    async fn revocation_rules() {
        struct Case {
            description: &'static str,
            token: Option<&'static str>,
            by_other: bool,
            expect: Result<(), ErrorCode>,
        }
        let cases = [
            Case {
                description: "should fail because another client's token is not yours to revoke",
                token: None,
                by_other: true,
                expect: Err(ErrorCode::UnauthorizedClient),
            },
            Case {
                description: "should succeed doing nothing for an unknown token (RFC 7009 §2.2)",
                token: Some("rt_unknown"),
                by_other: false,
                expect: Ok(()),
            },
            Case {
                description: "should succeed doing nothing for a malformed access token",
                token: Some("a.b.c"),
                by_other: false,
                expect: Ok(()),
            },
        ];
        for case in cases {
            let world = World::new();
            let app = world.add(application(false, true, None)).await;
            let other = world.add(application(false, true, None)).await;
            let (set, rt) = world.token_set(&app, &user(&["acct_a"]), NOW).await;
            let caller = if case.by_other { &other } else { &app };
            let body = authenticated(caller, &format!("token={}", case.token.unwrap_or(&rt)));
            let got = revoke_request(&request(&body), &world.endpoint(), NOW).await;
            assert_eq!(
                got.map(|_| ()).map_err(|e| e.code),
                case.expect,
                "{}",
                case.description
            );
            assert_eq!(
                world.store.token_set(&set.id).unwrap().revoked_at,
                None,
                "{}: the set is untouched",
                case.description
            );
        }
    }
}
