//! What every Settings Center handler starts from: the signed-in visit of a page, a form
//! submitted from it (CSRF checked), the way back to it with a notice, and the secret
//! rotation the credential and application pages share.

use std::marker::PhantomData;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use tessera_core::audit::Actor;
use tessera_core::domain::{Client, SecretHash, User};
use tessera_core::error::ManageError;
use tessera_core::manage::clients::{rotate_secret, CreatedClient};
use tessera_core::oauth::request::Form;

use crate::body::read_limited;
use crate::error::{FormKind, HttpError, PageError};
use crate::notice::{self, Notice};
use crate::session::{csrf_token, current_user, verify_form, CsrfBinding};
use crate::state::AppState;
use crate::views::{page, Nav};

/// A signed-in request: the user, the layout's data (with the session's CSRF token), and
/// the session it came with.
pub struct Visit {
    pub user: User,
    pub nav: Nav,
    session: SecretHash,
    /// The `Set-Cookie` that deletes the notice cookie the request came with, if any.
    clear_notice: Option<HeaderValue>,
}

impl Visit {
    /// Renders the view built from the layout's data (a notice is shown once).
    pub fn render<V: askama::Template>(self, view: impl FnOnce(Nav) -> V) -> Response {
        let mut res = page(&view(self.nav));
        if let Some(clear) = self.clear_notice {
            res.headers_mut().append(header::SET_COOKIE, clear);
        }
        res
    }
}

/// A dashboard page: where signing in comes back to, and where its forms return.
pub trait Page: Send + Sync + 'static {
    const HERE: &'static str;
}

pub struct CredentialsPage;
pub struct ApplicationsPage;
pub struct OperatorPage;
pub struct AuditPage;
pub struct OperatorAppsPage;
pub struct OperatorKeysPage;
pub struct OperatorUsersPage;

impl Page for CredentialsPage {
    const HERE: &'static str = "/settings/credentials";
}
impl Page for ApplicationsPage {
    const HERE: &'static str = "/settings/applications";
}
impl Page for OperatorPage {
    const HERE: &'static str = "/settings/operator";
}
impl Page for AuditPage {
    const HERE: &'static str = "/settings/operator/audit";
}
impl Page for OperatorAppsPage {
    const HERE: &'static str = "/settings/operator/apps";
}
impl Page for OperatorKeysPage {
    const HERE: &'static str = "/settings/operator/keys";
}
impl Page for OperatorUsersPage {
    const HERE: &'static str = "/settings/operator/users";
}

/// A signed-in visit of page `P`, showing the notice an action left for it (never one from
/// the URL: see `notice.rs`); otherwise the request is answered with a redirect to the
/// sign-in page.
pub struct Signed<P> {
    pub visit: Visit,
    page: PhantomData<P>,
}

impl<P: Page> FromRequestParts<AppState> for Signed<P> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Response> {
        match visit(app, &parts.headers, P::HERE, true).await {
            Ok(Ok(visit)) => Ok(Self {
                visit,
                page: PhantomData,
            }),
            Ok(Err(redirect)) => Err(redirect),
            Err(e) => Err(e.into_response()),
        }
    }
}

/// A form submitted from page `P`: signed in, CSRF token valid, body parsed; otherwise the
/// request is answered with the page that says what is wrong.
pub struct Submitted<P> {
    pub visit: Visit,
    pub form: Form,
    page: PhantomData<P>,
}

impl<P: Page> FromRequest<AppState> for Submitted<P> {
    type Rejection = Response;

    async fn from_request(req: Request, app: &AppState) -> Result<Self, Response> {
        let (parts, body) = req.into_parts();
        match submission(app, &parts.headers, body, P::HERE).await {
            Ok(Ok((visit, form))) => Ok(Self {
                visit,
                form,
                page: PhantomData,
            }),
            Ok(Err(page)) => Err(page),
            Err(e) => Err(e.into_response()),
        }
    }
}

/// The signed-in user, or a redirect to the sign-in page that comes back to `here`.
async fn visit(
    app: &AppState,
    headers: &HeaderMap,
    here: &str,
    show_notice: bool,
) -> Result<Result<Visit, Response>, HttpError> {
    let Some((user, session)) = current_user(app, headers).await? else {
        let to = format!("/signin?return_to={}", crate::authorize::encode(here));
        return Ok(Err(Redirect::to(&to).into_response()));
    };
    let shown = show_notice && notice::present(app, headers);
    let nav = Nav {
        csrf: csrf_token(app, CsrfBinding::Session(&session))?,
        email: user.email.clone(),
        operator: user.operator,
        notice: shown
            .then(|| notice::open(app, headers, &session))
            .flatten(),
    };
    Ok(Ok(Visit {
        user,
        nav,
        session,
        clear_notice: shown.then(|| notice::clear(app)),
    }))
}

/// A submitted dashboard form: sent from our pages, signed in, body parsed, CSRF token
/// of this session.
async fn submission(
    app: &AppState,
    headers: &HeaderMap,
    body: axum::body::Body,
    here: &str,
) -> Result<Result<(Visit, Form), Response>, HttpError> {
    let bytes = read_limited(headers, body, app.http.form_limit).await?;
    let Ok(form) = Form::parse(&bytes) else {
        return Err(PageError::UnreadableForm.into());
    };
    // Signed out: to the sign-in page, having done nothing.
    let visit = match visit(app, headers, here, false).await? {
        Ok(v) => v,
        Err(to_signin) => return Ok(Err(to_signin)),
    };
    let binding = Some(CsrfBinding::Session(&visit.session));
    match verify_form(app, headers, binding, form.get("csrf"), FormKind::Settings) {
        Ok(()) => Ok(Ok((visit, form))),
        // A stale form: offer a fresh copy of its page, not the way back to the old one.
        Err(expired @ PageError::FormExpired(_)) => {
            Ok(Err(expired.page_leading_to(here, "Open a fresh form")))
        }
        Err(other) => Err(other.into()),
    }
}

/// How long a secret rotated from the dashboard keeps working beside the new one.
const ROTATION_OVERLAP_SECONDS: i64 = 86_400;

/// Rotates a client's secret, the old one still accepted for a day, and drops this
/// process's cached copy of the client at once (other processes learn from the feed).
pub(super) async fn rotate_with_overlap(
    app: &AppState,
    actor: &Actor,
    client: &Client,
) -> Result<CreatedClient, ManageError> {
    let rotated = rotate_secret(
        app.store.as_ref(),
        actor,
        client.id.as_str(),
        ROTATION_OVERLAP_SECONDS,
        app.clock.now(),
    )
    .await?;
    app.caches.clients.invalidate(client.id.as_str());
    Ok(rotated)
}

/// Back to `path` with a message for the user, worded here on the server: the dashboard's
/// layer seals it into the notice cookie (`notice.rs`); nothing of it goes in the URL.
pub fn back_with(path: &str, notice: &str) -> Response {
    let mut res = Redirect::to(path).into_response();
    res.extensions_mut().insert(Notice(notice.to_owned()));
    res
}
