//! The authorization code grant (RFC 6749 §4.1): minting codes after consent, and
//! exchanging them at the token endpoint.

use super::authorize::{AuthorizationRequest, AuthorizePolicy, Delivery};
use super::pkce;
use super::request::Form;
use super::response::TokenResponse;
use super::token_set::{
    revoke_token_set, start_token_set, GrantContext, SetToRevoke, TokenSetOwner,
};
use crate::domain::{ordered_secret, AccountId, Client, ScopeSet, TokenSetId, UserId};
use crate::error::{OAuthError, StoreError};
use crate::store::{AuthorizationCode, CodeConsumption, Store};
use crate::UnixSeconds;

/// What the user approved on the consent page.
pub struct Approval<'a> {
    pub request: &'a AuthorizationRequest,
    pub user_id: &'a UserId,
    pub account_id: &'a AccountId,
    /// Granted scopes: a subset of the requested ones.
    pub scopes: &'a ScopeSet,
    /// When the user signed in (the session's start).
    pub auth_time: UnixSeconds,
}

/// Stores a new code for an approval (§4.1.2) and returns it; only its hash is stored.
pub async fn mint_authorization_code(
    store: &dyn Store,
    approval: &Approval<'_>,
    policy: &AuthorizePolicy,
    now: UnixSeconds,
) -> Result<String, StoreError> {
    let code = ordered_secret::generate("ac_", now).map_err(StoreError::new)?;
    let record = AuthorizationCode {
        code_hash: ordered_secret::key(&code),
        client_id: approval.request.client_id.clone(),
        redirect_uri: match &approval.request.delivery {
            Delivery::Redirect(uri) => uri.clone(),
            Delivery::CodePage => String::new(),
        },
        redirect_uri_sent: approval.request.redirect_uri_sent,
        user_id: approval.user_id.clone(),
        account_id: approval.account_id.clone(),
        scopes: approval.scopes.clone(),
        code_challenge: approval.request.code_challenge.clone(),
        nonce: approval.request.nonce.clone(),
        auth_time: Some(approval.auth_time),
        token_set_id: TokenSetId::generate_at(now).map_err(StoreError::new)?,
        created_at: now,
        expires_at: now + policy.code_ttl,
        dpop_jkt: approval.request.dpop_jkt.clone(),
    };
    store.insert_authorization_code(&record).await?;
    Ok(code)
}

/// §4.1.3: exchanges a code for an access token and the first refresh token of a new set.
#[tracing::instrument(level = "debug", skip_all, fields(client_id = %client.id))]
pub async fn exchange_authorization_code(
    cx: &GrantContext<'_>,
    client: &Client,
    form: &Form,
) -> Result<TokenResponse, OAuthError> {
    let (store, now) = (cx.store, cx.now);
    let code = form.require("code")?;
    // §4.1.3: the code must have been issued to this client. The store compares the client
    // in the consuming statement, so another client's code is neither spent nor replayed.
    let record = match store
        .consume_authorization_code(&ordered_secret::key(code), &client.id, now)
        .await?
    {
        CodeConsumption::Consumed(record) => record,
        CodeConsumption::NotFound => {
            return Err(OAuthError::invalid_grant(
                "the authorization code is invalid or was issued to another client",
            ))
        }
        // §4.1.2: a code used twice revokes every token issued from it.
        CodeConsumption::AlreadyUsed(record) => {
            let set = SetToRevoke::OfCode(&record);
            revoke_token_set(store, cx.caches, cx.policy, set, now).await?;
            cx.caches.counters.code_reuse.inc();
            tracing::warn!(client_id = %record.client_id, "authorization code reused; its tokens are revoked");
            return Err(OAuthError::invalid_grant(
                "the authorization code was already used",
            ));
        }
    };
    if now >= record.expires_at {
        let ttl = record.expires_at - record.created_at;
        return Err(OAuthError::invalid_grant(format!(
            "the authorization code has expired; codes live {ttl} seconds"
        )));
    }
    let sent = form.get("redirect_uri");
    let redirect_ok = match sent {
        Some(uri) => uri == record.redirect_uri,
        None => !record.redirect_uri_sent,
    };
    if !redirect_ok {
        return Err(OAuthError::invalid_grant(
            "redirect_uri must be identical to the one of the authorization request",
        ));
    }
    match (&record.code_challenge, form.get("code_verifier")) {
        (Some(challenge), Some(verifier)) if pkce::verify_s256(verifier, challenge) => {}
        (Some(_), Some(_)) => {
            return Err(OAuthError::invalid_grant(
                "the PKCE code_verifier does not match",
            ))
        }
        (Some(_), None) => {
            return Err(OAuthError::invalid_grant("code_verifier is missing (PKCE)"))
        }
        // RFC 9700 §2.1.1: a verifier without a challenge is a downgrade attempt.
        (None, Some(_)) => {
            return Err(OAuthError::invalid_grant(
                "code_verifier sent but no challenge was made",
            ))
        }
        // Issued before the application was switched to require PKCE.
        (None, None) if client.require_pkce => {
            return Err(OAuthError::invalid_grant(
                "this application requires PKCE; the code was issued without a code_challenge",
            ))
        }
        (None, None) => {}
    }
    // RFC 9449 §10: a code bound to a DPoP key is exchanged only with a proof of that key.
    if let Some(bound) = &record.dpop_jkt {
        if cx.dpop_jkt != Some(bound.as_str()) {
            return Err(OAuthError::invalid_grant(
                "the authorization code is bound to a DPoP key (dpop_jkt); send a DPoP proof made with that key",
            ));
        }
    }
    let owner = TokenSetOwner {
        client,
        user: &record.user_id,
        account: &record.account_id,
        scopes: &record.scopes,
        auth_time: record.auth_time,
        nonce: record.nonce.as_deref(),
    };
    start_token_set(cx, &record.token_set_id, &owner).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;
    use crate::oauth::token::token;
    use crate::testing::{
        application, authenticated, authorization_request, request, user, World, HTTPS_CB, NOW,
    };

    const TTL: i64 = 90;
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    /// A world with an application and a code minted for it at `NOW`.
    async fn minted(challenge: Option<&str>) -> (World, Client, String) {
        let world = World::new();
        let app = world.add(application(false, true, None)).await;
        let u = user(&["acct_a"]);
        let req = authorization_request(&app, Some(HTTPS_CB), "books:read", challenge);
        let approval = Approval {
            request: &req,
            user_id: &u.id,
            account_id: &u.accounts[0],
            scopes: &req.scope,
            auth_time: NOW - 30,
        };
        let policy = AuthorizePolicy {
            require_pkce: false,
            code_ttl: TTL,
            skip_consent_when_granted: true,
            require_par: false,
            par_ttl: 60,
        };
        let code = mint_authorization_code(&world.store, &approval, &policy, NOW)
            .await
            .unwrap();
        (world, (*app).clone(), code)
    }

    async fn exchange(
        world: &World,
        client: &Client,
        rest: &str,
        now: UnixSeconds,
    ) -> Result<TokenResponse, OAuthError> {
        let body = authenticated(client, &format!("grant_type=authorization_code&{rest}"));
        token(&request(&body), &world.endpoint(), now).await
    }

    #[tokio::test]
    async fn code_exchange_rules() {
        struct Case {
            description: &'static str,
            challenge: Option<&'static str>,
            /// After `code=…`.
            rest: String,
            after: i64,
            expect: Result<(), (ErrorCode, &'static str)>,
        }
        let cb = format!("redirect_uri={HTTPS_CB}");
        let cases = vec![
            Case {
                description: "should exchange a fresh code for tokens",
                challenge: None,
                rest: cb.clone(),
                after: 0,
                expect: Ok(()),
            },
            Case {
                description: "should fail because the code expired, naming the configured lifetime",
                challenge: None,
                rest: cb.clone(),
                after: TTL,
                expect: Err((ErrorCode::InvalidGrant, "codes live 90 seconds")),
            },
            Case {
                description: "should fail because redirect_uri differs from the request's",
                challenge: None,
                rest: "redirect_uri=https://partner.example/other".into(),
                after: 0,
                expect: Err((ErrorCode::InvalidGrant, "redirect_uri")),
            },
            Case {
                description: "should fail because redirect_uri was sent at authorize but not now",
                challenge: None,
                rest: String::new(),
                after: 0,
                expect: Err((ErrorCode::InvalidGrant, "redirect_uri")),
            },
            Case {
                description: "should exchange with the right PKCE verifier",
                challenge: Some(CHALLENGE),
                rest: format!("{cb}&code_verifier={VERIFIER}"),
                after: 0,
                expect: Ok(()),
            },
            Case {
                description: "should fail because the PKCE verifier does not match",
                challenge: Some(CHALLENGE),
                rest: format!("{cb}&code_verifier={}x", &VERIFIER[1..]),
                after: 0,
                expect: Err((ErrorCode::InvalidGrant, "does not match")),
            },
            Case {
                description: "should fail because the PKCE verifier is missing",
                challenge: Some(CHALLENGE),
                rest: cb.clone(),
                after: 0,
                expect: Err((ErrorCode::InvalidGrant, "missing")),
            },
            Case {
                description: "should fail because a verifier came without a challenge (downgrade)",
                challenge: None,
                rest: format!("{cb}&code_verifier={VERIFIER}"),
                after: 0,
                expect: Err((ErrorCode::InvalidGrant, "no challenge")),
            },
        ];
        for case in cases {
            let (world, app, code) = minted(case.challenge).await;
            let rest = format!("code={code}&{}", case.rest);
            let got = exchange(&world, &app, &rest, NOW + case.after).await;
            match (got, case.expect) {
                (Ok(r), Ok(())) => {
                    assert!(r.refresh_token.is_some(), "{}", case.description);
                    assert_eq!(world.store.token_sets().len(), 1, "{}", case.description);
                }
                (Err(e), Err((code, words))) => {
                    assert_eq!(e.code, code, "{}", case.description);
                    assert!(
                        e.description.contains(words),
                        "{}: {}",
                        case.description,
                        e.description
                    );
                    assert!(world.store.token_sets().is_empty(), "{}", case.description);
                }
                (got, _) => panic!("{}: got {got:?}", case.description),
            }
        }
    }

    #[tokio::test]
    async fn unknown_code_is_invalid_grant() {
        let (world, app, _) = minted(None).await;
        let err = exchange(&world, &app, "code=ac_unknown", NOW)
            .await
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidGrant);
    }

    #[tokio::test]
    async fn a_second_use_fails_and_revokes_the_token_set_of_the_first() {
        let (world, app, code) = minted(None).await;
        let rest = format!("code={code}&redirect_uri={HTTPS_CB}");
        exchange(&world, &app, &rest, NOW).await.unwrap();
        let err = exchange(&world, &app, &rest, NOW + 1).await.unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidGrant);
        let sets = world.store.token_sets();
        assert_eq!(sets.len(), 1);
        assert!(sets[0].revoked_at.is_some(), "the store revoked the set");
        assert!(
            world.caches.revoked_sets.contains(sets[0].id.as_str()),
            "this process refuses the set's access tokens at once"
        );
    }

    #[tokio::test]
    async fn another_clients_code_is_neither_used_nor_burnt() {
        // Issue 12 item 7: the client is part of consuming the code.
        let (world, app, code) = minted(None).await;
        let thief = world.add(application(false, true, None)).await;
        let rest = format!("code={code}&redirect_uri={HTTPS_CB}");
        for _ in 0..2 {
            let err = exchange(&world, &thief, &rest, NOW).await.unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidGrant);
        }
        let (_, used) = world.store.code(&ordered_secret::key(&code)).unwrap();
        assert_eq!(used, None, "the code is not spent");
        let tokens = exchange(&world, &app, &rest, NOW).await.unwrap();
        assert!(tokens.refresh_token.is_some(), "its own client still can");
        let sets = world.store.token_sets();
        assert_eq!(sets[0].revoked_at, None, "no replay revocation happened");
    }
}
