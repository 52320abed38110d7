//! Credential clients: create, list, revoke.

use crate::audit::{record, Actor, AuditAction, AuditEvent, Target};
use crate::domain::{
    check_client_keys, AccountId, Client, ClientId, ClientKeys, ClientKind, ClientSecret,
    ClientStatus, GrantType, ScopeSet, StoredSecret,
};
use crate::error::{ManageError, StoreError};
use crate::manage::accounts::get_account;
use crate::store::{ClientStore, ScopeStore, Store};
use crate::UnixSeconds;

/// A new client and its secret in clear text, to be shown exactly once.
pub struct CreatedClient {
    pub client: Client,
    pub secret: ClientSecret,
}

pub struct NewCredentialClient<'a> {
    pub account_id: &'a str,
    pub name: &'a str,
    /// `None`: every scope in the catalog.
    pub scope: Option<&'a str>,
    /// Its access tokens only DPoP-bound (RFC 9449 §5.2).
    pub dpop_bound: bool,
}

/// Creates a credential client (client credentials grant) acting as an API account.
pub async fn create_credential_clients(
    store: &dyn Store,
    actor: &Actor,
    new: &NewCredentialClient<'_>,
    count: usize,
    now: UnixSeconds,
) -> Result<Vec<CreatedClient>, ManageError> {
    let result: Result<Vec<CreatedClient>, ManageError> = async {
        let (account, name, scopes) = checked(store, new).await?;
        let created = (0..count)
            .map(|_| {
                let mut created = new_credential_client(&account, name, &scopes, now)?;
                created.client.dpop_bound = new.dpop_bound;
                Ok::<_, StoreError>(created)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let clients: Vec<Client> = created.iter().map(|c| c.client.clone()).collect();
        for chunk in clients.chunks(1000) {
            store.insert_clients(chunk).await?;
        }
        Ok(created)
    }
    .await;
    let event = match &result {
        Ok(ok) => match ok.as_slice() {
            [one] => AuditEvent::new(
                now,
                actor,
                AuditAction::ClientCreated,
                Target::new("client", one.client.id.as_str()),
            )
            .client(&one.client.id),
            many => AuditEvent::new(
                now,
                actor,
                AuditAction::ClientCreated,
                Target::new("client", "*"),
            )
            .detail(format!("{} clients", many.len())),
        }
        .account_opt(ok.first().and_then(|c| c.client.account_id.as_ref())),
        Err(_) => AuditEvent::new(
            now,
            actor,
            AuditAction::ClientCreated,
            Target::new("client", new.name),
        ),
    };
    record(store, event, result).await
}

/// The account, name and scopes of `new`, checked.
async fn checked<'a>(
    store: &dyn Store,
    new: &NewCredentialClient<'a>,
) -> Result<(AccountId, &'a str, ScopeSet), ManageError> {
    let account = get_account(store, new.account_id).await?;
    let name =
        crate::domain::display_name(new.name, "a client name").map_err(ManageError::Invalid)?;
    let scopes = catalog_scopes(store, new.scope).await?;
    Ok((account.id, name, scopes))
}

/// Creates a credential client that authenticates with `private_key_jwt` (RFC 7523): its
/// public keys are `keys`, and it has no secret.
pub async fn create_credential_client_with_keys(
    store: &dyn Store,
    actor: &Actor,
    new: &NewCredentialClient<'_>,
    keys: ClientKeys,
    now: UnixSeconds,
) -> Result<Client, ManageError> {
    let result: Result<Client, ManageError> = async {
        check_client_keys(&keys).map_err(ManageError::Invalid)?;
        let (account, name, scopes) = checked(store, new).await?;
        let mut client = new_credential_client(&account, name, &scopes, now)?.client;
        client.secrets.clear();
        client.jwks = Some(keys);
        client.dpop_bound = new.dpop_bound;
        store.insert_clients(std::slice::from_ref(&client)).await?;
        Ok(client)
    }
    .await;
    let event = match &result {
        Ok(client) => {
            client_event(now, actor, AuditAction::ClientCreated, client).detail("private_key_jwt")
        }
        Err(_) => AuditEvent::new(
            now,
            actor,
            AuditAction::ClientCreated,
            Target::new("client", new.name),
        ),
    };
    record(store, event, result).await
}

/// The event of a change asked for client `id`: about the client, with its account, when
/// the change went through (`done`); about the id as asked otherwise (the detail is then
/// the refusal's, see [`AuditEvent::ended`]).
fn event_for_client(
    now: UnixSeconds,
    actor: &Actor,
    action: AuditAction,
    id: &str,
    done: Option<&Client>,
) -> AuditEvent {
    match done {
        Some(client) => client_event(now, actor, action, client),
        None => AuditEvent::new(now, actor, action, Target::new("client", id)),
    }
}

/// An event about `client`, with its account.
fn client_event(
    now: UnixSeconds,
    actor: &Actor,
    action: AuditAction,
    client: &Client,
) -> AuditEvent {
    AuditEvent::new(
        now,
        actor,
        action,
        Target::new("client", client.id.as_str()),
    )
    .client(&client.id)
    .account_opt(client.account_id.as_ref())
}

/// A new active credential client of `account` with a fresh secret, not yet stored. The
/// caller has checked the account, the name and the scopes.
pub fn new_credential_client(
    account: &AccountId,
    name: &str,
    scopes: &ScopeSet,
    now: UnixSeconds,
) -> Result<CreatedClient, StoreError> {
    with_fresh_secret(
        Client {
            id: ClientId::generate().map_err(StoreError::new)?,
            name: name.to_owned(),
            kind: ClientKind::Credential,
            account_id: Some(account.clone()),
            grant_types: vec![GrantType::ClientCredentials],
            scopes: scopes.clone(),
            redirect_uris: Vec::new(),
            status: ClientStatus::Active,
            public: false,
            approved: false,
            require_pkce: false,
            post_logout_redirect_uris: Vec::new(),
            require_par: false,
            jwks: None,
            dpop_bound: false,
            secrets: Vec::new(),
            created_at: now,
        },
        now,
    )
}

/// `client` with one fresh secret that never expires, as it is created.
fn with_fresh_secret(mut client: Client, now: UnixSeconds) -> Result<CreatedClient, StoreError> {
    let secret = ClientSecret::generate().map_err(StoreError::new)?;
    client.secrets = vec![StoredSecret {
        hash: secret.hash(),
        created_at: now,
        expires_at: None,
    }];
    Ok(CreatedClient { client, secret })
}

/// `requested` parsed and checked against the scope catalog; `None` is the whole catalog.
pub async fn catalog_scopes(
    store: &dyn ScopeStore,
    requested: Option<&str>,
) -> Result<ScopeSet, ManageError> {
    let catalog: ScopeSet = store
        .list_scopes()
        .await?
        .into_iter()
        .map(|s| s.name)
        .collect();
    let Some(raw) = requested else {
        return Ok(catalog);
    };
    let set = ScopeSet::parse(raw).map_err(|e| ManageError::Invalid(e.to_string()))?;
    let unknown: Vec<&str> = set.difference(&catalog).collect();
    if !unknown.is_empty() {
        return Err(ManageError::Invalid(format!(
            "unknown scope {}; the catalog has: {catalog}",
            unknown.join(" ")
        )));
    }
    Ok(set)
}

pub async fn get_client(store: &dyn ClientStore, id: &str) -> Result<Client, ManageError> {
    let not_found = || {
        ManageError::NotFound(format!(
            "no client {id}; `tessera client list` shows the existing ones"
        ))
    };
    let id = ClientId::parse(id).ok_or_else(not_found)?;
    store.find_client(&id).await?.ok_or_else(not_found)
}

/// Revokes a client: no new tokens, and its live tokens are refused (through the change
/// feed, within the sync bound, on every server sharing the store).
pub async fn revoke_client(
    store: &dyn Store,
    actor: &Actor,
    id: &str,
    now: UnixSeconds,
) -> Result<Client, ManageError> {
    let result: Result<Client, ManageError> = async {
        let mut client = get_client(store, id).await?;
        store
            .update_client_status(&client.id, ClientStatus::Revoked, now)
            .await?;
        client.status = ClientStatus::Revoked;
        Ok(client)
    }
    .await;
    let event = event_for_client(
        now,
        actor,
        AuditAction::ClientRevoked,
        id,
        result.as_ref().ok(),
    );
    record(store, event, result).await
}

/// A new secret for a client; the old ones keep working for `overlap` seconds (0: they stop
/// now), so the customer can roll the new one out first.
pub async fn rotate_secret(
    store: &dyn Store,
    actor: &Actor,
    id: &str,
    overlap: i64,
    now: UnixSeconds,
) -> Result<CreatedClient, ManageError> {
    let result: Result<CreatedClient, ManageError> = async {
        let client = get_client(store, id).await?;
        if client.public || client.jwks.is_some() {
            return Err(ManageError::Invalid(format!(
                "client {id} has no secret to rotate"
            )));
        }
        if overlap < 0 {
            return Err(ManageError::Invalid(
                "the overlap must not be negative".into(),
            ));
        }
        let secret = ClientSecret::generate().map_err(StoreError::new)?;
        let stored = StoredSecret {
            hash: secret.hash(),
            created_at: now,
            expires_at: None,
        };
        store
            .insert_client_secret(&client.id, &stored, Some(now + overlap), now)
            .await?;
        let client = get_client(store, id).await?;
        Ok(CreatedClient { client, secret })
    }
    .await;
    let event = event_for_client(
        now,
        actor,
        AuditAction::ClientSecretRotated,
        id,
        result.as_ref().ok().map(|ok| &ok.client),
    )
    .detail(format!("old secrets expire in {overlap} s"));
    record(store, event, result).await
}

/// Ends the overlap of a rotation: only the newest secret works from now on.
pub async fn expire_old_secrets(
    store: &dyn Store,
    actor: &Actor,
    id: &str,
    now: UnixSeconds,
) -> Result<Client, ManageError> {
    let result: Result<Client, ManageError> = async {
        let client = get_client(store, id).await?;
        store.expire_older_client_secrets(&client.id, now).await?;
        get_client(store, id).await
    }
    .await;
    let event = event_for_client(
        now,
        actor,
        AuditAction::ClientOldSecretsExpired,
        id,
        result.as_ref().ok(),
    );
    record(store, event, result).await
}

/// A resource server's credential: introspects any token, obtains none.
pub async fn create_resource_server(
    store: &dyn Store,
    actor: &Actor,
    name: &str,
    now: UnixSeconds,
) -> Result<CreatedClient, ManageError> {
    let result: Result<CreatedClient, ManageError> = async {
        let name = crate::domain::display_name(name, "a name").map_err(ManageError::Invalid)?;
        let created = with_fresh_secret(
            Client {
                id: ClientId::generate().map_err(StoreError::new)?,
                name: name.to_owned(),
                kind: ClientKind::ResourceServer,
                account_id: None,
                grant_types: Vec::new(),
                scopes: ScopeSet::default(),
                redirect_uris: Vec::new(),
                status: ClientStatus::Active,
                public: false,
                approved: false,
                require_pkce: false,
                post_logout_redirect_uris: Vec::new(),
                require_par: false,
                jwks: None,
                dpop_bound: false,
                secrets: Vec::new(),
                created_at: now,
            },
            now,
        )?;
        store
            .insert_clients(std::slice::from_ref(&created.client))
            .await?;
        Ok(created)
    }
    .await;
    let done = result.as_ref().ok().map(|ok| &ok.client);
    let event = event_for_client(now, actor, AuditAction::ResourceServerCreated, name, done);
    record(store, event, result).await
}
