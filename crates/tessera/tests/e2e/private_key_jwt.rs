//! `private_key_jwt` client authentication (RFC 7523 §2.2, OpenID Connect Core §9, issue
//! 18): keys registered inline or by URL, assertions checked for every claim and used once,
//! at the token, PAR, revocation and introspection endpoints; the CLI registers such
//! clients.

use serde_json::{json, Value};
use tessera_core::domain::ClientKeys;

use crate::support::client_key::{claims, jwks, ClientKey, JwksServer, JWT_BEARER};
use crate::support::flow::{browser, form_body, param, AppSpec};
use crate::support::TestApp;

const TOKEN_URL: &str = "http://tessera.test/oauth/token";
const CB: &str = "https://rp.example/callback";

/// A credential client of a new account whose keys are `keys`.
async fn key_client(app: &TestApp, keys: ClientKeys) -> String {
    let account = app.account("Acme").await;
    let new = tessera_core::manage::clients::NewCredentialClient {
        account_id: &account,
        name: "signed",
        scope: Some("books:read"),
        dpop_bound: false,
    };
    let client = tessera_core::manage::clients::create_credential_client_with_keys(
        app.store(),
        &tessera_core::audit::Actor::cli("test"),
        &new,
        keys,
        app.now(),
    )
    .await
    .unwrap();
    assert!(client.secrets.is_empty(), "no secret");
    client.id.to_string()
}

/// POST `path` with `pairs` and the assertion.
async fn post_with(
    app: &TestApp,
    path: &str,
    pairs: &[(&str, &str)],
    assertion: &str,
) -> (u16, Value) {
    let mut all = pairs.to_vec();
    all.push(("client_assertion_type", JWT_BEARER));
    all.push(("client_assertion", assertion));
    let res = app.post_form(path, &form_body(&all)).await;
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn cc_token(app: &TestApp, assertion: &str) -> (u16, Value) {
    post_with(
        app,
        "/oauth/token",
        &[("grant_type", "client_credentials")],
        assertion,
    )
    .await
}

store_test!(
    async fn a_credential_client_authenticates_with_a_signed_assertion_once(app: &TestApp) {
        let key = ClientKey::generate("k1");
        let id = key_client(app, ClientKeys::Inline(jwks(&[&key]))).await;
        let assertion = key.sign(&claims(&id, TOKEN_URL, app.now()));
        let (status, body) = cc_token(app, &assertion).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            crate::support::jwt::claims(body["access_token"].as_str().unwrap())["client_id"],
            id.as_str()
        );
        // The issuer is an audience too.
        let by_issuer = key.sign(&claims(&id, "http://tessera.test", app.now()));
        assert_eq!(cc_token(app, &by_issuer).await.0, 200);
        // Replayed: the jti was seen.
        let (status, body) = cc_token(app, &assertion).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (401, Some("invalid_client"))
        );
        assert!(
            body["error_description"]
                .as_str()
                .unwrap()
                .contains("already used"),
            "{body}"
        );
    }
);

store_test!(
    async fn bad_assertions_are_invalid_client_and_grant_nothing(app: &TestApp) {
        let key = ClientKey::generate("k1");
        let stranger = ClientKey::generate("k1");
        let id = key_client(app, ClientKeys::Inline(jwks(&[&key]))).await;
        let other_id = key_client(app, ClientKeys::Inline(jwks(&[&stranger]))).await;
        let now = app.now();
        let with = |change: &dyn Fn(&mut Value)| {
            let mut c = claims(&id, TOKEN_URL, now);
            change(&mut c);
            c
        };
        let cases: Vec<(String, &str)> = vec![
            (
                key.sign(&with(&|c| c["aud"] = json!("https://other.example/token"))),
                "aud",
            ),
            (key.sign(&with(&|c| c["exp"] = json!(now - 1))), "expired"),
            (
                key.sign(&with(&|c| c["exp"] = json!(now + 3600))),
                "10 minutes",
            ),
            (
                key.sign(&with(&|c| c["nbf"] = json!(now + 600))),
                "not valid yet",
            ),
            (
                key.sign(&with(&|c| c["iss"] = json!(other_id.clone()))),
                "iss and sub",
            ),
            (
                key.sign(&with(&|c| {
                    c.as_object_mut().unwrap().remove("jti");
                })),
                "jti",
            ),
            (stranger.sign(&with(&|_| {})), "signature"),
            (key.sign_with_alg("HS256", &with(&|_| {})), "signature"),
            (key.sign_with_alg("none", &with(&|_| {})), "signature"),
            ("not.a.jwt".to_owned(), "not a JWT"),
        ];
        for (assertion, words) in cases {
            let (status, body) = cc_token(app, &assertion).await;
            assert_eq!(
                (status, body["error"].as_str()),
                (401, Some("invalid_client")),
                "{words}: {body}"
            );
            assert!(
                body["error_description"].as_str().unwrap().contains(words),
                "{words}: {body}"
            );
        }
        // Two methods at once, or a client_id that is not the assertion's.
        let good = key.sign(&claims(&id, TOKEN_URL, now));
        let (status, body) = post_with(
            app,
            "/oauth/token",
            &[("grant_type", "client_credentials"), ("client_secret", "x")],
            &good,
        )
        .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_request"))
        );
        let (status, _) = post_with(
            app,
            "/oauth/token",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &other_id),
            ],
            &good,
        )
        .await;
        assert_eq!(status, 401);
        // A secret client cannot use an assertion, nor a key client a secret.
        let secret_client = app.client(Some("books:read")).await;
        let foreign = key.sign(&claims(&secret_client.client_id, TOKEN_URL, now));
        assert_eq!(cc_token(app, &foreign).await.0, 401);
        let body = format!("grant_type=client_credentials&client_id={id}&client_secret=guess");
        assert_eq!(app.post_form("/oauth/token", &body).await.status(), 401);
        // Nothing was used up by the refusals: the good assertion still works once.
        assert_eq!(cc_token(app, &good).await.0, 200);
    }
);

store_test!(
    async fn an_application_with_keys_by_url_signs_in_pushes_revokes_and_introspects(
        app: &TestApp,
    ) {
        let key = ClientKey::generate("k1");
        let server = JwksServer::start(jwks(&[&key])).await;
        let spec = AppSpec {
            name: "Signed RP",
            jwks: Some(ClientKeys::Uri(server.url.clone())),
            ..AppSpec::default()
        };
        let rp = app.application_spec(CB, spec).await;
        assert!(rp.client_secret.is_none(), "private_key_jwt: no secret");
        let id = rp.client_id.clone();
        let assert_now = |aud: &str| key.sign(&claims(&id, aud, app.now()));

        // PAR, then the code exchange, both with assertions.
        let (status, pushed) = post_with(
            app,
            "/oauth/par",
            &[
                ("client_id", &id),
                ("response_type", "code"),
                ("redirect_uri", CB),
                ("scope", "openid books:read"),
            ],
            &assert_now("http://tessera.test/oauth/par"),
        )
        .await;
        assert_eq!(status, 201, "{pushed}");
        let account = app.account("Acme").await;
        let user = app.user(&[&account]).await;
        let path = format!(
            "/oauth/authorize?{}",
            form_body(&[
                ("client_id", &id),
                ("request_uri", pushed["request_uri"].as_str().unwrap())
            ])
        );
        let to = app.authorize_path(&browser(), &user, &path).await;
        let code = param(&to, "code").unwrap();
        let (status, tokens) = post_with(
            app,
            "/oauth/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", CB),
            ],
            &assert_now(TOKEN_URL),
        )
        .await;
        assert_eq!(status, 200, "{tokens}");
        assert!(tokens["id_token"].is_string());
        assert_eq!(server.fetches(), 1, "fetched once, then cached");

        // Introspection and revocation take assertions too.
        let access = tokens["access_token"].as_str().unwrap();
        let (status, info) = post_with(
            app,
            "/oauth/introspect",
            &[("token", access)],
            &assert_now(TOKEN_URL),
        )
        .await;
        assert_eq!(
            (status, info["active"].as_bool()),
            (200, Some(true)),
            "{info}"
        );
        let refresh = tokens["refresh_token"].as_str().unwrap();
        let (status, _) = post_with(
            app,
            "/oauth/revoke",
            &[("token", refresh)],
            &assert_now(TOKEN_URL),
        )
        .await;
        assert_eq!(status, 200);
        let (_, info) = post_with(
            app,
            "/oauth/introspect",
            &[("token", access)],
            &assert_now(TOKEN_URL),
        )
        .await;
        assert_eq!(info["active"], false);

        // The client rotates its key: an unknown kid fetches the set again (not within
        // 10 s of the last fetch).
        let rotated = ClientKey::generate("k2");
        server.replace(jwks(&[&rotated]));
        app.advance(11);
        let (status, body) =
            cc_like_refresh(app, &rotated.sign(&claims(&id, TOKEN_URL, app.now()))).await;
        assert_eq!(
            status, 400,
            "authenticated; the refresh token is revoked: {body}"
        );
        assert_eq!(body["error"], "invalid_grant");
        assert_eq!(server.fetches(), 2);
    }
);

/// A refresh with a token nobody holds: past client authentication it is `invalid_grant`.
async fn cc_like_refresh(app: &TestApp, assertion: &str) -> (u16, Value) {
    post_with(
        app,
        "/oauth/token",
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", "rt_nobody"),
        ],
        assertion,
    )
    .await
}

store_test!(
    async fn the_cli_registers_private_key_jwt_clients_and_applications(app: &TestApp) {
        let key = ClientKey::generate("k1");
        let file = app.dir.join("client-jwks.json");
        std::fs::write(&file, jwks(&[&key])).unwrap();
        let account = app.account("Acme").await;
        let file_arg = file.to_str().unwrap();
        let client = app.cli_json(&[
            "client",
            "create",
            "--account",
            &account,
            "--name",
            "signed",
            "--auth-method",
            "private_key_jwt",
            "--jwks",
            file_arg,
        ]);
        assert!(client.get("client_secret").is_none(), "{client}");
        assert_eq!(client["token_endpoint_auth_method"], "private_key_jwt");
        let id = client["client_id"].as_str().unwrap();
        let (status, body) = cc_token(app, &key.sign(&claims(id, TOKEN_URL, app.now()))).await;
        assert_eq!(status, 200, "{body}");
        let application = app.cli_json(&[
            "app",
            "create",
            "--name",
            "signed app",
            "--redirect-uri",
            CB,
            "--post-logout-redirect-uri",
            "https://rp.example/bye",
            "--require-par",
            "--auth-method",
            "private_key_jwt",
            "--jwks-uri",
            "https://rp.example/jwks.json",
        ]);
        assert!(application["client_secret"].is_null(), "{application}");
        assert_eq!(application["require_par"], true);
        assert_eq!(
            application["post_logout_redirect_uris"],
            json!(["https://rp.example/bye"])
        );
        let mut private = key.jwk();
        private["d"] = json!("c2VjcmV0");
        std::fs::write(&file, json!({ "keys": [private] }).to_string()).unwrap();
        for args in [
            vec!["--jwks", file_arg],
            vec!["--jwks-uri", "http://rp.example/jwks.json"],
        ] {
            let mut all = vec![
                "client",
                "create",
                "--account",
                &account,
                "--name",
                "bad",
                "--auth-method",
                "private_key_jwt",
            ];
            all.extend(args);
            let (code, stderr) = app.cli(&all).unwrap_err();
            assert_ne!(code, 0);
            assert!(
                stderr.contains("private") || stderr.contains("https"),
                "{stderr}"
            );
        }
        let (_, stderr) = app
            .cli(&[
                "client",
                "create",
                "--account",
                &account,
                "--name",
                "x",
                "--jwks",
                file_arg,
            ])
            .unwrap_err();
        assert!(stderr.contains("private_key_jwt"), "{stderr}");
    }
);

/// POSTs a dashboard form as the signed-in browser `b`: the status and the page.
async fn post_page(
    app: &TestApp,
    b: &reqwest::Client,
    path: &str,
    pairs: &[(&str, &str)],
) -> (u16, String) {
    let res = app.browser_post(b, path, pairs).await;
    (res.status().as_u16(), res.text().await.unwrap())
}

store_test!(
    async fn the_dashboard_registers_applications_and_credentials_with_keys(app: &TestApp) {
        let account = app.account("Acme").await;
        let user = app.user(&[&account]).await;
        let b = browser();
        let res = app.sign_in_for(&b, &user, "/settings/applications").await;
        assert_eq!(res.status(), 303);
        let html = b
            .get(app.url("/settings/applications"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let csrf = crate::support::flow::field(&html, "csrf").unwrap();
        let key = ClientKey::generate("dash-1");
        let set = jwks(&[&key]);
        let (status, page) = post_page(
            app,
            &b,
            "/settings/applications/register",
            &[
                ("csrf", &csrf),
                ("account", &account),
                ("name", "Keyed App"),
                ("redirect_uris", CB),
                ("post_logout_redirect_uris", "https://rp.example/bye"),
                ("require_par", "on"),
                ("jwks", &set),
            ],
        )
        .await;
        assert_eq!(status, 200, "{page}");
        assert!(
            page.contains("private_key_jwt") && !page.contains("Client secret"),
            "{page}"
        );
        let clients = tessera_core::store::ClientStore::list_clients(app.store(), None)
            .await
            .unwrap();
        let keyed = clients.iter().find(|c| c.name == "Keyed App").unwrap();
        assert_eq!(keyed.jwks, Some(ClientKeys::Inline(set.clone())));
        assert!(keyed.require_par && keyed.secrets.is_empty());
        assert_eq!(keyed.post_logout_redirect_uris, ["https://rp.example/bye"]);
        // Both the keys and a URL: refused, nothing registered.
        let (status, _) = post_page(
            app,
            &b,
            "/settings/applications/register",
            &[
                ("csrf", &csrf),
                ("account", &account),
                ("name", "Both"),
                ("jwks", &set),
                ("jwks_uri", "https://rp.example/jwks"),
            ],
        )
        .await;
        assert_eq!(status, 400);
        // A credential of the account, with keys: it gets tokens by assertion.
        let (status, page) = post_page(
            app,
            &b,
            "/settings/credentials/create",
            &[
                ("csrf", &csrf),
                ("account", &account),
                ("name", "keyed batch"),
                ("jwks", &set),
            ],
        )
        .await;
        assert_eq!(status, 200, "{page}");
        let clients = tessera_core::store::ClientStore::list_clients(app.store(), None)
            .await
            .unwrap();
        let credential = clients.iter().find(|c| c.name == "keyed batch").unwrap();
        assert!(credential.secrets.is_empty());
        let id = credential.id.to_string();
        let (status, body) = cc_token(app, &key.sign(&claims(&id, TOKEN_URL, app.now()))).await;
        assert_eq!(status, 200, "{body}");
    }
);
