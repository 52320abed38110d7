//! The `private_key_jwt` fields of the dashboard's registration forms (applications and
//! credentials): a JWK Set pasted in, or the URL of one; neither means a secret.

use tessera_core::domain::ClientKeys;
use tessera_core::error::ManageError;
use tessera_core::oauth::request::Form;

use crate::error::{HttpError, PageError};

/// The keys `form`'s `jwks` or `jwks_uri` field names; both is an error.
pub(super) fn client_keys(form: &Form) -> Result<Option<ClientKeys>, HttpError> {
    let pasted = form.get("jwks").map(str::trim).filter(|s| !s.is_empty());
    let url = form
        .get("jwks_uri")
        .map(str::trim)
        .filter(|s| !s.is_empty());
    match (pasted, url) {
        (Some(set), None) => Ok(Some(ClientKeys::Inline(set.to_owned()))),
        (None, Some(url)) => Ok(Some(ClientKeys::Uri(url.to_owned()))),
        (None, None) => Ok(None),
        (Some(_), Some(_)) => Err(PageError::Manage(ManageError::Invalid(
            "Give the public keys or the URL where they are, not both.".into(),
        ))
        .into()),
    }
}
