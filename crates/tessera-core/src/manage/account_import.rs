//! `tessera account import`: API accounts with the provider's own ids, from a file.
//!
//! Idempotent by external id: a line whose external id exists renames that account if the
//! name differs (`updated`) and otherwise changes nothing (`unchanged`); any other line
//! creates an account. Two steps like the legacy import, so a dry run and a real run decide
//! alike: [`plan_account_import`] reads the store (every account, once) and sorts the rows,
//! [`apply_account_import`] writes the plan in one transaction.

use std::collections::{HashMap, HashSet};

use crate::audit::{record, Actor, AuditAction, AuditEvent, Target};
use crate::domain::{account_name, Account, AccountId, ExternalId};
use crate::error::{ManageError, StoreError};
use crate::import::{ImportCounts, ImportSummary, Rejected};
use crate::store::{AccountStore, Store};
use crate::UnixSeconds;

/// One line of an accounts file, as read (CSV or JSON Lines).
#[derive(Debug, Clone, Default)]
pub struct AccountRow {
    /// 1-based line number in the file.
    pub line: usize,
    pub external_id: String,
    pub name: String,
    /// Set by the reader when the line is not a record at all; it is rejected with this.
    pub unreadable: Option<String>,
}

/// What an import would do.
#[derive(Debug, Default)]
pub struct AccountImportPlan {
    pub new: Vec<Account>,
    /// Existing accounts with the file's name.
    pub updated: Vec<Account>,
    pub unchanged: usize,
    pub rejected: Vec<Rejected>,
}

impl ImportSummary for AccountImportPlan {
    fn counts(&self) -> ImportCounts {
        ImportCounts {
            new: self.new.len(),
            updated: self.updated.len(),
            unchanged: self.unchanged,
        }
    }

    fn rejected(&self) -> &[Rejected] {
        &self.rejected
    }
}

/// Sorts every row; reads the store, writes nothing.
pub async fn plan_account_import(
    store: &dyn AccountStore,
    rows: Vec<AccountRow>,
    now: UnixSeconds,
) -> Result<AccountImportPlan, ManageError> {
    let existing: HashMap<ExternalId, Account> = store
        .list_accounts()
        .await?
        .into_iter()
        .filter_map(|a| Some((a.external_id.clone()?, a)))
        .collect();
    let mut plan = AccountImportPlan::default();
    let mut seen: HashSet<ExternalId> = HashSet::new();
    for row in rows {
        let (line, subject) = (row.line, row.external_id.clone());
        match plan_row(row, &existing, &mut seen, now)? {
            Ok(Planned::New(a)) => plan.new.push(a),
            Ok(Planned::Updated(a)) => plan.updated.push(a),
            Ok(Planned::Unchanged) => plan.unchanged += 1,
            Err(reason) => plan.rejected.push(Rejected {
                line,
                subject,
                reason,
            }),
        }
    }
    Ok(plan)
}

enum Planned {
    New(Account),
    Updated(Account),
    Unchanged,
}

/// The outer error is a failure to make an id; the inner one this line's rejection.
fn plan_row(
    row: AccountRow,
    existing: &HashMap<ExternalId, Account>,
    seen: &mut HashSet<ExternalId>,
    now: UnixSeconds,
) -> Result<Result<Planned, String>, StoreError> {
    if let Some(why) = row.unreadable {
        return Ok(Err(why));
    }
    let external_id = match ExternalId::parse(&row.external_id) {
        Ok(id) => id,
        Err(e) => return Ok(Err(e.to_string())),
    };
    let name = match account_name(&row.name) {
        Ok(name) => name,
        Err(why) => return Ok(Err(why)),
    };
    if !seen.insert(external_id.clone()) {
        return Ok(Err(format!(
            "the external id {:?} appears on an earlier line too",
            external_id.as_str()
        )));
    }
    if let Some(account) = existing.get(&external_id) {
        if account.name == name {
            return Ok(Ok(Planned::Unchanged));
        }
        return Ok(Ok(Planned::Updated(Account {
            name,
            ..account.clone()
        })));
    }
    Ok(Ok(Planned::New(Account {
        id: AccountId::generate().map_err(StoreError::new)?,
        name,
        external_id: Some(external_id),
        created_at: now,
    })))
}

/// Writes the plan in one transaction. Running servers see renamed accounts through the
/// change feed.
pub async fn apply_account_import(
    store: &dyn Store,
    actor: &Actor,
    plan: &AccountImportPlan,
    now: UnixSeconds,
) -> Result<(), ManageError> {
    if plan.new.is_empty() && plan.updated.is_empty() {
        return Ok(());
    }
    let result = if store.import_accounts(&plan.new, &plan.updated, now).await? {
        Ok(())
    } else {
        Err(ManageError::Conflict(
            "another command created or changed an account with one of the file's external \
             ids during the import, so nothing was imported; run the import again"
                .into(),
        ))
    };
    // One event for the file; each account's own history is in the change feed.
    let event = AuditEvent::new(
        now,
        actor,
        AuditAction::AccountsImported,
        Target::new("account", "*"),
    )
    .detail(format!(
        "{} created, {} updated",
        plan.new.len(),
        plan.updated.len()
    ));
    record(store, event, result).await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::testing::{block_on, MemoryStore};

    fn row(line: usize, external_id: &str, name: &str) -> AccountRow {
        AccountRow {
            line,
            external_id: external_id.into(),
            name: name.into(),
            unreadable: None,
        }
    }

    fn store_with(external_id: &str, name: &str) -> MemoryStore {
        let store = MemoryStore::default();
        let old = Account {
            id: AccountId::parse("acct_old").unwrap(),
            name: name.into(),
            external_id: Some(ExternalId::parse(external_id).unwrap()),
            created_at: 1,
        };
        assert!(block_on(store.insert_account(&old)).unwrap());
        store
    }

    fn ops() -> Actor {
        Actor::cli("ops")
    }

    #[test]
    fn lines_sort_into_new_updated_unchanged_and_rejected() {
        let store = store_with("cus_1", "Acme");
        let rows = vec![
            row(2, "cus_1", "Acme"),
            row(3, "cus_2", "Globex"),
            row(4, "cus_3", "  Initech  "),
            AccountRow {
                unreadable: Some("not a JSON object".into()),
                ..row(5, "", "")
            },
        ];
        let plan = block_on(plan_account_import(&store, rows, 100)).unwrap();
        assert_eq!(
            plan.counts(),
            ImportCounts {
                new: 2,
                updated: 0,
                unchanged: 1
            }
        );
        assert_eq!(plan.new[1].name, "Initech", "names are trimmed");
        assert_eq!(plan.new[0].external_id.as_ref().unwrap().as_str(), "cus_2");
        assert_eq!(plan.new[0].created_at, 100);
        assert_eq!(
            plan.rejected,
            [Rejected {
                line: 5,
                subject: String::new(),
                reason: "not a JSON object".into()
            }]
        );
    }

    #[test]
    fn a_known_external_id_with_another_name_renames_that_account() {
        let store = store_with("cus_1", "Acme");
        let plan = block_on(plan_account_import(
            &store,
            vec![row(2, "cus_1", "Acme Inc")],
            100,
        ))
        .unwrap();
        assert!(plan.new.is_empty());
        assert_eq!(plan.updated.len(), 1);
        let renamed = &plan.updated[0];
        assert_eq!(
            (
                renamed.id.as_str(),
                renamed.name.as_str(),
                renamed.created_at
            ),
            ("acct_old", "Acme Inc", 1)
        );
        block_on(apply_account_import(&store, &ops(), &plan, 100)).unwrap();
        let accounts = block_on(store.list_accounts()).unwrap();
        assert_eq!(accounts, plan.updated);
        let audit = store.audit_events();
        assert_eq!(audit.len(), 1);
        assert_eq!(audit[0].action, AuditAction::AccountsImported);
        assert_eq!(audit[0].detail, "0 created, 1 updated");
    }

    #[test]
    fn should_reject_a_line_saying_why() {
        let store = MemoryStore::default();
        let cases = [
            (
                "because the external id is blank",
                row(2, "  ", "A"),
                "blank",
            ),
            (
                "because the external id has a control character",
                row(2, "a\u{1b}b", "A"),
                "control characters",
            ),
            (
                "because the name is empty",
                row(2, "x", " "),
                "account name",
            ),
        ];
        for (why, bad, expected) in cases {
            let plan = block_on(plan_account_import(&store, vec![bad], 0)).unwrap();
            assert_eq!(plan.rejected.len(), 1, "should reject {why}");
            assert!(
                plan.rejected[0].reason.contains(expected),
                "should reject {why}: {}",
                plan.rejected[0].reason
            );
        }
        let twice = vec![row(2, "cus_9", "A"), row(3, "cus_9", "B")];
        let plan = block_on(plan_account_import(&store, twice, 0)).unwrap();
        assert_eq!(plan.new.len(), 1);
        assert_eq!(plan.rejected[0].line, 3);
        assert!(plan.rejected[0].reason.contains("earlier line"));
    }

    #[test]
    fn an_empty_plan_writes_nothing() {
        let store = store_with("cus_1", "Acme");
        let plan = block_on(plan_account_import(
            &store,
            vec![row(2, "cus_1", "Acme")],
            0,
        ))
        .unwrap();
        block_on(apply_account_import(&store, &ops(), &plan, 0)).unwrap();
        assert!(store.audit_events().is_empty());
    }
}
