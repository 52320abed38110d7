//! THE mapping from errors to status codes, headers and bodies. Nothing else in Tessera
//! chooses an error status.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use tessera_core::error::{ErrorCode, OAuthError};
use tessera_core::token::jwt::TokenError;

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
    NotFound,
    /// A failure that is ours: logged with its cause, answered with a bare 500.
    Internal(Box<dyn std::error::Error + Send + Sync>),
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
            Self::PayloadTooLarge => oauth_body(
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorCode::InvalidRequest,
                "the request body is too large",
            ),
            Self::BadRequest(description) => oauth_body(
                StatusCode::BAD_REQUEST,
                ErrorCode::InvalidRequest,
                &description,
            ),
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

pub async fn not_found() -> HttpError {
    HttpError::NotFound
}
