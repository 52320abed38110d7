//! API accounts: the owners of data in the provider's API.

use super::ids::AccountId;
use crate::UnixSeconds;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: AccountId,
    pub name: String,
    pub created_at: UnixSeconds,
}
