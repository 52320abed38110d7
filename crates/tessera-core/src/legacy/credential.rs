//! A legacy credential: the email + password an API account used with HTTP Basic.

use std::fmt;

use crate::domain::password::PasswordHash;
use crate::domain::{AccountId, ClientId, LegacyId};
use crate::UnixSeconds;

/// An email address as the user-id of HTTP Basic (RFC 7617 §2), compared without regard
/// to ASCII case: stored lower-cased.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    /// One `@` with text on both sides, printable, no spaces and no `:` (the Basic
    /// separator, RFC 7617 §2), at most 254 characters (RFC 5321 §4.5.3.1.3).
    pub fn parse(raw: &str) -> Option<Self> {
        let raw = raw.trim();
        let (local, domain) = raw.split_once('@')?;
        let ok = !local.is_empty()
            && !domain.is_empty()
            && !domain.contains('@')
            && raw.len() <= 254
            && raw
                .chars()
                .all(|c| !c.is_control() && !c.is_whitespace() && c != ':');
        ok.then(|| Self(raw.to_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `pad`, so tables can align it with `{:<32}`.
        f.pad(&self.0)
    }
}

/// Where a credential is in its migration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegacyState {
    /// Basic works; no OAuth client yet.
    Active,
    /// An OAuth client exists for the same account; Basic still works until removal.
    Migrated,
    /// Gone: Basic with it is refused. The row stays for the report and the audit log.
    Removed,
}

impl LegacyState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Migrated => "migrated",
            Self::Removed => "removed",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "active" => Some(Self::Active),
            "migrated" => Some(Self::Migrated),
            "removed" => Some(Self::Removed),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyCredential {
    pub id: LegacyId,
    pub account_id: AccountId,
    pub email: Email,
    /// `None` once removed: nothing derived from the password outlives the credential.
    pub password_hash: Option<PasswordHash>,
    pub state: LegacyState,
    /// The credential client created by the migration.
    pub migrated_client_id: Option<ClientId>,
    pub created_at: UnixSeconds,
    pub updated_at: UnixSeconds,
    pub migrated_at: Option<UnixSeconds>,
    pub removed_at: Option<UnixSeconds>,
    /// The last successful Basic request, as of the last usage flush.
    pub last_used_at: Option<UnixSeconds>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_lowercased_and_refuse_colons_and_spaces() {
        assert_eq!(
            Email::parse(" Ops@Acme.Example ").unwrap().as_str(),
            "ops@acme.example"
        );
        for bad in ["", "nobody", "@acme", "ops@", "a b@c", "a:b@c", "a@b@c"] {
            assert!(Email::parse(bad).is_none(), "{bad}");
        }
    }
}
