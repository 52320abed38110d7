//! The `scope` request parameter (RFC 6749 §3.3) as the grants read it: parsed once, and
//! narrowed within what a client or a token set allows.

use super::identity::is_identity_scope;
use super::request::Form;
use crate::domain::{Client, ScopeSet};
use crate::error::OAuthError;

/// The scope an application asks a user for (`scope` of an authorization or device
/// authorization request): within the application's own, or an identity scope, which any
/// application may ask for; absent means all of the application's own.
pub fn application_scope(raw: Option<&str>, client: &Client) -> Result<ScopeSet, OAuthError> {
    let scope = match raw {
        None => client.scopes.clone(),
        Some(raw) => {
            let set = ScopeSet::parse(raw).map_err(|e| OAuthError::invalid_scope(e.to_string()))?;
            let extra: Vec<&str> = set
                .difference(&client.scopes)
                .filter(|s| !is_identity_scope(s))
                .collect();
            if !extra.is_empty() {
                return Err(OAuthError::invalid_scope(format!(
                    "this application may not ask for {}",
                    extra.join(" ")
                )));
            }
            set
        }
    };
    if scope.is_empty() {
        return Err(OAuthError::invalid_scope("no scope was requested"));
    }
    Ok(scope)
}

/// The `scope` parameter, parsed (§3.3); absent or empty is `None`.
pub fn requested_scope(form: &Form) -> Result<Option<ScopeSet>, OAuthError> {
    match form.get("scope") {
        None => Ok(None),
        Some(raw) => {
            let set = ScopeSet::parse(raw).map_err(|e| OAuthError::invalid_scope(e.to_string()))?;
            Ok((!set.is_empty()).then_some(set))
        }
    }
}

/// `requested` if it is within `allowed`, else `invalid_scope` naming what is not (§5.2).
pub fn within(requested: &ScopeSet, allowed: &ScopeSet) -> Result<ScopeSet, OAuthError> {
    if requested.is_subset(allowed) {
        return Ok(requested.clone());
    }
    let extra: Vec<&str> = requested.difference(allowed).collect();
    Err(OAuthError::invalid_scope(format!(
        "scope not allowed for this client: {}; allowed: {}",
        extra.join(" "),
        allowed
    )))
}

/// The scope a grant issues: the requested one if within `allowed`, else all of `allowed`
/// when nothing was requested (§3.3: the server's default is what the client may have).
pub fn granted_scope(form: &Form, allowed: &ScopeSet) -> Result<ScopeSet, OAuthError> {
    match requested_scope(form)? {
        Some(requested) => within(&requested, allowed),
        None => Ok(allowed.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    fn set(raw: &str) -> ScopeSet {
        ScopeSet::parse(raw).unwrap()
    }

    #[test]
    fn scope_rules() {
        struct Case {
            description: &'static str,
            body: &'static [u8],
            allowed: &'static str,
            expect: Result<&'static str, ErrorCode>,
        }
        let cases = [
            Case {
                description: "should grant everything allowed when no scope is requested",
                body: b"",
                allowed: "a b",
                expect: Ok("a b"),
            },
            Case {
                description: "should treat an empty scope parameter as absent",
                body: b"scope=",
                allowed: "a b",
                expect: Ok("a b"),
            },
            Case {
                description: "should narrow to the requested subset",
                body: b"scope=b",
                allowed: "a b",
                expect: Ok("b"),
            },
            Case {
                description: "should fail because a requested scope is not allowed",
                body: b"scope=a+c",
                allowed: "a b",
                expect: Err(ErrorCode::InvalidScope),
            },
            Case {
                description: "should fail because a scope token is malformed",
                body: b"scope=a%22b",
                allowed: "a b",
                expect: Err(ErrorCode::InvalidScope),
            },
        ];
        for case in cases {
            let form = Form::parse(case.body).unwrap();
            let got = granted_scope(&form, &set(case.allowed))
                .map(|s| s.to_string())
                .map_err(|e| e.code);
            assert_eq!(got, case.expect.map(str::to_owned), "{}", case.description);
        }
    }
}
