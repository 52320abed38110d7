//! The headers the upstream and the client see: identity headers set by Tessera only,
//! hop-by-hop fields removed (RFC 9110 §7.6.1), this hop's forwarding headers appended.

use std::net::IpAddr;

use axum::http::header::{self, HeaderName, InvalidHeaderValue};
use axum::http::{HeaderMap, HeaderValue};

use crate::caller::Identity;

/// The identity headers the upstream receives; any incoming header with this prefix is
/// removed first, so a caller can never pose as someone else.
const IDENTITY_PREFIX: &str = "tessera-";
const ACCOUNT: HeaderName = HeaderName::from_static("tessera-account");
const CLIENT: HeaderName = HeaderName::from_static("tessera-client");
const SCOPE: HeaderName = HeaderName::from_static("tessera-scope");
const SUBJECT: HeaderName = HeaderName::from_static("tessera-subject");
const AUTH: HeaderName = HeaderName::from_static("tessera-auth");
const FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const FORWARDED: HeaderName = HeaderName::from_static("forwarded");
/// RFC 9110 §7.6.3: protocol version and a pseudonym for this hop.
pub const VIA: &str = "1.1 tessera";

/// RFC 9449 §4.1: the proof that came with a DPoP-bound token; as much Tessera's as the
/// token itself.
const DPOP: &str = "dpop";

/// The request as the upstream must see it: no hop-by-hop headers, no credentials, no
/// identity headers but ours, and the forwarding headers of this hop.
pub fn prepare_request_headers(
    headers: &mut HeaderMap,
    identity: Option<Identity<'_>>,
    peer: Option<IpAddr>,
    from_trusted_proxy: bool,
    incoming_host: Option<HeaderValue>,
) -> Result<(), InvalidHeaderValue> {
    strip_hop_by_hop(headers);
    // The credential was for Tessera; the upstream learns who called from our headers.
    headers.remove(header::AUTHORIZATION);
    headers.remove(DPOP);
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
) -> Result<HeaderValue, InvalidHeaderValue> {
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
}
