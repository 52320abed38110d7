//! Clients (RFC 6749 §2): credential clients of one API account, and third-party applications.

use super::ids::{AccountId, ClientId};
use super::scope::ScopeSet;
use super::secret::SecretHash;
use crate::UnixSeconds;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GrantType {
    ClientCredentials,
    AuthorizationCode,
    RefreshToken,
}

impl GrantType {
    pub const ALL: [GrantType; 3] = [
        Self::AuthorizationCode,
        Self::ClientCredentials,
        Self::RefreshToken,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientCredentials => "client_credentials",
            Self::AuthorizationCode => "authorization_code",
            Self::RefreshToken => "refresh_token",
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
