//! OpenID Connect's identity scopes (Core 1.0 §5.4) and the claims they release.
//!
//! They are built in, beside the operator's catalog: every application that may use the
//! authorization code flow may ask for them, and no catalog entry may take their names.
//! `openid` makes a request an OpenID Connect request (an ID token comes with the tokens);
//! `profile` and `email` release the user's name and email address to the ID token and the
//! UserInfo endpoint.

use serde_json::{Map, Value};

use super::token_set::GrantContext;
use crate::domain::{ScopeSet, User, UserId};
use crate::error::OAuthError;
use crate::token::id_token::{issue_id_token, IdTokenFacts};
use crate::UnixSeconds;

pub const OPENID: &str = "openid";
pub const PROFILE: &str = "profile";
pub const EMAIL: &str = "email";

/// Each identity scope and what the consent page says it lets the application see.
pub const IDENTITY_SCOPES: [(&str, &str); 3] = [
    (OPENID, "Know who you are: your user id at this service"),
    (PROFILE, "See your name"),
    (EMAIL, "See your email address and whether it is verified"),
];

/// Every claim an ID token or UserInfo answer may hold (Discovery's `claims_supported`).
pub const CLAIMS_SUPPORTED: [&str; 12] = [
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "at_hash",
    "azp",
    "name",
    "email",
    "email_verified",
];

pub fn is_identity_scope(name: &str) -> bool {
    IDENTITY_SCOPES.iter().any(|(n, _)| *n == name)
}

/// The consent page's words for an identity scope.
pub fn description(name: &str) -> Option<&'static str> {
    IDENTITY_SCOPES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, d)| *d)
}

/// Whether a grant of `scopes` is an OpenID Connect one: the user left `openid` granted.
pub fn is_openid(scopes: &ScopeSet) -> bool {
    scopes.contains(OPENID)
}

/// Whether releasing `scopes` needs more of the user than the id (`sub`).
pub fn needs_user(scopes: &ScopeSet) -> bool {
    scopes.contains(PROFILE) || scopes.contains(EMAIL)
}

/// The claims about `user` that `scopes` release, besides `sub` (§5.4): `name` for
/// `profile` (when the operator gave one; §5.3.2 omits a claim without a value), `email`
/// and `email_verified` for `email`.
pub fn released_claims(user: &User, scopes: &ScopeSet) -> Map<String, Value> {
    let mut claims = Map::new();
    if scopes.contains(PROFILE) {
        if let Some(name) = &user.name {
            claims.insert("name".into(), Value::from(name.as_str()));
        }
    }
    if scopes.contains(EMAIL) {
        claims.insert("email".into(), Value::from(user.email.as_str()));
        claims.insert("email_verified".into(), Value::from(user.email_verified));
    }
    claims
}

/// A grant's facts that decide whether it comes with an ID token, and what it states.
pub struct SignIn<'a> {
    pub client_id: &'a str,
    pub user: &'a UserId,
    /// What the grant gives: an ID token only when it includes `openid`.
    pub scopes: &'a ScopeSet,
    /// When the user signed in; `None`: the grant followed no sign-in (no ID token).
    pub auth_time: Option<UnixSeconds>,
    pub nonce: Option<&'a str>,
}

/// The ID token issued beside `access_token` (valid `ttl` seconds), when the grant is an
/// OpenID Connect one. The user is read only when a scope releases more than the id.
pub async fn id_token_for(
    cx: &GrantContext<'_>,
    sign_in: &SignIn<'_>,
    access_token: &str,
    ttl: i64,
) -> Result<Option<String>, OAuthError> {
    let Some(auth_time) = sign_in.auth_time.filter(|_| is_openid(sign_in.scopes)) else {
        return Ok(None);
    };
    let released = if needs_user(sign_in.scopes) {
        let user = cx
            .caches
            .users
            .get(sign_in.user, cx.store, cx.now)
            .await?
            .ok_or_else(|| OAuthError::invalid_grant("the user of this grant no longer exists"))?;
        released_claims(&user, sign_in.scopes)
    } else {
        Map::new()
    };
    let facts = IdTokenFacts {
        sub: sign_in.user.as_str(),
        client_id: sign_in.client_id,
        auth_time,
        nonce: sign_in.nonce,
        access_token,
        released,
    };
    issue_id_token(cx.key, &cx.policy.issuer, facts, ttl, cx.now).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::user;

    #[test]
    fn each_scope_releases_only_its_claims() {
        let mut ada = user(&["acct_a"]);
        ada.name = Some("Ada Lovelace".into());
        ada.email_verified = true;
        let claims = |user: &User, scopes: &str| {
            let scopes = ScopeSet::parse(scopes).unwrap();
            let mut names: Vec<String> = released_claims(user, &scopes).keys().cloned().collect();
            names.sort();
            names.join(" ")
        };
        assert_eq!(claims(&ada, "openid"), "");
        assert_eq!(claims(&ada, "openid profile"), "name");
        assert_eq!(claims(&ada, "openid email"), "email email_verified");
        assert_eq!(
            claims(&ada, "openid profile email books:read"),
            "email email_verified name"
        );
        ada.name = None;
        assert_eq!(claims(&ada, "openid profile"), "", "no name, no claim");
        let released = released_claims(&ada, &ScopeSet::parse("email").unwrap());
        assert_eq!(released["email_verified"], Value::Bool(true));
    }

    #[test]
    fn identity_scopes_are_known_by_name() {
        for name in [OPENID, PROFILE, EMAIL] {
            assert!(is_identity_scope(name) && description(name).is_some());
        }
        assert!(!is_identity_scope("books:read") && description("books:read").is_none());
    }
}
