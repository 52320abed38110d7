//! Upgrade on use: an imported hash (bcrypt, PBKDF2, …) is replaced by an argon2id hash
//! of the same password the first time that password is verified against it, so imported
//! credentials end up with Tessera's own hash without anyone choosing a new password.

use super::audit::{AuditAction, AuditEvent};
use super::basic::PasswordVerifier;
use super::credential::LegacyCredential;
use crate::domain::password::Password;
use crate::store::LegacyStore;
use crate::UnixSeconds;

/// Who the audit log names for an upgrade: the server, on a Basic request.
pub const UPGRADE_ACTOR: &str = "basic-auth";

/// Rehashes `password` (just verified against `credential`'s imported hash) with the
/// configured argon2id cost and stores it. Best effort: the request already succeeded,
/// so a failure is logged and the next successful login tries again.
pub async fn upgrade_imported_hash(
    store: &dyn LegacyStore,
    verifier: &dyn PasswordVerifier,
    credential: &LegacyCredential,
    password: Password,
    now: UnixSeconds,
) {
    let Some(from) = credential.password_hash.as_ref().map(|h| h.family()) else {
        return;
    };
    let Some(hash) = verifier.rehash(password).await else {
        tracing::warn!(credential = %credential.id.as_str(), "rehashing an imported password failed");
        return;
    };
    let audit = AuditEvent {
        at: now,
        actor: UPGRADE_ACTOR.to_owned(),
        action: AuditAction::HashUpgraded,
        credential_id: Some(credential.id.clone()),
        account_id: Some(credential.account_id.clone()),
        client_id: credential.migrated_client_id.clone(),
        detail: format!("hash upgraded from {from}"),
    };
    if let Err(err) = store
        .update_legacy_password(&credential.id, &hash, &audit)
        .await
    {
        tracing::warn!(error = %err, "storing an upgraded password hash failed");
    }
}
