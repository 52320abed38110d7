//! `application/x-www-form-urlencoded` bodies, parsed strictly (RFC 6749 §3.1, §3.2).
//!
//! Parsed here rather than by a framework extractor so that every defect — a repeated
//! parameter, a bad percent-escape, bytes that are not UTF-8 — becomes `invalid_request`
//! with a description, never a framework's plain-text rejection.

use std::collections::HashSet;

use crate::error::OAuthError;

/// More parameters than any Tessera form or OAuth request carries (the consent form has one
/// per scope of the catalog): past this, a request is refused before any work on its names.
pub const MAX_PARAMETERS: usize = 256;

/// Decoded form parameters, each name at most once.
#[derive(Debug, Default)]
pub struct Form {
    pairs: Vec<(String, String)>,
}

impl Form {
    pub fn parse(body: &[u8]) -> Result<Self, OAuthError> {
        let segments = body.split(|&b| b == b'&').filter(|s| !s.is_empty());
        if segments.clone().count() > MAX_PARAMETERS {
            return Err(OAuthError::invalid_request(format!(
                "the request has more than {MAX_PARAMETERS} parameters"
            )));
        }
        let mut pairs: Vec<(String, String)> = Vec::new();
        // A set, so that spotting a repeat costs one lookup, not a scan of every earlier name.
        let mut seen: HashSet<String> = HashSet::new();
        for segment in segments {
            let (name, value) = match segment.iter().position(|&b| b == b'=') {
                Some(i) => (&segment[..i], &segment[i + 1..]),
                None => (segment, &segment[segment.len()..]),
            };
            let name = decode_component(name)?;
            let value = decode_component(value)?;
            // §3.1: "Request and response parameters MUST NOT be included more than once."
            if !seen.insert(name.clone()) {
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

    /// The form encoded again (`application/x-www-form-urlencoded`), without the parameters
    /// named in `left_out` and without empty ones.
    pub fn encode_without(&self, left_out: &[&str]) -> String {
        let mut out = String::new();
        for (name, value) in &self.pairs {
            if value.is_empty() || left_out.contains(&name.as_str()) {
                continue;
            }
            if !out.is_empty() {
                out.push('&');
            }
            encode_component(name, &mut out);
            out.push('=');
            encode_component(value, &mut out);
        }
        out
    }

    /// Like [`Form::get`], but absence is `invalid_request`.
    pub fn require(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name).ok_or_else(|| {
            OAuthError::invalid_request(format!("the parameter `{name}` is missing"))
        })
    }
}

/// Percent-encodes `raw` onto `out`, keeping only RFC 3986's unreserved characters.
fn encode_component(raw: &str, out: &mut String) {
    for b in raw.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
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

    fn params(n: usize) -> String {
        (0..n)
            .map(|i| format!("p{i}=v"))
            .collect::<Vec<_>>()
            .join("&")
    }

    #[test]
    fn encoding_again_round_trips_and_leaves_out_what_is_asked() {
        let f = Form::parse(b"scope=a+b&client_secret=s&state=%E2%82%AC%26&nonce=").unwrap();
        let again = f.encode_without(&["client_secret"]);
        assert_eq!(again, "scope=a%20b&state=%E2%82%AC%26");
        let back = Form::parse(again.as_bytes()).unwrap();
        assert_eq!(back.get("state"), Some("\u{20ac}&"));
        assert_eq!(back.get("client_secret"), None);
    }

    #[test]
    fn parameter_count_is_capped() {
        let at_cap = Form::parse(params(MAX_PARAMETERS).as_bytes()).unwrap();
        assert_eq!(at_cap.get("p255"), Some("v"));
        let err = Form::parse(params(MAX_PARAMETERS + 1).as_bytes()).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidRequest);
        assert!(err.description.contains("more than 256 parameters"));
        // Empty segments (`a=1&&b=2`) are not parameters and do not count.
        let sparse = format!("{}{}", "&".repeat(10_000), params(3));
        assert!(Form::parse(sparse.as_bytes()).is_ok());
    }

    #[test]
    fn a_repeat_is_found_wherever_it_is() {
        let late = format!("{}&p0=again", params(MAX_PARAMETERS - 1));
        let err = Form::parse(late.as_bytes()).unwrap_err();
        assert!(
            err.description.contains("`p0` is repeated"),
            "{}",
            err.description
        );
    }
}
