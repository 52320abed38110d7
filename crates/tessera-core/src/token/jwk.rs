//! Public JSON Web Keys of clients (RFC 7517, RFC 7518 §6): the keys a `private_key_jwt`
//! client registers, parsed once into what verifies its assertions' signatures. Only the
//! algorithms Tessera signs with itself are taken: ES256 (EC P-256), EdDSA (OKP Ed25519)
//! and RS256 (RSA, 2048 bits or more).

use aws_lc_rs::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::Value;

use super::keys::Algorithm;

/// The largest JWK Set accepted, inline or fetched: far more than a handful of keys need.
pub const MAX_JWKS_BYTES: usize = 64 * 1024;

/// Members that only a private key has (RFC 7518 §6.2.2, §6.3.2, RFC 8037 §2).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

#[derive(Debug, Clone, PartialEq, Eq)]
enum Material {
    /// The uncompressed point `04 || x || y`.
    Ec(Vec<u8>),
    Ed(Vec<u8>),
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
    },
}

/// One usable public key of a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicJwk {
    pub kid: Option<String>,
    pub alg: Algorithm,
    material: Material,
}

impl PublicJwk {
    pub fn verify(&self, message: &[u8], sig: &[u8]) -> bool {
        match &self.material {
            Material::Ec(point) => {
                UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
                    .verify(message, sig)
                    .is_ok()
            }
            Material::Ed(x) => UnparsedPublicKey::new(&signature::ED25519, x)
                .verify(message, sig)
                .is_ok(),
            Material::Rsa { n, e } => RsaPublicKeyComponents { n, e }
                .verify(&signature::RSA_PKCS1_2048_8192_SHA256, message, sig)
                .is_ok(),
        }
    }
}

fn b64_member(jwk: &Value, name: &str) -> Result<Vec<u8>, String> {
    let raw = jwk[name]
        .as_str()
        .ok_or_else(|| format!("a key has no {name:?}"))?;
    URL_SAFE_NO_PAD
        .decode(raw)
        .map_err(|_| format!("a key's {name:?} is not base64url"))
}

/// One key of the set: `Ok(None)` for a key Tessera cannot use for signatures (an
/// encryption key, another curve or algorithm), which is skipped, not refused.
fn parse_key(jwk: &Value) -> Result<Option<PublicJwk>, String> {
    if PRIVATE_MEMBERS.iter().any(|m| jwk.get(m).is_some()) {
        return Err("the JWK Set holds a private or secret key; register only public keys".into());
    }
    if jwk.get("use").is_some_and(|u| u != "sig") {
        return Ok(None);
    }
    let kid = jwk.get("kid").and_then(Value::as_str).map(str::to_owned);
    let declared = jwk.get("alg").and_then(Value::as_str);
    let (alg, material) = match (jwk["kty"].as_str(), jwk["crv"].as_str()) {
        (Some("EC"), Some("P-256")) => {
            let (x, y) = (b64_member(jwk, "x")?, b64_member(jwk, "y")?);
            if x.len() != 32 || y.len() != 32 {
                return Err("a P-256 key's x and y must be 32 bytes each".into());
            }
            let point = [&[4u8][..], &x, &y].concat();
            (Algorithm::Es256, Material::Ec(point))
        }
        (Some("OKP"), Some("Ed25519")) => {
            let x = b64_member(jwk, "x")?;
            if x.len() != 32 {
                return Err("an Ed25519 key's x must be 32 bytes".into());
            }
            (Algorithm::EdDsa, Material::Ed(x))
        }
        (Some("RSA"), _) => {
            let (n, e) = (b64_member(jwk, "n")?, b64_member(jwk, "e")?);
            if n.len() < 256 {
                return Err("an RSA key must have at least 2048 bits".into());
            }
            (Algorithm::Rs256, Material::Rsa { n, e })
        }
        (Some(_), _) => return Ok(None),
        (None, _) => return Err("a key has no \"kty\"".into()),
    };
    if declared.is_some_and(|d| d != alg.as_str()) {
        return Ok(None);
    }
    Ok(Some(PublicJwk { kid, alg, material }))
}

/// One public key given inline (a DPoP proof's `jwk` header, RFC 9449 §4.2), which must be
/// a signing key Tessera can use.
pub fn parse_public_jwk(jwk: &Value) -> Result<PublicJwk, String> {
    parse_key(jwk)?.ok_or_else(|| {
        "the key is not a signing key Tessera can use (ES256 on P-256, EdDSA on Ed25519, or RS256)"
            .to_owned()
    })
}

/// The RFC 7638 thumbprint of a public key Tessera can use: SHA-256 of its required
/// members in lexicographic order, without whitespace, base64url. The members are
/// base64url strings or fixed names already checked by [`parse_public_jwk`], so none needs
/// escaping.
pub fn thumbprint(jwk: &Value) -> Result<String, String> {
    let member = |name: &str| {
        jwk[name]
            .as_str()
            .filter(|v| {
                v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
            })
            .ok_or_else(|| format!("the key's {name:?} is missing or not base64url"))
    };
    let canonical = match jwk["kty"].as_str() {
        Some("EC") => format!(
            r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
            member("crv")?,
            member("x")?,
            member("y")?
        ),
        Some("OKP") => format!(
            r#"{{"crv":"{}","kty":"OKP","x":"{}"}}"#,
            member("crv")?,
            member("x")?
        ),
        Some("RSA") => format!(
            r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
            member("e")?,
            member("n")?
        ),
        _ => return Err("the key type has no thumbprint here".into()),
    };
    use sha2::Digest;
    Ok(URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(canonical.as_bytes())))
}

/// Whether `value` can be an RFC 7638 SHA-256 thumbprint as [`thumbprint`] writes it: 32
/// bytes in unpadded base64url (RFC 9449 §10's `dpop_jkt`).
pub fn is_thumbprint(value: &str) -> bool {
    value.len() == 43 && URL_SAFE_NO_PAD.decode(value).is_ok_and(|b| b.len() == 32)
}

/// The usable keys of a JWK Set document; an error names what is wrong with it, and a set
/// with no usable key is one.
pub fn parse_jwk_set(document: &str) -> Result<Vec<PublicJwk>, String> {
    if document.len() > MAX_JWKS_BYTES {
        return Err(format!(
            "the JWK Set is larger than {} KiB",
            MAX_JWKS_BYTES / 1024
        ));
    }
    let set: Value =
        serde_json::from_str(document).map_err(|e| format!("the JWK Set is not JSON: {e}"))?;
    let keys = set["keys"]
        .as_array()
        .ok_or("a JWK Set is an object with a \"keys\" array (RFC 7517 §5)")?;
    let mut usable = Vec::with_capacity(keys.len());
    for jwk in keys {
        if let Some(key) = parse_key(jwk)? {
            usable.push(key);
        }
    }
    if usable.is_empty() {
        return Err("the JWK Set has no signing key Tessera can use (ES256 on P-256, EdDSA on Ed25519, or RS256)".into());
    }
    Ok(usable)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::keys;
    use crate::token::master_key::MasterKey;

    fn published(alg: Algorithm) -> (keys::Keyring, Value) {
        let master = MasterKey::from_base64(&MasterKey::generate_base64().unwrap()).unwrap();
        let k = keys::generate(alg, &master, 0, 0).unwrap();
        let ring = keys::Keyring::from_stored(&[k], &master, 3600).unwrap();
        let jwks = ring.jwks(0);
        (ring, jwks)
    }

    #[test]
    fn thumbprints_follow_rfc_7638() {
        // RFC 7638 §3.1's example key and its thumbprint.
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        let jwk = serde_json::json!({"kty": "RSA", "n": n, "e": "AQAB", "alg": "RS256", "kid": "2011-04-29"});
        assert_eq!(
            thumbprint(&jwk).unwrap(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
        let (_, jwks) = published(Algorithm::Es256);
        let mut reordered = jwks["keys"][0].clone();
        reordered["kid"] = Value::from("another kid");
        assert_eq!(
            thumbprint(&jwks["keys"][0]).unwrap(),
            thumbprint(&reordered).unwrap(),
            "only the required members count"
        );
    }

    #[test]
    fn only_a_sha_256_thumbprint_passes_for_one() {
        let (_, jwks) = published(Algorithm::Es256);
        assert!(is_thumbprint(&thumbprint(&jwks["keys"][0]).unwrap()));
        assert!(is_thumbprint("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"));
        for wrong in [
            "",
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9X",
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs=",
            "NzbLsXh8uDCcd+6MNwXF4W/7noWXFZAfHkxZsRGC9Xs",
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xt",
            "not-a-thumbprint",
        ] {
            assert!(!is_thumbprint(wrong), "{wrong:?}");
        }
    }

    #[test]
    fn every_algorithm_parses_and_verifies_what_its_private_key_signed() {
        for alg in [Algorithm::Es256, Algorithm::EdDsa, Algorithm::Rs256] {
            let (ring, jwks) = published(alg);
            let keys = parse_jwk_set(&jwks.to_string()).unwrap();
            assert_eq!(keys.len(), 1);
            assert_eq!(keys[0].alg, alg);
            let signer = ring.current(0).unwrap();
            let sig = signer.sign(b"message").unwrap();
            assert!(keys[0].verify(b"message", &sig), "{alg:?}");
            assert!(!keys[0].verify(b"other message", &sig), "{alg:?}");
        }
    }

    #[test]
    fn bad_sets_are_refused_with_a_reason_and_foreign_keys_skipped() {
        let (_, jwks) = published(Algorithm::Es256);
        let good = jwks["keys"][0].clone();
        let mut private = good.clone();
        private["d"] = Value::from("AAAA");
        let encryption = serde_json::json!({"kty": "EC", "crv": "P-256", "use": "enc", "x": good["x"], "y": good["y"]});
        let other_curve = serde_json::json!({"kty": "EC", "crv": "P-384", "x": "AA", "y": "AA"});
        for (set, reason) in [
            ("[]".to_owned(), "\"keys\" array"),
            ("not json".to_owned(), "not JSON"),
            (
                serde_json::json!({"keys": [private]}).to_string(),
                "private",
            ),
            (
                serde_json::json!({"keys": [encryption]}).to_string(),
                "no signing key",
            ),
            (
                serde_json::json!({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}).to_string(),
                "secret",
            ),
            (
                serde_json::json!({"keys": [other_curve.clone()]}).to_string(),
                "no signing key",
            ),
            ("x".repeat(MAX_JWKS_BYTES + 1), "larger"),
        ] {
            let err = parse_jwk_set(&set).unwrap_err();
            assert!(err.contains(reason), "{reason}: {err}");
        }
        let mixed = serde_json::json!({"keys": [other_curve, good]}).to_string();
        assert_eq!(parse_jwk_set(&mixed).unwrap().len(), 1);
    }
}
