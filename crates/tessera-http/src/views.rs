//! One typed view per page; the template of each lives in `templates/<area>_<page>.html`.

use askama::Template;
use axum::http::header;
use axum::response::{IntoResponse, Response};

#[derive(Template)]
#[template(path = "oauth_signin.html")]
pub struct SignInView {
    pub csrf: String,
    pub return_to: String,
    pub email: String,
    pub message: Option<String>,
}

pub struct ScopeLine {
    pub name: String,
    pub description: String,
}

pub struct AccountChoice {
    pub id: String,
    pub name: String,
}

/// The API accounts `accounts`, named, for a picker.
pub async fn account_choices(
    app: &crate::state::AppState,
    accounts: &[tessera_core::domain::AccountId],
) -> Result<Vec<AccountChoice>, crate::error::HttpError> {
    let mut out = Vec::with_capacity(accounts.len());
    for id in accounts {
        let name = app
            .store
            .find_account(id)
            .await
            .map_err(crate::error::HttpError::internal)?
            .map(|a| a.name);
        out.push(AccountChoice {
            id: id.to_string(),
            name: name.unwrap_or_else(|| id.to_string()),
        });
    }
    Ok(out)
}

#[derive(Template)]
#[template(path = "oauth_consent.html")]
pub struct ConsentView {
    pub csrf: String,
    /// The original authorization request's query string, re-validated on submit.
    pub request: String,
    pub app_name: String,
    /// Operator-approved; an unapproved application is marked plainly on the page.
    pub approved: bool,
    /// Where the code goes: the redirect URI's host (or a native app's scheme); `None` for
    /// Tessera's own code page.
    pub redirect_target: Option<String>,
    pub user_email: String,
    pub scopes: Vec<ScopeLine>,
    pub accounts: Vec<AccountChoice>,
}

#[derive(Template)]
#[template(path = "oauth_code.html")]
pub struct CodeView {
    pub code: String,
    pub state: Option<String>,
    pub ttl: i64,
}

/// A page with 200 and the headers every Tessera page carries ([`crate::html::send`]).
pub fn page(view: &impl Template) -> Response {
    match view.render() {
        Ok(html) => crate::html::send(html),
        Err(err) => crate::error::HttpError::internal(err).into_response(),
    }
}

pub async fn get_stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../static/tessera.css"),
    )
        .into_response()
}

/// What the dashboard's layout shows on every page.
pub struct Nav {
    pub csrf: String,
    pub email: String,
    pub operator: bool,
    pub notice: Option<String>,
}

pub struct LegacyRow {
    pub email: String,
    pub state: String,
    pub last_used: String,
    pub can_migrate: bool,
    pub can_remove: bool,
    pub remove_blocked: String,
}

pub struct CredentialRow {
    pub id: String,
    pub name: String,
    pub created: String,
    pub last_used: String,
    pub status: String,
    pub active: bool,
}

#[derive(Template)]
#[template(path = "dashboard_credentials.html")]
pub struct CredentialsView {
    pub nav: Nav,
    pub accounts: Vec<AccountChoice>,
    pub account_id: String,
    pub account_name: String,
    pub legacy: Vec<LegacyRow>,
    pub clients: Vec<CredentialRow>,
}

#[derive(Template)]
#[template(path = "dashboard_secret.html")]
pub struct SecretView {
    pub nav: Nav,
    pub title: String,
    pub client_id: String,
    pub client_secret: String,
    pub token_url: String,
    pub back: String,
}

#[derive(Template)]
#[template(path = "dashboard_confirm.html")]
pub struct ConfirmView {
    pub nav: Nav,
    pub title: String,
    pub message: String,
    pub action: String,
    pub fields: Vec<(String, String)>,
    pub confirm: String,
    pub back: String,
}

#[derive(Template)]
#[template(path = "dashboard_claims.html")]
pub struct ClaimsView {
    pub nav: Nav,
    pub title: String,
    pub ok: bool,
    pub message: String,
    pub claims: String,
    pub back: String,
}

pub struct AuthorizedRow {
    pub client_id: String,
    pub name: String,
    pub scopes: String,
    pub last_used: String,
}

pub struct AppRow {
    pub id: String,
    pub name: String,
    pub redirect_uris: String,
    pub approved: bool,
    /// Its authorization requests must carry PKCE (public, or switched on).
    pub pkce_required: bool,
    /// The application's own PKCE switch (public clients need PKCE without it).
    pub require_pkce: bool,
    pub status: String,
}

#[derive(Template)]
#[template(path = "dashboard_applications.html")]
pub struct ApplicationsView {
    pub nav: Nav,
    pub authorized: Vec<AuthorizedRow>,
    pub partners: Vec<AccountChoice>,
    pub accounts: Vec<AccountChoice>,
    pub scopes: Vec<ScopeLine>,
    pub own: Vec<AppRow>,
}

#[derive(Template)]
#[template(path = "dashboard_tokens.html")]
pub struct TokensView {
    pub nav: Nav,
    pub app_name: String,
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: i64,
    pub scope: String,
}

pub struct KeyRow {
    pub kid: String,
    pub alg: String,
    pub state: String,
    pub activates: String,
}

pub struct ReportRow {
    pub email: String,
    pub account: String,
    pub account_name: String,
    pub external_id: Option<String>,
    pub state: String,
    pub last_used: String,
    pub day: i64,
    pub week: i64,
    pub client_used: String,
}

#[derive(Template)]
#[template(path = "dashboard_operator.html")]
pub struct OperatorView {
    pub nav: Nav,
    pub apps: Vec<AppRow>,
    pub keys: Vec<KeyRow>,
    pub report: Vec<ReportRow>,
    pub filter_state: String,
    pub filter_account: String,
}

pub struct AuditRow {
    pub at: String,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub outcome: String,
    pub detail: String,
}

#[derive(Template)]
#[template(path = "dashboard_audit.html")]
pub struct AuditView {
    pub nav: Nav,
    pub rows: Vec<AuditRow>,
    pub actor: String,
    pub target: String,
    pub since: String,
    /// Why the `since` filter was ignored, when it was.
    pub problem: Option<String>,
    pub limit: i64,
}

pub async fn get_script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../static/tessera.js"),
    )
        .into_response()
}

/// A Unix time as `YYYY-MM-DD HH:MM UTC`, or "never".
pub fn when(t: Option<i64>) -> String {
    let Some(t) = t else { return "never".into() };
    let Ok(st) =
        u64::try_from(t).map(|s| std::time::UNIX_EPOCH + std::time::Duration::from_secs(s))
    else {
        return "never".into();
    };
    let full = httpdate::fmt_http_date(st);
    // "Sun, 22 Nov 2026 19:08:23 GMT" → "22 Nov 2026 19:08 UTC"
    full.get(5..22).map(|s| format!("{s} UTC")).unwrap_or(full)
}
