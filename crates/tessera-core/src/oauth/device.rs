//! The device authorization grant (RFC 8628): a device without a browser asks for a device
//! code and a user code (§3.1–3.2); the user types the user code on the verification page,
//! signs in and approves or denies (§3.3); meanwhile the device polls the token endpoint
//! with the device code (§3.4–3.5) and gets one token response once the user approved.
//!
//! HTTP renders the verification page and its forms; every rule is here.

use std::fmt;

use serde::Serialize;

use super::client_auth::{Accepted, ClientRequest};
use super::consent::{decide, refusal, Decision, DecisionOutcome};
use super::request::Form;
use super::response::TokenResponse;
use super::scope::application_scope;
use super::token::EndpointContext;
use super::token_set::{start_token_set, GrantContext, TokenSetOwner};
use crate::domain::{Client, GrantType, SecretHash, TokenSetId, User};
use crate::error::{ErrorCode, OAuthError, StoreError};
use crate::random;
use crate::store::{DeviceApproval, DeviceAuthorization, DeviceStatus, Store};
use crate::UnixSeconds;

/// §6.1: twenty consonants, no vowels (no words spelled by chance) and no look-alikes
/// (no 0/O, 1/I/L, 5/S confusion since there are no digits, and neither I nor O).
pub const USER_CODE_ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";
/// Eight characters: 20^8 ≈ 2.6·10^10 codes, which the verification page's rate limits
/// keep out of a guesser's reach for the ten minutes a code lives (§5.1).
pub const USER_CODE_LENGTH: usize = 8;
/// §3.5: how much `slow_down` raises a device's polling interval.
pub const SLOW_DOWN_STEP: i64 = 5;

/// How long device codes live and how often a device may poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DevicePolicy {
    /// Seconds a device authorization may wait for the user (`expires_in`).
    pub ttl: i64,
    /// Seconds a device must wait between polls (`interval`).
    pub interval: i64,
}

impl Default for DevicePolicy {
    fn default() -> Self {
        Self {
            ttl: 600,
            interval: 5,
        }
    }
}

/// §3.2: the device authorization response. `Debug` redacts the device code.
#[derive(Clone, Serialize, PartialEq, Eq)]
pub struct DeviceAuthorizationResponse {
    pub device_code: String,
    /// As the user reads it: `WDJB-MJHT`.
    pub user_code: String,
    pub verification_uri: String,
    /// The verification page with the user code filled in (§3.3.1), for a QR code or link.
    pub verification_uri_complete: String,
    pub expires_in: i64,
    pub interval: i64,
}

impl fmt::Debug for DeviceAuthorizationResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceAuthorizationResponse")
            .field("device_code", &"[redacted]")
            .field("user_code", &self.user_code)
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

/// The canonical form of a user code as a user typed it: upper case, without dashes and
/// spaces; `None` when that is not eight letters of [`USER_CODE_ALPHABET`].
pub fn canonical_user_code(typed: &str) -> Option<String> {
    let code: String = typed
        .chars()
        .filter(|c| !matches!(c, '-' | ' ' | '\t'))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let valid =
        code.len() == USER_CODE_LENGTH && code.bytes().all(|b| USER_CODE_ALPHABET.contains(&b));
    valid.then_some(code)
}

/// How a canonical user code is shown: two groups of four, `WDJB-MJHT`.
pub fn display_user_code(canonical: &str) -> String {
    let (a, b) = canonical.split_at(canonical.len() / 2);
    format!("{a}-{b}")
}

fn user_code_hash(canonical: &str) -> SecretHash {
    SecretHash::of(canonical.as_bytes())
}

/// A fresh user code; each letter drawn uniformly (bytes ≥ 240 are drawn again, so the
/// modulo does not favour the first letters).
fn draw_user_code() -> Result<String, OAuthError> {
    let mut code = String::with_capacity(USER_CODE_LENGTH);
    while code.len() < USER_CODE_LENGTH {
        let bytes = random::bytes::<16>().map_err(OAuthError::server_error)?;
        for b in bytes.into_iter().filter(|b| *b < 240) {
            if code.len() == USER_CODE_LENGTH {
                break;
            }
            code.push(USER_CODE_ALPHABET[usize::from(b % 20)] as char);
        }
    }
    Ok(code)
}

/// §3.1–3.2: authenticates the client (a public one by its id alone), checks that it may
/// use the device grant and what it asks for, and stores a pending authorization.
/// `verification_uri` is the page users type the code on.
pub async fn request_device_authorization(
    request: &ClientRequest<'_>,
    cx: &EndpointContext<'_>,
    policy: &DevicePolicy,
    verification_uri: &str,
    now: UnixSeconds,
) -> Result<DeviceAuthorizationResponse, OAuthError> {
    let client = cx.authenticate(request, Accepted::Any, now).await?;
    if !client.allows_grant(GrantType::DeviceCode) {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "this client may not use the device authorization grant; register it with --grant device_code",
        ));
    }
    let scopes = application_scope(request.form.get("scope"), &client)?;
    let device_code = random::token::<32>("dc_").map_err(OAuthError::server_error)?;
    let token_set_id = TokenSetId::generate_at(now).map_err(OAuthError::server_error)?;
    // A clash with a live user code is rare (one in 2.6·10^10 per live code); draw again.
    for _ in 0..4 {
        let user_code = draw_user_code()?;
        let record = DeviceAuthorization {
            device_code_hash: SecretHash::of(device_code.as_bytes()),
            user_code_hash: user_code_hash(&user_code),
            client_id: client.id.clone(),
            scopes: scopes.clone(),
            status: DeviceStatus::Pending,
            token_set_id: token_set_id.clone(),
            interval: policy.interval,
            last_polled_at: None,
            created_at: now,
            expires_at: now + policy.ttl,
            used_at: None,
        };
        if cx.store.insert_device_authorization(&record).await? {
            return Ok(DeviceAuthorizationResponse {
                device_code,
                user_code: display_user_code(&user_code),
                verification_uri: verification_uri.to_owned(),
                verification_uri_complete: format!("{verification_uri}?user_code={user_code}"),
                expires_in: policy.ttl,
                interval: policy.interval,
            });
        }
    }
    Err(OAuthError::server_error(
        "no free user code was found; try again",
    ))
}

/// §3.4–3.5: one poll of the token endpoint with a device code. Of any number of polls of
/// an approved authorization, exactly one gets the tokens (the store spends it atomically).
#[tracing::instrument(level = "debug", skip_all, fields(client_id = %client.id))]
pub async fn exchange_device_code(
    cx: &GrantContext<'_>,
    client: &Client,
    form: &Form,
) -> Result<TokenResponse, OAuthError> {
    let (store, now) = (cx.store, cx.now);
    let hash = SecretHash::of(form.require("device_code")?.as_bytes());
    let device = store
        .find_device_authorization(&hash)
        .await?
        .filter(|d| d.client_id == client.id)
        .ok_or_else(|| {
            OAuthError::invalid_grant("the device code is unknown or was issued to another client")
        })?;
    if device.used_at.is_some() {
        return Err(OAuthError::invalid_grant(
            "the device code was already exchanged for tokens",
        ));
    }
    if now >= device.expires_at {
        return Err(OAuthError::new(
            ErrorCode::ExpiredToken,
            "the device code has expired; ask for a new one",
        ));
    }
    match &device.status {
        DeviceStatus::Denied => Err(OAuthError::new(
            ErrorCode::AccessDenied,
            "the user denied the request",
        )),
        DeviceStatus::Pending => {
            let too_fast = device
                .last_polled_at
                .is_some_and(|last| now - last < device.interval);
            let interval = device.interval + if too_fast { SLOW_DOWN_STEP } else { 0 };
            store.record_device_poll(&hash, now, interval).await?;
            Err(if too_fast {
                OAuthError::new(
                    ErrorCode::SlowDown,
                    format!("polling too often; wait {interval} seconds between requests"),
                )
            } else {
                OAuthError::new(
                    ErrorCode::AuthorizationPending,
                    "the user has not yet approved or denied the request",
                )
            })
        }
        DeviceStatus::Approved(approval) => {
            if !store
                .spend_device_authorization(&hash, &client.id, now)
                .await?
            {
                return Err(OAuthError::invalid_grant(
                    "the device code was already exchanged for tokens",
                ));
            }
            let owner = TokenSetOwner {
                client,
                user: &approval.user_id,
                account: &approval.account_id,
                scopes: &approval.scopes,
                auth_time: Some(approval.auth_time),
                nonce: None,
            };
            start_token_set(cx, &device.token_set_id, &owner).await
        }
    }
}

/// The pending, unexpired device authorization a user code (as typed) stands for.
pub async fn pending_device(
    store: &dyn Store,
    typed: &str,
    now: UnixSeconds,
) -> Result<Option<DeviceAuthorization>, StoreError> {
    let Some(code) = canonical_user_code(typed) else {
        return Ok(None);
    };
    let found = store
        .find_device_authorization_by_user_code(&user_code_hash(&code))
        .await?;
    Ok(found.filter(|d| d.status == DeviceStatus::Pending && now < d.expires_at))
}

/// What the user's decision on a device's request came to.
#[derive(Debug, PartialEq, Eq)]
pub enum DeviceOutcome {
    Approved,
    /// Denied by the user, or refused (no account to authorize it on, no scope left).
    Denied(String),
    /// The chosen account is not one this user may authorize the application on.
    UnknownAccount,
    /// Decided before (in another tab) or expired meanwhile.
    NoLongerPending,
}

/// Applies the user's decision on the consent page to `device`: the same rules as the code
/// flow's consent ([`decide`]), recorded on the device authorization, which the device's
/// next poll reads.
pub async fn decide_device(
    store: &dyn Store,
    device: &DeviceAuthorization,
    client: &Client,
    signed_in: (&User, UnixSeconds),
    decision: &Decision<'_>,
    now: UnixSeconds,
) -> Result<DeviceOutcome, StoreError> {
    let (user, auth_time) = signed_in;
    let outcome = decide(store, client, user, &device.scopes, decision, now).await?;
    match outcome {
        DecisionOutcome::UnknownAccount => Ok(DeviceOutcome::UnknownAccount),
        DecisionOutcome::Issue(approved) => {
            let approval = DeviceApproval {
                user_id: user.id.clone(),
                account_id: approved.account,
                scopes: approved.scopes,
                auth_time,
            };
            let recorded = store
                .decide_device_authorization(&device.user_code_hash, Some(&approval), now)
                .await?;
            Ok(if recorded {
                DeviceOutcome::Approved
            } else {
                DeviceOutcome::NoLongerPending
            })
        }
        DecisionOutcome::Refuse(error) => deny(store, device, error, now).await,
    }
}

/// Refuses `device`'s request for a user with no account to authorize `client` on, as the
/// consent rules would (the device's next poll gets `access_denied`); no page is shown.
pub async fn refuse_device(
    store: &dyn Store,
    device: &DeviceAuthorization,
    client: &Client,
    now: UnixSeconds,
) -> Result<DeviceOutcome, StoreError> {
    deny(store, device, refusal(client), now).await
}

async fn deny(
    store: &dyn Store,
    device: &DeviceAuthorization,
    why: OAuthError,
    now: UnixSeconds,
) -> Result<DeviceOutcome, StoreError> {
    let recorded = store
        .decide_device_authorization(&device.user_code_hash, None, now)
        .await?;
    Ok(if recorded {
        DeviceOutcome::Denied(why.description.into_owned())
    } else {
        DeviceOutcome::NoLongerPending
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::token::token;
    use crate::testing::{application, authenticated, form, request, user, World, NOW};

    #[test]
    fn user_codes_are_eight_unambiguous_letters_read_in_two_groups() {
        for _ in 0..200 {
            let code = draw_user_code().unwrap();
            assert_eq!(canonical_user_code(&code).as_deref(), Some(code.as_str()));
        }
        assert_eq!(display_user_code("WDJBMJHT"), "WDJB-MJHT");
        for (typed, canonical) in [
            ("WDJB-MJHT", Some("WDJBMJHT")),
            ("wdjb-mjht", Some("WDJBMJHT")),
            (" wdjb mjht ", Some("WDJBMJHT")),
            ("WDJBMJH", None),
            ("WDJB-MJHTX", None),
            ("WDJB-MJH0", None),
            ("WDJA-MJHT", None),
        ] {
            assert_eq!(canonical_user_code(typed).as_deref(), canonical, "{typed}");
        }
    }

    fn device_app(public: bool) -> Client {
        let mut app = application(public, true, None);
        app.grant_types.push(GrantType::DeviceCode);
        app
    }

    async fn poll(
        world: &World,
        app: &Client,
        device_code: &str,
        at: i64,
    ) -> Result<TokenResponse, ErrorCode> {
        let grant = "urn:ietf:params:oauth:grant-type:device_code";
        let body = if app.public {
            form(&format!(
                "grant_type={grant}&device_code={device_code}&client_id={}",
                app.id
            ))
        } else {
            authenticated(
                app,
                &format!("grant_type={grant}&device_code={device_code}"),
            )
        };
        token(&request(&body), &world.endpoint(), at)
            .await
            .map_err(|e| e.code)
    }

    async fn try_ask(
        world: &World,
        app: &Client,
        scope: &str,
    ) -> Result<DeviceAuthorizationResponse, OAuthError> {
        let body = if app.public {
            form(&format!("client_id={}&scope={scope}", app.id))
        } else {
            authenticated(app, &format!("scope={scope}"))
        };
        let policy = DevicePolicy::default();
        let uri = "https://as.example/device";
        request_device_authorization(&request(&body), &world.endpoint(), &policy, uri, NOW).await
    }

    async fn ask(world: &World, app: &Client, scope: &str) -> DeviceAuthorizationResponse {
        try_ask(world, app, scope).await.unwrap()
    }

    #[tokio::test]
    async fn a_device_polls_until_the_user_approves_then_gets_one_token_response() {
        let world = World::new();
        let app = world.add(device_app(true)).await;
        let asked = ask(&world, &app, "books:read").await;
        assert_eq!((asked.expires_in, asked.interval), (600, 5));
        assert!(asked
            .verification_uri_complete
            .ends_with(&asked.user_code.replace('-', "")));
        let code = asked.device_code.as_str();
        assert_eq!(
            poll(&world, &app, code, NOW).await.unwrap_err(),
            ErrorCode::AuthorizationPending
        );
        assert_eq!(
            poll(&world, &app, code, NOW + 2).await.unwrap_err(),
            ErrorCode::SlowDown
        );
        // The interval is now 10 s from the last poll.
        assert_eq!(
            poll(&world, &app, code, NOW + 9).await.unwrap_err(),
            ErrorCode::SlowDown
        );
        assert_eq!(
            poll(&world, &app, code, NOW + 24).await.unwrap_err(),
            ErrorCode::AuthorizationPending
        );

        let device = pending_device(&world.store, &asked.user_code.to_lowercase(), NOW + 30)
            .await
            .unwrap()
            .expect("pending");
        let u = user(&["acct_a"]);
        let checked = |_: &str| true;
        let decision = Decision {
            authorize: true,
            account: Some("acct_a"),
            checked: &checked,
        };
        let outcome = decide_device(&world.store, &device, &app, (&u, NOW), &decision, NOW + 30)
            .await
            .unwrap();
        assert_eq!(outcome, DeviceOutcome::Approved);
        let again = decide_device(&world.store, &device, &app, (&u, NOW), &decision, NOW + 31)
            .await
            .unwrap();
        assert_eq!(again, DeviceOutcome::NoLongerPending);

        let tokens = poll(&world, &app, code, NOW + 40).await.unwrap();
        assert_eq!(tokens.scope.as_deref(), Some("books:read"));
        assert!(tokens.refresh_token.is_some());
        assert_eq!(
            poll(&world, &app, code, NOW + 50).await.unwrap_err(),
            ErrorCode::InvalidGrant
        );
        assert_eq!(world.store.token_sets().len(), 1);
    }

    #[tokio::test]
    async fn denied_expired_unknown_and_foreign_codes() {
        let world = World::new();
        let app = world.add(device_app(false)).await;
        let other = world.add(device_app(false)).await;
        let plain = world.add(application(false, true, None)).await;

        let denied = ask(&world, &app, "books:read").await;
        let device = pending_device(&world.store, &denied.user_code, NOW)
            .await
            .unwrap()
            .unwrap();
        let u = user(&["acct_a"]);
        let checked = |_: &str| true;
        let no = Decision {
            authorize: false,
            account: None,
            checked: &checked,
        };
        let outcome = decide_device(&world.store, &device, &app, (&u, NOW), &no, NOW)
            .await
            .unwrap();
        assert!(matches!(outcome, DeviceOutcome::Denied(_)));
        assert_eq!(
            poll(&world, &app, &denied.device_code, NOW + 5)
                .await
                .unwrap_err(),
            ErrorCode::AccessDenied
        );

        let late = ask(&world, &app, "books:read").await;
        assert_eq!(
            poll(&world, &app, &late.device_code, NOW + 600)
                .await
                .unwrap_err(),
            ErrorCode::ExpiredToken
        );
        assert!(pending_device(&world.store, &late.user_code, NOW + 600)
            .await
            .unwrap()
            .is_none());

        assert_eq!(
            poll(&world, &other, &late.device_code, NOW)
                .await
                .unwrap_err(),
            ErrorCode::InvalidGrant
        );
        assert_eq!(
            poll(&world, &app, "dc_unknown", NOW).await.unwrap_err(),
            ErrorCode::InvalidGrant
        );

        let err = try_ask(&world, &plain, "books:read").await.unwrap_err();
        assert_eq!(err.code, ErrorCode::UnauthorizedClient);
        let err = try_ask(&world, &app, "admin").await.unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidScope);
    }
}
