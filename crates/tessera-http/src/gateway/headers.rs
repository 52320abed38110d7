//! The headers the upstream and the client see: identity headers set by Tessera only,
//! hop-by-hop fields removed (RFC 9110 §7.6.1), this hop's forwarding headers appended.

use std::net::IpAddr;

use std::io::Write as _;

use axum::http::header::{self, HeaderName};
use axum::http::{HeaderMap, HeaderValue};

use crate::caller::Identity;

/// The identity headers the upstream receives; any incoming header with this prefix is
/// removed first, so a caller can never pose as someone else.
const IDENTITY_PREFIX: &str = "tessera-";
const FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const FORWARDED: HeaderName = HeaderName::from_static("forwarded");
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// RFC 9110 §7.6.3: protocol version and a pseudonym for this hop.
pub const VIA: &str = "1.1 tessera";

/// RFC 9449 §4.1: the proof that came with a DPoP-bound token; as much Tessera's as the
/// token itself.
const DPOP: &str = "dpop";

/// What this hop adds to a request on its way to the upstream.
pub struct Upward<'a> {
    pub identity: Option<Identity<'a>>,
    /// The connection's peer; `None` only for a request that came over no TCP connection.
    pub peer: Option<IpAddr>,
    /// The peer is one of `trusted_proxies`: its forwarding headers are kept.
    pub from_trusted_proxy: bool,
    pub request_id: &'a HeaderValue,
    /// Tessera's own credential for the upstream (`upstream_identity = "jwt"`).
    pub authorization: Option<&'a HeaderValue>,
    /// A WebSocket handshake: `Connection: upgrade` and `Upgrade: websocket` go up.
    pub websocket: bool,
}

/// A value Tessera made is not a valid header field value (a control character in an
/// external id, say): the request is not sent.
#[derive(Debug)]
pub struct InvalidField(pub &'static str);

impl std::fmt::Display for InvalidField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the {} header's value is not a valid field value",
            self.0
        )
    }
}

impl std::error::Error for InvalidField {}

/// Writes the header fields the upstream receives (`name: value` lines, CRLF each) into
/// `out`, straight from the client's request: no hop-by-hop fields, no credentials, no
/// identity headers but ours, this hop's forwarding headers, `Host` and the body's framing
/// left to the client. One pass over the client's fields, no header map changed and then
/// serialized (BENCHMARKS.md, "The upstream's head written straight from the request").
pub fn write_request_fields(
    out: &mut Vec<u8>,
    incoming: &HeaderMap,
    up: &Upward<'_>,
) -> Result<(), InvalidField> {
    let named = connection_named(incoming);
    let trusted = up.from_trusted_proxy;
    let mut forwarded_for: Vec<&str> = Vec::new();
    let mut forwarded: Vec<&str> = Vec::new();
    let (mut has_proto, mut has_host) = (false, false);
    for (name, value) in incoming {
        let n = name.as_str();
        let dropped = is_hop_by_hop(name)
            || named.iter().any(|m| m == name)
            // The credential was for Tessera; the upstream learns who called from ours.
            || name == header::AUTHORIZATION
            || n == DPOP
            // `Host` is the upstream's; the framing is written for the body as it goes up.
            || name == header::HOST
            || name == header::CONTENT_LENGTH
            || name == REQUEST_ID
            || n.starts_with(IDENTITY_PREFIX);
        if dropped {
            continue;
        }
        // Only a trusted proxy's forwarding headers are believed (`trusted_proxies`); the
        // two lists get this hop appended below.
        if name == FORWARDED_FOR || name == FORWARDED {
            if let (true, Ok(v)) = (trusted, value.to_str()) {
                let list = if name == FORWARDED {
                    &mut forwarded
                } else {
                    &mut forwarded_for
                };
                list.push(v);
            }
            continue;
        }
        if name == FORWARDED_PROTO || name == FORWARDED_HOST {
            if !trusted {
                continue;
            }
            has_proto |= name == FORWARDED_PROTO;
            has_host |= name == FORWARDED_HOST;
        }
        field(out, n, value.as_bytes());
    }
    if let Some(id) = &up.identity {
        // What the upstream's own database calls the account, when Tessera knows it.
        checked(out, "tessera-account", id.external_id.unwrap_or(id.account))?;
        checked(out, "tessera-client", id.client)?;
        checked(out, "tessera-scope", &id.scope)?;
        if let Some(subject) = id.subject {
            checked(out, "tessera-subject", subject)?;
        }
        field(out, "tessera-auth", id.auth.as_bytes());
    }
    field(out, "via", VIA.as_bytes());
    if let Some(ip) = up.peer {
        let host = incoming.get(header::HOST).map(HeaderValue::as_bytes);
        write_forwarding(out, ip, host, &forwarded_for, &forwarded);
        // The first proxy's view of scheme and host wins; ours only when none came before.
        if !has_proto {
            field(out, "x-forwarded-proto", b"http");
        }
        if let (false, Some(host)) = (has_host, host) {
            field(out, "x-forwarded-host", host);
        }
    }
    field(out, REQUEST_ID.as_str(), up.request_id.as_bytes());
    if let Some(bearer) = up.authorization {
        field(out, "authorization", bearer.as_bytes());
    }
    if up.websocket {
        field(out, "connection", b"upgrade");
        field(out, "upgrade", b"websocket");
    }
    Ok(())
}

/// `X-Forwarded-For` and RFC 7239's `Forwarded`, each the incoming list (a trusted proxy's)
/// with this hop's peer appended.
fn write_forwarding(
    out: &mut Vec<u8>,
    ip: IpAddr,
    host: Option<&[u8]>,
    forwarded_for: &[&str],
    forwarded: &[&str],
) {
    // De-facto standard: the addresses the request came through, this hop's peer last.
    out.extend_from_slice(b"x-forwarded-for: ");
    for earlier in forwarded_for {
        out.extend_from_slice(earlier.as_bytes());
        out.extend_from_slice(b", ");
    }
    // Writing to a `Vec` cannot fail.
    let _ = write!(out, "{ip}\r\n");
    // RFC 7239 §4: one element per hop; an IPv6 node is quoted and bracketed (§6), a host
    // with a port is not a token and is quoted too.
    out.extend_from_slice(b"forwarded: ");
    for earlier in forwarded {
        out.extend_from_slice(earlier.as_bytes());
        out.extend_from_slice(b", ");
    }
    let _ = match ip {
        IpAddr::V4(v4) => write!(out, "for={v4};proto=http"),
        IpAddr::V6(v6) => write!(out, "for=\"[{v6}]\";proto=http"),
    };
    let quotable = |h: &&[u8]| {
        h.iter()
            .all(|b| b.is_ascii_graphic() && *b != b'"' && *b != b'\\')
    };
    if let Some(host) = host.filter(quotable) {
        out.extend_from_slice(b";host=\"");
        out.extend_from_slice(host);
        out.push(b'"');
    }
    out.extend_from_slice(b"\r\n");
}

/// One `name: value` line; `value` is already a valid field value.
fn field(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// One `name: value` line of a value Tessera made, checked as `HeaderValue` would (RFC
/// 9110 §5.5: visible characters, spaces and tabs; no CR, LF or other controls).
fn checked(out: &mut Vec<u8>, name: &'static str, value: &str) -> Result<(), InvalidField> {
    let valid = value
        .bytes()
        .all(|b| (b >= b' ' && b != 0x7f) || b == b'\t');
    if !valid {
        return Err(InvalidField(name));
    }
    field(out, name, value.as_bytes());
    Ok(())
}

/// The fields named in `Connection` (RFC 9110 §7.6.1), which concern this hop only.
fn connection_named(headers: &HeaderMap) -> Vec<HeaderName> {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect()
}

/// The hop-by-hop fields (RFC 9110 §7.6.1), removed whether or not `Connection` names
/// them.
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

fn is_hop_by_hop(name: &HeaderName) -> bool {
    HOP_BY_HOP.contains(&name.as_str())
}

/// Removes the headers that concern only one connection (RFC 9110 §7.6.1): those named in
/// `Connection`, and the hop-by-hop fields whether or not they are named there.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    for name in connection_named(headers) {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::gateway::test_headers;

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

    static RID: HeaderValue = HeaderValue::from_static("req_1");

    fn upward(identity: Option<Identity<'static>>, peer: &str, trusted: bool) -> Upward<'static> {
        Upward {
            identity,
            peer: Some(peer.parse().unwrap()),
            from_trusted_proxy: trusted,
            request_id: &RID,
            authorization: None,
            websocket: false,
        }
    }

    fn identity(external_id: Option<&'static str>, auth: &'static str) -> Identity<'static> {
        Identity {
            account: "acct_1",
            client: "cli_1",
            scope: "books:read".into(),
            subject: None,
            external_id,
            auth,
        }
    }

    /// The fields written for `incoming`, as (name, value) pairs in order.
    fn written(incoming: &HeaderMap, up: &Upward<'_>) -> Vec<(String, String)> {
        let mut out = Vec::new();
        write_request_fields(&mut out, incoming, up).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.ends_with("\r\n"));
        text.split_terminator("\r\n")
            .map(|line| {
                let (name, value) = line.split_once(": ").unwrap();
                (name.to_owned(), value.to_owned())
            })
            .collect()
    }

    fn values<'a>(fields: &'a [(String, String)], name: &str) -> Vec<&'a str> {
        fields
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    #[test]
    fn request_headers_carry_our_identity_only() {
        let h = test_headers(&[
            ("authorization", "Bearer x"),
            ("dpop", "proof"),
            ("tessera-account", "acct_evil"),
            ("tessera-subject", "usr_evil"),
            ("tessera-other", "x"),
            ("x-forwarded-for", "10.0.0.1"),
            ("x-forwarded-proto", "https"),
            ("host", "api.example.com"),
            ("content-length", "5"),
            ("x-request-id", "theirs"),
            ("via", "1.0 edge"),
            ("accept", "application/json"),
        ]);
        let f = written(
            &h,
            &upward(Some(identity(None, "bearer")), "192.0.2.7", true),
        );
        for gone in [
            "authorization",
            "dpop",
            "tessera-subject",
            "tessera-other",
            "host",
            "content-length",
        ] {
            assert!(values(&f, gone).is_empty(), "{gone} must not go up");
        }
        assert_eq!(values(&f, "tessera-account"), ["acct_1"]);
        assert_eq!(values(&f, "tessera-client"), ["cli_1"]);
        assert_eq!(values(&f, "tessera-scope"), ["books:read"]);
        assert_eq!(values(&f, "tessera-auth"), ["bearer"]);
        assert_eq!(values(&f, "x-forwarded-for"), ["10.0.0.1, 192.0.2.7"]);
        assert_eq!(
            values(&f, "x-forwarded-proto"),
            ["https"],
            "a trusted proxy's scheme is kept"
        );
        assert_eq!(
            values(&f, "forwarded"),
            ["for=192.0.2.7;proto=http;host=\"api.example.com\""]
        );
        assert_eq!(values(&f, "x-forwarded-host"), ["api.example.com"]);
        assert_eq!(values(&f, "via"), ["1.0 edge", "1.1 tessera"]);
        assert_eq!(values(&f, "x-request-id"), ["req_1"]);
        assert_eq!(values(&f, "accept"), ["application/json"]);
    }

    #[test]
    fn hop_by_hop_fields_do_not_go_up_unless_a_websocket_asks() {
        let h = test_headers(&[
            ("connection", "X-Hop, upgrade"),
            ("x-hop", "1"),
            ("keep-alive", "timeout=5"),
            ("te", "trailers"),
            ("upgrade", "websocket"),
            ("transfer-encoding", "chunked"),
            ("proxy-authorization", "Basic x"),
            ("x-end-to-end", "1"),
        ]);
        let plain = written(&h, &upward(None, "192.0.2.7", false));
        let names: Vec<&str> = plain.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "x-end-to-end",
                "via",
                "x-forwarded-for",
                "forwarded",
                "x-forwarded-proto",
                "x-request-id"
            ]
        );
        let bearer = HeaderValue::from_static("Bearer internal");
        let up = Upward {
            websocket: true,
            authorization: Some(&bearer),
            ..upward(None, "192.0.2.7", false)
        };
        let ws = written(&h, &up);
        assert_eq!(values(&ws, "connection"), ["upgrade"]);
        assert_eq!(values(&ws, "upgrade"), ["websocket"]);
        assert_eq!(values(&ws, "authorization"), ["Bearer internal"]);
        assert!(values(&ws, "x-hop").is_empty());
    }

    #[test]
    fn the_account_header_is_the_external_id_when_there_is_one() {
        let f = written(
            &HeaderMap::new(),
            &upward(Some(identity(Some("cus 42"), "basic")), "192.0.2.7", false),
        );
        assert_eq!(values(&f, "tessera-account"), ["cus 42"]);
        assert_eq!(values(&f, "tessera-auth"), ["basic"]);
    }

    #[test]
    fn an_identity_that_is_no_field_value_is_refused() {
        let up = upward(
            Some(identity(Some("cus\r\nx-admin: 1"), "basic")),
            "192.0.2.7",
            false,
        );
        let err = write_request_fields(&mut Vec::new(), &HeaderMap::new(), &up).unwrap_err();
        assert_eq!(err.0, "tessera-account");
    }

    #[test]
    fn an_untrusted_peers_forwarding_headers_are_replaced() {
        let h = test_headers(&[
            ("x-forwarded-for", "10.0.0.1"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "evil.example"),
            ("forwarded", "for=10.0.0.1"),
            ("host", "api.example.com:8443"),
        ]);
        let f = written(&h, &upward(None, "2001:db8::1", false));
        assert_eq!(values(&f, "x-forwarded-for"), ["2001:db8::1"]);
        assert_eq!(values(&f, "x-forwarded-proto"), ["http"]);
        assert_eq!(values(&f, "x-forwarded-host"), ["api.example.com:8443"]);
        assert_eq!(
            values(&f, "forwarded"),
            ["for=\"[2001:db8::1]\";proto=http;host=\"api.example.com:8443\""]
        );
    }
}
