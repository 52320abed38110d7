//! Client secrets and their stored hashes.
//!
//! A client secret is 256 bits from the CSRNG, so a single SHA-256 is the right hash: with
//! 2^256 candidates there is nothing for a slow hash to slow down, and the token endpoint
//! stays at microseconds per request. Human passwords are different (small, guessable
//! space), which is why users and legacy credentials use argon2id instead.

use std::fmt;

use aws_lc_rs::digest::{digest, SHA256};
use subtle::ConstantTimeEq;

use crate::random::{self, RandomError};

/// A client secret in clear text: exists only between generation and the one response
/// that shows it, and between request parsing and verification.
#[derive(Clone)]
pub struct ClientSecret(String);

impl ClientSecret {
    pub fn generate() -> Result<Self, RandomError> {
        random::token::<32>("").map(Self)
    }

    pub fn from_request(raw: String) -> Self {
        Self(raw)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn hash(&self) -> SecretHash {
        SecretHash::of(self.0.as_bytes())
    }
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientSecret([redacted])")
    }
}

/// SHA-256 of a high-entropy secret (client secret, refresh token, authorization code).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SecretHash(pub [u8; 32]);

impl SecretHash {
    pub fn of(bytes: &[u8]) -> Self {
        let mut out = [0u8; 32];
        out.copy_from_slice(digest(&SHA256, bytes).as_ref());
        Self(out)
    }

    pub fn from_slice(raw: &[u8]) -> Option<Self> {
        <[u8; 32]>::try_from(raw).ok().map(Self)
    }

    /// Constant-time comparison, so response timing reveals nothing about the stored hash.
    pub fn matches(&self, other: &SecretHash) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretHash([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_is_256_bits_and_debug_is_redacted() {
        let s = ClientSecret::generate().unwrap();
        assert_eq!(s.expose().len(), 43);
        assert!(!format!("{s:?}").contains(s.expose()));
        assert!(s.hash().matches(&SecretHash::of(s.expose().as_bytes())));
        assert!(!s.hash().matches(&SecretHash::of(b"other")));
    }
}
