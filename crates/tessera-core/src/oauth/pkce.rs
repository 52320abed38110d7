//! Proof Key for Code Exchange (RFC 7636), S256 only: `plain` protects nothing against an
//! attacker who can read the authorization request (RFC 9700 §2.1.1).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use subtle::ConstantTimeEq;

use crate::domain::SecretHash;

/// §4.1/§4.2: 43–128 characters of `[A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~"`.
pub fn is_well_formed(value: &str) -> bool {
    (43..=128).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

/// §4.6: `BASE64URL(SHA256(ASCII(code_verifier))) == code_challenge`, compared in constant time.
pub fn verify_s256(verifier: &str, challenge: &str) -> bool {
    if !is_well_formed(verifier) {
        return false;
    }
    let computed = URL_SAFE_NO_PAD.encode(SecretHash::of(verifier.as_bytes()).0);
    computed.as_bytes().ct_eq(challenge.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7636_appendix_b_example() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(verify_s256(verifier, challenge));
        assert!(!verify_s256(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXj",
            challenge
        ));
    }
}
