//! The refresh token grant: rotation, reuse detection, races, independent token sets.

use std::sync::Arc;

use crate::support::flow::TestApplication;

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
        app.refresh(&partner, &a).await; // reuse: set A is revoked
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

store_test!(
    async fn hundred_concurrent_refreshes_exactly_one_succeeds(app: &TestApp) {
        let partner = Arc::new(app.application(Some(CB), false, None).await);
        let (_, refresh) = token_set(app, &partner).await;
        let url = app.url("/oauth/token");
        let body = crate::support::flow::form_body(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("client_id", &partner.client_id),
            ("client_secret", partner.client_secret.as_deref().unwrap()),
        ]);
        let mut tasks = Vec::new();
        for _ in 0..100 {
            let (url, body) = (url.clone(), body.clone());
            // A connection each, as many clients racing would.
            tasks.push(tokio::spawn(async move {
                let http = reqwest::Client::new();
                http.post(url)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(body)
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            }));
        }
        let mut statuses = Vec::new();
        for t in tasks {
            statuses.push(t.await.unwrap());
        }
        assert_eq!(
            statuses.iter().filter(|s| **s == 200).count(),
            1,
            "{statuses:?}"
        );
        assert_eq!(
            statuses.iter().filter(|s| **s == 400).count(),
            99,
            "{statuses:?}"
        );
    }
);
