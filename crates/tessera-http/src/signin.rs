//! Signing in and out: the page shared by the authorization flow and the dashboard.

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use tessera_core::domain::{normalize_email, Password, PasswordHash};
use tessera_core::runtime::rate_limit::RetryAfter;

use crate::body::read_limited;
use crate::client_addr::ClientAddr;
use crate::error::{FormKind, HttpError, PageError};
use crate::legacy::verify_password_bounded;
use crate::session::{
    clear_session_cookie, csrf_token, current_user, new_pre_session, pre_session,
    pre_session_cookie, start_session, verify_form, CsrfBinding,
};
use crate::state::AppState;
use crate::views::{page, SignInView};

/// Where a sign-in goes when `return_to` is missing or not safe: the Settings Center.
pub(crate) const HOME: &str = "/settings";

/// Only a path on this server: never an open redirect.
fn safe_return_to(raw: Option<&str>) -> String {
    match raw {
        Some(p) if is_local_path(p) => p.to_owned(),
        _ => HOME.to_owned(),
    }
}

/// Whether `p` is a path on this server however a browser reads it. Browsers drop tabs
/// and newlines from a `Location` and read `\` as `/` (WHATWG URL), so `/\t/evil.example`
/// or `/\evil` leave the site: the path (before `?`/`#`) must begin with exactly one `/`
/// and hold no control character or backslash, as written and after percent-decoding (until
/// nothing changes, for double encoding); no control character anywhere.
fn is_local_path(p: &str) -> bool {
    if p.chars().any(char::is_control) {
        return false;
    }
    let mut path = p.split(['?', '#']).next().unwrap_or("").to_owned();
    for _ in 0..4 {
        let bare = path.starts_with('/')
            && !path[1..].starts_with(['/', '\\'])
            && !path.contains('\\')
            && !path.chars().any(char::is_control);
        if !bare {
            return false;
        }
        match percent_decode(&path) {
            Some(decoded) if decoded == path => return true,
            Some(decoded) => path = decoded,
            None => return false,
        }
    }
    // Still changing after four rounds of decoding: no path of ours looks like that.
    false
}

/// `%XX` → byte (no `+` rule: this is a path); `None` for a malformed escape.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

/// The sign-in page, with `failure` (status and message) when a sign-in was refused.
pub fn render_signin(
    app: &AppState,
    headers: &HeaderMap,
    return_to: &str,
    email: &str,
    failure: Option<&PageError>,
) -> Result<Response, HttpError> {
    let (binding, set_cookie) = pre_session(app, headers)?;
    let view = SignInView {
        csrf: csrf_token(app, CsrfBinding::PreSession(&binding))?,
        return_to: return_to.to_owned(),
        email: email.to_owned(),
        message: failure.map(|f| f.message().into_owned()),
        // The email is known (sent again after a failure, or the client's `login_hint`).
        focus_password: !email.is_empty(),
    };
    let mut res = page(&view);
    if let Some(c) = set_cookie {
        res.headers_mut().append(header::SET_COOKIE, c);
    }
    Ok(match failure {
        Some(f) => f.with_page(res),
        None => res,
    })
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
        &safe_return_to(q.return_to.as_deref()),
        "",
        None,
    )
}

pub async fn post_signin(
    State(app): State<AppState>,
    client: ClientAddr,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, HttpError> {
    let bytes = read_limited(&headers, body, app.http.form_limit).await?;
    let Ok(form) = tessera_core::oauth::request::Form::parse(&bytes) else {
        return Err(PageError::UnreadableForm.into());
    };
    let return_to = safe_return_to(form.get("return_to"));
    let email_raw = form.get("email").unwrap_or("");
    let binding = pre_session_cookie(&app, &headers).map(CsrfBinding::PreSession);
    match verify_form(&app, &headers, binding, form.get("csrf"), FormKind::SignIn) {
        Ok(()) => {}
        Err(PageError::CrossSite) => return Err(PageError::CrossSite.into()),
        Err(expired) => {
            return render_signin(&app, &headers, &return_to, email_raw, Some(&expired))
        }
    }
    let email = normalize_email(email_raw).unwrap_or_default();
    let address = client.attempt_key();
    if let Err(RetryAfter(wait)) = app.signin_limits.begin(&email, address, app.clock.now_ms()) {
        app.metrics.signin_lockouts.inc();
        let refusal = PageError::TooManyAttempts { retry_after: wait };
        return render_signin(&app, &headers, &return_to, email_raw, Some(&refusal));
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
            // The attempt stays counted.
            app.metrics.signin_failures.inc();
            tracing::info!(address = %address, "failed sign-in");
            return render_signin(
                &app,
                &headers,
                &return_to,
                email_raw,
                Some(&PageError::WrongCredentials),
            );
        }
    };
    app.signin_limits.succeed(&email, address);
    // Told only to whoever knows the password, so it reveals nothing an attacker could use.
    if user.disabled_at.is_some() {
        tracing::info!(user_id = %user.id, "sign-in of a disabled user refused");
        return render_signin(
            &app,
            &headers,
            &return_to,
            email_raw,
            Some(&PageError::UserDisabled),
        );
    }
    let set_cookie = start_session(&app, &user).await?;
    tracing::info!(user_id = %user.id, "signed in");
    let mut res = Redirect::to(&return_to).into_response();
    res.headers_mut().append(header::SET_COOKIE, set_cookie);
    // Forms of the new session are bound to it; a new pre-session value refuses sign-in
    // forms left open from before, instead of signing in again with them.
    let (_, set_pre_session) = new_pre_session(&app)?;
    res.headers_mut()
        .append(header::SET_COOKIE, set_pre_session);
    Ok(res)
}

pub async fn post_signout(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, HttpError> {
    let bytes = read_limited(&headers, body, app.http.form_limit).await?;
    let form = tessera_core::oauth::request::Form::parse(&bytes).unwrap_or_default();
    // Without a live session there is nothing to sign out of: only the cookie is cleared.
    if let Some((_, hash)) = current_user(&app, &headers).await? {
        let binding = Some(CsrfBinding::Session(&hash));
        verify_form(
            &app,
            &headers,
            binding,
            form.get("csrf"),
            FormKind::Settings,
        )?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_to_keeps_local_paths() {
        for p in [
            "/",
            "/settings/credentials",
            "/oauth/authorize?response_type=code&redirect_uri=https%3A%2F%2Fpartner.example%2Fcb",
            // Only the path decides: a backslash or `//` in the query cannot change the host.
            "/oauth/authorize?state=a%5Cb%2F%2Fc",
            "/caf%C3%A9#frag",
        ] {
            assert_eq!(safe_return_to(Some(p)), p, "{p}");
        }
    }

    #[test]
    fn return_to_refuses_every_way_off_the_site() {
        for p in [
            "//evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "/%09/evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "/%0A/evil.example",
            "/%0d%0a/evil.example",
            "/%2F/evil.example",
            "/%2f%2fevil.example",
            "/%5Cevil.example",
            "/%5cevil.example",
            "/%252F/evil.example",
            "/%25252F/evil.example",
            "/ok?x=\r\nSet-Cookie:a=b",
            "https://evil.example/",
            "evil.example",
            "",
            "/%zz",
        ] {
            assert_eq!(safe_return_to(Some(p)), HOME, "{p:?}");
        }
        assert_eq!(safe_return_to(None), HOME);
    }
}
