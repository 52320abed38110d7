//! Tessera as a reverse proxy in front of the provider's own API (the "upstream"): every
//! request to a path that is not Tessera's own is checked against the configured routes
//! (`tessera_core::gateway`), authenticated exactly as the sample API does (`caller.rs`)
//! and forwarded over HTTP/1.1 with the caller's identity in `Tessera-*` headers.
//!
//! Bodies stream both ways; nothing is buffered. Statuses of failures are chosen in
//! `error.rs`; the upstream's own responses pass through with their status.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{self, HeaderName};
use axum::http::{HeaderMap, HeaderValue, Uri};
use axum::response::{IntoResponse, Response};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
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

/// The identity headers the upstream receives; any incoming header with this prefix is
/// removed first, so a caller can never pose as someone else.
const IDENTITY_PREFIX: &str = "tessera-";
const ACCOUNT: HeaderName = HeaderName::from_static("tessera-account");
const CLIENT: HeaderName = HeaderName::from_static("tessera-client");
const SCOPE: HeaderName = HeaderName::from_static("tessera-scope");
const SUBJECT: HeaderName = HeaderName::from_static("tessera-subject");
const AUTH: HeaderName = HeaderName::from_static("tessera-auth");
const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const FORWARDED: HeaderName = HeaderName::from_static("forwarded");
/// RFC 9110 §7.6.3: protocol version and a pseudonym for this hop.
const VIA: &str = "1.1 tessera";

/// What the gateway is configured with.
pub struct GatewayPolicy {
    /// `http://host[:port]`, no path.
    pub upstream: String,
    pub routes: RouteTable,
    pub connect_timeout: Duration,
    /// Longest wait for the upstream's response headers once the request is sent.
    pub response_timeout: Duration,
    /// Also send a short-lived internal JWT as `Authorization: Bearer` (audience: the
    /// upstream), so the upstream can verify the identity with the JWKS.
    pub identity_jwt: bool,
}

/// The upstream and a pooled HTTP/1.1 client to reach it.
pub struct Gateway {
    origin: String,
    routes: RouteTable,
    response_timeout: Duration,
    identity_jwt: bool,
    client: Client<HttpConnector, Body>,
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
        let Some(authority) = uri.authority().filter(|_| plain_origin) else {
            return Err(format!(
                "upstream {:?} must be http://HOST[:PORT] without a path (https upstreams are not supported)",
                policy.upstream
            ));
        };
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(policy.connect_timeout));
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .build(connector);
        Ok(Self {
            origin: format!("http://{authority}"),
            routes: policy.routes,
            response_timeout: policy.response_timeout,
            identity_jwt: policy.identity_jwt,
            client,
        })
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
            let caller = match Caller::authenticate(app, req.headers(), client).await {
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
    let target = parts
        .uri
        .path_and_query()
        .map_or("/", |pq| pq.as_str())
        .to_owned();
    parts.uri = format!("{}{target}", gateway.origin)
        .parse()
        .map_err(|_| HttpError::BadRequest("the request target is not a valid path".into()))?;
    let incoming_host = parts.headers.get(header::HOST).cloned();
    prepare_request_headers(
        &mut parts.headers,
        identity,
        hop.peer,
        hop.trusted,
        incoming_host,
    )
    .map_err(HttpError::internal)?;
    parts.headers.insert(REQUEST_ID, request_id.clone());
    if let Some(bearer) = internal {
        parts.headers.insert(header::AUTHORIZATION, bearer);
    }
    let upstream_req = axum::http::Request::from_parts(parts, body);

    let sent = tokio::time::timeout(
        gateway.response_timeout,
        gateway.client.request(upstream_req),
    )
    .await;
    let res = match sent {
        Ok(Ok(res)) => res,
        Ok(Err(err)) => {
            let failure = if timed_out(&err) {
                UpstreamFailure::TimedOut
            } else {
                UpstreamFailure::Unreachable
            };
            tracing::warn!(request_id = ?request_id, client = ?hop.client, error = %err, ?failure, "upstream request failed");
            return Err(HttpError::Upstream(failure));
        }
        Err(_) => {
            tracing::warn!(request_id = ?request_id, client = ?hop.client, "upstream did not send response headers in time");
            return Err(HttpError::Upstream(UpstreamFailure::TimedOut));
        }
    };
    let (mut parts, body) = res.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    parts
        .headers
        .append(header::VIA, HeaderValue::from_static(VIA));
    Ok(Response::from_parts(parts, Body::new(body)))
}

/// Whether a connection attempt ran out of time (a connect timeout), as opposed to being
/// refused or reset.
fn timed_out(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(err);
    while let Some(e) = source {
        if e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
        {
            return true;
        }
        source = e.source();
    }
    false
}

/// The request as the upstream must see it: no hop-by-hop headers, no credentials, no
/// identity headers but ours, and the forwarding headers of this hop.
fn prepare_request_headers(
    headers: &mut HeaderMap,
    identity: Option<Identity<'_>>,
    peer: Option<IpAddr>,
    from_trusted_proxy: bool,
    incoming_host: Option<HeaderValue>,
) -> Result<(), axum::http::header::InvalidHeaderValue> {
    strip_hop_by_hop(headers);
    // The credential was for Tessera; the upstream learns who called from our headers.
    headers.remove(header::AUTHORIZATION);
    // The client connects to the upstream's address (hyper sets `Host` from the URI).
    headers.remove(header::HOST);
    let spoofed: Vec<HeaderName> = headers
        .keys()
        .filter(|name| name.as_str().starts_with(IDENTITY_PREFIX))
        .cloned()
        .collect();
    for name in spoofed {
        headers.remove(name);
    }
    if let Some(id) = identity {
        // What the upstream's own database calls the account, when Tessera knows it.
        let account = id.external_id.unwrap_or(id.account);
        headers.insert(ACCOUNT, HeaderValue::from_str(account)?);
        headers.insert(CLIENT, HeaderValue::from_str(id.client)?);
        headers.insert(SCOPE, HeaderValue::from_str(&id.scope)?);
        if let Some(subject) = id.subject {
            headers.insert(SUBJECT, HeaderValue::from_str(subject)?);
        }
        headers.insert(AUTH, HeaderValue::from_static(id.auth));
    }
    headers.append(header::VIA, HeaderValue::from_static(VIA));
    if !from_trusted_proxy {
        // Only a trusted proxy's forwarding headers are believed (`trusted_proxies`).
        for name in [
            &FORWARDED_FOR,
            &FORWARDED_PROTO,
            &FORWARDED_HOST,
            &FORWARDED,
        ] {
            headers.remove(name);
        }
    }
    let Some(ip) = peer else {
        return Ok(());
    };
    // De-facto standard: the addresses the request came through, this hop's peer last.
    headers.insert(
        FORWARDED_FOR,
        appended(headers, &FORWARDED_FOR, &ip.to_string())?,
    );
    // The first proxy's view of scheme and host wins; ours only when none came before.
    if !headers.contains_key(&FORWARDED_PROTO) {
        headers.insert(FORWARDED_PROTO, HeaderValue::from_static("http"));
    }
    if let Some(host) = &incoming_host {
        if !headers.contains_key(&FORWARDED_HOST) {
            headers.insert(FORWARDED_HOST, host.clone());
        }
    }
    // RFC 7239 §4: one element per hop; an IPv6 node is quoted and bracketed (§6), a host
    // with a port is not a token and is quoted too.
    let node = match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("\"[{v6}]\""),
    };
    let mut element = format!("for={node};proto=http");
    if let Some(host) = incoming_host.as_ref().and_then(|h| h.to_str().ok()) {
        if host
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
        {
            element.push_str(&format!(";host=\"{host}\""));
        }
    }
    headers.insert(FORWARDED, appended(headers, &FORWARDED, &element)?);
    Ok(())
}

/// The values of `name` joined, with `last` appended.
fn appended(
    headers: &HeaderMap,
    name: &HeaderName,
    last: &str,
) -> Result<HeaderValue, axum::http::header::InvalidHeaderValue> {
    let mut list: Vec<&str> = headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    list.push(last);
    HeaderValue::from_str(&list.join(", "))
}

/// Removes the headers that concern only one connection (RFC 9110 §7.6.1): those named in
/// `Connection`, and the hop-by-hop fields whether or not they are named there.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in [
        header::CONNECTION,
        HeaderName::from_static("keep-alive"),
        HeaderName::from_static("proxy-connection"),
        header::PROXY_AUTHENTICATE,
        header::PROXY_AUTHORIZATION,
        header::TE,
        header::TRAILER,
        header::TRANSFER_ENCODING,
        header::UPGRADE,
    ] {
        headers.remove(name);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn hop_by_hop_headers_go_including_those_named_in_connection() {
        let mut h = HeaderMap::new();
        h.append(header::CONNECTION, HeaderValue::from_static("X-Hop, close"));
        h.append(header::CONNECTION, HeaderValue::from_static("x-other"));
        h.insert("x-hop", HeaderValue::from_static("1"));
        h.insert("x-other", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert(header::TE, HeaderValue::from_static("trailers"));
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        h.insert("x-end-to-end", HeaderValue::from_static("1"));
        strip_hop_by_hop(&mut h);
        let left: Vec<&str> = h.keys().map(HeaderName::as_str).collect();
        assert_eq!(left, ["x-end-to-end"]);
    }

    #[test]
    fn request_headers_carry_our_identity_only() {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer x"));
        h.insert("tessera-account", HeaderValue::from_static("acct_evil"));
        h.insert("tessera-subject", HeaderValue::from_static("usr_evil"));
        h.insert("tessera-other", HeaderValue::from_static("x"));
        h.insert("x-forwarded-for", HeaderValue::from_static("10.0.0.1"));
        h.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        let id = Identity {
            account: "acct_1",
            client: "cli_1",
            scope: "books:read".into(),
            subject: None,
            external_id: None,
            auth: "bearer",
        };
        let peer = Some("192.0.2.7".parse().unwrap());
        let host = Some(HeaderValue::from_static("api.example.com"));
        prepare_request_headers(&mut h, Some(id), peer, true, host).unwrap();
        assert!(h.get(header::AUTHORIZATION).is_none());
        assert_eq!(h["tessera-account"], "acct_1");
        assert_eq!(h["tessera-client"], "cli_1");
        assert_eq!(h["tessera-auth"], "bearer");
        assert!(h.get("tessera-subject").is_none());
        assert!(h.get("tessera-other").is_none());
        assert_eq!(h["x-forwarded-for"], "10.0.0.1, 192.0.2.7");
        assert_eq!(
            h["x-forwarded-proto"], "https",
            "a trusted proxy's scheme is kept"
        );
        assert_eq!(
            h["forwarded"],
            "for=192.0.2.7;proto=http;host=\"api.example.com\""
        );
        assert_eq!(h["x-forwarded-host"], "api.example.com");
        assert_eq!(h["via"], "1.1 tessera");
    }

    #[test]
    fn the_account_header_is_the_external_id_when_there_is_one() {
        let mut h = HeaderMap::new();
        let id = Identity {
            account: "acct_1",
            client: "cli_1",
            scope: "books:read".into(),
            subject: None,
            external_id: Some("cus 42"),
            auth: "basic",
        };
        prepare_request_headers(&mut h, Some(id), None, false, None).unwrap();
        assert_eq!(h["tessera-account"], "cus 42");
        assert_eq!(h["tessera-auth"], "basic");
    }

    #[test]
    fn an_untrusted_peers_forwarding_headers_are_replaced() {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_static("10.0.0.1"));
        h.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        h.insert("x-forwarded-host", HeaderValue::from_static("evil.example"));
        h.insert("forwarded", HeaderValue::from_static("for=10.0.0.1"));
        let peer = Some("2001:db8::1".parse().unwrap());
        let host = Some(HeaderValue::from_static("api.example.com:8443"));
        prepare_request_headers(&mut h, None, peer, false, host).unwrap();
        assert_eq!(h["x-forwarded-for"], "2001:db8::1");
        assert_eq!(h["x-forwarded-proto"], "http");
        assert_eq!(h["x-forwarded-host"], "api.example.com:8443");
        assert_eq!(
            h["forwarded"],
            "for=\"[2001:db8::1]\";proto=http;host=\"api.example.com:8443\""
        );
    }

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
