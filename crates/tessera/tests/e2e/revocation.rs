//! Revocation (RFC 7009), introspection (RFC 7662) and the credential lifecycle, within one
//! server, across the CLI, and across two server processes sharing the store.

use std::time::Duration;

use serde_json::{json, Value};

use crate::support::flow::{form_body, TestApplication};
use crate::support::{eventually, TestApp, TestClient};

const CB: &str = "https://partner.example/callback";

async fn call(app: &TestApp, path: &str, c: &TestClient, params: &[(&str, &str)]) -> (u16, Value) {
    let res = app
        .http
        .post(app.url(path))
        .basic_auth(&c.client_id, Some(&c.client_secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form_body(params))
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    (
        status,
        if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap()
        },
    )
}

fn as_client(app: &TestApplication) -> TestClient {
    TestClient {
        account_id: String::new(),
        client_id: app.client_id.clone(),
        client_secret: app.client_secret.clone().unwrap(),
    }
}

async fn resource_server(app: &TestApp) -> TestClient {
    let c = app.cli_json(&["client", "create-resource-server", "--name", "billing-api"]);
    TestClient {
        account_id: String::new(),
        client_id: c["client_id"].as_str().unwrap().to_owned(),
        client_secret: c["client_secret"].as_str().unwrap().to_owned(),
    }
}

store_test!(
    async fn revoked_access_token_is_refused_at_once_and_a_new_one_works(app: &TestApp) {
        let c = app.client(None).await;
        let token = app.access_token(&c).await;
        let (status, body) = call(
            app,
            "/oauth/revoke",
            &c,
            &[("token", &token), ("token_type_hint", "access_token")],
        )
        .await;
        assert_eq!((status, body), (200, Value::Null));
        assert_eq!(app.get_bearer("/v1/account", &token).await.status(), 401);
        let (_, intro) = call(app, "/oauth/introspect", &c, &[("token", &token)]).await;
        assert_eq!(intro, json!({"active": false}));
        // The day ticket is gone; the season pass still works.
        let fresh = app.access_token(&c).await;
        assert_eq!(app.get_bearer("/v1/account", &fresh).await.status(), 200);
    }
);

store_test!(
    async fn rfc7009_unknown_or_repeated_revocation_is_200_and_errors_are_standard(app: &TestApp) {
        let c = app.client(None).await;
        let token = app.access_token(&c).await;
        assert_eq!(
            call(app, "/oauth/revoke", &c, &[("token", "nonsense")])
                .await
                .0,
            200
        );
        assert_eq!(
            call(app, "/oauth/revoke", &c, &[("token", &token)]).await.0,
            200
        );
        assert_eq!(
            call(app, "/oauth/revoke", &c, &[("token", &token)]).await.0,
            200
        );
        let (status, err) = call(app, "/oauth/revoke", &c, &[]).await;
        assert_eq!(
            (status, err["error"].as_str()),
            (400, Some("invalid_request"))
        );
        let res = app
            .post_form("/oauth/revoke", &form_body(&[("token", &token)]))
            .await;
        assert_eq!(res.status(), 401, "client authentication is required");
        for path in ["/oauth/revoke", "/oauth/introspect"] {
            let res = app.http.get(app.url(path)).send().await.unwrap();
            assert_eq!(res.status(), 405, "{path}");
            assert_eq!(res.headers()["allow"], "POST", "{path}");
            let body: serde_json::Value = res.json().await.unwrap();
            assert_eq!(body["error"], "invalid_request", "{path}");
        }
    }
);

store_test!(
    async fn rfc7009_2_2_1_an_unknown_token_type_hint_is_unsupported_token_type(app: &TestApp) {
        let c = app.client(None).await;
        let token = app.access_token(&c).await;
        let (status, body) = call(
            app,
            "/oauth/revoke",
            &c,
            &[("token", &token), ("token_type_hint", "id_token")],
        )
        .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("unsupported_token_type"))
        );
        assert!(body["error_description"]
            .as_str()
            .unwrap()
            .contains("id_token"));
        assert_eq!(app.get_bearer("/v1/account", &token).await.status(), 200);
    }
);

store_test!(
    async fn a_client_may_revoke_only_its_own_tokens(app: &TestApp) {
        let a = app.client(None).await;
        let b = app.client(None).await;
        let token = app.access_token(&a).await;
        let (status, err) = call(app, "/oauth/revoke", &b, &[("token", &token)]).await;
        assert_eq!(
            (status, err["error"].as_str()),
            (400, Some("unauthorized_client"))
        );
        assert_eq!(app.get_bearer("/v1/account", &token).await.status(), 200);
    }
);

store_test!(
    async fn revoking_a_refresh_token_kills_its_set_whatever_the_hint(app: &TestApp) {
        let partner = app.application(Some(CB), false, None).await;
        let (code, _) = app.code_for(&partner, &[]).await;
        let (_, body) = app.exchange(&partner, &code).await;
        let (access, refresh) = (
            body["access_token"].as_str().unwrap(),
            body["refresh_token"].as_str().unwrap(),
        );
        let me = as_client(&partner);
        let (_, intro) = call(app, "/oauth/introspect", &me, &[("token", refresh)]).await;
        assert_eq!(intro["active"], true);
        assert_eq!(intro["token_type"], "refresh_token");
        assert_eq!(
            call(
                app,
                "/oauth/revoke",
                &me,
                &[("token", refresh), ("token_type_hint", "access_token")]
            )
            .await
            .0,
            200
        );
        assert_eq!(
            app.refresh(&partner, refresh).await.1["error"],
            "invalid_grant"
        );
        assert_eq!(app.get_bearer("/v1/books", access).await.status(), 401);
        assert_eq!(
            call(app, "/oauth/introspect", &me, &[("token", refresh)])
                .await
                .1,
            json!({"active": false})
        );
    }
);

store_test!(
    async fn rfc7662_live_tokens_show_their_claims_and_dead_ones_only_active_false(app: &TestApp) {
        let c = app.client(Some("books:read")).await;
        let token = app.access_token(&c).await;
        let (status, intro) = call(app, "/oauth/introspect", &c, &[("token", &token)]).await;
        assert_eq!(status, 200);
        assert_eq!(intro["active"], true);
        assert_eq!(intro["scope"], "books:read");
        assert_eq!(intro["client_id"], c.client_id.as_str());
        assert_eq!(intro["sub"], c.account_id.as_str());
        assert_eq!(intro["token_type"], "Bearer");
        assert_eq!(intro["iss"], "http://tessera.test");
        assert_eq!(intro["aud"], "http://tessera.test");
        for key in ["exp", "iat", "jti"] {
            assert!(intro.get(key).is_some(), "{key}");
        }
        let inactive = json!({"active": false});
        let mut tampered = token.clone();
        tampered.pop();
        tampered.push(if token.ends_with('A') { 'B' } else { 'A' });
        assert_eq!(
            call(app, "/oauth/introspect", &c, &[("token", &tampered)])
                .await
                .1,
            inactive
        );
        assert_eq!(
            call(app, "/oauth/introspect", &c, &[("token", "unknown")])
                .await
                .1,
            inactive
        );
        let other = app.client(None).await;
        assert_eq!(
            call(app, "/oauth/introspect", &other, &[("token", &token)])
                .await
                .1,
            inactive,
            "not the caller's token"
        );
        let rs = resource_server(app).await;
        assert_eq!(
            call(app, "/oauth/introspect", &rs, &[("token", &token)])
                .await
                .1["active"],
            true,
            "resource servers see all"
        );
        app.advance(86_400);
        assert_eq!(
            call(app, "/oauth/introspect", &rs, &[("token", &token)])
                .await
                .1,
            inactive,
            "expired"
        );
        let res = app
            .post_form(
                "/oauth/introspect",
                &form_body(&[("token", &token), ("client_id", &c.client_id)]),
            )
            .await;
        assert_eq!(res.status(), 401, "introspection needs a secret");
    }
);

store_test!(
    async fn revoked_client_stops_everything_it_issued(app: &TestApp) {
        let c = app.client(None).await;
        let token = app.access_token(&c).await;
        let rs = resource_server(app).await;
        let partner = app.application(Some(CB), false, None).await;
        let (code, _) = app.code_for(&partner, &[]).await;
        let (_, body) = app.exchange(&partner, &code).await;
        let (app_access, app_refresh) = (
            body["access_token"].as_str().unwrap().to_owned(),
            body["refresh_token"].as_str().unwrap().to_owned(),
        );

        app.cli_json(&["client", "revoke", &c.client_id]);
        app.cli_json(&["client", "revoke", &partner.client_id]);
        let gone = eventually(Duration::from_secs(1), || async {
            app.get_bearer("/v1/account", &token).await.status() == 401
                && app.get_bearer("/v1/books", &app_access).await.status() == 401
        })
        .await;
        assert!(gone.is_some(), "within the 1 s bound");
        assert_eq!(
            call(app, "/oauth/introspect", &rs, &[("token", &token)])
                .await
                .1,
            json!({"active": false})
        );
        assert_eq!(
            call(app, "/oauth/introspect", &rs, &[("token", &app_refresh)])
                .await
                .1,
            json!({"active": false})
        );
        let (status, err) = app.refresh(&partner, &app_refresh).await;
        assert_eq!(
            (status, err["error"].as_str()),
            (401, Some("invalid_client"))
        );
    }
);

store_test!(
    async fn secret_rotation_overlaps_then_the_old_secret_stops(app: &TestApp) {
        let old = app.client(None).await;
        let rotated = tessera_core::manage::clients::rotate_secret(
            app.store(),
            &tessera_core::audit::Actor::cli("test"),
            &old.client_id,
            3600,
            app.now(),
        )
        .await
        .unwrap();
        let new = TestClient {
            account_id: old.account_id.clone(),
            client_id: old.client_id.clone(),
            client_secret: rotated.secret.expose().to_owned(),
        };
        let both = eventually(Duration::from_secs(1), || async {
            app.token_basic(&new, "grant_type=client_credentials")
                .await
                .status()
                == 200
        })
        .await;
        assert!(both.is_some());
        assert_eq!(
            app.token_basic(&old, "grant_type=client_credentials")
                .await
                .status(),
            200,
            "overlap"
        );
        app.advance(3600);
        assert_eq!(
            app.token_basic(&old, "grant_type=client_credentials")
                .await
                .status(),
            401
        );
        assert_eq!(
            app.token_basic(&new, "grant_type=client_credentials")
                .await
                .status(),
            200
        );

        let out = app.cli_json(&[
            "client",
            "rotate-secret",
            &old.client_id,
            "--overlap",
            "86400",
        ]);
        let newest = TestClient {
            client_secret: out["client_secret"].as_str().unwrap().to_owned(),
            ..new.clone()
        };
        app.cli_json(&["client", "expire-old-secrets", &old.client_id]);
        let ended = eventually(Duration::from_secs(1), || async {
            app.token_basic(&new, "grant_type=client_credentials")
                .await
                .status()
                == 401
        })
        .await;
        assert!(
            ended.is_some(),
            "expire-old-secrets ends the overlap at once"
        );
        assert_eq!(
            app.token_basic(&newest, "grant_type=client_credentials")
                .await
                .status(),
            200
        );
    }
);

store_test!(
    async fn users_list_and_deauthorize_applications(app: &TestApp) {
        let partner = app.application(Some(CB), false, None).await;
        let (code, user) = app.code_for(&partner, &[("scope", "books:read")]).await;
        let (_, body) = app.exchange(&partner, &code).await;
        let access = body["access_token"].as_str().unwrap().to_owned();
        let listed = app.cli_json(&["user", "authorizations", &user.email]);
        assert_eq!(listed[0]["client_id"], partner.client_id.as_str());
        assert_eq!(listed[0]["scope"], "books:read");
        assert!(listed[0]["last_used_at"].is_i64());
        let out = app.cli_json(&["user", "deauthorize", &user.email, &partner.client_id]);
        assert_eq!(out["revoked_token_sets"], 1);
        let dead = eventually(Duration::from_secs(1), || async {
            app.get_bearer("/v1/books", &access).await.status() == 401
        })
        .await;
        assert!(dead.is_some());
        assert_eq!(
            app.refresh(&partner, body["refresh_token"].as_str().unwrap())
                .await
                .1["error"],
            "invalid_grant"
        );
        assert_eq!(
            app.cli_json(&["user", "authorizations", &user.email]),
            json!([])
        );
    }
);

store_test!(
    async fn two_server_processes_share_revocations_within_the_bound(app: &TestApp) {
        let other = app.spawn_process_replica().await;
        let c = app.client(None).await;
        let token = app.access_token(&c).await;
        let res = app
            .http
            .get(format!("{other}/v1/account"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(
            res.status(),
            200,
            "the replica verifies tokens of the first server"
        );
        let res = app
            .http
            .post(format!("{other}/oauth/revoke"))
            .basic_auth(&c.client_id, Some(&c.client_secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form_body(&[("token", &token)]))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let took = eventually(Duration::from_secs(1), || async {
            app.get_bearer("/v1/account", &token).await.status() == 401
        })
        .await;
        assert!(
            took.is_some(),
            "revoked on the replica, refused here within 1 s"
        );
    }
);

store_test!(
    async fn a_replica_behind_a_pruned_change_feed_reloads_and_refuses_revoked_tokens(
        app: &TestApp,
    ) {
        let other = app.spawn_process_replica().await;
        let c = app.client(None).await;
        let token = app.access_token(&c).await;
        let at_replica = |token: String| {
            let url = format!("{other}/v1/account");
            async move {
                app.http
                    .get(url)
                    .bearer_auth(token)
                    .send()
                    .await
                    .unwrap()
                    .status()
            }
        };
        assert_eq!(at_replica(token.clone()).await, 200);

        app.signal_replicas("STOP");
        let c = &c;
        let revoke = |token: String| async move {
            call(app, "/oauth/revoke", c, &[("token", &token)]).await.0
        };
        assert_eq!(revoke(token.clone()).await, 200);
        // A later change: pruning keeps the newest one, and it is not the revocation.
        let later = app.access_token(c).await;
        assert_eq!(revoke(later).await, 200);
        app.store().prune_changes(app.now() + 1).await.unwrap();
        app.signal_replicas("CONT");

        let refused = eventually(Duration::from_secs(10), || async {
            at_replica(token.clone()).await == 401
        })
        .await;
        assert!(
            refused.is_some(),
            "the replica reloaded its caches instead of missing the pruned revocation"
        );
    }
);

store_test!(
    async fn expired_revocations_are_pruned_from_the_store(app: &TestApp) {
        let c = app.client(None).await;
        let token = app.access_token(&c).await;
        assert_eq!(
            call(app, "/oauth/revoke", &c, &[("token", &token)]).await.0,
            200
        );
        assert_eq!(app.store().list_revoked_tokens(0).await.unwrap().len(), 1);
        app.advance(86_400 + 60);
        let pruned = eventually(Duration::from_secs(2), || async {
            app.store().list_revoked_tokens(0).await.unwrap().is_empty()
        })
        .await;
        assert!(
            pruned.is_some(),
            "housekeeping deletes revocations of expired tokens"
        );
    }
);

store_test!(async fn introspection_of_refresh_tokens_honours_their_lifetimes(app: &TestApp) with |c| {
    c.refresh_token_idle_ttl = 129_600;
    c.refresh_token_absolute_ttl = 172_800;
} {
    // Issue 12 item 11: a refresh token the token endpoint would refuse is not active.
    let partner = app.application(Some(CB), false, None).await;
    let me = as_client(&partner);
    let (code, _) = app.code_for(&partner, &[]).await;
    let (_, body) = app.exchange(&partner, &code).await;
    let first = body["refresh_token"].as_str().unwrap().to_owned();
    let active = |intro: Value| intro["active"].as_bool().unwrap();

    app.advance(86_400);
    let (_, body) = app.refresh(&partner, &first).await;
    let second = body["refresh_token"].as_str().unwrap().to_owned();
    assert!(active(call(app, "/oauth/introspect", &me, &[("token", &second)]).await.1));
    app.advance(86_400);
    // Two days old: past the absolute lifetime, though used a day ago.
    assert_eq!(
        call(app, "/oauth/introspect", &me, &[("token", &second)]).await.1,
        json!({"active": false})
    );
    assert_eq!(app.refresh(&partner, &second).await.1["error"], "invalid_grant");

    let (code, _) = app.code_for(&partner, &[]).await;
    let (_, body) = app.exchange(&partner, &code).await;
    let idle = body["refresh_token"].as_str().unwrap().to_owned();
    assert!(active(call(app, "/oauth/introspect", &me, &[("token", &idle)]).await.1));
    app.advance(129_600);
    assert_eq!(
        call(app, "/oauth/introspect", &me, &[("token", &idle)]).await.1,
        json!({"active": false}),
        "unused past the idle lifetime"
    );
    assert_eq!(app.refresh(&partner, &idle).await.1["error"], "invalid_grant");
});
