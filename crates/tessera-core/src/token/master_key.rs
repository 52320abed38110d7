//! The operator's master key: AES-256-GCM over private signing keys (and the code page's
//! links) at rest, and HMAC-SHA256 keys derived from it with HKDF for other purposes
//! (CSRF tokens), so that no two uses share key material.

use std::fmt;

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use aws_lc_rs::{hkdf, hmac};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::random;

pub struct MasterKey {
    aead: LessSafeKey,
    /// HKDF's pseudorandom key (RFC 5869 §2.2), expanded per purpose in [`MasterKey::mac`].
    derive: hkdf::Prk,
}

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
        let derive = hkdf::Salt::new(hkdf::HKDF_SHA256, b"tessera master key").extract(raw);
        Ok(Self {
            aead: LessSafeKey::new(key),
            derive,
        })
    }

    /// HMAC-SHA256 of `message` under a key derived for `purpose` alone (RFC 5869 §2.3).
    pub fn mac(&self, purpose: &[u8], message: &[u8]) -> Result<Vec<u8>, MasterKeyError> {
        let key = self.mac_key(purpose)?;
        Ok(hmac::sign(&key, message).as_ref().to_vec())
    }

    /// Whether `tag` is the [`MasterKey::mac`] of `message` for `purpose`, compared in
    /// constant time.
    pub fn verify_mac(&self, purpose: &[u8], message: &[u8], tag: &[u8]) -> bool {
        self.mac_key(purpose)
            .is_ok_and(|key| hmac::verify(&key, message, tag).is_ok())
    }

    fn mac_key(&self, purpose: &[u8]) -> Result<hmac::Key, MasterKeyError> {
        let info = [purpose];
        let okm = self
            .derive
            .expand(&info, hmac::HMAC_SHA256)
            .map_err(|_| MasterKeyError::Encrypt)?;
        Ok(hmac::Key::from(okm))
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
        self.aead
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
            .aead
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

    #[test]
    fn macs_are_per_purpose_and_per_key() {
        let key = MasterKey::from_bytes(&[1; 32]).unwrap();
        let tag = key.mac(b"csrf", b"session").unwrap();
        assert_eq!(tag.len(), 32);
        assert!(key.verify_mac(b"csrf", b"session", &tag));
        assert!(!key.verify_mac(b"csrf", b"other session", &tag));
        assert!(!key.verify_mac(b"other purpose", b"session", &tag));
        assert!(!key.verify_mac(b"csrf", b"session", &tag[..31]));
        let other = MasterKey::from_bytes(&[2; 32]).unwrap();
        assert!(!other.verify_mac(b"csrf", b"session", &tag));
    }
}
