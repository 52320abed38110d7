//! RP-Initiated Logout's `end_session_endpoint` (GET and POST, as §2 requires): the
//! request is checked in `tessera_core::oauth::logout`; here the session ends, the user is
//! asked first when the request may not be theirs, and the browser goes back.

use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Redirect, Response};
use tessera_core::domain::SecretHash;
use tessera_core::oauth::logout::{self, Logout};
use tessera_core::oauth::request::Form;

use crate::body::read_limited;
use crate::error::{FormKind, HttpError, PageError};
use crate::session::{clear_session_cookie, csrf_token, current_user, verify_form, CsrfBinding};
use crate::state::AppState;
use crate::views::{page, LogoutView};

fn refused(message: impl Into<String>) -> HttpError {
    PageError::InvalidLogoutRequest(message.into()).into()
}

/// The logout request in `raw` (a query string or form body), validated.
async fn validated(app: &AppState, raw: &str) -> Result<Logout, HttpError> {
    let form = Form::parse(raw.as_bytes()).map_err(|_| {
        refused("The sign-out request is malformed (a parameter is repeated or badly encoded).")
    })?;
    let now = app.clock.now();
    let keyring = app.caches.keyring();
    let hint = logout::hint(&form, &keyring, &app.tokens.issuer, now).map_err(refused)?;
    let named = logout::named_client(&form, hint.as_ref()).map_err(refused)?;
    let client = match &named {
        Some(id) => app
            .caches
            .clients
            .get(id, app.store.as_ref(), now)
            .await
            .map_err(HttpError::internal)?,
        None => None,
    };
    logout::plan(&form, hint.as_ref(), named.as_ref(), client.as_deref()).map_err(refused)
}

pub async fn get_logout(
    State(app): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    request(&app, &headers, &query.unwrap_or_default()).await
}

/// A logout request sent as a form, or the confirmation form of [`request`] coming back
/// (it alone carries `csrf`).
pub async fn post_logout(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, HttpError> {
    let bytes: Bytes = read_limited(&headers, body, app.http.form_limit).await?;
    let form = Form::parse(&bytes).map_err(|_| PageError::UnreadableForm)?;
    if form.get("csrf").is_none() {
        let raw = std::str::from_utf8(&bytes).map_err(|_| PageError::UnreadableForm)?;
        return request(&app, &headers, raw).await;
    }
    let plan = validated(&app, form.get("request").unwrap_or("")).await?;
    let Some((_, session)) = current_user(&app, &headers).await? else {
        // Signed out in the meantime: nothing left to end.
        return signed_out(&app, None, &plan).await;
    };
    let binding = Some(CsrfBinding::Session(&session));
    verify_form(&app, &headers, binding, form.get("csrf"), FormKind::Consent)?;
    if form.get("decision") == Some("sign_out") {
        return signed_out(&app, Some(&session), &plan).await;
    }
    let back = plan.return_to.as_deref().unwrap_or("/settings");
    Ok(Redirect::to(back).into_response())
}

async fn request(app: &AppState, headers: &HeaderMap, raw: &str) -> Result<Response, HttpError> {
    let plan = validated(app, raw).await?;
    let signed_in = current_user(app, headers).await?;
    match signed_in {
        Some((user, session)) if plan.needs_confirmation(Some(&user.id)) => Ok(page(&LogoutView {
            csrf: Some(csrf_token(app, CsrfBinding::Session(&session))?),
            request: raw.to_owned(),
            app_name: plan.client_name.clone(),
            user_email: user.email,
        })),
        Some((_, session)) => signed_out(app, Some(&session), &plan).await,
        None => signed_out(app, None, &plan).await,
    }
}

/// Ends `session` (if any) and sends the browser where the request asked, or to the
/// signed-out page; the session cookie is cleared either way.
async fn signed_out(
    app: &AppState,
    session: Option<&SecretHash>,
    plan: &Logout,
) -> Result<Response, HttpError> {
    if let Some(session) = session {
        app.store
            .delete_session(session)
            .await
            .map_err(HttpError::internal)?;
    }
    let mut res = match &plan.return_to {
        Some(uri) => Redirect::to(uri).into_response(),
        None => page(&LogoutView {
            csrf: None,
            request: String::new(),
            app_name: None,
            user_email: String::new(),
        }),
    };
    res.headers_mut()
        .append(header::SET_COOKIE, clear_session_cookie(app));
    Ok(res)
}
