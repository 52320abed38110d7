//! Independent JWT checks for tests: decode without the server's code, verify through the
//! published JWKS with aws-lc-rs directly.

use aws_lc_rs::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::Value;

pub fn part(token: &str, i: usize) -> Value {
    let seg = token.split('.').nth(i).expect("segment");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(seg).expect("base64url")).expect("json")
}

pub fn header(token: &str) -> Value {
    part(token, 0)
}

pub fn claims(token: &str) -> Value {
    part(token, 1)
}

fn b64(v: &Value) -> Vec<u8> {
    URL_SAFE_NO_PAD
        .decode(v.as_str().expect("string"))
        .expect("base64url")
}

/// Verifies the token's signature with the JWKS key named by its `kid`.
pub fn verify_with_jwks(token: &str, jwks: &Value) -> bool {
    let kid = header(token)["kid"].as_str().expect("kid").to_owned();
    let Some(jwk) = jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["kid"] == kid)
    else {
        return false;
    };
    let (signed, sig) = token.rsplit_once('.').expect("three parts");
    let sig = URL_SAFE_NO_PAD.decode(sig).expect("sig");
    match jwk["alg"].as_str().expect("alg") {
        "ES256" => {
            let mut point = vec![4u8];
            point.extend(b64(&jwk["x"]));
            point.extend(b64(&jwk["y"]));
            UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
                .verify(signed.as_bytes(), &sig)
                .is_ok()
        }
        "EdDSA" => UnparsedPublicKey::new(&signature::ED25519, b64(&jwk["x"]))
            .verify(signed.as_bytes(), &sig)
            .is_ok(),
        "RS256" => RsaPublicKeyComponents {
            n: b64(&jwk["n"]),
            e: b64(&jwk["e"]),
        }
        .verify(
            &signature::RSA_PKCS1_2048_8192_SHA256,
            signed.as_bytes(),
            &sig,
        )
        .is_ok(),
        other => panic!("unexpected alg {other}"),
    }
}
