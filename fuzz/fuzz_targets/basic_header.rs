//! The two HTTP Basic parsers: client authentication at the token endpoint
//! (oauth/client_auth.rs, RFC 6749 §2.3.1: form-encoded id and secret) and the legacy
//! Basic credentials (legacy/basic.rs, RFC 7617: `email:password`). Any header value is
//! parsed or refused, never a panic; a header built from an id and a secret reads back
//! as that id and secret.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use tessera_core::domain::ClientId;
use tessera_core::legacy::basic::parse_basic;
use tessera_core::legacy::Email;
use tessera_core::oauth::client_auth::{extract, AuthMethod};
use tessera_core::oauth::request::Form;
use tessera_fuzz::{base64, form_encode};

#[derive(Debug, Arbitrary)]
struct Credentials {
    user: String,
    secret: String,
}

fuzz_target!(|data: &[u8]| {
    let empty = Form::default();
    if let Ok(header) = std::str::from_utf8(data) {
        let _ = extract(Some(header), &empty);
        let _ = parse_basic(header);
    }
    let Ok(c) = Credentials::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };

    // RFC 6749 §2.3.1: `Basic base64(urlencode(id) ":" urlencode(secret))`.
    let raw = format!("{}:{}", form_encode(&c.user), form_encode(&c.secret));
    let header = format!("Basic {}", base64(raw.as_bytes()));
    match extract(Some(&header), &empty) {
        Ok(p) => {
            assert_eq!(p.id.as_str(), c.user);
            assert_eq!(
                p.secret.as_ref().map(|s| s.expose()),
                Some(c.secret.as_str())
            );
            assert_eq!(p.method, AuthMethod::Basic);
        }
        Err(e) => assert!(
            ClientId::parse(&c.user).is_none(),
            "a valid client id was refused ({e:?}): {header:?}"
        ),
    }

    // RFC 7617 §2: the user-id may not contain `:`, the password may; so the user-id is
    // what precedes the first colon.
    let legacy = format!("{}:{}", c.user, c.secret);
    let (user, password) = legacy.split_once(':').expect("a colon");
    match parse_basic(&base64(legacy.as_bytes())) {
        Ok((email, parsed)) => {
            assert_eq!(Some(email), Email::parse(user));
            assert_eq!(parsed.expose(), password);
        }
        Err(_) => assert!(
            Email::parse(user).is_none(),
            "a well-formed Basic credential was refused: {legacy:?}"
        ),
    }
});
