//! RP-Initiated Logout (OpenID Connect RP-Initiated Logout 1.0): an application sends the
//! browser to end the user's Tessera session, and names where it should come back.
//!
//! §2: `id_token_hint` names the sign-in (an ID token this server issued, expired or
//! not), `client_id` the application, `post_logout_redirect_uri` where to return, exactly
//! as registered, with `state` echoed. A request that names a return address nobody
//! registered, or a hint this server did not sign, is refused on a page and never
//! redirected (§3). The session ends without a question only when the hint names the
//! signed-in user; otherwise the user confirms (§2: the OP must ask when it cannot tell
//! the request belongs to the current session), so a link on another site cannot sign
//! anyone out.

use super::request::Form;
use crate::domain::{Client, ClientId, UserId};
use crate::token::id_token::{verify_hint, IdTokenClaims};
use crate::token::keys::Keyring;
use crate::UnixSeconds;

/// A validated logout request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logout {
    /// The user the `id_token_hint` names.
    pub hinted_user: Option<String>,
    /// The application's name, for the confirmation page.
    pub client_name: Option<String>,
    /// Where the browser goes afterwards, `state` included; `None`: Tessera's own page.
    pub return_to: Option<String>,
}

impl Logout {
    /// Whether the user must confirm: there is a session, and the hint does not name its
    /// user (no hint, or another user's).
    pub fn needs_confirmation(&self, signed_in: Option<&UserId>) -> bool {
        signed_in.is_some_and(|user| self.hinted_user.as_deref() != Some(user.as_str()))
    }
}

/// The `id_token_hint` of `form`, verified: `Ok(None)` without one, `Err` (the page's
/// message) when it is not an ID token this server signed.
pub fn hint(
    form: &Form,
    keys: &Keyring,
    issuer: &str,
    now: UnixSeconds,
) -> Result<Option<IdTokenClaims>, String> {
    let Some(raw) = form.get("id_token_hint") else {
        return Ok(None);
    };
    verify_hint(raw, keys, issuer, now).map(Some).map_err(|_| {
        "The sign-out request carries an id_token_hint that is not an ID token of this server."
            .to_owned()
    })
}

/// The client the request names: `client_id`, else the hint's audience. Both, and
/// different, is an error.
pub fn named_client(form: &Form, hint: Option<&IdTokenClaims>) -> Result<Option<ClientId>, String> {
    let sent = form.get("client_id");
    if let (Some(sent), Some(hint)) = (sent, hint) {
        if sent != hint.aud {
            return Err("The sign-out request's client_id is not the application its id_token_hint was issued to.".into());
        }
    }
    let Some(raw) = sent.or(hint.map(|h| h.aud.as_str())) else {
        return Ok(None);
    };
    ClientId::parse(raw)
        .map(Some)
        .ok_or_else(|| "The sign-out request names an application that is not registered.".into())
}

/// Validates the request once the hint is verified and the named client looked up
/// (`client` is `None` when the request names none, or names one that does not exist).
pub fn plan(
    form: &Form,
    hint: Option<&IdTokenClaims>,
    named: Option<&ClientId>,
    client: Option<&Client>,
) -> Result<Logout, String> {
    if named.is_some() && client.is_none() {
        return Err("The sign-out request names an application that is not registered.".into());
    }
    let return_to = match form.get("post_logout_redirect_uri") {
        None => None,
        Some(uri) => {
            let Some(client) = client else {
                return Err("The sign-out request asks to return to an address but names no application (send client_id or id_token_hint).".into());
            };
            if !client.post_logout_redirect_uris.iter().any(|r| r == uri) {
                return Err(
                    "The application asked to send you to an address it has not registered for after sign-out.".into(),
                );
            }
            Some(with_state(uri, form.get("state")))
        }
    };
    Ok(Logout {
        hinted_user: hint.map(|h| h.sub.clone()),
        client_name: client.map(|c| c.name.clone()),
        return_to,
    })
}

/// `uri` with `state` appended to its query, as §3 asks.
fn with_state(uri: &str, state: Option<&str>) -> String {
    let Some(state) = state else {
        return uri.to_owned();
    };
    let mut encoded = String::with_capacity(state.len());
    for b in state.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    let sep = if uri.contains('?') { '&' } else { '?' };
    format!("{uri}{sep}state={encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::application;

    const BACK: &str = "https://rp.example/signed-out";

    fn claims(sub: &str, aud: &str) -> IdTokenClaims {
        IdTokenClaims {
            iss: "http://i".into(),
            sub: sub.into(),
            aud: aud.into(),
            exp: 0,
            iat: 0,
            auth_time: 0,
            nonce: None,
            at_hash: String::new(),
            released: Default::default(),
        }
    }

    #[test]
    fn logout_requests_are_checked_against_the_registration() {
        let mut app = application(false, true, None);
        app.post_logout_redirect_uris = vec![BACK.into()];
        let id = app.id.to_string();
        let form = |q: &str| Form::parse(q.as_bytes()).unwrap();
        let hinted = claims("usr_ada", &id);
        let other = claims("usr_ada", "cl_other");

        let back = form(&format!("post_logout_redirect_uri={BACK}&state=a+b"));
        let ok = plan(&back, Some(&hinted), Some(&app.id), Some(&app)).unwrap();
        assert_eq!(
            ok.return_to.as_deref(),
            Some(&*format!("{BACK}?state=a%20b"))
        );
        assert_eq!(ok.hinted_user.as_deref(), Some("usr_ada"));

        let elsewhere = form("post_logout_redirect_uri=https://evil.example/");
        let err = plan(&elsewhere, Some(&hinted), Some(&app.id), Some(&app)).unwrap_err();
        assert!(err.contains("not registered"), "{err}");
        let err = plan(&back, None, None, None).unwrap_err();
        assert!(err.contains("names no application"), "{err}");
        let unknown = ClientId::parse("cl_gone").unwrap();
        assert!(plan(&form(""), None, Some(&unknown), None).is_err());
        assert_eq!(plan(&form(""), None, None, None).unwrap().return_to, None);

        let mismatch = form("client_id=cl_someone");
        assert!(named_client(&mismatch, Some(&other)).is_err());
        let from_hint = named_client(&form(""), Some(&hinted)).unwrap();
        assert_eq!(from_hint.as_ref(), Some(&app.id));
    }

    #[test]
    fn only_a_hint_naming_the_signed_in_user_skips_the_question() {
        let logout = |user: Option<&str>| Logout {
            hinted_user: user.map(str::to_owned),
            client_name: None,
            return_to: None,
        };
        let ada = UserId::parse("usr_ada").unwrap();
        assert!(!logout(Some("usr_ada")).needs_confirmation(Some(&ada)));
        assert!(logout(Some("usr_bob")).needs_confirmation(Some(&ada)));
        assert!(logout(None).needs_confirmation(Some(&ada)));
        assert!(
            !logout(None).needs_confirmation(None),
            "no session, nothing to ask"
        );
    }
}
