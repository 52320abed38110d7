//! The audit log: every administrative change — clients, applications, users, accounts,
//! scopes, signing keys, approvals, authorizations, legacy credentials — made by the CLI, the
//! Settings Center or Tessera itself, with who did it, when, to what, and how it ended.
//! Never a password, a hash, a secret or a token.
//!
//! Legacy credential events are written in the same transaction as the change they record
//! (the store's legacy methods take the event). Every other action is recorded by
//! [`record`] right after the change commits or is refused, by the one `manage` function
//! both the CLI and the dashboard call.

use std::fmt;

use crate::domain::{AccountId, ClientId, LegacyId, UserId};
use crate::error::ManageError;
use crate::store::AuditStore;
use crate::UnixSeconds;

/// Who made a change, as the log names it: `cli:<os user>`, `user:<user id>` (a Settings
/// Center user), `config` (the server applying its configuration) or `system` (Tessera's
/// own schedule, e.g. a key rotation or a hash upgraded at a login).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor(String);

impl Actor {
    pub fn cli(os_user: &str) -> Self {
        Self(format!("cli:{}", clip(os_user, 64)))
    }

    pub fn user(id: &UserId) -> Self {
        Self(format!("user:{}", id.as_str()))
    }

    pub fn system() -> Self {
        Self("system".into())
    }

    pub fn config() -> Self {
        Self("config".into())
    }

    /// An actor as the store holds it.
    pub fn stored(raw: String) -> Self {
        Self(raw)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What was done. The string forms are stable: operators filter and alert on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditAction {
    AccountCreated,
    AccountUpdated,
    AccountsImported,
    ClientCreated,
    ClientSecretRotated,
    ClientOldSecretsExpired,
    ClientRevoked,
    ResourceServerCreated,
    AppCreated,
    AppApproved,
    AppUnapproved,
    AppPkceChanged,
    UserCreated,
    /// A user's password set by the operator; their browser sessions ended.
    UserPasswordSet,
    /// A user disabled: no sign-in; sessions ended, token sets revoked.
    UserDisabled,
    UserEnabled,
    AuthorizationRevoked,
    TokenSetGenerated,
    KeyCreated,
    KeyRotated,
    KeyRetired,
    ScopeCreated,
    ScopeUpdated,
    ScopeRemoved,
    ScopesConfigured,
    LegacyCreated,
    PasswordChanged,
    LegacyMigrated,
    LegacyRemoved,
    /// A removal asked for too early (before migration or before the new client's first
    /// token): recorded so the operator sees attempts, not only successes.
    LegacyRemovalRefused,
    /// Created by `tessera legacy import` with a hash made by another system.
    LegacyImported,
    /// An imported hash replaced by argon2id at its first successful login.
    HashUpgraded,
}

impl AuditAction {
    pub const ALL: [Self; 32] = [
        Self::AccountCreated,
        Self::AccountUpdated,
        Self::AccountsImported,
        Self::ClientCreated,
        Self::ClientSecretRotated,
        Self::ClientOldSecretsExpired,
        Self::ClientRevoked,
        Self::ResourceServerCreated,
        Self::AppCreated,
        Self::AppApproved,
        Self::AppUnapproved,
        Self::AppPkceChanged,
        Self::UserCreated,
        Self::UserPasswordSet,
        Self::UserDisabled,
        Self::UserEnabled,
        Self::AuthorizationRevoked,
        Self::TokenSetGenerated,
        Self::KeyCreated,
        Self::KeyRotated,
        Self::KeyRetired,
        Self::ScopeCreated,
        Self::ScopeUpdated,
        Self::ScopeRemoved,
        Self::ScopesConfigured,
        Self::LegacyCreated,
        Self::PasswordChanged,
        Self::LegacyMigrated,
        Self::LegacyRemoved,
        Self::LegacyRemovalRefused,
        Self::LegacyImported,
        Self::HashUpgraded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::AccountCreated => "account.created",
            Self::AccountUpdated => "account.updated",
            Self::AccountsImported => "account.imported",
            Self::ClientCreated => "client.created",
            Self::ClientSecretRotated => "client.secret_rotated",
            Self::ClientOldSecretsExpired => "client.old_secrets_expired",
            Self::ClientRevoked => "client.revoked",
            Self::ResourceServerCreated => "resource_server.created",
            Self::AppCreated => "app.created",
            Self::AppApproved => "app.approved",
            Self::AppUnapproved => "app.unapproved",
            Self::AppPkceChanged => "app.pkce_changed",
            Self::UserCreated => "user.created",
            Self::UserPasswordSet => "user.password_set",
            Self::UserDisabled => "user.disabled",
            Self::UserEnabled => "user.enabled",
            Self::AuthorizationRevoked => "authorization.revoked",
            Self::TokenSetGenerated => "token_set.generated",
            Self::KeyCreated => "key.created",
            Self::KeyRotated => "key.rotated",
            Self::KeyRetired => "key.retired",
            Self::ScopeCreated => "scope.created",
            Self::ScopeUpdated => "scope.updated",
            Self::ScopeRemoved => "scope.removed",
            Self::ScopesConfigured => "scope.configured",
            Self::LegacyCreated => "legacy.created",
            Self::PasswordChanged => "legacy.password_changed",
            Self::LegacyMigrated => "legacy.migrated",
            Self::LegacyRemoved => "legacy.removed",
            Self::LegacyRemovalRefused => "legacy.removal_refused",
            Self::LegacyImported => "legacy.imported",
            Self::HashUpgraded => "legacy.hash_upgraded",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == raw)
    }
}

/// How an action ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// Turned down: bad input, not found, in use, too early. The reason is the detail.
    Refused,
    /// The store or the crypto failed; the change did not happen.
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Refused => "refused",
            Self::Failed => "failed",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Ok, Self::Refused, Self::Failed]
            .into_iter()
            .find(|o| o.as_str() == raw)
    }
}

/// What an action was done to: a kind (`client`, `app`, `user`, `account`, `scope`, `key`,
/// `authorization`, `legacy`) and its id. For an action refused before the thing existed,
/// the id is what the actor asked for (clipped), e.g. the name of a scope never created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub kind: &'static str,
    pub id: String,
}

impl Target {
    pub fn new(kind: &'static str, id: &str) -> Self {
        Self {
            kind,
            id: clip(id, 200),
        }
    }

    /// The kind of a stored row, from the closed set of kinds this module writes.
    pub fn kind_from_str(raw: &str) -> Option<&'static str> {
        [
            "account",
            "client",
            "app",
            "user",
            "scope",
            "key",
            "authorization",
            "legacy",
        ]
        .into_iter()
        .find(|k| *k == raw)
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind, self.id)
    }
}

/// One audit record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    pub at: UnixSeconds,
    pub actor: Actor,
    pub action: AuditAction,
    pub target: Target,
    pub outcome: Outcome,
    /// The account, client and legacy credential concerned, where there are: what the
    /// filters of `tessera audit --target` and the legacy report also look at.
    pub account_id: Option<AccountId>,
    pub client_id: Option<ClientId>,
    pub credential_id: Option<LegacyId>,
    /// Words for people (e.g. why an action was refused); never a secret.
    pub detail: String,
}

impl AuditEvent {
    /// A successful action with no detail; the builder methods below add the rest.
    pub fn new(at: UnixSeconds, actor: &Actor, action: AuditAction, target: Target) -> Self {
        Self {
            at,
            actor: actor.clone(),
            action,
            target,
            outcome: Outcome::Ok,
            account_id: None,
            client_id: None,
            credential_id: None,
            detail: String::new(),
        }
    }

    pub fn account(mut self, id: &AccountId) -> Self {
        self.account_id = Some(id.clone());
        self
    }

    pub fn account_opt(mut self, id: Option<&AccountId>) -> Self {
        self.account_id = id.cloned();
        self
    }

    pub fn client(mut self, id: &ClientId) -> Self {
        self.client_id = Some(id.clone());
        self
    }

    pub fn credential(mut self, id: &LegacyId) -> Self {
        self.credential_id = Some(id.clone());
        self
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = clip(&detail.into(), 500);
        self
    }

    pub fn outcome(mut self, outcome: Outcome) -> Self {
        self.outcome = outcome;
        self
    }

    /// The event stamped with how `result` ended: refusals keep their reason (which is
    /// written for the person who asked and holds no secret); failures say only that the
    /// store or crypto failed, since their messages may carry internals.
    pub fn ended<T>(self, result: &Result<T, ManageError>) -> Self {
        match result {
            Ok(_) => self,
            Err(
                e @ (ManageError::NotFound(_) | ManageError::Invalid(_) | ManageError::Conflict(_)),
            ) => self.outcome(Outcome::Refused).detail(e.to_string()),
            Err(ManageError::Store(_)) => self.outcome(Outcome::Failed).detail("store error"),
            Err(ManageError::Crypto(_)) => self.outcome(Outcome::Failed).detail("crypto error"),
        }
    }
}

/// Stores `event` stamped with the outcome of `result`, then hands `result` back. The change
/// has already committed (or been refused) when this runs, so a failure to write the record
/// does not undo it: it is logged at error level, for the operator's alerting, and the
/// caller still gets the change's own result.
pub async fn record<T>(
    store: &dyn AuditStore,
    event: AuditEvent,
    result: Result<T, ManageError>,
) -> Result<T, ManageError> {
    let event = event.ended(&result);
    if let Err(e) = store.insert_audit_event(&event).await {
        tracing::error!(
            action = event.action.as_str(),
            target = %event.target,
            error = %e,
            "an audit record could not be written"
        );
    }
    result
}

/// What `tessera audit` and the operator page ask for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Events at or after this time.
    pub since: Option<UnixSeconds>,
    /// An exact actor (`user:usr_…`, `cli:ops`) or a kind of actor (`cli`, `user`).
    pub actor: Option<String>,
    /// An id: matches the target's id and the event's account, client and credential; or
    /// `kind:id` for the target alone.
    pub target: Option<String>,
    /// Newest first, at most this many (clamped to 1..=10 000 by the store).
    pub limit: i64,
    /// How many of the newest matches to pass over first (the operator page's pages).
    pub skip: i64,
}

impl AuditQuery {
    /// The target filter split into an optional kind and the id.
    pub fn target_parts(&self) -> Option<(Option<&str>, &str)> {
        let raw = self.target.as_deref()?.trim();
        match raw.split_once(':') {
            Some((kind, id)) if Target::kind_from_str(kind).is_some() => Some((Some(kind), id)),
            _ => Some((None, raw)),
        }
    }

    /// The actor filter as (exact, prefix): `cli` matches every `cli:…` actor.
    pub fn actor_parts(&self) -> Option<(String, String)> {
        let raw = self.actor.as_deref()?.trim();
        Some((raw.to_owned(), format!("{raw}:")))
    }
}

/// `--since`: an RFC 3339 time, or an age before `now` such as `30m`, `24h`, `7d`.
pub fn parse_since(raw: &str, now: UnixSeconds) -> Result<UnixSeconds, String> {
    let raw = raw.trim();
    if let Some(t) = crate::rfc3339::parse_rfc3339(raw) {
        return Ok(t);
    }
    let unit = raw.chars().last().unwrap_or(' ');
    let seconds = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3_600,
        'd' => 86_400,
        _ => 0,
    };
    match raw[..raw.len() - unit.len_utf8().min(raw.len())].parse::<i64>() {
        Ok(n) if seconds > 0 && (0..=100 * 365).contains(&n) => Ok(now - n * seconds),
        _ => Err(format!(
            "{raw:?} is neither an RFC 3339 time (2026-12-01T09:00:00Z) nor an age such as \
             30m, 24h or 7d"
        )),
    }
}

fn clip(s: &str, max_chars: usize) -> String {
    s.chars()
        .filter(|c| !c.is_control())
        .take(max_chars)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::StoreError;

    fn event() -> AuditEvent {
        AuditEvent::new(
            10,
            &Actor::cli("ops"),
            AuditAction::ClientRevoked,
            Target::new("client", "cl_x"),
        )
    }

    #[test]
    fn every_action_round_trips_through_its_string() {
        for a in AuditAction::ALL {
            assert_eq!(AuditAction::parse(a.as_str()), Some(a));
        }
        assert_eq!(AuditAction::parse("client.deleted"), None);
    }

    #[test]
    fn refusals_keep_their_reason_and_failures_hide_internals() {
        let refused = event().ended::<()>(&Err(ManageError::NotFound("no client cl_x".into())));
        assert_eq!(refused.outcome, Outcome::Refused);
        assert_eq!(refused.detail, "no client cl_x");

        let failed = event().ended::<()>(&Err(ManageError::Store(StoreError::new(
            "UNIQUE constraint failed: client.secret_hash",
        ))));
        assert_eq!(failed.outcome, Outcome::Failed);
        assert_eq!(failed.detail, "store error");

        assert_eq!(event().ended(&Ok(())).outcome, Outcome::Ok);
    }

    #[test]
    fn targets_and_actors_are_clipped_and_stripped_of_control_characters() {
        let t = Target::new("scope", &format!("a\nb{}", "x".repeat(500)));
        assert_eq!(t.id.chars().count(), 200);
        assert!(t.id.starts_with("abx"));
        assert_eq!(Actor::cli("ro\u{1b}[31mot").as_str(), "cli:ro[31mot");
    }

    #[test]
    fn since_takes_a_time_or_an_age() {
        let now = 1_000_000;
        assert_eq!(parse_since("24h", now), Ok(now - 86_400));
        assert_eq!(parse_since("7d", now), Ok(now - 7 * 86_400));
        assert_eq!(parse_since("30m", now), Ok(now - 1_800));
        assert_eq!(parse_since("1970-01-02T00:00:00Z", now), Ok(86_400));
        for bad in ["", "h", "-1d", "7w", "yesterday", "99999999999d", "é"] {
            assert!(parse_since(bad, now).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn the_target_filter_takes_a_kind_only_when_it_is_one() {
        let q = |t: &str| AuditQuery {
            target: Some(t.into()),
            ..AuditQuery::default()
        };
        assert_eq!(
            q("client:cl_x").target_parts(),
            Some((Some("client"), "cl_x"))
        );
        assert_eq!(q("cl_x").target_parts(), Some((None, "cl_x")));
        assert_eq!(q("ext:42").target_parts(), Some((None, "ext:42")));
    }
}
