//! The operator's master key: AES-256-GCM over private signing keys at rest.

use std::fmt;

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::random;

pub struct MasterKey(LessSafeKey);

#[derive(Debug, thiserror::Error)]
pub enum MasterKeyError {
    #[error("the master key must be 32 bytes, base64-encoded (e.g. `openssl rand -base64 32`)")]
    Format,
    #[error("a private key could not be decrypted: wrong master key, or the data is corrupt")]
    Decrypt,
    #[error("encryption failed")]
    Encrypt,
}

impl MasterKey {
    pub fn from_bytes(raw: &[u8; 32]) -> Result<Self, MasterKeyError> {
        let key = UnboundKey::new(&AES_256_GCM, raw).map_err(|_| MasterKeyError::Format)?;
        Ok(Self(LessSafeKey::new(key)))
    }

    /// Parses the base64 text form (surrounding whitespace ignored).
    pub fn from_base64(text: &str) -> Result<Self, MasterKeyError> {
        let raw = STANDARD
            .decode(text.trim())
            .map_err(|_| MasterKeyError::Format)?;
        let raw: [u8; 32] = raw.try_into().map_err(|_| MasterKeyError::Format)?;
        Self::from_bytes(&raw)
    }

    /// A new random key in its base64 text form.
    pub fn generate_base64() -> Result<String, MasterKeyError> {
        let raw = random::bytes::<32>().map_err(|_| MasterKeyError::Encrypt)?;
        Ok(STANDARD.encode(raw))
    }

    /// `nonce || ciphertext || tag`; `context` (the kid) is bound as associated data so a
    /// ciphertext cannot be moved to another key's row.
    pub fn seal(&self, context: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, MasterKeyError> {
        let nonce_bytes = random::bytes::<NONCE_LEN>().map_err(|_| MasterKeyError::Encrypt)?;
        let mut buf = plaintext.to_vec();
        self.0
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce_bytes),
                Aad::from(context),
                &mut buf,
            )
            .map_err(|_| MasterKeyError::Encrypt)?;
        let mut out = nonce_bytes.to_vec();
        out.extend_from_slice(&buf);
        Ok(out)
    }

    pub fn open(&self, context: &[u8], sealed: &[u8]) -> Result<Vec<u8>, MasterKeyError> {
        if sealed.len() < NONCE_LEN {
            return Err(MasterKeyError::Decrypt);
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| MasterKeyError::Decrypt)?;
        let mut buf = body.to_vec();
        let plain = self
            .0
            .open_in_place(nonce, Aad::from(context), &mut buf)
            .map_err(|_| MasterKeyError::Decrypt)?;
        Ok(plain.to_vec())
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_roundtrip_and_context_binding() {
        let key = MasterKey::from_base64(&MasterKey::generate_base64().unwrap()).unwrap();
        let sealed = key.seal(b"kid1", b"secret").unwrap();
        assert_eq!(key.open(b"kid1", &sealed).unwrap(), b"secret");
        assert!(key.open(b"kid2", &sealed).is_err());
        let other = MasterKey::from_base64(&MasterKey::generate_base64().unwrap()).unwrap();
        assert!(other.open(b"kid1", &sealed).is_err());
    }
}
