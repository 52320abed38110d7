//! The authorization endpoint (RFC 6749 §3.1, §4.1.1–4.1.2): sign-in, consent, the code;
//! with OpenID Connect's `prompt` and `max_age` (Core §3.1.2.1) deciding when the user must
//! sign in again or see the consent page, or, with `prompt=none`, must see nothing.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Query, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use tessera_core::domain::{
    redirect_target, AccountId, Client, ClientId, ScopeSet, SecretHash, User,
};
use tessera_core::error::{ErrorCode, OAuthError};
use tessera_core::oauth::authorization_code::{mint_authorization_code, Approval};
use tessera_core::oauth::authorize::{
    self, AuthorizationRequest, AuthorizeError, Delivery, HintCheck, SIGNED_IN_AFTER,
};
use tessera_core::oauth::consent::{
    consent_step, decide, Approved, ConsentStep, Decision, DecisionOutcome,
};
use tessera_core::oauth::identity;
use tessera_core::oauth::par::{self, Unresolved};
use tessera_core::oauth::request::Form;
use tessera_core::oauth::routes;

use crate::body::read_limited;
use crate::error::{FormKind, HttpError, PageError};
use crate::session::{csrf_token, current_sign_in, verify_form, CsrfBinding, SignedIn};
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
/// kept), with RFC 9207's `iss` on every response, success or error, so a client talking
/// to several servers can tell which one answered (mix-up defence). Tessera's own code page
/// gets them sealed instead (see [`CodePageLink`]).
fn redirect_to(
    app: &AppState,
    delivery: &Delivery,
    params: &[(&str, &str)],
) -> Result<Response, HttpError> {
    let (base, query) = match delivery {
        Delivery::Redirect(uri) => {
            let issuer = [("iss", app.tokens.issuer.as_str())];
            let query: Vec<String> = params
                .iter()
                .chain(&issuer)
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

/// The request validated against its client; the client comes along for the consent rules.
type Validated = Result<(AuthorizationRequest, Arc<Client>), AuthorizeError>;

async fn validate(app: &AppState, query: &str) -> Result<Validated, HttpError> {
    let malformed = || {
        AuthorizeError::Page(
            "The request is malformed (a parameter is repeated or badly encoded).".into(),
        )
    };
    let Ok(outer) = Form::parse(query.as_bytes()) else {
        return Ok(Err(malformed()));
    };
    // RFC 9126 §4: a `request_uri` stands for the request its client pushed.
    let (params, pushed) = match outer.get("request_uri") {
        Some(uri) if uri.starts_with(par::REQUEST_URI_PREFIX) => {
            let now = app.clock.now();
            let client_id = outer.get("client_id");
            match par::resolve(app.store.as_ref(), uri, client_id, now).await {
                Ok((pushed, hash)) => {
                    let inner = par::with_sign_in_marker(&pushed, &outer);
                    let Ok(params) = Form::parse(inner.as_bytes()) else {
                        return Ok(Err(malformed()));
                    };
                    (params, Some(hash))
                }
                Err(Unresolved::Refused(why)) => return Ok(Err(AuthorizeError::Page(why.into()))),
                Err(Unresolved::Store(e)) => return Err(HttpError::internal(e)),
            }
        }
        _ => (outer, None),
    };
    let client = match params.get("client_id").and_then(ClientId::parse) {
        Some(id) => app
            .caches
            .clients
            .get(&id, app.store.as_ref(), app.clock.now())
            .await
            .map_err(HttpError::internal)?,
        None => None,
    };
    let keyring = app.caches.keyring();
    let hints = HintCheck {
        keys: &keyring,
        issuer: &app.tokens.issuer,
        now: app.clock.now(),
    };
    let request = authorize::validate(&params, client.as_deref(), (&app.authorize, hints), pushed);
    // `validate` accepts a request only with its client, so `client` is `Some` here.
    Ok(match (request, client) {
        (Ok(request), Some(client)) => Ok((request, client)),
        (Ok(_), None) => Err(AuthorizeError::Page(
            "The application that sent you here is not registered.".into(),
        )),
        (Err(e), _) => Err(e),
    })
}

pub async fn get_authorize(
    State(app): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    let query = query.unwrap_or_default();
    let (request, client) = match validate(&app, &query).await? {
        Ok(r) => r,
        Err(e) => return error_redirect(&app, e),
    };
    let now = app.clock.now();
    let signed_in = current_sign_in(&app, &headers).await?;
    let signed_in = match signed_in {
        Some(s) if request.hints_at_another_user(s.user.id.as_str()) => {
            // Core §3.1.2.1: only the user the client's id_token_hint names; after a sign-in
            // this request asked for, someone else is an error, not another sign-in page.
            if request.prompt.none || request.signed_in_for_it(s.signed_in_at) {
                let error = OAuthError::new(
                    ErrorCode::LoginRequired,
                    "the signed-in user is not the one the id_token_hint names",
                );
                return deny(&app, &request, &error);
            }
            let return_to = format!("{}?{}", routes::AUTHORIZE, coming_back(&query, now));
            let hint = request.login_hint.as_deref().unwrap_or("");
            return render_signin(&app, &headers, &return_to, hint, None);
        }
        Some(s) if !request.needs_sign_in(Some(s.signed_in_at), now) => s,
        _ if request.prompt.none => {
            let error = OAuthError::new(
                ErrorCode::LoginRequired,
                "the user must sign in, and prompt=none forbids showing the sign-in page",
            );
            return deny(&app, &request, &error);
        }
        _ => {
            let return_to = format!("{}?{}", routes::AUTHORIZE, coming_back(&query, now));
            let hint = request.login_hint.as_deref().unwrap_or("");
            return render_signin(&app, &headers, &return_to, hint, None);
        }
    };
    let SignedIn { user, session, .. } = &signed_in;
    let step = consent_step(app.store.as_ref(), &client, user, &request, &app.authorize)
        .await
        .map_err(HttpError::internal)?;
    match step {
        ConsentStep::Refuse(error) => deny(&app, &request, &error),
        ConsentStep::Issue(approved) => issue(&app, &request, &signed_in, &approved).await,
        ConsentStep::Ask { .. } if request.prompt.none => {
            let error = OAuthError::new(
                ErrorCode::ConsentRequired,
                "the user has not approved this request, and prompt=none forbids asking",
            );
            deny(&app, &request, &error)
        }
        ConsentStep::Ask { accounts } => {
            let page = ConsentPage {
                client: &client,
                user,
                request: &request,
                accounts: &accounts,
                query: &query,
            };
            consent_page(&app, session, &page).await
        }
    }
}

/// The authorization request to come back to after a sign-in it asked for: `query` with
/// [`SIGNED_IN_AFTER`] set to `now` (replacing any that was there).
fn coming_back(query: &str, now: i64) -> String {
    let marker = format!("{SIGNED_IN_AFTER}=");
    let mut kept: Vec<&str> = query
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with(&marker))
        .collect();
    let added = format!("{marker}{now}");
    kept.push(&added);
    kept.join("&")
}

/// What the consent page shows.
struct ConsentPage<'a> {
    client: &'a Client,
    user: &'a User,
    request: &'a AuthorizationRequest,
    /// The accounts the user may authorize the application on.
    accounts: &'a [AccountId],
    query: &'a str,
}

/// The consent page's line for each of `scopes`: its description (the identity scopes'
/// own words, else the catalog's), and its name.
pub(crate) async fn scope_lines(
    app: &AppState,
    scopes: &ScopeSet,
) -> Result<Vec<ScopeLine>, HttpError> {
    let catalog = app.store.list_scopes().await.map_err(HttpError::internal)?;
    Ok(scopes
        .iter()
        .map(|name| ScopeLine {
            name: name.to_owned(),
            description: identity::description(name)
                .map(str::to_owned)
                .or_else(|| {
                    let entry = catalog.iter().find(|s| s.name == name);
                    entry.map(|s| s.description.clone())
                })
                .unwrap_or_else(|| name.to_owned()),
        })
        .collect())
}

async fn consent_page(
    app: &AppState,
    session: &SecretHash,
    p: &ConsentPage<'_>,
) -> Result<Response, HttpError> {
    let scopes = scope_lines(app, &p.request.scope).await?;
    let accounts = account_choices(app, p.accounts).await?;
    let redirect_target = match &p.request.delivery {
        Delivery::Redirect(uri) => redirect_target(uri),
        Delivery::CodePage => None,
    };
    let view = ConsentView {
        csrf: csrf_token(app, CsrfBinding::Session(session))?,
        action: routes::AUTHORIZE,
        device: false,
        request: p.query.to_owned(),
        app_name: p.client.name.clone(),
        approved: p.client.approved,
        redirect_target,
        user_email: p.user.email.clone(),
        scopes,
        accounts,
    };
    Ok(page(&view))
}

/// Spends the pushed request behind `request`, if any (RFC 9126 §4: one authorization per
/// `request_uri`); an error page when another authorization used it first.
async fn spend_pushed(app: &AppState, request: &AuthorizationRequest) -> Result<(), HttpError> {
    let Some(hash) = &request.pushed else {
        return Ok(());
    };
    let spent = app
        .store
        .spend_pushed_request(hash, app.clock.now())
        .await
        .map_err(HttpError::internal)?;
    if spent {
        Ok(())
    } else {
        Err(PageError::InvalidAuthorizationRequest(
            "This authorization request was already used. Go back to the application and start again.".into(),
        )
        .into())
    }
}

/// §4.1.2.1: the error goes back to the client with `state`.
fn deny(
    app: &AppState,
    request: &AuthorizationRequest,
    error: &OAuthError,
) -> Result<Response, HttpError> {
    let mut params = vec![
        ("error", error.code.as_str()),
        ("error_description", &*error.description),
    ];
    if let Some(s) = &request.state {
        params.push(("state", s));
    }
    redirect_to(app, &request.delivery, &params)
}

async fn issue(
    app: &AppState,
    request: &AuthorizationRequest,
    signed_in: &SignedIn,
    approved: &Approved,
) -> Result<Response, HttpError> {
    let approval = Approval {
        request,
        user_id: &signed_in.user.id,
        account_id: &approved.account,
        scopes: &approved.scopes,
        auth_time: signed_in.signed_in_at,
    };
    spend_pushed(app, request).await?;
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
    let Some(signed_in) = current_sign_in(&app, &headers).await? else {
        let return_to = format!("{}?{query}", routes::AUTHORIZE);
        return render_signin(&app, &headers, &return_to, "", None);
    };
    let binding = Some(CsrfBinding::Session(&signed_in.session));
    verify_form(&app, &headers, binding, form.get("csrf"), FormKind::Consent)?;
    let (request, client) = match validate(&app, query).await? {
        Ok(r) => r,
        Err(e) => return error_redirect(&app, e),
    };
    let checked = |scope: &str| form.get(&format!("scope.{scope}")) == Some("on");
    let decision = Decision {
        authorize: form.get("decision") == Some("authorize"),
        account: form.get("account"),
        checked: &checked,
    };
    let now = app.clock.now();
    let user = &signed_in.user;
    let outcome = decide(
        app.store.as_ref(),
        &client,
        user,
        &request.scope,
        &decision,
        now,
    )
    .await
    .map_err(HttpError::internal)?;
    match outcome {
        DecisionOutcome::Issue(approved) => issue(&app, &request, &signed_in, &approved).await,
        DecisionOutcome::Refuse(error) => {
            spend_pushed(&app, &request).await?;
            deny(&app, &request, &error)
        }
        DecisionOutcome::UnknownAccount => Err(PageError::NoAccountChosen.into()),
    }
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
