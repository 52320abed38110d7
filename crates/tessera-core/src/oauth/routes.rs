//! Paths of the OAuth endpoints, shared by the router, the metadata document (RFC 8414 §2)
//! that publishes them, and the tests. Paths of Tessera's own pages and of the sample API
//! are the HTTP layer's (`tessera-http/src/paths.rs`).

pub const TOKEN: &str = "/oauth/token";
pub const REVOKE: &str = "/oauth/revoke";
pub const INTROSPECT: &str = "/oauth/introspect";
pub const AUTHORIZE: &str = "/oauth/authorize";
pub const JWKS: &str = "/.well-known/jwks.json";
pub const METADATA: &str = "/.well-known/oauth-authorization-server";
/// OpenID Connect Core §5.3.
pub const USERINFO: &str = "/oauth/userinfo";
/// OpenID Connect Discovery 1.0 §4.
pub const OPENID_CONFIGURATION: &str = "/.well-known/openid-configuration";
/// OpenID Connect RP-Initiated Logout 1.0 §2 (`end_session_endpoint`).
pub const END_SESSION: &str = "/oauth/logout";
/// RFC 9126 §2 (`pushed_authorization_request_endpoint`).
pub const PAR: &str = "/oauth/par";
/// RFC 8628 §3.1 (`device_authorization_endpoint`).
pub const DEVICE_AUTHORIZATION: &str = "/oauth/device_authorization";
/// RFC 8628 §3.3: the verification page users type a device's user code on (`verification_uri`),
/// in the Settings Center.
pub const DEVICE_VERIFICATION: &str = "/settings/device";
