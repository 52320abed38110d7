//! The authorization endpoint (RFC 6749 §3.1, §4.1.1–4.1.2): sign-in, consent, the code.

use axum::body::Body;
use axum::extract::{Query, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use tessera_core::domain::{ClientId, ScopeSet, User};
use tessera_core::oauth::authorization_code::{mint_authorization_code, Approval};
use tessera_core::oauth::authorize::{self, AuthorizationRequest, AuthorizeError, Delivery};
use tessera_core::oauth::request::Form;
use tessera_core::oauth::routes;
use tessera_core::store::Consent;

use crate::body::read_limited;
use crate::error::HttpError;
use crate::session::{csrf_ok, csrf_token, current_user};
use crate::signin::render_signin;
use crate::state::AppState;
use crate::views::{account_choices, error_page, page, CodeView, ConsentView, ScopeLine};

pub(crate) fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Where the user's browser goes with `params` (§4.1.2: query component, existing query kept).
fn redirect_to(app: &AppState, delivery: &Delivery, params: &[(&str, &str)]) -> Response {
    let base = match delivery {
        Delivery::Redirect(uri) => uri.clone(),
        Delivery::CodePage => format!("{}{}", app.tokens.issuer, crate::paths::CODE_PAGE),
    };
    let query: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect();
    let sep = if base.contains('?') { '&' } else { '?' };
    Redirect::to(&format!("{base}{sep}{}", query.join("&"))).into_response()
}

fn error_redirect(app: &AppState, err: AuthorizeError) -> Response {
    match err {
        AuthorizeError::Page(message) => error_page(
            StatusCode::BAD_REQUEST,
            "This authorization request cannot be completed",
            &message,
        ),
        AuthorizeError::Redirect {
            delivery,
            error,
            state,
        } => {
            let mut params = vec![
                ("error", error.code.as_str()),
                ("error_description", &*error.description),
            ];
            if let Some(s) = &state {
                params.push(("state", s));
            }
            redirect_to(app, &delivery, &params)
        }
    }
}

async fn validate(
    app: &AppState,
    query: &str,
) -> Result<Result<AuthorizationRequest, AuthorizeError>, HttpError> {
    let Ok(params) = Form::parse(query.as_bytes()) else {
        return Ok(Err(AuthorizeError::Page(
            "The request is malformed (a parameter is repeated or badly encoded).".into(),
        )));
    };
    let client = match params.get("client_id").and_then(ClientId::parse) {
        Some(id) => app
            .caches
            .clients
            .get(&id, app.store.as_ref())
            .await
            .map_err(HttpError::internal)?,
        None => None,
    };
    Ok(authorize::validate(
        &params,
        client.as_deref(),
        &app.authorize,
    ))
}

pub async fn get_authorize(
    State(app): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    let query = query.unwrap_or_default();
    let request = match validate(&app, &query).await? {
        Ok(r) => r,
        Err(e) => return Ok(error_redirect(&app, e)),
    };
    let Some((user, _)) = current_user(&app, &headers).await? else {
        let return_to = format!("{}?{query}", routes::AUTHORIZE);
        return render_signin(&app, &headers, StatusCode::OK, &return_to, "", None);
    };
    if user.accounts.is_empty() {
        return Ok(deny(
            &app,
            &request,
            "your user may not act on any API account",
        ));
    }
    if app.authorize.skip_consent_when_granted {
        if let Some(consent) = covering_consent(&app, &user, &request).await? {
            return issue(&app, &request, &user, &consent.account_id, &request.scope).await;
        }
    }
    consent_page(&app, &headers, &user, &request, &query).await
}

/// An earlier consent of this user for this application covering every requested scope,
/// on an account the user still belongs to.
async fn covering_consent(
    app: &AppState,
    user: &User,
    request: &AuthorizationRequest,
) -> Result<Option<Consent>, HttpError> {
    let Some(client_id) = ClientId::parse(&request.client_id) else {
        return Ok(None);
    };
    let consents = app
        .store
        .list_consents(&user.id, &client_id)
        .await
        .map_err(HttpError::internal)?;
    Ok(consents
        .into_iter()
        .find(|c| request.scope.is_subset(&c.scopes) && user.accounts.contains(&c.account_id)))
}

async fn consent_page(
    app: &AppState,
    headers: &HeaderMap,
    user: &User,
    request: &AuthorizationRequest,
    query: &str,
) -> Result<Response, HttpError> {
    let catalog = app.store.list_scopes().await.map_err(HttpError::internal)?;
    let scopes = request
        .scope
        .iter()
        .map(|name| ScopeLine {
            name: name.to_owned(),
            description: catalog
                .iter()
                .find(|s| s.name == name)
                .map(|s| s.description.clone())
                .unwrap_or_else(|| name.to_owned()),
        })
        .collect();
    let accounts = account_choices(app, user).await?;
    let app_name = app
        .caches
        .clients
        .get(
            &ClientId::parse(&request.client_id).ok_or(HttpError::NotFound)?,
            app.store.as_ref(),
        )
        .await
        .map_err(HttpError::internal)?
        .map(|c| c.name.clone())
        .unwrap_or_default();
    let (csrf, set_cookie) = csrf_token(app, headers)?;
    let view = ConsentView {
        csrf,
        request: query.to_owned(),
        app_name,
        user_email: user.email.clone(),
        scopes,
        accounts,
    };
    let mut res = page(StatusCode::OK, &view);
    if let Some(c) = set_cookie {
        res.headers_mut().append(header::SET_COOKIE, c);
    }
    Ok(res)
}

fn deny(app: &AppState, request: &AuthorizationRequest, why: &str) -> Response {
    let mut params = vec![("error", "access_denied"), ("error_description", why)];
    if let Some(s) = &request.state {
        params.push(("state", s));
    }
    redirect_to(app, &request.delivery, &params)
}

async fn issue(
    app: &AppState,
    request: &AuthorizationRequest,
    user: &User,
    account: &tessera_core::domain::AccountId,
    scopes: &ScopeSet,
) -> Result<Response, HttpError> {
    let approval = Approval {
        request,
        user_id: &user.id,
        account_id: account,
        scopes,
    };
    let now = app.clock.now();
    let code = mint_authorization_code(app.store.as_ref(), &approval, &app.authorize, now)
        .await
        .map_err(HttpError::internal)?;
    let mut params = vec![("code", code.as_str())];
    if let Some(s) = &request.state {
        params.push(("state", s));
    }
    Ok(redirect_to(app, &request.delivery, &params))
}

/// The consent form: Authorize (with the scopes left checked) or Deny.
pub async fn post_authorize(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, HttpError> {
    let bytes = read_limited(&headers, body, app.http.form_limit).await?;
    let Ok(form) = Form::parse(&bytes) else {
        return Ok(error_page(
            StatusCode::BAD_REQUEST,
            "Bad request",
            "The form could not be read.",
        ));
    };
    let query = form.get("request").unwrap_or("");
    if !csrf_ok(&headers, form.get("csrf")) {
        return Ok(error_page(
            StatusCode::FORBIDDEN,
            "This form has expired",
            "The page was open too long or in another tab. Go back to the application and start again.",
        ));
    }
    let request = match validate(&app, query).await? {
        Ok(r) => r,
        Err(e) => return Ok(error_redirect(&app, e)),
    };
    let Some((user, _)) = current_user(&app, &headers).await? else {
        let return_to = format!("{}?{query}", routes::AUTHORIZE);
        return render_signin(&app, &headers, StatusCode::OK, &return_to, "", None);
    };
    if form.get("decision") != Some("authorize") {
        return Ok(deny(&app, &request, "the user denied the request"));
    }
    let granted: ScopeSet = request
        .scope
        .iter()
        .filter(|s| form.get(&format!("scope.{s}")) == Some("on"))
        .map(str::to_owned)
        .collect();
    if granted.is_empty() {
        return Ok(deny(&app, &request, "the user granted no scope"));
    }
    let Some(account) = user
        .accounts
        .iter()
        .find(|a| Some(a.as_str()) == form.get("account"))
        .cloned()
    else {
        return Ok(error_page(
            StatusCode::BAD_REQUEST,
            "Choose an API account",
            "Pick one of your API accounts.",
        ));
    };
    let client_id = ClientId::parse(&request.client_id).ok_or(HttpError::NotFound)?;
    let consent = Consent {
        user_id: user.id.clone(),
        client_id,
        account_id: account.clone(),
        scopes: granted.clone(),
        updated_at: app.clock.now(),
    };
    app.store
        .upsert_consent(&consent)
        .await
        .map_err(HttpError::internal)?;
    issue(&app, &request, &user, &account, &granted).await
}

#[derive(Deserialize)]
pub struct CodeQuery {
    code: Option<String>,
    state: Option<String>,
    error_description: Option<String>,
}

/// Shows the code for copying (applications registered without a redirect URI).
pub async fn get_code_page(State(app): State<AppState>, Query(q): Query<CodeQuery>) -> Response {
    match q.code {
        Some(code) => page(
            StatusCode::OK,
            &CodeView {
                code,
                state: q.state,
                ttl: app.authorize.code_ttl,
            },
        ),
        None => error_page(
            StatusCode::BAD_REQUEST,
            "No code",
            q.error_description
                .as_deref()
                .unwrap_or("The authorization did not produce a code."),
        ),
    }
}
