//! Scope names and sets (RFC 6749 §3.3), and the words the consent page shows for a scope.

use std::collections::BTreeSet;
use std::fmt;

/// The longest scope name, in characters: far beyond any real name, short enough that a
/// token of every scope fits in a header and a consent form.
pub const MAX_SCOPE_NAME_LEN: usize = 128;

/// The longest scope description, in characters.
pub const MAX_SCOPE_DESCRIPTION_LEN: usize = 200;

/// Why a scope name or description is refused.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ScopeError {
    #[error("a scope name must not be empty")]
    Empty,
    #[error(
        "scope token {0:?}… is too long: scope names have at most {MAX_SCOPE_NAME_LEN} characters"
    )]
    TooLong(String),
    #[error("scope token {0:?} is not valid: scope tokens are printable ASCII without spaces, quotes or backslashes")]
    Invalid(String),
    #[error("a scope description must be 1 to {MAX_SCOPE_DESCRIPTION_LEN} characters of text, without line breaks or other control characters")]
    Description,
}

/// One scope token: `1*( %x21 / %x23-5B / %x5D-7E )` (§3.3), at most
/// [`MAX_SCOPE_NAME_LEN`] characters. Scope names are case-sensitive.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ScopeName(String);

impl ScopeName {
    pub fn parse(raw: &str) -> Result<Self, ScopeError> {
        if raw.is_empty() {
            return Err(ScopeError::Empty);
        }
        // §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
        let valid = raw
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b));
        if !valid {
            return Err(ScopeError::Invalid(raw.to_owned()));
        }
        // Every byte is ASCII here, so bytes are characters.
        if raw.len() > MAX_SCOPE_NAME_LEN {
            return Err(ScopeError::TooLong(raw[..32].to_owned()));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for ScopeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What the consent page says a scope lets an application do: 1 to
/// [`MAX_SCOPE_DESCRIPTION_LEN`] characters, not blank, on one line; kept trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeDescription(String);

impl ScopeDescription {
    pub fn parse(raw: &str) -> Result<Self, ScopeError> {
        let text = raw.trim();
        let length = text.chars().count();
        if length == 0 || length > MAX_SCOPE_DESCRIPTION_LEN || text.chars().any(char::is_control) {
            return Err(ScopeError::Description);
        }
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// A set of scope tokens, kept sorted so equal sets print equally.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScopeSet(BTreeSet<String>);

impl ScopeSet {
    /// Parses a space-delimited list of [`ScopeName`]s (§3.3).
    pub fn parse(raw: &str) -> Result<Self, ScopeError> {
        let mut set = BTreeSet::new();
        for token in raw.split(' ').filter(|t| !t.is_empty()) {
            set.insert(ScopeName::parse(token)?.into_string());
        }
        Ok(Self(set))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, scope: &str) -> bool {
        self.0.contains(scope)
    }

    pub fn is_subset(&self, other: &ScopeSet) -> bool {
        self.0.is_subset(&other.0)
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// Scopes in `self` that `other` lacks.
    pub fn difference<'a>(&'a self, other: &'a ScopeSet) -> impl Iterator<Item = &'a str> {
        self.0.difference(&other.0).map(String::as_str)
    }
}

impl fmt::Display for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for s in &self.0 {
            if !first {
                f.write_str(" ")?;
            }
            f.write_str(s)?;
            first = false;
        }
        Ok(())
    }
}

impl FromIterator<String> for ScopeSet {
    fn from_iter<I: IntoIterator<Item = String>>(iter: I) -> Self {
        Self(iter.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sorted_and_deduplicated() {
        let s = ScopeSet::parse("books:read  account:read books:read").unwrap();
        assert_eq!(s.to_string(), "account:read books:read");
    }

    #[test]
    fn rejects_quotes_and_backslashes() {
        assert!(ScopeSet::parse("a\"b").is_err());
        assert!(ScopeSet::parse("a\\b").is_err());
        assert!(ScopeSet::parse("caf\u{e9}").is_err());
    }

    #[test]
    fn scope_names_follow_rfc6749_3_3_and_the_length_cap() {
        /// What parsing should answer: the name, or an error of this kind.
        #[derive(Debug, PartialEq)]
        enum Expect {
            Name,
            Empty,
            Invalid,
            TooLong,
        }
        let kind = |r: &Result<ScopeName, ScopeError>| match r {
            Ok(_) => Expect::Name,
            Err(ScopeError::Empty) => Expect::Empty,
            Err(ScopeError::Invalid(_)) => Expect::Invalid,
            Err(ScopeError::TooLong(_)) => Expect::TooLong,
            Err(ScopeError::Description) => unreachable!("names never fail as descriptions"),
        };
        let longest = "a".repeat(MAX_SCOPE_NAME_LEN);
        let too_long = "a".repeat(MAX_SCOPE_NAME_LEN + 1);
        let cases = [
            (
                "should accept letters, colons, dots",
                "invoices:read.v2",
                Expect::Name,
            ),
            (
                "should accept !, #, [, ], ~ at the ends of the ranges",
                "!#[]~",
                Expect::Name,
            ),
            (
                "should accept a URL-like scope",
                "https://api.example/x?y=1",
                Expect::Name,
            ),
            ("should accept the longest name", &longest, Expect::Name),
            ("should fail because the name is empty", "", Expect::Empty),
            ("should fail because of a space", "a b", Expect::Invalid),
            ("should fail because of a quote", "a\"b", Expect::Invalid),
            (
                "should fail because of a backslash",
                "a\\b",
                Expect::Invalid,
            ),
            ("should fail because of a tab", "a\tb", Expect::Invalid),
            ("should fail because of DEL", "a\u{7f}", Expect::Invalid),
            (
                "should fail because it is not ASCII",
                "caf\u{e9}",
                Expect::Invalid,
            ),
            (
                "should fail because it is too long",
                &too_long,
                Expect::TooLong,
            ),
        ];
        for (description, raw, expect) in cases {
            let parsed = ScopeName::parse(raw);
            assert_eq!(kind(&parsed), expect, "{description}");
            if let Ok(name) = parsed {
                assert_eq!(name.as_str(), raw, "{description}");
            }
        }
        assert!(
            ScopeSet::parse(&format!("a {too_long}")).is_err(),
            "a set applies the same rule to each token"
        );
    }

    #[test]
    fn scope_descriptions_are_one_line_of_1_to_200_characters() {
        assert_eq!(
            ScopeDescription::parse("  Read your invoices ")
                .unwrap()
                .as_str(),
            "Read your invoices"
        );
        let longest = "é".repeat(MAX_SCOPE_DESCRIPTION_LEN);
        assert!(
            ScopeDescription::parse(&longest).is_ok(),
            "characters, not bytes"
        );
        for bad in [
            "",
            "   ",
            "two\nlines",
            &"x".repeat(MAX_SCOPE_DESCRIPTION_LEN + 1),
        ] {
            assert_eq!(
                ScopeDescription::parse(bad),
                Err(ScopeError::Description),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn subset() {
        let all = ScopeSet::parse("a b c").unwrap();
        assert!(ScopeSet::parse("a c").unwrap().is_subset(&all));
        assert!(!ScopeSet::parse("a d").unwrap().is_subset(&all));
    }
}
