//! The operator's users: the list, and disabling or enabling one after a page that says what
//! that does. The same core call as `tessera user disable` / `enable`.

use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;
use tessera_core::audit::Actor;
use tessera_core::domain::{User, UserId};
use tessera_core::error::ManageError;
use tessera_core::manage::authorizations::get_user;
use tessera_core::manage::users::{list_users, set_found_user_disabled};

use super::operator::operators_only;
use super::visit::{back_with, OperatorUsersPage, Page, Signed, Submitted};
use crate::error::{HttpError, PageError};
use crate::operator_views::{OperatorUsersView, UserRow};
use crate::state::AppState;
use crate::views::{when, ConfirmView};

const HERE: &str = OperatorUsersPage::HERE;

const NO_SUCH_USER: PageError = PageError::NotFound("There is no such user.");
const NOT_YOURSELF: PageError =
    PageError::Blocked("You cannot disable your own user; another operator can.");

pub async fn get_users(
    State(app): State<AppState>,
    Signed { visit: v, .. }: Signed<OperatorUsersPage>,
) -> Result<Response, HttpError> {
    operators_only(v.user.operator)?;
    let users = list_users(app.store.as_ref()).await?;
    let users = users
        .into_iter()
        .map(|u| UserRow {
            is_you: u.id == v.user.id,
            id: u.id.to_string(),
            email: u.email,
            name: u.name.unwrap_or_default(),
            operator: u.operator,
            accounts: u.accounts.len(),
            created: when(Some(u.created_at)),
            disabled: u.disabled_at.map(|at| when(Some(at))),
        })
        .collect();
    Ok(v.render(|nav| OperatorUsersView {
        nav,
        tab: "users",
        users,
    }))
}

#[derive(Deserialize)]
pub struct AccessQuery {
    user_id: String,
    disabled: Option<String>,
}

/// The confirmation: what disabling (or enabling) the user does, and one button.
pub async fn get_user_access(
    State(app): State<AppState>,
    Query(q): Query<AccessQuery>,
    Signed { visit: v, .. }: Signed<OperatorUsersPage>,
) -> Result<Response, HttpError> {
    operators_only(v.user.operator)?;
    let disable = q.disabled.as_deref() != Some("false");
    let user = target(&app, &q.user_id, &v.user.id, disable).await?;
    let (title, message, confirm) = if disable {
        (
            format!("Disable {}?", user.email),
            "They can no longer sign in. Their browser sessions end now, the codes and \
             device approvals they have not used yet are spent, and every token set of the \
             applications they authorized is revoked. Enabling them later gives back the \
             sign-in only."
                .to_owned(),
            "Disable user",
        )
    } else {
        (
            format!("Enable {}?", user.email),
            "They can sign in again. Tokens revoked when they were disabled stay revoked: \
             their applications ask them to authorize again."
                .to_owned(),
            "Enable user",
        )
    };
    Ok(v.render(|nav| ConfirmView {
        nav,
        title,
        message,
        action: "/settings/operator/user-access".into(),
        fields: vec![
            ("user_id".into(), user.id.to_string()),
            ("disabled".into(), disable.to_string()),
        ],
        confirm: confirm.into(),
        back: HERE.into(),
    }))
}

pub async fn post_user_access(
    State(app): State<AppState>,
    Submitted { visit: v, form, .. }: Submitted<OperatorUsersPage>,
) -> Result<Response, HttpError> {
    operators_only(v.user.operator)?;
    let disable = form.get("disabled") == Some("true");
    let user = target(&app, form.get("user_id").unwrap_or(""), &v.user.id, disable).await?;
    let (user, revoked) = set_found_user_disabled(
        app.store.as_ref(),
        &Actor::user(&v.user.id),
        Some(&app.caches),
        user,
        disable,
        app.tokens.max_ttl(),
        app.clock.now(),
    )
    .await?;
    let notice = if disable {
        format!(
            "{} is disabled: signed out, and {revoked} token set{} revoked.",
            user.email,
            if revoked == 1 { "" } else { "s" }
        )
    } else {
        format!("{} can sign in again.", user.email)
    };
    Ok(back_with(HERE, &notice))
}

/// The user `id` names (an id or an email address, as the CLI takes): 404 when there is
/// none, 409 when the operator `me` would disable themselves.
async fn target(app: &AppState, id: &str, me: &UserId, disable: bool) -> Result<User, HttpError> {
    let user = match get_user(app.store.as_ref(), id).await {
        Ok(user) => user,
        Err(ManageError::NotFound(_)) => return Err(NO_SUCH_USER.into()),
        Err(e) => return Err(e.into()),
    };
    if disable && user.id == *me {
        return Err(NOT_YOURSELF.into());
    }
    Ok(user)
}
