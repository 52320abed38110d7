//! Route paths, shared by the router, the metadata document and the tests.

pub const TOKEN: &str = "/oauth/token";
pub const REVOKE: &str = "/oauth/revoke";
pub const INTROSPECT: &str = "/oauth/introspect";
pub const AUTHORIZE: &str = "/oauth/authorize";
/// Shows an authorization code to copy, for applications without a redirect URI.
pub const CODE_PAGE: &str = "/oauth/code";
pub const SIGN_IN: &str = "/signin";
pub const SIGN_OUT: &str = "/signout";
pub const STYLESHEET: &str = "/static/tessera.css";
pub const SCRIPT: &str = "/static/tessera.js";
pub const JWKS: &str = "/.well-known/jwks.json";
pub const METADATA: &str = "/.well-known/oauth-authorization-server";
pub const API_ACCOUNT: &str = "/v1/account";
pub const API_BOOKS: &str = "/v1/books";
pub const API_BOOK: &str = "/v1/books/{id}";
pub const HEALTH: &str = "/health";
