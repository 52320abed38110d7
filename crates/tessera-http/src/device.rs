//! The device verification page (RFC 8628 §3.3), in the Settings Center: the signed-in
//! user types (or confirms) the code a device shows, sees the same consent page as the
//! code flow, and approves or denies. Wrong codes are limited per session and per address
//! (§5.1); every rule is in `tessera_core::oauth::device`.

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use tessera_core::domain::{Client, ClientStatus};
use tessera_core::oauth::consent::{eligible_accounts, Decision};
use tessera_core::oauth::device::{
    canonical_user_code, decide_device, display_user_code, pending_device, refuse_device,
    DeviceOutcome,
};
use tessera_core::oauth::request::Form;
use tessera_core::oauth::routes::DEVICE_VERIFICATION;
use tessera_core::runtime::rate_limit::RetryAfter;
use tessera_core::store::DeviceAuthorization;

use crate::authorize::{encode, scope_lines};
use crate::body::read_limited;
use crate::client_addr::ClientAddr;
use crate::error::{FormKind, HttpError, PageError};
use crate::session::{csrf_token, current_sign_in, verify_form, CsrfBinding, SignedIn};
use crate::signin::render_signin;
use crate::state::AppState;
use crate::views::{account_choices, page, ConsentView, DeviceCodeView, DeviceDoneView};

/// The code form, filled in from `verification_uri_complete`'s `user_code` if it came
/// with one: the user still confirms it against the device's screen (§5.4).
pub async fn get_device(
    State(app): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    let query = query.unwrap_or_default();
    let typed = Form::parse(query.as_bytes())
        .ok()
        .and_then(|f| f.get("user_code").map(str::to_owned))
        .unwrap_or_default();
    let Some(signed_in) = current_sign_in(&app, &headers).await? else {
        let return_to = match typed.as_str() {
            "" => DEVICE_VERIFICATION.to_owned(),
            code => format!("{DEVICE_VERIFICATION}?user_code={}", encode(code)),
        };
        return render_signin(&app, &headers, &return_to, "", None);
    };
    let shown = canonical_user_code(&typed).map_or(typed, |c| display_user_code(&c));
    code_form(&app, &signed_in, &shown, None)
}

fn code_form(
    app: &AppState,
    signed_in: &SignedIn,
    typed: &str,
    failure: Option<&PageError>,
) -> Result<Response, HttpError> {
    let view = DeviceCodeView {
        csrf: csrf_token(app, CsrfBinding::Session(&signed_in.session))?,
        action: DEVICE_VERIFICATION,
        user_email: signed_in.user.email.clone(),
        user_code: typed.to_owned(),
        message: failure.map(|f| f.message().into_owned()),
    };
    let res = page(&view);
    Ok(match failure {
        Some(f) => f.with_page(res),
        None => res,
    })
}

/// The code form's answer (the consent page for its device) and the consent form's (the
/// decision, recorded for the device's next poll).
pub async fn post_device(
    State(app): State<AppState>,
    client_addr: ClientAddr,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, HttpError> {
    let bytes = read_limited(&headers, body, app.http.form_limit).await?;
    let Ok(form) = Form::parse(&bytes) else {
        return Err(PageError::UnreadableForm.into());
    };
    let Some(signed_in) = current_sign_in(&app, &headers).await? else {
        return render_signin(&app, &headers, DEVICE_VERIFICATION, "", None);
    };
    let binding = Some(CsrfBinding::Session(&signed_in.session));
    verify_form(
        &app,
        &headers,
        binding,
        form.get("csrf"),
        FormKind::Settings,
    )?;
    if form.get("decision").is_some() {
        return decision(&app, &signed_in, &form).await;
    }
    let typed = form.get("user_code").unwrap_or("");
    let address = client_addr.attempt_key();
    let key = signed_in.session.0;
    let limits = &app.user_code_limits;
    if let Err(RetryAfter(wait)) = limits.begin(&key, address, app.clock.now_ms()) {
        let refusal = PageError::TooManyUserCodes { retry_after: wait };
        return code_form(&app, &signed_in, typed, Some(&refusal));
    }
    let now = app.clock.now();
    let found = pending_device(app.store.as_ref(), typed, now)
        .await
        .map_err(HttpError::internal)?;
    let Some((device, client)) = with_client(&app, found).await? else {
        return code_form(&app, &signed_in, typed, Some(&PageError::UnknownUserCode));
    };
    limits.succeed(&key, address);
    let accounts = eligible_accounts(&client, &signed_in.user);
    if accounts.is_empty() {
        let outcome = refuse_device(app.store.as_ref(), &device, &client, app.clock.now())
            .await
            .map_err(HttpError::internal)?;
        return done_page(&client, outcome);
    }
    let view = ConsentView {
        csrf: csrf_token(&app, CsrfBinding::Session(&signed_in.session))?,
        action: DEVICE_VERIFICATION,
        device: true,
        request: form_code(typed),
        app_name: client.name.clone(),
        approved: client.approved,
        redirect_target: None,
        user_email: signed_in.user.email.clone(),
        scopes: scope_lines(&app, &device.scopes).await?,
        accounts: account_choices(&app, &accounts).await?,
    };
    Ok(page(&view))
}

/// The user code as the consent form carries it back: the canonical one, shown grouped.
fn form_code(typed: &str) -> String {
    canonical_user_code(typed).map_or_else(String::new, |c| display_user_code(&c))
}

/// The device authorization with its client, if the client is still active.
async fn with_client(
    app: &AppState,
    found: Option<DeviceAuthorization>,
) -> Result<Option<(DeviceAuthorization, std::sync::Arc<Client>)>, HttpError> {
    let Some(device) = found else {
        return Ok(None);
    };
    let client = app
        .caches
        .clients
        .get(&device.client_id, app.store.as_ref(), app.clock.now())
        .await
        .map_err(HttpError::internal)?;
    Ok(client
        .filter(|c| c.status == ClientStatus::Active)
        .map(|c| (device, c)))
}

async fn decision(
    app: &AppState,
    signed_in: &SignedIn,
    form: &Form,
) -> Result<Response, HttpError> {
    let now = app.clock.now();
    let typed = form.get("request").unwrap_or("");
    let found = pending_device(app.store.as_ref(), typed, now)
        .await
        .map_err(HttpError::internal)?;
    let Some((device, client)) = with_client(app, found).await? else {
        return Err(PageError::UnknownUserCode.into());
    };
    let checked = |scope: &str| form.get(&format!("scope.{scope}")) == Some("on");
    let decision = Decision {
        authorize: form.get("decision") == Some("authorize"),
        account: form.get("account"),
        checked: &checked,
    };
    decided(app, signed_in, &device, &client, &decision).await
}

async fn decided(
    app: &AppState,
    signed_in: &SignedIn,
    device: &DeviceAuthorization,
    client: &Client,
    decision: &Decision<'_>,
) -> Result<Response, HttpError> {
    let user = (&signed_in.user, signed_in.signed_in_at);
    let now = app.clock.now();
    let outcome = decide_device(app.store.as_ref(), device, client, user, decision, now)
        .await
        .map_err(HttpError::internal)?;
    done_page(client, outcome)
}

/// The page after a decision, or the error page when none could be recorded.
fn done_page(client: &Client, outcome: DeviceOutcome) -> Result<Response, HttpError> {
    let (approved, message) = match outcome {
        DeviceOutcome::Approved => (true, String::new()),
        DeviceOutcome::Denied(why) => (false, capitalized(&why)),
        DeviceOutcome::UnknownAccount => return Err(PageError::NoAccountChosen.into()),
        DeviceOutcome::NoLongerPending => return Err(PageError::UnknownUserCode.into()),
    };
    Ok(page(&DeviceDoneView {
        approved,
        app_name: client.name.clone(),
        message,
    }))
}

/// An OAuth error description as a sentence on a page.
fn capitalized(description: &str) -> String {
    let mut chars = description.chars();
    match chars.next() {
        Some(first) => format!("{}{}.", first.to_uppercase(), chars.as_str()),
        None => String::new(),
    }
}
