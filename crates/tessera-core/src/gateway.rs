//! The gateway's routing rules, without IO: which configured route a request to the
//! upstream API matches, and what that route demands (nothing, a valid credential, or
//! scopes). The proxying itself is `tessera-http`'s `gateway.rs`.
//!
//! A route's path is made of `/`-separated segments: literals, `{name}` (any one segment)
//! and, last only, `{*name}` (one or more segments). When several routes match, the most
//! specific wins: compared segment by segment, a literal beats `{name}`, which beats
//! `{*name}`; at equal paths a route naming its methods beats one that takes any method.

use std::cmp::Ordering;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::domain::ScopeSet;
use crate::token::jwt::AccessTokenClaims;
use crate::UnixSeconds;

/// Paths Tessera answers itself; never proxied, and no route may claim them.
/// Each is reserved with everything below it (`/settings` and `/settings/…`).
const RESERVED: [&str; 10] = [
    "/oauth",
    "/.well-known",
    "/signin",
    "/signout",
    "/settings",
    "/static",
    "/health",
    "/healthz",
    "/readyz",
    "/metrics",
];

/// Whether `path` belongs to Tessera rather than to the upstream API.
pub fn is_reserved(path: &str) -> bool {
    RESERVED.iter().any(|p| {
        path.strip_prefix(p)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    })
}

/// One `[[route]]` table of the configuration, as written.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RouteSpec {
    /// HTTP methods; empty: every method.
    pub methods: Vec<String>,
    pub path: String,
    /// Scopes the credential must all hold.
    pub scopes: Vec<String>,
    /// No authentication: the request is passed through as it is (minus credentials).
    pub public: bool,
}

/// What a request matching no route gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unmatched {
    /// 404, as if the path did not exist.
    Deny,
    /// Any valid credential, with no scope check.
    Authenticated,
}

impl Unmatched {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "deny" => Some(Self::Deny),
            "authenticated" => Some(Self::Authenticated),
            _ => None,
        }
    }
}

/// What the gateway must check before passing a request on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access<'a> {
    /// Pass it on without authentication.
    Public,
    /// A valid credential holding every one of these scopes (none: any valid credential).
    Scopes(&'a [String]),
    /// No route, and the policy is `deny`: 404.
    Deny,
}

/// Why a request path is refused before any route is looked at.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// `.`/`..` segments or encoded `/`, `\` or `.`: the upstream might resolve the path to
    /// another route than the one checked here, so such paths are refused outright.
    #[error("the request path may not contain `.` or `..` segments or encoded `/`, `\\` or `.`")]
    Ambiguous,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param,
    Rest,
}

impl Segment {
    /// Higher is more specific.
    fn rank(&self) -> u8 {
        match self {
            Self::Literal(_) => 2,
            Self::Param => 1,
            Self::Rest => 0,
        }
    }
}

#[derive(Debug)]
struct Route {
    /// The path as configured, which names the route in `/metrics`.
    path: Arc<str>,
    /// Upper-case; empty: every method.
    methods: Vec<String>,
    segments: Vec<Segment>,
    scopes: Vec<String>,
    public: bool,
}

impl Route {
    fn matches(&self, method: &str, parts: &[&str]) -> bool {
        if !self.methods.is_empty() && !self.methods.iter().any(|m| m == method) {
            return false;
        }
        for (i, seg) in self.segments.iter().enumerate() {
            match seg {
                Segment::Rest => return parts.len() > i,
                Segment::Param => {
                    if parts.get(i).is_none_or(|p| p.is_empty()) {
                        return false;
                    }
                }
                Segment::Literal(lit) => {
                    if parts.get(i) != Some(&lit.as_str()) {
                        return false;
                    }
                }
            }
        }
        parts.len() == self.segments.len()
    }

    /// Ordering by specificity: `Greater` is more specific.
    fn specificity(&self, other: &Route) -> Ordering {
        let ranks = |r: &Route| r.segments.iter().map(Segment::rank).collect::<Vec<_>>();
        ranks(self)
            .cmp(&ranks(other))
            .then(self.segments.len().cmp(&other.segments.len()))
            .then((!self.methods.is_empty()).cmp(&!other.methods.is_empty()))
    }

    /// Two routes that would match the same requests with nothing to choose between them:
    /// the same shape, and both for every method or for a common one. (A route for some
    /// methods next to one for every method is not a duplicate: the first is preferred.)
    fn duplicates(&self, other: &Route) -> bool {
        let same_shape = self.segments.len() == other.segments.len()
            && self
                .segments
                .iter()
                .zip(&other.segments)
                .all(|(a, b)| match (a, b) {
                    (Segment::Literal(x), Segment::Literal(y)) => x == y,
                    _ => a.rank() == b.rank(),
                });
        let methods_overlap = match (self.methods.is_empty(), other.methods.is_empty()) {
            (true, true) => true,
            (false, false) => self.methods.iter().any(|m| other.methods.contains(m)),
            _ => false,
        };
        same_shape && methods_overlap
    }
}

/// A configured route that cannot be used; the message names it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("[[route]] #{index} (path {path:?}): {reason}")]
pub struct RouteError {
    /// 1-based, in file order.
    pub index: usize,
    pub path: String,
    pub reason: String,
}

/// The checked routes and the policy for requests matching none.
#[derive(Debug)]
pub struct RouteTable {
    routes: Vec<Route>,
    unmatched: Unmatched,
}

impl RouteTable {
    /// Checks every route: its pattern, its methods, its scopes against `catalog`, and that
    /// no two routes match the same requests.
    pub fn build(
        specs: &[RouteSpec],
        catalog: &ScopeSet,
        unmatched: Unmatched,
    ) -> Result<Self, RouteError> {
        let mut routes: Vec<Route> = Vec::with_capacity(specs.len());
        for (i, spec) in specs.iter().enumerate() {
            let fail = |reason: String| RouteError {
                index: i + 1,
                path: spec.path.clone(),
                reason,
            };
            let route = parse_route(spec, catalog).map_err(fail)?;
            if let Some(j) = routes.iter().position(|r| r.duplicates(&route)) {
                return Err(fail(format!(
                    "it matches the same requests as [[route]] #{} (path {:?})",
                    j + 1,
                    specs[j].path
                )));
            }
            routes.push(route);
        }
        Ok(Self { routes, unmatched })
    }

    /// What a request with `method` (upper-case, as sent) to `path` (without the query)
    /// must satisfy.
    pub fn access(&self, method: &str, path: &str) -> Result<Access<'_>, PathError> {
        let best = self.best(method, path)?;
        Ok(match best {
            Some(r) if r.public => Access::Public,
            Some(r) => Access::Scopes(&r.scopes),
            None => match self.unmatched {
                Unmatched::Deny => Access::Deny,
                Unmatched::Authenticated => Access::Scopes(&[]),
            },
        })
    }
}

impl RouteTable {
    fn best(&self, method: &str, path: &str) -> Result<Option<&Route>, PathError> {
        let parts = split_request_path(path)?;
        Ok(self
            .routes
            .iter()
            .filter(|r| r.matches(method, &parts))
            .max_by(|a, b| a.specificity(b)))
    }

    /// The configured path of the route a request matches, as written in `[[route]]`
    /// (`/v1/books/{id}`): a name with no part of the request in it, for `/metrics`.
    pub fn pattern(&self, method: &str, path: &str) -> Option<&Arc<str>> {
        self.best(method, path).ok().flatten().map(|r| &r.path)
    }
}

/// The scopes of `required` that `held` lacks, space-separated; `None` when none is missing.
pub fn missing_scopes(required: &[String], held: impl Fn(&str) -> bool) -> Option<String> {
    let missing: Vec<&str> = required
        .iter()
        .map(String::as_str)
        .filter(|s| !held(s))
        .collect();
    (!missing.is_empty()).then(|| missing.join(" "))
}

/// Lifetime of the internal JWT sent to the upstream, seconds: it covers one request.
pub const INTERNAL_TOKEN_TTL: UnixSeconds = 60;

/// Who called, as the upstream is told.
#[derive(Debug, Clone, Copy)]
pub struct UpstreamCaller<'a> {
    pub account: &'a str,
    pub client: &'a str,
    /// Space-separated granted scopes.
    pub scope: &'a str,
    /// The user, for a token from the authorization code flow.
    pub subject: Option<&'a str>,
    /// The account's external id, when it has one.
    pub external_id: Option<&'a str>,
}

/// The claims of the short-lived JWT the upstream receives with `upstream_identity = "jwt"`:
/// an RFC 9068 access token whose audience is the upstream itself, so that it cannot be
/// replayed at Tessera or anywhere else, and which the upstream verifies with Tessera's JWKS.
pub fn internal_claims(
    issuer: &str,
    upstream: &str,
    caller: UpstreamCaller<'_>,
    jti: String,
    now: UnixSeconds,
) -> AccessTokenClaims {
    AccessTokenClaims {
        iss: issuer.to_owned(),
        // RFC 9068 §2.2: `sub` is the user when there is one, else the client's account.
        sub: caller.subject.unwrap_or(caller.account).to_owned(),
        aud: upstream.to_owned(),
        client_id: caller.client.to_owned(),
        scope: caller.scope.to_owned(),
        iat: now,
        exp: now + INTERNAL_TOKEN_TTL,
        jti,
        acct: caller.subject.map(|_| caller.account.to_owned()),
        sid: None,
        account_external_id: caller.external_id.map(str::to_owned),
        cnf: None,
    }
}

fn split_request_path(path: &str) -> Result<Vec<&str>, PathError> {
    let rest = path.strip_prefix('/').unwrap_or(path);
    let parts: Vec<&str> = rest.split('/').collect();
    for p in &parts {
        let lower = p.to_ascii_lowercase();
        if *p == "." || *p == ".." || ["%2e", "%2f", "%5c"].iter().any(|e| lower.contains(e)) {
            return Err(PathError::Ambiguous);
        }
    }
    Ok(parts)
}

fn parse_route(spec: &RouteSpec, catalog: &ScopeSet) -> Result<Route, String> {
    let Some(rest) = spec.path.strip_prefix('/') else {
        return Err("the path must start with /".into());
    };
    if is_reserved(&spec.path) {
        return Err("Tessera serves this path itself; it cannot be proxied".into());
    }
    let raw: Vec<&str> = rest.split('/').collect();
    let mut segments = Vec::with_capacity(raw.len());
    for (i, seg) in raw.iter().enumerate() {
        let parsed = if let Some(name) = seg.strip_prefix("{*").and_then(|s| s.strip_suffix('}')) {
            if i + 1 != raw.len() {
                return Err(format!("{{*{name}}} may only be the last segment"));
            }
            check_name(name)?;
            Segment::Rest
        } else if let Some(name) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            check_name(name)?;
            Segment::Param
        } else if seg.contains(['{', '}', '?', '#', '%', ' ']) {
            return Err(format!(
                "segment {seg:?} must be a plain word, {{name}} or a trailing {{*name}}"
            ));
        } else if *seg == "." || *seg == ".." {
            return Err("`.` and `..` segments are not allowed".into());
        } else {
            Segment::Literal((*seg).to_owned())
        };
        segments.push(parsed);
    }
    let mut methods = Vec::with_capacity(spec.methods.len());
    for m in &spec.methods {
        let valid = !m.is_empty() && m.bytes().all(|b| b.is_ascii_alphabetic());
        if !valid {
            return Err(format!("method {m:?} is not an HTTP method"));
        }
        let upper = m.to_ascii_uppercase();
        if !methods.contains(&upper) {
            methods.push(upper);
        }
    }
    if spec.public && !spec.scopes.is_empty() {
        return Err("a public route takes no scopes".into());
    }
    for s in &spec.scopes {
        if !catalog.contains(s) {
            return Err(format!(
                "scope {s:?} is not in the scope catalog (add it with a [[scope]] table or `tessera scope create`)"
            ));
        }
    }
    Ok(Route {
        path: Arc::from(spec.path.as_str()),
        methods,
        segments,
        scopes: spec.scopes.clone(),
        public: spec.public,
    })
}

fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(format!(
            "parameter name {name:?} must be letters, digits or _"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(methods: &[&str], path: &str, scopes: &[&str]) -> RouteSpec {
        RouteSpec {
            methods: methods.iter().map(|m| m.to_string()).collect(),
            path: path.into(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            public: false,
        }
    }

    fn catalog() -> ScopeSet {
        ScopeSet::parse("books:read books:write account:read").unwrap()
    }

    fn table(specs: &[RouteSpec], unmatched: Unmatched) -> RouteTable {
        RouteTable::build(specs, &catalog(), unmatched).unwrap()
    }

    fn scopes(a: Access<'_>) -> Option<Vec<String>> {
        match a {
            Access::Scopes(s) => Some(s.to_vec()),
            _ => None,
        }
    }

    #[test]
    fn methods_and_params_choose_the_route() {
        let t = table(
            &[
                spec(&["GET"], "/v1/books/{id}", &["books:read"]),
                spec(&["put", "DELETE"], "/v1/books/{id}", &["books:write"]),
            ],
            Unmatched::Deny,
        );
        let get = t.access("GET", "/v1/books/b1").unwrap();
        assert_eq!(scopes(get), Some(vec!["books:read".into()]));
        let put = t.access("PUT", "/v1/books/b1").unwrap();
        assert_eq!(scopes(put), Some(vec!["books:write".into()]));
        assert_eq!(t.access("POST", "/v1/books/b1").unwrap(), Access::Deny);
        assert_eq!(t.access("GET", "/v1/books").unwrap(), Access::Deny);
        assert_eq!(t.access("GET", "/v1/books/").unwrap(), Access::Deny);
        assert_eq!(t.access("GET", "/v1/books/b1/x").unwrap(), Access::Deny);
    }

    #[test]
    fn a_request_is_named_by_its_routes_configured_path() {
        let t = table(
            &[
                spec(&["GET"], "/v1/books/{id}", &["books:read"]),
                spec(&[], "/v1/{*rest}", &["account:read"]),
            ],
            Unmatched::Authenticated,
        );
        let name = |m, p| t.pattern(m, p).map(|s| s.to_string());
        assert_eq!(name("GET", "/v1/books/b1"), Some("/v1/books/{id}".into()));
        assert_eq!(name("POST", "/v1/books/b1"), Some("/v1/{*rest}".into()));
        assert_eq!(name("GET", "/v2/x"), None, "no route: no name");
        assert_eq!(name("GET", "/v1/%2e%2e/x"), None, "refused path: no name");
    }

    #[test]
    fn the_most_specific_route_wins() {
        let mut public = spec(&[], "/v1/books/featured", &[]);
        public.public = true;
        let t = table(
            &[
                spec(&[], "/v1/{*rest}", &["account:read"]),
                spec(&[], "/v1/books/{id}", &["books:read"]),
                public,
                spec(&["POST"], "/v1/books/{*rest}", &["books:write"]),
                spec(&[], "/v1/books/{*rest}", &["books:read", "account:read"]),
            ],
            Unmatched::Deny,
        );
        assert_eq!(
            t.access("GET", "/v1/books/featured").unwrap(),
            Access::Public
        );
        assert_eq!(
            scopes(t.access("GET", "/v1/books/b1").unwrap()),
            Some(vec!["books:read".into()])
        );
        assert_eq!(
            scopes(t.access("POST", "/v1/books/b1/pages").unwrap()),
            Some(vec!["books:write".into()])
        );
        assert_eq!(
            scopes(t.access("GET", "/v1/books/b1/pages").unwrap()),
            Some(vec!["books:read".into(), "account:read".into()])
        );
        assert_eq!(
            scopes(t.access("GET", "/v1/other").unwrap()),
            Some(vec!["account:read".into()])
        );
        // `{*rest}` needs at least one segment.
        assert_eq!(t.access("GET", "/v1").unwrap(), Access::Deny);
    }

    #[test]
    fn unmatched_policy() {
        let routes = [spec(&["GET"], "/v1/books", &["books:read"])];
        assert_eq!(
            table(&routes, Unmatched::Deny)
                .access("GET", "/v2")
                .unwrap(),
            Access::Deny
        );
        assert_eq!(
            table(&routes, Unmatched::Authenticated)
                .access("GET", "/v2")
                .unwrap(),
            Access::Scopes(&[])
        );
    }

    #[test]
    fn ambiguous_paths_are_refused() {
        let mut public = spec(&[], "/public/{*rest}", &[]);
        public.public = true;
        let t = table(&[public], Unmatched::Authenticated);
        for path in [
            "/public/../admin",
            "/public/./x",
            "/public/%2e%2e/admin",
            "/public/a%2Fb",
            "/public/a%5cb",
        ] {
            assert_eq!(t.access("GET", path), Err(PathError::Ambiguous), "{path}");
        }
        assert_eq!(t.access("GET", "/public/a.b").unwrap(), Access::Public);
    }

    #[test]
    fn bad_routes_are_errors_naming_the_route() {
        let cases: [(RouteSpec, &str); 8] = [
            (spec(&[], "v1/books", &[]), "must start with /"),
            (spec(&[], "/v1/{*rest}/x", &[]), "only be the last"),
            (spec(&[], "/v1/{}", &[]), "parameter name"),
            (spec(&[], "/v1/bo{ok", &[]), "plain word"),
            (spec(&["GE T"], "/v1", &[]), "not an HTTP method"),
            (spec(&[], "/v1", &["books:delete"]), "books:delete"),
            (spec(&[], "/oauth/token", &[]), "serves this path itself"),
            (
                RouteSpec {
                    public: true,
                    ..spec(&[], "/v1", &["books:read"])
                },
                "public route takes no scopes",
            ),
        ];
        for (s, want) in cases {
            let other = spec(&[], "/ok", &[]);
            let err =
                RouteTable::build(&[other, s.clone()], &catalog(), Unmatched::Deny).unwrap_err();
            assert_eq!(err.index, 2);
            let text = err.to_string();
            assert!(text.contains(want), "{text}");
            assert!(text.contains(&format!("{:?}", s.path)), "{text}");
        }
    }

    #[test]
    fn duplicates_are_refused() {
        let err = RouteTable::build(
            &[
                spec(&["GET"], "/v1/books/{id}", &[]),
                spec(&["POST"], "/v1/books/{id}", &[]),
                spec(&["get"], "/v1/books/{book}", &[]),
            ],
            &catalog(),
            Unmatched::Deny,
        )
        .unwrap_err();
        assert_eq!(err.index, 3);
        assert!(err.to_string().contains("#1"), "{err}");
        // Different shapes or disjoint methods are not duplicates.
        assert!(RouteTable::build(
            &[
                spec(&["GET"], "/v1/books/{id}", &[]),
                spec(&["POST"], "/v1/books/{id}", &[]),
                spec(&[], "/v1/books/{id}", &[]),
                spec(&[], "/v1/books/{*rest}", &[]),
                spec(&[], "/v1/books/new", &[]),
            ],
            &catalog(),
            Unmatched::Deny,
        )
        .is_ok());
    }

    #[test]
    fn reserved_paths() {
        for p in [
            "/oauth/token",
            "/.well-known/jwks.json",
            "/signin",
            "/settings",
            "/settings/x",
            "/health",
            "/healthz",
            "/readyz",
            "/metrics",
            "/static/a.css",
        ] {
            assert!(is_reserved(p), "{p}");
        }
        for p in [
            "/signing",
            "/healthzz",
            "/v1/oauth/x",
            "/settingsx",
            "/metricsx",
        ] {
            assert!(!is_reserved(p), "{p}");
        }
    }

    #[test]
    fn internal_claims_name_the_user_and_the_account() {
        let caller = UpstreamCaller {
            account: "acct_1",
            client: "cl_1",
            scope: "books:read",
            subject: Some("usr_1"),
            external_id: None,
        };
        let c = internal_claims("https://t", "http://up", caller, "j".into(), 100);
        assert_eq!((c.sub.as_str(), c.account()), ("usr_1", "acct_1"));
        assert_eq!((c.aud.as_str(), c.exp), ("http://up", 160));
        assert_eq!(c.account_external_id, None);
        let own = UpstreamCaller {
            subject: None,
            ..caller
        };
        let c = internal_claims("https://t", "http://up", own, "j".into(), 100);
        assert_eq!((c.sub.as_str(), c.acct), ("acct_1", None));
    }

    #[test]
    fn internal_claims_carry_the_accounts_external_id_beside_its_id() {
        let caller = UpstreamCaller {
            account: "acct_1",
            client: "cl_1",
            scope: "books:read",
            subject: None,
            external_id: Some("cus_42"),
        };
        let c = internal_claims("https://t", "http://up", caller, "j".into(), 100);
        assert_eq!(c.sub, "acct_1", "sub stays Tessera's id");
        assert_eq!(c.account_external_id.as_deref(), Some("cus_42"));
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(json["account_external_id"], "cus_42");
    }

    #[test]
    fn missing_scopes_are_named() {
        let required = vec!["books:read".to_owned(), "books:write".to_owned()];
        assert_eq!(
            missing_scopes(&required, |s| s == "books:read"),
            Some("books:write".into())
        );
        assert_eq!(missing_scopes(&required, |_| true), None);
    }
}
