//! The sample API behind the gateway: RFC 6750 Bearer behaviour and account isolation.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};

use crate::support::jwt;

fn challenge(res: &reqwest::Response) -> String {
    res.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned()
}

store_test!(
    async fn rfc6750_missing_token_is_401_with_bare_bearer_challenge(app: &TestApp) {
        let res = app.http.get(app.url("/v1/books")).send().await.unwrap();
        assert_eq!(res.status(), 401);
        assert_eq!(challenge(&res), "Bearer realm=\"tessera\"");
    }
);

store_test!(
    async fn rfc6750_bad_tampered_and_forged_tokens_are_invalid_token(app: &TestApp) {
        let c = app.client(None).await;
        let token = app.access_token(&c).await;
        let parts: Vec<&str> = token.split('.').collect();
        let mut claims = jwt::claims(&token);
        claims["sub"] = json!("acct_someone_else");
        let forged_payload = URL_SAFE_NO_PAD.encode(claims.to_string());
        let header = jwt::header(&token);
        let kid = header["kid"].as_str().unwrap();
        let none_header =
            URL_SAFE_NO_PAD.encode(json!({"alg":"none","typ":"at+jwt","kid":kid}).to_string());
        let unknown_kid = URL_SAFE_NO_PAD
            .encode(json!({"alg":"ES256","typ":"at+jwt","kid":"key_nope"}).to_string());

        // HS256 "signed" with the public key as the HMAC secret (the classic confusion attack).
        let jwks: Value = app
            .http
            .get(app.url("/.well-known/jwks.json"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let hs_header =
            URL_SAFE_NO_PAD.encode(json!({"alg":"HS256","typ":"at+jwt","kid":kid}).to_string());
        let signing_input = format!("{hs_header}.{}", parts[1]);
        let hmac_key = aws_lc_rs::hmac::Key::new(
            aws_lc_rs::hmac::HMAC_SHA256,
            jwks["keys"][0].to_string().as_bytes(),
        );
        let hs_sig =
            URL_SAFE_NO_PAD.encode(aws_lc_rs::hmac::sign(&hmac_key, signing_input.as_bytes()));

        for bad in [
            "garbage".to_owned(),
            format!("{}.{}.{}", parts[0], forged_payload, parts[2]),
            format!("{none_header}.{}.", parts[1]),
            format!("{unknown_kid}.{}.{}", parts[1], parts[2]),
            format!("{signing_input}.{hs_sig}"),
        ] {
            let res = app.get_bearer("/v1/books", &bad).await;
            assert_eq!(res.status(), 401, "{bad}");
            assert!(challenge(&res).contains("error=\"invalid_token\""), "{bad}");
        }
        assert_eq!(app.get_bearer("/v1/books", &token).await.status(), 200);
    }
);

store_test!(
    async fn expired_token_is_invalid_token(app: &TestApp) {
        let c = app.client(None).await;
        let token = app.access_token(&c).await;
        app.advance(86_399);
        assert_eq!(app.get_bearer("/v1/account", &token).await.status(), 200);
        app.advance(1);
        let res = app.get_bearer("/v1/account", &token).await;
        assert_eq!(res.status(), 401);
        assert!(challenge(&res).contains("expired"));
        // A new one from the same client credentials works (the seeds' "day ticket").
        let fresh = app.access_token(&c).await;
        assert_eq!(app.get_bearer("/v1/account", &fresh).await.status(), 200);
    }
);

store_test!(
    async fn missing_scope_is_403_insufficient_scope_naming_the_scope(app: &TestApp) {
        let c = app.client(Some("books:read")).await;
        let token = app.access_token(&c).await;
        let res = app
            .http
            .post(app.url("/v1/books"))
            .bearer_auth(&token)
            .json(&json!({"name": "q3", "documents": []}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403);
        let ch = challenge(&res);
        assert!(
            ch.contains("error=\"insufficient_scope\"") && ch.contains("scope=\"books:write\""),
            "{ch}"
        );
        assert_eq!(app.get_bearer("/v1/account", &token).await.status(), 403);
    }
);

store_test!(
    async fn books_are_visible_to_their_account_only(app: &TestApp) {
        let a = app.client(None).await;
        let b = app.client(None).await;
        let (ta, tb) = (app.access_token(&a).await, app.access_token(&b).await);
        let res = app
            .http
            .post(app.url("/v1/books"))
            .bearer_auth(&ta)
            .json(&json!({"name": "Q3 statements", "documents": [{"file": "jan.pdf"}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
        let created: Value = res.json().await.unwrap();
        assert_eq!(created["name"], "Q3 statements");
        let id = created["id"].as_str().unwrap();

        let mine: Value = app
            .get_bearer(&format!("/v1/books/{id}"), &ta)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(mine["documents"], json!([{"file": "jan.pdf"}]));
        assert_eq!(
            app.get_bearer(&format!("/v1/books/{id}"), &tb)
                .await
                .status(),
            404
        );
        assert_eq!(
            app.get_bearer("/v1/books/book_nope", &ta).await.status(),
            404
        );
        let list_b: Value = app.get_bearer("/v1/books", &tb).await.json().await.unwrap();
        assert_eq!(list_b["books"], json!([]));
        let list_a: Value = app.get_bearer("/v1/books", &ta).await.json().await.unwrap();
        assert_eq!(list_a["books"].as_array().unwrap().len(), 1);
        let account: Value = app
            .get_bearer("/v1/account", &ta)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(account["account_id"], a.account_id.as_str());
    }
);

store_test!(
    async fn bad_book_bodies_are_400_not_500(app: &TestApp) {
        let c = app.client(None).await;
        let token = app.access_token(&c).await;
        for body in ["not json", "{}", r#"{"name": ""}"#] {
            let res = app
                .http
                .post(app.url("/v1/books"))
                .bearer_auth(&token)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 400, "{body}");
        }
    }
);
