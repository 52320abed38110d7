//! The authorization code flow (RFC 6749 §4.1) with PKCE (RFC 7636): sign-in, consent, code.

use serde_json::Value;
use tessera_core::domain::{ordered_secret, ClientId};
use tessera_core::oauth::token_set::new_refresh_token;
use tessera_core::store::{CodeConsumption, TokenSet};

use crate::support::flow::{browser, field, location, param};
use crate::support::jwt;

const CB: &str = "https://partner.example/callback";

store_test!(
    async fn whole_flow_signin_consent_exchange_and_call_the_api(app: &TestApp) {
        let partner = app
            .application(Some(CB), false, Some("books:read account:read"))
            .await;
        let (code, user) = app
            .code_for(&partner, &[("scope", "books:read account:read")])
            .await;
        let (status, body) = app.exchange(&partner, &code).await;
        assert_eq!(status, 200, "{body}");
        let mut keys: Vec<&str> = body
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "access_token",
                "expires_in",
                "refresh_token",
                "scope",
                "token_type"
            ]
        );
        assert_eq!(body["expires_in"], 3600);
        assert_eq!(body["scope"], "account:read books:read");
        let token = body["access_token"].as_str().unwrap();
        let claims = jwt::claims(token);
        assert_eq!(claims["sub"], user.user_id.as_str());
        assert_eq!(claims["acct"], user.accounts[0].as_str());
        assert_eq!(claims["client_id"], partner.client_id.as_str());
        let res = app.get_bearer("/v1/books", token).await;
        assert_eq!(res.status(), 200);
        let account: Value = app
            .get_bearer("/v1/account", token)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(account["account_id"], user.accounts[0].as_str());
    }
);

store_test!(
    async fn pages_refuse_framing_and_caching(app: &TestApp) {
        let partner = app.application(Some(CB), false, None).await;
        let res = app
            .get_authorize(
                &browser(),
                &[("response_type", "code"), ("client_id", &partner.client_id)],
            )
            .await;
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["x-frame-options"], "DENY");
        assert!(res.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'"));
        assert_eq!(res.headers()["cache-control"], "no-store");
    }
);

store_test!(
    async fn rfc6749_4_1_2_1_bad_client_or_redirect_uri_shows_a_page_never_redirects(
        app: &TestApp,
    ) {
        let partner = app.application(Some(CB), false, None).await;
        let b = browser();
        for params in [
            vec![
                ("response_type", "code"),
                ("client_id", "cl_unknown"),
                ("redirect_uri", CB),
            ],
            vec![
                ("response_type", "code"),
                ("client_id", partner.client_id.as_str()),
                ("redirect_uri", "https://evil.example/cb"),
            ],
            vec![
                ("response_type", "code"),
                ("client_id", partner.client_id.as_str()),
                ("redirect_uri", "https://partner.example/callback/"),
            ],
            vec![("response_type", "code")],
        ] {
            let res = app.get_authorize(&b, &params).await;
            assert_eq!(res.status(), 400, "{params:?}");
            assert!(res.headers().get("location").is_none());
        }
    }
);

store_test!(
    async fn require_pkce_holds_confidential_clients_to_pkce_too(app: &TestApp) with |c| {
        c.require_pkce = true;
    } {
        let partner = app.application(Some(CB), false, None).await;
        let params = [
            ("response_type", "code"),
            ("client_id", partner.client_id.as_str()),
            ("redirect_uri", CB),
            ("state", "s2"),
        ];
        let res = app.get_authorize(&browser(), &params).await;
        assert_eq!(res.status(), 303);
        let to = location(&res);
        assert!(to.starts_with(CB), "{to}");
        assert_eq!(param(&to, "error").as_deref(), Some("invalid_request"));
        assert_eq!(param(&to, "state").as_deref(), Some("s2"));
        assert!(param(&to, "error_description")
            .unwrap()
            .contains("PKCE is required"));
    }
);

store_test!(
    async fn other_authorize_errors_redirect_with_error_and_state(app: &TestApp) {
        let partner = app.application(Some(CB), false, Some("books:read")).await;
        let b = browser();
        let cases = [
            (
                vec![("response_type", "token")],
                "unsupported_response_type",
            ),
            (vec![], "invalid_request"),
            (
                vec![("response_type", "code"), ("scope", "books:write")],
                "invalid_scope",
            ),
            (
                vec![
                    ("response_type", "code"),
                    ("code_challenge", "x".repeat(43).leak() as &str),
                    ("code_challenge_method", "plain"),
                ],
                "invalid_request",
            ),
        ];
        for (extra, expected) in cases {
            let mut params = vec![
                ("client_id", partner.client_id.as_str()),
                ("redirect_uri", CB),
                ("state", "s1"),
            ];
            params.extend(extra);
            let res = app.get_authorize(&b, &params).await;
            assert_eq!(res.status(), 303, "{params:?}");
            let to = location(&res);
            assert!(to.starts_with(CB), "{to}");
            assert_eq!(param(&to, "error").as_deref(), Some(expected), "{to}");
            assert_eq!(param(&to, "state").as_deref(), Some("s1"));
            assert!(param(&to, "error_description").is_some());
        }
    }
);

store_test!(
    async fn user_may_narrow_scopes_and_the_response_says_what_was_granted(app: &TestApp) {
        let partner = app.application(Some(CB), false, None).await;
        let account = app.account("Acme").await;
        let user = app.user(&[&account]).await;
        let b = browser();
        let res = app
            .get_authorize(
                &b,
                &[
                    ("response_type", "code"),
                    ("client_id", &partner.client_id),
                    ("scope", "books:read books:write"),
                    ("state", "n"),
                ],
            )
            .await;
        let html = res.text().await.unwrap();
        let res = app.sign_in(&b, &html, &user).await;
        let consent = b
            .get(app.url(&location(&res)))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            consent.contains("Partner App") && consent.contains("Upload new books"),
            "consent names the app and the scopes in words"
        );
        let res = app
            .consent(&b, &consent, "authorize", Some(&["books:read"]))
            .await;
        let code = param(&location(&res), "code").unwrap();
        let (status, body) = app.exchange(&partner, &code).await;
        assert_eq!(status, 200);
        assert_eq!(body["scope"], "books:read");
    }
);

store_test!(
    async fn deny_redirects_access_denied(app: &TestApp) {
        let partner = app.application(Some(CB), false, None).await;
        let account = app.account("Acme").await;
        let user = app.user(&[&account]).await;
        let b = browser();
        let res = app
            .get_authorize(
                &b,
                &[
                    ("response_type", "code"),
                    ("client_id", &partner.client_id),
                    ("state", "d"),
                ],
            )
            .await;
        let html = res.text().await.unwrap();
        let res = app.sign_in(&b, &html, &user).await;
        let consent = b
            .get(app.url(&location(&res)))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let to = location(&app.consent(&b, &consent, "deny", None).await);
        assert_eq!(param(&to, "error").as_deref(), Some("access_denied"));
        assert_eq!(param(&to, "state").as_deref(), Some("d"));
        assert_eq!(
            param(&to, "iss").as_deref(),
            Some("http://tessera.test"),
            "RFC 9207"
        );
    }
);

store_test!(
    async fn approved_before_means_no_consent_page_again(app: &TestApp) {
        let partner = app.application(Some(CB), false, None).await;
        let account = app.account("Acme").await;
        let user = app.user(&[&account]).await;
        let b = browser();
        let params = [
            ("response_type", "code"),
            ("client_id", partner.client_id.as_str()),
            ("scope", "books:read"),
        ];
        let first = app.authorize_with(&b, &user, &params).await;
        assert!(param(&first, "code").is_some());
        let res = app.get_authorize(&b, &params).await;
        assert_eq!(
            res.status(),
            303,
            "same scopes again: straight back with a code"
        );
        assert!(param(&location(&res), "code").is_some());
        let wider = [
            ("response_type", "code"),
            ("client_id", partner.client_id.as_str()),
            ("scope", "books:read books:write"),
        ];
        assert_eq!(
            app.get_authorize(&b, &wider).await.status(),
            200,
            "wider scopes: consent again"
        );
    }
);

store_test!(
    async fn app_without_redirect_uri_gets_the_code_page(app: &TestApp) {
        let partner = app.application(None, false, None).await;
        let account = app.account("Acme").await;
        let user = app.user(&[&account]).await;
        let b = browser();
        let to = app
            .authorize_with(
                &b,
                &user,
                &[("response_type", "code"), ("client_id", &partner.client_id)],
            )
            .await;
        assert!(to.starts_with("http://tessera.test/oauth/code?"), "{to}");
        let path = to.trim_start_matches("http://tessera.test");
        let html = b
            .get(app.url(path))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let code = field(&html, "code").expect("the code on the page");
        assert!(code.starts_with("ac_"), "{code}");
        assert_eq!(
            param(&to, "code"),
            None,
            "the code travels sealed, not in the URL"
        );
        assert_eq!(app.exchange(&partner, &code).await.0, 200);
    }
);

store_test!(
    async fn code_is_single_use_and_a_second_use_revokes_its_tokens(app: &TestApp) {
        let partner = app.application(Some(CB), false, None).await;
        let (code, _) = app.code_for(&partner, &[]).await;
        let (status, body) = app.exchange(&partner, &code).await;
        assert_eq!(status, 200);
        let token = body["access_token"].as_str().unwrap().to_owned();
        let refresh = body["refresh_token"].as_str().unwrap().to_owned();
        let (status, err) = app.exchange(&partner, &code).await;
        assert_eq!(
            (status, err["error"].as_str()),
            (400, Some("invalid_grant"))
        );
        assert_eq!(app.get_bearer("/v1/books", &token).await.status(), 401);
        assert_eq!(
            app.refresh(&partner, &refresh).await.1["error"],
            "invalid_grant"
        );
    }
);

store_test!(
    async fn a_replay_during_the_first_exchange_still_revokes_its_token_set(app: &TestApp) {
        // The first exchange has consumed the code and is still signing when the replay
        // arrives: its token set is not stored yet, and must never become live.
        let partner = app.application(Some(CB), false, None).await;
        let (code, _) = app.code_for(&partner, &[]).await;
        let hash = ordered_secret::key(&code);
        let client_id = ClientId::parse(&partner.client_id).unwrap();
        let CodeConsumption::Consumed(first) = app
            .store()
            .consume_authorization_code(&hash, &client_id, app.now())
            .await
            .unwrap()
        else {
            panic!("a fresh code is consumed");
        };
        let (status, err) = app.exchange(&partner, &code).await;
        assert_eq!(
            (status, err["error"].as_str()),
            (400, Some("invalid_grant"))
        );
        let set = TokenSet {
            id: first.token_set_id.clone(),
            client_id: first.client_id.clone(),
            user_id: first.user_id.clone(),
            account_id: first.account_id.clone(),
            scopes: first.scopes.clone(),
            auth_time: first.auth_time,
            dpop_jkt: None,
            created_at: app.now(),
            revoked_at: None,
        };
        let (refresh, stored) = new_refresh_token(
            &set.id,
            "jti-of-the-first-exchange",
            app.now() + 60,
            app.now(),
        )
        .unwrap();
        let created = app.store().insert_token_set(&set, &stored).await.unwrap();
        assert!(!created, "the replayed code's set was created live");
        assert_eq!(
            app.refresh(&partner, &refresh).await.1["error"],
            "invalid_grant"
        );
    }
);

store_test!(
    async fn code_expires_after_60_seconds(app: &TestApp) {
        let partner = app.application(Some(CB), false, None).await;
        let (code, _) = app.code_for(&partner, &[]).await;
        app.advance(60);
        let (status, err) = app.exchange(&partner, &code).await;
        assert_eq!(
            (status, err["error"].as_str()),
            (400, Some("invalid_grant"))
        );
        assert!(err["error_description"]
            .as_str()
            .unwrap()
            .contains("expired"));
    }
);

store_test!(
    async fn code_of_another_client_or_other_redirect_uri_is_invalid_grant(app: &TestApp) {
        let partner = app.application(Some(CB), false, None).await;
        let other = app.application(Some(CB), false, None).await;
        let (code, _) = app.code_for(&partner, &[]).await;
        assert_eq!(
            app.exchange(&other, &code).await.1["error"],
            "invalid_grant"
        );
        let (code, _) = app.code_for(&partner, &[]).await;
        let (_, err) = app
            .app_token(
                &partner,
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", "https://partner.example/other"),
                ],
            )
            .await;
        assert_eq!(err["error"], "invalid_grant");
        let (code, _) = app.code_for(&partner, &[]).await;
        let (_, err) = app
            .app_token(
                &partner,
                &[("grant_type", "authorization_code"), ("code", &code)],
            )
            .await;
        assert_eq!(
            err["error"], "invalid_grant",
            "redirect_uri was sent at authorize, so it is required"
        );
        let (_, err) = app
            .app_token(
                &partner,
                &[
                    ("grant_type", "authorization_code"),
                    ("code", "ac_nope"),
                    ("redirect_uri", CB),
                ],
            )
            .await;
        assert_eq!(err["error"], "invalid_grant");
    }
);

store_test!(
    async fn public_clients_need_pkce_s256_and_the_right_verifier(app: &TestApp) {
        let public = app.application(Some(CB), true, None).await;
        assert!(public.client_secret.is_none());
        let res = app
            .get_authorize(
                &browser(),
                &[
                    ("response_type", "code"),
                    ("client_id", &public.client_id),
                    ("redirect_uri", CB),
                ],
            )
            .await;
        assert_eq!(
            param(&location(&res), "error").as_deref(),
            Some("invalid_request")
        );

        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        let pkce = [
            ("code_challenge", challenge),
            ("code_challenge_method", "S256"),
        ];
        let (code, _) = app.code_for(&public, &pkce).await;
        let wrong = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXj";
        let (_, err) = app
            .app_token(
                &public,
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", CB),
                    ("code_verifier", wrong),
                ],
            )
            .await;
        assert_eq!(err["error"], "invalid_grant");
        let (code, _) = app.code_for(&public, &pkce).await;
        let (status, body) = app
            .app_token(
                &public,
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", CB),
                    ("code_verifier", verifier),
                ],
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert!(body["refresh_token"].is_string());
    }
);

store_test!(
    async fn confidential_client_may_use_basic_auth_and_wrong_secret_is_invalid_client(
        app: &TestApp,
    ) {
        let partner = app.application(Some(CB), false, None).await;
        let (code, _) = app.code_for(&partner, &[]).await;
        let res = app
            .http
            .post(app.url("/oauth/token"))
            .basic_auth(&partner.client_id, partner.client_secret.as_deref())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!(
                "grant_type=authorization_code&code={code}&redirect_uri={}",
                crate::support::flow::enc(CB)
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let (code, _) = app.code_for(&partner, &[]).await;
        let res = app
            .http
            .post(app.url("/oauth/token"))
            .basic_auth(&partner.client_id, Some("wrong"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("grant_type=authorization_code&code={code}"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401);
        assert!(res.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic"));
    }
);

store_test!(
    async fn signin_is_generic_csrf_protected_and_rate_limited(app: &TestApp) {
        let partner = app.application(Some(CB), false, None).await;
        let account = app.account("Acme").await;
        let mut user = app.user(&[&account]).await;
        let b = browser();
        let html = app
            .get_authorize(
                &b,
                &[("response_type", "code"), ("client_id", &partner.client_id)],
            )
            .await
            .text()
            .await
            .unwrap();
        let real = user.password.clone();
        user.password = "wrong password".into();
        let res = app.sign_in(&b, &html, &user).await;
        assert_eq!(res.status(), 401);
        assert!(res
            .text()
            .await
            .unwrap()
            .contains("The email or password is wrong."));
        let mut stranger = crate::support::flow::TestUser {
            email: "nobody@example.com".into(),
            password: "x".into(),
            user_id: String::new(),
            accounts: vec![],
        };
        let res = app.sign_in(&b, &html, &stranger).await;
        assert!(
            res.text()
                .await
                .unwrap()
                .contains("The email or password is wrong."),
            "unknown email: same message"
        );
        stranger.email.clear();

        // No CSRF token: refused, with a message that says what to do.
        let res = b
            .post(app.url("/signin"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!(
                "email={}&password={}",
                crate::support::flow::enc(&user.email),
                real
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403);
        assert!(res.text().await.unwrap().contains("another tab"));

        for _ in 0..4 {
            app.sign_in(&b, &html, &user).await;
        }
        user.password = real;
        let res = app.sign_in(&b, &html, &user).await;
        assert_eq!(
            res.status(),
            429,
            "5 failures: even the right password waits"
        );
        app.advance(900);
        assert_eq!(app.sign_in(&b, &html, &user).await.status(), 303);
        assert!(field(&html, "csrf").is_some());
    }
);

store_test!(
    async fn codes_of_another_client_are_neither_used_nor_burnt(app: &TestApp) {
        // Issue 12 item 7: the client is part of consuming the code, so an application that
        // learns another's code can neither redeem it nor get its tokens revoked.
        let partner = app.application(Some(CB), false, None).await;
        let thief = app.application(Some(CB), false, None).await;
        let (code, _) = app.code_for(&partner, &[]).await;
        for _ in 0..2 {
            let (status, err) = app.exchange(&thief, &code).await;
            assert_eq!(
                (status, err["error"].as_str()),
                (400, Some("invalid_grant"))
            );
        }
        let (status, body) = app.exchange(&partner, &code).await;
        assert_eq!(status, 200, "its own client still redeems it: {body}");
        let access = body["access_token"].as_str().unwrap();
        assert_eq!(app.get_bearer("/v1/books", access).await.status(), 200);
        let (status, _) = app
            .refresh(&partner, body["refresh_token"].as_str().unwrap())
            .await;
        assert_eq!(status, 200, "no replay revocation happened");
    }
);

store_test!(
    async fn consent_is_never_skipped_for_public_clients_or_non_https_redirects(app: &TestApp) {
        // Issue 12 item 3 (RFC 8252 §8.6, RFC 9700 §2.1): anyone can present a public
        // client's id, and a plain-http redirect proves no application.
        let loopback = "http://127.0.0.1:9/cb";
        let public = app.application(Some(CB), true, None).await;
        let plain = app.application(Some(loopback), false, None).await;
        let pkce = [
            (
                "code_challenge",
                "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            ),
            ("code_challenge_method", "S256"),
        ];
        for (client, redirect) in [(&public, CB), (&plain, loopback)] {
            let account = app.account("Acme").await;
            let user = app.user(&[&account]).await;
            let b = browser();
            let mut params = vec![
                ("response_type", "code"),
                ("client_id", client.client_id.as_str()),
                ("redirect_uri", redirect),
                ("scope", "books:read"),
            ];
            params.extend_from_slice(&pkce);
            let first = app.authorize_with(&b, &user, &params).await;
            assert!(param(&first, "code").is_some(), "{first}");
            let again = app.get_authorize(&b, &params).await;
            assert_eq!(again.status(), 200, "{redirect}: the consent page again");
            assert!(again.text().await.unwrap().contains("wants access"));
        }
    }
);

store_test!(
    async fn unapproved_applications_are_for_their_own_accounts_users_only(app: &TestApp) {
        // Issue 12 item 4: a customer's own registration cannot phish other accounts' users.
        let owner = app.account("Registrant").await;
        let elsewhere = app.account("Elsewhere").await;
        let partner = app.unapproved_application(CB, &owner).await;
        let params = [
            ("response_type", "code"),
            ("client_id", partner.client_id.as_str()),
            ("redirect_uri", CB),
            ("state", "s"),
        ];

        let stranger = app.user(&[&elsewhere]).await;
        let to = app.refused_authorize(&stranger, &params).await;
        assert_eq!(param(&to, "state").as_deref(), Some("s"));

        let member = app.user(&[&elsewhere, &owner]).await;
        let b = browser();
        let res = app.signed_in_authorize(&b, &member, &params).await;
        assert_eq!(res.status(), 200);
        let html = res.text().await.unwrap();
        assert!(
            html.contains("Not reviewed"),
            "unapproved is marked plainly"
        );
        assert!(
            html.contains("partner.example"),
            "the redirect host is shown"
        );
        assert!(
            html.contains(&owner) && !html.contains(&elsewhere),
            "only the registrant's account is offered"
        );
        let forged = html.replace(&owner, &elsewhere);
        assert_eq!(
            app.consent(&b, &forged, "authorize", None).await.status(),
            400,
            "another account cannot be chosen by editing the form"
        );
        let to = location(&app.consent(&b, &html, "authorize", None).await);
        let code = param(&to, "code").unwrap_or_else(|| panic!("no code in {to}"));
        assert_eq!(app.exchange(&partner, &code).await.0, 200);

        let approved = app.application(Some(CB), false, None).await;
        let params = [
            ("response_type", "code"),
            ("client_id", approved.client_id.as_str()),
        ];
        let html = app
            .signed_in_authorize(&browser(), &stranger, &params)
            .await
            .text()
            .await
            .unwrap();
        assert!(html.contains("partner.example") && !html.contains("Not reviewed"));
    }
);

store_test!(
    async fn an_unapproved_cli_application_with_an_account_is_for_that_accounts_users(
        app: &TestApp,
    ) {
        // Without --approved and without an owner nobody could authorize it; --account makes
        // its registrant's users able to, before the operator approves it.
        let owner = app.account("Registrant").await;
        let elsewhere = app.account("Elsewhere").await;
        let (_, err) = app
            .cli(&[
                "app",
                "create",
                "--name",
                "Stray",
                "--account",
                "acct_missing",
            ])
            .unwrap_err();
        assert!(err.contains("no API account acct_missing"), "{err}");
        let created = app.cli_json(&[
            "app",
            "create",
            "--name",
            "Partner App",
            "--redirect-uri",
            CB,
            "--account",
            &owner,
        ]);
        assert_eq!(created["approved"], false);
        assert_eq!(created["account_id"].as_str(), Some(owner.as_str()));
        let partner = crate::support::flow::TestApplication {
            client_id: created["client_id"].as_str().unwrap().to_owned(),
            client_secret: created["client_secret"].as_str().map(str::to_owned),
            redirect_uri: Some(CB.to_owned()),
        };
        let params = [
            ("response_type", "code"),
            ("client_id", partner.client_id.as_str()),
            ("redirect_uri", CB),
            ("state", "s"),
        ];

        let stranger = app.user(&[&elsewhere]).await;
        app.refused_authorize(&stranger, &params).await;

        let member = app.user(&[&owner]).await;
        let b = browser();
        let res = app.signed_in_authorize(&b, &member, &params).await;
        assert_eq!(res.status(), 200);
        let html = res.text().await.unwrap();
        let to = location(&app.consent(&b, &html, "authorize", None).await);
        let code = param(&to, "code").unwrap_or_else(|| panic!("no code in {to}"));
        assert_eq!(app.exchange(&partner, &code).await.0, 200);
    }
);

store_test!(
    async fn parallel_wrong_sign_ins_are_counted_before_argon2(app: &TestApp)
    with |c| {
        // Costly enough that the guesses overlap while argon2id runs.
        c.argon2_memory_kib = 8192;
        c.argon2_iterations = 2;
    }
    {
        let account = app.account("Acme").await;
        let user = app.user(&[&account]).await;
        let b = browser();
        let html = b
            .get(app.url("/signin"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let guessers: Vec<_> = (0..50)
            .map(|i| crate::support::flow::TestUser {
                email: user.email.clone(),
                password: format!("wrong {i}"),
                user_id: user.user_id.clone(),
                accounts: vec![],
            })
            .collect();
        let statuses: Vec<u16> = crate::support::join_all(guessers.iter().map(|guess| async {
            app.sign_in(&b, &html, guess).await.status().as_u16()
        }))
        .await;
        let verified = statuses.iter().filter(|s| **s == 401).count();
        let limited = statuses.iter().filter(|s| **s == 429).count();
        assert_eq!(verified + limited, 50, "{statuses:?}");
        assert!(verified <= 5, "{verified} guesses verified; the limit is 5");
    }
);

store_test!(
    async fn login_hint_prefills_the_sign_in_form(app: &TestApp) {
        let partner = app.application(Some(CB), false, None).await;
        let sign_in = |hint: &'static str| {
            let partner = &partner;
            async move {
                let res = app
                    .get_authorize(
                        &browser(),
                        &[
                            ("response_type", "code"),
                            ("client_id", &partner.client_id),
                            ("login_hint", hint),
                        ],
                    )
                    .await;
                assert_eq!(res.status(), 200);
                res.text().await.unwrap()
            }
        };
        let html = sign_in("ada@example.com").await;
        assert!(html.contains(r#"value="ada@example.com""#), "{html}");
        assert!(
            html.contains(r#"type="password" autocomplete="current-password" required autofocus"#),
            "the cursor waits in the password field: {html}"
        );
        let html = sign_in("not an email").await;
        assert!(
            html.contains(r#"value="""#) && !html.contains("not an email"),
            "{html}"
        );
        let html = sign_in("\"><script>@x").await;
        assert!(!html.contains("<script>"), "escaped: {html}");
    }
);
