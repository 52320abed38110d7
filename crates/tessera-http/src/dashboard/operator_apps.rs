//! The operator's partner applications: the list, and approval (or its withdrawal) only
//! after a page that shows what is being approved — redirect URIs, scopes, the owner.

use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;
use tessera_core::audit::Actor;
use tessera_core::domain::AccountId;
use tessera_core::domain::ClientKind;
use tessera_core::manage::apps::{list_applications, set_approved};
use tessera_core::manage::clients::get_client;

use super::operator::operators_only;
use super::visit::{back_with, OperatorAppsPage, Page, Signed, Submitted};
use crate::error::{HttpError, PageError};
use crate::operator_views::{ApproveView, OperatorAppsView};
use crate::state::AppState;
use crate::views::AppRow;

const HERE: &str = OperatorAppsPage::HERE;

pub async fn get_apps(
    State(app): State<AppState>,
    Signed { visit: v, .. }: Signed<OperatorAppsPage>,
) -> Result<Response, HttpError> {
    operators_only(v.user.operator)?;
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
            has_secret: !c.public && c.jwks.is_none(),
            status: c.status.as_str().into(),
        })
        .collect();
    Ok(v.render(|nav| OperatorAppsView {
        nav,
        tab: "apps",
        apps,
    }))
}

#[derive(Deserialize)]
pub struct ApproveQuery {
    client_id: String,
    approved: Option<String>,
}

/// The confirmation: the application's redirect URIs, scopes and owner, and one button.
pub async fn get_approve(
    State(app): State<AppState>,
    Query(q): Query<ApproveQuery>,
    Signed { visit: v, .. }: Signed<OperatorAppsPage>,
) -> Result<Response, HttpError> {
    operators_only(v.user.operator)?;
    let not_found = || PageError::NotFound("There is no such partner application.");
    let client = match get_client(app.store.as_ref(), &q.client_id).await {
        Ok(c) if c.kind == ClientKind::Application => c,
        Ok(_) | Err(tessera_core::error::ManageError::NotFound(_)) => {
            return Err(not_found().into())
        }
        Err(e) => return Err(e.into()),
    };
    let owner = match &client.account_id {
        Some(id) => Some(owner_name(&app, id).await?),
        None => None,
    };
    Ok(v.render(|nav| ApproveView {
        nav,
        id: client.id.to_string(),
        name: client.name.clone(),
        approve: q.approved.as_deref() != Some("false"),
        redirect_uris: client.redirect_uris.clone(),
        scopes: client.scopes.iter().map(|s| s.to_string()).collect(),
        owner,
        public: client.public,
        pkce_required: client.public || client.require_pkce,
        status: client.status.as_str().into(),
    }))
}

/// "Acme Corp (acct_…)", or the bare id of an account that is gone.
async fn owner_name(app: &AppState, id: &AccountId) -> Result<String, HttpError> {
    let account = app
        .store
        .find_account(id)
        .await
        .map_err(HttpError::internal)?;
    Ok(match account {
        Some(a) => format!("{} ({})", a.name, a.id),
        None => id.to_string(),
    })
}

pub async fn post_approve(
    State(app): State<AppState>,
    Submitted { visit: v, form, .. }: Submitted<OperatorAppsPage>,
) -> Result<Response, HttpError> {
    operators_only(v.user.operator)?;
    let id = form.get("client_id").unwrap_or("");
    let approved = form.get("approved") == Some("true");
    let c = set_approved(
        app.store.as_ref(),
        &Actor::user(&v.user.id),
        id,
        approved,
        app.clock.now(),
    )
    .await?;
    app.caches.clients.invalidate(c.id.as_str());
    let what = if approved {
        "approved"
    } else {
        "no longer approved"
    };
    Ok(back_with(HERE, &format!("{} is {what}.", c.name)))
}
