//! Third-party applications (authorization code grant with refresh tokens).

use crate::audit::{record, Actor, AuditAction, AuditEvent, Target};
use crate::domain::{
    check_client_keys, validate_redirect_uri, Client, ClientId, ClientKeys, ClientKind,
    ClientSecret, ClientStatus, GrantType, StoredSecret,
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
    /// Where OpenID Connect RP-Initiated Logout may send the browser afterwards.
    pub post_logout_redirect_uris: &'a [String],
    /// Take its authorization requests only through PAR (RFC 9126).
    pub require_par: bool,
    /// `private_key_jwt`: its public keys, and no secret (not with `public`).
    pub jwks: Option<ClientKeys>,
    /// The API account (organization) that registered it, if registered from the dashboard.
    pub owner: Option<&'a str>,
    /// The grants users authorize it with: `authorization_code`, `device_code` (RFC 8628)
    /// or both; empty means `authorization_code`. `refresh_token` comes with either.
    pub grants: &'a [GrantType],
    /// Its access tokens only DPoP-bound (RFC 9449 §5.2).
    pub dpop_bound: bool,
}

/// The grant types of an application registered with `asked` (see [`NewApplication::grants`]).
pub fn application_grants(asked: &[GrantType]) -> Result<Vec<GrantType>, ManageError> {
    let mut grants = Vec::new();
    for grant in asked {
        match grant {
            GrantType::AuthorizationCode | GrantType::DeviceCode => {
                if !grants.contains(grant) {
                    grants.push(*grant);
                }
            }
            other => {
                return Err(ManageError::Invalid(format!(
                    "an application is authorized by users with authorization_code or device_code, not {}",
                    other.as_str()
                )))
            }
        }
    }
    if grants.is_empty() {
        grants.push(GrantType::AuthorizationCode);
    }
    grants.push(GrantType::RefreshToken);
    Ok(grants)
}

/// Registers an application. The secret (none for public clients) is returned once.
pub async fn create_application(
    store: &dyn Store,
    actor: &Actor,
    new: &NewApplication<'_>,
    now: UnixSeconds,
) -> Result<(Client, Option<ClientSecret>), ManageError> {
    let result: Result<(Client, Option<ClientSecret>), ManageError> = async {
        let name = crate::domain::display_name(new.name, "an application name")
            .map_err(ManageError::Invalid)?;
        for uri in new.redirect_uris.iter().chain(new.post_logout_redirect_uris) {
            validate_redirect_uri(uri).map_err(ManageError::Invalid)?;
        }
        if let Some(keys) = &new.jwks {
            if new.public {
                return Err(ManageError::Invalid(
                    "a public application has no credentials; private_key_jwt is for confidential ones".into(),
                ));
            }
            check_client_keys(keys).map_err(ManageError::Invalid)?;
        }
        let grants = application_grants(new.grants)?;
        let scopes = catalog_scopes(store, new.scope).await?;
        let owner = match new.owner {
            Some(id) => Some(get_account(store, id).await?.id),
            None => None,
        };
        let secret = if new.public || new.jwks.is_some() {
            None
        } else {
            Some(ClientSecret::generate().map_err(StoreError::new)?)
        };
        let client = Client {
            id: ClientId::generate().map_err(StoreError::new)?,
            name: name.to_owned(),
            kind: ClientKind::Application,
            account_id: owner,
            grant_types: grants,
            scopes,
            redirect_uris: new.redirect_uris.to_vec(),
            status: ClientStatus::Active,
            public: new.public,
            approved: new.approved,
            require_pkce: new.require_pkce,
            post_logout_redirect_uris: new.post_logout_redirect_uris.to_vec(),
            require_par: new.require_par,
            jwks: new.jwks.clone(),
            dpop_bound: new.dpop_bound,
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
    .await;
    let event = match &result {
        Ok(ok) => AuditEvent::new(
            now,
            actor,
            AuditAction::AppCreated,
            Target::new("app", ok.0.id.as_str()),
        )
        .client(&ok.0.id)
        .detail(app_detail(&ok.0)),
        Err(_) => AuditEvent::new(
            now,
            actor,
            AuditAction::AppCreated,
            Target::new("app", new.name),
        ),
    };
    record(store, event, result).await
}

/// Approves (or withdraws approval of) a partner application: only approved applications
/// appear in the dashboard's "Add application" picker.
pub async fn set_approved(
    store: &dyn Store,
    actor: &Actor,
    id: &str,
    approved: bool,
    now: UnixSeconds,
) -> Result<Client, ManageError> {
    let result: Result<Client, ManageError> = async {
        let client = get_application(store, id).await?;
        store
            .update_client_approved(&client.id, approved, now)
            .await?;
        get_client(store, id).await
    }
    .await;
    let event = match &result {
        Ok(ok) => {
            AuditEvent::new(now, actor, approval(approved), Target::new("app", id)).client(&ok.id)
        }
        Err(_) => AuditEvent::new(now, actor, approval(approved), Target::new("app", id)),
    };
    record(store, event, result).await
}

/// Requires PKCE of an application's authorization requests (RFC 9700 §2.1.1), or stops
/// requiring it. A code issued without a challenge before the switch is refused at the
/// token endpoint after it.
pub async fn set_require_pkce(
    store: &dyn Store,
    actor: &Actor,
    id: &str,
    require_pkce: bool,
    now: UnixSeconds,
) -> Result<Client, ManageError> {
    let result: Result<Client, ManageError> = async {
        let client = get_application(store, id).await?;
        store
            .update_client_require_pkce(&client.id, require_pkce, now)
            .await?;
        get_client(store, id).await
    }
    .await;
    let event = match &result {
        Ok(ok) => AuditEvent::new(
            now,
            actor,
            AuditAction::AppPkceChanged,
            Target::new("app", id),
        )
        .client(&ok.id)
        .detail(if require_pkce {
            "PKCE required"
        } else {
            "PKCE optional"
        }),
        Err(_) => AuditEvent::new(
            now,
            actor,
            AuditAction::AppPkceChanged,
            Target::new("app", id),
        ),
    };
    record(store, event, result).await
}

fn approval(approved: bool) -> AuditAction {
    if approved {
        AuditAction::AppApproved
    } else {
        AuditAction::AppUnapproved
    }
}

/// What the log keeps of a new application: how it may be used, never its secret.
fn app_detail(c: &Client) -> String {
    format!(
        "{} client, scopes {:?}, redirect URIs {:?}{}",
        if c.public { "public" } else { "confidential" },
        c.scopes.to_string(),
        c.redirect_uris.join(" "),
        if c.approved { ", approved" } else { "" }
    )
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
