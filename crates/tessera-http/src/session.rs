//! Browser sessions and CSRF protection for Tessera's own pages.
//!
//! The session cookie carries 256 random bits; the store keeps only their SHA-256, with the
//! user and the times that bound the session (idle and absolute expiry).
//!
//! CSRF (OWASP's synchronizer token, stateless): a form's token is the HMAC, under a key
//! derived from the master key, of what the form is bound to: the session's hash once the
//! user is signed in, or before that (the sign-in form) a random pre-session cookie. A token
//! from another session, or planted with a cookie by a sibling site, does not verify. Cookies
//! take the `__Host-` prefix when the issuer is https, so no other host can set them. POSTs
//! are also refused when the browser says another site sent them (`Sec-Fetch-Site`,
//! `Origin`).

use axum::http::{header, HeaderMap, HeaderValue};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use tessera_core::domain::{SecretHash, User};
use tessera_core::random;
use tessera_core::store::Session;
use tessera_core::UnixSeconds;

use crate::error::{FormKind, HttpError, PageError};
use crate::state::{AppState, SessionPolicy};

const SESSION_COOKIE: &str = "tessera_session";
/// Binds the sign-in form's token to this browser before there is a session.
const PRE_SESSION_COOKIE: &str = "tessera_csrf";
/// The HKDF purpose of the CSRF key; a new version invalidates every open form.
const CSRF_PURPOSE: &[u8] = b"tessera csrf v1";

/// A cookie's name: `__Host-` when secure (RFC 6265bis §4.1.3.2: Secure, Path=/, no
/// Domain, so a sibling subdomain cannot plant one).
fn cookie_name(policy: &SessionPolicy, base: &str) -> String {
    if policy.secure_cookies {
        format!("__Host-{base}")
    } else {
        base.to_owned()
    }
}

/// The raw session cookie of the request, if any.
fn session_cookie<'a>(app: &AppState, headers: &'a HeaderMap) -> Option<&'a str> {
    cookie(headers, &cookie_name(&app.sessions, SESSION_COOKIE))
}

/// The request's cookie `base`, under its `__Host-` name when cookies are secure.
pub(crate) fn cookie_named<'a>(
    policy: &SessionPolicy,
    headers: &'a HeaderMap,
    base: &str,
) -> Option<&'a str> {
    cookie(headers, &cookie_name(policy, base))
}

/// The stored hash of the request's session cookie, if it carries one (live or not).
pub(crate) fn session_hash(app: &AppState, headers: &HeaderMap) -> Option<SecretHash> {
    session_cookie(app, headers).map(|raw| SecretHash::of(raw.as_bytes()))
}

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

pub(crate) fn set_cookie(
    policy: &SessionPolicy,
    base: &str,
    value: &str,
    same_site: &str,
    max_age: Option<i64>,
) -> HeaderValue {
    let name = cookie_name(policy, base);
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
    Ok(current_sign_in(app, headers)
        .await?
        .map(|s| (s.user, s.session)))
}

/// A live session: its user, its stored hash, and when the user signed in.
pub struct SignedIn {
    pub user: User,
    pub session: SecretHash,
    /// The session's start: the user's last authentication (OpenID Connect's `auth_time`).
    pub signed_in_at: UnixSeconds,
}

/// The live session of the request, if it carries one.
pub async fn current_sign_in(
    app: &AppState,
    headers: &HeaderMap,
) -> Result<Option<SignedIn>, HttpError> {
    let Some(raw) = session_cookie(app, headers) else {
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
    // Through the user cache, which then holds the user for the code exchange's ID token.
    let user = app
        .caches
        .users
        .get(&session.user_id, app.store.as_ref(), now)
        .await
        .map_err(HttpError::internal)?;
    Ok(user.map(|user| SignedIn {
        user: (*user).clone(),
        session: hash,
        signed_in_at: session.created_at,
    }))
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

/// What a form's CSRF token is bound to.
#[derive(Clone, Copy)]
pub enum CsrfBinding<'a> {
    /// A signed-in user's session, by its stored hash.
    Session(&'a SecretHash),
    /// The pre-session cookie's value (the sign-in form).
    PreSession(&'a str),
}

impl CsrfBinding<'_> {
    /// Distinct prefixes, so that no pre-session value can pass for a session's hash.
    fn message(&self) -> Vec<u8> {
        match self {
            Self::Session(hash) => [&b"session\0"[..], &hash.0].concat(),
            Self::PreSession(value) => [&b"pre-session\0"[..], value.as_bytes()].concat(),
        }
    }
}

/// The CSRF token of forms bound to `binding`.
pub fn csrf_token(app: &AppState, binding: CsrfBinding<'_>) -> Result<String, HttpError> {
    let tag = app
        .master
        .mac(CSRF_PURPOSE, &binding.message())
        .map_err(HttpError::internal)?;
    Ok(URL_SAFE_NO_PAD.encode(tag))
}

/// Whether `submitted` is the token of `binding` (HMAC verification: constant time).
fn csrf_ok(app: &AppState, binding: CsrfBinding<'_>, submitted: Option<&str>) -> bool {
    let Some(tag) = submitted.and_then(|s| URL_SAFE_NO_PAD.decode(s).ok()) else {
        return false;
    };
    app.master
        .verify_mac(CSRF_PURPOSE, &binding.message(), &tag)
}

/// The pre-session cookie's value, or a new one with the `Set-Cookie` that stores it.
pub fn pre_session(
    app: &AppState,
    headers: &HeaderMap,
) -> Result<(String, Option<HeaderValue>), HttpError> {
    let name = cookie_name(&app.sessions, PRE_SESSION_COOKIE);
    if let Some(existing) = cookie(headers, &name).filter(|v| v.len() >= 32) {
        return Ok((existing.to_owned(), None));
    }
    let (value, set) = new_pre_session(app)?;
    Ok((value, Some(set)))
}

/// A fresh pre-session cookie: set at sign-in, so that a sign-in form left open from
/// before is refused rather than signing in again.
pub fn new_pre_session(app: &AppState) -> Result<(String, HeaderValue), HttpError> {
    let value = random::token::<32>("").map_err(HttpError::internal)?;
    let set = set_cookie(&app.sessions, PRE_SESSION_COOKIE, &value, "Strict", None);
    Ok((value, set))
}

/// The pre-session cookie the request carries, if any.
pub fn pre_session_cookie<'a>(app: &AppState, headers: &'a HeaderMap) -> Option<&'a str> {
    cookie(headers, &cookie_name(&app.sessions, PRE_SESSION_COOKIE))
}

/// Whether a state-changing request came from Tessera's own pages, as far as the browser
/// tells. Fetch Metadata's `Sec-Fetch-Site` must be `same-origin` (or `none`: typed by the
/// user); `same-site` is refused too, since a sibling subdomain is not us. An `Origin` must
/// be the issuer's or the host the request was sent to; `null` says nothing (our pages are
/// `Referrer-Policy: no-referrer`, so browsers send `null` on our own forms). A request with
/// neither header is not a browser's, or a very old one's, and is judged by its token alone.
fn same_origin(app: &AppState, headers: &HeaderMap) -> bool {
    let fetch_site = headers.get("sec-fetch-site").map(HeaderValue::as_bytes);
    if fetch_site.is_some_and(|v| v != b"same-origin" && v != b"none") {
        return false;
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    if origin == "null" {
        return true;
    }
    let issuer_origin = app.tokens.issuer_origin();
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let authority = origin.split_once("://").map(|(_, a)| a);
    origin.eq_ignore_ascii_case(issuer_origin)
        || host.is_some_and(|h| authority.is_some_and(|a| a.eq_ignore_ascii_case(h)))
}

/// The checks every state-changing form passes: sent from our own pages, with the token of
/// `binding` (`None`: nothing the token could be bound to, which no token passes).
pub fn verify_form(
    app: &AppState,
    headers: &HeaderMap,
    binding: Option<CsrfBinding<'_>>,
    submitted: Option<&str>,
    kind: FormKind,
) -> Result<(), PageError> {
    if !same_origin(app, headers) {
        return Err(PageError::CrossSite);
    }
    match binding {
        Some(b) if csrf_ok(app, b, submitted) => Ok(()),
        _ => Err(PageError::FormExpired(kind)),
    }
}
