//! The successful token response (RFC 6749 §5.1).

use serde::Serialize;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// Present when it differs from what was requested (§5.1), or always for grants where
    /// the user may narrow it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}
