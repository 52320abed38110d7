//! One-time secrets whose store key sorts by issue order: refresh tokens and authorization
//! codes.
//!
//! The store finds such a secret by a 32-byte key derived from it. A plain SHA-256 is
//! uniformly random, so each new row's index entry lands on a random B-tree leaf: under load
//! every insert dirties a page of its own, which SQLite writes to its WAL and checkpoints
//! again later, and PostgreSQL logs whole after each checkpoint. These secrets carry an
//! 8-byte sequence in clear (the issue time: seconds, then microseconds) ahead of 256
//! random bits, and their key is that sequence followed by the first 24 bytes of the
//! SHA-256 of the whole secret. Keys issued close together sort together, so new rows
//! append at the right edge of the index. Finding a row still takes the hash, 192 bits
//! nobody can guess; the sequence tells a holder only when the secret was issued, which the
//! access token issued with it says anyway (a counter would also tell how many secrets the
//! server issues).
//!
//! Secrets issued before this format (a prefix and 43 characters) keep the plain SHA-256
//! of the whole secret as their key, so tokens already out keep working.

use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::digest::{digest, SHA256};

use super::SecretHash;
use crate::random::{self, RandomError};
use crate::UnixSeconds;

/// `rt_`, `ac_`: every one-time secret's prefix has this length.
const PREFIX_LEN: usize = 3;
/// The sequence, as 16 lowercase hex digits.
const SEQUENCE_LEN: usize = 16;
/// 32 random bytes in unpadded base64url.
const RANDOM_LEN: usize = 43;
const ORDERED_LEN: usize = PREFIX_LEN + SEQUENCE_LEN + RANDOM_LEN;

/// A new secret issued at `now`: `prefix`, the sequence in hex, 256 random bits. The
/// seconds are `now` (the injected clock); the microseconds, which only order the secrets
/// of one second, come from the system clock.
pub fn generate(prefix: &'static str, now: UnixSeconds) -> Result<String, RandomError> {
    debug_assert_eq!(
        prefix.len(),
        PREFIX_LEN,
        "one-time secret prefixes are 3 bytes"
    );
    let micros = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| u64::from(elapsed.subsec_micros()));
    let sequence = (now.max(0) as u64) << 24 | micros << 4;
    random::token::<32>(&format!("{prefix}{sequence:016x}"))
}

/// The key the store finds `secret` by. Anything that is not an ordered secret (an older
/// token, garbage) gets the SHA-256 of all of it, which matches only what it was made from.
pub fn key(secret: &str) -> SecretHash {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest(&SHA256, secret.as_bytes()).as_ref());
    if let Some(sequence) = sequence(secret) {
        out.copy_within(..24, 8);
        out[..8].copy_from_slice(&sequence.to_be_bytes());
    }
    SecretHash(out)
}

fn sequence(secret: &str) -> Option<u64> {
    if secret.len() != ORDERED_LEN {
        return None;
    }
    let digits = secret.get(PREFIX_LEN..PREFIX_LEN + SEQUENCE_LEN)?;
    if !digits
        .bytes()
        .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return None;
    }
    u64::from_str_radix(digits, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: UnixSeconds = 1_700_000_000;

    #[test]
    fn keys_of_secrets_issued_later_sort_later() {
        let first = generate("rt_", NOW).unwrap();
        let second = generate("rt_", NOW).unwrap();
        let next_second = generate("rt_", NOW + 1).unwrap();
        assert_eq!(first.len(), ORDERED_LEN);
        assert!(first.starts_with("rt_006553f100"));
        assert!(
            key(&first).0[..8] <= key(&second).0[..8],
            "microseconds order one second"
        );
        assert!(key(&second).0 < key(&next_second).0);
        assert_ne!(key(&first), key(&second));
    }

    #[test]
    fn a_key_needs_the_whole_secret() {
        let secret = generate("ac_", NOW).unwrap();
        let mut altered = secret.clone().into_bytes();
        let last = altered.len() - 1;
        altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
        let altered = String::from_utf8(altered).unwrap();
        assert_eq!(key(&secret), key(&secret));
        assert_ne!(
            key(&secret),
            key(&altered),
            "same sequence, other random part"
        );
        assert_eq!(key(&secret).0[..8], key(&altered).0[..8]);
    }

    #[test]
    fn older_and_malformed_secrets_keep_the_plain_hash() {
        let older = random::token::<32>("rt_").unwrap();
        assert_eq!(key(&older), SecretHash::of(older.as_bytes()));
        let not_hex = format!("rt_{}{}", "g".repeat(SEQUENCE_LEN), "a".repeat(RANDOM_LEN));
        assert_eq!(key(&not_hex), SecretHash::of(not_hex.as_bytes()));
        let upper = format!("rt_{}{}", "A".repeat(SEQUENCE_LEN), "a".repeat(RANDOM_LEN));
        assert_eq!(key(&upper), SecretHash::of(upper.as_bytes()));
        assert_eq!(key(""), SecretHash::of(b""));
    }
}
