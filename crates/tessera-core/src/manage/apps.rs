//! Third-party applications (authorization code grant with refresh tokens).

use crate::domain::{
    validate_redirect_uri, Client, ClientId, ClientKind, ClientSecret, ClientStatus, GrantType,
    StoredSecret,
};
use crate::error::{ManageError, StoreError};
use crate::manage::accounts::get_account;
use crate::manage::clients::{catalog_scopes, get_client};
use crate::store::Store;
use crate::UnixSeconds;

pub struct NewApplication<'a> {
    pub name: &'a str,
    pub redirect_uris: &'a [String],
    pub scope: Option<&'a str>,
    /// A public client (RFC 6749 §2.1): no secret, PKCE only.
    pub public: bool,
    /// Operator-approved partner application.
    pub approved: bool,
    /// Refuse its authorization requests without PKCE (public clients need it anyway).
    pub require_pkce: bool,
    /// The API account (organization) that registered it, if registered from the dashboard.
    pub owner: Option<&'a str>,
}

/// Registers an application. The secret (none for public clients) is returned once.
pub async fn create_application(
    store: &dyn Store,
    new: &NewApplication<'_>,
    now: UnixSeconds,
) -> Result<(Client, Option<ClientSecret>), ManageError> {
    let name = crate::domain::display_name(new.name, "an application name")
        .map_err(ManageError::Invalid)?;
    for uri in new.redirect_uris {
        validate_redirect_uri(uri).map_err(ManageError::Invalid)?;
    }
    let scopes = catalog_scopes(store, new.scope).await?;
    let owner = match new.owner {
        Some(id) => Some(get_account(store, id).await?.id),
        None => None,
    };
    let secret = if new.public {
        None
    } else {
        Some(ClientSecret::generate().map_err(StoreError::new)?)
    };
    let client = Client {
        id: ClientId::generate().map_err(StoreError::new)?,
        name: name.to_owned(),
        kind: ClientKind::Application,
        account_id: owner,
        grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        scopes,
        redirect_uris: new.redirect_uris.to_vec(),
        status: ClientStatus::Active,
        public: new.public,
        approved: new.approved,
        require_pkce: new.require_pkce,
        secrets: secret
            .iter()
            .map(|s| StoredSecret {
                hash: s.hash(),
                created_at: now,
                expires_at: None,
            })
            .collect(),
        created_at: now,
    };
    store.insert_clients(std::slice::from_ref(&client)).await?;
    Ok((client, secret))
}

/// Approves (or withdraws approval of) a partner application: only approved applications
/// appear in the dashboard's "Add application" picker.
pub async fn set_approved(
    store: &dyn Store,
    id: &str,
    approved: bool,
    now: UnixSeconds,
) -> Result<Client, ManageError> {
    let client = get_application(store, id).await?;
    store
        .update_client_approved(&client.id, approved, now)
        .await?;
    get_client(store, id).await
}

/// Requires PKCE of an application's authorization requests (RFC 9700 §2.1.1), or stops
/// requiring it. A code issued without a challenge before the switch is refused at the
/// token endpoint after it.
pub async fn set_require_pkce(
    store: &dyn Store,
    id: &str,
    require_pkce: bool,
    now: UnixSeconds,
) -> Result<Client, ManageError> {
    let client = get_application(store, id).await?;
    store
        .update_client_require_pkce(&client.id, require_pkce, now)
        .await?;
    get_client(store, id).await
}

/// The application `id`; a credential client is refused, its settings are not these.
async fn get_application(store: &dyn Store, id: &str) -> Result<Client, ManageError> {
    let client = get_client(store, id).await?;
    if client.kind != ClientKind::Application {
        return Err(ManageError::Invalid(format!("{id} is not an application")));
    }
    Ok(client)
}

/// Every registered application (for the operator).
pub async fn list_applications(store: &dyn Store) -> Result<Vec<Client>, ManageError> {
    let all = store.list_clients(None).await?;
    Ok(all
        .into_iter()
        .filter(|c| c.kind == ClientKind::Application)
        .collect())
}
