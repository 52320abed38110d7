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
    /// The email is filled in (a refused attempt): the cursor goes to Password.
    pub focus_password: bool,
}

pub struct ScopeLine {
    pub name: String,
    pub description: String,
}

pub struct AccountChoice {
    pub id: String,
    pub name: String,
}

/// The API accounts `accounts`, named, for a picker: by name, so the first (the default)
/// does not depend on how the store orders ids.
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
    out.sort_by(|a, b| (a.name.to_lowercase(), &a.id).cmp(&(b.name.to_lowercase(), &b.id)));
    Ok(out)
}

#[derive(Template)]
#[template(path = "oauth_consent.html")]
pub struct ConsentView {
    pub csrf: String,
    /// Where the form goes: the authorization endpoint, or the device verification page.
    pub action: &'static str,
    /// The original authorization request's query string, re-validated on submit; for a
    /// device, its user code.
    pub request: String,
    /// A device's request (RFC 8628 §3.3), not a browser's.
    pub device: bool,
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

/// RP-Initiated Logout: the question (with `csrf`), or the signed-out page (without).
#[derive(Template)]
#[template(path = "oauth_logout.html")]
pub struct LogoutView {
    pub csrf: Option<String>,
    /// The logout request's parameters, validated again when the form comes back.
    pub request: String,
    pub app_name: Option<String>,
    pub user_email: String,
}

#[derive(Template)]
#[template(path = "oauth_code.html")]
pub struct CodeView {
    pub code: String,
    pub state: Option<String>,
    pub ttl: i64,
}

/// The device verification page's form (RFC 8628 §3.3): the user code, typed or carried
/// over from `verification_uri_complete`, with what was wrong with the last one.
#[derive(Template)]
#[template(path = "device_verify.html")]
pub struct DeviceCodeView {
    pub csrf: String,
    pub action: &'static str,
    pub user_email: String,
    pub user_code: String,
    pub message: Option<String>,
}

/// What the user decided for a device.
#[derive(Template)]
#[template(path = "device_done.html")]
pub struct DeviceDoneView {
    pub approved: bool,
    pub app_name: String,
    pub message: String,
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
    /// Tested in the Settings Center, used by an integration, or never used.
    pub usage: String,
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
    /// A public application: no secret because it has none, not because it uses keys.
    pub public: bool,
    pub token_url: String,
    pub back: String,
}

/// After Migrate: the new credentials once, and the next steps with them.
#[derive(Template)]
#[template(path = "dashboard_migrated.html")]
pub struct MigratedView {
    pub nav: Nav,
    pub email: String,
    pub client_id: String,
    pub client_secret: String,
    pub token_url: String,
    /// A URL of the API to call with the token.
    pub api_call: String,
    /// When Basic ends for good, if a date is set.
    pub sunset: Option<String>,
    pub guide_url: Option<String>,
    pub back: String,
}

/// The Remove confirmation: what still uses Basic with this credential.
#[derive(Template)]
#[template(path = "dashboard_legacy_remove.html")]
pub struct RemoveLegacyView {
    pub nav: Nav,
    pub email: String,
    pub requests_24h: i64,
    pub requests_7d: i64,
    pub last_used: String,
    /// Basic requests in the last 7 days: removing it breaks whatever sends them.
    pub in_use: bool,
    pub client_id: String,
    pub client_use: String,
    pub integration_seen: bool,
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
    /// Each claim and its value, times as dates.
    pub claims: Vec<(String, String)>,
    pub back: String,
}

/// A token's claims for people: `iat`, `exp`, `nbf` and `auth_time` as dates (issue 15:
/// not Unix seconds), strings bare, anything else as JSON.
pub fn claim_rows(claims: &serde_json::Value) -> Vec<(String, String)> {
    let Some(map) = claims.as_object() else {
        return Vec::new();
    };
    map.iter()
        .map(|(k, v)| {
            let shown = match (k.as_str(), v) {
                ("iat" | "exp" | "nbf" | "auth_time", serde_json::Value::Number(n)) => {
                    n.as_i64().map_or_else(|| n.to_string(), |t| when(Some(t)))
                }
                (_, serde_json::Value::String(s)) => s.clone(),
                (_, other) => other.to_string(),
            };
            (k.clone(), shown)
        })
        .collect()
}

pub struct AuthorizedRow {
    pub client_id: String,
    pub name: String,
    /// The API account this authorization acts on: one row per (application, account).
    pub account_id: String,
    pub account_name: String,
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
    /// It authenticates with a secret (neither public nor `private_key_jwt`): it can be rotated.
    pub has_secret: bool,
    pub status: String,
}

#[derive(Template)]
#[template(path = "dashboard_applications.html")]
pub struct ApplicationsView {
    pub nav: Nav,
    pub authorized: Vec<AuthorizedRow>,
    pub partners: Vec<AccountChoice>,
    pub accounts: Vec<AccountChoice>,
    pub own: Vec<AppRow>,
}

/// Add application, once the application is chosen: its own scopes only.
#[derive(Template)]
#[template(path = "dashboard_add_application.html")]
pub struct AddApplicationView {
    pub nav: Nav,
    pub app_id: String,
    pub app_name: String,
    pub accounts: Vec<AccountChoice>,
    pub scopes: Vec<ScopeLine>,
}

#[derive(Template)]
#[template(path = "dashboard_tokens.html")]
pub struct TokensView {
    pub nav: Nav,
    pub app_name: String,
    pub account_name: String,
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: i64,
    pub scope: String,
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
    /// The operator tab bar's current tab.
    pub tab: &'static str,
    pub rows: Vec<AuditRow>,
    pub actor: String,
    pub target: String,
    pub since: String,
    /// Why the `since` filter was ignored, when it was.
    pub problem: Option<String>,
    pub limit: i64,
    pub page: i64,
    /// Links to the newer and older pages, where there are.
    pub newer: Option<String>,
    pub older: Option<String>,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claim_times_read_as_dates() {
        let claims = serde_json::json!({
            "iat": 1_795_000_000, "exp": 1_795_000_300, "scope": "books:read", "n": [1],
        });
        let rows = claim_rows(&claims);
        let get = |k: &str| rows.iter().find(|r| r.0 == k).map(|r| r.1.as_str());
        assert_eq!(get("iat"), Some("18 Nov 2026 11:06 UTC"));
        assert_eq!(get("exp"), Some("18 Nov 2026 11:11 UTC"));
        assert_eq!(get("scope"), Some("books:read"));
        assert_eq!(get("n"), Some("[1]"));
    }
}
