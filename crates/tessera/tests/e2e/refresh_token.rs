//! The refresh token grant: rotation, reuse detection, races, independent token sets.

use crate::support::flow::TestApplication;
use crate::support::TestApp;

const CB: &str = "https://partner.example/callback";

async fn token_set(app: &crate::support::TestApp, partner: &TestApplication) -> (String, String) {
    let (code, _) = app.code_for(partner, &[]).await;
    let (status, body) = app.exchange(partner, &code).await;
    assert_eq!(status, 200, "{body}");
    (
        body["access_token"].as_str().unwrap().to_owned(),
        body["refresh_token"].as_str().unwrap().to_owned(),
    )
}

store_test!(
    async fn refresh_rotates_and_the_old_tokens_die(app: &TestApp) {
        let partner = app.application(Some(CB), false, None).await;
        let (access, refresh) = token_set(app, &partner).await;
        let (status, body) = app.refresh(&partner, &refresh).await;
        assert_eq!(status, 200, "{body}");
        let new_refresh = body["refresh_token"].as_str().unwrap();
        assert_ne!(new_refresh, refresh);
        assert!(body["scope"].is_string() && body["expires_in"] == 3600);
        let new_access = body["access_token"].as_str().unwrap();
        assert_eq!(
            app.get_bearer("/v1/books", &access).await.status(),
            401,
            "the old access token died with its refresh token"
        );
        assert_eq!(app.get_bearer("/v1/books", new_access).await.status(), 200);
        let (status, body) = app.refresh(&partner, new_refresh).await;
        assert_eq!(status, 200, "{body}");
    }
);

store_test!(
    async fn refresh_reuse_revokes_token_set(app: &TestApp) {
        let partner = app.application(Some(CB), false, None).await;
        let (_, first) = token_set(app, &partner).await;
        let (_, body) = app.refresh(&partner, &first).await;
        let second = body["refresh_token"].as_str().unwrap().to_owned();
        let live_access = body["access_token"].as_str().unwrap().to_owned();
        // Past refresh_retry_window: no longer a retry of a lost response.
        app.advance(10);
        let (status, err) = app.refresh(&partner, &first).await;
        assert_eq!(
            (status, err["error"].as_str()),
            (400, Some("invalid_grant"))
        );
        assert_eq!(
            app.refresh(&partner, &second).await.1["error"],
            "invalid_grant",
            "the whole set is revoked"
        );
        assert_eq!(
            app.get_bearer("/v1/books", &live_access).await.status(),
            401
        );
    }
);

store_test!(
    async fn refresh_token_of_another_client_is_invalid_grant_and_untouched(app: &TestApp) {
        let partner = app.application(Some(CB), false, None).await;
        let other = app.application(Some(CB), false, None).await;
        let (_, refresh) = token_set(app, &partner).await;
        assert_eq!(
            app.refresh(&other, &refresh).await.1["error"],
            "invalid_grant"
        );
        assert_eq!(
            app.refresh(&partner, &refresh).await.0,
            200,
            "the owner's token still works"
        );
    }
);

store_test!(
    async fn scope_may_narrow_never_widen(app: &TestApp) {
        let partner = app.application(Some(CB), false, None).await;
        let (code, _) = app
            .code_for(&partner, &[("scope", "books:read books:write")])
            .await;
        let (_, body) = app.exchange(&partner, &code).await;
        let refresh = body["refresh_token"].as_str().unwrap();
        let (_, err) = app
            .app_token(
                &partner,
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", refresh),
                    ("scope", "books:read account:read"),
                ],
            )
            .await;
        assert_eq!(err["error"], "invalid_scope");
        let (status, body) = app
            .app_token(
                &partner,
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", refresh),
                    ("scope", "books:read"),
                ],
            )
            .await;
        assert_eq!(status, 200);
        assert_eq!(body["scope"], "books:read");
    }
);

store_test!(
    async fn refresh_tokens_have_no_expiry_by_default(app: &TestApp) {
        let partner = app.application(Some(CB), false, None).await;
        let (access, refresh) = token_set(app, &partner).await;
        app.advance(3600);
        assert_eq!(
            app.get_bearer("/v1/books", &access).await.status(),
            401,
            "access tokens expire"
        );
        app.advance(180 * 86_400);
        assert_eq!(
            app.refresh(&partner, &refresh).await.0,
            200,
            "refresh tokens do not"
        );
    }
);

store_test!(async fn optional_idle_lifetime_expires_refresh_tokens(app: &TestApp) with |c| {
    c.refresh_token_idle_ttl = 86_400;
} {
    let partner = app.application(Some(CB), false, None).await;
    let (_, refresh) = token_set(app, &partner).await;
    app.advance(86_400);
    assert_eq!(app.refresh(&partner, &refresh).await.1["error"], "invalid_grant");
});

store_test!(
    async fn independent_token_sets_do_not_affect_each_other(app: &TestApp) {
        let partner = app.application(Some(CB), false, None).await;
        let (_, a) = token_set(app, &partner).await;
        let (access_b, b) = token_set(app, &partner).await;
        let (_, body) = app.refresh(&partner, &a).await;
        app.advance(10);
        app.refresh(&partner, &a).await; // reuse past the retry window: set A is revoked
        assert_eq!(
            app.refresh(&partner, body["refresh_token"].as_str().unwrap())
                .await
                .0,
            400
        );
        assert_eq!(
            app.get_bearer("/v1/books", &access_b).await.status(),
            200,
            "set B lives on"
        );
        assert_eq!(app.refresh(&partner, &b).await.0, 200);
    }
);

/// `n` refreshes of `refresh` at once, a connection each, as many clients racing would:
/// each answer's status and body.
pub(crate) async fn concurrent_refreshes(
    app: &TestApp,
    partner: &TestApplication,
    refresh: &str,
    n: usize,
) -> Vec<(u16, serde_json::Value)> {
    let url = app.url("/oauth/token");
    let body = crate::support::flow::form_body(&[
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh),
        ("client_id", &partner.client_id),
        ("client_secret", partner.client_secret.as_deref().unwrap()),
    ]);
    let mut tasks = Vec::new();
    for _ in 0..n {
        let (url, body) = (url.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            let res = reqwest::Client::new()
                .post(url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body)
                .send()
                .await
                .unwrap();
            let status = res.status().as_u16();
            (status, res.json::<serde_json::Value>().await.unwrap())
        }));
    }
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap());
    }
    answers
}

store_test!(
    async fn a_retried_refresh_gets_the_same_pair_and_the_window_closes_on_use(app: &TestApp) {
        let partner = app.application(Some(CB), false, None).await;
        let (_, first) = token_set(app, &partner).await;
        let (status, lost) = app.refresh(&partner, &first).await;
        assert_eq!(status, 200, "{lost}");
        // The response was lost; the client retries the same request 9 s later.
        app.advance(9);
        let (status, again) = app.refresh(&partner, &first).await;
        assert_eq!(status, 200, "{again}");
        assert_eq!(again["access_token"], lost["access_token"]);
        assert_eq!(again["refresh_token"], lost["refresh_token"]);
        assert_eq!(again["expires_in"], 3600 - 9);
        let access = again["access_token"].as_str().unwrap();
        assert_eq!(app.get_bearer("/v1/books", access).await.status(), 200);
        // The client moves on with the new token: the old one is now only reuse.
        let (status, next) = app
            .refresh(&partner, again["refresh_token"].as_str().unwrap())
            .await;
        assert_eq!(status, 200, "{next}");
        let (status, err) = app.refresh(&partner, &first).await;
        assert_eq!(
            (status, err["error"].as_str()),
            (400, Some("invalid_grant"))
        );
        let newest = next["refresh_token"].as_str().unwrap();
        assert_eq!(
            app.refresh(&partner, newest).await.1["error"],
            "invalid_grant",
            "set revoked"
        );
        let metrics = app
            .http
            .get(app.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            metrics.contains("tessera_refresh_retries_answered_total 1"),
            "{metrics}"
        );
    }
);

store_test!(
    async fn a_retry_asking_another_scope_is_reuse(app: &TestApp) {
        let partner = app.application(Some(CB), false, None).await;
        let (_, first) = token_set(app, &partner).await;
        let (_, lost) = app.refresh(&partner, &first).await;
        let retry = [
            ("grant_type", "refresh_token"),
            ("refresh_token", first.as_str()),
            ("scope", "books:read"),
        ];
        let (status, err) = app.app_token(&partner, &retry).await;
        assert_eq!(
            (status, err["error"].as_str()),
            (400, Some("invalid_grant")),
            "{err}"
        );
        let newer = lost["refresh_token"].as_str().unwrap();
        assert_eq!(
            app.refresh(&partner, newer).await.1["error"],
            "invalid_grant"
        );
    }
);

// A second `tessera serve` process on the same store answers the retry of a refresh the
// first process rotated: the answer is in the store, sealed with the shared key.
store_test!(
    async fn another_process_answers_the_retry_with_the_same_pair(app: &TestApp) {
        let other = app.spawn_process_replica().await;
        // The replica runs on the wall clock; so does this server, from here on.
        app.catch_up_with_wall_clock();
        let partner = app.application(Some(CB), false, None).await;
        let (_, first) = token_set(app, &partner).await;
        let (_, lost) = app.refresh(&partner, &first).await;
        let res = app
            .http
            .post(format!("{other}/oauth/token"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(crate::support::flow::form_body(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", &first),
                ("client_id", &partner.client_id),
                ("client_secret", partner.client_secret.as_deref().unwrap()),
            ]))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let again: serde_json::Value = res.json().await.unwrap();
        assert_eq!(again["refresh_token"], lost["refresh_token"]);
        assert_eq!(again["access_token"], lost["access_token"]);
    }
);

// With the retry window on (the default), concurrent refreshes of one token still issue
// one token pair: a request that found the token unspent and lost the race is reuse; one
// that came after the winner committed may get the winner's pair again.
store_test!(
    async fn concurrent_refreshes_issue_one_pair_with_the_retry_window_on(app: &TestApp) {
        let partner = app.application(Some(CB), false, None).await;
        let (_, refresh) = token_set(app, &partner).await;
        let answers = concurrent_refreshes(app, &partner, &refresh, 100).await;
        let pairs: std::collections::BTreeSet<String> = answers
            .iter()
            .filter(|(status, _)| *status == 200)
            .map(|(_, body)| format!("{} {}", body["access_token"], body["refresh_token"]))
            .collect();
        assert_eq!(pairs.len(), 1, "one pair, whoever got it: {answers:?}");
        for (status, body) in &answers {
            assert!(
                *status == 200 || (*status == 400 && body["error"] == "invalid_grant"),
                "{status} {body}"
            );
        }
        let raced = answers.iter().any(|(status, _)| *status == 400);
        let pair = answers.iter().find(|(status, _)| *status == 200).unwrap();
        let next = app
            .refresh(&partner, pair.1["refresh_token"].as_str().unwrap())
            .await;
        assert_eq!(
            next.0 == 200,
            !raced,
            "a lost race revoked the set: {next:?}"
        );
    }
);

store_test!(async fn hundred_concurrent_refreshes_exactly_one_succeeds(app: &TestApp) with |c| {
    c.refresh_retry_window = 0;
} {
    let partner = app.application(Some(CB), false, None).await;
    let (_, refresh) = token_set(app, &partner).await;
    let statuses: Vec<u16> = concurrent_refreshes(app, &partner, &refresh, 100)
        .await
        .into_iter()
        .map(|(status, _)| status)
        .collect();
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 400).count(), 99, "{statuses:?}");
});

store_test!(
    async fn housekeeping_deletes_refresh_tokens_spent_or_revoked_thirty_days_ago(app: &TestApp) {
        use std::time::Duration;
        use tessera_core::domain::ordered_secret;

        let partner = app.application(Some(CB), false, None).await;
        let (_, first) = token_set(app, &partner).await;
        let (_, body) = app.refresh(&partner, &first).await;
        let second = body["refresh_token"].as_str().unwrap().to_owned();
        let (_, revoked) = token_set(app, &partner).await;
        let secret = partner.client_secret.as_deref().unwrap();
        let form = crate::support::flow::form_body(&[
            ("token", &revoked),
            ("client_id", &partner.client_id),
            ("client_secret", secret),
        ]);
        assert_eq!(app.post_form("/oauth/revoke", &form).await.status(), 200);
        let stored = |token: String| async move {
            let hash = ordered_secret::key(&token);
            app.store()
                .find_refresh_token(&hash)
                .await
                .unwrap()
                .is_some()
        };
        assert!(stored(first.clone()).await && stored(revoked.clone()).await);

        app.advance(30 * 86_400 + 61);
        let pruned = crate::support::eventually(Duration::from_secs(2), || async {
            !stored(first.clone()).await && !stored(revoked.clone()).await
        })
        .await;
        assert!(
            pruned.is_some(),
            "the spent token and the revoked set's token are gone"
        );
        assert!(stored(second.clone()).await, "the live token stays");
        // Unknown now: still refused, and the set it came from lives on.
        assert_eq!(
            app.refresh(&partner, &first).await.1["error"],
            "invalid_grant"
        );
        let (status, body) = app.refresh(&partner, &second).await;
        assert_eq!(status, 200, "{body}");
    }
);

store_test!(
    async fn a_refresh_token_issued_before_ordered_keys_still_rotates(app: &TestApp) {
        use tessera_core::domain::{ordered_secret, SecretHash, TokenSetId};
        use tessera_core::store::RefreshToken;
        let partner = app.application(Some(CB), false, None).await;
        let (_, current) = token_set(app, &partner).await;
        assert_eq!(current.len(), "rt_".len() + 16 + 43, "{current}");
        let (_, issued) = app
            .store()
            .find_refresh_token(&ordered_secret::key(&current))
            .await
            .unwrap()
            .expect("found by its ordered key");
        // What an earlier release issued: `rt_` and 256 random bits, stored by their SHA-256.
        let older = tessera_core::random::token::<32>("rt_").unwrap();
        let mut set = issued.clone();
        set.id = TokenSetId::generate().unwrap();
        let first = RefreshToken {
            token_hash: SecretHash::of(older.as_bytes()),
            token_set_id: set.id.clone(),
            created_at: app.now(),
            used_at: None,
            access_jti: "jti-of-an-older-release".into(),
            access_expires_at: app.now() + 60,
        };
        assert!(app.store().insert_token_set(&set, &first).await.unwrap());

        let (status, body) = app.refresh(&partner, &older).await;
        assert_eq!(status, 200, "{body}");
        let next = body["refresh_token"].as_str().unwrap();
        assert!(
            next.len() == current.len() && next != current,
            "the successor has the ordered format: {next}"
        );
        app.advance(11);
        assert_eq!(
            app.refresh(&partner, &older).await.1["error"],
            "invalid_grant",
            "the older token was spent like any other"
        );
        assert_eq!(
            app.refresh(&partner, next).await.1["error"],
            "invalid_grant",
            "its reuse revoked the set it started"
        );
        let (status, body) = app.refresh(&partner, &current).await;
        assert_eq!(status, 200, "another set is untouched: {body}");
    }
);
