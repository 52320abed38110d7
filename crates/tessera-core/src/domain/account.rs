//! API accounts: the owners of data in the provider's API.

use super::external_id::ExternalId;
use super::ids::AccountId;
use crate::UnixSeconds;

/// The most characters an account name may have.
pub const MAX_NAME_LEN: usize = 200;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: AccountId,
    pub name: String,
    /// The provider's own id of the account, unique among accounts; see [`ExternalId`].
    pub external_id: Option<ExternalId>,
    pub created_at: UnixSeconds,
}

impl Account {
    /// What the provider's API calls this account: its external id when it has one, else
    /// Tessera's id. The gateway's `Tessera-Account` header.
    pub fn upstream_id(&self) -> &str {
        self.external_id
            .as_ref()
            .map_or(self.id.as_str(), ExternalId::as_str)
    }
}

/// A display name: trimmed, 1 to 200 characters, no control characters.
pub fn account_name(raw: &str) -> Result<String, String> {
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_LEN {
        return Err(format!(
            "an account name must be 1 to {MAX_NAME_LEN} characters"
        ));
    }
    if name.chars().any(char::is_control) {
        return Err("an account name must not contain control characters".into());
    }
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_upstream_sees_the_external_id_when_there_is_one() {
        let mut a = Account {
            id: AccountId::parse("acct_1").unwrap(),
            name: "Acme".into(),
            external_id: None,
            created_at: 0,
        };
        assert_eq!(a.upstream_id(), "acct_1");
        a.external_id = Some(ExternalId::parse("cus_42").unwrap());
        assert_eq!(a.upstream_id(), "cus_42");
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(account_name("  Acme Corp ").unwrap(), "Acme Corp");
        assert_eq!(account_name(&"é".repeat(200)).unwrap().chars().count(), 200);
        assert!(account_name(&"é".repeat(201)).is_err());
        assert!(account_name("   ").is_err());
        assert!(account_name("Acme\nCorp").is_err());
    }
}
