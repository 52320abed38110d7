//! Users (humans who sign in).

use crate::audit::{record, Actor, AuditAction, AuditEvent, Target};
use crate::domain::{normalize_email, User, UserId};
use crate::error::{ManageError, StoreError};
use crate::manage::accounts::get_account;
use crate::runtime::Caches;
use crate::store::Store;
use crate::UnixSeconds;

pub struct NewUser<'a> {
    pub email: &'a str,
    /// The display name (OpenID Connect's `name` claim).
    pub name: Option<&'a str>,
    /// The operator vouches for the email address (`email_verified`).
    pub email_verified: bool,
    pub accounts: &'a [String],
    pub operator: bool,
    /// The argon2id PHC string of the password (hash it off the async executor).
    pub password_hash: String,
}

/// Checks a new password against the minimum we accept.
pub fn check_password_strength(password: &str) -> Result<(), ManageError> {
    if password.chars().count() < 10 {
        return Err(ManageError::Invalid(
            "a password must be at least 10 characters".into(),
        ));
    }
    Ok(())
}

pub async fn create_user(
    store: &dyn Store,
    actor: &Actor,
    new: NewUser<'_>,
    now: UnixSeconds,
) -> Result<User, ManageError> {
    let result: Result<User, ManageError> = async {
        let email = normalize_email(new.email).ok_or_else(|| {
            ManageError::Invalid(format!("{:?} is not an email address", new.email))
        })?;
        let name = new.name.map(str::trim).filter(|n| !n.is_empty());
        if let Some(name) = name {
            if name.chars().count() > 200 || name.chars().any(char::is_control) {
                return Err(ManageError::Invalid(
                    "a name is at most 200 characters, without control characters".into(),
                ));
            }
        }
        let mut accounts = Vec::with_capacity(new.accounts.len());
        for id in new.accounts {
            accounts.push(get_account(store, id).await?.id);
        }
        let user = User {
            id: UserId::generate().map_err(StoreError::new)?,
            email,
            name: name.map(str::to_owned),
            email_verified: new.email_verified,
            password_hash: new.password_hash,
            accounts,
            operator: new.operator,
            created_at: now,
            disabled_at: None,
        };
        if !store.insert_user(&user).await? {
            return Err(ManageError::Conflict(format!(
                "a user with email {} exists already",
                user.email
            )));
        }
        Ok(user)
    }
    .await;
    let event = match &result {
        Ok(ok) => AuditEvent::new(
            now,
            actor,
            AuditAction::UserCreated,
            Target::new("user", ok.id.as_str()),
        )
        .detail(format!(
            "{} account(s){}",
            ok.accounts.len(),
            if ok.operator { ", operator" } else { "" }
        )),
        Err(_) => AuditEvent::new(
            now,
            actor,
            AuditAction::UserCreated,
            Target::new("user", "-"),
        ),
    };
    record(store, event, result).await
}

/// Every user, by email.
pub async fn list_users(store: &dyn Store) -> Result<Vec<User>, ManageError> {
    Ok(store.list_users().await?)
}

/// Gives the user (by email or id) a new password, already hashed and checked with
/// [`check_password_strength`]. Every browser session of theirs ends with it, so a reset
/// after a suspected compromise also signs out whoever used the old password; tokens of the
/// applications they authorized stay (`user deauthorize` ends those).
pub async fn set_password(
    store: &dyn Store,
    actor: &Actor,
    user: &str,
    password_hash: String,
    now: UnixSeconds,
) -> Result<User, ManageError> {
    let result: Result<User, ManageError> = async {
        let mut found = crate::manage::authorizations::get_user(store, user).await?;
        if !store.set_user_password(&found.id, &password_hash).await? {
            return Err(ManageError::NotFound(format!("no user {user}")));
        }
        found.password_hash = password_hash;
        Ok(found)
    }
    .await;
    let target = match &result {
        Ok(user) => Target::new("user", user.id.as_str()),
        Err(_) => Target::new("user", "-"),
    };
    let event =
        AuditEvent::new(now, actor, AuditAction::UserPasswordSet, target).detail("sessions ended");
    record(store, event, result).await
}

/// Disables the user (by email or id), or enables them again. A disabled user cannot sign in;
/// disabling also ends their sessions, spends their pending codes and device approvals and
/// revokes every token set of theirs (at once in this process when `caches` is given,
/// within the sync bound elsewhere). Enabling gives back the sign-in only: revoked tokens
/// stay revoked. Returns the user and how many token sets were revoked.
pub async fn set_disabled(
    store: &dyn Store,
    actor: &Actor,
    caches: Option<&Caches>,
    user: &str,
    disabled: bool,
    max_token_ttl: i64,
    now: UnixSeconds,
) -> Result<(User, usize), ManageError> {
    let found = crate::manage::authorizations::get_user(store, user).await;
    change_access(store, actor, caches, found, disabled, max_token_ttl, now).await
}

/// [`set_disabled`] for a user the caller has already read (the Settings Center checks who
/// it is first); the store is not asked for them again.
pub async fn set_found_user_disabled(
    store: &dyn Store,
    actor: &Actor,
    caches: Option<&Caches>,
    user: User,
    disabled: bool,
    max_token_ttl: i64,
    now: UnixSeconds,
) -> Result<(User, usize), ManageError> {
    change_access(store, actor, caches, Ok(user), disabled, max_token_ttl, now).await
}

async fn change_access(
    store: &dyn Store,
    actor: &Actor,
    caches: Option<&Caches>,
    found: Result<User, ManageError>,
    disabled: bool,
    max_token_ttl: i64,
    now: UnixSeconds,
) -> Result<(User, usize), ManageError> {
    let result: Result<(User, usize), ManageError> = async {
        let mut found = found?;
        let at = disabled.then_some(now);
        let revoked = store
            .set_user_disabled(&found.id, at)
            .await?
            .ok_or_else(|| ManageError::NotFound(format!("no user {}", found.id)))?;
        if let Some(caches) = caches {
            for set in &revoked {
                caches.remember_revoked_set(set.as_str(), now, max_token_ttl);
            }
        }
        found.disabled_at = at;
        Ok((found, revoked.len()))
    }
    .await;
    let (action, target) = (
        if disabled {
            AuditAction::UserDisabled
        } else {
            AuditAction::UserEnabled
        },
        match &result {
            Ok((user, _)) => Target::new("user", user.id.as_str()),
            Err(_) => Target::new("user", "-"),
        },
    );
    let event = AuditEvent::new(now, actor, action, target);
    let event = match &result {
        Ok((_, n)) if disabled => event.detail(format!("sessions ended, {n} token sets revoked")),
        _ => event,
    };
    record(store, event, result).await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::domain::TokenSetId;
    use crate::store::UserStore;
    use crate::testing::{application, user, World, NOW};

    #[tokio::test]
    async fn disabling_revokes_the_users_live_sets_and_enabling_gives_back_only_sign_in() {
        let world = World::new();
        let app = world.add(application(false, true, None)).await;
        let ada = user(&["acct_a"]);
        let bob = User {
            email: "bob@example.com".into(),
            ..user(&["acct_a"])
        };
        for u in [&ada, &bob] {
            assert!(world.store.insert_user(u).await.unwrap());
        }
        let (mine, _) = world.token_set(&app, &ada, NOW).await;
        let (theirs, _) = world.token_set(&app, &bob, NOW).await;
        let actor = Actor::cli("test");
        let caches = Some(&world.caches);
        let id = ada.id.as_str();

        let (found, revoked) = set_disabled(&world.store, &actor, caches, id, true, 3600, NOW + 1)
            .await
            .unwrap();
        assert_eq!((found.disabled_at, revoked), (Some(NOW + 1), 1));
        assert!(world.caches.revoked_sets.contains(mine.id.as_str()));
        let revoked_at = |set: &TokenSetId| world.store.token_set(set).unwrap().revoked_at;
        assert_eq!(revoked_at(&mine.id), Some(NOW + 1));
        assert_eq!(revoked_at(&theirs.id), None, "another user's set lives");

        let (found, revoked) = set_disabled(&world.store, &actor, caches, id, false, 3600, NOW + 5)
            .await
            .unwrap();
        assert_eq!((found.disabled_at, revoked), (None, 0));
        assert_eq!(revoked_at(&mine.id), Some(NOW + 1), "stays revoked");
        let missing = set_disabled(&world.store, &actor, None, "usr_nobody", true, 3600, NOW).await;
        assert!(matches!(missing, Err(ManageError::NotFound(_))));
    }
}
