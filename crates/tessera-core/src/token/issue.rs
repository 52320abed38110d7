//! Minting access tokens: the one place claims are assembled, for every grant.

use super::jwt::{self, AccessTokenClaims, Confirmation};
use super::keys::SigningKey;
use crate::domain::{Jti, ScopeSet};
use crate::error::OAuthError;
use crate::UnixSeconds;

/// What the token endpoint needs to know about tokens, and nothing else of the config.
#[derive(Debug, Clone)]
pub struct TokenPolicy {
    pub issuer: String,
    pub audience: String,
    /// Lifetime of client credentials access tokens, seconds (the seeds: 86 400).
    pub client_credentials_ttl: i64,
    /// Lifetime of access tokens issued with a refresh token, seconds.
    pub user_token_ttl: i64,
}

impl TokenPolicy {
    /// The longest lifetime any access token can have: how long a superseded signing key
    /// stays published, and how long a revocation must be remembered.
    pub fn max_ttl(&self) -> i64 {
        self.client_credentials_ttl.max(self.user_token_ttl)
    }

    /// The issuer's origin (scheme, host and port, no path): where clients reach Tessera.
    pub fn issuer_origin(&self) -> &str {
        let issuer = self.issuer.as_str();
        issuer
            .find("://")
            .and_then(|i| issuer[i + 3..].find('/').map(|j| &issuer[..i + 3 + j]))
            .unwrap_or(issuer)
    }
}

/// Who a token is for.
pub struct Subject<'a> {
    pub sub: &'a str,
    /// The API account when `sub` is a user.
    pub account: Option<&'a str>,
    pub client_id: &'a str,
    pub scope: &'a ScopeSet,
    /// The token set (refresh-token chain), if any.
    pub token_set: Option<&'a str>,
    /// The DPoP key the token is bound to (RFC 9449 §6.1 `cnf.jkt`), if any.
    pub jkt: Option<&'a str>,
}

pub fn issue_access_token(
    key: &SigningKey,
    policy: &TokenPolicy,
    subject: &Subject<'_>,
    ttl: i64,
    now: UnixSeconds,
) -> Result<(String, AccessTokenClaims), OAuthError> {
    let jti = Jti::generate_at(now).map_err(OAuthError::server_error)?;
    let claims = AccessTokenClaims {
        iss: policy.issuer.clone(),
        sub: subject.sub.to_owned(),
        aud: policy.audience.clone(),
        client_id: subject.client_id.to_owned(),
        scope: subject.scope.to_string(),
        iat: now,
        exp: now + ttl,
        jti: jti.to_string(),
        acct: subject.account.map(str::to_owned),
        sid: subject.token_set.map(str::to_owned),
        account_external_id: None,
        cnf: subject.jkt.map(|jkt| Confirmation {
            jkt: jkt.to_owned(),
        }),
    };
    let token = jwt::sign(key, &claims).map_err(OAuthError::server_error)?;
    Ok((token, claims))
}

#[cfg(test)]
mod tests {
    use super::TokenPolicy;

    #[test]
    fn the_issuer_origin_leaves_out_any_path() {
        let origin = |issuer: &str| {
            let policy = TokenPolicy {
                issuer: issuer.into(),
                audience: "api".into(),
                client_credentials_ttl: 60,
                user_token_ttl: 60,
            };
            policy.issuer_origin().to_owned()
        };
        assert_eq!(origin("https://auth.example"), "https://auth.example");
        assert_eq!(origin("https://auth.example/"), "https://auth.example");
        assert_eq!(
            origin("http://127.0.0.1:8080/tenant/a"),
            "http://127.0.0.1:8080"
        );
    }
}
