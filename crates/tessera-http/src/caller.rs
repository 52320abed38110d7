//! Who is calling the API: a Bearer access token (RFC 6750), or — until the sunset — a
//! legacy credential with HTTP Basic (RFC 7617). Handlers see one [`Caller`] either way.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use tessera_core::domain::ScopeSet;
use tessera_core::legacy::cache::LegacyIdentity;
use tessera_core::token::jwt::AccessTokenClaims;

use crate::bearer;
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

    /// 403 `insufficient_scope` unless the caller may use `scope` (RFC 6750 §3.1).
    pub fn require_scope(&self, scope: &'static str) -> Result<(), HttpError> {
        let allowed = match &self.grant {
            Grant::Token(claims) => claims.has_scope(scope),
            Grant::Legacy { scopes, .. } => scopes.contains(scope),
        };
        if allowed {
            Ok(())
        } else {
            Err(HttpError::InsufficientScope(scope))
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

impl FromRequestParts<AppState> for Caller {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, HttpError> {
        let value = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or(HttpError::MissingToken)?;
        let (scheme, rest) = value.split_once(' ').ok_or(HttpError::MissingToken)?;
        let grant = if scheme.eq_ignore_ascii_case("bearer") {
            Grant::Token(bearer::authenticate_token(app, rest.trim()).await?)
        } else if scheme.eq_ignore_ascii_case("basic") {
            let peer = parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(addr)| canonical(addr.ip()));
            Grant::Legacy {
                identity: legacy::authenticate(app, rest, peer).await?,
                scopes: app.legacy.scopes.clone(),
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

/// An IPv4 client on a dual-stack socket is one address, however it arrived.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}
