//! RFC 9068 access tokens (token/jwt.rs): any string is verified or refused, never a
//! panic; a token Tessera signed verifies to its claims; and a token changed in any byte
//! never verifies.
#![no_main]

use std::sync::OnceLock;

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use tessera_core::token::jwt::{self, AccessTokenClaims, Expectations};
use tessera_core::token::keys::{self, Algorithm, Keyring};
use tessera_core::token::master_key::MasterKey;

const NOW: i64 = 1_700_000_000;
const ISSUER: &str = "https://issuer.example";
const AUDIENCE: &str = "https://api.example";

/// One keyring per algorithm, made once per process: key generation is not what is fuzzed.
fn rings() -> &'static [Keyring; 3] {
    static RINGS: OnceLock<[Keyring; 3]> = OnceLock::new();
    RINGS.get_or_init(|| {
        let master = MasterKey::from_base64(&MasterKey::generate_base64().expect("master key"))
            .expect("master key");
        [Algorithm::Es256, Algorithm::EdDsa, Algorithm::Rs256].map(|alg| {
            let key = keys::generate(alg, &master, 0, 0).expect("key");
            Keyring::from_stored(&[key], &master, 3600).expect("keyring")
        })
    })
}

#[derive(Debug, Arbitrary)]
struct Input {
    ring: u8,
    sub: String,
    client_id: String,
    scope: String,
    jti: String,
    acct: Option<String>,
    ttl: u16,
    /// Where to change the signed token, and to what.
    at: u16,
    byte: u8,
}

fuzz_target!(|data: &[u8]| {
    let expect = Expectations {
        issuer: ISSUER,
        audience: AUDIENCE,
    };
    if let Ok(token) = std::str::from_utf8(data) {
        for ring in rings() {
            let _ = jwt::verify(token, ring, &expect, NOW);
        }
    }
    let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    let ring = &rings()[usize::from(input.ring) % 3];
    let claims = AccessTokenClaims {
        iss: ISSUER.into(),
        sub: input.sub,
        aud: AUDIENCE.into(),
        client_id: input.client_id,
        scope: input.scope,
        iat: NOW,
        exp: NOW + 1 + i64::from(input.ttl),
        jti: input.jti,
        acct: input.acct,
        sid: None,
        account_external_id: None,
        cnf: None,
    };
    let key = ring.current(NOW).expect("a signing key");
    let token = jwt::sign(key, &claims).expect("signing");
    assert_eq!(
        jwt::verify(&token, ring, &expect, NOW).as_ref(),
        Ok(&claims)
    );

    let mut tampered = token.clone().into_bytes();
    let at = usize::from(input.at) % tampered.len();
    tampered[at] = input.byte;
    if tampered != token.as_bytes() {
        if let Ok(tampered) = String::from_utf8(tampered) {
            assert!(
                jwt::verify(&tampered, ring, &expect, NOW).is_err(),
                "a token changed at byte {at} still verified"
            );
        }
    }
});
