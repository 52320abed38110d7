//! The `tessera` binary: configuration, the command line, and wiring the layers together.
//! The library half exists so the end-to-end tests can start a server in-process with an
//! injected clock.
#![forbid(unsafe_code)]

mod account_import;
mod audit;
pub mod cli;
pub mod commands;
pub mod config;
mod context;
#[cfg(feature = "bench-fixtures")]
mod fixtures;
mod import_file;
mod legacy;
mod legacy_import;
mod limits;
pub mod master_key;
mod progress;
mod scopes;
pub mod serve;
mod signals;
