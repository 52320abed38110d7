//! The address a request comes from, as rate limits and logs see it: the connection's peer,
//! or, behind the operator's `trusted_proxies`, the client they forwarded for (the rule is
//! `tessera_core::forwarded`).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{Extensions, HeaderMap};
use tessera_core::runtime::rate_limit::address_key;

use crate::state::AppState;

/// The client's address; `None` only when the server runs without connection info.
pub struct ClientAddr(pub Option<IpAddr>);

impl ClientAddr {
    /// The key the attempt limits (sign-in, user codes) count this client under: its
    /// address, or its IPv6 /64. Without connection info (never under `tessera serve`)
    /// every client shares one key.
    pub fn attempt_key(&self) -> IpAddr {
        address_key(self.0.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)))
    }
}

/// The connection's peer.
pub fn peer(extensions: &Extensions) -> Option<IpAddr> {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())
}

/// The client's address for a request from `peer` with `headers`.
pub fn client_ip(app: &AppState, peer: Option<IpAddr>, headers: &HeaderMap) -> Option<IpAddr> {
    let peer = peer?;
    let forwarded_for: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    Some(app.trusted_proxies.client_address(peer, &forwarded_for))
}

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self(client_ip(
            app,
            peer(&parts.extensions),
            &parts.headers,
        )))
    }
}
