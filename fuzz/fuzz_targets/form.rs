//! The strict form parser (tessera-core oauth/request.rs): any body is parsed or refused,
//! never a panic; and a form encoded from arbitrary pairs parses back to those pairs.
#![no_main]

use std::collections::HashSet;

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use tessera_core::oauth::request::{decode_component, Form, MAX_PARAMETERS};
use tessera_fuzz::form_encode;

fuzz_target!(|data: &[u8]| {
    // Raw bytes, as a client may send them.
    let _ = Form::parse(data);
    if let Ok(decoded) = decode_component(data) {
        assert_eq!(
            decode_component(form_encode(&decoded).as_bytes())
                .ok()
                .as_deref(),
            Some(decoded.as_str()),
            "decode(encode(x)) != x"
        );
    }
    // The same bytes read as pairs: encode, parse, and compare.
    let Ok(pairs) = <Vec<(String, String)>>::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    round_trip(&pairs);
});

fn round_trip(pairs: &[(String, String)]) {
    let body = pairs
        .iter()
        .map(|(n, v)| format!("{}={}", form_encode(n), form_encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    let mut names = HashSet::new();
    let unique = pairs.iter().all(|(n, _)| names.insert(n.as_str()));
    match Form::parse(body.as_bytes()) {
        Ok(form) => {
            assert!(unique, "a repeated name was accepted: {body:?}");
            assert!(
                pairs.len() <= MAX_PARAMETERS,
                "too many parameters accepted"
            );
            for (n, v) in pairs {
                // RFC 6749 §3.1: an empty value counts as absent.
                let want = (!v.is_empty()).then_some(v.as_str());
                assert_eq!(form.get(n), want, "parameter {n:?} of {body:?}");
            }
        }
        Err(_) => assert!(
            !unique || pairs.len() > MAX_PARAMETERS,
            "a well-formed body was refused: {body:?}"
        ),
    }
}
