//! Token introspection (RFC 7662).
//!
//! Callers authenticate as a client. A resource-server credential (issued by the operator)
//! may introspect any token; any other client only tokens issued to itself, so a leaked
//! client secret cannot be used to test stolen tokens of others (§4). Anything not live —
//! expired, revoked, tampered, unknown, or not the caller's — is `{"active": false}` and
//! nothing else (§2.2).

use serde_json::{json, Value};

use super::request::Form;
use crate::domain::{Client, ClientKind, ClientStatus, SecretHash};
use crate::error::OAuthError;
use crate::runtime::Caches;
use crate::store::Store;
use crate::token::bearer::{authenticate_bearer, BearerError};
use crate::token::issue::TokenPolicy;
use crate::token::jwt::Expectations;
use crate::UnixSeconds;

fn inactive() -> Value {
    json!({ "active": false })
}

#[tracing::instrument(level = "debug", skip_all, fields(client_id = %caller.id))]
pub async fn introspect(
    store: &dyn Store,
    caches: &Caches,
    caller: &Client,
    form: &Form,
    policy: &TokenPolicy,
    now: UnixSeconds,
) -> Result<Value, OAuthError> {
    let token = form.require("token")?;
    let may_see = |client_id: &str| {
        caller.kind == ClientKind::ResourceServer || caller.id.as_str() == client_id
    };
    let refresh_first =
        form.get("token_type_hint") == Some("refresh_token") || !token.contains('.');
    if refresh_first {
        if let Some(v) = refresh_token(store, caches, token, policy, now, &may_see).await? {
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
                "token_type": "Bearer",
                "aud": claims.aud,
                "iss": claims.iss,
                "jti": claims.jti,
            });
            if let Some(acct) = &claims.acct {
                v["acct"] = json!(acct);
            }
            Ok(v)
        }
        Ok(_) | Err(BearerError::Token(_)) => {
            if refresh_first {
                return Ok(inactive());
            }
            Ok(refresh_token(store, caches, token, policy, now, &may_see)
                .await?
                .unwrap_or_else(inactive))
        }
        Err(BearerError::Store(e)) => Err(e.into()),
    }
}

async fn refresh_token(
    store: &dyn Store,
    caches: &Caches,
    token: &str,
    policy: &TokenPolicy,
    _now: UnixSeconds,
    may_see: &(dyn Fn(&str) -> bool + Sync),
) -> Result<Option<Value>, OAuthError> {
    let Some((refresh, set)) = store
        .find_refresh_token(&SecretHash::of(token.as_bytes()))
        .await?
    else {
        return Ok(None);
    };
    let client = caches.clients.get(&set.client_id, store).await?;
    let live = refresh.used_at.is_none()
        && set.revoked_at.is_none()
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
        "iss": policy.issuer,
        "token_type": "refresh_token",
    })))
}
