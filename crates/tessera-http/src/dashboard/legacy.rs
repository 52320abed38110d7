//! Legacy API Credentials in the Settings Center: Migrate and Remove Credentials, through
//! the same `tessera_core::legacy::migration` functions as `tessera legacy …`.

use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;
use tessera_core::audit::Actor;
use tessera_core::domain::{AccountId, User};
use tessera_core::legacy::migration::{migrate, removable, remove};
use tessera_core::legacy::provision::get_legacy_credential;
use tessera_core::legacy::{LegacyCredential, LegacyState};
use tessera_core::oauth::routes;

use super::visit::{back_with, CredentialsPage, Page, Signed, Submitted};
use crate::error::{HttpError, PageError};
use crate::state::AppState;
use crate::views::{when, ConfirmView, LegacyRow, SecretView};

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
        let remove_blocked = match (&ready, c.state) {
            (Ok(()), _) => String::new(),
            (Err(_), LegacyState::Active) => "Migrate first, then test the new credentials.".into(),
            (Err(_), _) => "Test the new OAuth 2.0 credentials (request a token) first.".into(),
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
    .await?;
    let account = c.account_id.to_string();
    Ok(v.render(|nav| SecretView {
        nav,
        title: format!("OAuth 2.0 credentials for {}", c.email.as_str()),
        client_id: migrated.created.client.id.to_string(),
        client_secret: migrated.created.secret.expose().to_owned(),
        token_url: format!("{}{}", app.tokens.issuer, routes::TOKEN),
        back: format!("{HERE}?account={account}"),
    }))
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
    Ok(v.render(|nav| ConfirmView {
        nav,
        title: format!("Remove the legacy credential {}?", c.email.as_str()),
        message: "Basic authentication with this email and password stops working at once. \
                  Your data stays; the migrated OAuth 2.0 credentials keep access to it."
            .into(),
        action: "/settings/legacy/remove".into(),
        fields: vec![("email".into(), c.email.as_str().to_owned())],
        confirm: "Remove Credentials".into(),
        back: format!("{HERE}?account={}", c.account_id),
    }))
}

pub async fn post_remove(
    State(app): State<AppState>,
    Submitted { visit: v, form, .. }: Submitted<CredentialsPage>,
) -> Result<Response, HttpError> {
    let Some(c) = owned(&app, &v.user, form.get("email").unwrap_or("")).await? else {
        return Err(not_found());
    };
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
        Err(e) => Err(e.into()),
    }
}
