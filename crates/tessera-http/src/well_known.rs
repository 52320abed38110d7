//! Discovery documents: JWKS (RFC 7517), and the server's metadata, one document served as
//! RFC 8414's and as OpenID Connect Discovery's.

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use tessera_core::oauth::metadata::metadata;

use crate::state::AppState;

pub async fn get_jwks(State(app): State<AppState>) -> Response {
    let jwks = app.caches.keyring().jwks(app.clock.now());
    let mut res = Json(jwks).into_response();
    // Short enough that a rotation's propagation delay covers any cache honouring it.
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    res
}

/// `/.well-known/oauth-authorization-server` and `/.well-known/openid-configuration`.
pub async fn get_metadata(State(app): State<AppState>) -> Json<serde_json::Value> {
    Json(metadata(
        &app.tokens.issuer,
        &app.caches.scopes(),
        app.keys.algorithm,
        app.authorize.require_par,
    ))
}

pub async fn get_health() -> &'static str {
    "ok"
}
