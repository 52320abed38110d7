//! The authorization endpoint (RFC 6749 §3.1, §4.1.1–4.1.2): sign-in, consent, the code.

use axum::body::Body;
use axum::extract::{Query, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use tessera_core::domain::{ClientId, ScopeSet, User};
use tessera_core::error::ErrorCode;
use tessera_core::oauth::authorization_code::{mint_authorization_code, Approval};
use tessera_core::oauth::authorize::{self, AuthorizationRequest, AuthorizeError, Delivery};
use tessera_core::oauth::request::Form;
use tessera_core::oauth::routes;
use tessera_core::store::Consent;

use crate::body::read_limited;
use crate::error::{FormKind, HttpError, PageError};
use crate::session::{csrf_token, current_user, verify_form, CsrfBinding};
use crate::signin::render_signin;
use crate::state::AppState;
use crate::views::{account_choices, page, CodeView, ConsentView, ScopeLine};

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

/// Where the user's browser goes with `params` (§4.1.2: query component, existing query
/// kept). Tessera's own code page gets them sealed instead (see [`CodePageLink`]).
fn redirect_to(
    app: &AppState,
    delivery: &Delivery,
    params: &[(&str, &str)],
) -> Result<Response, HttpError> {
    let (base, query) = match delivery {
        Delivery::Redirect(uri) => {
            let query: Vec<String> = params
                .iter()
                .map(|(k, v)| format!("{k}={}", encode(v)))
                .collect();
            (uri.clone(), query.join("&"))
        }
        Delivery::CodePage => {
            let link = CodePageLink::seal(app, params)?;
            (
                format!("{}{}", app.tokens.issuer, crate::paths::CODE_PAGE),
                format!("page={link}"),
            )
        }
    };
    let sep = if base.contains('?') { '&' } else { '?' };
    Ok(Redirect::to(&format!("{base}{sep}{query}")).into_response())
}

fn error_redirect(app: &AppState, err: AuthorizeError) -> Result<Response, HttpError> {
    match err {
        AuthorizeError::Page(message) => {
            Err(PageError::InvalidAuthorizationRequest(message).into())
        }
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
        Err(e) => return error_redirect(&app, e),
    };
    let Some((user, session)) = current_user(&app, &headers).await? else {
        let return_to = format!("{}?{query}", routes::AUTHORIZE);
        return render_signin(&app, &headers, &return_to, "", None);
    };
    if user.accounts.is_empty() {
        return deny(&app, &request, "your user may not act on any API account");
    }
    if app.authorize.skip_consent_when_granted {
        if let Some(consent) = covering_consent(&app, &user, &request).await? {
            return issue(&app, &request, &user, &consent.account_id, &request.scope).await;
        }
    }
    consent_page(&app, &session, &user, &request, &query).await
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
    session: &tessera_core::domain::SecretHash,
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
    let view = ConsentView {
        csrf: csrf_token(app, CsrfBinding::Session(session))?,
        request: query.to_owned(),
        app_name,
        user_email: user.email.clone(),
        scopes,
        accounts,
    };
    Ok(page(&view))
}

fn deny(app: &AppState, request: &AuthorizationRequest, why: &str) -> Result<Response, HttpError> {
    let mut params = vec![
        ("error", ErrorCode::AccessDenied.as_str()),
        ("error_description", why),
    ];
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
    redirect_to(app, &request.delivery, &params)
}

/// The consent form: Authorize (with the scopes left checked) or Deny.
pub async fn post_authorize(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, HttpError> {
    let bytes = read_limited(&headers, body, app.http.form_limit).await?;
    let Ok(form) = Form::parse(&bytes) else {
        return Err(PageError::UnreadableForm.into());
    };
    let query = form.get("request").unwrap_or("");
    let Some((user, session)) = current_user(&app, &headers).await? else {
        let return_to = format!("{}?{query}", routes::AUTHORIZE);
        return render_signin(&app, &headers, &return_to, "", None);
    };
    let binding = Some(CsrfBinding::Session(&session));
    verify_form(&app, &headers, binding, form.get("csrf"), FormKind::Consent)?;
    let request = match validate(&app, query).await? {
        Ok(r) => r,
        Err(e) => return error_redirect(&app, e),
    };
    if form.get("decision") != Some("authorize") {
        return deny(&app, &request, "the user denied the request");
    }
    let granted: ScopeSet = request
        .scope
        .iter()
        .filter(|s| form.get(&format!("scope.{s}")) == Some("on"))
        .map(str::to_owned)
        .collect();
    if granted.is_empty() {
        return deny(&app, &request, "the user granted no scope");
    }
    let Some(account) = user
        .accounts
        .iter()
        .find(|a| Some(a.as_str()) == form.get("account"))
        .cloned()
    else {
        return Err(PageError::NoAccountChosen.into());
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

/// What the code page shows, sealed by the server with the master key (AES-GCM) into the
/// link's one parameter. The page renders only what opens: a link someone wrote, or one
/// whose code has expired, shows nothing of its own text (never an echo of the URL).
#[derive(Serialize, Deserialize)]
struct CodePageLink {
    /// The redirect's parameters: `code` and `state`, or `error` and `error_description`.
    params: Vec<(String, String)>,
    expires_at: i64,
}

impl CodePageLink {
    /// The associated data that keeps these links apart from anything else sealed.
    const CONTEXT: &'static [u8] = b"tessera code page v1";

    fn seal(app: &AppState, params: &[(&str, &str)]) -> Result<String, HttpError> {
        let link = Self {
            params: params
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            expires_at: app.clock.now() + app.authorize.code_ttl,
        };
        let json = serde_json::to_vec(&link).map_err(HttpError::internal)?;
        let sealed = app
            .master
            .seal(Self::CONTEXT, &json)
            .map_err(HttpError::internal)?;
        Ok(URL_SAFE_NO_PAD.encode(sealed))
    }

    /// The link's content, if this server sealed it and it has not expired.
    fn open(app: &AppState, raw: &str) -> Option<Self> {
        let sealed = URL_SAFE_NO_PAD.decode(raw).ok()?;
        let json = app.master.open(Self::CONTEXT, &sealed).ok()?;
        let link: Self = serde_json::from_slice(&json).ok()?;
        (app.clock.now() < link.expires_at).then_some(link)
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Deserialize)]
pub struct CodeQuery {
    page: Option<String>,
}

/// Shows the code for copying (applications registered without a redirect URI).
pub async fn get_code_page(
    State(app): State<AppState>,
    Query(q): Query<CodeQuery>,
) -> Result<Response, HttpError> {
    let Some(link) = q
        .page
        .as_deref()
        .and_then(|raw| CodePageLink::open(&app, raw))
    else {
        return Err(PageError::InvalidCodeLink.into());
    };
    match link.get("code") {
        Some(code) => Ok(page(&CodeView {
            code: code.to_owned(),
            state: link.get("state").map(str::to_owned),
            ttl: (link.expires_at - app.clock.now()).max(0),
        })),
        None => Err(PageError::AuthorizationFailed(
            link.get("error_description")
                .unwrap_or("The authorization did not produce a code.")
                .to_owned(),
        )
        .into()),
    }
}
