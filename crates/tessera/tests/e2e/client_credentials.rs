//! POST /oauth/token with grant_type=client_credentials (RFC 6749 §4.4, §5).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::Value;

use crate::support::jwt;

async fn error_of(res: reqwest::Response) -> (u16, String, Option<String>) {
    let status = res.status().as_u16();
    let challenge = res
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    let body: Value = res.json().await.expect("error body is JSON");
    assert!(
        body["error_description"]
            .as_str()
            .is_some_and(|d| !d.is_empty()),
        "every error has a description: {body}"
    );
    (
        status,
        body["error"].as_str().expect("error code").to_owned(),
        challenge,
    )
}

store_test!(
    async fn basic_auth_returns_the_seed_shape_with_no_store_headers(app: &TestApp) {
        let c = app.client(None).await;
        let res = app.token_basic(&c, "grant_type=client_credentials").await;
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["cache-control"], "no-store");
        assert_eq!(res.headers()["pragma"], "no-cache");
        assert_eq!(res.headers()["content-type"], "application/json");
        let body: Value = res.json().await.unwrap();
        let mut keys: Vec<&str> = body
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort();
        assert_eq!(keys, ["access_token", "expires_in", "token_type"]);
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["expires_in"], 86400);
    }
);

store_test!(
    async fn rfc9068_claims_and_signature_verify_through_the_jwks(app: &TestApp) {
        let c = app.client(Some("books:read account:read")).await;
        let token = app.access_token(&c).await;
        let header = jwt::header(&token);
        assert_eq!(header["typ"], "at+jwt");
        assert_eq!(header["alg"], "ES256");
        let claims = jwt::claims(&token);
        assert_eq!(claims["iss"], "http://tessera.test");
        assert_eq!(claims["aud"], "http://tessera.test");
        assert_eq!(claims["sub"], c.account_id.as_str());
        assert_eq!(claims["client_id"], c.client_id.as_str());
        assert_eq!(claims["scope"], "account:read books:read");
        let iat = claims["iat"].as_i64().unwrap();
        assert_eq!(iat, app.now());
        assert_eq!(claims["exp"].as_i64().unwrap(), iat + 86400);
        assert!(claims["jti"].as_str().is_some_and(|j| j.len() > 16));
        let jwks: Value = app
            .http
            .get(app.url("/.well-known/jwks.json"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(jwt::verify_with_jwks(&token, &jwks));
        let jti2 = jwt::claims(&app.access_token(&c).await)["jti"].clone();
        assert_ne!(claims["jti"], jti2, "every token has its own jti");
    }
);

store_test!(
    async fn client_secret_post_works_and_both_methods_at_once_is_invalid_request(app: &TestApp) {
        let c = app.client(None).await;
        let body = format!(
            "grant_type=client_credentials&client_id={}&client_secret={}",
            c.client_id, c.client_secret
        );
        let res = app.post_form("/oauth/token", &body).await;
        assert_eq!(res.status(), 200);

        let res = app
            .token_basic(
                &c,
                &format!(
                    "grant_type=client_credentials&client_secret={}",
                    c.client_secret
                ),
            )
            .await;
        assert_eq!(error_of(res).await.1, "invalid_request");
    }
);

store_test!(
    async fn rfc6749_5_2_basic_auth_failure_is_401_with_basic_challenge(app: &TestApp) {
        let mut c = app.client(None).await;
        c.client_secret.push('x');
        let (status, code, challenge) =
            error_of(app.token_basic(&c, "grant_type=client_credentials").await).await;
        assert_eq!((status, code.as_str()), (401, "invalid_client"));
        assert!(challenge.is_some_and(|c| c.starts_with("Basic ")));

        let body = format!(
            "grant_type=client_credentials&client_id={}&client_secret=nope",
            c.client_id
        );
        let (status, code, challenge) = error_of(app.post_form("/oauth/token", &body).await).await;
        assert_eq!(
            (status, code.as_str(), challenge),
            (401, "invalid_client", None)
        );

        let body = "grant_type=client_credentials&client_id=cl_unknown&client_secret=nope";
        let (status, code, _) = error_of(app.post_form("/oauth/token", body).await).await;
        assert_eq!((status, code.as_str()), (401, "invalid_client"));

        let (status, code, _) = error_of(
            app.post_form("/oauth/token", "grant_type=client_credentials")
                .await,
        )
        .await;
        assert_eq!(
            (status, code.as_str()),
            (401, "invalid_client"),
            "no authentication at all"
        );
    }
);

store_test!(
    async fn basic_credentials_are_form_urlencoded_per_rfc6749_2_3_1(app: &TestApp) {
        let c = app.client(None).await;
        // Percent-encoding characters that need none must still decode to the same id.
        let encoded_id: String = c.client_id.replace('_', "%5F");
        let header = format!(
            "Basic {}",
            STANDARD.encode(format!("{encoded_id}:{}", c.client_secret))
        );
        let res = app
            .http
            .post(app.url("/oauth/token"))
            .header("authorization", header)
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }
);

store_test!(
    async fn malformed_requests_are_invalid_request_never_500(app: &TestApp) {
        let c = app.client(None).await;
        for body in [
            "",
            "grant_type=client_credentials&grant_type=client_credentials",
            "grant_type=client%ZZcredentials",
            "grant_type=client%FFcredentials",
        ] {
            let (status, code, _) = error_of(app.token_basic(&c, body).await).await;
            assert_eq!(
                (status, code.as_str()),
                (400, "invalid_request"),
                "body {body:?}"
            );
        }
        let res = app
            .http
            .post(app.url("/oauth/token"))
            .basic_auth(&c.client_id, Some(&c.client_secret))
            .header("content-type", "application/json")
            .body(r#"{"grant_type":"client_credentials"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(error_of(res).await.1, "invalid_request");

        // RFC 9110 §15.5.6: 405 with Allow; the body keeps RFC 6749 §5.2's shape.
        for method in [
            reqwest::Method::GET,
            reqwest::Method::PUT,
            reqwest::Method::DELETE,
        ] {
            let res = app
                .http
                .request(method.clone(), app.url("/oauth/token"))
                .send()
                .await
                .unwrap();
            assert_eq!(res.headers()["allow"], "POST", "{method}");
            assert_eq!(error_of(res).await, (405, "invalid_request".into(), None));
        }

        let huge = format!(
            "grant_type=client_credentials&pad={}",
            "a".repeat(64 * 1024)
        );
        let res = app.token_basic(&c, &huge).await;
        assert_eq!(res.status(), 413);

        let res = app
            .http
            .post(app.url("/oauth/token"))
            .header("authorization", "Basic !!!not-base64")
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials")
            .send()
            .await
            .unwrap();
        assert_eq!(error_of(res).await.1, "invalid_request");
    }
);

store_test!(
    async fn grant_type_errors(app: &TestApp) {
        let c = app.client(None).await;
        let (status, code, _) = error_of(app.token_basic(&c, "grant_type=password").await).await;
        assert_eq!((status, code.as_str()), (400, "unsupported_grant_type"));
        let (status, code, _) = error_of(app.token_basic(&c, "scope=books:read").await).await;
        assert_eq!((status, code.as_str()), (400, "invalid_request"));
        let (status, code, _) = error_of(
            app.token_basic(&c, "grant_type=refresh_token&refresh_token=x")
                .await,
        )
        .await;
        assert_eq!(
            (status, code.as_str()),
            (400, "unauthorized_client"),
            "a credential client may not refresh"
        );
    }
);

store_test!(
    async fn scope_must_be_a_subset_and_is_echoed_only_when_different(app: &TestApp) {
        let c = app.client(Some("books:read books:write")).await;
        let res = app
            .token_basic(&c, "grant_type=client_credentials&scope=books:read")
            .await;
        assert_eq!(res.status(), 200);
        let body: Value = res.json().await.unwrap();
        assert!(
            body.get("scope").is_none(),
            "granted equals requested: scope omitted (§5.1)"
        );
        assert_eq!(
            jwt::claims(body["access_token"].as_str().unwrap())["scope"],
            "books:read"
        );

        let (status, code, _) = error_of(
            app.token_basic(
                &c,
                "grant_type=client_credentials&scope=books:read%20account:read",
            )
            .await,
        )
        .await;
        assert_eq!((status, code.as_str()), (400, "invalid_scope"));
        let (_, code, _) = error_of(
            app.token_basic(&c, "grant_type=client_credentials&scope=%22bad%22")
                .await,
        )
        .await;
        assert_eq!(code, "invalid_scope");
    }
);

store_test!(
    async fn revoked_client_gets_invalid_client_and_its_tokens_stop_at_once(app: &TestApp) {
        let c = app.client(None).await;
        let token = app.access_token(&c).await;
        assert_eq!(app.get_bearer("/v1/account", &token).await.status(), 200);
        tessera_core::manage::clients::revoke_client(
            app.store(),
            &tessera_core::audit::Actor::cli("test"),
            &c.client_id,
            app.now(),
        )
        .await
        .unwrap();
        let refused = crate::support::eventually(std::time::Duration::from_secs(1), || async {
            app.get_bearer("/v1/account", &token).await.status() == 401
        })
        .await;
        assert!(
            refused.is_some(),
            "the API refuses the revoked client's token within 1 s"
        );
        let (status, code, _) =
            error_of(app.token_basic(&c, "grant_type=client_credentials").await).await;
        assert_eq!((status, code.as_str()), (401, "invalid_client"));
    }
);

store_test!(
    async fn token_use_is_recorded_for_first_and_last_use(app: &TestApp) {
        use tessera_core::domain::ClientId;
        let c = app.client(None).await;
        let id = ClientId::parse(&c.client_id).unwrap();
        assert_eq!(app.store().find_last_token_at(&id).await.unwrap(), None);
        app.access_token(&c).await;
        let first = app.now();
        assert_eq!(
            app.store().find_first_token_at(&id).await.unwrap(),
            Some(first)
        );
        app.advance(30);
        app.access_token(&c).await;
        assert_eq!(
            app.store().find_last_token_at(&id).await.unwrap(),
            Some(first),
            "at most one write a minute"
        );
        app.advance(30);
        app.access_token(&c).await;
        assert_eq!(
            app.store().find_last_token_at(&id).await.unwrap(),
            Some(first + 60)
        );
        assert_eq!(
            app.store().find_first_token_at(&id).await.unwrap(),
            Some(first)
        );
    }
);
