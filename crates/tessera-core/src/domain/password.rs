//! Human passwords (users, legacy Basic credentials) and their argon2id hashes (RFC 9106).
//!
//! Human passwords come from a small, guessable space, so unlike client secrets they get a
//! slow, memory-hard hash. The cost is a policy from the configuration; the production
//! default is OWASP's argon2id recommendation (19 MiB, 2 passes, 1 lane). Verification
//! reads the cost from the stored PHC string, so a changed policy never breaks old hashes.

use std::fmt;

use argon2::password_hash::{PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use super::hash_cost::COST_CAPS;
use super::imported_hash::{self, HashFamily, HashRejection};
use crate::random;

/// The argon2id cost for new hashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordPolicy {
    /// Memory, KiB (m).
    pub memory_kib: u32,
    /// Passes (t).
    pub iterations: u32,
    /// Lanes (p).
    pub parallelism: u32,
}

impl Default for PasswordPolicy {
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
    #[error("the argon2 parameters are not valid: {0}")]
    Params(String),
    #[error("hashing the password failed: {0}")]
    Hash(String),
    #[error("the system random number generator failed")]
    Random,
}

impl PasswordPolicy {
    fn argon2(&self) -> Result<Argon2<'static>, PasswordError> {
        let params = Params::new(self.memory_kib, self.iterations, self.parallelism, None)
            .map_err(|e| PasswordError::Params(e.to_string()))?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }

    /// Checks the parameters once, at configuration time.
    pub fn validate(&self) -> Result<(), PasswordError> {
        self.argon2().map(|_| ())
    }
}

/// A password in clear text, between reading it and hashing or verifying it.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    /// A password for a new credential: 8 to 1024 characters, no control characters.
    pub fn new(raw: String) -> Result<Self, String> {
        let n = raw.chars().count();
        if !(8..=1024).contains(&n) {
            return Err("a password must be 8 to 1024 characters".into());
        }
        if raw.chars().any(char::is_control) {
            return Err("a password must not contain control characters".into());
        }
        Ok(Self(raw))
    }

    /// What a request presented, unchecked: verification decides.
    pub fn from_request(raw: String) -> Self {
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

/// A stored password hash: an argon2id PHC string (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`)
/// as Tessera makes them, or a hash imported from another system, kept as it came until
/// the first successful login rehashes it (see `imported_hash`).
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    /// A stored hash; `None` if it is in no format Tessera can verify.
    pub fn parse(raw: &str) -> Option<Self> {
        imported_hash::parse(raw).ok()?;
        Some(Self(raw.to_owned()))
    }

    /// A hash from an import file, or why it cannot be imported (never the hash itself):
    /// besides its format, its cost must be within [`COST_CAPS`].
    pub fn parse_imported(raw: &str) -> Result<Self, HashRejection> {
        imported_hash::parse_within_caps(raw, &COST_CAPS)?;
        Ok(Self(raw.to_owned()))
    }

    /// Which system's format the hash is in.
    pub fn family(&self) -> HashFamily {
        // Every value was parsed on the way in; UnknownFormat cannot come back here.
        imported_hash::parse(&self.0).unwrap_or(HashFamily::Argon2id)
    }

    /// Whether the next successful login should replace it with an argon2id hash.
    pub fn needs_upgrade(&self) -> bool {
        self.family() != HashFamily::Argon2id
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash([redacted])")
    }
}

/// Hashes with a fresh 128-bit salt. CPU- and memory-heavy: not on an async thread.
pub fn hash_password(
    policy: &PasswordPolicy,
    password: &Password,
) -> Result<PasswordHash, PasswordError> {
    let salt_bytes = random::bytes::<16>().map_err(|_| PasswordError::Random)?;
    let salt =
        SaltString::encode_b64(&salt_bytes).map_err(|e| PasswordError::Hash(e.to_string()))?;
    let hash = policy
        .argon2()?
        .hash_password(password.expose().as_bytes(), &salt)
        .map_err(|e| PasswordError::Hash(e.to_string()))?;
    Ok(PasswordHash(hash.to_string()))
}

/// Whether `password` matches `hash`, by the hash's own family; each compares the outputs
/// in constant time. CPU- and memory-heavy: not on an async thread.
pub fn verify_password(hash: &PasswordHash, password: &Password) -> bool {
    imported_hash::verify(&hash.0, password.expose().as_bytes())
}

/// A hash no password matches, with `policy`'s cost: verifying against it costs the same
/// as against a real hash, so an unknown email takes as long as a wrong password. Its salt
/// and output are random bytes rather than the hash of a random password: the same to a
/// verifier, and it spares the process an argon2id run (and its 19 MiB) at start-up.
pub fn decoy_hash(policy: &PasswordPolicy) -> Result<PasswordHash, PasswordError> {
    let salt_bytes = random::bytes::<16>().map_err(|_| PasswordError::Random)?;
    let output_bytes = random::bytes::<32>().map_err(|_| PasswordError::Random)?;
    let salt =
        SaltString::encode_b64(&salt_bytes).map_err(|e| PasswordError::Hash(e.to_string()))?;
    let params = policy.argon2()?.params().clone();
    let hash = argon2::PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: (&params)
            .try_into()
            .map_err(|e: argon2::password_hash::Error| PasswordError::Hash(e.to_string()))?,
        salt: Some(salt.as_salt()),
        hash: Some(
            argon2::password_hash::Output::new(&output_bytes)
                .map_err(|e| PasswordError::Hash(e.to_string()))?,
        ),
    };
    Ok(PasswordHash(hash.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHEAP: PasswordPolicy = PasswordPolicy {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    };

    #[test]
    fn hash_verifies_with_the_cost_it_was_made_with() {
        let pw = Password::new("correct horse".into()).unwrap();
        let hash = hash_password(&CHEAP, &pw).unwrap();
        assert!(hash.as_str().starts_with("$argon2id$v=19$m=64,t=1,p=1$"));
        assert!(verify_password(&hash, &pw));
        assert!(!verify_password(
            &hash,
            &Password::from_request("wrong horse".into())
        ));
        assert!(!format!("{pw:?}{hash:?}").contains("horse"));
        assert!(!hash.needs_upgrade());
        assert_eq!(PasswordHash::parse(hash.as_str()), Some(hash));
    }

    #[test]
    fn imported_hashes_parse_verify_and_ask_for_an_upgrade() {
        let pw = Password::new("correct horse battery".into()).unwrap();
        let hash =
            PasswordHash::parse_imported("$5$pepper$qEeDnFVzhTwXQ4aTFfKG3oqhpAd/aoar8fMHX4tGFa7")
                .unwrap();
        assert_eq!(hash.family(), HashFamily::ShaCrypt256);
        assert!(hash.needs_upgrade());
        assert!(verify_password(&hash, &pw));
        assert!(!verify_password(
            &hash,
            &Password::from_request("nope nope".into())
        ));
        assert_eq!(
            PasswordHash::parse_imported("5f4dcc3b5aa765d61d8327deb882cf99"),
            Err(HashRejection::UnsaltedDigest)
        );
    }

    #[test]
    fn decoy_has_the_policy_cost_and_matches_nothing() {
        let decoy = decoy_hash(&CHEAP).unwrap();
        assert!(decoy.as_str().starts_with("$argon2id$v=19$m=64,t=1,p=1$"));
        assert_eq!(PasswordHash::parse(decoy.as_str()), Some(decoy.clone()));
        assert!(!verify_password(
            &decoy,
            &Password::from_request("correct horse".into())
        ));
        assert_ne!(decoy, decoy_hash(&CHEAP).unwrap());
    }

    #[test]
    fn short_passwords_and_bad_params_are_refused() {
        assert!(Password::new("short".into()).is_err());
        assert!(PasswordPolicy {
            memory_kib: 1,
            iterations: 1,
            parallelism: 1
        }
        .validate()
        .is_err());
    }
}
