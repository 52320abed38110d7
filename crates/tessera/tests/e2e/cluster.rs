//! Replicas on one store (issue 17): once-per-cluster work has one holder, and on
//! PostgreSQL changes reach the other replicas by notification, not only by the poll.

use std::time::Duration;

use crate::legacy::credential;
use crate::observe::scrape;
use crate::refresh_token::concurrent_refreshes;
use crate::support::cluster::Cluster;
use crate::support::{eventually, Backend, TestApp};

const CB: &str = "https://partner.example/callback";

store_test!(
    async fn replicas_share_one_housekeeping_lease(app: &TestApp) {
        // This server started first and took the lease at its first housekeeping round.
        let other = app.spawn_process_replica().await;
        let held_here = scrape(app, &app.base).await.1["tessera_housekeeping_lease_held"];
        let held_there = scrape(app, &other).await.1["tessera_housekeeping_lease_held"];
        assert_eq!((held_here, held_there), (1.0, 0.0));
    }
);

/// A client revoked with the CLI (a process that exits right after) reaches another
/// replica whose poll is slow (1 s): by notification.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_reach_other_replicas_by_notification_on_postgres() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let other = app
        .spawn_process(&[("TESSERA_SYNC_INTERVAL_MS", "1000")])
        .await
        .base;
    cli_revocation_arrives_by_notification(&app, &other).await;
}

/// Revokes a new client of `app`'s store with the CLI and checks that `replica` (started
/// with a 1 s poll) refuses its token within 1 s, having read the feed on a notification.
pub(crate) async fn cli_revocation_arrives_by_notification(app: &TestApp, replica: &str) {
    let notified =
        || async { scrape(app, replica).await.1["tessera_change_feed_notifications_total"] };
    let at_replica = |token: String| {
        let url = format!("{replica}/v1/account");
        let http = app.http.clone();
        async move {
            http.get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    let c = app.client(None).await;
    let token = app.access_token(&c).await;
    assert_eq!(at_replica(token.clone()).await, 200);

    // Notifications of the writes above may still be on their way: count from a quiet point.
    let mut before = notified().await;
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = notified().await;
        if now == before {
            break;
        }
        before = now;
    }
    app.cli(&["client", "revoke", &c.client_id]).unwrap();
    let refused = eventually(Duration::from_secs(1), || async {
        at_replica(token.clone()).await == 401
    })
    .await;
    assert!(
        refused.is_some(),
        "revoked with the CLI, refused by the replica"
    );
    let after = notified().await;
    assert!(
        after > before,
        "the replica read the feed on a notification: {before} → {after}"
    );
}

/// What a production deployment needs, proven through nginx in front of three replicas on
/// one PostgreSQL (scripts/cluster), each request going to the next replica.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_behind_nginx_on_postgres() {
    let mut app = TestApp::spawn_with(Backend::Postgres, |c| c.key_propagation_delay = 2).await;
    let cluster = Cluster::up(
        &app,
        3,
        &[
            // Strict reuse detection here: the retry window is proven on its own.
            ("TESSERA_REFRESH_RETRY_WINDOW", "0"),
            ("TESSERA_LEGACY_USAGE_FLUSH_INTERVAL", "1"),
            ("TESSERA_KEY_PROPAGATION_DELAY", "2"),
        ],
    );
    app.base = cluster.url.clone();
    let app = &app;

    // A dashboard session works whichever replica answers: the code flow signs in and
    // consents over several requests, each on the next replica.
    let partner = app.application(Some(CB), false, None).await;
    let (code, _) = app.code_for(&partner, &[]).await;

    // A code exchanged twice at once, on two replicas: never two successes. The replay
    // revokes what the code issues (RFC 6749 §4.1.2); when it lands before the first
    // exchange has stored its token set, that exchange is refused too, so no live token
    // leaves either way.
    let (a, b) = tokio::join!(app.exchange(&partner, &code), app.exchange(&partner, &code));
    let answers = [&a, &b];
    assert!(
        answers.iter().filter(|(s, _)| *s == 200).count() <= 1,
        "{a:?} {b:?}"
    );
    assert!(answers
        .iter()
        .any(|(s, body)| *s == 400 && body["error"] == "invalid_grant"));
    for (_, body) in answers.iter().filter(|(s, _)| *s == 200) {
        let refresh = body["refresh_token"].as_str().unwrap();
        assert_eq!(
            app.refresh(&partner, refresh).await.1["error"],
            "invalid_grant",
            "revoked"
        );
    }

    // 200 concurrent refreshes of one token over the replicas: one success, the rest
    // invalid_grant, and the token set revoked.
    let (code, _) = app.code_for(&partner, &[]).await;
    let (status, tokens) = app.exchange(&partner, &code).await;
    assert_eq!(status, 200, "{tokens}");
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let answers = concurrent_refreshes(app, &partner, refresh, 200).await;
    let won: Vec<_> = answers.iter().filter(|(s, _)| *s == 200).collect();
    assert_eq!(won.len(), 1, "{answers:?}");
    assert!(answers
        .iter()
        .all(|(s, body)| *s == 200 || (*s == 400 && body["error"] == "invalid_grant")));
    let newest = won[0].1["refresh_token"].as_str().unwrap();
    assert_eq!(
        app.refresh(&partner, newest).await.1["error"],
        "invalid_grant",
        "set revoked"
    );

    // A token revoked through one replica, and a client revoked with the CLI, are refused
    // by every replica within 1 s.
    let c = app.client(None).await;
    let other = app.client(None).await;
    let token = app.access_token(&c).await;
    let others_token = app.access_token(&other).await;
    let revoke = app
        .http
        .post(format!("{}/oauth/revoke", cluster.replicas[0]))
        .basic_auth(&c.client_id, Some(&c.client_secret))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoke.status(), 200);
    app.cli(&["client", "revoke", &other.client_id]).unwrap();
    let everywhere_refused = eventually(Duration::from_secs(1), || async {
        let mut all = true;
        for replica in &cluster.replicas {
            for t in [&token, &others_token] {
                let status = app
                    .http
                    .get(format!("{replica}/v1/account"))
                    .bearer_auth(t)
                    .send()
                    .await
                    .unwrap()
                    .status();
                all &= status == 401;
            }
        }
        all
    })
    .await;
    assert!(
        everywhere_refused.is_some(),
        "refused by every replica within 1 s"
    );

    // A key rotation is published by every replica's JWKS at once, and every replica
    // signs with it after the propagation delay.
    let rotated = app.cli_json(&["keys", "rotate"]);
    let kid = rotated["kid"].as_str().unwrap().to_owned();
    let published = eventually(Duration::from_secs(1), || async {
        let mut all = true;
        for replica in &cluster.replicas {
            let jwks: serde_json::Value = app
                .http
                .get(format!("{replica}/.well-known/jwks.json"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            all &= jwks["keys"]
                .as_array()
                .unwrap()
                .iter()
                .any(|k| k["kid"] == kid);
        }
        all
    })
    .await;
    assert!(
        published.is_some(),
        "every JWKS lists the new key within 1 s"
    );
    let fresh = app.client(None).await;
    let signing = eventually(Duration::from_secs(5), || async {
        let mut all = true;
        for _ in &cluster.replicas {
            let token = app.access_token(&fresh).await;
            all &= crate::support::jwt::header(&token)["kid"] == kid.as_str();
        }
        all
    })
    .await;
    assert!(
        signing.is_some(),
        "every replica signs with the new key after the delay"
    );

    // Legacy usage counted on every replica adds up in the report.
    credential(app, "ops@acme.example", "correct horse").await;
    for _ in 0..9 {
        let res = app
            .http
            .get(app.url("/v1/books"))
            .basic_auth("ops@acme.example", Some("correct horse"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }
    let counted = eventually(Duration::from_secs(5), || async {
        let report = app.cli_json(&["report", "legacy"]);
        report
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["email"] == "ops@acme.example" && r["basic_requests_24h"] == 9)
    })
    .await;
    assert!(counted.is_some(), "{}", app.cli_json(&["report", "legacy"]));

    // One replica (or this test's own server) holds the housekeeping lease.
    let mut holders = scrape(app, &app.own_server_url()).await.1["tessera_housekeeping_lease_held"];
    for replica in &cluster.replicas {
        holders += scrape(app, replica).await.1["tessera_housekeeping_lease_held"];
    }
    assert_eq!(holders, 1.0);
}
