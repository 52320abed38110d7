//! Tessera's HTTP layer (axum): the only crate that knows status codes and headers.
//!
//! Handlers translate HTTP to calls into `tessera-core` and back; every error becomes a
//! response in exactly one place, [`error`].
#![forbid(unsafe_code)]

mod api;
mod authorize;
mod bearer;
mod body;
mod caller;
mod client_addr;
mod dashboard;
mod device;
mod download;
pub mod error;
mod gateway;
mod health;
mod html;
pub mod jwks_fetch;
pub mod legacy;
mod legacy_runtime;
mod listener;
mod logout;
pub mod metrics;
mod metrics_layer;
mod notice;
mod oauth;
mod operator_views;
mod paths;
mod rate_limit;
mod request_timeout;
pub mod session;
mod signin;
mod state;
pub mod sync;
mod userinfo;
mod views;
mod well_known;

use axum::routing::{get, post};
use axum::Router;
use tessera_core::oauth::routes;

pub use gateway::{Gateway, GatewayPolicy, Tunnels};
pub use health::ReadinessPolicy;
pub use legacy_runtime::LegacyRuntime;
pub use listener::{serve, ConnectionLimits};
pub use metrics::Metrics;
pub use state::{
    AppState, HttpPolicy, Inner as AppParts, SessionPolicy, SignInLimits, SystemClock,
    UserCodeLimits,
};

/// The whole application: OAuth endpoints, metadata, pages, health checks, `/metrics`
/// unless it has its own listener, and either the sample API or, when an upstream is
/// configured, the gateway to it for every other path. Every route is measured.
pub fn router(state: AppState) -> Router {
    let proxied = state.gateway.is_some();
    let router = Router::new()
        .route(
            routes::TOKEN,
            post(oauth::post_token).fallback(oauth::wrong_method),
        )
        .route(
            routes::PAR,
            post(oauth::post_par).fallback(oauth::wrong_method),
        )
        .route(
            routes::DEVICE_AUTHORIZATION,
            post(oauth::post_device_authorization).fallback(oauth::wrong_method),
        )
        .route(
            routes::DEVICE_VERIFICATION,
            get(device::get_device).post(device::post_device),
        )
        .route(
            routes::REVOKE,
            post(oauth::post_revoke).fallback(oauth::wrong_method),
        )
        .route(
            routes::INTROSPECT,
            post(oauth::post_introspect).fallback(oauth::wrong_method),
        )
        .route(
            routes::AUTHORIZE,
            get(authorize::get_authorize).post(authorize::post_authorize),
        )
        .route(paths::CODE_PAGE, get(authorize::get_code_page))
        .route(
            paths::SIGN_IN,
            get(signin::get_signin).post(signin::post_signin),
        )
        .route(paths::SIGN_OUT, post(signin::post_signout))
        .route(paths::STYLESHEET, get(views::get_stylesheet))
        .route(routes::JWKS, get(well_known::get_jwks))
        .route(routes::METADATA, get(well_known::get_metadata))
        .route(routes::OPENID_CONFIGURATION, get(well_known::get_metadata))
        .route(
            routes::END_SESSION,
            get(logout::get_logout).post(logout::post_logout),
        )
        .route(
            routes::USERINFO,
            get(userinfo::userinfo_endpoint).post(userinfo::userinfo_endpoint),
        )
        .route(paths::HEALTH, get(well_known::get_health))
        .route(paths::HEALTHZ, get(health::get_healthz))
        .route(paths::READYZ, get(health::get_readyz))
        .route(paths::SCRIPT, get(views::get_script))
        .merge(
            dashboard::routes().layer(axum::middleware::from_fn_with_state(
                state.clone(),
                notice::seal,
            )),
        );
    let router = if proxied {
        router.fallback(gateway::proxy)
    } else {
        // Without an upstream, `/` is no API's: a person who lands there wants the pages.
        router
            .route(
                "/",
                get(|| async { axum::response::Redirect::to(signin::HOME) }),
            )
            .route(paths::API_ACCOUNT, get(api::get_account))
            .route(paths::API_BOOKS, get(api::get_books).post(api::post_books))
            .route(paths::API_BOOK, get(api::get_book))
            .fallback(error::not_found)
    };
    let router = if state.metrics_on_main_listener {
        router.route(paths::METRICS, get(metrics::get_metrics))
    } else {
        router
    };
    // Not the fallback: the gateway has its own timeouts, which let a long upload stream.
    router
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            request_timeout::limit,
        ))
        .layer(metrics_layer::MetricsLayer::new(state.clone()))
        .with_state(state)
}

/// `/metrics` alone, for the `metrics_listen` address.
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route(paths::METRICS, get(metrics::get_metrics))
        .fallback(error::not_found)
        .with_state(state)
}
