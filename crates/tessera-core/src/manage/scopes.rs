//! The scope catalog, which is the operator's: create, describe anew, list, show with
//! everything using a scope, remove (refused while anything uses it), and the `[[scope]]`
//! tables of the configuration applied at start-up.
//!
//! A fresh store holds four sample scopes (written by the first migration, for the sample
//! API). They are only the default of a store with no catalog of its own: once the
//! configuration has `[[scope]]` tables, every sample scope that nothing uses is removed
//! when they are applied. Nothing ever puts the samples back, so an operator who removed
//! them with `tessera scope remove` does not see them return.

use serde::{Deserialize, Serialize};

use crate::audit::{record, Actor, AuditAction, AuditEvent, Target};
use crate::domain::{ClientId, ScopeDescription, ScopeName};
use crate::error::ManageError;
use crate::gateway::RouteSpec;
use crate::oauth::identity::is_identity_scope;
use crate::store::{ScopeEntry, ScopeUsage, Store};
use crate::UnixSeconds;

/// The sample scopes, as the first migration writes them (a store test keeps the two in
/// step). An entry with one of these names *and* its description is a sample.
pub const SAMPLE_SCOPES: [(&str, &str); 4] = [
    ("account:read", "See your account details"),
    ("account:write", "Change your account details"),
    ("books:read", "Read your books and their documents"),
    ("books:write", "Upload new books"),
];

/// How many client ids a refusal names before it only counts the rest.
const NAMED_IN_REFUSAL: usize = 10;

/// One `[[scope]]` table of the configuration, as written.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScopeSpec {
    pub name: String,
    pub description: String,
}

/// What the configuration says about the catalog: its `[[scope]]` tables, and the
/// `[[route]]` tables whose scopes must stay in it.
#[derive(Debug, Clone, Copy, Default)]
pub struct CatalogConfig<'a> {
    pub scopes: &'a [ScopeSpec],
    pub routes: &'a [RouteSpec],
}

/// A `[[scope]]` table that cannot be used; the message names it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("[[scope]] #{index} (name {name:?}): {reason}")]
pub struct ScopeSpecError {
    /// 1-based, in file order.
    pub index: usize,
    pub name: String,
    pub reason: String,
}

/// The `[[scope]]` tables as catalog entries: each name a valid scope token, each
/// description 1 to 200 characters, no name twice.
pub fn check_configured(specs: &[ScopeSpec]) -> Result<Vec<ScopeEntry>, ScopeSpecError> {
    let mut entries: Vec<ScopeEntry> = Vec::with_capacity(specs.len());
    for (i, spec) in specs.iter().enumerate() {
        let fail = |reason: String| ScopeSpecError {
            index: i + 1,
            name: spec.name.clone(),
            reason,
        };
        let entry = entry(&spec.name, &spec.description).map_err(fail)?;
        if let Some(j) = entries.iter().position(|e| e.name == entry.name) {
            return Err(fail(format!(
                "the name is taken by [[scope]] #{} too",
                j + 1
            )));
        }
        entries.push(entry);
    }
    Ok(entries)
}

/// What applying the `[[scope]]` tables changed, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    pub created: Vec<String>,
    pub described: Vec<String>,
    pub removed_samples: Vec<String>,
}

/// Makes the catalog hold every `[[scope]]` table (creating the entry or replacing its
/// description) and, when there is any, removes the sample scopes that nothing uses.
/// Writes only what differs, so applying the same configuration again changes nothing.
#[tracing::instrument(skip_all)]
pub async fn apply_configured(
    store: &dyn Store,
    actor: &Actor,
    config: CatalogConfig<'_>,
    now: UnixSeconds,
) -> Result<Applied, ManageError> {
    let result: Result<Applied, ManageError> = async {
        let wanted =
            check_configured(config.scopes).map_err(|e| ManageError::Invalid(e.to_string()))?;
        let mut applied = Applied::default();
        if wanted.is_empty() {
            return Ok(applied);
        }
        let catalog = store.list_scopes().await?;
        for entry in &wanted {
            match catalog.iter().find(|e| e.name == entry.name) {
                None => {
                    // Another process applying the same file may have just created it.
                    if !store.insert_scope(entry, now).await? {
                        store.update_scope(entry, now).await?;
                    }
                    applied.created.push(entry.name.clone());
                }
                Some(existing) if existing.description != entry.description => {
                    store.update_scope(entry, now).await?;
                    applied.described.push(entry.name.clone());
                }
                Some(_) => {}
            }
        }
        for sample in catalog.iter().filter(|e| is_sample(e)) {
            if wanted.iter().any(|w| w.name == sample.name) {
                continue;
            }
            let usage = store.find_scope_usage(&sample.name).await?;
            if usage.is_unused()
                && routes_using(config.routes, &sample.name).is_empty()
                && store.delete_scope(&sample.name, now).await?
            {
                applied.removed_samples.push(sample.name.clone());
            }
        }
        Ok(applied)
    }
    .await;
    let event = match &result {
        Ok(ok) => {
            if ok.created.is_empty() && ok.described.is_empty() && ok.removed_samples.is_empty() {
                return result;
            } else {
                AuditEvent::new(
                    now,
                    actor,
                    AuditAction::ScopesConfigured,
                    Target::new("scope", "*"),
                )
                .detail(format!(
                    "created {}; described {}; removed samples {}",
                    names(&ok.created),
                    names(&ok.described),
                    names(&ok.removed_samples)
                ))
            }
        }
        Err(_) => AuditEvent::new(
            now,
            actor,
            AuditAction::ScopesConfigured,
            Target::new("scope", "*"),
        ),
    };
    record(store, event, result).await
}

/// Adds a scope to the catalog; refused when the name is taken.
pub async fn create_scope(
    store: &dyn Store,
    actor: &Actor,
    name: &str,
    description: &str,
    now: UnixSeconds,
) -> Result<ScopeEntry, ManageError> {
    let result: Result<ScopeEntry, ManageError> = async {
        let entry = entry(name, description).map_err(ManageError::Invalid)?;
        if !store.insert_scope(&entry, now).await? {
            return Err(ManageError::Conflict(format!(
                "scope {} exists already; `tessera scope describe {}` shows it",
                entry.name, entry.name
            )));
        }
        Ok(entry)
    }
    .await;
    // A valid name is stored as given: the target is the same either way.
    let event = AuditEvent::new(
        now,
        actor,
        AuditAction::ScopeCreated,
        Target::new("scope", name),
    );
    record(store, event, result).await
}

/// Replaces a scope's description (what the consent page shows from now on). Refused for
/// a scope a `[[scope]]` table describes: the next start would put that description back.
pub async fn update_description(
    store: &dyn Store,
    actor: &Actor,
    name: &str,
    description: &str,
    config: CatalogConfig<'_>,
    now: UnixSeconds,
) -> Result<ScopeEntry, ManageError> {
    let result: Result<ScopeEntry, ManageError> = async {
        let current = get_scope(store, name).await?;
        if let Some(index) = configured_index(config.scopes, &current.name) {
            return Err(ManageError::Conflict(format!(
                "scope {} is described by [[scope]] #{index} of the configuration; change it there",
                current.name
            )));
        }
        let entry = entry(&current.name, description).map_err(ManageError::Invalid)?;
        if !store.update_scope(&entry, now).await? {
            return Err(not_found(name));
        }
        Ok(entry)
    }
    .await;
    // A valid name is stored as given: the target is the same either way.
    let event = AuditEvent::new(
        now,
        actor,
        AuditAction::ScopeUpdated,
        Target::new("scope", name),
    );
    record(store, event, result).await
}

/// The catalog, by name.
pub async fn list_scopes(store: &dyn Store) -> Result<Vec<ScopeEntry>, ManageError> {
    Ok(store.list_scopes().await?)
}

/// A scope and everything that uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeDetails {
    pub entry: ScopeEntry,
    /// One of the sample scopes, as the first migration wrote it.
    pub sample: bool,
    pub usage: ScopeUsage,
    /// `[[route]]` tables requiring it: (1-based index, path).
    pub routes: Vec<(usize, String)>,
    /// The `[[scope]]` table that describes it (1-based).
    pub configured: Option<usize>,
}

impl ScopeDetails {
    pub fn in_use(&self) -> bool {
        !self.usage.is_unused() || !self.routes.is_empty() || self.configured.is_some()
    }

    /// Everything that uses the scope, in words: "clients cl_1, cl_2", "3 consents of 2
    /// users", "[[route]] #1 (path \"/v1/x\")", …
    pub fn users(&self) -> Vec<String> {
        let mut users = Vec::new();
        if !self.usage.clients.is_empty() {
            users.push(format!("clients {}", ids(&self.usage.clients)));
        }
        if !self.usage.applications.is_empty() {
            users.push(format!("applications {}", ids(&self.usage.applications)));
        }
        if self.usage.consents > 0 {
            users.push(format!(
                "{} of {}",
                plural(self.usage.consents, "consent"),
                plural(self.usage.consent_users, "user")
            ));
        }
        for (index, path) in &self.routes {
            users.push(format!("[[route]] #{index} (path {path:?})"));
        }
        if let Some(index) = self.configured {
            users.push(format!("[[scope]] #{index} of the configuration"));
        }
        users
    }
}

/// The scope `name` with everything that uses it: clients, applications, consents, and
/// the configuration's routes and `[[scope]]` tables.
pub async fn show_scope(
    store: &dyn Store,
    name: &str,
    config: CatalogConfig<'_>,
) -> Result<ScopeDetails, ManageError> {
    let entry = get_scope(store, name).await?;
    let usage = store.find_scope_usage(&entry.name).await?;
    Ok(ScopeDetails {
        sample: is_sample(&entry),
        usage,
        routes: routes_using(config.routes, &entry.name),
        configured: configured_index(config.scopes, &entry.name),
        entry,
    })
}

/// Removes a scope from the catalog; refused, naming them, while a client, an application,
/// a consent, a route or a `[[scope]]` table uses it. Running servers drop it from their
/// catalog through the change feed.
#[tracing::instrument(skip_all, fields(scope = name))]
pub async fn remove_scope(
    store: &dyn Store,
    actor: &Actor,
    name: &str,
    config: CatalogConfig<'_>,
    now: UnixSeconds,
) -> Result<ScopeEntry, ManageError> {
    let result: Result<ScopeEntry, ManageError> = async {
        let details = show_scope(store, name, config).await?;
        if details.in_use() {
            let mut steps = Vec::new();
            if !details.usage.is_unused() {
                steps.push("revoke those clients and applications (their consents end with them)");
            }
            if !details.routes.is_empty() || details.configured.is_some() {
                steps.push("take it out of those tables of the configuration");
            }
            return Err(ManageError::Conflict(format!(
                "scope {} is in use, so it stays: {}. To remove it, first {}",
                details.entry.name,
                details.users().join("; "),
                steps.join(" and ")
            )));
        }
        if !store.delete_scope(&details.entry.name, now).await? {
            return Err(not_found(name));
        }
        Ok(details.entry)
    }
    .await;
    let event = match &result {
        Ok(ok) => AuditEvent::new(
            now,
            actor,
            AuditAction::ScopeRemoved,
            Target::new("scope", ok.name.as_str()),
        ),
        Err(_) => AuditEvent::new(
            now,
            actor,
            AuditAction::ScopeRemoved,
            Target::new("scope", name),
        ),
    };
    record(store, event, result).await
}

/// Scope names for the log: `-` for none.
fn names(list: &[String]) -> String {
    if list.is_empty() {
        return "-".into();
    }
    list.join(" ")
}

/// The catalog entry `name`, or `NotFound` saying where to look.
pub async fn get_scope(store: &dyn Store, name: &str) -> Result<ScopeEntry, ManageError> {
    store
        .list_scopes()
        .await?
        .into_iter()
        .find(|e| e.name == name)
        .ok_or_else(|| not_found(name))
}

fn not_found(name: &str) -> ManageError {
    ManageError::NotFound(format!(
        "no scope {name:?} in the catalog; `tessera scope list` shows it"
    ))
}

/// A catalog entry from a name and a description that parse.
fn entry(name: &str, description: &str) -> Result<ScopeEntry, String> {
    let name = ScopeName::parse(name).map_err(|e| e.to_string())?;
    if is_identity_scope(name.as_str()) {
        return Err(format!(
            "{name} is an OpenID Connect scope, built in; the catalog holds the API's scopes"
        ));
    }
    let description = ScopeDescription::parse(description).map_err(|e| e.to_string())?;
    Ok(ScopeEntry {
        name: name.into_string(),
        description: description.into_string(),
    })
}

fn is_sample(entry: &ScopeEntry) -> bool {
    SAMPLE_SCOPES.contains(&(entry.name.as_str(), entry.description.as_str()))
}

fn routes_using(routes: &[RouteSpec], name: &str) -> Vec<(usize, String)> {
    routes
        .iter()
        .enumerate()
        .filter(|(_, r)| r.scopes.iter().any(|s| s == name))
        .map(|(i, r)| (i + 1, r.path.clone()))
        .collect()
}

fn configured_index(specs: &[ScopeSpec], name: &str) -> Option<usize> {
    specs.iter().position(|s| s.name == name).map(|i| i + 1)
}

/// The first few ids, then how many more.
fn ids(list: &[ClientId]) -> String {
    let named: Vec<&str> = list
        .iter()
        .take(NAMED_IN_REFUSAL)
        .map(ClientId::as_str)
        .collect();
    match list.len().saturating_sub(NAMED_IN_REFUSAL) {
        0 => named.join(", "),
        more => format!("{} and {more} more", named.join(", ")),
    }
}

fn plural(n: i64, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::Outcome;
    use crate::domain::ClientStatus;
    use crate::store::{AuthorizationStore, ClientStore, Consent, ScopeStore};
    use crate::testing::{application, block_on, credential_client, scopes, user, MemoryStore};

    fn spec(name: &str, description: &str) -> ScopeSpec {
        ScopeSpec {
            name: name.into(),
            description: description.into(),
        }
    }

    fn route(path: &str, scopes: &[&str]) -> RouteSpec {
        RouteSpec {
            path: path.into(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            ..RouteSpec::default()
        }
    }

    /// A store holding the sample scopes, as a fresh one does.
    fn fresh() -> MemoryStore {
        let store = MemoryStore::default();
        for (name, description) in SAMPLE_SCOPES {
            let entry = ScopeEntry {
                name: name.into(),
                description: description.into(),
            };
            assert!(block_on(store.insert_scope(&entry, 0)).unwrap());
        }
        store
    }

    fn names(store: &MemoryStore) -> Vec<String> {
        block_on(store.list_scopes())
            .unwrap()
            .into_iter()
            .map(|e| e.name)
            .collect()
    }

    #[test]
    fn configured_tables_are_checked_and_named() {
        let cases: [(&str, Vec<ScopeSpec>, Result<usize, &str>); 5] = [
            ("should accept none", vec![], Ok(0)),
            (
                "should accept distinct valid tables",
                vec![spec("a:read", "Read a"), spec("b", "B")],
                Ok(2),
            ),
            (
                "should fail because a name has a space",
                vec![spec("ok", "Fine"), spec("a b", "Two words")],
                Err("[[scope]] #2 (name \"a b\"): scope token \"a b\" is not valid"),
            ),
            (
                "should fail because a description is missing",
                vec![spec("a", "")],
                Err("[[scope]] #1 (name \"a\"): a scope description must be 1 to 200"),
            ),
            (
                "should fail because a name is given twice",
                vec![spec("a", "A"), spec("a", "Again")],
                Err("[[scope]] #2 (name \"a\"): the name is taken by [[scope]] #1 too"),
            ),
        ];
        for (description, specs, expect) in cases {
            match (check_configured(&specs), expect) {
                (Ok(entries), Ok(n)) => assert_eq!(entries.len(), n, "{description}"),
                (Err(e), Err(start)) => {
                    assert!(e.to_string().starts_with(start), "{description}: {e}")
                }
                (got, _) => panic!("{description}: {got:?}"),
            }
        }
    }

    #[test]
    fn configured_scopes_replace_the_unused_samples() {
        let store = fresh();
        let client = credential_client("books:read");
        block_on(store.insert_clients(std::slice::from_ref(&client))).unwrap();
        let config = CatalogConfig {
            scopes: &[
                spec("invoices:read", "Read your invoices"),
                spec("account:write", "Change your billing details"),
            ],
            routes: &[route("/v1/books/{id}", &["books:write"])],
        };
        let applied = block_on(apply_configured(&store, &Actor::config(), config, 5)).unwrap();
        assert_eq!(applied.created, ["invoices:read"]);
        assert_eq!(
            applied.described,
            ["account:write"],
            "a sample described anew"
        );
        assert_eq!(
            applied.removed_samples,
            ["account:read"],
            "the only unused sample"
        );
        assert_eq!(
            names(&store),
            [
                "account:write",
                "books:read",
                "books:write",
                "invoices:read"
            ],
            "books:read has a client, books:write a route"
        );
        let again = block_on(apply_configured(&store, &Actor::config(), config, 6)).unwrap();
        assert_eq!(again, Applied::default(), "nothing left to change");
    }

    #[test]
    fn without_scope_tables_the_samples_stay() {
        let store = fresh();
        let applied = block_on(apply_configured(
            &store,
            &Actor::config(),
            CatalogConfig::default(),
            5,
        ))
        .unwrap();
        assert_eq!(applied, Applied::default());
        assert_eq!(names(&store).len(), SAMPLE_SCOPES.len());
    }

    #[test]
    fn removal_is_refused_naming_every_user() {
        let store = fresh();
        let client = credential_client("books:read");
        let app = application(false, true, None);
        let mut revoked = credential_client("books:read");
        revoked.status = ClientStatus::Revoked;
        block_on(store.insert_clients(&[client.clone(), app.clone(), revoked.clone()])).unwrap();
        let someone = user(&["acct_a"]);
        block_on(store.upsert_consent(&Consent {
            user_id: someone.id.clone(),
            client_id: app.id.clone(),
            account_id: someone.accounts[0].clone(),
            scopes: scopes("books:read"),
            updated_at: 0,
        }))
        .unwrap();
        let config = CatalogConfig {
            scopes: &[spec("books:read", "Read your books")],
            routes: &[route("/v1/a", &[]), route("/v1/books", &["books:read"])],
        };
        let err = block_on(remove_scope(
            &store,
            &Actor::cli("ops"),
            "books:read",
            config,
            1,
        ))
        .unwrap_err();
        let ManageError::Conflict(message) = err else {
            panic!("{err:?}")
        };
        for part in [
            format!("clients {};", client.id),
            format!("applications {};", app.id),
            "1 consent of 1 user;".to_owned(),
            "[[route]] #2 (path \"/v1/books\");".to_owned(),
            "[[scope]] #1 of the configuration".to_owned(),
        ] {
            assert!(message.contains(&part), "{part} in {message}");
        }
        assert!(
            !message.contains(revoked.id.as_str()),
            "a revoked client uses nothing"
        );
        assert!(names(&store).contains(&"books:read".to_owned()));

        let removed = block_on(remove_scope(
            &store,
            &Actor::cli("ops"),
            "account:write",
            config,
            1,
        ))
        .unwrap();
        assert_eq!(removed.name, "account:write");
        let err = block_on(remove_scope(
            &store,
            &Actor::cli("ops"),
            "account:write",
            config,
            1,
        ))
        .unwrap_err();
        assert!(matches!(err, ManageError::NotFound(_)), "{err:?}");

        // Each attempt is in the audit log with how it ended, the refusal with its reason.
        let removals: Vec<(String, Outcome)> = store
            .audit_events()
            .into_iter()
            .filter(|e| e.action == AuditAction::ScopeRemoved)
            .map(|e| (e.target.to_string(), e.outcome))
            .collect();
        assert_eq!(
            removals,
            [
                ("scope:books:read".to_owned(), Outcome::Refused),
                ("scope:account:write".to_owned(), Outcome::Ok),
                ("scope:account:write".to_owned(), Outcome::Refused),
            ]
        );
        let refused = store
            .audit_events()
            .into_iter()
            .find(|e| e.outcome == Outcome::Refused);
        assert!(refused.unwrap().detail.contains("is in use, so it stays"));
    }

    #[test]
    fn a_long_list_of_clients_is_cut_short() {
        let list: Vec<ClientId> = (0..12).map(|_| ClientId::generate().unwrap()).collect();
        let shown = ids(&list);
        assert!(shown.ends_with(" and 2 more"), "{shown}");
        assert!(shown.contains(list[9].as_str()) && !shown.contains(list[10].as_str()));
    }

    #[test]
    fn create_and_describe_check_their_input() {
        let store = fresh();
        let created = block_on(create_scope(
            &store,
            &Actor::cli("ops"),
            "reports:read",
            " Read reports ",
            1,
        ))
        .unwrap();
        assert_eq!(created.description, "Read reports");
        let err = block_on(create_scope(
            &store,
            &Actor::cli("ops"),
            "reports:read",
            "Again",
            1,
        ))
        .unwrap_err();
        assert!(matches!(err, ManageError::Conflict(_)), "{err:?}");
        for (name, description) in [
            ("a b", "x"),
            ("a\"b", "x"),
            ("a\\b", "x"),
            ("", "x"),
            ("ok", " "),
        ] {
            let err = block_on(create_scope(
                &store,
                &Actor::cli("ops"),
                name,
                description,
                1,
            ))
            .unwrap_err();
            assert!(matches!(err, ManageError::Invalid(_)), "{name:?}: {err:?}");
        }
        let config = CatalogConfig {
            scopes: &[spec("books:read", "Read")],
            routes: &[],
        };
        let updated = block_on(update_description(
            &store,
            &Actor::cli("ops"),
            "reports:read",
            "Read every report",
            config,
            2,
        ))
        .unwrap();
        assert_eq!(updated.description, "Read every report");
        let err = block_on(update_description(
            &store,
            &Actor::cli("ops"),
            "books:read",
            "Other words",
            config,
            2,
        ))
        .unwrap_err();
        assert!(err.to_string().contains("[[scope]] #1"), "{err}");
    }
}
