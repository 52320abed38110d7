//! The sample API that stands behind the gateway when no upstream is configured: an API
//! account's details and its books (uploaded document collections).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use tessera_core::domain::{Account, AccountId};
use tessera_core::random;
use tessera_core::store::Book;

use crate::body::read_limited;
use crate::caller::Caller;
use crate::error::HttpError;
use crate::state::AppState;

fn account_id(raw: &str) -> Result<AccountId, HttpError> {
    AccountId::parse(raw).ok_or(HttpError::NotFound)
}

async fn account(app: &AppState, id: &AccountId) -> Result<Arc<Account>, HttpError> {
    app.caches
        .accounts
        .get(id, app.store.as_ref(), app.clock.now())
        .await
        .map_err(HttpError::internal)?
        .ok_or(HttpError::NotFound)
}

pub async fn get_account(State(app): State<AppState>, caller: Caller) -> Response {
    let outcome = async {
        caller.require_scope("account:read")?;
        let account = account(&app, &account_id(caller.account())?).await?;
        Ok(Json(json!({
            "account_id": account.id.as_str(),
            "name": account.name,
            "external_id": account.external_id.as_ref().map(|e| e.as_str()),
        }))
        .into_response())
    };
    caller.respond(outcome.await)
}

#[derive(Deserialize)]
struct NewBook {
    name: String,
    #[serde(default)]
    documents: Value,
}

pub async fn post_books(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let outcome = create_book(&app, &caller, &headers, body).await;
    caller.respond(outcome)
}

async fn create_book(
    app: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, HttpError> {
    caller.require_scope("books:write")?;
    let bytes = read_limited(headers, body, app.http.json_limit).await?;
    let new: NewBook = serde_json::from_slice(&bytes).map_err(|e| {
        HttpError::BadRequest(format!(
            "the body must be JSON like {{\"name\": \"…\", \"documents\": […]}}: {e}"
        ))
    })?;
    let name = new.name.trim();
    if name.is_empty() || name.len() > 200 {
        return Err(HttpError::BadRequest(
            "a book name must be 1 to 200 characters".into(),
        ));
    }
    let book = Book {
        id: random::token::<16>("book_").map_err(HttpError::internal)?,
        account_id: account_id(caller.account())?,
        name: name.to_owned(),
        documents: new.documents.to_string(),
        created_at: app.clock.now(),
    };
    app.store
        .insert_book(&book)
        .await
        .map_err(HttpError::internal)?;
    Ok(crate::error::created(Json(
        json!({ "id": book.id, "name": book.name }),
    )))
}

pub async fn get_books(State(app): State<AppState>, caller: Caller) -> Response {
    let outcome = async {
        caller.require_scope("books:read")?;
        let books = app
            .store
            .list_books(&account_id(caller.account())?)
            .await
            .map_err(HttpError::internal)?;
        let books: Vec<Value> = books
            .iter()
            .map(|b| json!({ "id": b.id, "name": b.name, "created_at": b.created_at }))
            .collect();
        Ok(Json(json!({ "books": books })).into_response())
    };
    caller.respond(outcome.await)
}

/// Another account's book is 404, exactly like a missing one: ids leak nothing.
pub async fn get_book(
    State(app): State<AppState>,
    Path(id): Path<String>,
    caller: Caller,
) -> Response {
    let outcome = async {
        caller.require_scope("books:read")?;
        let book = app
            .store
            .find_book(&account_id(caller.account())?, &id)
            .await
            .map_err(HttpError::internal)?
            .ok_or(HttpError::NotFound)?;
        let documents: Value = serde_json::from_str(&book.documents).unwrap_or(Value::Null);
        Ok(Json(json!({
            "id": book.id, "name": book.name, "documents": documents, "created_at": book.created_at,
        }))
        .into_response())
    };
    caller.respond(outcome.await)
}
