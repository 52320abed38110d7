//! The OAuth 2.0 protocol: one grant or endpoint per file, each reading as its RFC section.

pub mod authorization_code;
pub mod authorize;
pub mod client_assertion;
pub mod client_auth;
pub mod client_credentials;
pub mod consent;
pub mod device;
pub mod dpop;
pub mod identity;
pub mod introspection;
pub mod logout;
pub mod metadata;
pub mod par;
pub mod pkce;
pub mod refresh_retry;
pub mod refresh_token;
pub mod request;
pub mod response;
pub mod revocation;
pub mod routes;
pub mod scope;
pub mod token;
pub mod token_set;
pub mod userinfo;
