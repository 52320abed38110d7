//! Tessera as a reverse proxy in front of the provider's own API (the "upstream"): every
//! request to a path that is not Tessera's own is checked against the configured routes
//! (`tessera_core::gateway`), authenticated exactly as the sample API does (`caller.rs`)
//! and forwarded over HTTP/1.1 with the caller's identity in `Tessera-*` headers
//! (`gateway/headers.rs`). WebSocket handshakes pass the same checks and become tunnels
//! (`gateway/upgrade.rs`).
//!
//! Bodies stream both ways; nothing is buffered. A body whose sender goes quiet is cut
//! (`gateway/idle.rs`). Statuses of failures are chosen in `error.rs`; the upstream's own
//! responses pass through with their status.

mod client;
mod connection;
mod framing;
mod headers;
mod idle;
mod tunnels;
mod upgrade;

pub use tunnels::Tunnels;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header;
use axum::http::{HeaderMap, HeaderValue, Uri};
use axum::response::{IntoResponse, Response};
use http_body_util::{LengthLimitError, Limited};
use hyper::upgrade::OnUpgrade;
use tessera_core::domain::{Account, AccountId, ExternalId};
use tessera_core::forwarded::canonical;
use tessera_core::gateway::{
    internal_claims, is_reserved, missing_scopes, Access, RouteTable, UpstreamCaller,
};
use tessera_core::random;
use tessera_core::token::jwt::sign;

use crate::caller::{Caller, Identity};
use crate::client_addr::{client_ip, peer};
use crate::error::{HttpError, UpstreamFailure};
use crate::state::AppState;
use client::{Answer, Client, Failure, OutBody, Outgoing};
use connection::{Conn, Switched};
use headers::{strip_hop_by_hop, write_request_fields, Upward, REQUEST_ID, VIA};
use idle::{idle_cause, Idle, IdleBody};
use upgrade::Tunnel;

/// What the gateway is configured with.
pub struct GatewayPolicy {
    /// `http://host[:port]`, no path.
    pub upstream: String,
    pub routes: RouteTable,
    pub connect_timeout: Duration,
    /// Longest wait for the upstream's response headers once the request body is sent, and
    /// longest the upstream may take nothing of what is sent to it.
    pub response_timeout: Duration,
    /// Longest a body (the client's request, the upstream's response) or a WebSocket
    /// tunnel may carry nothing.
    pub idle_timeout: Duration,
    /// Also send a short-lived internal JWT as `Authorization: Bearer` (audience: the
    /// upstream), so the upstream can verify the identity with the JWKS.
    pub identity_jwt: bool,
    /// Largest request body forwarded, bytes: 413 beyond.
    pub body_limit: usize,
}

/// The upstream and a pooled HTTP/1.1 client to reach it.
pub struct Gateway {
    origin: String,
    routes: RouteTable,
    idle_timeout: Duration,
    identity_jwt: bool,
    body_limit: usize,
    client: Client,
    tunnels: Tunnels,
}

impl Gateway {
    /// Checks the upstream URL; only plain `http://host[:port]` is supported.
    pub fn new(policy: GatewayPolicy) -> Result<Self, String> {
        let uri: Uri = policy
            .upstream
            .parse()
            .map_err(|e| format!("upstream {:?} is not a URL: {e}", policy.upstream))?;
        let plain_origin = uri.scheme_str() == Some("http")
            && uri.authority().is_some()
            && matches!(uri.path(), "" | "/")
            && uri.query().is_none();
        if uri.scheme_str() == Some("https") {
            return Err(format!(
                "upstream {:?}: https upstreams are not supported; reach the upstream over a private network with http://HOST[:PORT]",
                policy.upstream
            ));
        }
        let Some(authority) = uri.authority().filter(|_| plain_origin) else {
            return Err(format!(
                "upstream {:?} must be http://HOST[:PORT] without a path",
                policy.upstream
            ));
        };
        let client = Client::new(
            authority.as_str(),
            policy.connect_timeout,
            policy.response_timeout,
        );
        Ok(Self {
            origin: format!("http://{authority}"),
            routes: policy.routes,
            idle_timeout: policy.idle_timeout,
            identity_jwt: policy.identity_jwt,
            body_limit: policy.body_limit,
            client,
            tunnels: Tunnels::default(),
        })
    }

    /// The WebSocket tunnels open through this gateway.
    pub fn tunnels(&self) -> &Tunnels {
        &self.tunnels
    }

    /// The configured path of the route a request matches: its name in `/metrics`.
    pub(crate) fn route_name(&self, method: &str, path: &str) -> Option<&str> {
        self.routes.pattern(method, path).map(|p| &**p)
    }
}

/// The connection this request came over.
#[derive(Clone, Copy)]
struct Hop {
    peer: Option<IpAddr>,
    /// The client's address (`trusted_proxies` applied), for the log.
    client: Option<IpAddr>,
    /// The peer is one of `trusted_proxies`: its forwarding headers are kept.
    trusted: bool,
}

/// The router's fallback when an upstream is configured.
pub async fn proxy(State(app): State<AppState>, req: Request) -> Response {
    let request_id = request_id(req.headers());
    let mut res = match app.gateway.as_ref() {
        Some(gateway) => forward(&app, gateway, req, &request_id).await,
        None => HttpError::NotFound.into_response(),
    };
    res.headers_mut().insert(REQUEST_ID, request_id);
    res
}

/// The caller's `X-Request-Id` when it is a sane token, else a new one.
fn request_id(headers: &HeaderMap) -> HeaderValue {
    let sent = headers.get(&REQUEST_ID).filter(|v| {
        let b = v.as_bytes();
        (1..=128).contains(&b.len())
            && b.iter()
                .all(|c| c.is_ascii_alphanumeric() || b"-_.:".contains(c))
    });
    if let Some(v) = sent {
        return v.clone();
    }
    random::token::<12>("req_")
        .ok()
        .and_then(|t| HeaderValue::from_str(&t).ok())
        .unwrap_or(HeaderValue::from_static("req_unknown"))
}

async fn forward(
    app: &AppState,
    gateway: &Gateway,
    req: Request,
    request_id: &HeaderValue,
) -> Response {
    let path = req.uri().path();
    if is_reserved(path) {
        return HttpError::NotFound.into_response();
    }
    let access = match gateway.routes.access(req.method().as_str(), path) {
        Ok(access) => access,
        Err(e) => return HttpError::BadRequest(e.to_string()).into_response(),
    };
    let peer = peer(req.extensions()).map(canonical);
    let client = client_ip(app, peer, req.headers());
    let hop = Hop {
        peer,
        client,
        trusted: peer.is_some_and(|p| app.trusted_proxies.trusts(p)),
    };
    let caller = match access {
        Access::Deny => return HttpError::NotFound.into_response(),
        Access::Public => None,
        Access::Scopes(required) => {
            let caller =
                match Caller::authenticate(app, req.method(), req.uri(), req.headers(), client)
                    .await
                {
                    Ok(caller) => caller,
                    Err(e) => return e.into_response(),
                };
            // RFC 6750 §3.1: a valid credential without every scope the route needs.
            if let Some(missing) = missing_scopes(required, |s| caller.has_scope(s)) {
                return caller.respond(Err(HttpError::InsufficientScope(missing.into())));
            }
            Some(caller)
        }
    };
    let account = match &caller {
        Some(caller) => match account_of(app, caller.account()).await {
            Ok(account) => account,
            Err(e) => return caller.respond(Err(e)),
        },
        None => None,
    };
    let identity = caller.as_ref().map(|c| Identity {
        external_id: account
            .as_ref()
            .and_then(|a| a.external_id.as_ref())
            .map(ExternalId::as_str),
        ..c.identity()
    });
    let internal = match (&identity, gateway.identity_jwt) {
        (Some(id), true) => internal_token(app, gateway, id).map(Some),
        _ => Ok(None),
    };
    let outcome = match internal {
        Ok(internal) => send(gateway, req, identity, internal, hop, request_id).await,
        Err(e) => Err(e),
    };
    match caller {
        Some(caller) => caller.respond(outcome),
        None => outcome.unwrap_or_else(IntoResponse::into_response),
    }
}

/// The caller's API account from memory (its external id is what the upstream knows it
/// by); the store is read only on a miss, and the change feed drops a changed account.
async fn account_of(app: &AppState, id: &str) -> Result<Option<Arc<Account>>, HttpError> {
    let Some(id) = AccountId::parse(id) else {
        return Ok(None);
    };
    app.caches
        .accounts
        .get(&id, app.store.as_ref(), app.clock.now())
        .await
        .map_err(HttpError::internal)
}

/// `Bearer <JWT>` for the upstream, signed with the key that signs access tokens now.
fn internal_token(
    app: &AppState,
    gateway: &Gateway,
    id: &Identity<'_>,
) -> Result<HeaderValue, HttpError> {
    let now = app.clock.now();
    let keyring = app.caches.keyring();
    let key = keyring
        .current(now)
        .ok_or_else(|| HttpError::internal("no signing key is active"))?;
    let caller = UpstreamCaller {
        account: id.account,
        client: id.client,
        scope: &id.scope,
        subject: id.subject,
        external_id: id.external_id,
    };
    let jti = random::token::<16>("").map_err(HttpError::internal)?;
    let claims = internal_claims(&app.tokens.issuer, &gateway.origin, caller, jti, now);
    let jwt = sign(key, &claims).map_err(HttpError::internal)?;
    HeaderValue::from_str(&format!("Bearer {jwt}")).map_err(HttpError::internal)
}

async fn send(
    gateway: &Gateway,
    req: Request,
    identity: Option<Identity<'_>>,
    internal: Option<HeaderValue>,
    hop: Hop,
    request_id: &HeaderValue,
) -> Result<Response, HttpError> {
    let (mut parts, body) = req.into_parts();
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > gateway.body_limit as u64) {
        return Err(HttpError::PayloadTooLarge);
    }
    // hyper's server took the request, so a `Transfer-Encoding` means a chunked body.
    let chunked = parts.headers.contains_key(header::TRANSFER_ENCODING);
    // A chunked body is cut where it passes the limit; the upstream sees a failed request.
    let body = || {
        let limited = Body::new(Limited::new(body, gateway.body_limit));
        Body::new(IdleBody::request(limited, gateway.idle_timeout))
    };
    let body = match (chunked, declared) {
        (true, _) => OutBody::Chunked(body()),
        (false, Some(n)) => OutBody::Length(n, body()),
        (false, None) => OutBody::None,
    };
    // The client's side of a WebSocket switch, taken before the request goes up.
    let client_upgrade = upgrade::wants_websocket(&parts.method, &parts.headers)
        .then(|| parts.extensions.remove::<OnUpgrade>())
        .flatten();
    let up = Upward {
        identity,
        peer: hop.peer,
        from_trusted_proxy: hop.trusted,
        request_id,
        authorization: internal.as_ref(),
        websocket: client_upgrade.is_some(),
    };
    let target = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
    let room = 256 + parts.headers.len() * 48;
    let mut head = gateway.client.head(&parts.method, target, room);
    write_request_fields(&mut head, &parts.headers, &up).map_err(HttpError::internal)?;
    let outgoing = Outgoing {
        method: &parts.method,
        head,
        body,
    };
    let answer = match gateway.client.send(outgoing).await {
        Ok(answer) => answer,
        Err(Failure::Body(err)) if over_limit(err.as_ref()) => {
            tracing::info!(request_id = ?request_id, client = ?hop.client, "the request body passed gateway_body_limit; the upstream connection is dropped");
            return Err(HttpError::PayloadTooLarge);
        }
        Err(Failure::Body(err)) if idle_cause(err.as_ref()) == Some(Idle::Client) => {
            tracing::info!(request_id = ?request_id, client = ?hop.client, "the client sent nothing of its request body in time; the upstream connection is dropped");
            return Err(HttpError::RequestTimeout);
        }
        Err(failure) => {
            let (kind, error) = match failure {
                Failure::TimedOut(e) => (UpstreamFailure::TimedOut, e),
                Failure::Unreachable(e) => (UpstreamFailure::Unreachable, e),
                Failure::Body(e) => (
                    UpstreamFailure::Unreachable,
                    format!("the client's request body failed: {e}"),
                ),
            };
            tracing::warn!(request_id = ?request_id, client = ?hop.client, %error, failure = ?kind, "upstream request failed");
            return Err(HttpError::Upstream(kind));
        }
    };
    let res = match answer {
        Answer::Response(res) => res,
        Answer::Switched(head, conn) => {
            return switch(gateway, head, conn, client_upgrade, hop, request_id)
        }
    };
    let (mut parts, body) = res.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    parts
        .headers
        .append(header::VIA, HeaderValue::from_static(VIA));
    let body = IdleBody::response(body, gateway.idle_timeout, request_id.clone(), hop.client);
    Ok(Response::from_parts(parts, Body::new(body)))
}

/// The upstream switched protocols: the client gets the `101`, and once it is written both
/// connections become one tunnel.
fn switch(
    gateway: &Gateway,
    head: axum::http::Response<()>,
    upstream: Conn,
    client_upgrade: Option<OnUpgrade>,
    hop: Hop,
    request_id: &HeaderValue,
) -> Result<Response, HttpError> {
    let accepted = upgrade::switched_to_websocket(head.headers());
    let Some(client) = client_upgrade.filter(|_| accepted) else {
        tracing::warn!(request_id = ?request_id, client = ?hop.client, "upstream switched protocols without being asked for WebSocket");
        return Err(HttpError::Upstream(UpstreamFailure::Unreachable));
    };
    let tunnel = Tunnel {
        client,
        upstream: Switched(upstream),
        idle_timeout: gateway.idle_timeout,
        request_id: request_id.clone(),
        client_addr: hop.client,
    };
    gateway.tunnels.spawn(tunnel);
    let (mut parts, ()) = head.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    upgrade::keep_upgrade_headers(&mut parts.headers);
    parts
        .headers
        .append(header::VIA, HeaderValue::from_static(VIA));
    Ok(Response::from_parts(parts, Body::empty()))
}

/// Whether `err`, or one of its causes, is the request body passing the gateway's limit.
fn over_limit(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(err);
    while let Some(e) = source {
        if e.is::<LengthLimitError>() {
            return true;
        }
        source = e.source();
    }
    false
}

/// A header map of `pairs`, in order, for the gateway's unit tests.
#[cfg(test)]
fn test_headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(*k, HeaderValue::from_static(v));
    }
    h
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn request_ids_are_kept_when_sane() {
        let mut h = HeaderMap::new();
        h.insert(REQUEST_ID, HeaderValue::from_static("abc-123"));
        assert_eq!(request_id(&h), "abc-123");
        h.insert(REQUEST_ID, HeaderValue::from_static("a b"));
        assert!(request_id(&h).to_str().unwrap().starts_with("req_"));
        assert!(request_id(&HeaderMap::new())
            .to_str()
            .unwrap()
            .starts_with("req_"));
    }
}
