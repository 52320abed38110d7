//! The applications a user authorized, and taking access back.

use crate::audit::{record, Actor, AuditAction, AuditEvent, Target};
use crate::domain::{normalize_email, ClientId, User, UserId};
use crate::error::ManageError;
use crate::manage::clients::get_client;
use crate::runtime::Caches;
use crate::store::{Authorization, Store};
use crate::UnixSeconds;

/// A user named by their `usr_…` id or their email address.
pub async fn get_user(store: &dyn Store, user: &str) -> Result<User, ManageError> {
    if user.starts_with("usr_") {
        let found = match UserId::parse(user) {
            Some(id) => store.find_user(&id).await?,
            None => None,
        };
        return found.ok_or_else(|| ManageError::NotFound(format!("no user {user}")));
    }
    let not_found = || ManageError::NotFound(format!("no user with email {user}"));
    let email = normalize_email(user).ok_or_else(not_found)?;
    store
        .find_user_by_email(&email)
        .await?
        .ok_or_else(not_found)
}

pub async fn list_authorizations(
    store: &dyn Store,
    user: &User,
) -> Result<Vec<Authorization>, ManageError> {
    Ok(store.list_authorizations(&user.id).await?)
}

/// Whose authorization of which application ends.
pub struct Deauthorization<'a> {
    pub user: &'a User,
    pub client_id: &'a str,
    /// Only the authorization for this API account (one of the user's); `None`: all of them.
    pub account: Option<&'a str>,
}

/// De-authorizes an application: its consents go and every token it holds for the user
/// dies (at once in this process when `caches` is given, within the sync bound elsewhere).
pub async fn deauthorize(
    store: &dyn Store,
    actor: &Actor,
    caches: Option<&Caches>,
    what: Deauthorization<'_>,
    max_token_ttl: i64,
    now: UnixSeconds,
) -> Result<usize, ManageError> {
    let Deauthorization {
        user,
        client_id,
        account,
    } = what;
    let result: Result<usize, ManageError> = async {
        let client = get_client(store, client_id).await?;
        let account = match account {
            Some(raw) => Some(
                user.accounts
                    .iter()
                    .find(|a| a.as_str() == raw)
                    .ok_or_else(|| {
                        ManageError::NotFound(format!("you have no API account {raw}"))
                    })?,
            ),
            None => None,
        };
        let revoked = store
            .deauthorize(&user.id, &client.id, account, now)
            .await?;
        if let Some(caches) = caches {
            for set in &revoked {
                caches.remember_revoked_set(set.as_str(), now, max_token_ttl);
            }
        }
        Ok(revoked.len())
    }
    .await;
    // The user, the application and (when only one) the account: `usr_…/cl_…[/acct_…]`.
    let target = Target::new(
        "authorization",
        &match account {
            Some(a) => format!("{}/{client_id}/{a}", user.id.as_str()),
            None => format!("{}/{client_id}", user.id.as_str()),
        },
    );
    let event = AuditEvent::new(now, actor, AuditAction::AuthorizationRevoked, target);
    let event = match (&result, ClientId::parse(client_id)) {
        (Ok(n), Some(id)) => event.client(&id).detail(format!("{n} token sets revoked")),
        _ => event,
    };
    record(store, event, result).await
}
