//! Errors of the core: the RFC error codes, the protocol error, and storage failures.
//!
//! No HTTP status lives here; `tessera-http/src/error.rs` maps every code exactly once.

use std::borrow::Cow;
use std::fmt;

/// Every error code Tessera sends: those of RFC 6749 §4.1.2.1, §5.2, RFC 6750 §3.1 and
/// RFC 7009 §2.2.1, then Tessera's own (legacy Basic and the sample API), which no RFC
/// registers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    InvalidScope,
    AccessDenied,
    UnsupportedResponseType,
    ServerError,
    TemporarilyUnavailable,
    InvalidToken,
    InsufficientScope,
    /// RFC 7009 §2.2.1: the revocation request names a token type this server does not have.
    UnsupportedTokenType,
    /// OpenID Connect Core §3.1.2.6, sent back to the client when `prompt=none` forbids
    /// the page the request needs: sign-in, consent, or another step (choosing an account).
    LoginRequired,
    ConsentRequired,
    InteractionRequired,
    /// OpenID Connect Core §3.1.2.6: request objects (`request`, `request_uri`) are not
    /// supported.
    RequestNotSupported,
    RequestUriNotSupported,
    /// RFC 8628 §3.5: the user has not yet approved or denied the device's request.
    AuthorizationPending,
    /// RFC 8628 §3.5: the device code has expired; the device must start again.
    ExpiredToken,
    /// RFC 9449 §5, §7.1: the DPoP proof is missing, malformed or does not verify.
    InvalidDpopProof,
    /// RFC 9449 §8, §9: the proof must carry the nonce the server supplies.
    UseDpopNonce,
    /// Legacy HTTP Basic with a wrong email or password.
    InvalidCredentials,
    /// RFC 8628 §3.5: a device polling faster than its interval (400), and, registered for
    /// the token endpoint, a client over its rate limit (sent with 429 and `Retry-After`;
    /// RFC 6749 has no code for that).
    SlowDown,
    /// Too many failed legacy Basic attempts.
    TooManyAttempts,
    /// Legacy HTTP Basic after its sunset.
    BasicAuthEnded,
    /// Legacy HTTP Basic during a scheduled brownout.
    BasicAuthBrownout,
    /// No such resource on the sample API, or no gateway route for the request.
    NotFound,
    /// The gateway's upstream refused the connection, reset it or sent no valid response.
    BadGateway,
    /// The gateway's upstream did not connect or answer in time.
    GatewayTimeout,
    /// The client stopped sending its request body to the gateway.
    RequestTimeout,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope => "invalid_scope",
            Self::AccessDenied => "access_denied",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
            Self::InvalidToken => "invalid_token",
            Self::InsufficientScope => "insufficient_scope",
            Self::UnsupportedTokenType => "unsupported_token_type",
            Self::LoginRequired => "login_required",
            Self::ConsentRequired => "consent_required",
            Self::InteractionRequired => "interaction_required",
            Self::RequestNotSupported => "request_not_supported",
            Self::RequestUriNotSupported => "request_uri_not_supported",
            Self::AuthorizationPending => "authorization_pending",
            Self::ExpiredToken => "expired_token",
            Self::InvalidDpopProof => "invalid_dpop_proof",
            Self::UseDpopNonce => "use_dpop_nonce",
            Self::InvalidCredentials => "invalid_credentials",
            Self::SlowDown => "slow_down",
            Self::TooManyAttempts => "too_many_attempts",
            Self::BasicAuthEnded => "basic_auth_ended",
            Self::BasicAuthBrownout => "basic_auth_brownout",
            Self::NotFound => "not_found",
            Self::BadGateway => "bad_gateway",
            Self::GatewayTimeout => "gateway_timeout",
            Self::RequestTimeout => "request_timeout",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A protocol error: the RFC code, a description safe to show the client, and an internal
/// cause that is only ever logged.
#[derive(Debug)]
pub struct OAuthError {
    pub code: ErrorCode,
    pub description: Cow<'static, str>,
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl OAuthError {
    pub fn new(code: ErrorCode, description: impl Into<Cow<'static, str>>) -> Self {
        Self {
            code,
            description: description.into(),
            source: None,
        }
    }

    pub fn invalid_request(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidRequest, description)
    }

    pub fn invalid_client(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidClient, description)
    }

    pub fn invalid_grant(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidGrant, description)
    }

    pub fn invalid_scope(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidScope, description)
    }

    /// An internal failure; the cause is logged, the client sees a generic message.
    pub fn server_error(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self {
            code: ErrorCode::ServerError,
            description: Cow::Borrowed("the server could not complete the request; try again"),
            source: Some(source.into()),
        }
    }
}

impl fmt::Display for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.description)
    }
}

impl std::error::Error for OAuthError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl From<StoreError> for OAuthError {
    fn from(err: StoreError) -> Self {
        if err.is_unavailable() {
            // RFC 6749 §4.1.2.1 names `temporarily_unavailable`; the cause is only logged.
            return Self {
                code: ErrorCode::TemporarilyUnavailable,
                description: Cow::Borrowed(
                    "the server cannot reach its database right now; try again in a few seconds",
                ),
                source: Some(Box::new(err)),
            };
        }
        Self::server_error(err)
    }
}

/// A failure of the storage layer (connection lost, constraint violated, corrupt row).
#[derive(Debug, thiserror::Error)]
#[error("storage failure: {0}")]
pub struct StoreError(#[source] pub Box<dyn std::error::Error + Send + Sync>);

impl StoreError {
    pub fn new(err: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self(err.into())
    }

    /// A failure of the store's availability rather than of the request: the database is
    /// unreachable, restarting, or out of disk space. Retrying later can succeed, so the
    /// HTTP layer answers 503 with `Retry-After` instead of 500.
    pub fn unavailable(err: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self(Box::new(Unavailable(err.into())))
    }

    pub fn is_unavailable(&self) -> bool {
        self.0.is::<Unavailable>()
    }
}

/// The cause of a [`StoreError::unavailable`], marked so that it can be told apart.
#[derive(Debug, thiserror::Error)]
#[error("the database is unavailable: {0}")]
struct Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>);

/// Errors of administrative actions (CLI and dashboard).
#[derive(Debug, thiserror::Error)]
pub enum ManageError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Crypto(String),
}
