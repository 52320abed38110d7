//! `tessera legacy import`: legacy credentials from another system, with the password
//! hashes that system made (see `domain::imported_hash`).
//!
//! Three steps, so a dry run and a real run decide the same way and the store is read in
//! bulk, not once per line:
//! 1. [`ImportCheck::add`], line by line as the file is read: what each line says on its
//!    own (email, hash format and cost caps, dates, an email twice), without the store;
//! 2. [`plan_import`]: one batched read of the accounts and of the credentials the lines
//!    name, then every line sorted into new, updated (same email and account, another
//!    hash), unchanged or rejected, in memory;
//! 3. [`apply_import`]: the plan written in one transaction.
//!
//! Rejection reasons name the line and the problem, never the hash.

use std::collections::{HashMap, HashSet};

use super::credential::{Email, LegacyCredential, LegacyState};
use super::provision::event;
use crate::audit::{Actor, AuditAction};
use crate::domain::password::PasswordHash;
use crate::domain::{AccountId, LegacyId};
use crate::error::{ManageError, StoreError};
use crate::import::{ImportCounts, ImportSummary, Rejected};
use crate::manage::accounts::resolve_accounts;
use crate::rfc3339::parse_rfc3339;
use crate::store::{Progress, Store};
use crate::UnixSeconds;

/// One line of an import file, as read (CSV or JSON Lines).
#[derive(Clone, Default)]
pub struct ImportRow {
    /// 1-based line number in the file.
    pub line: usize,
    pub email: String,
    pub account: String,
    pub password_hash: String,
    pub created_at: Option<String>,
    pub last_used_at: Option<String>,
    /// Set by the reader when the line is not a record at all; it is rejected with this.
    pub unreadable: Option<String>,
}

/// A line whose own fields are valid; whether its account exists and what its email
/// already holds is for [`plan_import`] to find out.
struct CheckedRow {
    line: usize,
    email: Email,
    /// As written in the file (`acct_…` or `ext:<external id>`), trimmed; resolved in
    /// bulk by [`plan_import`].
    account: String,
    hash: PasswordHash,
    created_at: Option<UnixSeconds>,
    last_used_at: Option<UnixSeconds>,
}

/// The first step: every line checked on its own, as the file is read. Holds the parsed
/// lines (not the raw text) until [`plan_import`].
#[derive(Default)]
pub struct ImportCheck {
    rows: Vec<CheckedRow>,
    rejected: Vec<Rejected>,
    seen: HashSet<Email>,
}

impl ImportCheck {
    pub fn new() -> Self {
        Self::default()
    }

    /// Checks one line and keeps it, or its rejection.
    pub fn add(&mut self, row: ImportRow) {
        let (line, raw_email) = (row.line, row.email.clone());
        match self.check(row) {
            Ok(checked) => self.rows.push(checked),
            Err(reason) => self.rejected.push(Rejected {
                line,
                subject: raw_email,
                reason,
            }),
        }
    }

    fn check(&mut self, row: ImportRow) -> Result<CheckedRow, String> {
        if let Some(why) = row.unreadable {
            return Err(why);
        }
        let email = Email::parse(&row.email)
            .ok_or("not an email address usable with HTTP Basic (one @, no spaces or colons)")?;
        if !self.seen.insert(email.clone()) {
            return Err(format!("{email} appears on an earlier line too"));
        }
        let hash =
            PasswordHash::parse_imported(row.password_hash.trim()).map_err(|r| r.to_string())?;
        let time = |name: &str, raw: &Option<String>| match raw.as_deref().map(str::trim) {
            None | Some("") => Ok(None),
            Some(t) => parse_rfc3339(t)
                .map(Some)
                .ok_or_else(|| format!("{name} is not an RFC 3339 date-time")),
        };
        Ok(CheckedRow {
            line: row.line,
            email,
            account: row.account.trim().to_owned(),
            hash,
            created_at: time("created_at", &row.created_at)?,
            last_used_at: time("last_used_at", &row.last_used_at)?,
        })
    }

    /// Lines checked so far, rejected ones included.
    pub fn lines(&self) -> usize {
        self.rows.len() + self.rejected.len()
    }
}

/// What an import would do.
#[derive(Debug, Default)]
pub struct ImportPlan {
    pub new: Vec<LegacyCredential>,
    /// Existing credentials of the same account whose hash the file replaces.
    pub updated: Vec<(LegacyCredential, PasswordHash)>,
    pub unchanged: usize,
    /// In line order.
    pub rejected: Vec<Rejected>,
}

impl ImportSummary for ImportPlan {
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

/// Sorts every checked line; reads the store in batches (the accounts and the credentials
/// the lines name), writes nothing.
pub async fn plan_import(
    store: &dyn Store,
    check: ImportCheck,
    now: UnixSeconds,
) -> Result<ImportPlan, ManageError> {
    let ImportCheck {
        rows,
        mut rejected,
        seen,
    } = check;
    drop(seen);
    // `acct_…` or `ext:<external id>`, resolved like every account the CLI takes.
    let accounts = resolve_accounts(store, rows.iter().map(|r| r.account.as_str())).await?;
    let emails: Vec<Email> = rows.iter().map(|r| r.email.clone()).collect();
    let mut existing: HashMap<Email, LegacyCredential> = store
        .find_legacy_credentials(&emails)
        .await?
        .into_iter()
        .map(|c| (c.email.clone(), c))
        .collect();
    drop(emails);
    let mut plan = ImportPlan::default();
    for row in rows {
        let account = match accounts.get(&row.account) {
            Some(Ok(account)) => account.id.clone(),
            Some(Err(reason)) => {
                rejected.push(Rejected {
                    line: row.line,
                    subject: row.email.to_string(),
                    reason: reason.clone(),
                });
                continue;
            }
            // Every row's account was resolved above.
            None => return Err(StoreError::new("an account reference went unresolved").into()),
        };
        let (line, email) = (row.line, row.email.to_string());
        let found = existing.remove(&row.email);
        match decide(row, account, found, now)? {
            Ok(Planned::New(c)) => plan.new.push(*c),
            Ok(Planned::Updated(c, h)) => plan.updated.push((*c, h)),
            Ok(Planned::Unchanged) => plan.unchanged += 1,
            Err(reason) => rejected.push(Rejected {
                line,
                subject: email,
                reason,
            }),
        }
    }
    rejected.sort_by_key(|r| r.line);
    plan.rejected = rejected;
    Ok(plan)
}

enum Planned {
    New(Box<LegacyCredential>),
    Updated(Box<LegacyCredential>, PasswordHash),
    Unchanged,
}

/// What one line does, given the live credential its email already has (if any). The
/// outer error is an internal failure; the inner one a rejection reason for this line.
fn decide(
    row: CheckedRow,
    account_id: AccountId,
    existing: Option<LegacyCredential>,
    now: UnixSeconds,
) -> Result<Result<Planned, String>, StoreError> {
    let CheckedRow {
        email,
        hash,
        created_at,
        last_used_at,
        ..
    } = row;
    if let Some(existing) = existing {
        if existing.account_id != account_id {
            // Never a silent move between accounts.
            return Ok(Err(format!(
                "{email} already belongs to account {}",
                existing.account_id
            )));
        }
        let stored = existing.password_hash.as_ref();
        // Once Tessera holds its own hash (upgraded at a login, or set with `legacy
        // password`), a file's older foreign hash does not replace it: re-running an
        // import after users logged in changes nothing.
        let upgraded = stored.is_some_and(|h| !h.needs_upgrade()) && hash.needs_upgrade();
        if stored == Some(&hash) || upgraded {
            return Ok(Ok(Planned::Unchanged));
        }
        return Ok(Ok(Planned::Updated(Box::new(existing), hash)));
    }
    Ok(Ok(Planned::New(Box::new(LegacyCredential {
        id: LegacyId::generate().map_err(StoreError::new)?,
        account_id,
        email,
        password_hash: Some(hash),
        state: LegacyState::Active,
        migrated_client_id: None,
        created_at: created_at.unwrap_or(now),
        updated_at: now,
        migrated_at: None,
        removed_at: None,
        last_used_at,
    }))))
}

/// Writes the plan's new and updated credentials in one transaction, one audit event
/// each (naming the hash family, never the hash); `progress` hears how many are written.
/// Running servers see them through the change feed.
pub async fn apply_import(
    store: &dyn Store,
    plan: ImportPlan,
    actor: &Actor,
    now: UnixSeconds,
    progress: Progress<'_>,
) -> Result<(), ManageError> {
    let new: Vec<_> = plan
        .new
        .into_iter()
        .map(|c| {
            let family = c
                .password_hash
                .as_ref()
                .map_or("none", |h| h.family().name());
            let detail = format!("imported ({family} hash)");
            let audit = event(&c, actor, AuditAction::LegacyImported, now, &detail);
            (c, audit)
        })
        .collect();
    let rehashed: Vec<_> = plan
        .updated
        .into_iter()
        .map(|(c, hash)| {
            let detail = format!("hash replaced by import ({} hash)", hash.family());
            let audit = event(&c, actor, AuditAction::LegacyImported, now, &detail);
            (c.id, hash, audit)
        })
        .collect();
    if new.is_empty() && rehashed.is_empty() {
        return Ok(());
    }
    store
        .import_legacy_credentials(&new, &rehashed, progress)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const BCRYPT: &str = "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW";

    fn row(line: usize, email: &str, hash: &str) -> ImportRow {
        ImportRow {
            line,
            email: email.into(),
            account: " acct_whatever ".into(),
            password_hash: hash.into(),
            ..ImportRow::default()
        }
    }

    #[test]
    fn each_line_is_checked_on_its_own_before_the_store_is_read() {
        let mut dated = row(6, "dated@acme.example", BCRYPT);
        dated.created_at = Some("yesterday".into());
        let cases: [(&str, ImportRow, Option<&str>); 6] = [
            (
                "should keep a valid line",
                row(1, "Ops@Acme.example", BCRYPT),
                None,
            ),
            (
                "should fail because the email has no @",
                row(2, "ops.acme.example", BCRYPT),
                Some("not an email address"),
            ),
            (
                "should fail because the email (any case) is on an earlier line",
                row(3, "OPS@acme.example", BCRYPT),
                Some("ops@acme.example appears on an earlier line too"),
            ),
            (
                "should fail because the hash is an unsalted digest",
                row(4, "md5@acme.example", "5f4dcc3b5aa765d61d8327deb882cf99"),
                Some("unsalted"),
            ),
            (
                "should fail because the bcrypt cost is over the cap",
                row(5, "slow@acme.example", &BCRYPT.replace("$05$", "$20$")),
                Some("the bcrypt cost of 20 is above Tessera's cap of 15"),
            ),
            (
                "should fail because created_at is not RFC 3339",
                dated,
                Some("created_at is not an RFC 3339 date-time"),
            ),
        ];
        let mut check = ImportCheck::new();
        for (_, row, _) in cases.clone() {
            check.add(row);
        }
        assert_eq!(check.lines(), cases.len());
        assert_eq!(check.rows.len(), 1);
        assert_eq!(check.rows[0].email.as_str(), "ops@acme.example");
        assert_eq!(check.rows[0].account, "acct_whatever");
        for (description, row, reason) in cases.iter().skip(1) {
            let rejected = check.rejected.iter().find(|r| r.line == row.line);
            let reason = reason.unwrap_or_default();
            assert!(
                rejected.is_some_and(|r| r.reason.contains(reason) && r.subject == row.email),
                "{description}: {rejected:?}"
            );
            assert!(
                !rejected.is_some_and(|r| r.reason.contains(BCRYPT)),
                "{description}"
            );
        }
    }

    #[test]
    fn an_unreadable_line_is_rejected_with_the_readers_reason() {
        let mut check = ImportCheck::new();
        check.add(ImportRow {
            line: 9,
            unreadable: Some("not a JSON object".into()),
            ..ImportRow::default()
        });
        assert_eq!(
            check.rejected,
            [Rejected {
                line: 9,
                subject: String::new(),
                reason: "not a JSON object".into()
            }]
        );
    }
}
