//! The refresh token grant (RFC 6749 §6) with rotation and reuse detection
//! (RFC 9700 §4.14.2): every refresh returns a new refresh token, the old one and its access
//! token die, and presenting a spent refresh token revokes the whole token set, unless it is
//! a retry of the same request within the retry window (`refresh_retry.rs`). The store only
//! reports what it found; the decisions are all here.

use super::identity::{id_token_for, SignIn};
use super::refresh_retry;
use super::request::Form;
use super::response::TokenResponse;
use super::scope::{granted_scope, requested_scope};
use super::token_set::{
    new_refresh_token, revoke_token_set, token_type, GrantContext, SetToRevoke,
};
use crate::domain::{ordered_secret, Client};
use crate::error::ErrorCode;
use crate::error::OAuthError;
use crate::store::{RefreshToken, Rotation, TokenSet};
use crate::token::issue::{issue_access_token, Subject};
use crate::UnixSeconds;

/// Optional lifetimes of refresh tokens; `None`: no limit (the seeds' default).
#[derive(Debug, Clone, Copy, Default)]
pub struct RefreshPolicy {
    /// A refresh token unused for this long expires, seconds.
    pub idle_ttl: Option<i64>,
    /// A token set older than this can no longer be refreshed, seconds.
    pub absolute_ttl: Option<i64>,
    /// For this long after a rotation, seconds, the same request again gets the same
    /// answer instead of counting as reuse (`refresh_retry.rs`); 0: never.
    pub retry_window: i64,
}

impl RefreshPolicy {
    /// Whether `token` of `set` has outlived the idle or the absolute lifetime at `now`;
    /// the token endpoint refuses it and introspection calls it inactive.
    pub fn expired(&self, token: &RefreshToken, set: &TokenSet, now: UnixSeconds) -> bool {
        let idle = self
            .idle_ttl
            .is_some_and(|ttl| now >= token.created_at + ttl);
        let absolute = self
            .absolute_ttl
            .is_some_and(|ttl| now >= set.created_at + ttl);
        idle || absolute
    }
}

fn invalid() -> OAuthError {
    OAuthError::invalid_grant("the refresh token is invalid, expired or revoked")
}

/// §6 with rotation: answers a new access token and a new refresh token for `client`'s
/// live, unexpired refresh token; a replayed one revokes its whole set.
#[tracing::instrument(level = "debug", skip_all, fields(client_id = %client.id))]
pub async fn refresh(
    cx: &GrantContext<'_>,
    client: &Client,
    form: &Form,
    lifetimes: &RefreshPolicy,
) -> Result<TokenResponse, OAuthError> {
    let GrantContext {
        store,
        caches,
        master,
        key,
        policy,
        dpop_jkt,
        now,
    } = *cx;
    let presented = form.require("refresh_token")?;
    let (old, set) = store
        .find_refresh_token(&ordered_secret::key(presented))
        .await?
        .ok_or_else(invalid)?;
    // Another client's token is refused without touching it: the caller is not its owner.
    if set.client_id != client.id {
        return Err(OAuthError::invalid_grant(
            "the refresh token was issued to another client",
        ));
    }
    if set.revoked_at.is_some() {
        return Err(invalid());
    }
    // RFC 9449 §5.0: a public client's set is bound to its DPoP key; nothing else refreshes it.
    if let Some(bound) = &set.dpop_jkt {
        if dpop_jkt != Some(bound.as_str()) {
            return Err(OAuthError::new(
                ErrorCode::InvalidDpopProof,
                "this refresh token is bound to a DPoP key; send a proof made with that key",
            ));
        }
    }
    // What was asked, normalized: a retry must ask the same. A malformed `scope` is no
    // retry: with a spent token it is reuse like any other request, never a way around it.
    let requested = requested_scope(form)
        .ok()
        .map(|scope| scope.map(|s| s.to_string()));
    if let Some(used_at) = old.used_at {
        if let Some(requested) = requested.filter(|_| now < used_at + lifetimes.retry_window) {
            if let Some(answer) = retried(cx, &old, requested.as_deref()).await? {
                return Ok(answer);
            }
        }
        return Err(reused(cx, &set).await?);
    }
    if lifetimes.expired(&old, &set, now) {
        return Err(OAuthError::invalid_grant(
            "the refresh token has expired; authorize again",
        ));
    }
    // §6: the scope may narrow, never widen.
    let scope = granted_scope(form, &set.scopes)?;
    let subject = Subject {
        sub: set.user_id.as_str(),
        account: Some(set.account_id.as_str()),
        client_id: client.id.as_str(),
        scope: &scope,
        token_set: Some(set.id.as_str()),
        jkt: dpop_jkt,
    };
    let ttl = policy.user_token_ttl;
    let (access_token, claims) = issue_access_token(key, policy, &subject, ttl, now)?;
    let (refresh_token, new) = new_refresh_token(&set.id, &claims.jti, claims.exp, now)?;
    // OpenID Connect Core §12.2: the same user, client and original `auth_time`, no nonce.
    let sign_in = SignIn {
        client_id: client.id.as_str(),
        user: &set.user_id,
        scopes: &scope,
        auth_time: set.auth_time,
        nonce: None,
    };
    let id_token = id_token_for(cx, &sign_in, &access_token, ttl).await?;
    let answer = TokenResponse {
        id_token,
        access_token,
        token_type: token_type(dpop_jkt),
        expires_in: ttl,
        refresh_token: Some(refresh_token),
        scope: Some(scope.to_string()),
    };
    // `requested` parsed: `granted_scope` above refused a malformed one.
    let retry = match requested {
        Some(requested) if lifetimes.retry_window > 0 => {
            refresh_retry::seal(master, &old.token_hash, requested, &answer, claims.exp)
        }
        _ => None,
    };
    match store
        .rotate_refresh_token(&old, &new, retry.as_deref(), now)
        .await?
    {
        Rotation::Rotated => {
            // The access token issued with the old refresh token dies with it; this process
            // knows at once, the others through the change feed.
            caches
                .revoked
                .insert(old.access_jti.clone(), old.access_expires_at);
            Ok(answer)
        }
        // A concurrent refresh with the same token won: as much a replay as a late one.
        Rotation::Reused => Err(reused(cx, &set).await?),
        Rotation::SetRevoked | Rotation::NotFound => Err(invalid()),
    }
}

/// The answer the rotation that spent `old` gave, when this is a retry of that request and
/// the refresh token in it is still unused; `None`: treat it as reuse.
async fn retried(
    cx: &GrantContext<'_>,
    old: &RefreshToken,
    requested: Option<&str>,
) -> Result<Option<TokenResponse>, OAuthError> {
    let Some(sealed) = cx.store.refresh_retry(&old.token_hash).await? else {
        return Ok(None);
    };
    let Some(retry) = refresh_retry::open(cx.master, &old.token_hash, &sealed, requested, cx.now)
    else {
        return Ok(None);
    };
    // Once the new refresh token has been used (by the client or by a thief), the old
    // one is only reuse: the window closes.
    let successor = cx.store.find_refresh_token(&retry.successor).await?;
    let open =
        successor.is_some_and(|(new, set)| new.used_at.is_none() && set.revoked_at.is_none());
    if !open {
        return Ok(None);
    }
    cx.caches.counters.refresh_retry.inc();
    tracing::info!(token_set = %old.token_set_id, "refresh retried within the window; the same answer is sent again");
    Ok(Some(retry.answer))
}

/// RFC 9700 §4.14.2: a spent refresh token presented again means two parties hold the
/// chain; the whole set dies, access tokens included.
async fn reused(cx: &GrantContext<'_>, set: &TokenSet) -> Result<OAuthError, OAuthError> {
    revoke_token_set(
        cx.store,
        cx.caches,
        cx.policy,
        SetToRevoke::Id(&set.id),
        cx.now,
    )
    .await?;
    cx.caches.counters.refresh_reuse.inc();
    tracing::warn!(client_id = %set.client_id, token_set = %set.id, "refresh token reused; token set revoked");
    Ok(OAuthError::invalid_grant(
        "the refresh token was already used; the token set is revoked",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;
    use crate::oauth::token::token;
    use crate::store::AuthorizationStore;
    use crate::testing::{application, authenticated, request, user, World, NOW};

    async fn refresh_as(
        world: &World,
        client: &Client,
        refresh_token: &str,
        rest: &str,
        now: UnixSeconds,
    ) -> Result<TokenResponse, OAuthError> {
        let body = authenticated(
            client,
            &format!("grant_type=refresh_token&refresh_token={refresh_token}{rest}"),
        );
        token(&request(&body), &world.endpoint(), now).await
    }

    #[tokio::test]
    async fn refresh_rules() {
        enum Setup {
            Live,
            SetRevoked,
            OtherClient,
            Unknown,
        }
        struct Case {
            description: &'static str,
            policy: RefreshPolicy,
            setup: Setup,
            rest: &'static str,
            after: i64,
            /// The new access token's scope, or the error.
            expect: Result<&'static str, ErrorCode>,
        }
        let limits = RefreshPolicy {
            idle_ttl: Some(100),
            absolute_ttl: Some(1000),
            retry_window: 0,
        };
        let absolute_only = RefreshPolicy {
            idle_ttl: None,
            absolute_ttl: Some(1000),
            retry_window: 0,
        };
        let cases = vec![
            Case {
                description: "should rotate a live token and keep the set's scope",
                policy: limits,
                setup: Setup::Live,
                rest: "",
                after: 99,
                expect: Ok("books:read books:write"),
            },
            Case {
                description: "should narrow the scope when asked",
                policy: limits,
                setup: Setup::Live,
                rest: "&scope=books:read",
                after: 0,
                expect: Ok("books:read"),
            },
            Case {
                description: "should fail because a wider scope is asked (§6)",
                policy: limits,
                setup: Setup::Live,
                rest: "&scope=books:read+admin",
                after: 0,
                expect: Err(ErrorCode::InvalidScope),
            },
            Case {
                description: "should fail because the token sat unused past the idle lifetime",
                policy: limits,
                setup: Setup::Live,
                rest: "",
                after: 100,
                expect: Err(ErrorCode::InvalidGrant),
            },
            Case {
                description: "should fail because the set is past its absolute lifetime",
                policy: absolute_only,
                setup: Setup::Live,
                rest: "",
                after: 1000,
                expect: Err(ErrorCode::InvalidGrant),
            },
            Case {
                description: "should refresh without limits however old the token is",
                policy: RefreshPolicy::default(),
                setup: Setup::Live,
                rest: "",
                after: 10_000_000,
                expect: Ok("books:read books:write"),
            },
            Case {
                description: "should fail because the set was revoked",
                policy: limits,
                setup: Setup::SetRevoked,
                rest: "",
                after: 0,
                expect: Err(ErrorCode::InvalidGrant),
            },
            Case {
                description: "should fail because the token belongs to another client",
                policy: limits,
                setup: Setup::OtherClient,
                rest: "",
                after: 0,
                expect: Err(ErrorCode::InvalidGrant),
            },
            Case {
                description: "should fail because the token is unknown",
                policy: limits,
                setup: Setup::Unknown,
                rest: "",
                after: 0,
                expect: Err(ErrorCode::InvalidGrant),
            },
        ];
        for case in cases {
            let world = World::with_refresh(case.policy);
            let app = world.add(application(false, true, None)).await;
            let other = world.add(application(false, true, None)).await;
            let (set, rt) = world.token_set(&app, &user(&["acct_a"]), NOW).await;
            let (caller, presented) = match case.setup {
                Setup::Live => (&app, rt.clone()),
                Setup::SetRevoked => {
                    world.store.revoke_token_set(&set.id, NOW).await.unwrap();
                    (&app, rt.clone())
                }
                Setup::OtherClient => (&other, rt.clone()),
                Setup::Unknown => (&app, "rt_unknown".to_owned()),
            };
            let got = refresh_as(&world, caller, &presented, case.rest, NOW + case.after).await;
            let old = world
                .store
                .refresh_token(&ordered_secret::key(&rt))
                .unwrap();
            match got {
                Ok(r) => {
                    assert!(case.expect.is_ok(), "{}: succeeded", case.description);
                    assert_eq!(r.scope.as_deref(), case.expect.ok(), "{}", case.description);
                    assert!(
                        old.used_at.is_some(),
                        "{}: old token spent",
                        case.description
                    );
                    assert!(
                        world.caches.revoked.contains("jti-first")
                            && world.store.is_token_revoked("jti-first"),
                        "{}: the old access token dies with it",
                        case.description
                    );
                    let new = r.refresh_token.unwrap();
                    assert_ne!(new, rt, "{}", case.description);
                }
                Err(e) => {
                    assert_eq!(Err(e.code), case.expect, "{}", case.description);
                    assert_eq!(old.used_at, None, "{}: token untouched", case.description);
                    let revoked_before = matches!(case.setup, Setup::SetRevoked);
                    assert_eq!(
                        world.store.token_set(&set.id).unwrap().revoked_at.is_some(),
                        revoked_before,
                        "{}: a refused refresh revokes nothing",
                        case.description
                    );
                }
            }
        }
    }

    #[tokio::test]
    async fn reuse_of_a_spent_token_revokes_the_whole_set() {
        // The store only reports the reuse; this proves the core revokes.
        let world = World::new();
        let app = world.add(application(false, true, None)).await;
        let (set, first) = world.token_set(&app, &user(&["acct_a"]), NOW).await;
        let second = refresh_as(&world, &app, &first, "", NOW)
            .await
            .unwrap()
            .refresh_token
            .unwrap();
        let err = refresh_as(&world, &app, &first, "", NOW + 1)
            .await
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidGrant);
        assert!(
            err.description.contains("already used"),
            "{}",
            err.description
        );
        assert!(world.store.token_set(&set.id).unwrap().revoked_at.is_some());
        assert!(world.caches.revoked_sets.contains(set.id.as_str()));
        assert_eq!(world.caches.counters.refresh_reuse.get(), 1, "counted once");
        let err = refresh_as(&world, &app, &second, "", NOW + 2)
            .await
            .unwrap_err();
        assert_eq!(
            err.code,
            ErrorCode::InvalidGrant,
            "the newer token died too"
        );
    }

    #[tokio::test]
    async fn a_retry_within_the_window_gets_the_same_answer_and_anything_else_is_reuse() {
        enum Then {
            /// The same request again, `after` seconds after the first.
            Retry,
            /// The new refresh token is used first, then the old one is retried.
            SuccessorUsed,
        }
        struct Case {
            description: &'static str,
            first: &'static str,
            again: &'static str,
            after: i64,
            then: Then,
            same_answer: bool,
        }
        let cases = [
            Case {
                description: "should answer a retry within the window with the same pair",
                first: "",
                again: "",
                after: 9,
                then: Then::Retry,
                same_answer: true,
            },
            Case {
                description: "should answer a narrowed retry that asks the same scope",
                first: "&scope=books:read",
                again: "&scope=books:read",
                after: 0,
                then: Then::Retry,
                same_answer: true,
            },
            Case {
                description: "should take a retry at the window's end for reuse",
                first: "",
                again: "",
                after: 10,
                then: Then::Retry,
                same_answer: false,
            },
            Case {
                description: "should take a request asking another scope for reuse",
                first: "",
                again: "&scope=books:read",
                after: 1,
                then: Then::Retry,
                same_answer: false,
            },
            Case {
                description: "should take the old token for reuse once the new one was used",
                first: "",
                again: "",
                after: 2,
                then: Then::SuccessorUsed,
                same_answer: false,
            },
        ];
        for case in cases {
            let world = World::with_refresh(RefreshPolicy {
                retry_window: 10,
                ..RefreshPolicy::default()
            });
            let app = world.add(application(false, true, None)).await;
            let (set, rt) = world.token_set(&app, &user(&["acct_a"]), NOW).await;
            let first = refresh_as(&world, &app, &rt, case.first, NOW)
                .await
                .unwrap();
            if let Then::SuccessorUsed = case.then {
                let successor = first.refresh_token.as_deref().unwrap();
                refresh_as(&world, &app, successor, "", NOW + 1)
                    .await
                    .unwrap();
            }
            let again = refresh_as(&world, &app, &rt, case.again, NOW + case.after).await;
            let revoked = world.store.token_set(&set.id).unwrap().revoked_at.is_some();
            match again {
                Ok(answer) => {
                    assert!(case.same_answer, "{}: answered", case.description);
                    assert_eq!(
                        answer.access_token, first.access_token,
                        "{}",
                        case.description
                    );
                    assert_eq!(
                        answer.refresh_token, first.refresh_token,
                        "{}",
                        case.description
                    );
                    assert_eq!(answer.scope, first.scope, "{}", case.description);
                    assert_eq!(answer.expires_in, 600 - case.after, "{}", case.description);
                    assert!(!revoked, "{}: nothing revoked", case.description);
                    assert_eq!(world.caches.counters.refresh_retry.get(), 1);
                    assert_eq!(world.caches.counters.refresh_reuse.get(), 0);
                }
                Err(e) => {
                    assert!(!case.same_answer, "{}: refused", case.description);
                    assert_eq!(e.code, ErrorCode::InvalidGrant, "{}", case.description);
                    assert!(revoked, "{}: the set is revoked", case.description);
                    assert_eq!(world.caches.counters.refresh_reuse.get(), 1);
                }
            }
        }
    }

    #[tokio::test]
    async fn a_spent_token_with_a_malformed_scope_is_reuse_not_a_way_around_it() {
        let world = World::with_refresh(RefreshPolicy {
            retry_window: 10,
            ..RefreshPolicy::default()
        });
        let app = world.add(application(false, true, None)).await;
        let (set, rt) = world.token_set(&app, &user(&["acct_a"]), NOW).await;
        refresh_as(&world, &app, &rt, "", NOW).await.unwrap();
        let err = refresh_as(&world, &app, &rt, "&scope=%22bad%22", NOW + 1)
            .await
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidGrant, "{}", err.description);
        assert!(world.store.token_set(&set.id).unwrap().revoked_at.is_some());
    }

    #[tokio::test]
    async fn a_retry_of_a_revoked_set_or_with_the_window_off_gets_nothing() {
        let world = World::with_refresh(RefreshPolicy {
            retry_window: 10,
            ..RefreshPolicy::default()
        });
        let app = world.add(application(false, true, None)).await;
        let (set, rt) = world.token_set(&app, &user(&["acct_a"]), NOW).await;
        refresh_as(&world, &app, &rt, "", NOW).await.unwrap();
        world
            .store
            .revoke_token_set(&set.id, NOW + 1)
            .await
            .unwrap();
        let err = refresh_as(&world, &app, &rt, "", NOW + 2)
            .await
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidGrant);
        assert_eq!(world.caches.counters.refresh_retry.get(), 0);

        let off = World::new();
        let app = off.add(application(false, true, None)).await;
        let (set, rt) = off.token_set(&app, &user(&["acct_a"]), NOW).await;
        refresh_as(&off, &app, &rt, "", NOW).await.unwrap();
        let err = refresh_as(&off, &app, &rt, "", NOW).await.unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidGrant);
        assert!(off.store.token_set(&set.id).unwrap().revoked_at.is_some());
    }

    #[tokio::test]
    async fn losing_a_concurrent_rotation_is_a_reuse_and_revokes_the_set() {
        // Even with a retry window: a request that found the token unspent and lost the
        // race was sent while the first was in flight, which a client retrying a lost
        // response does not do.
        let world = World::with_refresh(RefreshPolicy {
            retry_window: 10,
            ..RefreshPolicy::default()
        });
        let app = world.add(application(false, true, None)).await;
        let (set, rt) = world.token_set(&app, &user(&["acct_a"]), NOW).await;
        world
            .store
            .lose_next_rotation
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let err = refresh_as(&world, &app, &rt, "", NOW).await.unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidGrant);
        assert!(world.store.token_set(&set.id).unwrap().revoked_at.is_some());
        assert!(world.caches.revoked_sets.contains(set.id.as_str()));
    }
}
