//! The operator's signing keys: the list, and rotation after a confirmation page.

use axum::extract::State;
use axum::response::Response;
use tessera_core::audit::Actor;
use tessera_core::manage::keys::{list_keys, rotate};
use tessera_core::runtime::sync::{reload_keyring, KeyReload};

use super::operator::operators_only;
use super::visit::{back_with, OperatorKeysPage, Page, Signed, Submitted};
use crate::error::HttpError;
use crate::operator_views::{KeyRow, OperatorKeysView};
use crate::state::AppState;
use crate::views::{when, ConfirmView};

const HERE: &str = OperatorKeysPage::HERE;

pub async fn get_keys(
    State(app): State<AppState>,
    Signed { visit: v, .. }: Signed<OperatorKeysPage>,
) -> Result<Response, HttpError> {
    operators_only(v.user.operator)?;
    let keys = list_keys(app.store.as_ref(), app.clock.now()).await?;
    let keys = keys
        .into_iter()
        .map(|(k, state)| KeyRow {
            kid: k.kid.to_string(),
            alg: k.alg.as_str().into(),
            state: state.as_str().into(),
            activates: when(Some(k.activates_at)),
        })
        .collect();
    Ok(v.render(|nav| OperatorKeysView {
        nav,
        tab: "keys",
        keys,
    }))
}

/// What rotating does, and one button to do it.
pub async fn get_rotate_key(
    Signed { visit: v, .. }: Signed<OperatorKeysPage>,
) -> Result<Response, HttpError> {
    operators_only(v.user.operator)?;
    Ok(v.render(|nav| ConfirmView {
        nav,
        title: "Rotate the signing key?".into(),
        message: "A new key is published in the JWKS now and signs new tokens once clients \
                  have had time to fetch it; tokens signed by the current key stay valid \
                  until they expire. Keys whose tokens have all expired are deleted."
            .into(),
        action: "/settings/operator/rotate-key".into(),
        fields: Vec::new(),
        confirm: "Rotate signing key".into(),
        back: HERE.into(),
    }))
}

pub async fn post_rotate_key(
    State(app): State<AppState>,
    Submitted { visit: v, .. }: Submitted<OperatorKeysPage>,
) -> Result<Response, HttpError> {
    operators_only(v.user.operator)?;
    let key = rotate(
        app.store.as_ref(),
        &Actor::user(&v.user.id),
        &app.master,
        &app.keys,
        app.clock.now(),
    )
    .await?;
    let reload = KeyReload {
        master: &app.master,
        max_token_ttl: app.tokens.max_ttl(),
    };
    reload_keyring(app.store.as_ref(), &app.caches, &reload)
        .await
        .map_err(HttpError::internal)?;
    Ok(back_with(
        HERE,
        &format!(
            "New key {} is published; it signs from {}.",
            key.kid,
            when(Some(key.activates_at))
        ),
    ))
}
