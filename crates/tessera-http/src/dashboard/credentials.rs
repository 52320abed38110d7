//! API Credentials: an account's legacy credentials and OAuth 2.0 credential clients.

use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;
use tessera_core::audit::Actor;
use tessera_core::domain::{Client, ClientKind, ClientStatus, User};
use tessera_core::manage::clients::{
    create_credential_client_with_keys, create_credential_clients, get_client, revoke_client,
    NewCredentialClient,
};
use tessera_core::manage::tokens::test_credential;
use tessera_core::oauth::routes;

use super::client_keys::client_keys;
use super::visit::{
    back_with, rotate_with_overlap, CredentialsPage, Page, Signed, Submitted, Visit,
};
use crate::error::{HttpError, PageError};
use crate::state::AppState;
use crate::views::{
    account_choices, claim_rows, when, ClaimsView, ConfirmView, CredentialRow, CredentialsView,
    SecretView,
};

const HERE: &str = CredentialsPage::HERE;

#[derive(Deserialize)]
pub struct CredentialsQuery {
    account: Option<String>,
}

pub async fn get_credentials(
    State(app): State<AppState>,
    Query(q): Query<CredentialsQuery>,
    Signed { visit: v, .. }: Signed<CredentialsPage>,
) -> Result<Response, HttpError> {
    let accounts = account_choices(&app, &v.user.accounts).await?;
    let Some(current) = accounts
        .iter()
        .find(|a| Some(&a.id) == q.account.as_ref())
        .or_else(|| accounts.first())
    else {
        return Err(PageError::NoAccount.into());
    };
    let (account_id, account_name) = (current.id.clone(), current.name.clone());
    let account = tessera_core::domain::AccountId::parse(&account_id).ok_or(HttpError::NotFound)?;
    let legacy = super::legacy::rows(&app, &account).await?;
    let clients = app
        .store
        .list_clients(Some(&account))
        .await
        .map_err(HttpError::internal)?;
    let mut rows = Vec::new();
    for c in clients
        .into_iter()
        .filter(|c| c.kind == ClientKind::Credential)
    {
        let used = app
            .store
            .find_token_use(&c.id)
            .await
            .map_err(HttpError::internal)?
            .unwrap_or_default();
        rows.push((c, used));
    }
    let clients = rows
        .into_iter()
        .map(|(c, used)| CredentialRow {
            id: c.id.to_string(),
            name: c.name.clone(),
            created: when(Some(c.created_at)),
            last_used: when(used.last_token_at),
            usage: super::legacy::client_use_text(&used),
            status: c.status.as_str().into(),
            active: c.status == ClientStatus::Active,
        })
        .collect();
    Ok(v.render(|nav| CredentialsView {
        legacy,
        nav,
        accounts,
        account_id,
        account_name,
        clients,
    }))
}

/// The client, if it is a credential of one of the user's accounts.
async fn owned_credential(
    app: &AppState,
    user: &User,
    id: &str,
) -> Result<Option<Client>, HttpError> {
    let client = match get_client(app.store.as_ref(), id).await {
        Ok(c) => c,
        Err(tessera_core::error::ManageError::NotFound(_)) => return Ok(None),
        Err(e) => return Err(HttpError::internal(e)),
    };
    let mine = client.kind == ClientKind::Credential
        && client
            .account_id
            .as_ref()
            .is_some_and(|a| user.accounts.contains(a));
    Ok(mine.then_some(client))
}

fn not_yours() -> HttpError {
    PageError::NotFound("There is no such credential on your API accounts.").into()
}

pub async fn post_create(
    State(app): State<AppState>,
    Submitted { visit: v, form, .. }: Submitted<CredentialsPage>,
) -> Result<Response, HttpError> {
    let account = form.get("account").unwrap_or("");
    if !v.user.accounts.iter().any(|a| a.as_str() == account) {
        return Err(not_yours());
    }
    let new = NewCredentialClient {
        account_id: account,
        name: form.get("name").unwrap_or(""),
        scope: None,
        dpop_bound: form.get("dpop_bound") == Some("on"),
    };
    if let Some(keys) = client_keys(&form)? {
        let client = create_credential_client_with_keys(
            app.store.as_ref(),
            &Actor::user(&v.user.id),
            &new,
            keys,
            app.clock.now(),
        )
        .await?;
        let title = "OAuth 2.0 credentials created (private_key_jwt)";
        return secret_page(&app, v, title, client.id.as_str(), "", account);
    }
    let mut created = create_credential_clients(
        app.store.as_ref(),
        &Actor::user(&v.user.id),
        &new,
        1,
        app.clock.now(),
    )
    .await?;
    let Some(c) = created.pop() else {
        return Err(HttpError::internal("no client created"));
    };
    secret_page(
        &app,
        v,
        "OAuth 2.0 credentials created",
        &c.client.id.to_string(),
        c.secret.expose(),
        account,
    )
}

fn secret_page(
    app: &AppState,
    v: Visit,
    title: &str,
    id: &str,
    secret: &str,
    account: &str,
) -> Result<Response, HttpError> {
    Ok(v.render(|nav| SecretView {
        nav,
        title: title.into(),
        client_id: id.into(),
        client_secret: secret.into(),
        public: false,
        token_url: format!("{}{}", app.tokens.issuer, routes::TOKEN),
        back: format!("{HERE}?account={account}"),
    }))
}

pub async fn post_rotate(
    State(app): State<AppState>,
    Submitted { visit: v, form, .. }: Submitted<CredentialsPage>,
) -> Result<Response, HttpError> {
    let Some(client) = owned_credential(&app, &v.user, form.get("client_id").unwrap_or("")).await?
    else {
        return Err(not_yours());
    };
    if client.status != ClientStatus::Active {
        return Ok(back_with(
            HERE,
            "That credential was revoked in the meantime; nothing was rotated.",
        ));
    }
    let rotated = rotate_with_overlap(&app, &Actor::user(&v.user.id), &client).await?;
    let account = client.account_id.map(|a| a.to_string()).unwrap_or_default();
    let title = "New client secret (the old one works for 24 more hours)";
    secret_page(
        &app,
        v,
        title,
        client.id.as_str(),
        rotated.secret.expose(),
        &account,
    )
}

pub async fn post_test(
    State(app): State<AppState>,
    Submitted { visit: v, form, .. }: Submitted<CredentialsPage>,
) -> Result<Response, HttpError> {
    let Some(client) = owned_credential(&app, &v.user, form.get("client_id").unwrap_or("")).await?
    else {
        return Err(not_yours());
    };
    let now = app.clock.now();
    let keyring = app.caches.keyring();
    let cx = app
        .grant_context(&keyring, now)
        .map_err(HttpError::internal)?;
    let result = test_credential(
        &cx,
        client.id.as_str(),
        form.get("client_secret").unwrap_or(""),
    )
    .await;
    let account = client.account_id.map(|a| a.to_string()).unwrap_or_default();
    let (ok, message, claims) = match result {
        Ok(claims) => (
            true,
            String::new(),
            claim_rows(&serde_json::to_value(&claims).unwrap_or_default()),
        ),
        Err(e) => (
            false,
            format!(
                "The credential did not get a token: {} ({})",
                e.description, e.code
            ),
            Vec::new(),
        ),
    };
    Ok(v.render(|nav| ClaimsView {
        nav,
        title: format!("Test of {}", client.name),
        ok,
        message,
        claims,
        back: format!("{HERE}?account={account}"),
    }))
}

#[derive(Deserialize)]
pub struct ClientQuery {
    client_id: String,
}

pub async fn get_revoke(
    State(app): State<AppState>,
    Query(q): Query<ClientQuery>,
    Signed { visit: v, .. }: Signed<CredentialsPage>,
) -> Result<Response, HttpError> {
    let Some(client) = owned_credential(&app, &v.user, &q.client_id).await? else {
        return Err(not_yours());
    };
    Ok(v.render(|nav| ConfirmView {
        nav,
        title: format!("Revoke {}?", client.name),
        message: "It will get no new tokens, and every token it holds stops working at once. This cannot be undone.".into(),
        action: "/settings/credentials/revoke".into(),
        fields: vec![("client_id".into(), client.id.to_string())],
        confirm: "Revoke".into(),
        back: HERE.into(),
    }))
}

pub async fn post_revoke(
    State(app): State<AppState>,
    Submitted { visit: v, form, .. }: Submitted<CredentialsPage>,
) -> Result<Response, HttpError> {
    let Some(client) = owned_credential(&app, &v.user, form.get("client_id").unwrap_or("")).await?
    else {
        return Err(not_yours());
    };
    if client.status == ClientStatus::Revoked {
        return Ok(back_with(HERE, "That credential was already revoked."));
    }
    revoke_client(
        app.store.as_ref(),
        &Actor::user(&v.user.id),
        client.id.as_str(),
        app.clock.now(),
    )
    .await?;
    // This process enforces it at once; other servers through the change feed.
    app.caches.clients.invalidate(client.id.as_str());
    let account = client.account_id.map(|a| a.to_string()).unwrap_or_default();
    Ok(back_with(
        &format!("{HERE}?account={account}"),
        &format!("Revoked {}.", client.name),
    ))
}
