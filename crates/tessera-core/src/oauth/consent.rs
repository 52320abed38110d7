//! Consent (RFC 6749 §4.1.1: the server "obtains an authorization decision" from the
//! resource owner): on which of a user's accounts an application may be authorized, when an
//! earlier consent stands in for asking again, and recording what the user decided.
//!
//! HTTP renders the consent page and reads its form; every decision is made here.

use super::authorize::{AuthorizationRequest, AuthorizePolicy, Delivery};
use crate::domain::{is_https, AccountId, Client, ClientId, ScopeSet, User};
use crate::error::{ErrorCode, OAuthError, StoreError};
use crate::store::{Consent, Store};
use crate::UnixSeconds;

/// What the user approved: the account the application acts on, and the scopes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approved {
    pub account: AccountId,
    pub scopes: ScopeSet,
}

/// What to do with a valid authorization request of a signed-in user.
#[derive(Debug)]
pub enum ConsentStep {
    /// Issue a code at once: an earlier consent covers the request.
    Issue(Approved),
    /// Show the consent page, offering these accounts.
    Ask { accounts: Vec<AccountId> },
    /// Send `access_denied` back to the client (§4.1.2.1).
    Refuse(OAuthError),
}

/// What the user submitted on the consent page.
pub struct Decision<'a> {
    /// Authorize (`true`) or Deny.
    pub authorize: bool,
    /// The chosen account, as the form sent it.
    pub account: Option<&'a str>,
    /// Whether the user left a requested scope checked.
    pub checked: &'a (dyn Fn(&str) -> bool + Sync),
}

/// What the user's decision leads to.
#[derive(Debug)]
pub enum DecisionOutcome {
    /// Consent recorded: issue a code.
    Issue(Approved),
    /// Send `access_denied` back to the client (§4.1.2.1).
    Refuse(OAuthError),
    /// The chosen account is not one this user may authorize this application on.
    UnknownAccount,
}

fn access_denied(why: &'static str) -> OAuthError {
    OAuthError::new(ErrorCode::AccessDenied, why)
}

/// The accounts of `user` on which `client` may be authorized. An application the operator
/// has not approved may act only on the account that registered it, so a customer cannot
/// phish users of other accounts into authorizing its application.
pub fn eligible_accounts(client: &Client, user: &User) -> Vec<AccountId> {
    user.accounts
        .iter()
        .filter(|a| client.approved || client.account_id.as_ref() == Some(*a))
        .cloned()
        .collect()
}

/// Whether an earlier consent may stand in for asking. Never for a public client, whose
/// id anyone can present (RFC 8252 §8.6, RFC 9700 §2.1), nor when the code leaves by
/// anything but `https`, where nothing proves which application receives it, nor when the
/// client asks for the page (`prompt=consent`).
pub fn may_skip_consent(
    client: &Client,
    request: &AuthorizationRequest,
    policy: &AuthorizePolicy,
) -> bool {
    let https = matches!(&request.delivery, Delivery::Redirect(uri) if is_https(uri));
    policy.skip_consent_when_granted && !client.public && https && !request.prompt.consent
}

/// Why `client` cannot be authorized by a user with no eligible account.
pub fn refusal(client: &Client) -> OAuthError {
    if client.approved {
        access_denied("your user may not act on any API account")
    } else {
        access_denied(
            "this application is not approved by the operator; only users of the account that registered it may authorize it",
        )
    }
}

/// Decides what a signed-in user's valid request leads to: refusal when the user has no
/// account to authorize the application on, a code when an earlier consent on such an
/// account covers every requested scope (and skipping is allowed), else the consent page.
pub async fn consent_step(
    store: &dyn Store,
    client: &Client,
    user: &User,
    request: &AuthorizationRequest,
    policy: &AuthorizePolicy,
) -> Result<ConsentStep, StoreError> {
    let accounts = eligible_accounts(client, user);
    if accounts.is_empty() {
        return Ok(ConsentStep::Refuse(refusal(client)));
    }
    if may_skip_consent(client, request, policy) {
        let consents = store.list_consents(&user.id, &client.id).await?;
        let covering = consents
            .into_iter()
            .find(|c| request.scope.is_subset(&c.scopes) && accounts.contains(&c.account_id));
        if let Some(consent) = covering {
            return Ok(ConsentStep::Issue(Approved {
                account: consent.account_id,
                scopes: request.scope.clone(),
            }));
        }
    }
    Ok(ConsentStep::Ask { accounts })
}

/// The requested scopes the user left checked: never one that was not requested.
pub fn granted_scopes(requested: &ScopeSet, checked: &dyn Fn(&str) -> bool) -> ScopeSet {
    requested
        .iter()
        .filter(|s| checked(s))
        .map(str::to_owned)
        .collect()
}

/// Applies the user's decision on the consent page for a request of `requested` scopes;
/// an approval is recorded as a consent before any code or token is issued.
pub async fn decide(
    store: &dyn Store,
    client: &Client,
    user: &User,
    requested: &ScopeSet,
    decision: &Decision<'_>,
    now: UnixSeconds,
) -> Result<DecisionOutcome, StoreError> {
    if !decision.authorize {
        return Ok(DecisionOutcome::Refuse(access_denied(
            "the user denied the request",
        )));
    }
    let accounts = eligible_accounts(client, user);
    if accounts.is_empty() {
        return Ok(DecisionOutcome::Refuse(refusal(client)));
    }
    let scopes = granted_scopes(requested, decision.checked);
    if scopes.is_empty() {
        return Ok(DecisionOutcome::Refuse(access_denied(
            "the user granted no scope",
        )));
    }
    let Some(account) = accounts
        .into_iter()
        .find(|a| Some(a.as_str()) == decision.account)
    else {
        return Ok(DecisionOutcome::UnknownAccount);
    };
    record_consent(store, user, &client.id, &account, &scopes, now).await?;
    Ok(DecisionOutcome::Issue(Approved { account, scopes }))
}

/// Stores the user's standing approval of `client` on `account` (replacing an earlier one
/// of the same pair), which later requests within `scopes` may rely on.
pub async fn record_consent(
    store: &dyn Store,
    user: &User,
    client: &ClientId,
    account: &AccountId,
    scopes: &ScopeSet,
    now: UnixSeconds,
) -> Result<(), StoreError> {
    store
        .upsert_consent(&Consent {
            user_id: user.id.clone(),
            client_id: client.clone(),
            account_id: account.clone(),
            scopes: scopes.clone(),
            updated_at: now,
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{
        account, application, authorization_request, scopes, user, World, HTTPS_CB, NOW,
    };

    const POLICY: AuthorizePolicy = AuthorizePolicy {
        require_pkce: false,
        code_ttl: 60,
        skip_consent_when_granted: true,
        require_par: false,
        par_ttl: 60,
    };

    #[derive(Debug, PartialEq)]
    enum Step {
        Issue(&'static str, &'static str),
        Ask(Vec<&'static str>),
        Refuse,
    }

    #[tokio::test]
    async fn consent_step_rules() {
        struct Case {
            description: &'static str,
            client: Client,
            /// The redirect URI registered and used; `None`: Tessera's code page.
            redirect: Option<&'static str>,
            user_accounts: &'static [&'static str],
            /// An earlier consent: account and scopes.
            earlier: Option<(&'static str, &'static str)>,
            policy: AuthorizePolicy,
            expect: Step,
        }
        let confidential = || application(false, true, None);
        let base = |description, expect| Case {
            description,
            client: confidential(),
            redirect: Some(HTTPS_CB),
            user_accounts: &["acct_a"],
            earlier: Some(("acct_a", "books:read books:write")),
            policy: POLICY,
            expect,
        };
        let cases = vec![
            base(
                "should issue at once when an earlier consent covers the request",
                Step::Issue("acct_a", "books:read"),
            ),
            Case {
                client: application(true, true, None),
                ..base(
                    "should ask because a public client's id proves nothing (RFC 8252 §8.6)",
                    Step::Ask(vec!["acct_a"]),
                )
            },
            Case {
                redirect: Some("http://127.0.0.1:8080/cb"),
                ..base(
                    "should ask because the code would leave by plain http",
                    Step::Ask(vec!["acct_a"]),
                )
            },
            Case {
                redirect: Some("com.example.app:/cb"),
                ..base(
                    "should ask because a private-use scheme proves no application",
                    Step::Ask(vec!["acct_a"]),
                )
            },
            Case {
                redirect: None,
                ..base(
                    "should ask because the code goes to the code page",
                    Step::Ask(vec!["acct_a"]),
                )
            },
            Case {
                policy: AuthorizePolicy {
                    skip_consent_when_granted: false,
                    ..POLICY
                },
                ..base(
                    "should ask because the operator turned skipping off",
                    Step::Ask(vec!["acct_a"]),
                )
            },
            Case {
                earlier: Some(("acct_a", "books:write")),
                ..base(
                    "should ask because the earlier consent is narrower than the request",
                    Step::Ask(vec!["acct_a"]),
                )
            },
            Case {
                earlier: Some(("acct_gone", "books:read")),
                ..base(
                    "should ask because the earlier consent is on an account the user left",
                    Step::Ask(vec!["acct_a"]),
                )
            },
            Case {
                earlier: None,
                ..base(
                    "should ask because there is no earlier consent",
                    Step::Ask(vec!["acct_a"]),
                )
            },
            Case {
                user_accounts: &[],
                ..base(
                    "should refuse because the user may act on no account",
                    Step::Refuse,
                )
            },
            Case {
                client: application(false, false, Some("acct_owner")),
                earlier: None,
                ..base(
                    "should refuse because an unapproved application is for its own account's users only",
                    Step::Refuse,
                )
            },
            Case {
                client: application(false, false, None),
                earlier: None,
                ..base(
                    "should refuse because an unapproved application without an account has no users",
                    Step::Refuse,
                )
            },
            Case {
                client: application(false, false, Some("acct_owner")),
                user_accounts: &["acct_a", "acct_owner"],
                ..base(
                    "should offer only the registrant's account for an unapproved application",
                    Step::Ask(vec!["acct_owner"]),
                )
            },
            Case {
                client: application(false, false, Some("acct_owner")),
                user_accounts: &["acct_a", "acct_owner"],
                earlier: Some(("acct_owner", "books:read")),
                ..base(
                    "should issue on the registrant's account for an unapproved application",
                    Step::Issue("acct_owner", "books:read"),
                )
            },
        ];
        for case in cases {
            let world = World::new();
            let mut client = case.client;
            client.redirect_uris = case.redirect.iter().map(|r| r.to_string()).collect();
            let u = user(case.user_accounts);
            if let Some((acct, granted)) = case.earlier {
                record_consent(
                    &world.store,
                    &u,
                    &client.id,
                    &account(acct),
                    &scopes(granted),
                    NOW,
                )
                .await
                .unwrap();
            }
            let request = authorization_request(&client, case.redirect, "books:read", None);
            let got = consent_step(&world.store, &client, &u, &request, &case.policy)
                .await
                .unwrap();
            let got = match got {
                ConsentStep::Issue(a) => {
                    Step::Issue(leak(a.account.to_string()), leak(a.scopes.to_string()))
                }
                ConsentStep::Ask { accounts } => {
                    Step::Ask(accounts.iter().map(|a| leak(a.to_string())).collect())
                }
                ConsentStep::Refuse(e) => {
                    assert_eq!(e.code, ErrorCode::AccessDenied, "{}", case.description);
                    Step::Refuse
                }
            };
            assert_eq!(got, case.expect, "{}", case.description);
        }
    }

    fn leak(s: String) -> &'static str {
        Box::leak(s.into_boxed_str())
    }

    #[tokio::test]
    async fn decision_rules() {
        #[derive(Debug, PartialEq)]
        enum Outcome {
            Issue(&'static str, &'static str),
            Refuse,
            UnknownAccount,
        }
        struct Case {
            description: &'static str,
            approved: bool,
            authorize: bool,
            account: Option<&'static str>,
            checked: &'static [&'static str],
            expect: Outcome,
        }
        let base = |description, expect| Case {
            description,
            approved: true,
            authorize: true,
            account: Some("acct_a"),
            checked: &["books:read", "books:write"],
            expect,
        };
        let cases = vec![
            base(
                "should issue every scope left checked, on the chosen account",
                Outcome::Issue("acct_a", "books:read books:write"),
            ),
            Case {
                checked: &["books:write", "admin"],
                ..base(
                    "should grant only requested scopes, whatever else the form says",
                    Outcome::Issue("acct_a", "books:write"),
                )
            },
            Case {
                authorize: false,
                ..base("should refuse because the user denied", Outcome::Refuse)
            },
            Case {
                checked: &[],
                ..base("should refuse because no scope was left checked", Outcome::Refuse)
            },
            Case {
                account: Some("acct_stranger"),
                ..base(
                    "should fail because the account is not the user's",
                    Outcome::UnknownAccount,
                )
            },
            Case {
                account: None,
                ..base("should fail because no account was chosen", Outcome::UnknownAccount)
            },
            Case {
                approved: false,
                ..base(
                    "should fail because an unapproved application may act only on its registrant's account",
                    Outcome::UnknownAccount,
                )
            },
            Case {
                approved: false,
                account: Some("acct_owner"),
                ..base(
                    "should issue an unapproved application on its registrant's account",
                    Outcome::Issue("acct_owner", "books:read books:write"),
                )
            },
        ];
        for case in cases {
            let world = World::new();
            let client = application(false, case.approved, Some("acct_owner"));
            let u = user(&["acct_a", "acct_owner"]);
            let request =
                authorization_request(&client, Some(HTTPS_CB), "books:read books:write", None);
            let checked = |s: &str| case.checked.contains(&s);
            let decision = Decision {
                authorize: case.authorize,
                account: case.account,
                checked: &checked,
            };
            let got = decide(&world.store, &client, &u, &request.scope, &decision, NOW)
                .await
                .unwrap();
            let got = match got {
                DecisionOutcome::Issue(a) => {
                    let consents = world.store.consents();
                    assert_eq!(consents.len(), 1, "{}: consent recorded", case.description);
                    assert_eq!(consents[0].scopes, a.scopes, "{}", case.description);
                    assert_eq!(consents[0].account_id, a.account, "{}", case.description);
                    Outcome::Issue(leak(a.account.to_string()), leak(a.scopes.to_string()))
                }
                DecisionOutcome::Refuse(e) => {
                    assert_eq!(e.code, ErrorCode::AccessDenied, "{}", case.description);
                    Outcome::Refuse
                }
                DecisionOutcome::UnknownAccount => Outcome::UnknownAccount,
            };
            if got == Outcome::Refuse || got == Outcome::UnknownAccount {
                assert!(
                    world.store.consents().is_empty(),
                    "{}: nothing recorded",
                    case.description
                );
            }
            assert_eq!(got, case.expect, "{}", case.description);
        }
    }
}
