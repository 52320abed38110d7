//! The server's description of itself: one document, served both as authorization server
//! metadata (RFC 8414 §2) and as the OpenID Provider configuration (OpenID Connect
//! Discovery 1.0 §3), so the two can never disagree. Every member is registered in IANA's
//! OAuth Authorization Server Metadata registry, so the RFC 8414 reader may see them all.
//! Only what this server really offers is listed; where Discovery's default for an omitted
//! member would claim a feature Tessera lacks (`request_uri_parameter_supported` defaults
//! to true), the member is written out as false.

use serde_json::{json, Value};

use super::identity::{CLAIMS_SUPPORTED, IDENTITY_SCOPES};
use super::routes;
use crate::domain::ScopeSet;
use crate::token::dpop::DPOP_ALGS;
use crate::token::keys::Algorithm;

/// The algorithms of `private_key_jwt` client assertions (`token/jwk.rs`).
const ASSERTION_ALGS: [&str; 3] = ["ES256", "EdDSA", "RS256"];

pub fn metadata(
    issuer: &str,
    catalog: &ScopeSet,
    signing_alg: Algorithm,
    require_par: bool,
) -> Value {
    let url = |path: &str| format!("{}{}", issuer.trim_end_matches('/'), path);
    let mut scopes: Vec<&str> = IDENTITY_SCOPES.iter().map(|(name, _)| *name).collect();
    scopes.extend(catalog.iter());
    json!({
        "issuer": issuer,
        "authorization_endpoint": url(routes::AUTHORIZE),
        "token_endpoint": url(routes::TOKEN),
        "userinfo_endpoint": url(routes::USERINFO),
        "end_session_endpoint": url(routes::END_SESSION),
        "jwks_uri": url(routes::JWKS),
        "revocation_endpoint": url(routes::REVOKE),
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
        "revocation_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGS,
        "pushed_authorization_request_endpoint": url(routes::PAR),
        "require_pushed_authorization_requests": require_par,
        "introspection_endpoint": url(routes::INTROSPECT),
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt"],
        "introspection_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGS,
        "scopes_supported": scopes,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": [
            "authorization_code",
            "client_credentials",
            "refresh_token",
            "urn:ietf:params:oauth:grant-type:device_code",
        ],
        "device_authorization_endpoint": url(routes::DEVICE_AUTHORIZATION),
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
        "token_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGS,
        "code_challenge_methods_supported": ["S256"],
        // RFC 9449 §5.1.
        "dpop_signing_alg_values_supported": DPOP_ALGS,
        // RFC 9207: every authorization response carries `iss`.
        "authorization_response_iss_parameter_supported": true,
        "access_token_signing_alg_values_supported": [signing_alg.as_str()],
        // OpenID Connect: `sub` is the user's id, the same for every client.
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [signing_alg.as_str()],
        "claims_supported": CLAIMS_SUPPORTED,
        "claim_types_supported": ["normal"],
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_scopes_come_first_and_endpoints_hang_off_the_issuer() {
        let catalog = ScopeSet::parse("books:read").unwrap();
        let doc = metadata("https://id.example/", &catalog, Algorithm::EdDsa, false);
        assert_eq!(
            doc["scopes_supported"],
            json!(["openid", "profile", "email", "books:read"])
        );
        assert_eq!(
            doc["userinfo_endpoint"],
            "https://id.example/oauth/userinfo"
        );
        assert_eq!(
            doc["id_token_signing_alg_values_supported"],
            json!(["EdDSA"])
        );
        assert_eq!(doc["request_uri_parameter_supported"], false);
    }
}
