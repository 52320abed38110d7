//! Fault tests (issue 16, "Prove"): a `tessera serve` process killed with SIGKILL in the
//! middle of mixed load — refresh chains, code exchanges, client credentials — then
//! started again on the same store. Whatever a client was told is in the store: each
//! rotation whose response arrived left its new refresh token live and the old one spent,
//! a chain never has two live successors, and SQLite passes `PRAGMA integrity_check`.
//!
//! The faults that disturb shared services (PostgreSQL restarted, a full disk) are in
//! `scripts/faults`, which runs alone after this suite.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tessera_core::domain::ordered_secret;
use tessera_core::store::Store;

use crate::support::flow::{form_body, TestApplication};
use crate::support::{eventually, TestApp, TestClient};

const CB: &str = "https://partner.example/callback";
/// Chains that stop rotating (their last response received) just before the kill.
const IDLE_CHAINS: usize = 3;
/// Chains rotating without pause when the kill lands: one request each is cut off.
const BUSY_CHAINS: usize = 3;
/// Authorization codes exchanged one after another during the load.
const CODES: usize = 10;
/// Rotations every chain makes before the kill.
const ROTATIONS_BEFORE_KILL: usize = 4;

/// The token endpoint of one server process, as a client application sees it.
#[derive(Clone)]
struct Endpoint {
    http: reqwest::Client,
    base: String,
    app: Arc<TestApplication>,
}

impl Endpoint {
    /// POST /oauth/token with client_secret_post; `Err` when no response arrived.
    async fn token(&self, params: &[(&str, &str)]) -> Result<(u16, Value), reqwest::Error> {
        let mut pairs = params.to_vec();
        pairs.push(("client_id", &self.app.client_id));
        let secret = self.app.client_secret.clone().unwrap_or_default();
        pairs.push(("client_secret", &secret));
        let res = self
            .http
            .post(format!("{}/oauth/token", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form_body(&pairs))
            .send()
            .await?;
        let status = res.status().as_u16();
        Ok((status, res.json().await?))
    }

    async fn refresh(&self, token: &str) -> Result<(u16, Value), reqwest::Error> {
        self.token(&[("grant_type", "refresh_token"), ("refresh_token", token)])
            .await
    }

    async fn exchange(&self, code: &str) -> Result<(u16, Value), reqwest::Error> {
        self.token(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", CB),
        ])
        .await
    }

    async fn client_credentials(&self, c: &TestClient) -> Result<u16, reqwest::Error> {
        let res = self
            .http
            .post(format!("{}/oauth/token", self.base))
            .basic_auth(&c.client_id, Some(&c.client_secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials")
            .send()
            .await?;
        Ok(res.status().as_u16())
    }
}

fn refresh_token_of(status: u16, body: &Value) -> String {
    assert_eq!(status, 200, "{body}");
    body["refresh_token"]
        .as_str()
        .expect("refresh_token")
        .to_owned()
}

/// Rotates the chain starting at `first` until `stop` is set or a request gets no answer;
/// every token whose response arrived, in order (the first included).
async fn rotate_chain(
    to: Endpoint,
    first: String,
    stop: Arc<AtomicBool>,
    progress: Arc<AtomicUsize>,
) -> Vec<String> {
    let mut chain = vec![first];
    while !stop.load(Ordering::SeqCst) {
        let current = chain.last().expect("a token").clone();
        match to.refresh(&current).await {
            Ok((status, body)) => chain.push(refresh_token_of(status, &body)),
            Err(_) => break,
        }
        if chain.len() == ROTATIONS_BEFORE_KILL + 1 {
            progress.fetch_add(1, Ordering::SeqCst);
        }
    }
    chain
}

/// The refresh token, unused or spent, as the store holds it; `None` if it is not there.
async fn stored_token(store: &dyn Store, token: &str) -> Option<(bool, bool)> {
    let (rt, set) = store
        .find_refresh_token(&ordered_secret::key(token))
        .await
        .expect("store reads")?;
    Some((rt.used_at.is_some(), set.revoked_at.is_some()))
}

store_test!(
    async fn kill_9_under_load_loses_no_acknowledged_rotation(app: &TestApp) {
        let partner = Arc::new(app.application(Some(CB), false, None).await);
        let mut chains = Vec::new();
        for _ in 0..IDLE_CHAINS + BUSY_CHAINS {
            let (code, _) = app.code_for(&partner, &[]).await;
            let (status, body) = app.exchange(&partner, &code).await;
            chains.push(refresh_token_of(status, &body));
        }
        let mut codes = Vec::new();
        for _ in 0..CODES {
            codes.push(app.code_for(&partner, &[]).await.0);
        }
        let machine = app.client(None).await;

        let server = app.spawn_process(&[]).await;
        let to = Endpoint {
            http: app.http.clone(),
            base: server.base.clone(),
            app: partner.clone(),
        };
        let stop_idle = Arc::new(AtomicBool::new(false));
        let never = Arc::new(AtomicBool::new(false));
        let progress = Arc::new(AtomicUsize::new(0));
        let mut idle = Vec::new();
        let mut busy = Vec::new();
        for (i, first) in chains.into_iter().enumerate() {
            let stop = if i < IDLE_CHAINS { &stop_idle } else { &never };
            let task = tokio::spawn(rotate_chain(
                to.clone(),
                first,
                stop.clone(),
                progress.clone(),
            ));
            if i < IDLE_CHAINS {
                idle.push(task)
            } else {
                busy.push(task)
            }
        }
        let exchanges = tokio::spawn({
            let to = to.clone();
            async move {
                let mut answered = Vec::new();
                for code in codes {
                    match to.exchange(&code).await {
                        Ok((status, body)) => {
                            answered.push((code, refresh_token_of(status, &body)))
                        }
                        Err(_) => break,
                    }
                }
                answered
            }
        });
        let issued = Arc::new(AtomicUsize::new(0));
        let credentials = tokio::spawn({
            let (to, issued) = (to.clone(), issued.clone());
            async move {
                while let Ok(status) = to.client_credentials(&machine).await {
                    assert_eq!(status, 200);
                    issued.fetch_add(1, Ordering::SeqCst);
                }
            }
        });

        let loaded = eventually(Duration::from_secs(120), || async {
            progress.load(Ordering::SeqCst) == IDLE_CHAINS + BUSY_CHAINS
                && issued.load(Ordering::SeqCst) > 0
        })
        .await;
        assert!(
            loaded.is_some(),
            "every chain rotated {ROTATIONS_BEFORE_KILL} times"
        );
        // The idle chains' last responses have arrived when their tasks end; the kill
        // follows at once, while the rest of the load is still in flight.
        stop_idle.store(true, Ordering::SeqCst);
        let mut idle_chains = Vec::new();
        for task in idle {
            idle_chains.push(task.await.expect("idle chain"));
        }
        let killed = std::process::Command::new("kill")
            .args(["-KILL", &server.pid.to_string()])
            .status()
            .expect("kill runs");
        assert!(killed.success());
        let mut busy_chains = Vec::new();
        for task in busy {
            busy_chains.push(task.await.expect("busy chain"));
        }
        let exchanged = exchanges.await.expect("exchanges");
        credentials.await.expect("client credentials");

        println!(
            "killed under load: idle chains rotated {:?}, busy {:?}, {} codes exchanged, {} client credentials tokens",
            idle_chains.iter().map(|c| c.len() - 1).collect::<Vec<_>>(),
            busy_chains.iter().map(|c| c.len() - 1).collect::<Vec<_>>(),
            exchanged.len(),
            issued.load(Ordering::SeqCst)
        );
        if app
            .config
            .database
            .as_deref()
            .is_some_and(|u| u.starts_with("sqlite:"))
        {
            assert_eq!(integrity_check(app).await, "ok");
        }

        // A long retry window, so that the answers the kill cut off are still retryable
        // however long the restart takes.
        let restarted = app
            .spawn_process(&[("TESSERA_REFRESH_RETRY_WINDOW", "300")])
            .await;
        let to = Endpoint {
            base: restarted.base.clone(),
            ..to
        };
        let store = app.store();
        for chain in &idle_chains {
            // Every rotation the client saw is stored: the tokens before the last spent,
            // the last one live.
            let (last, spent) = chain.split_last().expect("a chain");
            for token in spent {
                assert_eq!(stored_token(store, token).await, Some((true, false)));
            }
            assert_eq!(stored_token(store, last).await, Some((false, false)));
            let (status, body) = to.refresh(last).await.expect("answer");
            let next = refresh_token_of(status, &body);
            let (status, body) = to.refresh(&spent[spent.len() - 1]).await.expect("answer");
            assert_eq!(
                (status, body["error"].as_str()),
                (400, Some("invalid_grant"))
            );
            // That replay revoked the set (RFC 9700 §4.14.2): the new token died with it.
            assert_eq!(
                to.refresh(&next).await.expect("answer").1["error"],
                "invalid_grant"
            );
        }
        for chain in &busy_chains {
            // The request cut off by the kill may or may not have rotated the last token
            // the client saw; either way the chain goes on from exactly one token.
            let (last, spent) = chain.split_last().expect("a chain");
            for token in spent {
                assert_eq!(stored_token(store, token).await, Some((true, false)));
            }
            let (used, revoked) = stored_token(store, last).await.expect("last token stored");
            assert!(!revoked);
            let (status, body) = to.refresh(last).await.expect("answer");
            if used {
                // The rotation committed but its answer was lost with the process: the
                // client's retry gets that answer (retry-safe refresh), and goes on.
                let next = refresh_token_of(status, &body);
                let (status, body) = to.refresh(&next).await.expect("answer");
                refresh_token_of(status, &body);
            } else {
                let next = refresh_token_of(status, &body);
                let (status, body) = to.refresh(&next).await.expect("answer");
                refresh_token_of(status, &body);
                assert_eq!(to.refresh(last).await.expect("answer").0, 400);
            }
        }
        for (code, refresh) in &exchanged {
            assert_eq!(stored_token(store, refresh).await, Some((false, false)));
            let (status, body) = to.refresh(refresh).await.expect("answer");
            refresh_token_of(status, &body);
            let (status, body) = to.exchange(code).await.expect("answer");
            assert_eq!(
                (status, body["error"].as_str()),
                (400, Some("invalid_grant"))
            );
        }
        let machine = app.client(None).await;
        assert_eq!(to.client_credentials(&machine).await.expect("answer"), 200);
    }
);

/// SQLite's own check of the whole database file.
pub(crate) async fn integrity_check(app: &TestApp) -> String {
    use sqlx::Connection;
    let url = app.config.database.as_deref().expect("database url");
    let mut conn = sqlx::SqliteConnection::connect(url)
        .await
        .expect("sqlite opens");
    let rows: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_all(&mut conn)
        .await
        .expect("integrity_check runs");
    rows.join("\n")
}
