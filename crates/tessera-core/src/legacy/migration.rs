//! Migrating a legacy credential to OAuth 2.0 client credentials, and removing it once the
//! customer has switched (the Ocrolus procedure: migrate, "test them by requesting a JWT
//! access key", then remove).

use super::credential::{LegacyCredential, LegacyState};
use super::provision::{event, get_legacy_credential};
use crate::audit::{Actor, AuditAction, Outcome};
use crate::domain::{ClientId, ClientStatus};
use crate::error::ManageError;
use crate::manage::clients::{
    create_credential_clients, revoke_client, CreatedClient, NewCredentialClient,
};
use crate::store::Store;
use crate::UnixSeconds;

/// The migrated credential and the new client; the client's secret is shown once.
pub struct Migrated {
    pub credential: LegacyCredential,
    pub created: CreatedClient,
}

/// Creates a credential client for the **same** API account, with the whole scope
/// catalog (what Basic could do), and marks the credential migrated. Basic with it keeps
/// working until removal or the sunset. A migrated credential whose client was revoked
/// may be migrated again.
#[tracing::instrument(skip_all, fields(actor = %actor))]
pub async fn migrate(
    store: &dyn Store,
    email: &str,
    actor: &Actor,
    now: UnixSeconds,
) -> Result<Migrated, ManageError> {
    let mut credential = get_legacy_credential(store, email).await?;
    let previous = replaceable_client(store, &credential).await?;
    let name = format!("Migrated from {}", credential.email);
    let new = NewCredentialClient {
        account_id: credential.account_id.as_str(),
        name: &name,
        scope: None,
        dpop_bound: false,
    };
    let mut created = create_credential_clients(store, actor, &new, 1, now).await?;
    let Some(created) = created.pop() else {
        return Err(ManageError::Invalid("no client was created".into()));
    };
    credential.migrated_client_id = Some(created.client.id.clone());
    let detail = previous
        .as_ref()
        .map(|p| format!("replaces the revoked client {p}"))
        .unwrap_or_default();
    let audit = event(
        &credential,
        actor,
        AuditAction::LegacyMigrated,
        now,
        &detail,
    );
    if !store
        .mark_legacy_migrated(
            &credential.id,
            &created.client.id,
            previous.as_ref(),
            &audit,
        )
        .await?
    {
        // Another migration of the same credential committed first: withdraw ours so
        // the account does not end up with a client nobody has the secret of.
        revoke_client(store, actor, created.client.id.as_str(), now).await?;
        return Err(ManageError::Conflict(format!(
            "the legacy credential for {} was migrated concurrently; see `tessera legacy list`",
            credential.email
        )));
    }
    credential.state = LegacyState::Migrated;
    credential.migrated_at = Some(now);
    credential.updated_at = now;
    tracing::info!(credential = %credential.id, client_id = %created.client.id, "migrated a legacy credential");
    Ok(Migrated {
        credential,
        created,
    })
}

/// `None` for an active credential; for a migrated one, its client when that client has
/// been revoked (or deleted): the customer must not be left with Basic as the only way in
/// and no way to migrate again. A migrated credential with a live client is a conflict.
async fn replaceable_client(
    store: &dyn Store,
    c: &LegacyCredential,
) -> Result<Option<ClientId>, ManageError> {
    if c.state == LegacyState::Active {
        return Ok(None);
    }
    if let Some(client_id) = &c.migrated_client_id {
        let live = store
            .find_client(client_id)
            .await?
            .is_some_and(|cl| cl.status == ClientStatus::Active);
        if !live {
            return Ok(Some(client_id.clone()));
        }
    }
    Err(ManageError::Conflict(format!(
        "the legacy credential for {} is already migrated to client {}; \
         request a token with that client, then `tessera legacy remove {}`",
        c.email,
        c.migrated_client_id.as_ref().map_or("?", |id| id.as_str()),
        c.email,
    )))
}

/// Removes a migrated credential whose new client has obtained a token. Refusals are
/// audited too and say what is missing.
#[tracing::instrument(skip_all, fields(actor = %actor))]
pub async fn remove(
    store: &dyn Store,
    email: &str,
    actor: &Actor,
    now: UnixSeconds,
) -> Result<LegacyCredential, ManageError> {
    let mut credential = get_legacy_credential(store, email).await?;
    if let Err(why) = removable(store, &credential).await? {
        let why = why.to_string();
        let audit = event(
            &credential,
            actor,
            AuditAction::LegacyRemovalRefused,
            now,
            &why,
        )
        .outcome(Outcome::Refused);
        store.insert_audit_event(&audit).await?;
        return Err(ManageError::Conflict(why));
    }
    let audit = event(&credential, actor, AuditAction::LegacyRemoved, now, "");
    if !store.mark_legacy_removed(&credential.id, &audit).await? {
        return Err(ManageError::Conflict(format!(
            "the legacy credential for {} changed meanwhile; see `tessera legacy list`",
            credential.email
        )));
    }
    credential.state = LegacyState::Removed;
    credential.password_hash = None;
    credential.removed_at = Some(now);
    credential.updated_at = now;
    tracing::info!(credential = %credential.id, "removed a legacy credential");
    Ok(credential)
}

/// Why a legacy credential cannot be removed yet. `Display` is the operator's wording (the
/// CLI and the audit trail); [`RemovalBlocked::for_customer`] the Settings Center's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemovalBlocked {
    NotMigrated { email: String },
    ClientGone { email: String, client: ClientId },
    ClientUnused { client: ClientId },
}

impl std::fmt::Display for RemovalBlocked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotMigrated { email } => write!(
                f,
                "the legacy credential for {email} has not been migrated; run `tessera legacy migrate {email}` first"
            ),
            Self::ClientGone { email, client } => write!(
                f,
                "the client {client} that replaces the legacy credential for {email} is revoked or gone; \
                 Basic is the account's only working access; migrate again for a new client"
            ),
            Self::ClientUnused { client } => write!(
                f,
                "the client {client} has not obtained a token yet; test it by requesting an \
                 access token (client credentials grant), then remove the legacy credential"
            ),
        }
    }
}

impl RemovalBlocked {
    /// What the customer reads beside the disabled Remove button: what to do, in the
    /// Settings Center's own words.
    pub fn for_customer(&self) -> &'static str {
        match self {
            Self::NotMigrated { .. } => "Migrate first, then test the new credentials.",
            Self::ClientGone { .. } => {
                "Its OAuth 2.0 credentials were revoked: Migrate again to get new ones."
            }
            Self::ClientUnused { .. } => {
                "Test the new OAuth 2.0 credentials first: use Test below, or request a token."
            }
        }
    }
}

/// `Ok(Err(why))` when removal must wait. Taking the credential away before its
/// replacement has been proven to work is how a customer would lose access.
pub async fn removable(
    store: &dyn Store,
    c: &LegacyCredential,
) -> Result<Result<(), RemovalBlocked>, ManageError> {
    let email = || c.email.as_str().to_owned();
    let Some(client_id) = c
        .migrated_client_id
        .as_ref()
        .filter(|_| c.state == LegacyState::Migrated)
    else {
        return Ok(Err(RemovalBlocked::NotMigrated { email: email() }));
    };
    let client = store.find_client(client_id).await?;
    if client.is_none_or(|cl| cl.status != ClientStatus::Active) {
        return Ok(Err(RemovalBlocked::ClientGone {
            email: email(),
            client: client_id.clone(),
        }));
    }
    if store.find_first_token_at(client_id).await?.is_none() {
        return Ok(Err(RemovalBlocked::ClientUnused {
            client: client_id.clone(),
        }));
    }
    Ok(Ok(()))
}
