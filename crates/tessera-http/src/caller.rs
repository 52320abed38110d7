//! Who is calling the API: a Bearer access token (RFC 6750), or — until the sunset — a
//! legacy credential with HTTP Basic (RFC 7617). Handlers see one [`Caller`] either way.

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use tessera_core::domain::ScopeSet;
use tessera_core::legacy::cache::LegacyIdentity;
use tessera_core::oauth::request::decode_component;
use tessera_core::token::jwt::AccessTokenClaims;

use crate::bearer;
use crate::client_addr::{client_ip, peer};
use crate::error::HttpError;
use crate::legacy;
use crate::state::AppState;

enum Grant {
    Token(Arc<AccessTokenClaims>),
    Legacy {
        identity: LegacyIdentity,
        scopes: Arc<ScopeSet>,
    },
}

pub struct Caller {
    grant: Grant,
    app: AppState,
}

impl Caller {
    /// The API account whose data the request reaches.
    pub fn account(&self) -> &str {
        match &self.grant {
            Grant::Token(claims) => claims.account(),
            Grant::Legacy { identity, .. } => identity.account_id.as_str(),
        }
    }

    /// Whether the caller's grant includes `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        match &self.grant {
            Grant::Token(claims) => claims.has_scope(scope),
            Grant::Legacy { scopes, .. } => scopes.contains(scope),
        }
    }

    /// Who is calling, as the gateway tells its upstream.
    pub fn identity(&self) -> Identity<'_> {
        match &self.grant {
            Grant::Token(claims) => Identity {
                account: claims.account(),
                client: &claims.client_id,
                scope: claims.scope.clone(),
                // A user's token names the API account in `acct` and the user in `sub`.
                subject: claims.acct.as_ref().map(|_| claims.sub.as_str()),
                external_id: None,
                // RFC 9449: the token came with a proof of its key.
                auth: if claims.cnf.is_some() {
                    "dpop"
                } else {
                    "bearer"
                },
            },
            Grant::Legacy { identity, scopes } => Identity {
                account: identity.account_id.as_str(),
                client: identity.credential_id.as_str(),
                scope: scopes.to_string(),
                subject: None,
                external_id: None,
                auth: "basic",
            },
        }
    }

    /// 403 `insufficient_scope` unless the caller may use `scope` (RFC 6750 §3.1).
    pub fn require_scope(&self, scope: &'static str) -> Result<(), HttpError> {
        if self.has_scope(scope) {
            Ok(())
        } else {
            Err(HttpError::InsufficientScope(scope.into()))
        }
    }

    /// The handler's outcome as a response; a Basic caller's response, error or not,
    /// carries the deprecation headers.
    pub fn respond(&self, outcome: Result<Response, HttpError>) -> Response {
        let mut res = outcome.unwrap_or_else(IntoResponse::into_response);
        if let Grant::Legacy { identity, .. } = &self.grant {
            self.app
                .legacy
                .add_deprecation_headers(res.headers_mut(), identity);
        }
        res
    }
}

/// The caller's identity, borrowed from its grant.
pub struct Identity<'a> {
    /// The API account's id.
    pub account: &'a str,
    /// The OAuth client, or the legacy credential.
    pub client: &'a str,
    /// Granted scopes, space-separated.
    pub scope: String,
    /// The user, for a token an application got through the authorization code flow.
    pub subject: Option<&'a str>,
    /// The account's external id, when it has one (the gateway looks it up; the grant
    /// does not carry it).
    pub external_id: Option<&'a str>,
    /// `bearer` or `basic`.
    pub auth: &'static str,
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, HttpError> {
        let client = client_ip(app, peer(&parts.extensions), &parts.headers);
        Caller::authenticate(app, &parts.method, &parts.uri, &parts.headers, client).await
    }
}

impl Caller {
    /// Authenticates the `Authorization` header: Bearer, DPoP (a DPoP-bound token with
    /// its proof for this `method` and `uri`), or legacy Basic from `client` (whose
    /// failures count against its address).
    pub async fn authenticate(
        app: &AppState,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        client: Option<IpAddr>,
    ) -> Result<Self, HttpError> {
        let query = uri.query();
        // RFC 6750 §3.1: a token sent in more than one way is `invalid_request`. The query
        // method (§2.3) is not accepted on its own either, but with a header it is ambiguous.
        if headers.contains_key(header::AUTHORIZATION) && has_access_token(query) {
            return Err(HttpError::BadRequest(
                "the request carries credentials in more than one way (the Authorization header and the access_token query parameter); send the access token only in the Authorization header".into(),
            ));
        }
        let value = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or(HttpError::MissingToken)?;
        let (scheme, rest) = value.split_once(' ').ok_or(HttpError::MissingToken)?;
        let dpop = scheme.eq_ignore_ascii_case("dpop");
        let grant = if dpop || scheme.eq_ignore_ascii_case("bearer") {
            let token = rest.trim();
            let claims = bearer::authenticate_token(app, token).await?;
            let request = bearer::Presented {
                token,
                dpop,
                method,
                path: uri.path(),
                headers,
            };
            bearer::check_binding(app, &claims, &request)?;
            // In memory; the background task writes the counts (no store write here).
            app.legacy
                .bearer_usage
                .record(&claims.client_id, app.clock.now());
            Grant::Token(claims)
        } else if scheme.eq_ignore_ascii_case("basic") {
            Grant::Legacy {
                identity: legacy::authenticate(app, rest, client).await?,
                scopes: app.caches.scopes(),
            }
        } else {
            return Err(HttpError::MissingToken);
        };
        Ok(Self {
            grant,
            app: app.clone(),
        })
    }
}

/// Whether the query string has an `access_token` parameter (its name percent-decoded).
fn has_access_token(query: Option<&str>) -> bool {
    query.is_some_and(|q| {
        q.split('&').any(|pair| {
            let name = pair.split('=').next().unwrap_or_default();
            name == "access_token"
                || decode_component(name.as_bytes()).is_ok_and(|n| n == "access_token")
        })
    })
}

#[cfg(test)]
mod tests {
    use super::has_access_token;

    #[test]
    fn finds_access_token_among_query_parameters() {
        assert!(has_access_token(Some("access_token=x")));
        assert!(has_access_token(Some("a=1&access_token")));
        assert!(has_access_token(Some("a=1&access%5Ftoken=x")));
        assert!(!has_access_token(Some("access_tokens=x&b=access_token")));
        assert!(!has_access_token(Some("")));
        assert!(!has_access_token(None));
    }
}
