//! Notices: the one-line confirmations the Settings Center shows after an action ("Revoked
//! production."). The server words them; they reach the next page in a flash cookie whose
//! value is sealed with an HMAC bound to the session, so no link and no other session can
//! put words into the green banner (a `?notice=` parameter is not read at all: content
//! spoofing, issue 15). A handler attaches the text to its redirect ([`Notice`]); the
//! dashboard's layer ([`seal`]) turns it into the cookie; the next page opens and clears it.

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use tessera_core::domain::SecretHash;

use crate::session::{cookie_named, session_hash, set_cookie};
use crate::state::AppState;

const NOTICE_COOKIE: &str = "tessera_notice";
/// The HKDF purpose of the notice key.
const NOTICE_PURPOSE: &[u8] = b"tessera notice v1";
/// Long enough for the redirect to be followed; a notice is not meant to outlive it.
const NOTICE_MAX_AGE: i64 = 60;

/// A notice for the next page, carried on a response until [`seal`] stores it.
#[derive(Clone, Debug)]
pub struct Notice(pub String);

fn message(session: &SecretHash, text: &str) -> Vec<u8> {
    [&session.0[..], b"\0", text.as_bytes()].concat()
}

/// The dashboard's layer: a response carrying a [`Notice`] gets the sealed cookie. Without
/// a session (signed out meanwhile) the notice is dropped.
pub async fn seal(State(app): State<AppState>, req: Request, next: Next) -> Response {
    let session = session_hash(&app, req.headers());
    let mut res = next.run(req).await;
    let Some(Notice(text)) = res.extensions_mut().remove::<Notice>() else {
        return res;
    };
    let Some(session) = session else { return res };
    let Ok(tag) = app.master.mac(NOTICE_PURPOSE, &message(&session, &text)) else {
        return res;
    };
    let value = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(text.as_bytes()),
        URL_SAFE_NO_PAD.encode(tag)
    );
    let cookie = set_cookie(
        &app.sessions,
        NOTICE_COOKIE,
        &value,
        "Lax",
        Some(NOTICE_MAX_AGE),
    );
    res.headers_mut().append(header::SET_COOKIE, cookie);
    res
}

/// The notice the request carries for this session, if its seal verifies (constant time).
pub fn open(app: &AppState, headers: &HeaderMap, session: &SecretHash) -> Option<String> {
    let raw = cookie_named(&app.sessions, headers, NOTICE_COOKIE)?;
    let (text, tag) = raw.split_once('.')?;
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(text).ok()?).ok()?;
    let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
    app.master
        .verify_mac(NOTICE_PURPOSE, &message(session, &text), &tag)
        .then_some(text)
}

/// Whether the request carries a notice cookie at all (shown or not, it is cleared).
pub fn present(app: &AppState, headers: &HeaderMap) -> bool {
    cookie_named(&app.sessions, headers, NOTICE_COOKIE).is_some()
}

/// The `Set-Cookie` that deletes the notice once a page has shown it.
pub fn clear(app: &AppState) -> HeaderValue {
    set_cookie(&app.sessions, NOTICE_COOKIE, "", "Lax", Some(0))
}
