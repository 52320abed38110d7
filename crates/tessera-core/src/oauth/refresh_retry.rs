//! Retry-safe refresh (issue 17). A client whose refresh response was lost retries with the
//! same refresh token; by RFC 9700 §4.14.2 alone that is reuse, and the user's whole token
//! set dies. Instead, each rotation keeps the answer it gave, sealed with the master key
//! and bound to the spent token, and a retry of the *same* request within
//! [`RefreshPolicy::retry_window`](super::refresh_token::RefreshPolicy) gets that answer
//! again, as long as the new refresh token has not been used.
//!
//! Why this gives a thief nothing: whoever presents the old token within the window gets
//! the pair the legitimate client already holds, not a new one; the moment either party
//! uses the new refresh token the window closes, and any later use of the old token is
//! reuse again. A request that differs (another scope), comes after the window, or races
//! the first rotation (it found the token unspent and lost) is still reuse.

use serde::{Deserialize, Serialize};

use super::response::TokenResponse;
use crate::domain::{ordered_secret, SecretHash};
use crate::token::master_key::MasterKey;
use crate::UnixSeconds;

/// What a rotation answered and what it was asked, as sealed in the store.
#[derive(Serialize, Deserialize)]
struct Sealed {
    /// The `scope` parameter of the request, normalized; `None` when it had none.
    requested: Option<String>,
    access_token: String,
    access_expires_at: UnixSeconds,
    refresh_token: String,
    scope: Option<String>,
    /// The ID token of an OpenID Connect set's rotation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id_token: Option<String>,
}

/// Associated data binding a sealed answer to the spent token's row.
fn context(spent: &SecretHash) -> Vec<u8> {
    let mut context = b"refresh retry:".to_vec();
    context.extend_from_slice(&spent.0);
    context
}

/// Seals `answer` (to `requested`) for a retry of the request that spent `spent`.
pub fn seal(
    master: &MasterKey,
    spent: &SecretHash,
    requested: Option<String>,
    answer: &TokenResponse,
    access_expires_at: UnixSeconds,
) -> Option<Vec<u8>> {
    let sealed = Sealed {
        requested,
        access_token: answer.access_token.clone(),
        access_expires_at,
        refresh_token: answer.refresh_token.clone()?,
        scope: answer.scope.clone(),
        id_token: answer.id_token.clone(),
    };
    let plain = serde_json::to_vec(&sealed).ok()?;
    master.seal(&context(spent), &plain).ok()
}

/// A retry's answer, once opened: the pair and the hash of the refresh token in it.
pub struct Retry {
    pub answer: TokenResponse,
    pub successor: SecretHash,
}

/// Opens what `seal` kept for `spent`, if it answered the same `requested` scope; `None`
/// for anything else (another request, a row that does not open).
pub fn open(
    master: &MasterKey,
    spent: &SecretHash,
    sealed: &[u8],
    requested: Option<&str>,
    now: UnixSeconds,
) -> Option<Retry> {
    let plain = master.open(&context(spent), sealed).ok()?;
    let sealed: Sealed = serde_json::from_slice(&plain).ok()?;
    if sealed.requested.as_deref() != requested {
        return None;
    }
    let successor = ordered_secret::key(&sealed.refresh_token);
    Some(Retry {
        answer: TokenResponse {
            access_token: sealed.access_token,
            token_type: "Bearer",
            expires_in: (sealed.access_expires_at - now).max(0),
            refresh_token: Some(sealed.refresh_token),
            scope: sealed.scope,
            id_token: sealed.id_token,
        },
        successor,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn answer() -> TokenResponse {
        TokenResponse {
            access_token: "at".into(),
            token_type: "Bearer",
            expires_in: 600,
            refresh_token: Some("rt_new".into()),
            scope: Some("books:read".into()),
            id_token: Some("eyJ.id.token".into()),
        }
    }

    #[test]
    fn a_sealed_answer_opens_only_for_its_token_and_request() {
        let master = MasterKey::from_bytes(&[9; 32]).unwrap();
        let spent = SecretHash::of(b"rt_old");
        let sealed = seal(&master, &spent, Some("books:read".into()), &answer(), 1600).unwrap();
        assert!(
            !sealed.windows(6).any(|w| w == b"rt_new"),
            "the new token is not stored in plaintext"
        );
        let retry = open(&master, &spent, &sealed, Some("books:read"), 1100).unwrap();
        assert_eq!(retry.answer.access_token, "at");
        assert_eq!(retry.answer.expires_in, 500, "what is left of the lifetime");
        assert_eq!(retry.successor, SecretHash::of(b"rt_new"));
        assert!(
            open(&master, &spent, &sealed, None, 1100).is_none(),
            "another request"
        );
        let other = SecretHash::of(b"rt_other");
        assert!(
            open(&master, &other, &sealed, Some("books:read"), 1100).is_none(),
            "moved to another token's row"
        );
        let wrong = MasterKey::from_bytes(&[8; 32]).unwrap();
        assert!(open(&wrong, &spent, &sealed, Some("books:read"), 1100).is_none());
    }
}
