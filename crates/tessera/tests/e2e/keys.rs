//! Signing keys: rotation with a propagation delay, retirement after the last token expires,
//! and the selectable algorithms.

use serde_json::Value;

use crate::support::{eventually, jwt, Backend, TestApp};

async fn jwks(app: &TestApp) -> Value {
    app.http
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn kids(app: &TestApp) -> Vec<String> {
    jwks(app).await["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

store_test!(async fn rotation_publishes_first_signs_later_and_retires_after_expiry(app: &TestApp) with |c| {
    c.key_propagation_delay = 600;
} {
    let c = app.client(None).await;
    let old_token = app.access_token(&c).await;
    let old_kid = jwt::header(&old_token)["kid"].as_str().unwrap().to_owned();
    assert_eq!(kids(app).await, vec![old_kid.clone()]);
    for key in jwks(app).await["keys"].as_array().unwrap() {
        assert_eq!(key["use"], "sig");
        assert_eq!(key["alg"], "ES256");
        assert!(key.get("d").is_none(), "no private material in the JWKS");
    }

    let rotated = app.cli_json(&["keys", "rotate"]);
    let new_kid = rotated["kid"].as_str().unwrap().to_owned();
    let published = eventually(std::time::Duration::from_secs(1), || async { kids(app).await.len() == 2 }).await;
    assert!(published.is_some(), "the new key is published at once (within the sync bound)");
    assert!(kids(app).await.contains(&new_kid));
    // The CLI reads the wall clock, which is where the test clock still is.
    let listed = app.cli_json(&["keys", "list"]);
    let state = |kid: &str| {
        listed.as_array().unwrap().iter().find(|k| k["kid"] == kid).map(|k| k["state"].clone())
    };
    assert_eq!(state(&new_kid), Some("pending".into()));
    assert_eq!(state(&old_kid), Some("active".into()));
    assert_eq!(jwt::header(&app.access_token(&c).await)["kid"], old_kid.as_str(), "not signing before the delay");

    // The CLI stamped the key with the wall clock, a little ahead of the test's clock.
    let activates_at = rotated["activates_at"].as_i64().unwrap();
    app.advance(activates_at - 1 - app.now());
    assert_eq!(jwt::header(&app.access_token(&c).await)["kid"], old_kid.as_str());
    app.advance(1);
    let new_token = app.access_token(&c).await;
    assert_eq!(jwt::header(&new_token)["kid"], new_kid.as_str());
    assert!(jwt::verify_with_jwks(&new_token, &jwks(app).await));
    assert_eq!(app.get_bearer("/v1/account", &old_token).await.status(), 200, "old tokens still verify");

    // The old key signed its last token at the moment of the switch; it leaves the JWKS once
    // that token has expired (86 400 s later).
    app.advance(86_399);
    assert!(kids(app).await.contains(&old_kid));
    app.advance(1);
    assert_eq!(kids(app).await, vec![new_kid.clone()]);
});

async fn signs_and_verifies_with(alg: &str) {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| c.signing_alg = alg.into()).await;
    let c = app.client(None).await;
    let token = app.access_token(&c).await;
    assert_eq!(jwt::header(&token)["alg"], alg);
    assert!(jwt::verify_with_jwks(&token, &jwks(&app).await));
    assert_eq!(app.get_bearer("/v1/account", &token).await.status(), 200);
    let meta: Value = app
        .http
        .get(app.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(meta["access_token_signing_alg_values_supported"][0], alg);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eddsa_is_selectable() {
    signs_and_verifies_with("EdDSA").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rs256_is_selectable() {
    signs_and_verifies_with("RS256").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_keys_are_sealed_at_rest() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let keys = tessera_core::store::KeyStore::list_signing_keys(app.store())
        .await
        .unwrap();
    let sealed = &keys[0].private_key_sealed;
    // A PKCS#8 document starts with a DER SEQUENCE (0x30); the sealed form is nonce-first
    // ciphertext and opens only with the master key.
    let wrong = tessera_core::token::master_key::MasterKey::from_bytes(&[8u8; 32]).unwrap();
    assert!(wrong.open(keys[0].kid.as_str().as_bytes(), sealed).is_err());
    let right = tessera_core::token::master_key::MasterKey::from_bytes(&[7u8; 32]).unwrap();
    let pkcs8 = right.open(keys[0].kid.as_str().as_bytes(), sealed).unwrap();
    assert_eq!(pkcs8[0], 0x30);
    assert!(!sealed
        .windows(pkcs8.len().min(32))
        .any(|w| w == &pkcs8[..pkcs8.len().min(32)]));
    app.stop().await;
}

store_test!(async fn scheduled_rotation_publishes_a_new_key_when_the_newest_is_old(app: &TestApp) with |c| {
    c.key_rotation_interval = 7 * 86_400;
} {
    assert_eq!(kids(app).await.len(), 1);
    app.advance(7 * 86_400);
    let rotated = eventually(std::time::Duration::from_secs(2), || async { kids(app).await.len() == 2 }).await;
    assert!(rotated.is_some(), "the housekeeping task rotated the key");
});

store_test!(
    async fn retire_now_drops_the_key_from_the_jwks_and_refuses_its_tokens_at_once(app: &TestApp) {
        let c = app.client(None).await;
        let token = app.access_token(&c).await;
        let kid = jwt::header(&token)["kid"].as_str().unwrap().to_owned();
        // Accepted, and so also in the verified-token cache, which must not keep it alive.
        assert_eq!(app.get_bearer("/v1/account", &token).await.status(), 200);

        let refused = app.cli(&["keys", "retire", &kid]).unwrap_err();
        assert!(
            refused.1.contains("--now"),
            "the flag is required: {}",
            refused.1
        );
        let unknown = app
            .cli(&["keys", "retire", "kid_unknown", "--now"])
            .unwrap_err();
        assert!(
            unknown.1.contains("no signing key kid_unknown"),
            "{}",
            unknown.1
        );
        assert_eq!(
            kids(app).await,
            vec![kid.clone()],
            "a refused retirement changes nothing"
        );

        let out = app.cli_output(&["keys", "retire", &kid, "--now", "--json"], "");
        assert!(out.status.success(), "{out:?}");
        let warning = String::from_utf8_lossy(&out.stderr);
        assert!(
            warning.contains("warning:") && warning.contains("is refused"),
            "{warning}"
        );
        assert!(
            warning.contains("signs in its place"),
            "the active key was replaced: {warning}"
        );
        let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(printed["retired"], kid.as_str());
        let replacement = printed["replacement"]["kid"].as_str().unwrap().to_owned();

        // The running server learns of it through the change feed.
        let refused = eventually(std::time::Duration::from_secs(2), || async {
            app.get_bearer("/v1/account", &token).await.status() == 401
        })
        .await;
        assert!(refused.is_some(), "the retired key's token is refused");
        let res = app.get_bearer("/v1/account", &token).await;
        let challenge = res.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
        assert_eq!(
            kids(app).await,
            vec![replacement.clone()],
            "only the replacement is published"
        );

        // Signing goes on with the replacement, at once.
        let fresh = app.access_token(&c).await;
        assert_eq!(jwt::header(&fresh)["kid"], replacement.as_str());
        assert!(jwt::verify_with_jwks(&fresh, &jwks(app).await));
        assert_eq!(app.get_bearer("/v1/account", &fresh).await.status(), 200);
    }
);
