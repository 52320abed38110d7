//! The UserInfo endpoint (OpenID Connect Core 1.0 §5.3): the claims about the user that the
//! access token's scopes release. HTTP authenticates the Bearer token (RFC 6750) and
//! renders what this answers.

use serde_json::{Map, Value};

use super::identity::{released_claims, OPENID};
use crate::domain::UserId;
use crate::error::StoreError;
use crate::runtime::Caches;
use crate::store::Store;
use crate::token::jwt::AccessTokenClaims;
use crate::UnixSeconds;

/// Why a verified access token gets no claims.
#[derive(Debug)]
pub enum UserInfoRefusal {
    /// The token was not granted `openid` (RFC 6750 §3.1 `insufficient_scope`, 403): a
    /// client credentials token, or an authorization that left `openid` out.
    NotOpenId,
    /// The token's user no longer exists (`invalid_token`, 401).
    UnknownUser,
    Store(StoreError),
}

impl From<StoreError> for UserInfoRefusal {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

/// §5.3.2: `sub`, and the claims of `profile` and `email` when the token has them.
pub async fn userinfo(
    store: &dyn Store,
    caches: &Caches,
    claims: &AccessTokenClaims,
    now: UnixSeconds,
) -> Result<Map<String, Value>, UserInfoRefusal> {
    // Only a user's token (code flow: `acct` names the account, `sub` the user) can carry
    // `openid`; the check on `acct` keeps an account id from ever being looked up as a user.
    if !claims.has_scope(OPENID) || claims.acct.is_none() {
        return Err(UserInfoRefusal::NotOpenId);
    }
    let id = UserId::parse(&claims.sub).ok_or(UserInfoRefusal::UnknownUser)?;
    let user = caches
        .users
        .get(&id, store, now)
        .await?
        .ok_or(UserInfoRefusal::UnknownUser)?;
    let scopes = crate::domain::ScopeSet::parse(&claims.scope).unwrap_or_default();
    let mut answer = Map::new();
    answer.insert("sub".into(), Value::from(user.id.as_str()));
    answer.extend(released_claims(&user, &scopes));
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::UserStore;
    use crate::testing::{user, World};

    fn token(sub: &str, acct: Option<&str>, scope: &str) -> AccessTokenClaims {
        AccessTokenClaims {
            iss: "http://i".into(),
            sub: sub.into(),
            aud: "http://i".into(),
            client_id: "cl_app".into(),
            scope: scope.into(),
            iat: 0,
            exp: 100,
            jti: "j".into(),
            acct: acct.map(str::to_owned),
            sid: None,
            account_external_id: None,
            cnf: None,
        }
    }

    #[tokio::test]
    async fn claims_follow_the_tokens_scopes() {
        let world = World::new();
        let mut ada = user(&["acct_a"]);
        ada.name = Some("Ada Lovelace".into());
        ada.email_verified = true;
        world.store.insert_user(&ada).await.unwrap();
        let sub = ada.id.as_str();
        let answer = |scope: &'static str| {
            let claims = token(sub, Some("acct_a"), scope);
            let store = &world.store;
            let caches = &world.caches;
            async move { userinfo(store, caches, &claims, 0).await }
        };
        let full = answer("openid profile email books:read").await.unwrap();
        assert_eq!(full["sub"], sub);
        assert_eq!(full["name"], "Ada Lovelace");
        assert_eq!(full["email"], "user@example.com");
        assert_eq!(full["email_verified"], true);
        let bare = answer("openid").await.unwrap();
        assert_eq!(bare.keys().collect::<Vec<_>>(), ["sub"]);
        assert!(matches!(
            answer("books:read profile").await,
            Err(UserInfoRefusal::NotOpenId)
        ));
        // A client credentials token: `sub` is an account, never looked up as a user.
        let account_token = token("acct_a", None, "openid");
        assert!(matches!(
            userinfo(&world.store, &world.caches, &account_token, 0).await,
            Err(UserInfoRefusal::NotOpenId)
        ));
        let gone = token("usr_gone", Some("acct_a"), "openid");
        assert!(matches!(
            userinfo(&world.store, &world.caches, &gone, 0).await,
            Err(UserInfoRefusal::UnknownUser)
        ));
    }
}
