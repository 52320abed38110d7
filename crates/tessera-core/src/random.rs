//! Random identifiers and secrets from the operating system's CSPRNG.

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// `N` random bytes. The system RNG failing is not recoverable; it is reported as an error.
pub fn bytes<const N: usize>() -> Result<[u8; N], RandomError> {
    let mut out = [0u8; N];
    SystemRandom::new()
        .fill(&mut out)
        .map_err(|_| RandomError)?;
    Ok(out)
}

/// A URL-safe random string carrying `N` bytes of entropy, with a readable prefix.
pub fn token<const N: usize>(prefix: &str) -> Result<String, RandomError> {
    let raw = bytes::<N>()?;
    let mut out = String::with_capacity(prefix.len() + N * 4 / 3 + 2);
    out.push_str(prefix);
    URL_SAFE_NO_PAD.encode_string(raw, &mut out);
    Ok(out)
}

#[derive(Debug, thiserror::Error)]
#[error("the system random number generator failed")]
pub struct RandomError;
