//! The Settings Center: server-rendered pages for customers and operators. Every action
//! calls the same `tessera_core::manage` functions as the CLI; nothing is implemented twice.
//! Here only the routes; what every page's handlers start from is in `visit.rs`.

mod applications;
mod audit;
mod client_keys;
mod credentials;
mod legacy;
mod operator;
mod operator_apps;
mod operator_keys;
mod operator_users;
mod visit;

use axum::response::Redirect;
use axum::routing::{get, post};
use axum::Router;

use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/settings",
            get(|| async { Redirect::to("/settings/credentials") }),
        )
        .route("/settings/credentials", get(credentials::get_credentials))
        .route(
            "/settings/credentials/create",
            post(credentials::post_create),
        )
        .route(
            "/settings/credentials/rotate",
            post(credentials::post_rotate),
        )
        .route("/settings/credentials/test", post(credentials::post_test))
        .route(
            "/settings/credentials/revoke",
            get(credentials::get_revoke).post(credentials::post_revoke),
        )
        .route("/settings/legacy/migrate", post(legacy::post_migrate))
        .route(
            "/settings/legacy/remove",
            get(legacy::get_remove).post(legacy::post_remove),
        )
        .route(
            "/settings/applications",
            get(applications::get_applications),
        )
        .route(
            "/settings/applications/add",
            get(applications::get_add).post(applications::post_add),
        )
        .route(
            "/settings/applications/register",
            post(applications::post_register),
        )
        .route(
            "/settings/applications/rotate",
            post(applications::post_rotate),
        )
        .route("/settings/applications/pkce", post(applications::post_pkce))
        .route(
            "/settings/applications/deauthorize",
            get(applications::get_deauthorize).post(applications::post_deauthorize),
        )
        .route("/settings/operator", get(operator::get_console))
        .route(
            "/settings/operator/report.csv",
            get(operator::get_report_csv),
        )
        .route("/settings/operator/apps", get(operator_apps::get_apps))
        .route(
            "/settings/operator/approve",
            get(operator_apps::get_approve).post(operator_apps::post_approve),
        )
        .route("/settings/operator/keys", get(operator_keys::get_keys))
        .route("/settings/operator/users", get(operator_users::get_users))
        .route(
            "/settings/operator/user-access",
            get(operator_users::get_user_access).post(operator_users::post_user_access),
        )
        .route("/settings/operator/audit", get(audit::get_audit))
        .route(
            "/settings/operator/rotate-key",
            get(operator_keys::get_rotate_key).post(operator_keys::post_rotate_key),
        )
}
