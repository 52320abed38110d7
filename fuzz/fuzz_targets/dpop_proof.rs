//! DPoP proofs (token/dpop.rs, RFC 9449 §4.3): any header value is refused or accepted,
//! never a panic; and nothing but a real signature is accepted, so a proof assembled from
//! arbitrary header and claims with an arbitrary signature is always refused.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use tessera_core::token::dpop::{verify_proof, ProofPolicy, ProofTarget};
use tessera_fuzz::base64url;

const NOW: i64 = 1_700_000_000;

#[derive(Debug, Arbitrary)]
struct Parts {
    header: String,
    claims: String,
    signature: Vec<u8>,
}

fuzz_target!(|data: &[u8]| {
    let target = ProofTarget {
        method: "POST",
        uri: "https://as.example/oauth/token",
        access_token: None,
    };
    let policy = ProofPolicy {
        max_age: 60,
        nonces: None,
    };
    if let Ok(raw) = std::str::from_utf8(data) {
        let _ = verify_proof(raw, &target, &policy, NOW);
    }
    let Ok(p) = Parts::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    let proof = format!(
        "{}.{}.{}",
        base64url(p.header.as_bytes()),
        base64url(p.claims.as_bytes()),
        base64url(&p.signature)
    );
    assert!(
        verify_proof(&proof, &target, &policy, NOW).is_err(),
        "a proof without a real signature passed: {proof}"
    );
});
