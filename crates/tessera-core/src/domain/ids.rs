//! Identifiers: opaque, URL-safe strings, generated from 128 random bits, or (`generate_at`)
//! from the creation time and 96 random bits.

use std::fmt;

use crate::random::{self, RandomError};
use crate::UnixSeconds;

macro_rules! identifier {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            pub fn generate() -> Result<Self, RandomError> {
                random::token::<16>($prefix).map(Self)
            }

            /// An identifier that sorts by creation time: the prefix, the time in seconds
            /// as ten hex digits, then 96 random bits. Rows created close together then
            /// share the few index pages at the right edge of the store's index on this
            /// identifier, where random ones would dirty a page of their own each.
            pub fn generate_at(now: UnixSeconds) -> Result<Self, RandomError> {
                let stamp = format!("{}{:010x}", $prefix, now.max(0));
                random::token::<12>(&stamp).map(Self)
            }

            /// Accepts any printable ASCII string of 1 to 128 characters without spaces, so
            /// identifiers created by other systems can be imported; `None` otherwise.
            pub fn parse(raw: &str) -> Option<Self> {
                let ok = !raw.is_empty()
                    && raw.len() <= 128
                    && raw.bytes().all(|b| b.is_ascii_graphic());
                ok.then(|| Self(raw.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

identifier!(
    /// An API account: the owner of data in the provider's API.
    AccountId,
    "acct_"
);
identifier!(
    /// The public identifier of a client (RFC 6749 §2.2).
    ClientId,
    "cl_"
);
identifier!(
    /// A signing key's identifier, the JOSE `kid`.
    Kid,
    "key_"
);
identifier!(
    /// A legacy Basic credential (email + password) of an API account.
    LegacyId,
    "lc_"
);
identifier!(
    /// A user (resource owner).
    UserId,
    "usr_"
);
identifier!(
    /// A token set: one refresh-token chain.
    TokenSetId,
    "ts_"
);
identifier!(
    /// A JWT ID (RFC 7519 §4.1.7).
    Jti,
    "at_"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_parse_back_and_carry_their_prefix() {
        let id = ClientId::generate().unwrap();
        assert!(id.as_str().starts_with("cl_"));
        assert_eq!(ClientId::parse(id.as_str()), Some(id));
    }

    #[test]
    fn jtis_sort_by_issue_time_and_differ_within_a_second() {
        let a = Jti::generate_at(1_700_000_000).unwrap();
        let b = Jti::generate_at(1_700_000_000).unwrap();
        let later = Jti::generate_at(1_700_000_001).unwrap();
        assert_ne!(a, b);
        assert!(a.as_str().starts_with("at_006553f100"));
        assert!(a < later && b < later);
        assert_eq!(a.as_str().len(), "at_".len() + 10 + 16);
    }

    #[test]
    fn ids_reject_spaces_controls_and_empty() {
        assert_eq!(ClientId::parse(""), None);
        assert_eq!(ClientId::parse("a b"), None);
        assert_eq!(ClientId::parse("a\u{7f}"), None);
        assert_eq!(ClientId::parse(&"x".repeat(129)), None);
    }
}
