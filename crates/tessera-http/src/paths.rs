//! Paths of Tessera's own pages, static files, the sample API, health checks and metrics,
//! shared by the router and the handlers that link to them. The OAuth endpoints' paths are
//! in core (`tessera_core::oauth::routes`), because the metadata document publishes them.

/// Shows an authorization code to copy, for applications without a redirect URI.
pub const CODE_PAGE: &str = "/oauth/code";
pub const SIGN_IN: &str = "/signin";
pub const SIGN_OUT: &str = "/signout";
pub const STYLESHEET: &str = "/static/tessera.css";
pub const SCRIPT: &str = "/static/tessera.js";
pub const API_ACCOUNT: &str = "/v1/account";
pub const API_BOOKS: &str = "/v1/books";
pub const API_BOOK: &str = "/v1/books/{id}";
pub const HEALTH: &str = "/health";
pub const HEALTHZ: &str = "/healthz";
pub const READYZ: &str = "/readyz";
pub const METRICS: &str = "/metrics";
