//! The audit log of legacy credentials: who did what to which credential, and when. Never
//! a password, a hash or a client secret.

use crate::domain::{AccountId, ClientId, LegacyId};
use crate::UnixSeconds;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditAction {
    LegacyCreated,
    PasswordChanged,
    LegacyMigrated,
    LegacyRemoved,
    /// A removal asked for too early (before migration or before the new client's first
    /// token): recorded so the operator sees attempts, not only successes.
    LegacyRemovalRefused,
    /// Created by `tessera legacy import` with a hash made by another system.
    LegacyImported,
    /// An imported hash replaced by argon2id at its first successful login.
    HashUpgraded,
}

impl AuditAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::LegacyCreated => "legacy.created",
            Self::PasswordChanged => "legacy.password_changed",
            Self::LegacyMigrated => "legacy.migrated",
            Self::LegacyRemoved => "legacy.removed",
            Self::LegacyRemovalRefused => "legacy.removal_refused",
            Self::LegacyImported => "legacy.imported",
            Self::HashUpgraded => "legacy.hash_upgraded",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [
            Self::LegacyCreated,
            Self::PasswordChanged,
            Self::LegacyMigrated,
            Self::LegacyRemoved,
            Self::LegacyRemovalRefused,
            Self::LegacyImported,
            Self::HashUpgraded,
        ]
        .into_iter()
        .find(|a| a.as_str() == raw)
    }
}

/// One audit record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    pub at: UnixSeconds,
    /// Who: `cli:<os user>` from the command line, a dashboard user later.
    pub actor: String,
    pub action: AuditAction,
    pub credential_id: Option<LegacyId>,
    pub account_id: Option<AccountId>,
    pub client_id: Option<ClientId>,
    /// Words for people (e.g. why a removal was refused); never a secret.
    pub detail: String,
}
