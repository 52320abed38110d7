//! API accounts: creating and changing them, and [`get_account`], the one way every command
//! turns what the operator typed (`acct_…` or `ext:<external id>`) into an account.

use std::collections::HashMap;

use crate::audit::{record, Actor, AuditAction, AuditEvent, Target};
use crate::domain::{account_name, Account, AccountId, ExternalId};
use crate::error::{ManageError, StoreError};
use crate::store::{AccountStore, AccountUpdate, Store};
use crate::UnixSeconds;

/// How an operator names an account: the prefix of the external-id form.
pub const EXTERNAL_PREFIX: &str = "ext:";

/// An account as named on the command line or in an import file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountRef {
    /// Tessera's id (`acct_…`, or an id imported from elsewhere).
    Id(AccountId),
    /// `ext:<external id>`: the provider's own id.
    External(ExternalId),
}

impl AccountRef {
    /// `ext:<external id>`, or else an account id. The message says what is wrong.
    pub fn parse(raw: &str) -> Result<Self, String> {
        if let Some(ext) = raw.strip_prefix(EXTERNAL_PREFIX) {
            return ExternalId::parse(ext)
                .map(Self::External)
                .map_err(|e| format!("{raw:?}: {e}"));
        }
        AccountId::parse(raw.trim()).map(Self::Id).ok_or_else(|| {
            format!("{raw:?} is not an account: use its id (acct_…) or ext:<external id>")
        })
    }
}

impl std::fmt::Display for AccountRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Id(id) => write!(f, "{id}"),
            Self::External(ext) => write!(f, "{EXTERNAL_PREFIX}{}", ext.as_str()),
        }
    }
}

/// Creates an account, with the provider's id when given. A taken external id is a
/// `Conflict` that names the account holding it.
pub async fn create_account(
    store: &dyn Store,
    actor: &Actor,
    name: &str,
    external_id: Option<&str>,
    now: UnixSeconds,
) -> Result<Account, ManageError> {
    let result: Result<Account, ManageError> = async {
        let name = account_name(name).map_err(ManageError::Invalid)?;
        let external_id = external_id.map(parse_external_id).transpose()?;
        let account = Account {
            id: AccountId::generate().map_err(StoreError::new)?,
            name,
            external_id,
            created_at: now,
        };
        if !store.insert_account(&account).await? {
            return Err(taken(store, account.external_id.as_ref()).await);
        }
        Ok(account)
    }
    .await;
    let event = match &result {
        Ok(a) => AuditEvent::new(now, actor, AuditAction::AccountCreated, account_target(a))
            .account(&a.id)
            .detail(match a.external_id.as_ref() {
                Some(ext) => format!("external id {:?}", ext.as_str()),
                None => String::new(),
            }),
        Err(_) => AuditEvent::new(
            now,
            actor,
            AuditAction::AccountCreated,
            Target::new("account", external_id.unwrap_or(name)),
        ),
    };
    record(store, event, result).await
}

/// An account as the audit log names it: by its id, which never changes.
fn account_target(a: &Account) -> Target {
    Target::new("account", a.id.as_str())
}

/// What `tessera account update` changes; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct AccountChanges<'a> {
    pub name: Option<&'a str>,
    /// `Some(None)` removes the external id.
    pub external_id: Option<Option<&'a str>>,
}

/// Renames an account or sets, changes or removes its external id. Running servers see the
/// change through the change feed (the gateway's `Tessera-Account` follows it).
pub async fn update_account(
    store: &dyn Store,
    actor: &Actor,
    account: &str,
    changes: AccountChanges<'_>,
    now: UnixSeconds,
) -> Result<Account, ManageError> {
    let result: Result<Account, ManageError> = async {
        let mut updated = get_account(store, account).await?;
        if let Some(name) = changes.name {
            updated.name = account_name(name).map_err(ManageError::Invalid)?;
        }
        if let Some(external_id) = changes.external_id {
            updated.external_id = external_id.map(parse_external_id).transpose()?;
        }
        match store.update_account(&updated, now).await? {
            AccountUpdate::Updated => Ok(updated),
            AccountUpdate::NotFound => Err(not_found(&AccountRef::Id(updated.id))),
            AccountUpdate::ExternalIdTaken => Err(taken(store, updated.external_id.as_ref()).await),
        }
    }
    .await;
    let event = match &result {
        Ok(a) => AuditEvent::new(now, actor, AuditAction::AccountUpdated, account_target(a))
            .account(&a.id)
            .detail(match a.external_id.as_ref() {
                Some(ext) => format!("name and external id now {:?}, {:?}", a.name, ext.as_str()),
                None => format!("name now {:?}, no external id", a.name),
            }),
        Err(_) => AuditEvent::new(
            now,
            actor,
            AuditAction::AccountUpdated,
            Target::new("account", account),
        ),
    };
    record(store, event, result).await
}

/// The account `raw` names (`acct_…` or `ext:<external id>`), or `NotFound`/`Invalid` with
/// a message that says what to do. Every command that takes an account resolves it here.
pub async fn get_account(store: &dyn AccountStore, raw: &str) -> Result<Account, ManageError> {
    let reference =
        AccountRef::parse(raw).map_err(|why| match raw.strip_prefix(EXTERNAL_PREFIX) {
            Some(_) => ManageError::Invalid(why),
            // Not even an id: no account can have it.
            None => not_found_raw(raw),
        })?;
    find_account(store, &reference)
        .await?
        .ok_or_else(|| not_found(&reference))
}

/// [`get_account`] for many references at once (an import file's `account` column): each
/// distinct one resolved to its account or to the message `get_account` would fail with,
/// in two batched store reads (ids, external ids) however many there are.
pub async fn resolve_accounts<'a>(
    store: &dyn AccountStore,
    raws: impl IntoIterator<Item = &'a str>,
) -> Result<HashMap<String, Result<Account, String>>, StoreError> {
    let mut parsed: HashMap<String, Result<AccountRef, String>> = HashMap::new();
    for raw in raws {
        if !parsed.contains_key(raw) {
            let reference = AccountRef::parse(raw).map_err(|why| {
                match raw.strip_prefix(EXTERNAL_PREFIX) {
                    Some(_) => ManageError::Invalid(why),
                    None => not_found_raw(raw),
                }
                .to_string()
            });
            parsed.insert(raw.to_owned(), reference);
        }
    }
    let (mut ids, mut externals) = (Vec::new(), Vec::new());
    for reference in parsed.values().flatten() {
        match reference {
            AccountRef::Id(id) => ids.push(id.clone()),
            AccountRef::External(ext) => externals.push(ext.clone()),
        }
    }
    let by_id: HashMap<AccountId, Account> = store
        .find_accounts(&ids)
        .await?
        .into_iter()
        .map(|a| (a.id.clone(), a))
        .collect();
    let by_external: HashMap<ExternalId, Account> = store
        .find_accounts_by_external_ids(&externals)
        .await?
        .into_iter()
        .filter_map(|a| Some((a.external_id.clone()?, a)))
        .collect();
    Ok(parsed
        .into_iter()
        .map(|(raw, reference)| {
            let resolved = reference.and_then(|reference| {
                let found = match &reference {
                    AccountRef::Id(id) => by_id.get(id),
                    AccountRef::External(ext) => by_external.get(ext),
                };
                found
                    .cloned()
                    .ok_or_else(|| not_found(&reference).to_string())
            });
            (raw, resolved)
        })
        .collect())
}

/// The account a parsed reference names, if any.
pub async fn find_account(
    store: &dyn AccountStore,
    reference: &AccountRef,
) -> Result<Option<Account>, StoreError> {
    match reference {
        AccountRef::Id(id) => store.find_account(id).await,
        AccountRef::External(ext) => store.find_account_by_external_id(ext).await,
    }
}

fn parse_external_id(raw: &str) -> Result<ExternalId, ManageError> {
    ExternalId::parse(raw).map_err(|e| ManageError::Invalid(format!("--external-id {raw:?}: {e}")))
}

fn not_found(reference: &AccountRef) -> ManageError {
    match reference {
        AccountRef::Id(id) => not_found_raw(id.as_str()),
        AccountRef::External(ext) => ManageError::NotFound(format!(
            "no API account has the external id {:?}; `tessera account list` shows the \
             existing ones",
            ext.as_str()
        )),
    }
}

fn not_found_raw(raw: &str) -> ManageError {
    ManageError::NotFound(format!(
        "no API account {raw}; `tessera account list` shows the existing ones"
    ))
}

/// The refusal of a taken external id, naming its holder.
async fn taken(store: &dyn AccountStore, external_id: Option<&ExternalId>) -> ManageError {
    let Some(ext) = external_id else {
        return ManageError::Conflict("the account could not be stored".into());
    };
    let holder = match store.find_account_by_external_id(ext).await {
        Ok(Some(a)) => format!(" ({}, {})", a.id, a.name),
        _ => String::new(),
    };
    ManageError::Conflict(format!(
        "the external id {:?} already belongs to another API account{holder}",
        ext.as_str()
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn references_are_ids_or_ext_prefixed_external_ids() {
        assert_eq!(
            AccountRef::parse("acct_1").unwrap(),
            AccountRef::Id(AccountId::parse("acct_1").unwrap())
        );
        assert_eq!(
            AccountRef::parse("ext:cus 42").unwrap(),
            AccountRef::External(ExternalId::parse("cus 42").unwrap())
        );
        assert_eq!(
            AccountRef::parse("ext:ext:x").unwrap(),
            AccountRef::External(ExternalId::parse("ext:x").unwrap())
        );
        assert_eq!(
            AccountRef::parse("ext:cus 42").unwrap().to_string(),
            "ext:cus 42"
        );
    }

    #[test]
    fn a_malformed_reference_should_fail_saying_why() {
        let empty = AccountRef::parse("ext:").unwrap_err();
        assert!(empty.contains("must not be empty"), "{empty}");
        let spaced = AccountRef::parse("ext: 42").unwrap_err();
        assert!(spaced.contains("start or end with a space"), "{spaced}");
        let neither = AccountRef::parse("two words").unwrap_err();
        assert!(
            neither.contains("acct_") && neither.contains("ext:"),
            "{neither}"
        );
    }
}
