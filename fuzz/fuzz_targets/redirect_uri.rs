//! Redirect URIs (domain/redirect_uri.rs, RFC 6749 §3.1.2): registration's check, the
//! consent page's target and the https test take any string without a panic, and agree
//! with each other. (The authorize endpoint matches a sent URI to the registered ones by
//! exact string comparison, RFC 9700 §4.1.3: no parser there to fuzz.)
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera_core::domain::{is_https, redirect_target, validate_redirect_uri};

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let valid = validate_redirect_uri(raw).is_ok();
    let target = redirect_target(raw);
    let https = is_https(raw);
    if valid {
        // §3.1.2: no fragment, and an absolute URI names where it sends the user.
        assert!(!raw.contains('#'), "a fragment was accepted: {raw:?}");
        assert!(
            target.as_deref().is_some_and(|t| !t.is_empty()),
            "an accepted URI has no target: {raw:?}"
        );
    }
    if https {
        assert!(
            raw.get(..6)
                .is_some_and(|s| s.eq_ignore_ascii_case("https:")),
            "is_https without the scheme: {raw:?}"
        );
        assert!(target.is_some());
        // An https URI with a host passes registration unless it is malformed otherwise.
        if !raw.contains('#')
            && raw.len() <= 2000
            && !raw.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            assert!(valid, "an https URI with a host was refused: {raw:?}");
        }
    }
});
