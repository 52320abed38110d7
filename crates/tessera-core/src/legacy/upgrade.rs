//! Upgrade on use: an imported hash (bcrypt, PBKDF2, …) is replaced by an argon2id hash
//! of the same password the first time that password is verified against it, so imported
//! credentials end up with Tessera's own hash without anyone choosing a new password.

use super::basic::PasswordVerifier;
use super::credential::LegacyCredential;
use super::provision::event;
use crate::audit::{Actor, AuditAction};
use crate::domain::password::Password;
use crate::store::LegacyStore;
use crate::UnixSeconds;

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
    let audit = event(
        credential,
        &Actor::system(),
        AuditAction::HashUpgraded,
        now,
        &format!("hash upgraded from {from}"),
    );
    if let Err(err) = store
        .update_legacy_password(&credential.id, &hash, &audit)
        .await
    {
        tracing::warn!(error = %err, "storing an upgraded password hash failed");
    }
}
