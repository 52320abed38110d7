//! Browser sessions and CSRF protection for Tessera's own pages.
//!
//! The session cookie carries 256 random bits; the store keeps only their SHA-256, with the
//! user and the times that bound the session (idle and absolute expiry). Forms carry a CSRF
//! token that must equal the `tessera_csrf` cookie (double submit; the cookie is HttpOnly
//! and SameSite=Strict, so another site can neither read nor send it).

use axum::http::{header, HeaderMap, HeaderValue};
use tessera_core::domain::{SecretHash, User};
use tessera_core::random;
use tessera_core::store::Session;

use crate::error::HttpError;
use crate::state::{AppState, SessionPolicy};

pub const SESSION_COOKIE: &str = "tessera_session";
pub const CSRF_COOKIE: &str = "tessera_csrf";

pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
}

fn set_cookie(
    policy: &SessionPolicy,
    name: &str,
    value: &str,
    same_site: &str,
    max_age: Option<i64>,
) -> HeaderValue {
    let mut c = format!("{name}={value}; Path=/; HttpOnly; SameSite={same_site}");
    if let Some(age) = max_age {
        c.push_str(&format!("; Max-Age={age}"));
    }
    if policy.secure_cookies {
        c.push_str("; Secure");
    }
    HeaderValue::from_str(&c).unwrap_or(HeaderValue::from_static(""))
}

/// The signed-in user, if the request carries a live session.
pub async fn current_user(
    app: &AppState,
    headers: &HeaderMap,
) -> Result<Option<(User, SecretHash)>, HttpError> {
    let Some(raw) = cookie(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    let hash = SecretHash::of(raw.as_bytes());
    let Some(session) = app
        .store
        .find_session(&hash)
        .await
        .map_err(HttpError::internal)?
    else {
        return Ok(None);
    };
    let now = app.clock.now();
    let p = &app.sessions;
    if now >= session.last_seen_at + p.idle_ttl || now >= session.created_at + p.absolute_ttl {
        app.store
            .delete_session(&hash)
            .await
            .map_err(HttpError::internal)?;
        return Ok(None);
    }
    // One write a minute at most, not one per page.
    if now - session.last_seen_at >= 60 {
        app.store
            .touch_session(&hash, now)
            .await
            .map_err(HttpError::internal)?;
    }
    let user = app
        .store
        .find_user(&session.user_id)
        .await
        .map_err(HttpError::internal)?;
    Ok(user.map(|u| (u, hash)))
}

/// Starts a session for `user`; returns the `Set-Cookie` value.
pub async fn start_session(app: &AppState, user: &User) -> Result<HeaderValue, HttpError> {
    let secret = random::token::<32>("").map_err(HttpError::internal)?;
    let now = app.clock.now();
    let session = Session {
        id_hash: SecretHash::of(secret.as_bytes()),
        user_id: user.id.clone(),
        created_at: now,
        last_seen_at: now,
    };
    app.store
        .insert_session(&session)
        .await
        .map_err(HttpError::internal)?;
    Ok(set_cookie(
        &app.sessions,
        SESSION_COOKIE,
        &secret,
        "Lax",
        None,
    ))
}

pub fn clear_session_cookie(app: &AppState) -> HeaderValue {
    set_cookie(&app.sessions, SESSION_COOKIE, "", "Lax", Some(0))
}

/// The CSRF token for a form: the request's cookie value, or a new one to set.
pub fn csrf_token(
    app: &AppState,
    headers: &HeaderMap,
) -> Result<(String, Option<HeaderValue>), HttpError> {
    if let Some(existing) = cookie(headers, CSRF_COOKIE).filter(|v| v.len() >= 32) {
        return Ok((existing.to_owned(), None));
    }
    let token = random::token::<32>("").map_err(HttpError::internal)?;
    let set = set_cookie(&app.sessions, CSRF_COOKIE, &token, "Strict", None);
    Ok((token, Some(set)))
}

/// A fresh CSRF cookie, replacing the browser's current one.
pub fn new_csrf_cookie(app: &AppState) -> Result<HeaderValue, HttpError> {
    let token = random::token::<32>("").map_err(HttpError::internal)?;
    Ok(set_cookie(
        &app.sessions,
        CSRF_COOKIE,
        &token,
        "Strict",
        None,
    ))
}

/// Whether the form's token matches the cookie.
pub fn csrf_ok(headers: &HeaderMap, submitted: Option<&str>) -> bool {
    match (cookie(headers, CSRF_COOKIE), submitted) {
        // Compared as hashes: constant time in the content, whatever the lengths.
        (Some(c), Some(s)) if c.len() >= 32 => {
            SecretHash::of(c.as_bytes()).matches(&SecretHash::of(s.as_bytes()))
        }
        _ => false,
    }
}
