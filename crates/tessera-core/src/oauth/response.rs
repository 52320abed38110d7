//! The successful token response (RFC 6749 §5.1).

use std::fmt;

use serde::Serialize;

/// `Debug` redacts the tokens, so a log line of the response cannot leak them.
#[derive(Clone, Serialize, PartialEq, Eq)]
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
    /// OpenID Connect Core §3.1.3.3: when the grant includes `openid`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

impl fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenResponse")
            .field("access_token", &"[redacted]")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "[redacted]"),
            )
            .field("scope", &self.scope)
            .field("id_token", &self.id_token.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_both_tokens() {
        let response = TokenResponse {
            access_token: "eyJ.access.secret".into(),
            token_type: "Bearer",
            expires_in: 3600,
            refresh_token: Some("rt_refresh_secret".into()),
            scope: Some("books:read".into()),
            id_token: Some("eyJ.id.secret".into()),
        };
        let shown = format!("{response:?}");
        assert!(!shown.contains("access.secret"), "{shown}");
        assert!(!shown.contains("refresh_secret"), "{shown}");
        assert!(
            shown.contains("[redacted]") && shown.contains("books:read"),
            "{shown}"
        );
        let shown = format!("{response:#?}");
        assert!(!shown.contains("secret"), "{shown}");
    }
}
