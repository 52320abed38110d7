//! Signing keys and the keyring built from them.
//!
//! Rotation without a resource server ever meeting an unknown `kid`:
//! - a new key is published in the JWKS as soon as it is stored, but signs only from its
//!   `activates_at` (now + the propagation delay), so caches have picked it up by then;
//! - a key stops signing when the next key activates, and its public half stays published
//!   (and accepted) until every token it signed has expired: next activation + max lifetime.

use std::collections::HashMap;
use std::sync::Arc;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{
    self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair, UnparsedPublicKey,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};

use super::master_key::MasterKey;
use crate::domain::Kid;
use crate::UnixSeconds;

/// JWS algorithms Tessera signs with (RFC 7518 §3.1, RFC 8037).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    Es256,
    EdDsa,
    Rs256,
}

impl Algorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Es256 => "ES256",
            Self::EdDsa => "EdDSA",
            Self::Rs256 => "RS256",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "ES256" => Some(Self::Es256),
            "EdDSA" => Some(Self::EdDsa),
            "RS256" => Some(Self::Rs256),
            _ => None,
        }
    }
}

/// A key as stored: the private half sealed with the master key. `Debug` leaves the sealed
/// private half out: it is ciphertext, but nothing a log line needs.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredSigningKey {
    pub kid: Kid,
    pub alg: Algorithm,
    /// The raw public key as `UnparsedPublicKey` takes it (EC point, Ed25519 bytes,
    /// or PKCS#1 RSAPublicKey DER).
    pub public_key: Vec<u8>,
    /// The public JWK as JSON text, with `kid`, `use` and `alg`.
    pub public_jwk: String,
    /// `MasterKey::seal(kid, pkcs8)`.
    pub private_key_sealed: Vec<u8>,
    pub created_at: UnixSeconds,
    pub activates_at: UnixSeconds,
}

impl std::fmt::Debug for StoredSigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredSigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("public_jwk", &self.public_jwk)
            .field("private_key_sealed", &"[redacted]")
            .field("created_at", &self.created_at)
            .field("activates_at", &self.activates_at)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("key generation failed")]
    Generate,
    #[error("signing key {0} is unusable: {1}")]
    Unusable(String, String),
    #[error("signing failed")]
    Sign,
}

/// Generates a key pair of `alg` and seals its private half.
pub fn generate(
    alg: Algorithm,
    master: &MasterKey,
    now: UnixSeconds,
    activates_at: UnixSeconds,
) -> Result<StoredSigningKey, KeyError> {
    let kid = Kid::generate().map_err(|_| KeyError::Generate)?;
    let rng = SystemRandom::new();
    let pkcs8: Vec<u8> = match alg {
        Alg::Es256 => {
            EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                .map_err(|_| KeyError::Generate)?
                .as_ref()
                .to_vec()
        }
        Alg::EdDsa => Ed25519KeyPair::generate_pkcs8(&rng)
            .map_err(|_| KeyError::Generate)?
            .as_ref()
            .to_vec(),
        Alg::Rs256 => RsaKeyPair::generate(KeySize::Rsa2048)
            .and_then(|k| k.as_der())
            .map_err(|_| KeyError::Generate)?
            .as_ref()
            .to_vec(),
    };
    let signer = Signer::from_pkcs8(alg, &pkcs8).map_err(|_| KeyError::Generate)?;
    let sealed = master
        .seal(kid.as_str().as_bytes(), &pkcs8)
        .map_err(|_| KeyError::Generate)?;
    let mut jwk = signer.public_jwk();
    jwk["kid"] = json!(kid.as_str());
    jwk["use"] = json!("sig");
    jwk["alg"] = json!(alg.as_str());
    Ok(StoredSigningKey {
        public_jwk: jwk.to_string(),
        kid,
        alg,
        public_key: signer.public_key(),
        private_key_sealed: sealed,
        created_at: now,
        activates_at,
    })
}

use Algorithm as Alg;

enum Signer {
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
    Rsa(RsaKeyPair),
}

impl Signer {
    fn from_pkcs8(alg: Algorithm, pkcs8: &[u8]) -> Result<Self, String> {
        match alg {
            Alg::Es256 => {
                EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8)
                    .map(Self::Ec)
                    .map_err(|e| e.to_string())
            }
            Alg::EdDsa => Ed25519KeyPair::from_pkcs8(pkcs8)
                .map(Self::Ed)
                .map_err(|e| e.to_string()),
            Alg::Rs256 => RsaKeyPair::from_pkcs8(pkcs8)
                .map(Self::Rsa)
                .map_err(|e| e.to_string()),
        }
    }

    /// The public JWK (RFC 7517 §4, RFC 7518 §6, RFC 8037 §2), without `kid`/`use`/`alg`.
    fn public_jwk(&self) -> Value {
        match self {
            // Uncompressed point: 0x04 || X || Y (SEC 1 §2.3.3).
            Self::Ec(k) => {
                let p = k.public_key().as_ref();
                json!({ "kty": "EC", "crv": "P-256", "x": b64(&p[1..33]), "y": b64(&p[33..65]) })
            }
            Self::Ed(k) => {
                json!({ "kty": "OKP", "crv": "Ed25519", "x": b64(k.public_key().as_ref()) })
            }
            Self::Rsa(k) => {
                let c = PublicKeyComponents::<Vec<u8>>::from(k.public_key());
                json!({ "kty": "RSA", "n": b64(&c.n), "e": b64(&c.e) })
            }
        }
    }

    fn public_key(&self) -> Vec<u8> {
        match self {
            Self::Ec(k) => k.public_key().as_ref().to_vec(),
            Self::Ed(k) => k.public_key().as_ref().to_vec(),
            Self::Rsa(k) => k.public_key().as_ref().to_vec(),
        }
    }
}

/// A decrypted key that signs. The encoded JOSE header is prepared once.
pub struct SigningKey {
    pub kid: Kid,
    pub alg: Algorithm,
    /// `BASE64URL(header) "."` of access tokens (`typ: at+jwt`), ready to be followed by
    /// the claims.
    pub(crate) header_prefix: String,
    /// The same for ID tokens (`typ: JWT`), which an access token must never pass for.
    pub(crate) id_header_prefix: String,
    signer: Signer,
}

impl SigningKey {
    /// Signs `message` (the JWS signing input).
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        match &self.signer {
            Signer::Ec(k) => k
                .sign(&SystemRandom::new(), message)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| KeyError::Sign),
            Signer::Ed(k) => Ok(k.sign(message).as_ref().to_vec()),
            Signer::Rsa(k) => {
                let mut sig = vec![0u8; k.public_modulus_len()];
                k.sign(
                    &signature::RSA_PKCS1_SHA256,
                    &SystemRandom::new(),
                    message,
                    &mut sig,
                )
                .map_err(|_| KeyError::Sign)?;
                Ok(sig)
            }
        }
    }
}

/// A public key that verifies, with the window in which it is published.
pub struct VerifyingKey {
    pub kid: Kid,
    pub alg: Algorithm,
    public_key: Vec<u8>,
    jwk: Value,
    activates_at: UnixSeconds,
    /// When the next key takes over signing; `None` while this key is the newest.
    superseded_at: Option<UnixSeconds>,
}

impl VerifyingKey {
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        let alg: &dyn signature::VerificationAlgorithm = match self.alg {
            Alg::Es256 => &signature::ECDSA_P256_SHA256_FIXED,
            Alg::EdDsa => &signature::ED25519,
            Alg::Rs256 => &signature::RSA_PKCS1_2048_8192_SHA256,
        };
        UnparsedPublicKey::new(alg, &self.public_key)
            .verify(message, signature)
            .is_ok()
    }

    fn published_at(&self, now: UnixSeconds, max_token_ttl: i64) -> bool {
        self.superseded_at.is_none_or(|s| now < s + max_token_ttl)
    }
}

/// `BASE64URL(JOSE header) "."` of tokens of type `typ` signed by `k`.
fn encoded_header(k: &StoredSigningKey, typ: &str) -> String {
    let header = json!({ "alg": k.alg.as_str(), "typ": typ, "kid": k.kid.as_str() });
    let mut prefix = URL_SAFE_NO_PAD.encode(header.to_string());
    prefix.push('.');
    prefix
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Every usable key, as the server holds them in memory.
pub struct Keyring {
    signing: Vec<(UnixSeconds, Arc<SigningKey>)>,
    verifying: HashMap<Kid, VerifyingKey>,
    max_token_ttl: i64,
}

impl Keyring {
    /// Builds the keyring from stored keys. `max_token_ttl` is the longest lifetime of any
    /// access token, which is how long a superseded key stays published.
    pub fn from_stored(
        stored: &[StoredSigningKey],
        master: &MasterKey,
        max_token_ttl: i64,
    ) -> Result<Self, KeyError> {
        let mut sorted: Vec<&StoredSigningKey> = stored.iter().collect();
        sorted.sort_by_key(|k| (k.activates_at, k.created_at));
        let mut signing = Vec::with_capacity(sorted.len());
        let mut verifying = HashMap::with_capacity(sorted.len());
        for (i, k) in sorted.iter().enumerate() {
            let unusable = |why: String| KeyError::Unusable(k.kid.to_string(), why);
            let pkcs8 = master
                .open(k.kid.as_str().as_bytes(), &k.private_key_sealed)
                .map_err(|e| unusable(e.to_string()))?;
            let signer = Signer::from_pkcs8(k.alg, &pkcs8).map_err(unusable)?;
            let header_prefix = encoded_header(k, "at+jwt");
            let id_header_prefix = encoded_header(k, "JWT");
            let jwk: Value = serde_json::from_str(&k.public_jwk)
                .map_err(|e| unusable(format!("malformed public JWK: {e}")))?;
            signing.push((
                k.activates_at,
                Arc::new(SigningKey {
                    kid: k.kid.clone(),
                    alg: k.alg,
                    header_prefix,
                    id_header_prefix,
                    signer,
                }),
            ));
            verifying.insert(
                k.kid.clone(),
                VerifyingKey {
                    kid: k.kid.clone(),
                    alg: k.alg,
                    public_key: k.public_key.clone(),
                    jwk,
                    activates_at: k.activates_at,
                    superseded_at: sorted.get(i + 1).map(|next| next.activates_at),
                },
            );
        }
        Ok(Self {
            signing,
            verifying,
            max_token_ttl,
        })
    }

    /// The key that signs at `now`: the most recently activated one.
    pub fn current(&self, now: UnixSeconds) -> Option<&Arc<SigningKey>> {
        self.signing
            .iter()
            .rev()
            .find(|(at, _)| *at <= now)
            .map(|(_, k)| k)
    }

    /// When the key that signs at `now` began signing: its age is `now` minus this.
    pub fn current_since(&self, now: UnixSeconds) -> Option<UnixSeconds> {
        self.signing
            .iter()
            .rev()
            .find(|(at, _)| *at <= now)
            .map(|(at, _)| *at)
    }

    /// The key for `kid` if it is published at `now`.
    pub fn verifier(&self, kid: &str, now: UnixSeconds) -> Option<&VerifyingKey> {
        let kid = Kid::parse(kid)?;
        self.verifying
            .get(&kid)
            .filter(|k| k.published_at(now, self.max_token_ttl))
    }

    /// The JWKS document (RFC 7517 §5): every key published at `now`.
    pub fn jwks(&self, now: UnixSeconds) -> Value {
        let mut keys: Vec<&VerifyingKey> = self
            .verifying
            .values()
            .filter(|k| k.published_at(now, self.max_token_ttl))
            .collect();
        keys.sort_by_key(|k| std::cmp::Reverse(k.activates_at));
        json!({ "keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>() })
    }

    /// Keys no longer published at `now`: safe to delete.
    pub fn expired(&self, now: UnixSeconds) -> Vec<Kid> {
        self.verifying
            .values()
            .filter(|k| !k.published_at(now, self.max_token_ttl))
            .map(|k| k.kid.clone())
            .collect()
    }

    /// The latest activation instant; lets the server know when to rebuild nothing but
    /// still wake up for a pending activation.
    pub fn newest_activation(&self) -> Option<UnixSeconds> {
        self.signing.last().map(|(at, _)| *at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_leaves_out_the_sealed_private_key() {
        let master = MasterKey::from_bytes(&[7; 32]).unwrap();
        let key = generate(Algorithm::Es256, &master, 0, 0).unwrap();
        let shown = format!("{key:?}");
        let sealed = format!("{:?}", key.private_key_sealed);
        assert!(!shown.contains(&sealed[1..sealed.len() - 1]), "{shown}");
        assert!(
            shown.contains("[redacted]") && shown.contains(key.kid.as_str()),
            "{shown}"
        );
    }
}
