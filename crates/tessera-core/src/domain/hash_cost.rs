//! What one verification of an imported password hash costs, and the caps an import holds
//! it to.
//!
//! An imported hash carries its own cost parameters, and every Basic attempt against it
//! (a wrong password included, until the first success rehashes it as argon2id) pays that
//! cost on the server's CPU and memory. A file with `$2b$31$…` (2^31 bcrypt rounds, hours)
//! or an scrypt `ln=30` (128 GiB) would turn each attempt into a denial of service, so
//! [`COST_CAPS`] refuses such lines at import. The caps sit far above what any real system
//! is configured with, and keep one verification within about 3 s of one core and 256 MiB
//! of memory on a 2.5 GHz server core (timings below: the 2-vCPU machine of BENCHMARKS.md,
//! release build, the same crates Tessera verifies with).
//!
//! The opposite case is not refused: a cheap imported hash (bcrypt cost 5, PBKDF2 with
//! 1 000 iterations) stays as cheap as the old system had it until the first login
//! replaces it with Tessera's argon2id.

use std::fmt;

/// The caps, one per cost parameter; [`HashCost::check`] applies them.
pub struct CostCaps {
    /// bcrypt's cost is log2 of its rounds. 12 (the common strong choice) took 0.39 s,
    /// so 15 is about 3 s and 16 twice that. OWASP asks for at least 10.
    pub bcrypt_cost: u32,
    /// PBKDF2-HMAC-SHA1 iterations (Django's `pbkdf2_sha1`): 1 000 000 took 0.11 s. OWASP
    /// asks for 1 300 000.
    pub pbkdf2_sha1_iterations: u32,
    /// PBKDF2-HMAC-SHA256 iterations (PHC `pbkdf2-sha256`, Django's `pbkdf2_sha256`):
    /// 1 000 000 took 0.16 s. OWASP asks for 600 000; Django 5.2 uses 1 000 000.
    pub pbkdf2_sha256_iterations: u32,
    /// PBKDF2-HMAC-SHA512 iterations: 1 000 000 took 1.0 s (SHA-512 has no CPU
    /// instructions of its own here). OWASP asks for 210 000.
    pub pbkdf2_sha512_iterations: u32,
    /// scrypt's memory, 128·N·r bytes: allocated for each verification. OWASP's first
    /// choice (N=2^17, r=8) is 128 MiB and took 0.53 s.
    pub scrypt_memory_bytes: u64,
    /// scrypt's work, 128·N·r·p bytes of memory-hard mixing: p runs one after another.
    /// OWASP's equivalent settings all do 128 MiB of it.
    pub scrypt_work_bytes: u64,
    /// argon2's memory m, KiB: allocated for each verification. RFC 9106's second
    /// recommendation is 64 MiB (its first, 2 GiB, is for machines that do nothing else).
    pub argon2_memory_kib: u32,
    /// argon2's work, m·t KiB-passes: 64 MiB × 1 pass took 0.14 s. OWASP's settings do
    /// about 38 MiB-passes, RFC 9106's second 192.
    pub argon2_work_kib: u64,
    /// argon2's lanes p: run one after another by the `argon2` crate, so they add no
    /// work, but each needs its own blocks; nothing real uses more than a few.
    pub argon2_lanes: u32,
    /// crypt(3) SHA-256 and SHA-512 rounds: 1 000 000 took 0.08 s (SHA-256) and 0.42 s
    /// (SHA-512). The default is 5 000; crypt(3) itself accepts up to 999 999 999.
    pub sha_crypt_rounds: u32,
}

const MIB: u64 = 1 << 20;

/// Tessera's caps (see [`CostCaps`] for each one's reason).
pub const COST_CAPS: CostCaps = CostCaps {
    bcrypt_cost: 15,
    pbkdf2_sha1_iterations: 20_000_000,
    pbkdf2_sha256_iterations: 16_000_000,
    pbkdf2_sha512_iterations: 3_000_000,
    scrypt_memory_bytes: 256 * MIB,
    scrypt_work_bytes: 768 * MIB,
    argon2_memory_kib: 256 * 1024,
    argon2_work_kib: 1024 * 1024,
    argon2_lanes: 16,
    sha_crypt_rounds: 5_000_000,
};

/// The PBKDF2 and crypt(3) variants, by hash function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Digest {
    Sha1,
    Sha256,
    Sha512,
}

impl Digest {
    fn name(self) -> &'static str {
        match self {
            Self::Sha1 => "SHA-1",
            Self::Sha256 => "SHA-256",
            Self::Sha512 => "SHA-512",
        }
    }
}

/// The cost parameters of one hash, as its string states them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashCost {
    Bcrypt {
        cost: u32,
    },
    Pbkdf2 {
        digest: Digest,
        iterations: u32,
    },
    Scrypt {
        log_n: u8,
        r: u32,
        p: u32,
    },
    Argon2 {
        memory_kib: u32,
        passes: u32,
        lanes: u32,
    },
    ShaCrypt {
        digest: Digest,
        rounds: u32,
    },
}

/// A hash whose verification would cost more than a cap allows: which parameter, its
/// value and the cap. Never the hash itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TooCostly {
    pub parameter: String,
    pub value: u64,
    pub cap: u64,
}

impl fmt::Display for TooCostly {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the {} of {} is above Tessera's cap of {}: every Basic attempt against it would \
             cost too much CPU or memory (a denial-of-service lever); have the user set a new \
             password instead",
            self.parameter, self.value, self.cap
        )
    }
}

impl HashCost {
    /// Whether one verification stays within `caps`.
    pub fn check(&self, caps: &CostCaps) -> Result<(), TooCostly> {
        let over = |parameter: String, value: u64, cap: u64| {
            if value > cap {
                Err(TooCostly {
                    parameter,
                    value,
                    cap,
                })
            } else {
                Ok(())
            }
        };
        match *self {
            Self::Bcrypt { cost } => {
                over("bcrypt cost".into(), cost.into(), caps.bcrypt_cost.into())
            }
            Self::Pbkdf2 { digest, iterations } => {
                let cap = match digest {
                    Digest::Sha1 => caps.pbkdf2_sha1_iterations,
                    Digest::Sha256 => caps.pbkdf2_sha256_iterations,
                    Digest::Sha512 => caps.pbkdf2_sha512_iterations,
                };
                let parameter = format!("PBKDF2-{} iteration count", digest.name());
                over(parameter, iterations.into(), cap.into())
            }
            Self::Scrypt { log_n, r, p } => {
                // Saturating: ln may be up to 63 in a hash string, r and p up to 2^32.
                let memory = 1u64
                    .checked_shl(u32::from(log_n))
                    .unwrap_or(u64::MAX)
                    .saturating_mul(128)
                    .saturating_mul(u64::from(r));
                over(
                    "scrypt memory (128·N·r bytes)".into(),
                    memory,
                    caps.scrypt_memory_bytes,
                )?;
                over(
                    "scrypt work (128·N·r·p bytes)".into(),
                    memory.saturating_mul(u64::from(p)),
                    caps.scrypt_work_bytes,
                )
            }
            Self::Argon2 {
                memory_kib,
                passes,
                lanes,
            } => {
                over(
                    "argon2 memory (m, KiB)".into(),
                    memory_kib.into(),
                    caps.argon2_memory_kib.into(),
                )?;
                over(
                    "argon2 work (m·t, KiB)".into(),
                    u64::from(memory_kib) * u64::from(passes),
                    caps.argon2_work_kib,
                )?;
                over(
                    "argon2 parallelism (p)".into(),
                    lanes.into(),
                    caps.argon2_lanes.into(),
                )
            }
            Self::ShaCrypt { digest, rounds } => over(
                format!("{}-crypt rounds count", digest.name()),
                rounds.into(),
                caps.sha_crypt_rounds.into(),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (cost, within the caps)
    fn cases() -> Vec<(HashCost, bool)> {
        use HashCost::*;
        vec![
            (Bcrypt { cost: 12 }, true),
            (Bcrypt { cost: 15 }, true),
            (Bcrypt { cost: 16 }, false),
            (Bcrypt { cost: 31 }, false),
            (
                Pbkdf2 {
                    digest: Digest::Sha256,
                    iterations: 1_000_000,
                },
                true,
            ),
            (
                Pbkdf2 {
                    digest: Digest::Sha256,
                    iterations: 16_000_001,
                },
                false,
            ),
            (
                Pbkdf2 {
                    digest: Digest::Sha1,
                    iterations: 20_000_000,
                },
                true,
            ),
            (
                Pbkdf2 {
                    digest: Digest::Sha512,
                    iterations: 3_000_001,
                },
                false,
            ),
            // OWASP's scrypt settings, and the same memory at p=6 (too much work).
            (
                Scrypt {
                    log_n: 17,
                    r: 8,
                    p: 1,
                },
                true,
            ),
            (
                Scrypt {
                    log_n: 13,
                    r: 8,
                    p: 10,
                },
                true,
            ),
            (
                Scrypt {
                    log_n: 18,
                    r: 8,
                    p: 1,
                },
                true,
            ),
            (
                Scrypt {
                    log_n: 19,
                    r: 8,
                    p: 1,
                },
                false,
            ),
            (
                Scrypt {
                    log_n: 17,
                    r: 8,
                    p: 7,
                },
                false,
            ),
            (
                Scrypt {
                    log_n: 63,
                    r: u32::MAX,
                    p: u32::MAX,
                },
                false,
            ),
            // OWASP's argon2id, RFC 9106's second and first recommendations.
            (
                Argon2 {
                    memory_kib: 19_456,
                    passes: 2,
                    lanes: 1,
                },
                true,
            ),
            (
                Argon2 {
                    memory_kib: 65_536,
                    passes: 3,
                    lanes: 4,
                },
                true,
            ),
            (
                Argon2 {
                    memory_kib: 2 * 1024 * 1024,
                    passes: 1,
                    lanes: 4,
                },
                false,
            ),
            (
                Argon2 {
                    memory_kib: 262_144,
                    passes: 5,
                    lanes: 1,
                },
                false,
            ),
            (
                Argon2 {
                    memory_kib: 65_536,
                    passes: 1,
                    lanes: 64,
                },
                false,
            ),
            (
                ShaCrypt {
                    digest: Digest::Sha512,
                    rounds: 5_000,
                },
                true,
            ),
            (
                ShaCrypt {
                    digest: Digest::Sha256,
                    rounds: 999_999_999,
                },
                false,
            ),
        ]
    }

    #[test]
    fn real_world_settings_pass_and_levers_are_refused() {
        for (cost, within) in cases() {
            assert_eq!(cost.check(&COST_CAPS).is_ok(), within, "{cost:?}");
        }
    }

    #[test]
    fn a_refusal_names_the_parameter_its_value_and_the_cap() {
        let refusal = HashCost::Bcrypt { cost: 20 }
            .check(&COST_CAPS)
            .unwrap_err()
            .to_string();
        assert!(
            refusal.starts_with("the bcrypt cost of 20 is above Tessera's cap of 15:"),
            "{refusal}"
        );
    }
}
