//! Administrative actions, shared by the CLI and the dashboard: nothing is implemented twice.

pub mod account_import;
pub mod accounts;
pub mod apps;
pub mod authorizations;
pub mod clients;
pub mod keys;
pub mod scopes;
pub mod tokens;
pub mod users;
