//! Reading request bodies within a limit.

use axum::body::{to_bytes, Body, Bytes};
use axum::http::{header, HeaderMap};
use tessera_core::error::OAuthError;
use tessera_core::oauth::request::Form;

use crate::error::{Challenge, HttpError};

/// The whole body, or 413 when it is larger than `limit`.
pub async fn read_limited(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<Bytes, HttpError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(HttpError::PayloadTooLarge);
    }
    to_bytes(body, limit)
        .await
        .map_err(|_| HttpError::PayloadTooLarge)
}

/// An OAuth form body: right content type (RFC 6749 §3.2), within the limit, strictly parsed.
pub async fn read_form(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
    challenge: Challenge,
) -> Result<Form, HttpError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let is_form = content_type.is_some_and(|ct| {
        ct.split(';').next().is_some_and(|m| {
            m.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
    });
    if !is_form {
        return Err(HttpError::OAuth(
            OAuthError::invalid_request(
                "the body must be sent as Content-Type: application/x-www-form-urlencoded",
            ),
            challenge,
        ));
    }
    let bytes = read_limited(headers, body, limit).await?;
    Form::parse(&bytes).map_err(|e| HttpError::OAuth(e, challenge))
}
