//! Imported password hashes (domain/imported_hash.rs): any string is classified or
//! refused, never a panic, in the parser, the cost check or verification; what the cost
//! check accepts the parser accepts as the same family; what the parser refuses never
//! verifies.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera_core::domain::hash_cost::CostCaps;
use tessera_core::domain::imported_hash::{parse, parse_within_caps, verify};

/// Caps far below Tessera's, so that verifying a hash the fuzzer made costs milliseconds,
/// not seconds: the fuzzer explores shapes, not work factors.
const CHEAP: CostCaps = CostCaps {
    bcrypt_cost: 4,
    pbkdf2_sha1_iterations: 1_000,
    pbkdf2_sha256_iterations: 1_000,
    pbkdf2_sha512_iterations: 1_000,
    scrypt_memory_bytes: 1 << 16,
    scrypt_work_bytes: 1 << 17,
    argon2_memory_kib: 64,
    argon2_work_kib: 256,
    argon2_lanes: 2,
    sha_crypt_rounds: 5_000,
};

fuzz_target!(|data: &[u8]| {
    // The first byte splits the input into a hash and a password.
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let at = usize::from(split).min(rest.len());
    let (hash, password) = rest.split_at(at);
    let Ok(raw) = std::str::from_utf8(hash) else {
        return;
    };
    let family = parse(raw);
    match parse_within_caps(raw, &CHEAP) {
        Ok(cheap) => {
            assert_eq!(family, Ok(cheap), "the caps changed the family of {raw:?}");
            let _ = verify(raw, password);
        }
        Err(_) if family.is_err() => {
            assert!(
                !verify(raw, password),
                "an unparseable hash verified: {raw:?}"
            );
        }
        Err(_) => {}
    }
});
