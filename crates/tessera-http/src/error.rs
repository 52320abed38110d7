//! THE mapping from errors to status codes, headers and bodies: OAuth and API errors as
//! JSON ([`HttpError`]), errors of Tessera's own pages as HTML ([`PageError`]). Nothing else
//! in Tessera chooses a status; the few successes that are not a plain 200 are chosen here
//! too ([`created`]), so that this file is the one place to read them all.

use std::borrow::Cow;

use askama::Template;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use tessera_core::error::{ErrorCode, ManageError, OAuthError, StoreError};
use tessera_core::rfc3339::format_rfc3339;
use tessera_core::runtime::endpoint_limits::{Limited, Partition};
use tessera_core::token::dpop::DPOP_ALGS;
use tessera_core::token::jwt::TokenError;
use tessera_core::UnixSeconds;

/// Which authentication challenge a failed request gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Challenge {
    None,
    /// The client tried HTTP Basic at the token endpoint (RFC 6749 §5.2).
    Basic,
}

#[derive(Debug)]
pub enum HttpError {
    /// An RFC 6749 error from an OAuth endpoint.
    OAuth(OAuthError, Challenge),
    /// No Bearer token on a protected resource (RFC 6750 §3.1: no error code).
    MissingToken,
    /// A Bearer token that is invalid, expired or revoked.
    InvalidToken(TokenError),
    /// A resource request refused for DPoP (RFC 9449 §7.1, §9): `invalid_token` (the
    /// wrong scheme for the token), `invalid_dpop_proof`, or `use_dpop_nonce` with the
    /// nonce to use.
    Dpop {
        code: ErrorCode,
        description: String,
        nonce: Option<String>,
    },
    /// A valid token without the needed scope; space-separated when several are missing.
    InsufficientScope(Cow<'static, str>),
    /// A body over the limit.
    PayloadTooLarge,
    /// A malformed request to the sample API or the gateway.
    BadRequest(String),
    /// The gateway could not get a response from its upstream.
    Upstream(UpstreamFailure),
    /// The client sent nothing of its request body for the gateway's idle timeout.
    RequestTimeout,
    /// The response was not ready within `request_timeout_ms`.
    RequestTimedOut,
    /// HTTP Basic with a legacy credential after the sunset or in a brownout window.
    BasicRefused(BasicRefusal),
    /// HTTP Basic with a wrong email or password, or a malformed Basic header.
    BasicInvalid,
    /// A rate limit of the token, revocation or introspection endpoint is spent.
    RateLimited(Limited),
    /// Too many failed Basic attempts for this credential or from this address.
    TooManyAttempts {
        retry_after: i64,
    },
    NotFound,
    /// A method the route does not serve, on an OAuth endpoint that takes only POST (RFC
    /// 9110 §15.5.6: 405 with `Allow`; the body is RFC 6749 §5.2's `invalid_request`).
    PostOnly,
    /// An error of one of Tessera's own pages, shown as a page.
    Page(PageError),
    /// `/readyz` with a failing check: the readiness report, which names it.
    NotReady(serde_json::Value),
    /// A failure that is ours: logged with its cause, answered with a bare 500.
    Internal(Box<dyn std::error::Error + Send + Sync>),
}

/// Which form a CSRF refusal is about: each says what to do next in its own words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormKind {
    SignIn,
    Consent,
    Settings,
}

/// Why one of Tessera's own pages (sign-in, consent, code page, Settings Center) did not do
/// what was asked. Shown as the error page, or, for the sign-in form, as the form again with
/// the message; the status is chosen here either way.
#[derive(Debug)]
pub enum PageError {
    /// A form body that is not the form the page sent.
    UnreadableForm,
    /// The form's CSRF token is not this browser's: opened before signing in again, in
    /// another tab, or forged.
    FormExpired(FormKind),
    /// A state-changing POST that the browser says another site sent (`Origin`,
    /// `Sec-Fetch-Site`).
    CrossSite,
    /// The email or password is wrong (one message for both: no account enumeration).
    WrongCredentials,
    /// The right password of a user the operator disabled (`tessera user disable`).
    UserDisabled,
    /// Too many failed sign-ins; seconds until the next attempt is allowed.
    TooManyAttempts { retry_after: i64 },
    /// An authorization request that cannot be answered with a redirect to the client
    /// (RFC 6749 §4.1.2.1: invalid client or redirect URI).
    InvalidAuthorizationRequest(String),
    /// An RP-Initiated Logout request that cannot be followed (a return address nobody
    /// registered, a hint this server did not sign): never redirected.
    InvalidLogoutRequest(String),
    /// An authorization that ended in an error, for a client without a redirect URI.
    AuthorizationFailed(String),
    /// A code page link that this server did not make, or whose code has expired.
    InvalidCodeLink,
    /// The consent form came back without one of the user's API accounts.
    NoAccountChosen,
    /// A user code no device is waiting with (mistyped, expired or already decided).
    UnknownUserCode,
    /// Too many wrong user codes from this session or address; seconds until the next try.
    TooManyUserCodes { retry_after: i64 },
    /// The user may not act on any API account.
    NoAccount,
    /// A form named an API account that is not the user's.
    NotYourAccount,
    /// An operator page, visited by a customer.
    OperatorsOnly,
    /// Nothing of that kind among what this user may see; the sentence says what.
    NotFound(&'static str),
    /// A Settings Center action that cannot be done yet or any more; the sentence says
    /// what to do (never a `tessera` command: it is the customer's page).
    Blocked(&'static str),
    /// A management action refused, with the reason the core gave.
    Manage(ManageError),
}
/// How the gateway's upstream failed; logged with the request id where it happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamFailure {
    /// Refused, reset, or an unreadable response: 502 (RFC 9110 §15.6.3).
    Unreachable,
    /// No connection or no response headers within the configured time: 504 (§15.6.5).
    TimedOut,
}

/// Why Basic was refused, and where the customer reads what to do instead.
#[derive(Debug)]
pub struct BasicRefusal {
    /// The sunset that has passed (`None`: a brownout).
    pub ended_at: Option<UnixSeconds>,
    /// The end of the current brownout window.
    pub brownout_until: Option<UnixSeconds>,
    /// The configured sunset, if any.
    pub sunset_at: Option<UnixSeconds>,
    pub guide_url: Option<String>,
}

impl HttpError {
    pub fn internal(err: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Internal(err.into())
    }
}

impl From<PageError> for HttpError {
    fn from(err: PageError) -> Self {
        Self::Page(err)
    }
}

impl From<ManageError> for HttpError {
    /// A storage failure is ours (500); every other refusal is the user's to read.
    fn from(err: ManageError) -> Self {
        match err {
            ManageError::Store(e) => Self::internal(e),
            other => Self::Page(PageError::Manage(other)),
        }
    }
}

impl PageError {
    fn status(&self) -> StatusCode {
        match self {
            Self::UnreadableForm
            | Self::InvalidAuthorizationRequest(_)
            | Self::InvalidLogoutRequest(_)
            | Self::AuthorizationFailed(_)
            | Self::InvalidCodeLink
            | Self::NoAccountChosen
            | Self::UnknownUserCode => StatusCode::BAD_REQUEST,
            Self::WrongCredentials => StatusCode::UNAUTHORIZED,
            Self::FormExpired(_)
            | Self::CrossSite
            | Self::NoAccount
            | Self::NotYourAccount
            | Self::UserDisabled
            | Self::OperatorsOnly => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Blocked(_) => StatusCode::CONFLICT,
            Self::TooManyAttempts { .. } | Self::TooManyUserCodes { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            Self::Manage(e) => match e {
                ManageError::NotFound(_) => StatusCode::NOT_FOUND,
                ManageError::Invalid(_) | ManageError::Conflict(_) | ManageError::Crypto(_) => {
                    StatusCode::BAD_REQUEST
                }
                ManageError::Store(e) if e.is_unavailable() => StatusCode::SERVICE_UNAVAILABLE,
                ManageError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
            },
        }
    }

    /// The page's heading.
    pub fn title(&self) -> &'static str {
        match self {
            Self::UnreadableForm => "Bad request",
            Self::FormExpired(_) => "This form has expired",
            Self::CrossSite => "Refused: sent from another site",
            Self::WrongCredentials | Self::UserDisabled | Self::TooManyAttempts { .. } => "Sign in",
            Self::InvalidAuthorizationRequest(_) => {
                "This authorization request cannot be completed"
            }
            Self::InvalidLogoutRequest(_) => "This sign-out request cannot be completed",
            Self::AuthorizationFailed(_) => "No code",
            Self::InvalidCodeLink => "No code to show",
            Self::NoAccountChosen => "Choose an API account",
            Self::UnknownUserCode | Self::TooManyUserCodes { .. } => "Connect a device",
            Self::NoAccount => "No API account",
            Self::NotYourAccount => "Not your account",
            Self::OperatorsOnly => "Operators only",
            Self::NotFound(_) => "Not found",
            Self::Blocked(_) => "Not now",
            Self::Manage(ManageError::NotFound(_)) => "Not found",
            Self::Manage(_) => "That did not work",
        }
    }

    /// What the user reads: what went wrong and what to do.
    pub fn message(&self) -> Cow<'_, str> {
        match self {
            Self::UnreadableForm => "The form could not be read.".into(),
            Self::FormExpired(FormKind::SignIn) => {
                "This form had expired (or was opened in another tab). Please sign in again."
                    .into()
            }
            Self::FormExpired(FormKind::Consent) => {
                "The page was open too long or in another tab. Go back to the application and start again."
                    .into()
            }
            Self::FormExpired(FormKind::Settings) => {
                "It was opened before you signed in again, or in another tab. Reload the page and try again."
                    .into()
            }
            Self::CrossSite => {
                "Your browser says this form was sent by another web site, so Tessera did nothing. \
                 If you meant to do this, open Tessera's page yourself and submit it there."
                    .into()
            }
            Self::WrongCredentials => "The email or password is wrong.".into(),
            Self::UserDisabled => {
                "This user is disabled. Ask the provider's administrator to enable it again."
                    .into()
            }
            Self::TooManyAttempts { retry_after } => format!(
                "Too many failed attempts. Try again in {} minutes.",
                (retry_after + 59) / 60
            )
            .into(),
            Self::InvalidAuthorizationRequest(m)
            | Self::InvalidLogoutRequest(m)
            | Self::AuthorizationFailed(m) => m.as_str().into(),
            Self::InvalidCodeLink => {
                "This link does not hold a code, or its code has expired. Start again from the application."
                    .into()
            }
            Self::NoAccountChosen => "Pick one of your API accounts.".into(),
            Self::UnknownUserCode => {
                "No device is waiting with that code. Check the code on the device's screen; \
                 if it has expired, start again on the device."
                    .into()
            }
            Self::TooManyUserCodes { retry_after } => format!(
                "Too many wrong codes. Try again in {} minutes.",
                (retry_after + 59) / 60
            )
            .into(),
            Self::NoAccount => "Your user may not act on any API account.".into(),
            Self::NotYourAccount => "Pick one of your API accounts.".into(),
            Self::OperatorsOnly => "This page is for the provider's operators.".into(),
            Self::NotFound(what) | Self::Blocked(what) => (*what).into(),
            Self::Manage(ManageError::Store(_)) => {
                "The server could not complete the request; try again.".into()
            }
            Self::Manage(
                ManageError::NotFound(m)
                | ManageError::Invalid(m)
                | ManageError::Conflict(m)
                | ManageError::Crypto(m),
            ) => without_cli_hint(m).into(),
        }
    }

    /// Where the error page leads back to (issue 15: error pages had no way back): the
    /// Settings Center for its own errors, the sign-in form for its own; none for the
    /// authorization flow, whose way back is the application.
    fn way_back(&self) -> Option<(&'static str, &'static str)> {
        const SETTINGS: (&str, &str) = ("/settings", "Back to the Settings Center");
        match self {
            Self::FormExpired(FormKind::SignIn) | Self::WrongCredentials | Self::UserDisabled => {
                Some(("/signin", "Sign in"))
            }
            Self::FormExpired(FormKind::Settings)
            | Self::UnreadableForm
            | Self::CrossSite
            | Self::NoAccount
            | Self::NotYourAccount
            | Self::OperatorsOnly
            | Self::NotFound(_)
            | Self::Blocked(_)
            | Self::Manage(_) => Some(SETTINGS),
            Self::FormExpired(FormKind::Consent)
            | Self::TooManyAttempts { .. }
            | Self::InvalidAuthorizationRequest(_)
            | Self::InvalidLogoutRequest(_)
            | Self::AuthorizationFailed(_)
            | Self::InvalidCodeLink
            | Self::NoAccountChosen
            | Self::UnknownUserCode
            | Self::TooManyUserCodes { .. } => None,
        }
    }

    /// The error page with a link to `href` (a path of ours) in place of the usual way
    /// back: an expired dashboard form leads to a fresh copy of its page, never a re-post.
    pub fn page_leading_to(&self, href: &str, label: &str) -> Response {
        self.page(Some((href, label)))
    }

    fn page(&self, back: Option<(&str, &str)>) -> Response {
        if let Self::Manage(ManageError::Store(e)) = self {
            tracing::error!(error = %e, "management action failed");
        }
        let view = ErrorView {
            title: self.title(),
            message: self.message(),
            back_href: back.map(|b| b.0),
            back_label: back.map_or("", |b| b.1),
        };
        match view.render() {
            Ok(html) => self.with_page(crate::html::send(html)),
            Err(err) => HttpError::internal(err).into_response(),
        }
    }

    /// `page`, a rendered view that says what went wrong, sent with this error's status
    /// and headers.
    pub fn with_page(&self, mut page: Response) -> Response {
        *page.status_mut() = self.status();
        if let Self::TooManyAttempts { retry_after } | Self::TooManyUserCodes { retry_after } = self
        {
            // RFC 9110 §10.2.3: delay-seconds.
            if let Ok(v) = HeaderValue::from_str(&(*retry_after).max(1).to_string()) {
                page.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        page
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        self.page(self.way_back())
    }
}

/// A management refusal's text without the CLI hint that ends many of them ("…; `tessera
/// legacy list` shows it"): pages are read by customers, who have no `tessera` to run.
fn without_cli_hint(m: &str) -> &str {
    let cut = [
        "; `tessera ",
        " (see `tessera ",
        "; run `tessera ",
        ", then `tessera ",
    ]
    .iter()
    .filter_map(|hint| m.find(hint))
    .min();
    cut.map_or(m, |at| &m[..at])
}

#[derive(Template)]
#[template(path = "oauth_error.html")]
struct ErrorView<'a> {
    title: &'static str,
    message: Cow<'a, str>,
    back_href: Option<&'a str>,
    back_label: &'a str,
}

/// 201 Created with `body` (RFC 9110 §15.3.2).
pub fn created(body: impl IntoResponse) -> Response {
    (StatusCode::CREATED, body).into_response()
}

fn status_of(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::InvalidRequest
        | ErrorCode::InvalidGrant
        | ErrorCode::UnauthorizedClient
        | ErrorCode::UnsupportedGrantType
        | ErrorCode::InvalidScope
        | ErrorCode::UnsupportedResponseType
        | ErrorCode::UnsupportedTokenType
        // Only ever redirect parameters; were one answered directly, it would be a 400.
        | ErrorCode::LoginRequired
        | ErrorCode::ConsentRequired
        | ErrorCode::InteractionRequired
        | ErrorCode::RequestNotSupported
        | ErrorCode::RequestUriNotSupported
        // RFC 8628 §3.5 and RFC 9449 §5: token endpoint errors (§5.2 of RFC 6749), 400;
        // a `slow_down` that is a rate limit is answered 429 by `RateLimited` instead.
        | ErrorCode::AuthorizationPending
        | ErrorCode::SlowDown
        | ErrorCode::AccessDenied
        | ErrorCode::ExpiredToken
        | ErrorCode::InvalidDpopProof
        | ErrorCode::UseDpopNonce => StatusCode::BAD_REQUEST,
        ErrorCode::InvalidClient
        | ErrorCode::InvalidToken
        | ErrorCode::InvalidCredentials
        | ErrorCode::BasicAuthEnded
        | ErrorCode::BasicAuthBrownout => StatusCode::UNAUTHORIZED,
        ErrorCode::InsufficientScope => StatusCode::FORBIDDEN,
        ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::TooManyAttempts => StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorCode::BadGateway => StatusCode::BAD_GATEWAY,
        ErrorCode::GatewayTimeout => StatusCode::GATEWAY_TIMEOUT,
        ErrorCode::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
        ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// How long a client should wait before retrying when the database is unavailable: long
/// enough for a PostgreSQL restart or a failover, short enough not to strand clients.
const STORE_RETRY_AFTER_SECONDS: &str = "5";

/// `Retry-After` (RFC 9110 §10.2.3) on a 503: the condition is temporary.
fn retry_soon(res: &mut Response) {
    res.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from_static(STORE_RETRY_AFTER_SECONDS),
    );
}

fn oauth_body(status: StatusCode, code: ErrorCode, description: &str) -> Response {
    let body = json!({ "error": code.as_str(), "error_description": description });
    let mut res = (status, Json(body)).into_response();
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    res
}

/// `Bearer realm="tessera"[, error=…, error_description=…, scope=…]` (RFC 6750 §3).
fn bearer_challenge(error: Option<(&str, &str)>, scope: Option<&str>) -> HeaderValue {
    let mut v = String::from("Bearer realm=\"tessera\"");
    if let Some((code, description)) = error {
        v.push_str(&format!(
            ", error=\"{code}\", error_description=\"{description}\""
        ));
    }
    if let Some(scope) = scope {
        v.push_str(&format!(", scope=\"{scope}\""));
    }
    HeaderValue::from_str(&v).unwrap_or(HeaderValue::from_static("Bearer realm=\"tessera\""))
}

/// RFC 9449 §7.1: `DPoP` with the accepted algorithms, and the error if there is one.
fn dpop_challenge(error: Option<(&str, &str)>) -> HeaderValue {
    let mut v = format!("DPoP algs=\"{}\"", DPOP_ALGS.join(" "));
    if let Some((code, description)) = error {
        v.push_str(&format!(
            ", error=\"{code}\", error_description=\"{description}\""
        ));
    }
    HeaderValue::from_str(&v).unwrap_or(HeaderValue::from_static("DPoP"))
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        match self {
            Self::OAuth(err, challenge) => {
                if err.code == ErrorCode::ServerError {
                    tracing::error!(error = %err, source = ?err.source, "request failed");
                }
                if err.code == ErrorCode::TemporarilyUnavailable {
                    if let Some(source) = &err.source {
                        tracing::error!(error = %source, "the database is unavailable");
                    }
                }
                let status = status_of(err.code);
                let mut res = oauth_body(status, err.code, &err.description);
                if status == StatusCode::SERVICE_UNAVAILABLE {
                    retry_soon(&mut res);
                }
                if status == StatusCode::UNAUTHORIZED && challenge == Challenge::Basic {
                    res.headers_mut().insert(
                        header::WWW_AUTHENTICATE,
                        HeaderValue::from_static("Basic realm=\"tessera\", charset=\"UTF-8\""),
                    );
                }
                res
            }
            Self::MissingToken => {
                let code = ErrorCode::InvalidToken;
                let body = json!({
                    "error": code.as_str(),
                    "error_description": "this endpoint requires `Authorization: Bearer <access token>`",
                });
                let mut res = (status_of(code), Json(body)).into_response();
                let h = res.headers_mut();
                h.insert(header::WWW_AUTHENTICATE, bearer_challenge(None, None));
                // RFC 9449 §7.1: DPoP-bound tokens are welcome too.
                h.append(header::WWW_AUTHENTICATE, dpop_challenge(None));
                res
            }
            Self::Dpop {
                code,
                description,
                nonce,
            } => {
                let mut res = oauth_body(StatusCode::UNAUTHORIZED, code, &description);
                let h = res.headers_mut();
                h.insert(
                    header::WWW_AUTHENTICATE,
                    dpop_challenge(Some((code.as_str(), &description))),
                );
                if let Some(v) = nonce.and_then(|n| HeaderValue::from_str(&n).ok()) {
                    h.insert("dpop-nonce", v);
                }
                res
            }
            Self::InvalidToken(why) => {
                let description = why.to_string();
                let mut res = oauth_body(
                    StatusCode::UNAUTHORIZED,
                    ErrorCode::InvalidToken,
                    &description,
                );
                res.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    bearer_challenge(Some((ErrorCode::InvalidToken.as_str(), &description)), None),
                );
                res
            }
            Self::InsufficientScope(scope) => {
                let noun = if scope.contains(' ') {
                    "scopes"
                } else {
                    "scope"
                };
                let description = format!("this request needs the {noun} {scope}");
                let mut res = oauth_body(
                    StatusCode::FORBIDDEN,
                    ErrorCode::InsufficientScope,
                    &description,
                );
                res.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    bearer_challenge(Some(("insufficient_scope", &description)), Some(&scope)),
                );
                res
            }
            Self::PayloadTooLarge => {
                let mut res = oauth_body(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    ErrorCode::InvalidRequest,
                    "the request body is too large",
                );
                // The rest of the body is never read, so the connection cannot carry another
                // request: say so, or a client may reuse it and lose its next request.
                res.headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
                res
            }
            Self::BadRequest(description) => oauth_body(
                StatusCode::BAD_REQUEST,
                ErrorCode::InvalidRequest,
                &description,
            ),
            Self::Upstream(failure) => {
                let (code, description) = match failure {
                    UpstreamFailure::Unreachable => (
                        ErrorCode::BadGateway,
                        "the API behind this gateway could not be reached",
                    ),
                    UpstreamFailure::TimedOut => (
                        ErrorCode::GatewayTimeout,
                        "the API behind this gateway did not answer in time",
                    ),
                };
                let body = json!({ "error": code.as_str(), "error_description": description });
                (status_of(code), Json(body)).into_response()
            }
            Self::RequestTimeout => {
                // RFC 9110 §15.5.9: the request never arrived whole.
                let code = ErrorCode::RequestTimeout;
                let body = json!({
                    "error": code.as_str(),
                    "error_description": "the request body stopped arriving before it was complete",
                });
                let mut res = (status_of(code), Json(body)).into_response();
                // The rest of the body will not be read: the connection cannot carry more.
                res.headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
                res
            }
            Self::RequestTimedOut => {
                // RFC 9110 §15.5.9; what is left of the request is not read.
                let code = ErrorCode::RequestTimeout;
                let body = json!({
                    "error": code.as_str(),
                    "error_description": "the request was not answered within the server's request timeout; retry",
                });
                let mut res = (status_of(code), Json(body)).into_response();
                res.headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
                res
            }
            Self::BasicRefused(refusal) => basic_refused(&refusal),
            Self::BasicInvalid => {
                let code = ErrorCode::InvalidCredentials;
                let body = json!({
                    "error": code.as_str(),
                    "error_description": "HTTP Basic authentication failed: the email or password is wrong",
                });
                let mut res = (status_of(code), Json(body)).into_response();
                res.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"tessera\", charset=\"UTF-8\""),
                );
                res
            }
            Self::RateLimited(limited) => {
                // RFC 6749 has no code for a rate limit; `slow_down` is the one registered
                // for the token endpoint (RFC 8628 §3.5) and says what to do.
                let whose = match limited.usage.partition {
                    Partition::Client => "this client",
                    Partition::Address => "this address",
                };
                let description = format!(
                    "too many requests from {whose}; retry in {} seconds",
                    limited.retry_after
                );
                let mut res = oauth_body(
                    StatusCode::TOO_MANY_REQUESTS,
                    ErrorCode::SlowDown,
                    &description,
                );
                let h = res.headers_mut();
                // RFC 9110 §10.2.3; the draft's §6: not before the effective window ends.
                if let Ok(v) = HeaderValue::from_str(&limited.retry_after.max(1).to_string()) {
                    h.insert(header::RETRY_AFTER, v);
                }
                crate::rate_limit::append_fields(h, &limited.usage);
                res
            }
            Self::TooManyAttempts { retry_after } => {
                let code = ErrorCode::TooManyAttempts;
                let body = json!({
                    "error": code.as_str(),
                    "error_description": format!(
                        "too many failed sign-in attempts; try again in {retry_after} seconds"
                    ),
                });
                let mut res = (status_of(code), Json(body)).into_response();
                // RFC 9110 §10.2.3: delay-seconds.
                if let Ok(v) = HeaderValue::from_str(&retry_after.max(1).to_string()) {
                    res.headers_mut().insert(header::RETRY_AFTER, v);
                }
                res
            }
            Self::NotFound => {
                let code = ErrorCode::NotFound;
                let body =
                    json!({ "error": code.as_str(), "error_description": "no such resource" });
                (status_of(code), Json(body)).into_response()
            }
            Self::PostOnly => {
                let mut res = oauth_body(
                    StatusCode::METHOD_NOT_ALLOWED,
                    ErrorCode::InvalidRequest,
                    "this endpoint accepts only POST",
                );
                res.headers_mut()
                    .insert(header::ALLOW, HeaderValue::from_static("POST"));
                res
            }
            Self::Page(err) => err.into_response(),
            Self::NotReady(report) => {
                // A load balancer sends no traffic here until the checks pass again.
                let mut res = (StatusCode::SERVICE_UNAVAILABLE, Json(report)).into_response();
                res.headers_mut()
                    .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                res
            }
            Self::Internal(err) => match err.downcast::<StoreError>() {
                // An unreachable or full database is not a bug: 503, and try again soon.
                Ok(store) if store.is_unavailable() => {
                    HttpError::OAuth(OAuthError::from(*store), Challenge::None).into_response()
                }
                Ok(store) => {
                    tracing::error!(error = %store, "internal error");
                    StatusCode::INTERNAL_SERVER_ERROR.into_response()
                }
                Err(err) => {
                    tracing::error!(error = %err, "internal error");
                    StatusCode::INTERNAL_SERVER_ERROR.into_response()
                }
            },
        }
    }
}

/// 401 with a Bearer challenge (RFC 6750 §3): Basic is over, OAuth is the way in. The
/// body says since when and where the migration guide is.
fn basic_refused(r: &BasicRefusal) -> Response {
    let guide = r
        .guide_url
        .as_deref()
        .map(|u| format!(" The migration guide: {u}"))
        .unwrap_or_default();
    let how = "Request an access token with OAuth 2.0 client credentials and send it as \
               `Authorization: Bearer <token>`.";
    let (error, description) = match (r.ended_at, r.brownout_until) {
        (Some(at), _) => (
            ErrorCode::BasicAuthEnded,
            format!(
                "HTTP Basic authentication ended on {}. {how}{guide}",
                format_rfc3339(at)
            ),
        ),
        (None, until) => {
            let until = until.map(format_rfc3339).unwrap_or_default();
            let end = r
                .sunset_at
                .map(|s| format!("; it ends for good on {}", format_rfc3339(s)))
                .unwrap_or_default();
            (
                ErrorCode::BasicAuthBrownout,
                format!(
                    "HTTP Basic authentication is switched off until {until} (a scheduled brownout{end}). {how}{guide}"
                ),
            )
        }
    };
    let body = json!({
        "error": error.as_str(),
        "error_description": description,
        "sunset": r.sunset_at.map(format_rfc3339),
        "brownout_until": r.brownout_until.map(format_rfc3339),
        "migration_guide": r.guide_url,
    });
    let mut res = (status_of(error), Json(body)).into_response();
    res.headers_mut()
        .insert(header::WWW_AUTHENTICATE, bearer_challenge(None, None));
    if let Some(url) = &r.guide_url {
        if let Ok(v) = HeaderValue::from_str(&format!("<{url}>; rel=\"deprecation\"")) {
            res.headers_mut().insert(header::LINK, v);
        }
    }
    res
}

pub async fn not_found() -> HttpError {
    HttpError::NotFound
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_drop_the_cli_hints_of_management_errors() {
        for (raw, shown) in [
            (
                "no client cl_1; `tessera client list` shows the existing ones",
                "no client cl_1",
            ),
            (
                "no signing key k1 (see `tessera keys list`)",
                "no signing key k1",
            ),
            (
                "the legacy credential for a@b.example has not been migrated; run `tessera legacy migrate a@b.example` first",
                "the legacy credential for a@b.example has not been migrated",
            ),
            ("a client name cannot be blank: type a name", "a client name cannot be blank: type a name"),
        ] {
            assert_eq!(without_cli_hint(raw), shown);
            let page = PageError::Manage(ManageError::Invalid(raw.into()));
            assert!(!page.message().contains("tessera "), "{raw}");
        }
    }
}
