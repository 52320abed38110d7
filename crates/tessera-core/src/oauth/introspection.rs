//! Token introspection (RFC 7662).
//!
//! Callers authenticate as a client. A resource-server credential (issued by the operator)
//! may introspect any token; any other client only tokens issued to itself, so a leaked
//! client secret cannot be used to test stolen tokens of others (§4). Anything not live —
//! expired, revoked, tampered, unknown, or not the caller's — is `{"active": false}` and
//! nothing else (§2.2).

use super::token_set::token_type;
use serde_json::{json, Value};

use super::client_auth::{Accepted, ClientRequest};
use super::request::Form;
use super::token::EndpointContext;
use crate::domain::{ordered_secret, Client, ClientKind, ClientStatus};
use crate::error::OAuthError;
use crate::token::bearer::{authenticate_bearer, BearerError};
use crate::token::jwt::Expectations;
use crate::UnixSeconds;

fn inactive() -> Value {
    json!({ "active": false })
}

/// §2.1: the caller authenticates with a secret (a public client has nothing to prove it
/// is a protected resource), then asks about one token.
pub async fn introspect_request(
    request: &ClientRequest<'_>,
    cx: &EndpointContext<'_>,
    now: UnixSeconds,
) -> Result<Value, OAuthError> {
    let accepted = Accepted::WithSecret("introspection needs client authentication with a secret");
    let caller = cx.authenticate(request, accepted, now).await?;
    introspect(cx, &caller, request.form, now).await
}

#[tracing::instrument(level = "debug", skip_all, fields(client_id = %caller.id))]
pub async fn introspect(
    cx: &EndpointContext<'_>,
    caller: &Client,
    form: &Form,
    now: UnixSeconds,
) -> Result<Value, OAuthError> {
    let (store, caches, policy) = (cx.store, cx.caches, cx.tokens);
    let token = form.require("token")?;
    let may_see = |client_id: &str| {
        caller.kind == ClientKind::ResourceServer || caller.id.as_str() == client_id
    };
    let refresh_first =
        form.get("token_type_hint") == Some("refresh_token") || !token.contains('.');
    if refresh_first {
        if let Some(v) = refresh_token(cx, token, now, &may_see).await? {
            return Ok(v);
        }
    }
    let expect = Expectations {
        issuer: &policy.issuer,
        audience: &policy.audience,
    };
    match authenticate_bearer(token, caches, store, &expect, now).await {
        Ok(claims) if may_see(&claims.client_id) => {
            let mut v = json!({
                "active": true,
                "scope": claims.scope,
                "client_id": claims.client_id,
                "sub": claims.sub,
                "exp": claims.exp,
                "iat": claims.iat,
                "token_type": token_type(claims.cnf.as_ref().map(|c| c.jkt.as_str())),
                "aud": claims.aud,
                "iss": claims.iss,
                "jti": claims.jti,
            });
            if let Some(acct) = &claims.acct {
                v["acct"] = json!(acct);
            }
            // RFC 9449 §6.2: the resource server checks the proof's key against this.
            if let Some(cnf) = &claims.cnf {
                v["cnf"] = json!({ "jkt": cnf.jkt });
            }
            Ok(v)
        }
        Ok(_) | Err(BearerError::Token(_)) => {
            if refresh_first {
                return Ok(inactive());
            }
            Ok(refresh_token(cx, token, now, &may_see)
                .await?
                .unwrap_or_else(inactive))
        }
        Err(BearerError::Store(e)) => Err(e.into()),
    }
}

async fn refresh_token(
    cx: &EndpointContext<'_>,
    token: &str,
    now: UnixSeconds,
    may_see: &(dyn Fn(&str) -> bool + Sync),
) -> Result<Option<Value>, OAuthError> {
    let (store, caches, lifetimes) = (cx.store, cx.caches, cx.refresh);
    let Some((refresh, set)) = store
        .find_refresh_token(&ordered_secret::key(token))
        .await?
    else {
        return Ok(None);
    };
    let client = caches.clients.get(&set.client_id, store, now).await?;
    // Live exactly when the token endpoint would accept it (RFC 7662 §2.2).
    let live = refresh.used_at.is_none()
        && set.revoked_at.is_none()
        && !lifetimes.expired(&refresh, &set, now)
        && !caches.revoked_sets.contains(set.id.as_str())
        && client.is_some_and(|c| c.status == ClientStatus::Active);
    if !live || !may_see(set.client_id.as_str()) {
        return Ok(Some(inactive()));
    }
    Ok(Some(json!({
        "active": true,
        "scope": set.scopes.to_string(),
        "client_id": set.client_id.as_str(),
        "sub": set.user_id.as_str(),
        "acct": set.account_id.as_str(),
        "iat": refresh.created_at,
        "iss": cx.tokens.issuer,
        "token_type": "refresh_token",
    })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ClientKind;
    use crate::oauth::refresh_token::RefreshPolicy;
    use crate::store::AuthorizationStore;
    use crate::testing::{application, authenticated, request, user, World, NOW};

    #[tokio::test]
    async fn refresh_token_introspection_matches_what_the_token_endpoint_accepts() {
        enum Caller {
            Owner,
            OtherApplication,
            ResourceServer,
        }
        struct Case {
            description: &'static str,
            caller: Caller,
            spent: bool,
            revoked: bool,
            after: i64,
            active: bool,
        }
        let case = |description, caller, after, active| Case {
            description,
            caller,
            spent: false,
            revoked: false,
            after,
            active,
        };
        let cases = vec![
            case(
                "should be active when live, asked by its client",
                Caller::Owner,
                99,
                true,
            ),
            case(
                "should be active for a resource server",
                Caller::ResourceServer,
                0,
                true,
            ),
            case(
                "should be inactive because another application may not see it",
                Caller::OtherApplication,
                0,
                false,
            ),
            case(
                "should be inactive because it sat unused past the idle lifetime",
                Caller::Owner,
                100,
                false,
            ),
            case(
                "should be inactive because the set is past its absolute lifetime",
                Caller::ResourceServer,
                1000,
                false,
            ),
            Case {
                spent: true,
                ..case(
                    "should be inactive because it was rotated away",
                    Caller::Owner,
                    0,
                    false,
                )
            },
            Case {
                revoked: true,
                ..case(
                    "should be inactive because its set is revoked",
                    Caller::Owner,
                    0,
                    false,
                )
            },
        ];
        for case in cases {
            let world = World::with_refresh(RefreshPolicy {
                idle_ttl: Some(100),
                absolute_ttl: Some(1000),
                retry_window: 0,
            });
            let app = world.add(application(false, true, None)).await;
            // An absolute limit longer than the idle one: keep the token fresh by rotating
            // it shortly before the absolute case's instant.
            let (set, mut rt) = world.token_set(&app, &user(&["acct_a"]), NOW).await;
            if case.after >= 1000 {
                for at in (NOW + 90..NOW + case.after).step_by(90) {
                    let body = authenticated(
                        &app,
                        &format!("grant_type=refresh_token&refresh_token={rt}"),
                    );
                    rt = crate::oauth::token::token(&request(&body), &world.endpoint(), at)
                        .await
                        .unwrap()
                        .refresh_token
                        .unwrap();
                }
            }
            if case.spent {
                let body = authenticated(
                    &app,
                    &format!("grant_type=refresh_token&refresh_token={rt}"),
                );
                crate::oauth::token::token(&request(&body), &world.endpoint(), NOW)
                    .await
                    .unwrap();
            }
            if case.revoked {
                world.store.revoke_token_set(&set.id, NOW).await.unwrap();
            }
            let caller = match case.caller {
                Caller::Owner => app.clone(),
                Caller::OtherApplication => world.add(application(false, true, None)).await,
                Caller::ResourceServer => {
                    let mut rs = application(false, true, None);
                    rs.kind = ClientKind::ResourceServer;
                    world.add(rs).await
                }
            };
            let body = authenticated(&caller, &format!("token={rt}"));
            let got = introspect_request(&request(&body), &world.endpoint(), NOW + case.after)
                .await
                .unwrap();
            assert_eq!(got["active"], json!(case.active), "{}", case.description);
            if !case.active {
                assert_eq!(
                    got,
                    inactive(),
                    "{}: nothing else is said",
                    case.description
                );
            }
        }
    }

    #[tokio::test]
    async fn introspection_needs_a_secret() {
        let world = World::new();
        let public = world.add(application(true, true, None)).await;
        let body = authenticated(&public, "token=rt_x");
        let err = introspect_request(&request(&body), &world.endpoint(), NOW)
            .await
            .unwrap_err();
        assert_eq!(err.code, crate::error::ErrorCode::InvalidClient);
    }
}
