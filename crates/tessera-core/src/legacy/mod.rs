//! Legacy HTTP Basic credentials (email + password of one API account), the sunset and
//! brownout policy that ends them, and the migration to OAuth 2.0 client credentials.
//!
//! Plain Rust like the rest of the core: no clock (callers hand in `now`), no tokio. The
//! argon2id work is synchronous here; the HTTP layer runs it in `spawn_blocking` through
//! [`basic::PasswordVerifier`].

pub mod basic;
pub mod bearer_usage;
pub mod cache;
pub mod chart;
pub mod console;
pub mod credential;
pub mod import;
pub mod limiter;
pub mod migration;
pub mod provision;
pub mod report;
pub mod sunset;
pub mod upgrade;
pub mod usage;

pub use crate::domain::imported_hash::{HashFamily, HashRejection};
pub use crate::domain::password::{Password, PasswordHash, PasswordPolicy};
pub use credential::{Email, LegacyCredential, LegacyState};
pub use sunset::{SunsetDecision, SunsetPolicy};
