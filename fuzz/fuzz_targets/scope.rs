//! Scopes (domain/scope.rs, oauth/scope.rs, RFC 6749 §3.3): any string is parsed or
//! refused, never a panic; a parsed set prints as a string that parses back to the same
//! set; every accepted token is within §3.3's grammar; narrowing keeps subsets.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera_core::domain::{ScopeName, ScopeSet, MAX_SCOPE_NAME_LEN};
use tessera_core::oauth::request::Form;
use tessera_core::oauth::scope::{granted_scope, requested_scope, within};
use tessera_fuzz::form_encode;

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let _ = ScopeName::parse(raw);
    let parsed = ScopeSet::parse(raw);
    if let Ok(set) = &parsed {
        let printed = set.to_string();
        assert_eq!(
            ScopeSet::parse(&printed).as_ref(),
            Ok(set),
            "round trip of {raw:?}"
        );
        for token in set.iter() {
            // §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
            assert!(!token.is_empty() && token.len() <= MAX_SCOPE_NAME_LEN);
            assert!(token
                .bytes()
                .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b)));
            assert!(raw.split(' ').any(|t| t == token));
        }
    }

    // The same string as a token request's `scope` parameter.
    let body = format!("scope={}", form_encode(raw));
    let Ok(form) = Form::parse(body.as_bytes()) else {
        panic!("an encoded scope parameter was refused: {body:?}");
    };
    match (requested_scope(&form), &parsed) {
        (Ok(Some(r)), Ok(set)) => assert_eq!(&r, set),
        (Ok(None), Ok(set)) => assert!(set.is_empty()),
        (Err(_), Err(_)) => {}
        (r, p) => panic!("requested_scope {r:?} disagrees with ScopeSet::parse {p:?}"),
    }
    // Narrowing: with the first half of the set allowed, the grant is the request when it
    // fits, `invalid_scope` when it does not, and all of `allowed` when nothing was asked.
    if let Ok(set) = &parsed {
        let half: Vec<&str> = set.iter().take(set.iter().count() / 2).collect();
        let allowed = ScopeSet::parse(&half.join(" ")).expect("a subset parses");
        assert_eq!(within(set, &allowed).is_ok(), set.is_subset(&allowed));
        match granted_scope(&form, &allowed) {
            Ok(granted) => assert!(granted.is_subset(&allowed)),
            Err(_) => assert!(!set.is_subset(&allowed)),
        }
    }
});
