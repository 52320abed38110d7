//! Operator pages: partner application approval, the legacy migration report (and its CSV
//! download) and signing keys.

use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;
use tessera_core::audit::Actor;
use tessera_core::legacy::report::{legacy_report, report_csv};
use tessera_core::legacy::usage::LegacyReportRow;
use tessera_core::manage::accounts;
use tessera_core::manage::apps::{list_applications, set_approved};
use tessera_core::manage::keys::{list_keys, rotate};
use tessera_core::runtime::sync::{reload_keyring, KeyReload};

use super::visit::{back_with, OperatorPage, Page, Signed, Submitted};
use crate::download;
use crate::error::{HttpError, PageError};
use crate::state::AppState;
use crate::views::{when, AppRow, KeyRow, OperatorView, ReportRow};

const HERE: &str = OperatorPage::HERE;
/// What a browser saves the report's CSV as.
const REPORT_FILE_NAME: &str = "tessera-legacy-report.csv";

#[derive(Deserialize)]
pub struct OperatorQuery {
    state: Option<String>,
    account: Option<String>,
}

pub async fn get_operator(
    State(app): State<AppState>,
    Query(q): Query<OperatorQuery>,
    Signed { visit: v, .. }: Signed<OperatorPage>,
) -> Result<Response, HttpError> {
    if !v.user.operator {
        return Err(PageError::OperatorsOnly.into());
    }
    let apps = list_applications(app.store.as_ref()).await?;
    let apps = apps
        .into_iter()
        .map(|c| AppRow {
            id: c.id.to_string(),
            name: c.name,
            redirect_uris: c.redirect_uris.join(" "),
            approved: c.approved,
            pkce_required: c.public || c.require_pkce,
            require_pkce: c.require_pkce,
            status: c.status.as_str().into(),
        })
        .collect();
    let keys = list_keys(app.store.as_ref(), app.clock.now()).await?;
    let keys = keys
        .into_iter()
        .map(|(k, state)| KeyRow {
            kid: k.kid.to_string(),
            alg: k.alg.as_str().into(),
            state: state.as_str().into(),
            activates: when(Some(k.activates_at)),
        })
        .collect();
    let filter_state = q.state.filter(|s| s != "all" && !s.is_empty());
    let filter_account = q
        .account
        .map(|a| a.trim().to_owned())
        .filter(|a| !a.is_empty());
    let rows = legacy_report(app.store.as_ref(), app.clock.now())
        .await
        .map_err(HttpError::internal)?;
    let report = rows
        .into_iter()
        .filter(|r| {
            filter_state
                .as_deref()
                .is_none_or(|s| r.state.as_str() == s)
        })
        .filter(|r| {
            filter_account
                .as_deref()
                .is_none_or(|a| names_account(r, a))
        })
        .map(|r| ReportRow {
            email: r.email.as_str().to_owned(),
            account: r.account_id.to_string(),
            account_name: r.account_name,
            external_id: r.account_external_id.map(|e| e.as_str().to_owned()),
            state: r.state.as_str().to_owned(),
            last_used: when(r.last_used_at),
            day: r.requests_24h,
            week: r.requests_7d,
            client_used: match (&r.client_id, r.client_first_token_at) {
                (None, _) => "no client yet".into(),
                (Some(_), None) => "not yet".into(),
                (Some(_), Some(t)) => format!("since {}", when(Some(t))),
            },
        })
        .collect();
    Ok(v.render(|nav| OperatorView {
        nav,
        apps,
        keys,
        report,
        filter_state: filter_state.unwrap_or_else(|| "all".into()),
        filter_account: filter_account.unwrap_or_default(),
    }))
}

/// Whether the account filter `wanted` names the row's account: its id, `ext:<external
/// id>` (as the CLI takes it) or the bare external id.
fn names_account(row: &LegacyReportRow, wanted: &str) -> bool {
    let external = row.account_external_id.as_ref().map(|e| e.as_str());
    row.account_id.as_str() == wanted
        || external.is_some_and(|e| {
            e == wanted || wanted.strip_prefix(accounts::EXTERNAL_PREFIX) == Some(e)
        })
}

/// The whole migration report as a CSV download: exactly what `tessera report legacy
/// --format csv` prints (one function makes both), for operators only, like the page.
pub async fn get_report_csv(
    State(app): State<AppState>,
    Signed { visit: v, .. }: Signed<OperatorPage>,
) -> Result<Response, HttpError> {
    if !v.user.operator {
        return Err(PageError::OperatorsOnly.into());
    }
    let rows = legacy_report(app.store.as_ref(), app.clock.now())
        .await
        .map_err(HttpError::internal)?;
    let csv = report_csv(&rows).map_err(HttpError::internal)?;
    Ok(download::csv(REPORT_FILE_NAME, csv))
}

pub async fn post_approve(
    State(app): State<AppState>,
    Submitted { visit: v, form, .. }: Submitted<OperatorPage>,
) -> Result<Response, HttpError> {
    if !v.user.operator {
        return Err(PageError::OperatorsOnly.into());
    }
    let id = form.get("client_id").unwrap_or("");
    let approved = form.get("approved") == Some("true");
    match set_approved(
        app.store.as_ref(),
        &Actor::user(&v.user.id),
        id,
        approved,
        app.clock.now(),
    )
    .await
    {
        Ok(c) => {
            app.caches.clients.invalidate(c.id.as_str());
            let what = if approved {
                "approved"
            } else {
                "no longer approved"
            };
            Ok(back_with(HERE, &format!("{} is {what}.", c.name)))
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn post_rotate_key(
    State(app): State<AppState>,
    Submitted { visit: v, .. }: Submitted<OperatorPage>,
) -> Result<Response, HttpError> {
    if !v.user.operator {
        return Err(PageError::OperatorsOnly.into());
    }
    let key = rotate(
        app.store.as_ref(),
        &Actor::user(&v.user.id),
        &app.master,
        &app.keys,
        app.clock.now(),
    )
    .await?;
    let reload = KeyReload {
        master: &app.master,
        max_token_ttl: app.tokens.max_ttl(),
    };
    reload_keyring(app.store.as_ref(), &app.caches, &reload)
        .await
        .map_err(HttpError::internal)?;
    Ok(back_with(
        HERE,
        &format!(
            "New key {} is published; it signs from {}.",
            key.kid,
            when(Some(key.activates_at))
        ),
    ))
}
