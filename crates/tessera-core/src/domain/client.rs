//! Clients (RFC 6749 §2): credential clients of one API account, and third-party applications.

use super::ids::{AccountId, ClientId};
use super::scope::ScopeSet;
use super::secret::SecretHash;
use crate::token::jwk::parse_jwk_set;
use crate::UnixSeconds;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GrantType {
    ClientCredentials,
    AuthorizationCode,
    RefreshToken,
    /// RFC 8628 §3.4: the device authorization grant.
    DeviceCode,
}

impl GrantType {
    pub const ALL: [GrantType; 4] = [
        Self::AuthorizationCode,
        Self::ClientCredentials,
        Self::RefreshToken,
        Self::DeviceCode,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientCredentials => "client_credentials",
            Self::AuthorizationCode => "authorization_code",
            Self::RefreshToken => "refresh_token",
            Self::DeviceCode => "urn:ietf:params:oauth:grant-type:device_code",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|g| g.as_str() == raw)
    }
}

/// What a client is for; decides which grants it may be given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientKind {
    /// Belongs to one API account and acts as it (client credentials grant).
    Credential,
    /// A third-party application acting for users who authorize it.
    Application,
    /// A resource server's credential: it may introspect any token, and obtain none.
    ResourceServer,
}

impl ClientKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Credential => "credential",
            Self::Application => "application",
            Self::ResourceServer => "resource_server",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "credential" => Some(Self::Credential),
            "application" => Some(Self::Application),
            "resource_server" => Some(Self::ResourceServer),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientStatus {
    Active,
    Revoked,
}

impl ClientStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Revoked => "revoked",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "active" => Some(Self::Active),
            "revoked" => Some(Self::Revoked),
            _ => None,
        }
    }
}

/// One hashed secret of a client. A client may hold two during a rotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSecret {
    pub hash: SecretHash,
    pub created_at: UnixSeconds,
    /// After this instant the secret no longer authenticates; `None`: no end.
    pub expires_at: Option<UnixSeconds>,
}

/// Where a `private_key_jwt` client's public keys are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientKeys {
    /// A JWK Set document (RFC 7517 §5), as registered.
    Inline(String),
    /// An https URL serving the client's JWK Set, fetched and cached by the server.
    Uri(String),
}

/// Checks a `private_key_jwt` client's keys as registered: an inline JWK Set must hold at
/// least one public signing key Tessera can use (`token/jwk.rs`); a URL must be https, or
/// http on the loopback interface (a client on the same machine, in development).
pub fn check_client_keys(keys: &ClientKeys) -> Result<(), String> {
    match keys {
        ClientKeys::Inline(set) => parse_jwk_set(set).map(|_| ()),
        ClientKeys::Uri(uri) => {
            let loopback = ["http://127.0.0.1", "http://localhost", "http://[::1]"]
                .iter()
                .any(|base| {
                    uri.strip_prefix(base)
                        .is_some_and(|rest| rest.is_empty() || rest.starts_with([':', '/']))
                });
            let well_formed = uri.len() <= 2048 && !uri.chars().any(char::is_whitespace);
            if well_formed && (uri.starts_with("https://") && uri.len() > 8 || loopback) {
                Ok(())
            } else {
                Err(format!(
                    "the JWK Set URL {uri:?} must be an https URL (http only on 127.0.0.1 or localhost)"
                ))
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    pub id: ClientId,
    pub name: String,
    pub kind: ClientKind,
    /// The API account a credential client acts as; `None` for applications.
    pub account_id: Option<AccountId>,
    pub grant_types: Vec<GrantType>,
    pub scopes: ScopeSet,
    pub redirect_uris: Vec<String>,
    pub status: ClientStatus,
    /// Public clients (RFC 6749 §2.1) have no secret and authenticate with PKCE alone.
    pub public: bool,
    /// Operator-approved partner application (shown in the dashboard's picker).
    pub approved: bool,
    /// Authorization requests must carry a PKCE challenge (RFC 9700 §2.1.1), whatever the
    /// server-wide `require_pkce` says; public clients need one anyway.
    pub require_pkce: bool,
    /// Where OpenID Connect RP-Initiated Logout may send the browser afterwards; exact
    /// strings, like `redirect_uris`.
    pub post_logout_redirect_uris: Vec<String>,
    /// Authorization requests only through pushed authorization requests (RFC 9126 §6).
    pub require_par: bool,
    /// The public keys of a `private_key_jwt` client (RFC 7523 §2.2), which then has no
    /// secret; `None`: a secret, or a public client.
    pub jwks: Option<ClientKeys>,
    /// Access tokens only DPoP-bound (RFC 9449 §5.2 `dpop_bound_access_tokens`): a token
    /// request without a proof is refused.
    pub dpop_bound: bool,
    pub secrets: Vec<StoredSecret>,
    pub created_at: UnixSeconds,
}

impl Client {
    pub fn allows_grant(&self, grant: GrantType) -> bool {
        self.grant_types.contains(&grant)
    }

    /// Whether `presented` matches one of the secrets valid at `now`. Every stored secret is
    /// compared, in constant time, so timing does not tell which one matched.
    pub fn secret_matches(&self, presented: &SecretHash, now: UnixSeconds) -> bool {
        let mut matched = false;
        for s in &self.secrets {
            let live = s.expires_at.is_none_or(|end| now < end);
            matched |= s.hash.matches(presented) & live;
        }
        matched
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwks_urls_are_https_or_loopback() {
        for (uri, ok) in [
            ("https://rp.example/jwks.json", true),
            ("http://127.0.0.1:9000/jwks", true),
            ("http://localhost/jwks", true),
            ("http://rp.example/jwks.json", false),
            ("http://127.0.0.1.evil.example/jwks", false),
            ("https://", false),
            ("https://rp.example/a b", false),
            ("ftp://rp.example/jwks", false),
        ] {
            let got = check_client_keys(&ClientKeys::Uri(uri.into()));
            assert_eq!(got.is_ok(), ok, "{uri}: {got:?}");
        }
    }
}
