//! Third-party applications (authorization code grant with refresh tokens).

use crate::domain::{
    validate_redirect_uri, Client, ClientId, ClientKind, ClientSecret, ClientStatus, GrantType,
    StoredSecret,
};
use crate::error::{ManageError, StoreError};
use crate::manage::clients::catalog_scopes;
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
}

/// Registers an application. The secret (none for public clients) is returned once.
pub async fn create_application(
    store: &dyn Store,
    new: &NewApplication<'_>,
    now: UnixSeconds,
) -> Result<(Client, Option<ClientSecret>), ManageError> {
    let name = new.name.trim();
    if name.is_empty() || name.len() > 200 {
        return Err(ManageError::Invalid(
            "an application name must be 1 to 200 characters".into(),
        ));
    }
    for uri in new.redirect_uris {
        validate_redirect_uri(uri).map_err(ManageError::Invalid)?;
    }
    let scopes = catalog_scopes(store, new.scope).await?;
    let secret = if new.public {
        None
    } else {
        Some(ClientSecret::generate().map_err(StoreError::new)?)
    };
    let client = Client {
        id: ClientId::generate().map_err(StoreError::new)?,
        name: name.to_owned(),
        kind: ClientKind::Application,
        account_id: None,
        grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        scopes,
        redirect_uris: new.redirect_uris.to_vec(),
        status: ClientStatus::Active,
        public: new.public,
        approved: new.approved,
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
