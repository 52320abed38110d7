//! Legacy API Credentials in the Settings Center: Migrate and Remove Credentials, through
//! the same `tessera_core::legacy::migration` functions as `tessera legacy …`.

use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;
use tessera_core::audit::Actor;
use tessera_core::domain::{AccountId, User};
use tessera_core::error::ManageError;
use tessera_core::legacy::migration::{migrate, removable, remove};
use tessera_core::legacy::provision::get_legacy_credential;
use tessera_core::legacy::report::basic_usage;
use tessera_core::legacy::{LegacyCredential, LegacyState};
use tessera_core::oauth::routes;
use tessera_core::store::TokenUse;

use super::visit::{back_with, CredentialsPage, Page, Signed, Submitted};
use crate::error::{HttpError, PageError};
use crate::paths;
use crate::state::AppState;
use crate::views::{when, LegacyRow, MigratedView, RemoveLegacyView};

const HERE: &str = CredentialsPage::HERE;

/// The legacy table of an account: what the user sees and may do with each credential.
pub async fn rows(app: &AppState, account: &AccountId) -> Result<Vec<LegacyRow>, HttpError> {
    let store = app.store.as_ref();
    let all = store
        .list_legacy_credentials(Some(account))
        .await
        .map_err(HttpError::internal)?;
    let mut rows = Vec::new();
    for c in all.into_iter().filter(|c| c.state != LegacyState::Removed) {
        let ready = removable(store, &c).await.map_err(HttpError::internal)?;
        let remove_blocked = match &ready {
            Ok(()) => String::new(),
            Err(why) => why.for_customer().into(),
        };
        rows.push(LegacyRow {
            email: c.email.as_str().to_owned(),
            state: c.state.as_str().to_owned(),
            last_used: when(c.last_used_at),
            can_migrate: c.state == LegacyState::Active,
            can_remove: ready.is_ok(),
            remove_blocked,
        });
    }
    Ok(rows)
}

/// The credential, if it belongs to one of the user's accounts.
async fn owned(
    app: &AppState,
    user: &User,
    email: &str,
) -> Result<Option<LegacyCredential>, HttpError> {
    match get_legacy_credential(app.store.as_ref(), email).await {
        Ok(c) if user.accounts.contains(&c.account_id) => Ok(Some(c)),
        Ok(_) | Err(tessera_core::error::ManageError::NotFound(_)) => Ok(None),
        Err(e) => Err(HttpError::internal(e)),
    }
}

fn not_found() -> HttpError {
    PageError::NotFound("There is no such legacy credential on your API accounts.").into()
}

pub async fn post_migrate(
    State(app): State<AppState>,
    Submitted { visit: v, form, .. }: Submitted<CredentialsPage>,
) -> Result<Response, HttpError> {
    let Some(c) = owned(&app, &v.user, form.get("email").unwrap_or("")).await? else {
        return Err(not_found());
    };
    let migrated = migrate(
        app.store.as_ref(),
        c.email.as_str(),
        &Actor::user(&v.user.id),
        app.clock.now(),
    )
    .await
    .map_err(|e| {
        customer_refusal(
            e,
            "This legacy credential was migrated meanwhile. Reload API Credentials to see it.",
        )
    })?;
    let account = c.account_id.to_string();
    let sunset = &app.legacy.sunset;
    let api_call = match app.gateway {
        None => format!("{}{}", app.tokens.issuer, paths::API_ACCOUNT),
        Some(_) => format!("{}/", app.tokens.issuer),
    };
    Ok(v.render(|nav| MigratedView {
        nav,
        email: c.email.as_str().to_owned(),
        client_id: migrated.created.client.id.to_string(),
        client_secret: migrated.created.secret.expose().to_owned(),
        token_url: format!("{}{}", app.tokens.issuer, routes::TOKEN),
        api_call,
        sunset: sunset.sunset_at.map(|t| when(Some(t))),
        guide_url: sunset.guide_url.clone(),
        back: format!("{HERE}?account={account}"),
    }))
}

/// Migrate's and Remove's refusals in the Settings Center's words: the core's texts are
/// the operator's (they name `tessera` commands).
fn customer_refusal(e: ManageError, what: &'static str) -> HttpError {
    match e {
        ManageError::Conflict(_) => PageError::Blocked(what).into(),
        ManageError::NotFound(_) => PageError::NotFound(what).into(),
        other => other.into(),
    }
}

#[derive(Deserialize)]
pub struct RemoveQuery {
    email: String,
}

pub async fn get_remove(
    State(app): State<AppState>,
    Query(q): Query<RemoveQuery>,
    Signed { visit: v, .. }: Signed<CredentialsPage>,
) -> Result<Response, HttpError> {
    let Some(c) = owned(&app, &v.user, &q.email).await? else {
        return Err(not_found());
    };
    let store = app.store.as_ref();
    let back = format!("{HERE}?account={}", c.account_id);
    if let Err(why) = removable(store, &c).await? {
        return Err(PageError::Blocked(why.for_customer()).into());
    }
    let unflushed = app.legacy.usage.pending_of(&c.id);
    let usage = basic_usage(store, &c, &unflushed, app.clock.now())
        .await
        .map_err(HttpError::internal)?;
    let client_use = match &c.migrated_client_id {
        Some(id) => store
            .find_token_use(id)
            .await
            .map_err(HttpError::internal)?
            .unwrap_or_default(),
        None => TokenUse::default(),
    };
    Ok(v.render(|nav| RemoveLegacyView {
        nav,
        email: c.email.as_str().to_owned(),
        requests_24h: usage.requests_24h,
        requests_7d: usage.requests_7d,
        last_used: when(usage.last_used_at),
        in_use: usage.in_use(),
        client_id: c
            .migrated_client_id
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        client_use: client_use_text(&client_use),
        integration_seen: client_use.first_integration_at.is_some(),
        back,
    }))
}

/// How the new client has been used, as the customer reads it.
pub fn client_use_text(u: &TokenUse) -> String {
    match (u.first_integration_at, u.first_tested_at, u.first_token_at) {
        (Some(at), _, _) => format!("Used by an integration since {}", when(Some(at))),
        (None, Some(at), _) => format!(
            "Only tested in the Settings Center ({}); no integration has used it yet",
            when(Some(at))
        ),
        (None, None, Some(at)) => format!("Used since {}", when(Some(at))),
        (None, None, None) => "Never used".into(),
    }
}

pub async fn post_remove(
    State(app): State<AppState>,
    Submitted { visit: v, form, .. }: Submitted<CredentialsPage>,
) -> Result<Response, HttpError> {
    let Some(c) = owned(&app, &v.user, form.get("email").unwrap_or("")).await? else {
        return Err(not_found());
    };
    // Checked here first for the customer's wording; `remove` checks again (and audits).
    if let Err(why) = removable(app.store.as_ref(), &c).await? {
        return Err(PageError::Blocked(why.for_customer()).into());
    }
    match remove(
        app.store.as_ref(),
        c.email.as_str(),
        &Actor::user(&v.user.id),
        app.clock.now(),
    )
    .await
    {
        Ok(_) => Ok(back_with(
            &format!("{HERE}?account={}", c.account_id),
            &format!("Removed the legacy credential {}.", c.email.as_str()),
        )),
        Err(e) => Err(customer_refusal(
            e,
            "This legacy credential changed meanwhile. Reload API Credentials to see it.",
        )),
    }
}
