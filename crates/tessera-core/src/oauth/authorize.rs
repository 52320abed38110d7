//! The authorization request (RFC 6749 §4.1.1): validating it, and what happens on errors.
//!
//! Errors split in two (§4.1.2.1): when the client or the redirect URI cannot be trusted,
//! the user sees an error page and is never redirected; every other error goes back to the
//! client's redirect URI with `error`, `error_description` and `state`.
//!
//! OpenID Connect Core §3.1.2.1 adds `nonce`, `prompt` and `max_age`, and the identity
//! scopes (`identity.rs`), which every application may ask for beside its own.

use super::pkce;
use super::request::Form;
use super::scope::application_scope;
use crate::domain::{Client, ClientId, ClientKind, ClientStatus, GrantType, ScopeSet, SecretHash};
use crate::error::{ErrorCode, OAuthError};
use crate::token::id_token::verify_hint;
use crate::token::jwk::is_thumbprint;
use crate::token::keys::Keyring;
use crate::UnixSeconds;

/// The longest `nonce` kept; a longer one is refused rather than cut (it must come back
/// unchanged in the ID token).
pub const MAX_NONCE_LEN: usize = 512;

/// The parameter Tessera adds to the authorization request when it sends the user to sign
/// in because `prompt` or `max_age` asked for it: the time the sign-in page was shown, so
/// that the request, coming back, is satisfied by the sign-in that just happened. Anyone
/// may add it, which gains nothing: it only waives what `prompt=login` and `max_age` would
/// demand, which the sender could have left out, and the ID token's `auth_time` still
/// tells the truth.
pub const SIGNED_IN_AFTER: &str = "signed_in_after";

/// What the operator decides about authorization requests.
#[derive(Debug, Clone, Copy)]
pub struct AuthorizePolicy {
    /// PKCE for every client, not only public ones.
    pub require_pkce: bool,
    /// Lifetime of an authorization code, seconds (the seeds: 60).
    pub code_ttl: i64,
    /// Skip the consent page when the user already granted the same or wider scopes.
    pub skip_consent_when_granted: bool,
    /// Every client must push its authorization requests (RFC 9126 §5).
    pub require_par: bool,
    /// How long a pushed request's `request_uri` lives, seconds.
    pub par_ttl: i64,
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
    /// Echoed in the ID token (OpenID Connect Core §3.1.2.1).
    pub nonce: Option<String>,
    pub prompt: Prompt,
    /// The longest time since the user signed in that the client accepts, seconds.
    pub max_age: Option<i64>,
    /// See [`SIGNED_IN_AFTER`].
    pub signed_in_after: Option<UnixSeconds>,
    /// The hash of the `request_uri` when the request was pushed (RFC 9126); the
    /// authorization it completes spends it.
    pub pushed: Option<SecretHash>,
    /// RFC 9449 §10: the thumbprint of the DPoP key the code's exchange must prove.
    pub dpop_jkt: Option<String>,
    /// The user the client expects to be signed in: the `sub` of its `id_token_hint`
    /// (OpenID Connect Core §3.1.2.1).
    pub hinted_user: Option<String>,
}

/// What checking an `id_token_hint` needs: the keys this server signs ID tokens with, its
/// issuer, and the time.
#[derive(Clone, Copy)]
pub struct HintCheck<'a> {
    pub keys: &'a Keyring,
    pub issuer: &'a str,
    pub now: UnixSeconds,
}

/// `prompt` (OpenID Connect Core §3.1.2.1): which pages the user must, or must not, see.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Prompt {
    /// No page at all: an error goes back instead of any sign-in or consent page.
    pub none: bool,
    /// Sign in again, even with a live session.
    pub login: bool,
    /// Ask for consent, even when an earlier one covers the request.
    pub consent: bool,
    /// Let the user choose who signs in: the sign-in page, as for `login`.
    pub select_account: bool,
}

impl Prompt {
    pub fn parse(raw: Option<&str>) -> Result<Self, OAuthError> {
        let mut prompt = Self::default();
        for value in raw.unwrap_or("").split(' ').filter(|v| !v.is_empty()) {
            match value {
                "none" => prompt.none = true,
                "login" => prompt.login = true,
                "consent" => prompt.consent = true,
                "select_account" => prompt.select_account = true,
                other => {
                    return Err(OAuthError::invalid_request(format!(
                    "prompt {other:?} is not supported; use none, login, consent or select_account"
                )))
                }
            }
        }
        if prompt.none && (prompt.login || prompt.consent || prompt.select_account) {
            return Err(OAuthError::invalid_request(
                "prompt=none cannot be combined with another prompt value",
            ));
        }
        Ok(prompt)
    }
}

impl AuthorizationRequest {
    /// Whether the user must sign in (again) before this request goes on, given when the
    /// session's user signed in (`None`: no session).
    pub fn needs_sign_in(&self, auth_time: Option<UnixSeconds>, now: UnixSeconds) -> bool {
        let Some(auth_time) = auth_time else {
            return true;
        };
        if self.signed_in_for_it(auth_time) {
            return false;
        }
        let too_old = self.max_age.is_some_and(|age| now - auth_time > age);
        self.prompt.login || self.prompt.select_account || too_old
    }

    /// Whether `user`, signed in, is someone else than the user `id_token_hint` names.
    pub fn hints_at_another_user(&self, user: &str) -> bool {
        self.hinted_user.as_deref().is_some_and(|sub| sub != user)
    }

    /// Whether the user signed in (at `auth_time`) on the sign-in page this request sent
    /// them to, rather than before it came.
    pub fn signed_in_for_it(&self, auth_time: UnixSeconds) -> bool {
        self.signed_in_after.is_some_and(|after| auth_time >= after)
    }
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
/// `pushed`: the request came through PAR, by the `request_uri` with this hash.
pub fn validate(
    params: &Form,
    client: Option<&Client>,
    (policy, hints): (&AuthorizePolicy, HintCheck<'_>),
    pushed: Option<SecretHash>,
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
    // OAuth 2.0 Multiple Response Type Encoding Practices §2: only `query` is offered.
    if let Some(mode) = params.get("response_mode").filter(|m| *m != "query") {
        return Err(fail(OAuthError::invalid_request(format!(
            "response_mode {mode:?} is not supported; responses come in the query"
        ))));
    }
    let scope = application_scope(params.get("scope"), client).map_err(fail)?;
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
    // RFC 9126 §5: an application (or the server) may take pushed requests only.
    if pushed.is_none() && (client.require_par || policy.require_par) {
        return Err(fail(OAuthError::invalid_request(
            "this application must push its authorization requests first (PAR, RFC 9126): POST them to the pushed_authorization_request_endpoint and send the request_uri",
        )));
    }
    // OpenID Connect Core §6: request objects are not supported. (A `request_uri` is
    // resolved before this, from the pushed requests; none is left here.)
    if params.get("request").is_some() {
        return Err(fail(OAuthError::new(
            ErrorCode::RequestNotSupported,
            "request objects (the request parameter) are not supported",
        )));
    }
    if params.get("request_uri").is_some() {
        return Err(fail(OAuthError::new(
            ErrorCode::RequestUriNotSupported,
            "request_uri is only accepted from the pushed authorization request endpoint",
        )));
    }
    let prompt = Prompt::parse(params.get("prompt")).map_err(fail)?;
    let max_age = match params.get("max_age") {
        None => None,
        Some(raw) => Some(raw.parse::<u32>().map(i64::from).map_err(|_| {
            fail(OAuthError::invalid_request(
                "max_age must be a whole number of seconds, 0 or more",
            ))
        })?),
    };
    let nonce = params.get("nonce");
    if nonce.is_some_and(|n| n.len() > MAX_NONCE_LEN) {
        return Err(fail(OAuthError::invalid_request(format!(
            "nonce is longer than {MAX_NONCE_LEN} characters"
        ))));
    }
    // Core §3.1.2.1: an ID token this server issued to this client, expired or not.
    let hinted_user = match params.get("id_token_hint") {
        None => None,
        Some(raw) => match verify_hint(raw, hints.keys, hints.issuer, hints.now) {
            Ok(claims) if claims.aud == client.id.as_str() => Some(claims.sub),
            Ok(_) => {
                return Err(fail(OAuthError::invalid_request(
                    "id_token_hint is an ID token issued to another application",
                )))
            }
            Err(_) => {
                return Err(fail(OAuthError::invalid_request(
                    "id_token_hint is not an ID token of this server",
                )))
            }
        },
    };
    let dpop_jkt = params.get("dpop_jkt");
    if dpop_jkt.is_some_and(|jkt| !is_thumbprint(jkt)) {
        return Err(fail(OAuthError::invalid_request(
            "dpop_jkt must be the base64url SHA-256 JWK thumbprint (RFC 7638) of the DPoP key",
        )));
    }
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
        nonce: nonce.map(str::to_owned),
        prompt,
        max_age,
        signed_in_after: params.get(SIGNED_IN_AFTER).and_then(|raw| raw.parse().ok()),
        pushed,
        dpop_jkt: dpop_jkt.map(str::to_owned),
        hinted_user,
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

    #[test]
    fn prompt_values_parse_and_none_stands_alone() {
        let p = Prompt::parse(Some("login consent")).unwrap();
        assert!(p.login && p.consent && !p.none && !p.select_account);
        assert_eq!(Prompt::parse(None).unwrap(), Prompt::default());
        assert!(Prompt::parse(Some("none")).unwrap().none);
        for bad in ["none login", "consent none", "create", "LOGIN"] {
            let err = Prompt::parse(Some(bad)).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidRequest, "{bad}");
        }
    }

    #[test]
    fn sign_in_is_asked_for_by_prompt_and_max_age_until_it_happened() {
        let request = |prompt: &str, max_age: Option<i64>, after: Option<i64>| {
            let mut params = vec![format!("prompt={prompt}")];
            if let Some(age) = max_age {
                params.push(format!("max_age={age}"));
            }
            if let Some(after) = after {
                params.push(format!("{SIGNED_IN_AFTER}={after}"));
            }
            AuthorizationRequest {
                client_id: ClientId::parse("cl_x").unwrap(),
                delivery: Delivery::CodePage,
                redirect_uri_sent: false,
                scope: ScopeSet::parse("openid").unwrap(),
                state: None,
                code_challenge: None,
                login_hint: None,
                nonce: None,
                prompt: Prompt::parse(Some(prompt)).unwrap(),
                max_age,
                signed_in_after: after,
                pushed: None,
                dpop_jkt: None,
                hinted_user: None,
            }
        };
        let now = 1_000;
        // (prompt, max_age, signed_in_after, auth_time, sign in?)
        for (prompt, max_age, after, auth_time, expected) in [
            ("", None, None, None, true),
            ("", None, None, Some(0), false),
            ("login", None, None, Some(999), true),
            ("login", None, Some(990), Some(995), false),
            ("login", None, Some(990), Some(980), true),
            ("select_account", None, None, Some(999), true),
            ("", Some(60), None, Some(940), false),
            ("", Some(60), None, Some(939), true),
            ("", Some(0), None, Some(999), true),
            ("", Some(0), Some(999), Some(999), false),
            ("consent", None, None, Some(0), false),
        ] {
            let r = request(prompt, max_age, after);
            assert_eq!(
                r.needs_sign_in(auth_time, now),
                expected,
                "prompt={prompt} max_age={max_age:?} after={after:?} auth_time={auth_time:?}"
            );
        }
    }
}
