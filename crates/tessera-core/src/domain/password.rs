//! Human passwords, hashed with argon2id (RFC 9106).
//!
//! Unlike 256-bit client secrets, passwords come from a small, guessable space, so the hash
//! must be slow and memory-hard; the cost is configuration, cheap only in tests.

use std::fmt;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::random;

/// argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordPolicy {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for PasswordPolicy {
    /// OWASP's recommended argon2id minimum: 19 MiB, 2 iterations, 1 lane.
    fn default() -> Self {
        Self {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("invalid argon2 parameters: {0}")]
    Params(String),
    #[error("password hashing failed: {0}")]
    Hash(String),
}

/// A password in clear text; never printed.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    pub fn new(raw: String) -> Self {
        Self(raw)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password([redacted])")
    }
}

impl PasswordPolicy {
    fn argon2(&self) -> Result<Argon2<'static>, PasswordError> {
        let params = Params::new(self.memory_kib, self.iterations, self.parallelism, None)
            .map_err(|e| PasswordError::Params(e.to_string()))?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }

    /// The PHC string (`$argon2id$v=19$m=…`) of `password` with a fresh salt. CPU-heavy:
    /// call it off the async executor.
    pub fn hash(&self, password: &Password) -> Result<String, PasswordError> {
        let salt_bytes = random::bytes::<16>().map_err(|e| PasswordError::Hash(e.to_string()))?;
        let salt =
            SaltString::encode_b64(&salt_bytes).map_err(|e| PasswordError::Hash(e.to_string()))?;
        self.argon2()?
            .hash_password(password.expose().as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| PasswordError::Hash(e.to_string()))
    }
}

/// Whether `password` matches the stored PHC string. The parameters come from the string,
/// so hashes made under an older policy still verify. Comparison is constant-time inside
/// the argon2 crate. CPU-heavy: call it off the async executor.
pub fn verify_password(phc: &str, password: &Password) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    Argon2::default()
        .verify_password(password.expose().as_bytes(), &parsed)
        .is_ok()
}

/// A PHC string of a random password: verifying against it costs the same as against a real
/// hash, so an unknown email takes as long as a wrong password.
pub fn decoy_hash(policy: &PasswordPolicy) -> Result<String, PasswordError> {
    let raw = random::token::<16>("").map_err(|e| PasswordError::Hash(e.to_string()))?;
    policy.hash(&Password::new(raw))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_verifies_and_wrong_password_does_not() {
        let policy = PasswordPolicy {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        };
        let phc = policy.hash(&Password::new("correct horse".into())).unwrap();
        assert!(phc.starts_with("$argon2id$"));
        assert!(verify_password(
            &phc,
            &Password::new("correct horse".into())
        ));
        assert!(!verify_password(
            &phc,
            &Password::new("battery staple".into())
        ));
        assert!(!verify_password("not a hash", &Password::new("x".into())));
    }
}
