//! Users: humans who sign in, approve applications, and use the dashboard.

use super::{AccountId, UserId};
use crate::UnixSeconds;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    /// Lower-cased; unique.
    pub email: String,
    pub password_hash: String,
    /// API accounts the user may act on.
    pub accounts: Vec<AccountId>,
    /// Operators approve partner applications and see the migration report.
    pub operator: bool,
    pub created_at: UnixSeconds,
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
