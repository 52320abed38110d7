//! Redirect URIs (RFC 6749 §3.1.2): absolute, no fragment, compared by exact string.

/// Checks a redirect URI for registration: absolute `https`, or `http` on a loopback host
/// (RFC 8252 §7.3), or a private-use scheme for native apps; never a fragment.
pub fn validate_redirect_uri(raw: &str) -> Result<(), String> {
    if raw.contains('#') {
        return Err(format!(
            "redirect URI {raw:?} must not contain a fragment (RFC 6749 §3.1.2)"
        ));
    }
    if raw.chars().any(|c| c.is_whitespace() || c.is_control()) || raw.len() > 2000 {
        return Err(format!("redirect URI {raw:?} is not a valid URI"));
    }
    let Some((scheme, host)) = parts(raw) else {
        return Err(format!("redirect URI {raw:?} must be absolute"));
    };
    match (scheme.as_str(), host.as_deref()) {
        ("https", Some(h)) if !h.is_empty() => Ok(()),
        ("http", Some("localhost" | "127.0.0.1" | "::1")) => Ok(()),
        ("http", _) => Err(format!(
            "redirect URI {raw:?}: plain http is allowed only on loopback (localhost, 127.0.0.1)"
        )),
        (s, _) if s.contains('.') && s.chars().all(|c| c.is_ascii_alphanumeric() || ".+-".contains(c)) => Ok(()),
        _ => Err(format!(
            "redirect URI {raw:?} must be https, http on loopback, or a reverse-domain private-use scheme"
        )),
    }
}

/// The lower-cased scheme and, when the URI has an authority, its host.
fn parts(raw: &str) -> Option<(String, Option<String>)> {
    let (scheme, rest) = raw.split_once(':')?;
    let host = rest.strip_prefix("//").map(|r| {
        let authority = r.split(['/', '?']).next().unwrap_or("");
        let host_port = authority.rsplit('@').next().unwrap_or("");
        if host_port.starts_with('[') {
            host_port
                .split(']')
                .next()
                .unwrap_or("")
                .trim_start_matches('[')
                .to_owned()
        } else {
            host_port.split(':').next().unwrap_or("").to_owned()
        }
    });
    Some((scheme.to_ascii_lowercase(), host))
}

/// Where a redirect URI sends the user, as the consent page names it: the host, or the
/// scheme of a native app's private-use URI (RFC 8252 §7.1).
pub fn redirect_target(raw: &str) -> Option<String> {
    match parts(raw)? {
        (_, Some(host)) if !host.is_empty() => Some(host.to_ascii_lowercase()),
        (scheme, _) => Some(scheme),
    }
}

/// Whether a redirect URI is `https` with a host: the only kind that proves which
/// application receives the code (RFC 8252 §8.6, RFC 9700 §2.1).
pub fn is_https(raw: &str) -> bool {
    matches!(parts(raw), Some((scheme, Some(host))) if scheme == "https" && !host.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_https_loopback_and_private_use() {
        for ok in [
            "https://app.example/cb",
            "http://127.0.0.1:8000/cb",
            "http://localhost/cb",
            "com.example.app:/cb",
        ] {
            assert!(validate_redirect_uri(ok).is_ok(), "{ok}");
        }
        for bad in [
            "https://a/cb#x",
            "http://evil.example/cb",
            "/relative",
            "javascript:alert(1)",
            "https:///x",
        ] {
            assert!(validate_redirect_uri(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_the_target_and_tells_https() {
        assert_eq!(
            redirect_target("https://User@App.example:8443/cb?x=1").as_deref(),
            Some("app.example")
        );
        assert_eq!(
            redirect_target("com.example.app:/cb").as_deref(),
            Some("com.example.app")
        );
        assert!(is_https("https://app.example/cb"));
        assert!(is_https("HTTPS://app.example/cb"));
        for not in ["http://127.0.0.1/cb", "com.example.app:/cb", "https:///x"] {
            assert!(!is_https(not), "{not}");
        }
    }
}
