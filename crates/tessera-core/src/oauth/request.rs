//! `application/x-www-form-urlencoded` bodies, parsed strictly (RFC 6749 §3.1, §3.2).
//!
//! Parsed here rather than by a framework extractor so that every defect — a repeated
//! parameter, a bad percent-escape, bytes that are not UTF-8 — becomes `invalid_request`
//! with a description, never a framework's plain-text rejection.

use crate::error::OAuthError;

/// Decoded form parameters, each name at most once.
#[derive(Debug, Default)]
pub struct Form {
    pairs: Vec<(String, String)>,
}

impl Form {
    pub fn parse(body: &[u8]) -> Result<Self, OAuthError> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        for segment in body.split(|&b| b == b'&').filter(|s| !s.is_empty()) {
            let (name, value) = match segment.iter().position(|&b| b == b'=') {
                Some(i) => (&segment[..i], &segment[i + 1..]),
                None => (segment, &segment[segment.len()..]),
            };
            let name = decode_component(name)?;
            let value = decode_component(value)?;
            // §3.1: "Request and response parameters MUST NOT be included more than once."
            if pairs.iter().any(|(n, _)| *n == name) {
                return Err(OAuthError::invalid_request(format!(
                    "the parameter `{name}` is repeated; send each parameter once"
                )));
            }
            pairs.push((name, value));
        }
        Ok(Self { pairs })
    }

    /// The value of `name`; an empty value counts as absent (§3.1).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, v)| n == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    /// Like [`Form::get`], but absence is `invalid_request`.
    pub fn require(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name).ok_or_else(|| {
            OAuthError::invalid_request(format!("the parameter `{name}` is missing"))
        })
    }
}

/// Decodes one form component: `+` is a space, `%XX` a byte; the result must be UTF-8.
pub fn decode_component(raw: &[u8]) -> Result<String, OAuthError> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = raw.get(i + 1..i + 3).and_then(|h| {
                    let h = std::str::from_utf8(h).ok()?;
                    u8::from_str_radix(h, 16).ok()
                });
                let Some(byte) = hex else {
                    return Err(OAuthError::invalid_request(
                        "the request body has a malformed percent-escape",
                    ));
                };
                out.push(byte);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out)
        .map_err(|_| OAuthError::invalid_request("the request body is not valid UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    #[test]
    fn decodes_plus_and_percent() {
        let f = Form::parse(b"a=x+y%21&b=%E2%82%AC&c=").unwrap();
        assert_eq!(f.get("a"), Some("x y!"));
        assert_eq!(f.get("b"), Some("\u{20ac}"));
        assert_eq!(f.get("c"), None);
    }

    #[test]
    fn rejects_repeats_bad_escapes_and_invalid_utf8() {
        for body in [&b"a=1&a=2"[..], b"a=%G1", b"a=%4", b"a=%FF"] {
            assert_eq!(
                Form::parse(body).unwrap_err().code,
                ErrorCode::InvalidRequest
            );
        }
    }
}
