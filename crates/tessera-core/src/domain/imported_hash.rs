//! Password hashes made by other systems, kept as imported and verified with their own
//! well-kept crates until the first successful login rehashes them as argon2id.
//!
//! A stored hash is a string; its prefix says which family made it, and verification
//! dispatches on that. Parsing checks the whole shape up front, so an import rejects a
//! malformed line instead of storing a credential nobody can log in with. Reasons name
//! the problem, never the hash: they end up in CLI output and audit records. An import
//! also holds each hash's cost parameters to the caps of `hash_cost`.

use std::fmt;

use argon2::password_hash::{PasswordHash as Phc, PasswordVerifier};
use argon2::Argon2;
use base64::Engine;
use pbkdf2::Pbkdf2;
use scrypt::Scrypt;
use subtle::ConstantTimeEq;

use super::hash_cost::{CostCaps, Digest, HashCost, TooCostly};

/// Which system's format a stored hash is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashFamily {
    /// PHC `$argon2id$`: what Tessera itself makes.
    Argon2id,
    /// PHC `$argon2i$` and `$argon2d$`.
    Argon2Other,
    /// PHC `$scrypt$`.
    Scrypt,
    /// PHC `$pbkdf2-sha256$` and `$pbkdf2-sha512$`.
    Pbkdf2Phc,
    /// bcrypt `$2a$`, `$2b$`, `$2y$`.
    Bcrypt,
    /// Django `pbkdf2_sha256$…` and `pbkdf2_sha1$…`.
    DjangoPbkdf2,
    /// crypt(3) SHA-256 `$5$`.
    ShaCrypt256,
    /// crypt(3) SHA-512 `$6$`.
    ShaCrypt512,
}

impl HashFamily {
    /// The name shown in listings and audit records ("hash upgraded from bcrypt").
    pub fn name(self) -> &'static str {
        match self {
            Self::Argon2id => "argon2id",
            Self::Argon2Other => "argon2",
            Self::Scrypt => "scrypt",
            Self::Pbkdf2Phc => "pbkdf2",
            Self::Bcrypt => "bcrypt",
            Self::DjangoPbkdf2 => "django-pbkdf2",
            Self::ShaCrypt256 => "sha256-crypt",
            Self::ShaCrypt512 => "sha512-crypt",
        }
    }
}

impl fmt::Display for HashFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a string is not a hash Tessera can verify. Never carries the hash itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HashRejection {
    #[error("the password hash is empty")]
    Empty,
    #[error(
        "an unsalted hex digest (MD5, SHA-1, …) is not accepted: it cannot be verified safely"
    )]
    UnsaltedDigest,
    #[error("the password hash format is not supported")]
    UnknownFormat,
    #[error("the {0} hash is malformed")]
    Malformed(&'static str),
    #[error("{0}")]
    TooCostly(TooCostly),
}

/// Parses `raw` far enough to know it can be verified later.
pub fn parse(raw: &str) -> Result<HashFamily, HashRejection> {
    inspect(raw).map(|(family, _)| family)
}

/// Parses `raw` as [`parse`] does, and refuses a hash whose verification would cost more
/// than `caps` allow. For hashes coming in from an import file; a stored hash is read with
/// [`parse`], so a cap never makes a credential already in the store unusable.
pub fn parse_within_caps(raw: &str, caps: &CostCaps) -> Result<HashFamily, HashRejection> {
    let (family, cost) = inspect(raw)?;
    cost.check(caps).map_err(HashRejection::TooCostly)?;
    Ok(family)
}

/// The family and cost parameters of `raw`, or why it cannot be verified.
fn inspect(raw: &str) -> Result<(HashFamily, HashCost), HashRejection> {
    if raw.is_empty() {
        return Err(HashRejection::Empty);
    }
    let pbkdf2 = |digest, iterations| HashCost::Pbkdf2 { digest, iterations };
    if let Some(rest) = raw.strip_prefix("pbkdf2_sha256$") {
        return django(rest, 32)
            .map(|(i, _, _)| (HashFamily::DjangoPbkdf2, pbkdf2(Digest::Sha256, i)));
    }
    if let Some(rest) = raw.strip_prefix("pbkdf2_sha1$") {
        return django(rest, 20)
            .map(|(i, _, _)| (HashFamily::DjangoPbkdf2, pbkdf2(Digest::Sha1, i)));
    }
    if ["$2a$", "$2b$", "$2y$"].iter().any(|p| raw.starts_with(p)) {
        return bcrypt_shape(raw).map(|cost| (HashFamily::Bcrypt, HashCost::Bcrypt { cost }));
    }
    let sha_crypt = |digest, rounds| HashCost::ShaCrypt { digest, rounds };
    if let Some(rest) = raw.strip_prefix("$5$") {
        return sha_crypt_shape(rest, 32, "sha256-crypt")
            .map(|rounds| (HashFamily::ShaCrypt256, sha_crypt(Digest::Sha256, rounds)));
    }
    if let Some(rest) = raw.strip_prefix("$6$") {
        return sha_crypt_shape(rest, 64, "sha512-crypt")
            .map(|rounds| (HashFamily::ShaCrypt512, sha_crypt(Digest::Sha512, rounds)));
    }
    if raw.starts_with('$') {
        return phc(raw);
    }
    if matches!(raw.len(), 32 | 40 | 64 | 128) && raw.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(HashRejection::UnsaltedDigest);
    }
    Err(HashRejection::UnknownFormat)
}

/// Whether `password` matches `raw`. Every family's crate (or, for Django, `subtle`)
/// compares the outputs in constant time. Slow by design: not on an async thread.
pub fn verify(raw: &str, password: &[u8]) -> bool {
    let Ok(family) = parse(raw) else {
        return false;
    };
    match family {
        HashFamily::Argon2id | HashFamily::Argon2Other | HashFamily::Scrypt => {
            let Ok(parsed) = Phc::new(raw) else {
                return false;
            };
            let verifiers: [&dyn PasswordVerifier; 2] = [&Argon2::default(), &Scrypt];
            // The PHC crate runs each verifier only for its own algorithm identifier.
            parsed.verify_password(&verifiers, password).is_ok()
        }
        HashFamily::Pbkdf2Phc => {
            Phc::new(raw).is_ok_and(|parsed| Pbkdf2.verify_password(password, &parsed).is_ok())
        }
        HashFamily::Bcrypt => bcrypt::verify(password, raw).unwrap_or(false),
        HashFamily::DjangoPbkdf2 => verify_django(raw, password),
        HashFamily::ShaCrypt256 | HashFamily::ShaCrypt512 => {
            let Ok(text) = std::str::from_utf8(password) else {
                return false;
            };
            if family == HashFamily::ShaCrypt256 {
                sha_crypt::sha256_check(text, raw).is_ok()
            } else {
                sha_crypt::sha512_check(text, raw).is_ok()
            }
        }
    }
}

fn phc(raw: &str) -> Result<(HashFamily, HashCost), HashRejection> {
    let ident = raw[1..].split('$').next().unwrap_or_default();
    let (family, name) = match ident {
        "argon2id" => (HashFamily::Argon2id, "argon2id"),
        "argon2i" | "argon2d" => (HashFamily::Argon2Other, "argon2"),
        "scrypt" => (HashFamily::Scrypt, "scrypt"),
        "pbkdf2-sha256" | "pbkdf2-sha512" => (HashFamily::Pbkdf2Phc, "pbkdf2"),
        _ => return Err(HashRejection::UnknownFormat),
    };
    let parsed = Phc::new(raw).map_err(|_| HashRejection::Malformed(name))?;
    if parsed.salt.is_none() || parsed.hash.is_none() {
        return Err(HashRejection::Malformed(name));
    }
    let bad = || HashRejection::Malformed(name);
    let cost = match family {
        HashFamily::Scrypt => {
            let p = scrypt::Params::try_from(&parsed).map_err(|_| bad())?;
            HashCost::Scrypt {
                log_n: p.log_n(),
                r: p.r(),
                p: p.p(),
            }
        }
        HashFamily::Pbkdf2Phc => {
            let p = pbkdf2::Params::try_from(&parsed).map_err(|_| bad())?;
            let digest = if ident == "pbkdf2-sha512" {
                Digest::Sha512
            } else {
                Digest::Sha256
            };
            HashCost::Pbkdf2 {
                digest,
                iterations: p.rounds,
            }
        }
        _ => {
            let p = argon2::Params::try_from(&parsed).map_err(|_| bad())?;
            HashCost::Argon2 {
                memory_kib: p.m_cost(),
                passes: p.t_cost(),
                lanes: p.p_cost(),
            }
        }
    };
    Ok((family, cost))
}

/// The cost of a well-formed bcrypt hash.
fn bcrypt_shape(raw: &str) -> Result<u32, HashRejection> {
    let parts: bcrypt::HashParts = raw
        .parse()
        .map_err(|_| HashRejection::Malformed("bcrypt"))?;
    // bcrypt's cost is 4 to 31 (2^cost rounds); its salt and output are 22 + 31 characters.
    let tail = raw.rsplit('$').next().unwrap_or_default();
    if !(4..=31).contains(&parts.get_cost())
        || tail.len() != 53
        || !tail.bytes().all(|b| crypt_b64(b).is_some())
    {
        return Err(HashRejection::Malformed("bcrypt"));
    }
    Ok(parts.get_cost())
}

/// `[rounds=N$]salt$hash` after the `$5$`/`$6$` prefix (Drepper's SHA-crypt spec); the
/// rounds it states, or the spec's default of 5 000.
fn sha_crypt_shape(
    rest: &str,
    digest_len: usize,
    name: &'static str,
) -> Result<u32, HashRejection> {
    // crypt(3)'s base64 of the digest: 6 bits a character, the last one only partly used.
    let hash_len = (digest_len * 8).div_ceil(6);
    let last_bits = digest_len * 8 - (hash_len - 1) * 6;
    let bad = HashRejection::Malformed(name);
    let mut fields: Vec<&str> = rest.split('$').collect();
    let mut rounds = 5_000;
    if fields.first().is_some_and(|f| f.starts_with("rounds=")) {
        let field = fields.remove(0);
        rounds = field["rounds=".len()..]
            .parse::<u32>()
            .map_err(|_| bad.clone())?;
    }
    let [salt, hash] = fields.as_slice() else {
        return Err(bad);
    };
    // The spec allows salts up to 16 characters; longer ones are silently cut by crypt(3).
    let salt_ok = salt.len() <= 16 && !salt.contains(['\n', ':']);
    if !salt_ok || hash.len() != hash_len || !hash.bytes().all(|b| crypt_b64(b).is_some()) {
        return Err(bad);
    }
    // The encoding puts the digest's last bits in the low bits of the last character; its
    // unused high bits must be zero. (sha-crypt 0.5's SHA-256 check panics on a hash
    // where they are not, found by fuzz/fuzz_targets/imported_hash.rs.)
    let last = hash.bytes().last().and_then(crypt_b64).ok_or(bad.clone())?;
    if last >> last_bits != 0 {
        return Err(bad);
    }
    Ok(rounds)
}

/// The value of a character of crypt(3)'s base64 alphabet (`./0-9A-Za-z`).
fn crypt_b64(b: u8) -> Option<u8> {
    match b {
        b'.' => Some(0),
        b'/' => Some(1),
        b'0'..=b'9' => Some(b - b'0' + 2),
        b'A'..=b'Z' => Some(b - b'A' + 12),
        b'a'..=b'z' => Some(b - b'a' + 38),
        _ => None,
    }
}

/// Django's `<iterations>$<salt>$<base64 of the derived key>` (django.contrib.auth.hashers).
fn django(rest: &str, key_len: usize) -> Result<(u32, &str, Vec<u8>), HashRejection> {
    let bad = HashRejection::Malformed("django-pbkdf2");
    let mut fields = rest.split('$');
    let (Some(iterations), Some(salt), Some(hash), None) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return Err(bad);
    };
    let iterations: u32 = iterations.parse().map_err(|_| bad.clone())?;
    let hash = base64::engine::general_purpose::STANDARD
        .decode(hash)
        .map_err(|_| bad.clone())?;
    if iterations == 0 || salt.is_empty() || hash.len() != key_len {
        return Err(bad);
    }
    Ok((iterations, salt, hash))
}

fn verify_django(raw: &str, password: &[u8]) -> bool {
    if let Some(rest) = raw.strip_prefix("pbkdf2_sha256$") {
        let Ok((iterations, salt, expected)) = django(rest, 32) else {
            return false;
        };
        let mut out = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password, salt.as_bytes(), iterations, &mut out);
        return bool::from(out.ct_eq(expected.as_slice()));
    }
    if let Some(rest) = raw.strip_prefix("pbkdf2_sha1$") {
        let Ok((iterations, salt, expected)) = django(rest, 20) else {
            return false;
        };
        let mut out = [0u8; 20];
        pbkdf2::pbkdf2_hmac::<sha1::Sha1>(password, salt.as_bytes(), iterations, &mut out);
        return bool::from(out.ct_eq(expected.as_slice()));
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::{PasswordHasher, SaltString};

    const PW: &[u8] = b"correct horse battery";
    const WRONG: &[u8] = b"correct horse battery!";

    fn right_and_wrong(raw: &str, family: HashFamily) {
        assert_eq!(parse(raw), Ok(family), "family of {raw}");
        assert!(verify(raw, PW), "right password against {raw}");
        assert!(!verify(raw, WRONG), "wrong password against {raw}");
    }

    fn salt() -> SaltString {
        SaltString::encode_b64(b"sixteen byte slt").unwrap()
    }

    #[test]
    fn argon2_variants_made_by_the_argon2_crate() {
        for algorithm in [
            argon2::Algorithm::Argon2id,
            argon2::Algorithm::Argon2i,
            argon2::Algorithm::Argon2d,
        ] {
            let params = argon2::Params::new(64, 1, 1, None).unwrap();
            let argon = Argon2::new(algorithm, argon2::Version::V0x13, params);
            let hash = argon.hash_password(PW, &salt()).unwrap().to_string();
            let family = if algorithm == argon2::Algorithm::Argon2id {
                HashFamily::Argon2id
            } else {
                HashFamily::Argon2Other
            };
            right_and_wrong(&hash, family);
        }
    }

    #[test]
    fn scrypt_made_by_the_scrypt_crate() {
        let params = scrypt::Params::new(4, 8, 1, 32).unwrap();
        let hash = Scrypt
            .hash_password_customized(PW, None, None, params, &salt())
            .unwrap()
            .to_string();
        assert!(hash.starts_with("$scrypt$"));
        right_and_wrong(&hash, HashFamily::Scrypt);
    }

    #[test]
    fn pbkdf2_phc_made_by_the_pbkdf2_crate() {
        for algorithm in [
            pbkdf2::Algorithm::Pbkdf2Sha256,
            pbkdf2::Algorithm::Pbkdf2Sha512,
        ] {
            let params = pbkdf2::Params {
                rounds: 1000,
                output_length: 32,
            };
            let hash = Pbkdf2
                .hash_password_customized(PW, Some(algorithm.ident()), None, params, &salt())
                .unwrap()
                .to_string();
            right_and_wrong(&hash, HashFamily::Pbkdf2Phc);
        }
    }

    #[test]
    fn bcrypt_made_by_the_bcrypt_crate_in_every_version() {
        for version in [
            bcrypt::Version::TwoA,
            bcrypt::Version::TwoB,
            bcrypt::Version::TwoY,
        ] {
            let hash = bcrypt::hash_with_result(PW, 4)
                .unwrap()
                .format_for_version(version);
            right_and_wrong(&hash, HashFamily::Bcrypt);
        }
    }

    #[test]
    fn bcrypt_literal_from_the_openbsd_test_vectors() {
        // OpenBSD's (and John the Ripper's) published bcrypt vector for the password "U*U".
        let raw = "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW";
        assert_eq!(parse(raw), Ok(HashFamily::Bcrypt));
        assert!(verify(raw, b"U*U"));
        assert!(!verify(raw, b"U*V"));
    }

    #[test]
    fn django_pbkdf2_literals_from_python_hashlib() {
        // python3 -c "import hashlib,base64; print('pbkdf2_sha256\$1000\$seasalt\$' +
        //   base64.b64encode(hashlib.pbkdf2_hmac('sha256', b'correct horse battery',
        //   b'seasalt', 1000)).decode())"
        right_and_wrong(
            "pbkdf2_sha256$1000$seasalt$DrdiWD40lyBuydnjvZiDrdQMx1S1mOA9O0QYex0R6ww=",
            HashFamily::DjangoPbkdf2,
        );
        // The same with 'sha1' and the prefix pbkdf2_sha1.
        right_and_wrong(
            "pbkdf2_sha1$1000$seasalt$LPTbYn9/9ALjztx0Dtq5V+DLYLg=",
            HashFamily::DjangoPbkdf2,
        );
    }

    #[test]
    fn sha_crypt_literals_from_openssl_passwd() {
        // openssl passwd -6 -salt saltsaltsalt 'correct horse battery'
        right_and_wrong(
            "$6$saltsaltsalt$yKjZYR1NllIH1Ftv9MpsPzifsXfATYQDAmLGoXO9lQO3BwneSOm77O8bJU2NgayzCRFPuH2TLaetQCNGTtLEU/",
            HashFamily::ShaCrypt512,
        );
        // openssl passwd -5 -salt pepper 'correct horse battery'
        right_and_wrong(
            "$5$pepper$qEeDnFVzhTwXQ4aTFfKG3oqhpAd/aoar8fMHX4tGFa7",
            HashFamily::ShaCrypt256,
        );
    }

    #[test]
    fn sha_crypt_with_unused_bits_set_is_malformed_not_a_panic() {
        // Found by the imported_hash fuzz target: 43 valid characters whose last one sets
        // bits past the 256 of the digest. sha-crypt 0.5 panicked verifying it.
        let raw = format!("$5$d${}", "U".repeat(43));
        assert_eq!(parse(&raw), Err(HashRejection::Malformed("sha256-crypt")));
        assert!(!verify(&raw, b"anything"));
        let raw = format!("$6$d${}2", "U".repeat(85));
        assert_eq!(parse(&raw), Err(HashRejection::Malformed("sha512-crypt")));
        assert!(!verify(&raw, b"anything"));
        // The largest last characters the digests allow still parse.
        assert!(parse(&format!("$5$d${}D", "U".repeat(42))).is_ok());
        assert!(parse(&format!("$6$d${}1", "U".repeat(85))).is_ok());
    }

    #[test]
    fn sha_crypt_made_by_the_sha_crypt_crate_with_rounds() {
        let params = sha_crypt::Sha512Params::new(5000).unwrap();
        let hash = sha_crypt::sha512_simple("correct horse battery", &params).unwrap();
        right_and_wrong(&hash, HashFamily::ShaCrypt512);
        let params = sha_crypt::Sha256Params::new(1000).unwrap();
        let hash = sha_crypt::sha256_simple("correct horse battery", &params).unwrap();
        right_and_wrong(&hash, HashFamily::ShaCrypt256);
    }

    #[test]
    fn unsupported_and_malformed_hashes_are_refused_without_echoing_them() {
        let cases = [
            ("", HashRejection::Empty),
            // md5 and sha1 of "password"
            (
                "5f4dcc3b5aa765d61d8327deb882cf99",
                HashRejection::UnsaltedDigest,
            ),
            (
                "5baa61e4c9b93f3f0682250b6cf8331b7ee68fd8",
                HashRejection::UnsaltedDigest,
            ),
            (
                "$1$saltsalt$abcdefghijklmnopqrstuv",
                HashRejection::UnknownFormat,
            ),
            ("md5$salt$abc", HashRejection::UnknownFormat),
            (
                "$argon2id$v=19$m=64,t=1,p=1",
                HashRejection::Malformed("argon2id"),
            ),
            (
                "$2b$03$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
                HashRejection::Malformed("bcrypt"),
            ),
            ("$2b$10$tooshort", HashRejection::Malformed("bcrypt")),
            ("$6$salt$tooshort", HashRejection::Malformed("sha512-crypt")),
            (
                "$5$rounds=many$pepper$qEeDnFVzhTwXQ4aTFfKG3oqhpAd/aoar8fMHX4tGFa7",
                HashRejection::Malformed("sha256-crypt"),
            ),
            (
                "pbkdf2_sha256$0$salt$DrdiWD40lyBuydnjvZiDrdQMx1S1mOA9O0QYex0R6ww=",
                HashRejection::Malformed("django-pbkdf2"),
            ),
            (
                "pbkdf2_sha256$1000$salt$c2hvcnQ=",
                HashRejection::Malformed("django-pbkdf2"),
            ),
        ];
        for (raw, reason) in cases {
            assert_eq!(parse(raw), Err(reason.clone()), "{raw}");
            assert!(!verify(raw, PW));
            let text = reason.to_string();
            assert!(raw.is_empty() || !text.contains(raw), "{text}");
        }
    }

    #[test]
    fn cost_parameters_are_read_from_every_family_and_held_to_the_caps() {
        use crate::domain::hash_cost::COST_CAPS;
        // Hand-written shapes (the costs are the point; these never verify anything).
        let b64 = |n: usize| "A".repeat(n);
        let within = [
            "$2b$12$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW".to_owned(),
            format!("$argon2id$v=19$m=65536,t=3,p=4${}${}", b64(22), b64(43)),
            format!("$scrypt$ln=17,r=8,p=1${}${}", b64(22), b64(43)),
            format!("$pbkdf2-sha256$i=600000,l=32${}${}", b64(22), b64(43)),
            "pbkdf2_sha256$1000000$seasalt$DrdiWD40lyBuydnjvZiDrdQMx1S1mOA9O0QYex0R6ww=".into(),
            format!("$6$rounds=656000$saltsalt${}.", b64(85)),
            format!("$5$saltsalt${}.", b64(42)),
        ];
        for raw in &within {
            assert!(parse_within_caps(raw, &COST_CAPS).is_ok(), "{raw}");
        }
        let above = [
            (
                "$2b$16$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW".to_owned(),
                "bcrypt cost of 16",
            ),
            (
                format!("$argon2id$v=19$m=2097152,t=1,p=4${}${}", b64(22), b64(43)),
                "argon2 memory (m, KiB) of 2097152",
            ),
            (
                format!("$argon2i$v=19$m=65536,t=20,p=1${}${}", b64(22), b64(43)),
                "argon2 work (m·t, KiB) of 1310720",
            ),
            (
                format!("$scrypt$ln=22,r=8,p=1${}${}", b64(22), b64(43)),
                "scrypt memory (128·N·r bytes) of 4294967296",
            ),
            (
                format!("$pbkdf2-sha512$i=50000000,l=64${}${}", b64(22), b64(86)),
                "PBKDF2-SHA-512 iteration count of 50000000",
            ),
            (
                "pbkdf2_sha1$4000000000$seasalt$LPTbYn9/9ALjztx0Dtq5V+DLYLg=".into(),
                "PBKDF2-SHA-1 iteration count of 4000000000",
            ),
            (
                format!("$6$rounds=999999999$saltsalt${}.", b64(85)),
                "SHA-512-crypt rounds count of 999999999",
            ),
        ];
        for (raw, says) in &above {
            // The shape is fine: a stored hash like this still parses and verifies.
            assert!(parse(raw).is_ok(), "{raw}");
            let Err(HashRejection::TooCostly(refusal)) = parse_within_caps(raw, &COST_CAPS) else {
                panic!("{raw} was not refused for its cost");
            };
            let text = refusal.to_string();
            assert!(text.contains(says), "{text}");
            assert!(!text.contains(raw.as_str()), "{text}");
        }
    }
}
