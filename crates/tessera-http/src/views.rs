//! One typed view per page; the template of each lives in `templates/<area>_<page>.html`.

use askama::Template;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

#[derive(Template)]
#[template(path = "oauth_signin.html")]
pub struct SignInView {
    pub csrf: String,
    pub return_to: String,
    pub email: String,
    pub message: Option<String>,
}

pub struct ScopeLine {
    pub name: String,
    pub description: String,
}

pub struct AccountChoice {
    pub id: String,
    pub name: String,
}

#[derive(Template)]
#[template(path = "oauth_consent.html")]
pub struct ConsentView {
    pub csrf: String,
    /// The original authorization request's query string, re-validated on submit.
    pub request: String,
    pub app_name: String,
    pub user_email: String,
    pub scopes: Vec<ScopeLine>,
    pub accounts: Vec<AccountChoice>,
}

#[derive(Template)]
#[template(path = "oauth_error.html")]
pub struct ErrorView {
    pub title: String,
    pub message: String,
}

#[derive(Template)]
#[template(path = "oauth_code.html")]
pub struct CodeView {
    pub code: String,
    pub state: Option<String>,
    pub ttl: i64,
}

/// Renders a page with the headers every Tessera page carries: no framing (clickjacking),
/// no caching, no referrer.
pub fn page(status: StatusCode, view: &impl Template) -> Response {
    let html = match view.render() {
        Ok(html) => html,
        Err(err) => {
            tracing::error!(error = %err, "template rendering failed");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let mut res = (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        html,
    )
        .into_response();
    let h = res.headers_mut();
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'self'; frame-ancestors 'none'; base-uri 'none'"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    res
}

pub fn error_page(status: StatusCode, title: &str, message: &str) -> Response {
    page(
        status,
        &ErrorView {
            title: title.to_owned(),
            message: message.to_owned(),
        },
    )
}

pub async fn get_stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../static/tessera.css"),
    )
        .into_response()
}
