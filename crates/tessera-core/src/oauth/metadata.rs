//! Authorization server metadata (RFC 8414 §2): only what this server really offers.

use serde_json::{json, Value};

use super::routes;
use crate::domain::ScopeSet;
use crate::token::keys::Algorithm;

pub fn metadata(issuer: &str, scopes: &ScopeSet, signing_alg: Algorithm) -> Value {
    let url = |path: &str| format!("{}{}", issuer.trim_end_matches('/'), path);
    json!({
        "issuer": issuer,
        "authorization_endpoint": url(routes::AUTHORIZE),
        "token_endpoint": url(routes::TOKEN),
        "jwks_uri": url(routes::JWKS),
        "revocation_endpoint": url(routes::REVOKE),
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint": url(routes::INTROSPECT),
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "scopes_supported": scopes.iter().collect::<Vec<_>>(),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "client_credentials", "refresh_token"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "code_challenge_methods_supported": ["S256"],
        // RFC 9207: every authorization response carries `iss`.
        "authorization_response_iss_parameter_supported": true,
        "access_token_signing_alg_values_supported": [signing_alg.as_str()],
    })
}
