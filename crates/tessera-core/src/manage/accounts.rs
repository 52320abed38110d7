//! API accounts.

use crate::domain::{Account, AccountId};
use crate::error::{ManageError, StoreError};
use crate::store::AccountStore;
use crate::UnixSeconds;

pub async fn create_account(
    store: &dyn AccountStore,
    name: &str,
    now: UnixSeconds,
) -> Result<Account, ManageError> {
    let name = name.trim();
    if name.is_empty() || name.len() > 200 {
        return Err(ManageError::Invalid(
            "an account name must be 1 to 200 characters".into(),
        ));
    }
    let id = AccountId::generate().map_err(StoreError::new)?;
    let account = Account {
        id,
        name: name.to_owned(),
        created_at: now,
    };
    store.insert_account(&account).await?;
    Ok(account)
}

/// The account, or `NotFound` with a message that says what to do.
pub async fn get_account(store: &dyn AccountStore, id: &str) -> Result<Account, ManageError> {
    let not_found = || {
        ManageError::NotFound(format!(
            "no API account {id}; `tessera account list` shows the existing ones"
        ))
    };
    let id = AccountId::parse(id).ok_or_else(not_found)?;
    store.find_account(&id).await?.ok_or_else(not_found)
}
