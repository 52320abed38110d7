//! Users: humans who sign in, approve applications, and use the dashboard.

use std::fmt;

use super::ids::{AccountId, UserId};
use crate::UnixSeconds;

/// `Debug` redacts the password hash (an offline guessing target).
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    /// Lower-cased; unique.
    pub email: String,
    /// The display name (OpenID Connect's `name` claim), when the operator gave one.
    pub name: Option<String>,
    /// Whether the operator vouches that `email` is the user's (`email_verified`).
    pub email_verified: bool,
    pub password_hash: String,
    /// API accounts the user may act on.
    pub accounts: Vec<AccountId>,
    /// Operators approve partner applications and see the migration report.
    pub operator: bool,
    pub created_at: UnixSeconds,
    /// When the operator disabled the user (`tessera user disable`): no sign-in until
    /// enabled again.
    pub disabled_at: Option<UnixSeconds>,
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("name", &self.name)
            .field("email_verified", &self.email_verified)
            .field("password_hash", &"[redacted]")
            .field("accounts", &self.accounts)
            .field("operator", &self.operator)
            .field("created_at", &self.created_at)
            .field("disabled_at", &self.disabled_at)
            .finish()
    }
}

/// Normalizes an email address for lookup: trimmed, lower-cased; `None` unless it looks
/// like `local@domain`.
pub fn normalize_email(raw: &str) -> Option<String> {
    let email = raw.trim().to_lowercase();
    let (local, domain) = email.split_once('@')?;
    let ok = !local.is_empty()
        && !domain.is_empty()
        && email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    ok.then_some(email)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_the_password_hash() {
        let user = User {
            id: UserId::parse("usr_1").unwrap(),
            email: "ada@example.com".into(),
            name: None,
            email_verified: false,
            password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
            accounts: Vec::new(),
            operator: false,
            created_at: 0,
            disabled_at: None,
        };
        for shown in [format!("{user:?}"), format!("{user:#?}")] {
            assert!(!shown.contains("argon2id"), "{shown}");
            assert!(!shown.contains("aGFzaA"), "{shown}");
            assert!(
                shown.contains("[redacted]") && shown.contains("ada@example.com"),
                "{shown}"
            );
        }
    }
}
