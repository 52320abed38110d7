//! Applications: those the user authorized, approved partners to add, and the
//! organization's own registered applications.

use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;
use tessera_core::audit::Actor;
use tessera_core::domain::{Client, ClientKind, ClientStatus, GrantType, ScopeSet, User};
use tessera_core::manage::apps::{
    create_application, list_applications, set_require_pkce, NewApplication,
};
use tessera_core::manage::authorizations::{deauthorize, list_authorizations, Deauthorization};
use tessera_core::manage::clients::get_client;
use tessera_core::manage::tokens::generate_token_set;
use tessera_core::oauth::request::Form;
use tessera_core::oauth::routes;

use super::client_keys::client_keys;
use super::visit::{back_with, rotate_with_overlap, ApplicationsPage, Page, Signed, Submitted};
use crate::error::{HttpError, PageError};
use crate::state::AppState;
use crate::views::{
    account_choices, when, AccountChoice, AddApplicationView, AppRow, ApplicationsView,
    AuthorizedRow, ConfirmView, ScopeLine, SecretView, TokensView,
};

const HERE: &str = ApplicationsPage::HERE;

pub async fn get_applications(
    State(app): State<AppState>,
    Signed { visit: v, .. }: Signed<ApplicationsPage>,
) -> Result<Response, HttpError> {
    let store = app.store.as_ref();
    let accounts = account_choices(&app, &v.user.accounts).await?;
    let account_name = |id: &str| {
        accounts
            .iter()
            .find(|a| a.id == id)
            .map_or_else(|| id.to_owned(), |a| a.name.clone())
    };
    let authorized = list_authorizations(store, &v.user).await?;
    let authorized = authorized
        .into_iter()
        .map(|a| AuthorizedRow {
            client_id: a.client_id.to_string(),
            name: a.client_name,
            account_id: a.account_id.to_string(),
            account_name: account_name(a.account_id.as_str()),
            scopes: a.scopes.to_string(),
            last_used: when(a.last_used_at),
        })
        .collect();
    let all = list_applications(store).await?;
    let partners = all
        .iter()
        .filter(|c| c.approved && c.status == ClientStatus::Active)
        .map(|c| AccountChoice {
            id: c.id.to_string(),
            name: c.name.clone(),
        })
        .collect();
    let own = all
        .iter()
        .filter(|c| {
            c.account_id
                .as_ref()
                .is_some_and(|a| v.user.accounts.contains(a))
        })
        .map(|c| AppRow {
            id: c.id.to_string(),
            name: c.name.clone(),
            redirect_uris: if c.redirect_uris.is_empty() {
                "(code page)".into()
            } else {
                c.redirect_uris.join(" ")
            },
            approved: c.approved,
            pkce_required: c.public || c.require_pkce,
            require_pkce: c.require_pkce,
            has_secret: !c.public && c.jwks.is_none(),
            status: c.status.as_str().into(),
        })
        .collect();
    Ok(v.render(|nav| ApplicationsView {
        nav,
        authorized,
        partners,
        accounts,
        own,
    }))
}

/// An application partners may be added from: active and approved by the operator.
async fn addable(app: &AppState, id: &str) -> Result<Client, HttpError> {
    get_client(app.store.as_ref(), id)
        .await
        .ok()
        .filter(|c| {
            c.kind == ClientKind::Application && c.approved && c.status == ClientStatus::Active
        })
        .ok_or_else(|| PageError::NotFound("No such approved application.").into())
}

#[derive(Deserialize)]
pub struct AddQuery {
    app: String,
}

/// The second step of Add application: only the scopes this application may use (the
/// read-only ones pre-checked), and which API account the token set is for.
pub async fn get_add(
    State(app): State<AppState>,
    Query(q): Query<AddQuery>,
    Signed { visit: v, .. }: Signed<ApplicationsPage>,
) -> Result<Response, HttpError> {
    let client = addable(&app, &q.app).await?;
    let scopes = app
        .store
        .list_scopes()
        .await
        .map_err(HttpError::internal)?
        .into_iter()
        .filter(|s| client.scopes.contains(&s.name))
        .map(|s| ScopeLine {
            name: s.name,
            description: s.description,
        })
        .collect();
    let accounts = account_choices(&app, &v.user.accounts).await?;
    Ok(v.render(|nav| AddApplicationView {
        nav,
        app_id: client.id.to_string(),
        app_name: client.name,
        accounts,
        scopes,
    }))
}

pub async fn post_add(
    State(app): State<AppState>,
    Submitted { visit: v, form, .. }: Submitted<ApplicationsPage>,
) -> Result<Response, HttpError> {
    let app_id = form.get("app").unwrap_or("");
    let client = addable(&app, app_id).await?;
    // The form offers only the application's scopes; anything else sent is not asked for.
    let chosen: ScopeSet = client
        .scopes
        .iter()
        .filter(|s| form.get(&format!("scope.{s}")) == Some("on"))
        .map(str::to_owned)
        .collect();
    let now = app.clock.now();
    let keyring = app.caches.keyring();
    let cx = app
        .grant_context(&keyring, now)
        .map_err(HttpError::internal)?;
    let account = form.get("account").unwrap_or("");
    let tokens = generate_token_set(&cx, &v.user, account, app_id, &chosen.to_string()).await?;
    let accounts = account_choices(&app, &v.user.accounts).await?;
    let account_name = accounts
        .into_iter()
        .find(|a| a.id == account)
        .map_or_else(|| account.to_owned(), |a| a.name);
    Ok(v.render(|nav| TokensView {
        nav,
        app_name: client.name,
        account_name,
        access_token: tokens.access_token,
        refresh_token: tokens.refresh_token.unwrap_or_default(),
        expires_in: tokens.expires_in,
        scope: tokens.scope.unwrap_or_default(),
    }))
}

pub async fn post_register(
    State(app): State<AppState>,
    Submitted { visit: v, form, .. }: Submitted<ApplicationsPage>,
) -> Result<Response, HttpError> {
    let account = form.get("account").unwrap_or("");
    if !v.user.accounts.iter().any(|a| a.as_str() == account) {
        return Err(PageError::NotYourAccount.into());
    }
    let lines = |field: &str| -> Vec<String> {
        form.get(field)
            .unwrap_or("")
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let uris = lines("redirect_uris");
    let logout_uris = lines("post_logout_redirect_uris");
    let jwks = client_keys(&form)?;
    let grants: Vec<GrantType> = [
        ("grant.authorization_code", GrantType::AuthorizationCode),
        ("grant.device_code", GrantType::DeviceCode),
    ]
    .into_iter()
    .filter(|(field, _)| form.get(field) == Some("on"))
    .map(|(_, grant)| grant)
    .collect();
    let new = NewApplication {
        name: form.get("name").unwrap_or(""),
        redirect_uris: &uris,
        scope: form.get("scope"),
        public: form.get("public") == Some("on"),
        approved: false,
        require_pkce: form.get("require_pkce") == Some("on"),
        post_logout_redirect_uris: &logout_uris,
        require_par: form.get("require_par") == Some("on"),
        jwks,
        owner: Some(account),
        grants: &grants,
        dpop_bound: form.get("dpop_bound") == Some("on"),
    };
    let (client, secret) = create_application(
        app.store.as_ref(),
        &Actor::user(&v.user.id),
        &new,
        app.clock.now(),
    )
    .await?;
    let secret = secret.map(|s| s.expose().to_owned()).unwrap_or_default();
    Ok(v.render(|nav| SecretView {
        nav,
        title: format!("Application {} registered", client.name),
        client_id: client.id.to_string(),
        client_secret: secret,
        public: client.public,
        token_url: format!("{}{}", app.tokens.issuer, routes::TOKEN),
        back: HERE.into(),
    }))
}

/// The application the form's `client_id` names, if one of the user's organizations
/// registered it; any other is "not found", so a form cannot reach another's application.
async fn own_application(app: &AppState, user: &User, form: &Form) -> Result<Client, HttpError> {
    let id = form.get("client_id").unwrap_or("");
    get_client(app.store.as_ref(), id)
        .await
        .ok()
        .filter(|c| {
            c.kind == ClientKind::Application
                && c.account_id
                    .as_ref()
                    .is_some_and(|a| user.accounts.contains(a))
        })
        .ok_or_else(|| PageError::NotFound("No such application of your organization.").into())
}

pub async fn post_rotate(
    State(app): State<AppState>,
    Submitted { visit: v, form, .. }: Submitted<ApplicationsPage>,
) -> Result<Response, HttpError> {
    let client = own_application(&app, &v.user, &form).await?;
    let rotated = rotate_with_overlap(&app, &Actor::user(&v.user.id), &client).await?;
    Ok(v.render(|nav| SecretView {
        nav,
        title: format!(
            "New secret for {} (the old one works for 24 more hours)",
            client.name
        ),
        client_id: client.id.to_string(),
        client_secret: rotated.secret.expose().to_owned(),
        public: false,
        token_url: format!("{}{}", app.tokens.issuer, routes::TOKEN),
        back: HERE.into(),
    }))
}

/// Switches PKCE on or off for one of the organization's applications.
pub async fn post_pkce(
    State(app): State<AppState>,
    Submitted { visit: v, form, .. }: Submitted<ApplicationsPage>,
) -> Result<Response, HttpError> {
    let client = own_application(&app, &v.user, &form).await?;
    let require = form.get("require_pkce") == Some("true");
    match set_require_pkce(
        app.store.as_ref(),
        &Actor::user(&v.user.id),
        client.id.as_str(),
        require,
        app.clock.now(),
    )
    .await
    {
        Ok(_) => {
            let notice = if require {
                "now requires PKCE: authorization requests without a code challenge are refused"
            } else {
                "no longer requires PKCE"
            };
            Ok(back_with(HERE, &format!("{} {notice}.", client.name)))
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct AuthorizationQuery {
    client_id: String,
    /// Optional here so that a link without it is "not found", not a framework rejection.
    account: Option<String>,
}

pub async fn get_deauthorize(
    State(app): State<AppState>,
    Query(q): Query<AuthorizationQuery>,
    Signed { visit: v, .. }: Signed<ApplicationsPage>,
) -> Result<Response, HttpError> {
    let Ok(client) = get_client(app.store.as_ref(), &q.client_id).await else {
        return Err(PageError::NotFound("No such application.").into());
    };
    let accounts = account_choices(&app, &v.user.accounts).await?;
    let Some(account) = accounts
        .into_iter()
        .find(|a| Some(&a.id) == q.account.as_ref())
    else {
        return Err(PageError::NotFound("No such authorization of yours.").into());
    };
    let name = client.name;
    Ok(v.render(|nav| ConfirmView {
        nav,
        title: format!("Revoke access of {name} to {}?", account.name),
        message: format!(
            "Every token it holds for the API account {} stops working at once. Its access \
             to your other API accounts stays. It can ask again later.",
            account.name
        ),
        action: "/settings/applications/deauthorize".into(),
        fields: vec![
            ("client_id".into(), q.client_id.clone()),
            ("account".into(), account.id),
        ],
        confirm: "Revoke access".into(),
        back: HERE.into(),
    }))
}

pub async fn post_deauthorize(
    State(app): State<AppState>,
    Submitted { visit: v, form, .. }: Submitted<ApplicationsPage>,
) -> Result<Response, HttpError> {
    let id = form.get("client_id").unwrap_or("");
    let account = form.get("account").unwrap_or("");
    if !v.user.accounts.iter().any(|a| a.as_str() == account) {
        return Err(PageError::NotYourAccount.into());
    }
    let max = app.tokens.max_ttl();
    match deauthorize(
        app.store.as_ref(),
        &Actor::user(&v.user.id),
        Some(&app.caches),
        Deauthorization {
            user: &v.user,
            client_id: id,
            account: Some(account),
        },
        max,
        app.clock.now(),
    )
    .await
    {
        Ok(n) => {
            let sets = if n == 1 { "token set" } else { "token sets" };
            Ok(back_with(
                HERE,
                &format!("Access revoked; {n} {sets} stopped working."),
            ))
        }
        Err(e) => Err(e.into()),
    }
}
