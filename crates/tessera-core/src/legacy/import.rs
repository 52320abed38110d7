//! `tessera legacy import`: legacy credentials from another system, with the password
//! hashes that system made (see `domain::imported_hash`).
//!
//! Two steps so a dry run and a real run decide the same way: [`plan_import`] reads the
//! store and sorts every line into new, updated (same email and account, another hash),
//! unchanged or rejected; [`apply_import`] writes the plan in one transaction. Rejection
//! reasons name the line and the problem, never the hash.

use std::collections::{HashMap, HashSet};

use super::audit::AuditAction;
use super::credential::{Email, LegacyCredential, LegacyState};
use super::provision::event;
use crate::domain::password::PasswordHash;
use crate::domain::{AccountId, LegacyId};
use crate::error::{ManageError, StoreError};
use crate::import::{ImportCounts, ImportSummary, Rejected};
use crate::manage::accounts::get_account;
use crate::rfc3339::parse_rfc3339;
use crate::store::Store;
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

/// What an import would do.
#[derive(Debug, Default)]
pub struct ImportPlan {
    pub new: Vec<LegacyCredential>,
    /// Existing credentials of the same account whose hash the file replaces.
    pub updated: Vec<(LegacyCredential, PasswordHash)>,
    pub unchanged: usize,
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

/// Sorts every row; reads the store, writes nothing.
pub async fn plan_import(
    store: &dyn Store,
    rows: Vec<ImportRow>,
    now: UnixSeconds,
) -> Result<ImportPlan, ManageError> {
    let mut plan = ImportPlan::default();
    let mut accounts: HashMap<String, Result<AccountId, String>> = HashMap::new();
    let mut seen: HashSet<Email> = HashSet::new();
    for row in rows {
        let (line, raw_email) = (row.line, row.email.clone());
        match plan_row(store, row, now, &mut accounts, &mut seen).await? {
            Ok(Planned::New(c)) => plan.new.push(*c),
            Ok(Planned::Updated(c, h)) => plan.updated.push((*c, h)),
            Ok(Planned::Unchanged) => plan.unchanged += 1,
            Err(reason) => plan.rejected.push(Rejected {
                line,
                subject: raw_email,
                reason,
            }),
        }
    }
    Ok(plan)
}

enum Planned {
    New(Box<LegacyCredential>),
    Updated(Box<LegacyCredential>, PasswordHash),
    Unchanged,
}

/// The outer error is the store's; the inner one a rejection reason for this line.
async fn plan_row(
    store: &dyn Store,
    row: ImportRow,
    now: UnixSeconds,
    accounts: &mut HashMap<String, Result<AccountId, String>>,
    seen: &mut HashSet<Email>,
) -> Result<Result<Planned, String>, StoreError> {
    if let Some(why) = row.unreadable {
        return Ok(Err(why));
    }
    let Some(email) = Email::parse(&row.email) else {
        return Ok(Err(
            "not an email address usable with HTTP Basic (one @, no spaces or colons)".into(),
        ));
    };
    if !seen.insert(email.clone()) {
        return Ok(Err(format!("{email} appears on an earlier line too")));
    }
    // `acct_…` or `ext:<external id>`, resolved like every account the CLI takes.
    let account_id = match accounts.get(&row.account) {
        Some(known) => known.clone(),
        None => {
            let resolved = match get_account(store, &row.account).await {
                Ok(account) => Ok(account.id),
                Err(ManageError::Store(e)) => return Err(e),
                Err(e) => Err(e.to_string()),
            };
            accounts.insert(row.account.clone(), resolved.clone());
            resolved
        }
    };
    let account_id = match account_id {
        Ok(id) => id,
        Err(reason) => return Ok(Err(reason)),
    };
    let hash = match PasswordHash::parse_imported(row.password_hash.trim()) {
        Ok(hash) => hash,
        Err(rejection) => return Ok(Err(rejection.to_string())),
    };
    let time = |name: &str, raw: &Option<String>| match raw.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(t) => parse_rfc3339(t)
            .map(Some)
            .ok_or_else(|| format!("{name} is not an RFC 3339 date-time")),
    };
    let created_at = match time("created_at", &row.created_at) {
        Ok(t) => t.unwrap_or(now),
        Err(reason) => return Ok(Err(reason)),
    };
    let last_used_at = match time("last_used_at", &row.last_used_at) {
        Ok(t) => t,
        Err(reason) => return Ok(Err(reason)),
    };
    if let Some(existing) = store.find_legacy_credential(&email).await? {
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
        created_at,
        updated_at: now,
        migrated_at: None,
        removed_at: None,
        last_used_at,
    }))))
}

/// Writes the plan's new and updated credentials in one transaction, one audit event
/// each (naming the hash family, never the hash). Running servers see them through the
/// change feed.
pub async fn apply_import(
    store: &dyn Store,
    plan: &ImportPlan,
    actor: &str,
    now: UnixSeconds,
) -> Result<(), ManageError> {
    let new: Vec<_> = plan
        .new
        .iter()
        .map(|c| {
            let family = c
                .password_hash
                .as_ref()
                .map_or("none", |h| h.family().name());
            let detail = format!("imported ({family} hash)");
            (
                c.clone(),
                event(c, actor, AuditAction::LegacyImported, now, &detail),
            )
        })
        .collect();
    let rehashed: Vec<_> = plan
        .updated
        .iter()
        .map(|(c, hash)| {
            let detail = format!("hash replaced by import ({} hash)", hash.family());
            let audit = event(c, actor, AuditAction::LegacyImported, now, &detail);
            (c.id.clone(), hash.clone(), audit)
        })
        .collect();
    if new.is_empty() && rehashed.is_empty() {
        return Ok(());
    }
    store.import_legacy_credentials(&new, &rehashed).await?;
    Ok(())
}
