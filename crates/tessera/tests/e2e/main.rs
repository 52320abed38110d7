//! The one end-to-end test binary: every test starts a real server on a free port over a
//! fresh database (SQLite and PostgreSQL) and speaks HTTP to it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[macro_use]
mod support;

mod account_gateway;
mod accounts;
mod api;
mod app_pkce;
mod audit;
mod authorization_code;
mod cli;
mod client_credentials;
mod cluster;
mod console;
mod data_dir;
mod device_flow;
mod device_interop;
mod dpop;
mod faults;
#[cfg(feature = "bench-fixtures")]
mod fixtures;
mod gateway;
mod gateway_framing;
mod gateway_streaming;
mod gateway_websocket;
mod keys;
mod legacy;
mod legacy_import;
mod limits;
mod metadata;
mod oauth2_client;
mod observe;
mod oidc_interop;
mod openid;
mod openidconnect_crate;
mod outage;
mod pages;
mod par;
mod private_key_jwt;
mod refresh_token;
mod report_csv;
mod revocation;
mod scopes;
mod settings_center;
mod snippets;
mod store_conformance;
mod users;
