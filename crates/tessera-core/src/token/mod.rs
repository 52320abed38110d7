//! Access tokens: RFC 9068 JWTs, the signing keyring, and the master key that protects
//! private keys at rest.

pub mod bearer;
pub mod dpop;
pub mod id_token;
pub mod issue;
pub mod jwk;
pub mod jwt;
pub mod keys;
pub mod master_key;
