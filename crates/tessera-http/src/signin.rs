//! Signing in and out: the page shared by the authorization flow and the dashboard.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use tessera_core::domain::{normalize_email, Password, PasswordHash};

use crate::body::read_limited;
use crate::error::HttpError;
use crate::legacy::verify_password_bounded;
use crate::session::{
    clear_session_cookie, cookie, csrf_ok, csrf_token, new_csrf_cookie, start_session,
    SESSION_COOKIE,
};
use crate::state::AppState;
use crate::views::{error_page, page, SignInView};

const GENERIC_FAILURE: &str = "The email or password is wrong.";

/// Only local paths: never an open redirect.
fn safe_return_to(raw: Option<&str>) -> String {
    match raw {
        Some(p) if p.starts_with('/') && !p.starts_with("//") && !p.contains('\\') => p.to_owned(),
        _ => "/".to_owned(),
    }
}

pub fn render_signin(
    app: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    return_to: &str,
    email: &str,
    message: Option<&str>,
) -> Result<Response, HttpError> {
    let (csrf, set_cookie) = csrf_token(app, headers)?;
    let view = SignInView {
        csrf,
        return_to: return_to.to_owned(),
        email: email.to_owned(),
        message: message.map(str::to_owned),
    };
    let mut res = page(status, &view);
    if let Some(c) = set_cookie {
        res.headers_mut().append(header::SET_COOKIE, c);
    }
    Ok(res)
}

#[derive(Deserialize)]
pub struct SignInQuery {
    return_to: Option<String>,
}

pub async fn get_signin(
    State(app): State<AppState>,
    Query(q): Query<SignInQuery>,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    render_signin(
        &app,
        &headers,
        StatusCode::OK,
        &safe_return_to(q.return_to.as_deref()),
        "",
        None,
    )
}

pub async fn post_signin(
    State(app): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, HttpError> {
    let bytes = read_limited(&headers, body, app.http.form_limit).await?;
    let Ok(form) = tessera_core::oauth::request::Form::parse(&bytes) else {
        return Ok(error_page(
            StatusCode::BAD_REQUEST,
            "Bad request",
            "The form could not be read.",
        ));
    };
    let return_to = safe_return_to(form.get("return_to"));
    let email_raw = form.get("email").unwrap_or("");
    if !csrf_ok(&headers, form.get("csrf")) {
        let msg = "This form had expired (or was opened in another tab). Please sign in again.";
        return render_signin(
            &app,
            &headers,
            StatusCode::FORBIDDEN,
            &return_to,
            email_raw,
            Some(msg),
        );
    }
    let now = app.clock.now();
    let email = normalize_email(email_raw).unwrap_or_default();
    let address = peer.ip().to_string();
    let blocked = app
        .signin_limits
        .by_account
        .blocked_for(&email, now)
        .or_else(|| app.signin_limits.by_address.blocked_for(&address, now));
    if let Some(wait) = blocked {
        let msg = format!(
            "Too many failed attempts. Try again in {} minutes.",
            (wait + 59) / 60
        );
        return render_signin(
            &app,
            &headers,
            StatusCode::TOO_MANY_REQUESTS,
            &return_to,
            email_raw,
            Some(&msg),
        );
    }
    let user = app
        .store
        .find_user_by_email(&email)
        .await
        .map_err(HttpError::internal)?;
    let password = Password::from_request(form.get("password").unwrap_or("").to_owned());
    // An unknown email costs the same argon2 verification as a wrong password.
    let phc = user
        .as_ref()
        .map(|u| u.password_hash.clone())
        .unwrap_or_else(|| app.decoy_hash.clone());
    let matches = match PasswordHash::parse(&phc) {
        Some(hash) => verify_password_bounded(&app, hash, password).await,
        None => false,
    };
    let user = match user {
        Some(u) if matches => u,
        _ => {
            app.signin_limits.by_account.record_failure(&email, now);
            app.signin_limits.by_address.record_failure(&address, now);
            tracing::info!(address = %address, "failed sign-in");
            return render_signin(
                &app,
                &headers,
                StatusCode::UNAUTHORIZED,
                &return_to,
                email_raw,
                Some(GENERIC_FAILURE),
            );
        }
    };
    app.signin_limits.by_account.clear(&email);
    let set_cookie = start_session(&app, &user).await?;
    tracing::info!(user_id = %user.id, "signed in");
    let mut res = Redirect::to(&return_to).into_response();
    res.headers_mut().append(header::SET_COOKIE, set_cookie);
    // A new CSRF token per session: forms left open in other tabs from before the sign-in
    // are refused with a clear message instead of acting under the new session.
    res.headers_mut()
        .append(header::SET_COOKIE, new_csrf_cookie(&app)?);
    Ok(res)
}

pub async fn post_signout(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, HttpError> {
    let bytes = read_limited(&headers, body, app.http.form_limit).await?;
    let form = tessera_core::oauth::request::Form::parse(&bytes).unwrap_or_default();
    if !csrf_ok(&headers, form.get("csrf")) {
        return Ok(error_page(
            StatusCode::FORBIDDEN,
            "Form expired",
            "Reload the page and try again.",
        ));
    }
    if let Some(raw) = cookie(&headers, SESSION_COOKIE) {
        let hash = tessera_core::domain::SecretHash::of(raw.as_bytes());
        app.store
            .delete_session(&hash)
            .await
            .map_err(HttpError::internal)?;
    }
    let mut res = Redirect::to("/signin").into_response();
    res.headers_mut()
        .append(header::SET_COOKIE, clear_session_cookie(&app));
    Ok(res)
}
