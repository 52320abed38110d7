//! The provider's own id of an API account: what its API and database call the account,
//! and what the gateway tells the upstream in `Tessera-Account`.
//!
//! Printable ASCII only (letters, digits, punctuation, inner spaces), so it travels in an
//! HTTP header byte for byte: RFC 9110 §5.5 leaves any other octet in a field value opaque,
//! and upstream frameworks would decode it each their own way. Compared exactly (case
//! matters), as the provider's database compares it.

use std::fmt;

/// The most characters an external id may have.
pub const MAX_LEN: usize = 200;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ExternalId(String);

/// Why a string is not an external id; the message says what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExternalIdError {
    #[error("an external id must not be empty")]
    Empty,
    #[error("an external id must not be blank (only spaces)")]
    Blank,
    #[error("an external id must be at most {MAX_LEN} characters; this one has {0}")]
    TooLong(usize),
    #[error("an external id must not start or end with a space")]
    OuterSpace,
    #[error("an external id must not contain control characters; character {position} is {code}")]
    Control { position: usize, code: String },
    #[error(
        "an external id may only contain printable ASCII characters (it is sent as is in the \
         Tessera-Account header); character {position} is {found:?}"
    )]
    NotAscii { position: usize, found: char },
}

impl ExternalId {
    /// 1 to 200 printable ASCII characters, no control characters, not blank and without
    /// leading or trailing whitespace. Nothing is trimmed: the id is the provider's, as is.
    pub fn parse(raw: &str) -> Result<Self, ExternalIdError> {
        if raw.is_empty() {
            return Err(ExternalIdError::Empty);
        }
        // A control character is named before the other problems: it is the likeliest
        // sign of a broken file (a stray tab or carriage return).
        for (i, c) in raw.chars().enumerate() {
            if c.is_control() {
                return Err(ExternalIdError::Control {
                    position: i + 1,
                    code: format!("U+{:04X}", u32::from(c)),
                });
            }
        }
        if raw.chars().all(char::is_whitespace) {
            return Err(ExternalIdError::Blank);
        }
        if raw.starts_with(char::is_whitespace) || raw.ends_with(char::is_whitespace) {
            return Err(ExternalIdError::OuterSpace);
        }
        if let Some((i, c)) = raw.chars().enumerate().find(|(_, c)| !c.is_ascii()) {
            return Err(ExternalIdError::NotAscii {
                position: i + 1,
                found: c,
            });
        }
        // ASCII from here on: bytes are characters.
        if raw.len() > MAX_LEN {
            return Err(ExternalIdError::TooLong(raw.len()));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ExternalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `pad`, so tables can align it.
        f.pad(&self.0)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn provider_ids_of_every_usual_shape_parse_unchanged() {
        for raw in [
            "1",
            "42",
            "cus_9s6XKzkNRiz8i3",
            "3f2a9c1e-8b7d-4e6f-a5c4-1d2e3f4a5b6c",
            "ACME Corp #7",
            "acct_looks_like_ours",
            "ext:nested",
            &"x".repeat(MAX_LEN),
        ] {
            assert_eq!(ExternalId::parse(raw).unwrap().as_str(), raw);
        }
    }

    #[test]
    fn should_fail_with_a_message_naming_the_problem() {
        let cases: &[(&str, &str, ExternalIdError)] = &[
            ("because it is empty", "", ExternalIdError::Empty),
            ("because it is blank", "   ", ExternalIdError::Blank),
            (
                "because it is too long",
                &"x".repeat(MAX_LEN + 1),
                ExternalIdError::TooLong(MAX_LEN + 1),
            ),
            (
                "because of a leading space",
                " 42",
                ExternalIdError::OuterSpace,
            ),
            (
                "because of a trailing space",
                "42 ",
                ExternalIdError::OuterSpace,
            ),
            (
                "because of a tab",
                "4\t2",
                ExternalIdError::Control {
                    position: 2,
                    code: "U+0009".into(),
                },
            ),
            (
                "because of a trailing newline",
                "42\n",
                ExternalIdError::Control {
                    position: 3,
                    code: "U+000A".into(),
                },
            ),
            (
                "because of DEL",
                "42\u{7f}",
                ExternalIdError::Control {
                    position: 3,
                    code: "U+007F".into(),
                },
            ),
            (
                "because it is not ASCII",
                "Zoë",
                ExternalIdError::NotAscii {
                    position: 3,
                    found: 'ë',
                },
            ),
            (
                "because of a non-breaking space inside",
                "a\u{a0}b",
                ExternalIdError::NotAscii {
                    position: 2,
                    found: '\u{a0}',
                },
            ),
        ];
        for (why, raw, expected) in cases {
            assert_eq!(
                ExternalId::parse(raw).as_ref(),
                Err(expected),
                "should fail {why}"
            );
        }
    }

    #[test]
    fn messages_say_what_to_change() {
        let long = ExternalId::parse(&"x".repeat(201)).unwrap_err().to_string();
        assert_eq!(
            long,
            "an external id must be at most 200 characters; this one has 201"
        );
        let tab = ExternalId::parse("a\tb").unwrap_err().to_string();
        assert!(
            tab.contains("control characters") && tab.contains("U+0009"),
            "{tab}"
        );
        let accent = ExternalId::parse("Zoë").unwrap_err().to_string();
        assert!(
            accent.contains("printable ASCII") && accent.contains("'ë'"),
            "{accent}"
        );
    }
}
