//! DPoP proofs (RFC 9449 §4): a JWT the client signs with a key of its own for one HTTP
//! request, so that a token bound to that key (`cnf.jkt`, §6) is useless without it.
//!
//! Checked here as §4.3 lists: one compact JWS typed `dpop+jwt`, signed by the public key
//! in its own `jwk` header with that key's algorithm (ES256, EdDSA or RS256: never `none`
//! nor a MAC), `htm` and `htu` naming this request, `iat` within the window, a `jti`, `ath`
//! when an access token comes along, and the server's nonce when one is required. Whether
//! the `jti` was seen before is the caller's check (the token endpoint asks the store, a
//! resource this process's [`ReplayCache`]), since only it knows where proofs are shared.

use std::collections::HashMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use parking_lot::Mutex;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::jwk::{parse_public_jwk, thumbprint};
use super::master_key::MasterKey;
use crate::domain::SecretHash;
use crate::UnixSeconds;

/// The proof algorithms accepted (metadata `dpop_signing_alg_values_supported`, and the
/// `algs` of a `WWW-Authenticate: DPoP` challenge).
pub const DPOP_ALGS: [&str; 3] = ["ES256", "EdDSA", "RS256"];

/// A proof larger than this is refused unread: an RSA-4096 `jwk` and the claims fit in a
/// fraction of it.
const MAX_PROOF_BYTES: usize = 8 * 1024;
/// The longest `jti` kept (RFC 9449 §4.2 asks for 96 random bits; this is generous).
const MAX_JTI_BYTES: usize = 256;

/// What the proof must be about.
pub struct ProofTarget<'a> {
    /// The request's method (`htm`).
    pub method: &'a str,
    /// The request's URL without query and fragment (`htu`, §4.3 item 9).
    pub uri: &'a str,
    /// The access token presented with the proof, whose hash `ath` must be (§4.3 item 11).
    pub access_token: Option<&'a str>,
}

/// How proofs are judged: the `iat` window, and the server nonce if one is required.
pub struct ProofPolicy<'a> {
    pub max_age: i64,
    /// `Some`: every proof must carry a nonce this key sealed within the window.
    pub nonces: Option<&'a MasterKey>,
}

/// A proof that passed every check but replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    /// The RFC 7638 thumbprint of the proof's key: the binding (`cnf.jkt`).
    pub jkt: String,
    /// What identifies this proof for replay checks: the key and `jti`, hashed.
    pub replay_key: SecretHash,
    pub iat: UnixSeconds,
}

impl Proof {
    /// Until when a replay of this proof could still pass the `iat` window.
    pub fn remembered_until(&self, max_age: i64) -> UnixSeconds {
        self.iat + max_age + 1
    }
}

/// Why a proof was refused: `invalid_dpop_proof`, or `use_dpop_nonce` (§8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProofError {
    Invalid(String),
    /// The server requires a nonce and the proof has none, or an old or foreign one.
    UseNonce,
}

fn invalid(why: impl Into<String>) -> ProofError {
    ProofError::Invalid(why.into())
}

/// §4.3: verifies one proof for `target`.
pub fn verify_proof(
    proof: &str,
    target: &ProofTarget<'_>,
    policy: &ProofPolicy<'_>,
    now: UnixSeconds,
) -> Result<Proof, ProofError> {
    if proof.len() > MAX_PROOF_BYTES {
        return Err(invalid("the DPoP proof is too large"));
    }
    let mut parts = proof.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid("the DPoP proof is not a compact JWS"));
    };
    let decode = |part: &str| URL_SAFE_NO_PAD.decode(part).ok();
    let header: Value = decode(h)
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| invalid("the DPoP proof's header is not base64url JSON"))?;
    if header["typ"] != "dpop+jwt" {
        return Err(invalid("the DPoP proof's typ must be dpop+jwt"));
    }
    let alg = header["alg"].as_str().unwrap_or_default();
    if !DPOP_ALGS.contains(&alg) {
        return Err(invalid(format!(
            "the DPoP proof's alg must be one of {}",
            DPOP_ALGS.join(", ")
        )));
    }
    let jwk_value = &header["jwk"];
    let key =
        parse_public_jwk(jwk_value).map_err(|e| invalid(format!("the DPoP proof's jwk: {e}")))?;
    if key.alg.as_str() != alg {
        return Err(invalid("the DPoP proof's alg does not match its jwk"));
    }
    let signature =
        decode(s).ok_or_else(|| invalid("the DPoP proof's signature is not base64url"))?;
    if !key.verify(&proof.as_bytes()[..h.len() + 1 + p.len()], &signature) {
        return Err(invalid(
            "the DPoP proof's signature does not verify with its jwk",
        ));
    }
    let claims: Value = decode(p)
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| invalid("the DPoP proof's claims are not base64url JSON"))?;
    let jti = claims["jti"]
        .as_str()
        .filter(|j| !j.is_empty() && j.len() <= MAX_JTI_BYTES)
        .ok_or_else(|| invalid("the DPoP proof has no jti"))?;
    if claims["htm"].as_str() != Some(target.method) {
        return Err(invalid(format!(
            "the DPoP proof's htm must be {}",
            target.method
        )));
    }
    let htu = claims["htu"].as_str().unwrap_or_default();
    if !same_uri(htu, target.uri) {
        return Err(invalid(format!(
            "the DPoP proof's htu must be {}",
            target.uri
        )));
    }
    let iat = claims["iat"]
        .as_i64()
        .ok_or_else(|| invalid("the DPoP proof has no iat"))?;
    if (now - iat).abs() > policy.max_age {
        return Err(invalid(format!(
            "the DPoP proof's iat is more than {} seconds from the server's time; make a fresh proof",
            policy.max_age
        )));
    }
    match (target.access_token, claims["ath"].as_str()) {
        (Some(token), Some(ath)) if ath == access_token_hash(token) => {}
        (Some(_), Some(_)) => {
            return Err(invalid(
                "the DPoP proof's ath is not the hash of this access token",
            ))
        }
        (Some(_), None) => return Err(invalid("the DPoP proof has no ath for the access token")),
        (None, _) => {}
    }
    if let Some(master) = policy.nonces {
        let fresh = claims["nonce"]
            .as_str()
            .is_some_and(|n| nonce_is_fresh(master, n, policy.max_age, now));
        if !fresh {
            return Err(ProofError::UseNonce);
        }
    }
    let jkt = thumbprint(jwk_value).map_err(invalid)?;
    let replay_key = SecretHash::of(format!("{jkt}.{jti}").as_bytes());
    Ok(Proof {
        jkt,
        replay_key,
        iat,
    })
}

/// §4.3 item 9: `htu` matches the request's URI without query and fragment; scheme and
/// host compare without regard to case (RFC 3986 §6.2.2.1).
fn same_uri(htu: &str, expected: &str) -> bool {
    let htu = htu.split(['?', '#']).next().unwrap_or_default();
    let split = |u: &str| -> Option<(String, String)> {
        let (scheme, rest) = u.split_once("://")?;
        let slash = rest.find('/').unwrap_or(rest.len());
        let (authority, path) = rest.split_at(slash);
        let path = if path.is_empty() { "/" } else { path };
        Some((
            format!(
                "{}://{}",
                scheme.to_ascii_lowercase(),
                authority.to_ascii_lowercase()
            ),
            path.to_owned(),
        ))
    };
    match (split(htu), split(expected)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// §4.2 `ath`: base64url of the SHA-256 of the access token's ASCII.
pub fn access_token_hash(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()))
}

/// The associated data that keeps nonces apart from anything else the master key seals.
const NONCE_CONTEXT: &[u8] = b"tessera dpop nonce v1";

/// A server nonce (§8, §9): the time, sealed with the master key. Every replica holding the
/// key accepts it until it is `max_age` old, so no nonce needs storing or sharing.
pub fn new_nonce(master: &MasterKey, now: UnixSeconds) -> Option<String> {
    let sealed = master.seal(NONCE_CONTEXT, &now.to_be_bytes()).ok()?;
    Some(URL_SAFE_NO_PAD.encode(sealed))
}

fn nonce_is_fresh(master: &MasterKey, nonce: &str, max_age: i64, now: UnixSeconds) -> bool {
    let Some(sealed) = URL_SAFE_NO_PAD.decode(nonce).ok() else {
        return false;
    };
    let Ok(opened) = master.open(NONCE_CONTEXT, &sealed) else {
        return false;
    };
    let Ok(bytes) = <[u8; 8]>::try_from(opened.as_slice()) else {
        return false;
    };
    let issued = i64::from_be_bytes(bytes);
    (0..=max_age).contains(&(now - issued))
}

/// The proofs a resource of this process has seen, until they could no longer pass the
/// `iat` window. Resource servers keep no store round trip on the request path; a proof
/// replayed to another replica within the window is bound to the same token (`ath`),
/// method and URL anyway, and `require_dpop_nonce` narrows the window to the nonce's age.
pub struct ReplayCache {
    seen: Mutex<HashMap<[u8; 32], UnixSeconds>>,
    capacity: usize,
}

impl ReplayCache {
    pub fn new(capacity: usize) -> Self {
        Self {
            seen: Mutex::new(HashMap::new()),
            capacity,
        }
    }

    /// Records `proof`; `false` when it was seen before (a replay), or when the cache is
    /// full of live proofs (refused rather than forgotten).
    pub fn first_use(&self, proof: &Proof, max_age: i64, now: UnixSeconds) -> bool {
        let mut seen = self.seen.lock();
        if seen.len() >= self.capacity {
            seen.retain(|_, until| *until >= now);
            if seen.len() >= self.capacity {
                return false;
            }
        }
        seen.insert(proof.replay_key.0, proof.remembered_until(max_age))
            .is_none()
    }

    /// Forgets proofs that can no longer pass the window.
    pub fn prune(&self, now: UnixSeconds) {
        self.seen.lock().retain(|_, until| *until >= now);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::token::keys::{self, Algorithm, SigningKey};

    /// A client's DPoP key: signs proofs with its public key in the header.
    pub struct ClientKey {
        key: std::sync::Arc<SigningKey>,
        jwk: Value,
    }

    impl ClientKey {
        pub fn new(alg: Algorithm) -> Self {
            let master = MasterKey::from_base64(&MasterKey::generate_base64().unwrap()).unwrap();
            let stored = keys::generate(alg, &master, 0, 0).unwrap();
            let ring = keys::Keyring::from_stored(&[stored], &master, 3600).unwrap();
            let mut jwk = ring.jwks(0)["keys"][0].clone();
            for m in ["kid", "use", "alg"] {
                jwk.as_object_mut().unwrap().remove(m);
            }
            Self {
                key: ring.current(0).unwrap().clone(),
                jwk,
            }
        }

        pub fn proof_with(&self, header: Value, claims: Value) -> String {
            let h = URL_SAFE_NO_PAD.encode(header.to_string());
            let p = URL_SAFE_NO_PAD.encode(claims.to_string());
            let signed = format!("{h}.{p}");
            let sig = self.key.sign(signed.as_bytes()).unwrap();
            format!("{signed}.{}", URL_SAFE_NO_PAD.encode(sig))
        }

        pub fn proof(&self, claims: Value) -> String {
            let header = serde_json::json!({"typ": "dpop+jwt", "alg": self.key.alg.as_str(), "jwk": self.jwk});
            self.proof_with(header, claims)
        }

        pub fn jkt(&self) -> String {
            thumbprint(&self.jwk).unwrap()
        }
    }

    const URI: &str = "https://as.example/oauth/token";
    const NOW: i64 = 1_700_000_000;

    fn claims(jti: &str) -> Value {
        serde_json::json!({"jti": jti, "htm": "POST", "htu": URI, "iat": NOW})
    }

    fn check(
        proof: &str,
        token: Option<&str>,
        nonces: Option<&MasterKey>,
    ) -> Result<Proof, ProofError> {
        let target = ProofTarget {
            method: "POST",
            uri: URI,
            access_token: token,
        };
        verify_proof(
            proof,
            &target,
            &ProofPolicy {
                max_age: 60,
                nonces,
            },
            NOW,
        )
    }

    #[test]
    fn good_proofs_of_every_algorithm_bind_their_key() {
        for alg in [Algorithm::Es256, Algorithm::EdDsa, Algorithm::Rs256] {
            let key = ClientKey::new(alg);
            let proof = check(&key.proof(claims("j1")), None, None).unwrap();
            assert_eq!(proof.jkt, key.jkt(), "{alg:?}");
        }
    }

    #[test]
    fn every_rule_of_section_4_3_refuses() {
        let key = ClientKey::new(Algorithm::Es256);
        let other = ClientKey::new(Algorithm::Es256);
        let mut wrong_htm = claims("j");
        wrong_htm["htm"] = "GET".into();
        let mut wrong_htu = claims("j");
        wrong_htu["htu"] = "https://as.example/oauth/other".into();
        let mut with_query = claims("j");
        with_query["htu"] = "HTTPS://AS.example/oauth/token?x=1#f".into();
        let mut stale = claims("j");
        stale["iat"] = (NOW - 61).into();
        let mut future = claims("j");
        future["iat"] = (NOW + 61).into();
        let mut no_jti = claims("j");
        no_jti.as_object_mut().unwrap().remove("jti");
        let jwk = key.jwk.clone();
        let typ = serde_json::json!({"typ": "JWT", "alg": "ES256", "jwk": jwk});
        let none = serde_json::json!({"typ": "dpop+jwt", "alg": "none", "jwk": jwk});
        let hs = serde_json::json!({"typ": "dpop+jwt", "alg": "HS256", "jwk": jwk});
        let mismatched = serde_json::json!({"typ": "dpop+jwt", "alg": "RS256", "jwk": jwk});
        let mut private = jwk.clone();
        private["d"] = "AAAA".into();
        let private = serde_json::json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": private});
        // Signed by one key, naming another.
        let swapped = serde_json::json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": other.jwk});
        for (proof, words) in [
            (key.proof(wrong_htm), "htm"),
            (key.proof(wrong_htu), "htu"),
            (key.proof(stale), "iat"),
            (key.proof(future), "iat"),
            (key.proof(no_jti), "jti"),
            (key.proof_with(typ, claims("j")), "typ"),
            (key.proof_with(none, claims("j")), "alg"),
            (key.proof_with(hs, claims("j")), "alg"),
            (key.proof_with(mismatched, claims("j")), "does not match"),
            (key.proof_with(private, claims("j")), "private"),
            (key.proof_with(swapped, claims("j")), "signature"),
            ("a.b".to_owned(), "compact"),
        ] {
            match check(&proof, None, None) {
                Err(ProofError::Invalid(why)) => assert!(why.contains(words), "{words}: {why}"),
                other => panic!("{words}: {other:?}"),
            }
        }
        assert!(
            check(&key.proof(with_query), None, None).is_ok(),
            "query, fragment and case"
        );
    }

    #[test]
    fn ath_binds_the_proof_to_its_access_token() {
        let key = ClientKey::new(Algorithm::EdDsa);
        let mut with_ath = claims("j");
        with_ath["ath"] = access_token_hash("the-token").into();
        assert!(check(&key.proof(with_ath.clone()), Some("the-token"), None).is_ok());
        assert!(check(&key.proof(with_ath), Some("another-token"), None).is_err());
        assert!(check(&key.proof(claims("j")), Some("the-token"), None).is_err());
    }

    #[test]
    fn nonces_are_sealed_times_valid_for_the_window() {
        let master = MasterKey::from_base64(&MasterKey::generate_base64().unwrap()).unwrap();
        let foreign = MasterKey::from_base64(&MasterKey::generate_base64().unwrap()).unwrap();
        let key = ClientKey::new(Algorithm::Es256);
        assert_eq!(
            check(&key.proof(claims("j")), None, Some(&master)),
            Err(ProofError::UseNonce)
        );
        for (nonce, ok) in [
            (new_nonce(&master, NOW - 10).unwrap(), true),
            (new_nonce(&master, NOW - 61).unwrap(), false),
            (new_nonce(&foreign, NOW).unwrap(), false),
            ("garbage".to_owned(), false),
        ] {
            let mut c = claims("j");
            c["nonce"] = nonce.into();
            let got = check(&key.proof(c), None, Some(&master));
            assert_eq!(got.is_ok(), ok, "{got:?}");
        }
    }

    #[test]
    fn the_replay_cache_admits_a_proof_once_while_it_could_pass() {
        let key = ClientKey::new(Algorithm::Es256);
        let proof = check(&key.proof(claims("j")), None, None).unwrap();
        let cache = ReplayCache::new(2);
        assert!(cache.first_use(&proof, 60, NOW));
        assert!(!cache.first_use(&proof, 60, NOW + 30));
        cache.prune(NOW + 62);
        assert!(
            cache.first_use(&proof, 60, NOW + 62),
            "forgotten once it cannot pass"
        );
        let a = check(&key.proof(claims("a")), None, None).unwrap();
        let b = check(&key.proof(claims("b")), None, None).unwrap();
        assert!(cache.first_use(&a, 60, NOW));
        assert!(
            !cache.first_use(&b, 60, NOW),
            "full of live proofs: refused"
        );
    }
}
