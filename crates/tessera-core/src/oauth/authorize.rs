//! The authorization request (RFC 6749 §4.1.1): validating it, and what happens on errors.
//!
//! Errors split in two (§4.1.2.1): when the client or the redirect URI cannot be trusted,
//! the user sees an error page and is never redirected; every other error goes back to the
//! client's redirect URI with `error`, `error_description` and `state`.

use super::pkce;
use super::request::Form;
use crate::domain::{Client, ClientId, ClientKind, ClientStatus, GrantType, ScopeSet};
use crate::error::{ErrorCode, OAuthError};

/// What the operator decides about authorization requests.
#[derive(Debug, Clone, Copy)]
pub struct AuthorizePolicy {
    /// PKCE for every client, not only public ones.
    pub require_pkce: bool,
    /// Lifetime of an authorization code, seconds (the seeds: 60).
    pub code_ttl: i64,
    /// Skip the consent page when the user already granted the same or wider scopes.
    pub skip_consent_when_granted: bool,
}

/// Where the code (or an error) goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// The client's registered redirect URI.
    Redirect(String),
    /// Tessera's own page that shows the code (apps without a redirect URI).
    CodePage,
}

/// A validated authorization request.
#[derive(Debug, Clone)]
pub struct AuthorizationRequest {
    pub client_id: ClientId,
    pub delivery: Delivery,
    /// Whether `redirect_uri` was in the request (then the token request must repeat it).
    pub redirect_uri_sent: bool,
    pub scope: ScopeSet,
    pub state: Option<String>,
    pub code_challenge: Option<String>,
    /// The email the client expects the user to sign in with (`login_hint`, OpenID Connect
    /// Core §3.1.2.1): it pre-fills the sign-in form, nothing more. Kept only when it looks
    /// like an email address; a hint is never an error.
    pub login_hint: Option<String>,
}

#[derive(Debug)]
pub enum AuthorizeError {
    /// Show the user an error page; do not redirect.
    Page(String),
    /// Send the error back to the client.
    Redirect {
        delivery: Delivery,
        error: OAuthError,
        state: Option<String>,
    },
}

/// The client and redirect URI first (errors → page), then the rest (errors → redirect).
pub fn validate(
    params: &Form,
    client: Option<&Client>,
    policy: &AuthorizePolicy,
) -> Result<AuthorizationRequest, AuthorizeError> {
    let page = |m: &str| AuthorizeError::Page(m.to_owned());
    let client = match client {
        Some(c)
            if c.kind == ClientKind::Application
                && c.status == ClientStatus::Active
                && c.allows_grant(GrantType::AuthorizationCode) =>
        {
            c
        }
        Some(_) => return Err(page("This application is not allowed to ask for access.")),
        None if params.get("client_id").is_none() => {
            return Err(page(
                "The request does not name an application (client_id is missing).",
            ))
        }
        None => {
            return Err(page(
                "The application that sent you here is not registered.",
            ))
        }
    };
    let sent = params.get("redirect_uri");
    let delivery =
        match (sent, client.redirect_uris.as_slice()) {
            // §3.1.2.3 and RFC 9700 §4.1.3: exact string comparison.
            (Some(uri), registered) if registered.iter().any(|r| r == uri) => {
                Delivery::Redirect(uri.to_owned())
            }
            (Some(_), _) => {
                return Err(page(
                    "The application asked to send you to an address it has not registered.",
                ))
            }
            (None, [only]) => Delivery::Redirect(only.clone()),
            (None, []) => Delivery::CodePage,
            (None, _) => return Err(page(
                "The application has several redirect addresses and did not say which one to use.",
            )),
        };
    let state = params.get("state").map(str::to_owned);
    let fail = |error: OAuthError| AuthorizeError::Redirect {
        delivery: delivery.clone(),
        error,
        state: state.clone(),
    };
    match params.get("response_type") {
        Some("code") => {}
        None => {
            return Err(fail(OAuthError::invalid_request(
                "response_type is missing",
            )))
        }
        Some(other) => {
            return Err(fail(OAuthError::new(
                ErrorCode::UnsupportedResponseType,
                format!("response_type {other:?} is not supported; use code"),
            )))
        }
    }
    let scope = match params.get("scope") {
        None => client.scopes.clone(),
        Some(raw) => {
            let set =
                ScopeSet::parse(raw).map_err(|e| fail(OAuthError::invalid_scope(e.to_string())))?;
            if !set.is_subset(&client.scopes) {
                let extra: Vec<&str> = set.difference(&client.scopes).collect();
                return Err(fail(OAuthError::invalid_scope(format!(
                    "this application may not ask for {}",
                    extra.join(" ")
                ))));
            }
            set
        }
    };
    if scope.is_empty() {
        return Err(fail(OAuthError::invalid_scope("no scope was requested")));
    }
    let code_challenge = match (
        params.get("code_challenge"),
        params.get("code_challenge_method"),
    ) {
        (Some(c), Some("S256")) if pkce::is_well_formed(c) => Some(c.to_owned()),
        (Some(_), Some("S256")) => {
            return Err(fail(OAuthError::invalid_request(
                "code_challenge must be 43 to 128 characters of [A-Za-z0-9-._~]",
            )))
        }
        (Some(_), _) | (None, Some(_)) => return Err(fail(OAuthError::invalid_request(
            "PKCE needs code_challenge with code_challenge_method=S256 (plain is not supported)",
        ))),
        (None, None) if client.public || client.require_pkce || policy.require_pkce => {
            return Err(fail(OAuthError::invalid_request(
                "PKCE is required: send code_challenge and code_challenge_method=S256",
            )))
        }
        (None, None) => None,
    };
    Ok(AuthorizationRequest {
        client_id: client.id.clone(),
        delivery,
        redirect_uri_sent: sent.is_some(),
        scope,
        state,
        code_challenge,
        login_hint: params
            .get("login_hint")
            .filter(|hint| plausible_email(hint))
            .map(str::to_owned),
    })
}

/// One `@` with something on each side, at most 254 characters (RFC 5321's path limit),
/// nothing but printable ASCII and no spaces: what the sign-in form's email field takes.
fn plausible_email(hint: &str) -> bool {
    hint.len() <= 254
        && hint.bytes().all(|b| b.is_ascii_graphic())
        && hint.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && !domain.is_empty() && !domain.contains('@')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_hints_are_kept_only_when_they_look_like_an_email() {
        for (hint, kept) in [
            ("ada@example.com", true),
            ("a+b@x", true),
            ("ada", false),
            ("@example.com", false),
            ("ada@", false),
            ("a@b@c", false),
            ("ada lovelace@example.com", false),
            ("ada@exämple.com", false),
            ("\"><script>@x", true),
        ] {
            assert_eq!(plausible_email(hint), kept, "{hint:?}");
        }
        assert!(!plausible_email(&format!("{}@x", "a".repeat(253))));
    }
}
