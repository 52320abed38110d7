//! Domain types that parse, never merely validate: once a value exists, it is well formed.

mod account;
mod client;
mod ids;
mod scope;
mod secret;

pub use account::Account;
pub use client::{Client, ClientKind, ClientStatus, GrantType, StoredSecret};
pub use ids::{AccountId, ClientId, Jti, Kid, LegacyId};
pub use scope::{ScopeError, ScopeSet};
pub use secret::{ClientSecret, SecretHash};
