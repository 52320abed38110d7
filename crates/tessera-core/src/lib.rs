//! Tessera's protocol and domain logic.
//!
//! Everything here is plain Rust: no HTTP framework, no SQL driver, no sockets, no clock.
//! Callers hand in `now` (Unix seconds), a store (the traits in [`store`]) and narrow policy
//! structs. That keeps every RFC rule testable without a server and without sleeping.
#![forbid(unsafe_code)]

pub mod audit;
pub mod clock;
pub mod domain;
pub mod error;
pub mod forwarded;
pub mod gateway;
pub mod import;
pub mod legacy;
pub mod manage;
pub mod metrics;
pub mod oauth;
pub mod random;
pub mod rfc3339;
pub mod runtime;
pub mod store;
#[cfg(test)]
mod testing;
pub mod token;

/// Seconds since the Unix epoch, UTC. The only notion of time in the core.
pub type UnixSeconds = i64;
