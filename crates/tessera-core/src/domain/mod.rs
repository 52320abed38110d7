//! Domain types that parse, never merely validate: once a value exists, it is well formed.

mod account;
mod client;
pub mod external_id;
pub mod hash_cost;
mod ids;
pub mod imported_hash;
mod name;
pub mod ordered_secret;
pub mod password;
mod redirect_uri;
mod scope;
mod secret;
mod user;

pub use account::{account_name, Account};
pub use client::{
    check_client_keys, Client, ClientKeys, ClientKind, ClientStatus, GrantType, StoredSecret,
};
pub use external_id::{ExternalId, ExternalIdError};
pub use ids::{AccountId, ClientId, Jti, Kid, LegacyId, TokenSetId, UserId};
pub use imported_hash::{HashFamily, HashRejection};
pub use name::{display_name, MAX_DISPLAY_NAME_LEN};
pub use password::{
    decoy_hash, hash_password, verify_password, Password, PasswordError, PasswordHash,
    PasswordPolicy,
};
pub use redirect_uri::{is_https, redirect_target, validate_redirect_uri};
pub use scope::{
    ScopeDescription, ScopeError, ScopeName, ScopeSet, MAX_SCOPE_DESCRIPTION_LEN,
    MAX_SCOPE_NAME_LEN,
};
pub use secret::{ClientSecret, SecretHash};
pub use user::{normalize_email, User};
