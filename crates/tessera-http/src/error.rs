//! THE mapping from errors to status codes, headers and bodies. Nothing else in Tessera
//! chooses an error status.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use tessera_core::error::{ErrorCode, OAuthError};
use tessera_core::rfc3339::format_rfc3339;
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
    /// A valid token without the needed scope.
    InsufficientScope(&'static str),
    /// A body over the limit.
    PayloadTooLarge,
    /// A malformed request to the sample API.
    BadRequest(String),
    /// HTTP Basic with a legacy credential after the sunset or in a brownout window.
    BasicRefused(BasicRefusal),
    /// HTTP Basic with a wrong email or password, or a malformed Basic header.
    BasicInvalid,
    /// Too many failed Basic attempts for this credential or from this address.
    TooManyAttempts {
        retry_after: i64,
    },
    NotFound,
    /// A failure that is ours: logged with its cause, answered with a bare 500.
    Internal(Box<dyn std::error::Error + Send + Sync>),
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

fn status_of(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::InvalidRequest
        | ErrorCode::InvalidGrant
        | ErrorCode::UnauthorizedClient
        | ErrorCode::UnsupportedGrantType
        | ErrorCode::InvalidScope
        | ErrorCode::UnsupportedResponseType => StatusCode::BAD_REQUEST,
        ErrorCode::InvalidClient | ErrorCode::InvalidToken => StatusCode::UNAUTHORIZED,
        ErrorCode::AccessDenied | ErrorCode::InsufficientScope => StatusCode::FORBIDDEN,
        ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
    }
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

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        match self {
            Self::OAuth(err, challenge) => {
                if err.code == ErrorCode::ServerError {
                    tracing::error!(error = %err, source = ?err.source, "request failed");
                }
                let status = status_of(err.code);
                let mut res = oauth_body(status, err.code, &err.description);
                if status == StatusCode::UNAUTHORIZED && challenge == Challenge::Basic {
                    res.headers_mut().insert(
                        header::WWW_AUTHENTICATE,
                        HeaderValue::from_static("Basic realm=\"tessera\", charset=\"UTF-8\""),
                    );
                }
                res
            }
            Self::MissingToken => {
                let body = json!({
                    "error": "invalid_token",
                    "error_description": "this endpoint requires `Authorization: Bearer <access token>`",
                });
                let mut res = (StatusCode::UNAUTHORIZED, Json(body)).into_response();
                res.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, bearer_challenge(None, None));
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
                    bearer_challenge(Some(("invalid_token", &description)), None),
                );
                res
            }
            Self::InsufficientScope(scope) => {
                let description = format!("this request needs the scope {scope}");
                let mut res = oauth_body(
                    StatusCode::FORBIDDEN,
                    ErrorCode::InsufficientScope,
                    &description,
                );
                res.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    bearer_challenge(Some(("insufficient_scope", &description)), Some(scope)),
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
            Self::BasicRefused(refusal) => basic_refused(&refusal),
            Self::BasicInvalid => {
                let body = json!({
                    "error": "invalid_credentials",
                    "error_description": "HTTP Basic authentication failed: the email or password is wrong",
                });
                let mut res = (StatusCode::UNAUTHORIZED, Json(body)).into_response();
                res.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"tessera\", charset=\"UTF-8\""),
                );
                res
            }
            Self::TooManyAttempts { retry_after } => {
                let body = json!({
                    "error": "too_many_attempts",
                    "error_description": format!(
                        "too many failed sign-in attempts; try again in {retry_after} seconds"
                    ),
                });
                let mut res = (StatusCode::TOO_MANY_REQUESTS, Json(body)).into_response();
                // RFC 9110 §10.2.3: delay-seconds.
                if let Ok(v) = HeaderValue::from_str(&retry_after.max(1).to_string()) {
                    res.headers_mut().insert(header::RETRY_AFTER, v);
                }
                res
            }
            Self::NotFound => (
                StatusCode::NOT_FOUND,
                Json(json!({ "error": "not_found", "error_description": "no such resource" })),
            )
                .into_response(),
            Self::Internal(err) => {
                tracing::error!(error = %err, "internal error");
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
            }
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
            "basic_auth_ended",
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
                "basic_auth_brownout",
                format!(
                    "HTTP Basic authentication is switched off until {until} (a scheduled brownout{end}). {how}{guide}"
                ),
            )
        }
    };
    let body = json!({
        "error": error,
        "error_description": description,
        "sunset": r.sunset_at.map(format_rfc3339),
        "brownout_until": r.brownout_until.map(format_rfc3339),
        "migration_guide": r.guide_url,
    });
    let mut res = (StatusCode::UNAUTHORIZED, Json(body)).into_response();
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
