//! The applications a user authorized, and taking access back.

use crate::audit::{record, Actor, AuditAction, AuditEvent, Target};
use crate::domain::{normalize_email, User};
use crate::error::ManageError;
use crate::manage::clients::get_client;
use crate::runtime::Caches;
use crate::store::{Authorization, Store};
use crate::UnixSeconds;

pub async fn get_user_by_email(store: &dyn Store, email: &str) -> Result<User, ManageError> {
    let not_found = || ManageError::NotFound(format!("no user with email {email}"));
    let email = normalize_email(email).ok_or_else(not_found)?;
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

/// De-authorizes an application: its consents go and every token it holds for the user
/// dies (at once in this process when `caches` is given, within the sync bound elsewhere).
pub async fn deauthorize(
    store: &dyn Store,
    actor: &Actor,
    caches: Option<&Caches>,
    user: &User,
    client_id: &str,
    max_token_ttl: i64,
    now: UnixSeconds,
) -> Result<usize, ManageError> {
    let result: Result<usize, ManageError> = async {
        let client = get_client(store, client_id).await?;
        let revoked = store.deauthorize(&user.id, &client.id, now).await?;
        if let Some(caches) = caches {
            for set in &revoked {
                caches.remember_revoked_set(set.as_str(), now, max_token_ttl);
            }
        }
        Ok(revoked.len())
    }
    .await;
    let event = match &result {
        Ok(ok) => AuditEvent::new(
            now,
            actor,
            AuditAction::AuthorizationRevoked,
            Target::new(
                "authorization",
                &format!("{}/{client_id}", user.id.as_str()),
            ),
        )
        .detail(format!("{ok} token sets revoked")),
        Err(_) => AuditEvent::new(
            now,
            actor,
            AuditAction::AuthorizationRevoked,
            Target::new(
                "authorization",
                &format!("{}/{client_id}", user.id.as_str()),
            ),
        ),
    };
    record(store, event, result).await
}
