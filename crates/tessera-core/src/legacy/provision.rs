//! Creating, listing and re-keying legacy credentials (CLI and dashboard).
//!
//! Hashing is the caller's job ([`super::password::hash_password`], off the async
//! threads); these functions take the finished hash.

use super::credential::{Email, LegacyCredential, LegacyState};
use crate::audit::{Actor, AuditAction, AuditEvent, Target};
use crate::domain::password::PasswordHash;
use crate::domain::LegacyId;
use crate::error::{ManageError, StoreError};
use crate::manage::accounts::get_account;
use crate::store::Store;
use crate::UnixSeconds;

pub struct NewLegacyCredential<'a> {
    pub account_id: &'a str,
    pub email: &'a str,
    pub password_hash: PasswordHash,
}

pub fn parse_email(raw: &str) -> Result<Email, ManageError> {
    Email::parse(raw).ok_or_else(|| {
        ManageError::Invalid(format!(
            "{raw:?} is not an email address usable with HTTP Basic (one @, no spaces or colons)"
        ))
    })
}

#[tracing::instrument(skip_all, fields(actor = %actor))]
pub async fn create_legacy_credential(
    store: &dyn Store,
    new: NewLegacyCredential<'_>,
    actor: &Actor,
    now: UnixSeconds,
) -> Result<LegacyCredential, ManageError> {
    let account = get_account(store, new.account_id).await?;
    let email = parse_email(new.email)?;
    if store.find_legacy_credential(&email).await?.is_some() {
        return Err(ManageError::Conflict(format!(
            "a legacy credential for {email} already exists; `tessera legacy list` shows it"
        )));
    }
    let credential = LegacyCredential {
        id: LegacyId::generate().map_err(StoreError::new)?,
        account_id: account.id,
        email,
        password_hash: Some(new.password_hash),
        state: LegacyState::Active,
        migrated_client_id: None,
        created_at: now,
        updated_at: now,
        migrated_at: None,
        removed_at: None,
        last_used_at: None,
    };
    let audit = event(&credential, actor, AuditAction::LegacyCreated, now, "");
    store.insert_legacy_credential(&credential, &audit).await?;
    Ok(credential)
}

/// The credential with this email that is not removed, or `NotFound` saying what to do.
pub async fn get_legacy_credential(
    store: &dyn Store,
    email: &str,
) -> Result<LegacyCredential, ManageError> {
    let not_found = || {
        ManageError::NotFound(format!(
            "no legacy credential for {email}; `tessera legacy list` shows the existing ones"
        ))
    };
    let email = Email::parse(email).ok_or_else(not_found)?;
    store
        .find_legacy_credential(&email)
        .await?
        .ok_or_else(not_found)
}

/// Replaces the password; Basic with the old one stops working on every server within
/// one change-feed poll (the verification caches drop the credential).
#[tracing::instrument(skip_all, fields(actor = %actor))]
pub async fn change_legacy_password(
    store: &dyn Store,
    email: &str,
    hash: PasswordHash,
    actor: &Actor,
    now: UnixSeconds,
) -> Result<LegacyCredential, ManageError> {
    let mut credential = get_legacy_credential(store, email).await?;
    let audit = event(&credential, actor, AuditAction::PasswordChanged, now, "");
    if !store
        .update_legacy_password(&credential.id, &hash, &audit)
        .await?
    {
        return Err(ManageError::NotFound(format!(
            "the legacy credential for {email} was removed meanwhile"
        )));
    }
    credential.password_hash = Some(hash);
    credential.updated_at = now;
    Ok(credential)
}

/// The audit event of an action on `c`: its credential, account and migrated client.
pub(crate) fn event(
    c: &LegacyCredential,
    actor: &Actor,
    action: AuditAction,
    now: UnixSeconds,
    detail: &str,
) -> AuditEvent {
    let mut e = AuditEvent::new(now, actor, action, Target::new("legacy", c.id.as_str()))
        .credential(&c.id)
        .account(&c.account_id)
        .detail(detail);
    e.client_id = c.migrated_client_id.clone();
    e
}
