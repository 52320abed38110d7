//! OpenID Connect (issue 18): ID tokens from the code flow and from refresh, UserInfo,
//! discovery, `prompt` and `max_age`, and the bad input around them.

use aws_lc_rs::digest;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::Value;

use crate::support::flow::{
    assert_redirected_error, browser, field, location, param, AppSpec, TestApplication, TestUser,
};
use crate::support::{jwt, TestApp};

const CB: &str = "https://rp.example/callback";

/// The at_hash of `access_token` for ES256 (the default algorithm), computed here.
fn es256_at_hash(access_token: &str) -> String {
    let digest = digest::digest(&digest::SHA256, access_token.as_bytes());
    URL_SAFE_NO_PAD.encode(&digest.as_ref()[..16])
}

/// An application, a user of a new account named Ada Lovelace with a verified email, and
/// the parameters of an authorization request for `scope`.
async fn rp_and_user(app: &TestApp) -> (TestApplication, TestUser) {
    let rp = app.application(Some(CB), false, Some("books:read")).await;
    let account = app.account("Acme").await;
    let user = app
        .user_named(&[&account], Some("Ada Lovelace"), true)
        .await;
    (rp, user)
}

fn request<'a>(rp: &'a TestApplication, scope: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("response_type", "code"),
        ("client_id", &rp.client_id),
        ("redirect_uri", CB),
        ("scope", scope),
        ("state", "st-1"),
    ]
}

async fn userinfo(app: &TestApp, access_token: &str) -> (u16, Value) {
    let res = app.get_bearer("/oauth/userinfo", access_token).await;
    (res.status().as_u16(), res.json().await.unwrap())
}

store_test!(
    async fn the_code_flow_with_openid_returns_an_id_token_and_refresh_keeps_the_sign_in_time(
        app: &TestApp,
    ) {
        let (rp, user) = rp_and_user(app).await;
        let mut params = request(&rp, "openid profile email books:read");
        params.push(("nonce", "n-0S6_WzA2Mj"));
        let signed_in_at = app.now();
        let to = app.authorize_with(&browser(), &user, &params).await;
        let code = param(&to, "code").unwrap_or_else(|| panic!("no code: {to}"));
        app.advance(5);
        let (status, tokens) = app.exchange(&rp, &code).await;
        assert_eq!(status, 200, "{tokens}");
        let id_token = tokens["id_token"].as_str().expect("an id_token");
        let access_token = tokens["access_token"].as_str().unwrap();
        let meta = app.get_json("/.well-known/openid-configuration").await;
        let jwks = app.get_json("/.well-known/jwks.json").await;
        assert!(
            jwt::verify_with_jwks(id_token, &jwks),
            "signed by a published key"
        );
        let header = jwt::header(id_token);
        assert_eq!(header["typ"], "JWT");
        assert_eq!(
            header["alg"],
            meta["id_token_signing_alg_values_supported"][0]
        );
        let claims = jwt::claims(id_token);
        assert_eq!(claims["iss"], "http://tessera.test");
        assert_eq!(claims["sub"], user.user_id.as_str());
        assert_eq!(claims["aud"], rp.client_id.as_str());
        assert_eq!(claims["nonce"], "n-0S6_WzA2Mj");
        assert_eq!(claims["auth_time"], signed_in_at);
        assert_eq!(claims["iat"], signed_in_at + 5);
        assert!(claims["exp"].as_i64().unwrap() > claims["iat"].as_i64().unwrap());
        assert_eq!(claims["at_hash"], es256_at_hash(access_token).as_str());
        assert_eq!(claims["name"], "Ada Lovelace");
        assert_eq!(claims["email"], user.email.as_str());
        assert_eq!(claims["email_verified"], true);
        assert_eq!(tokens["scope"], "books:read email openid profile");

        // UserInfo agrees, by GET and by POST.
        let (status, info) = userinfo(app, access_token).await;
        assert_eq!(status, 200, "{info}");
        assert_eq!(info["sub"], claims["sub"]);
        assert_eq!(info["name"], "Ada Lovelace");
        assert_eq!(info["email_verified"], true);
        let res = app
            .http
            .post(app.url("/oauth/userinfo"))
            .bearer_auth(access_token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["cache-control"], "no-store");
        assert_eq!(res.json::<Value>().await.unwrap(), info);
        // The access token still works at the API: the identity scopes ride along.
        assert_eq!(
            app.get_bearer("/v1/books", access_token).await.status(),
            200
        );

        // §12.2: a refresh's ID token names the original sign-in and carries no nonce.
        app.advance(100);
        let (status, refreshed) = app
            .refresh(&rp, tokens["refresh_token"].as_str().unwrap())
            .await;
        assert_eq!(status, 200, "{refreshed}");
        let again = jwt::claims(refreshed["id_token"].as_str().expect("an id_token"));
        assert_eq!(again["auth_time"], signed_in_at);
        assert_eq!(again["iat"], signed_in_at + 105);
        assert_eq!(
            (&again["sub"], &again["aud"]),
            (&claims["sub"], &claims["aud"])
        );
        assert!(again.get("nonce").is_none(), "{again}");
        let new_access = refreshed["access_token"].as_str().unwrap();
        assert_eq!(again["at_hash"], es256_at_hash(new_access).as_str());

        // Narrowed to leave out `openid`, a refresh is plain OAuth: no ID token.
        let (status, narrowed) = app
            .app_token(
                &rp,
                &[
                    ("grant_type", "refresh_token"),
                    (
                        "refresh_token",
                        refreshed["refresh_token"].as_str().unwrap(),
                    ),
                    ("scope", "books:read"),
                ],
            )
            .await;
        assert_eq!(status, 200, "{narrowed}");
        assert!(narrowed.get("id_token").is_none(), "{narrowed}");
        let (status, refused) = userinfo(app, narrowed["access_token"].as_str().unwrap()).await;
        assert_eq!(
            (status, refused["error"].as_str()),
            (403, Some("insufficient_scope"))
        );
    }
);

store_test!(
    async fn openid_without_profile_or_email_releases_only_the_subject(app: &TestApp) {
        let (rp, user) = rp_and_user(app).await;
        let to = app
            .authorize_with(&browser(), &user, &request(&rp, "openid books:read"))
            .await;
        let (status, tokens) = app.exchange(&rp, &param(&to, "code").unwrap()).await;
        assert_eq!(status, 200, "{tokens}");
        let claims = jwt::claims(tokens["id_token"].as_str().unwrap());
        for absent in ["name", "email", "email_verified", "nonce"] {
            assert!(claims.get(absent).is_none(), "{absent}: {claims}");
        }
        let (status, info) = userinfo(app, tokens["access_token"].as_str().unwrap()).await;
        assert_eq!(status, 200);
        assert_eq!(info.as_object().unwrap().len(), 1, "only sub: {info}");
    }
);

store_test!(
    async fn the_consent_page_names_identity_scopes_and_unchecking_openid_makes_it_plain_oauth(
        app: &TestApp,
    ) {
        let (rp, user) = rp_and_user(app).await;
        let b = browser();
        let res = app
            .signed_in_authorize(&b, &user, &request(&rp, "openid email books:read"))
            .await;
        assert_eq!(res.status(), 200);
        let html = res.text().await.unwrap();
        assert!(html.contains("Know who you are"), "{html}");
        assert!(html.contains("See your email address"), "{html}");
        let res = app
            .consent(&b, &html, "authorize", Some(&["books:read", "email"]))
            .await;
        assert_eq!(res.status(), 303);
        let code = param(&location(&res), "code").unwrap();
        let (status, tokens) = app.exchange(&rp, &code).await;
        assert_eq!(status, 200, "{tokens}");
        assert_eq!(tokens["scope"], "books:read email");
        assert!(tokens.get("id_token").is_none(), "{tokens}");
    }
);

store_test!(
    async fn userinfo_answers_rfc_6750_errors(app: &TestApp) {
        let res = app
            .http
            .get(app.url("/oauth/userinfo"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401);
        assert!(res.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer"));
        let (status, body) = userinfo(app, "not-a-token").await;
        assert_eq!(
            (status, body["error"].as_str()),
            (401, Some("invalid_token"))
        );
        // A client credentials token is an account's, never a user's.
        let client = app.client(Some("books:read")).await;
        let token = app.access_token(&client).await;
        let (status, body) = userinfo(app, &token).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (403, Some("insufficient_scope"))
        );
        let res = app
            .http
            .get(app.url(&format!("/oauth/userinfo?access_token={token}")))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400);
        // A revoked token of a user's grant is refused.
        let (rp, user) = rp_and_user(app).await;
        let to = app
            .authorize_with(&browser(), &user, &request(&rp, "openid"))
            .await;
        let (_, tokens) = app.exchange(&rp, &param(&to, "code").unwrap()).await;
        let access = tokens["access_token"].as_str().unwrap();
        assert_eq!(userinfo(app, access).await.0, 200);
        let mut pairs = vec![("token", access), ("client_id", rp.client_id.as_str())];
        let secret = rp.client_secret.clone().unwrap();
        pairs.push(("client_secret", &secret));
        let res = app
            .post_form("/oauth/revoke", &crate::support::flow::form_body(&pairs))
            .await;
        assert_eq!(res.status(), 200);
        let (status, body) = userinfo(app, access).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (401, Some("invalid_token"))
        );
    }
);

store_test!(
    async fn discovery_is_the_same_document_as_rfc_8414_metadata(app: &TestApp) {
        let oidc = app.get_json("/.well-known/openid-configuration").await;
        let oauth = app
            .get_json("/.well-known/oauth-authorization-server")
            .await;
        assert_eq!(oidc, oauth);
        assert_eq!(
            oidc["userinfo_endpoint"],
            "http://tessera.test/oauth/userinfo"
        );
        assert_eq!(
            oidc["subject_types_supported"],
            serde_json::json!(["public"])
        );
        for scope in ["openid", "profile", "email", "books:read"] {
            assert!(
                oidc["scopes_supported"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|s| s == scope),
                "{scope}"
            );
        }
        for claim in [
            "sub",
            "auth_time",
            "nonce",
            "name",
            "email",
            "email_verified",
        ] {
            assert!(
                oidc["claims_supported"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|c| c == claim),
                "{claim}"
            );
        }
        assert_eq!(oidc["request_uri_parameter_supported"], false);
    }
);

store_test!(
    async fn prompt_none_never_shows_a_page(app: &TestApp) {
        let (rp, user) = rp_and_user(app).await;
        let b = browser();
        let mut params = request(&rp, "openid books:read");
        params.push(("prompt", "none"));
        // No session: login_required, back to the client with state and iss.
        let res = app.get_authorize(&b, &params).await;
        assert_eq!(res.status(), 303);
        let to = location(&res);
        assert!(to.starts_with(CB), "{to}");
        assert_eq!(param(&to, "error").as_deref(), Some("login_required"));
        assert_eq!(param(&to, "state").as_deref(), Some("st-1"));
        assert_eq!(param(&to, "iss").as_deref(), Some("http://tessera.test"));
        // Signed in and consented once: prompt=none answers a code at once.
        app.authorize_with(&b, &user, &request(&rp, "openid books:read"))
            .await;
        let res = app.get_authorize(&b, &params).await;
        assert_eq!(res.status(), 303);
        let to = location(&res);
        let code = param(&to, "code").unwrap_or_else(|| panic!("a code: {to}"));
        let (status, tokens) = app.exchange(&rp, &code).await;
        assert_eq!(status, 200);
        assert!(tokens["id_token"].is_string());
        // A scope the user never approved needs the consent page, which prompt=none forbids.
        let mut wider = request(&rp, "openid email books:read");
        wider.push(("prompt", "none"));
        let to = location(&app.get_authorize(&b, &wider).await);
        assert_redirected_error(&to, "consent_required");
        assert!(param(&to, "code").is_none());
    }
);

/// Whether `res` is the sign-in page.
async fn is_sign_in_page(res: reqwest::Response) -> Option<String> {
    if res.status() != 200 {
        return None;
    }
    let html = res.text().await.unwrap();
    field(&html, "return_to").map(|_| html)
}

store_test!(
    async fn prompt_login_and_max_age_ask_for_a_fresh_sign_in_once(app: &TestApp) {
        let (rp, user) = rp_and_user(app).await;
        let b = browser();
        let first_sign_in = app.now();
        app.authorize_with(&b, &user, &request(&rp, "openid books:read"))
            .await;

        // Signed in and consented: a plain request answers at once.
        let to = location(
            &app.get_authorize(&b, &request(&rp, "openid books:read"))
                .await,
        );
        assert!(param(&to, "code").is_some(), "{to}");

        // prompt=login: the sign-in page, then (signed in again) a code whose ID token says so.
        app.advance(30);
        let mut login = request(&rp, "openid books:read");
        login.push(("prompt", "login"));
        let html = is_sign_in_page(app.get_authorize(&b, &login).await)
            .await
            .expect("the sign-in page despite the session");
        let res = app.sign_in(&b, &html, &user).await;
        assert_eq!(res.status(), 303);
        let res = b.get(app.url(&location(&res))).send().await.unwrap();
        assert_eq!(res.status(), 303, "no second sign-in page");
        let code = param(&location(&res), "code").unwrap();
        let (_, tokens) = app.exchange(&rp, &code).await;
        let claims = jwt::claims(tokens["id_token"].as_str().unwrap());
        assert_eq!(claims["auth_time"], first_sign_in + 30);

        // max_age: a sign-in older than it asks for another; a younger one does not.
        app.advance(120);
        let mut young = request(&rp, "openid books:read");
        young.push(("max_age", "300"));
        let to = location(&app.get_authorize(&b, &young).await);
        assert!(param(&to, "code").is_some(), "{to}");
        let mut old = request(&rp, "openid books:read");
        old.push(("max_age", "60"));
        assert!(is_sign_in_page(app.get_authorize(&b, &old).await)
            .await
            .is_some());
        // …and with prompt=none that is login_required.
        old.push(("prompt", "none"));
        let to = location(&app.get_authorize(&b, &old).await);
        assert_redirected_error(&to, "login_required");
    }
);

store_test!(
    async fn prompt_consent_shows_the_page_despite_an_earlier_consent(app: &TestApp) {
        let (rp, user) = rp_and_user(app).await;
        let b = browser();
        app.authorize_with(&b, &user, &request(&rp, "openid books:read"))
            .await;
        let mut params = request(&rp, "openid books:read");
        params.push(("prompt", "consent"));
        let res = app.get_authorize(&b, &params).await;
        assert_eq!(res.status(), 200, "the consent page");
        let html = res.text().await.unwrap();
        assert!(field(&html, "request").is_some(), "{html}");
    }
);

store_test!(
    async fn bad_openid_parameters_go_back_as_errors_and_grant_nothing(app: &TestApp) {
        let (rp, user) = rp_and_user(app).await;
        let b = browser();
        // Signed in first, so each request below reaches the checks with a session.
        app.authorize_with(&b, &user, &request(&rp, "openid")).await;
        let long_nonce = "n".repeat(513);
        for (name, value, error) in [
            ("prompt", "bogus", "invalid_request"),
            ("prompt", "none login", "invalid_request"),
            ("max_age", "-1", "invalid_request"),
            ("max_age", "soon", "invalid_request"),
            ("nonce", long_nonce.as_str(), "invalid_request"),
            (
                "request",
                "eyJhbGciOiJub25lIn0.e30.",
                "request_not_supported",
            ),
            ("request_uri", "urn:example:x", "request_uri_not_supported"),
        ] {
            let mut params = request(&rp, "openid");
            params.push((name, value));
            let res = app.get_authorize(&b, &params).await;
            assert_eq!(res.status(), 303, "{name}={value}");
            let to = location(&res);
            assert!(to.starts_with(CB), "{to}");
            assert_eq!(
                param(&to, "error").as_deref(),
                Some(error),
                "{name}={value}"
            );
            assert!(param(&to, "error_description").is_some());
            assert!(param(&to, "code").is_none());
        }
    }
);

store_test!(
    async fn identity_scopes_are_not_the_catalogs_nor_for_client_credentials(app: &TestApp) {
        use tessera_core::audit::Actor;
        use tessera_core::manage::scopes;
        for name in ["openid", "profile", "email"] {
            let refused = scopes::create_scope(
                app.store(),
                &Actor::cli("test"),
                name,
                "Something else",
                app.now(),
            )
            .await
            .unwrap_err();
            assert!(refused.to_string().contains("OpenID Connect"), "{refused}");
        }
        let client = app.client(Some("books:read")).await;
        let res = app
            .token_basic(&client, "grant_type=client_credentials&scope=openid")
            .await;
        assert_eq!(res.status(), 400);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"], "invalid_scope");
    }
);

const SIGNED_OUT: &str = "https://rp.example/signed-out";

/// An application with a post-logout redirect URI, a user signed in to it through `b`, and
/// the ID token of that sign-in.
async fn signed_in_with_logout(app: &TestApp, b: &reqwest::Client) -> (TestApplication, String) {
    let spec = AppSpec {
        post_logout_redirect_uris: vec![SIGNED_OUT.to_owned()],
        ..AppSpec::default()
    };
    let rp = app.application_spec(CB, spec).await;
    let account = app.account("Acme").await;
    let user = app.user(&[&account]).await;
    let to = app.authorize_with(b, &user, &request(&rp, "openid")).await;
    let (_, tokens) = app.exchange(&rp, &param(&to, "code").unwrap()).await;
    (rp, tokens["id_token"].as_str().unwrap().to_owned())
}

/// Whether `b` still has a Tessera session: prompt=none answers a code, not login_required.
async fn has_session(app: &TestApp, b: &reqwest::Client, rp: &TestApplication) -> bool {
    let mut params = request(rp, "openid");
    params.push(("prompt", "none"));
    let to = location(&app.get_authorize(b, &params).await);
    param(&to, "code").is_some()
}

fn logout_path(pairs: &[(&str, &str)]) -> String {
    format!("/oauth/logout?{}", crate::support::flow::form_body(pairs))
}

store_test!(
    async fn rp_initiated_logout_with_a_hint_of_the_signed_in_user_ends_the_session_at_once(
        app: &TestApp,
    ) {
        let b = browser();
        let (rp, id_token) = signed_in_with_logout(app, &b).await;
        assert!(has_session(app, &b, &rp).await);
        let meta = app.get_json("/.well-known/openid-configuration").await;
        assert_eq!(
            meta["end_session_endpoint"],
            "http://tessera.test/oauth/logout"
        );
        let path = logout_path(&[
            ("id_token_hint", &id_token),
            ("post_logout_redirect_uri", SIGNED_OUT),
            ("state", "bye 1"),
        ]);
        let res = b.get(app.url(&path)).send().await.unwrap();
        assert_eq!(res.status(), 303);
        assert_eq!(location(&res), format!("{SIGNED_OUT}?state=bye%201"));
        assert!(!has_session(app, &b, &rp).await, "the session is over");
        // Again, with no session left: straight back, nothing to end.
        let res = b.get(app.url(&path)).send().await.unwrap();
        assert_eq!(res.status(), 303);
        // Sent as a form (POST), with client_id instead of a hint: the same.
        let b2 = browser();
        let (rp2, _) = signed_in_with_logout(app, &b2).await;
        let pairs = [
            ("client_id", rp2.client_id.as_str()),
            ("post_logout_redirect_uri", SIGNED_OUT),
        ];
        let res = app.browser_post(&b2, "/oauth/logout", &pairs).await;
        assert_eq!(res.status(), 200, "no hint: the user is asked");
        assert!(has_session(app, &b2, &rp2).await);
    }
);

store_test!(
    async fn rp_initiated_logout_without_a_hint_asks_the_user_first(app: &TestApp) {
        let b = browser();
        let (rp, _) = signed_in_with_logout(app, &b).await;
        let path = logout_path(&[
            ("client_id", &rp.client_id),
            ("post_logout_redirect_uri", SIGNED_OUT),
        ]);
        // "Stay signed in": back to the application, the session kept.
        let html = b
            .get(app.url(&path))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(html.contains("Relying Party"), "{html}");
        let confirm = |decision: &'static str, html: String| {
            let b = &b;
            async move {
                let (csrf, request) = (
                    field(&html, "csrf").unwrap(),
                    field(&html, "request").unwrap(),
                );
                let pairs = [
                    ("csrf", csrf.as_str()),
                    ("request", request.as_str()),
                    ("decision", decision),
                ];
                app.browser_post(b, "/oauth/logout", &pairs).await
            }
        };
        let res = confirm("stay", html).await;
        assert_eq!(
            (res.status().as_u16(), location(&res)),
            (303, SIGNED_OUT.to_owned())
        );
        assert!(has_session(app, &b, &rp).await);
        // "Sign out": the session ends.
        let html = b
            .get(app.url(&path))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let res = confirm("sign_out", html).await;
        assert_eq!(
            (res.status().as_u16(), location(&res)),
            (303, SIGNED_OUT.to_owned())
        );
        assert!(!has_session(app, &b, &rp).await);
        // A confirmation without this session's CSRF token does nothing.
        let b2 = browser();
        let (rp2, _) = signed_in_with_logout(app, &b2).await;
        let request = format!("client_id={}", rp2.client_id);
        let forged = [
            ("csrf", "forged"),
            ("request", request.as_str()),
            ("decision", "sign_out"),
        ];
        let res = app.browser_post(&b2, "/oauth/logout", &forged).await;
        assert_eq!(res.status(), 403);
        assert!(has_session(app, &b2, &rp2).await);
    }
);

store_test!(
    async fn bad_logout_requests_are_refused_on_a_page_and_end_nothing(app: &TestApp) {
        let b = browser();
        let (rp, id_token) = signed_in_with_logout(app, &b).await;
        let (_, other_rp_token) = signed_in_with_logout(app, &browser()).await;
        // An ID token with a changed issuer no longer verifies; an access token is no hint.
        let parts: Vec<&str> = id_token.split('.').collect();
        let mut claims = jwt::claims(&id_token);
        claims["iss"] = Value::from("https://other.example");
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            URL_SAFE_NO_PAD.encode(claims.to_string()),
            parts[2]
        );
        let client = app.client(Some("books:read")).await;
        let access = app.access_token(&client).await;
        for (pairs, words) in [
            (
                vec![
                    ("id_token_hint", forged.as_str()),
                    ("post_logout_redirect_uri", SIGNED_OUT),
                ],
                "not an ID token of this server",
            ),
            (
                vec![("id_token_hint", access.as_str())],
                "not an ID token of this server",
            ),
            (
                vec![
                    ("id_token_hint", id_token.as_str()),
                    ("post_logout_redirect_uri", "https://evil.example/"),
                ],
                "has not registered",
            ),
            (
                vec![("post_logout_redirect_uri", SIGNED_OUT)],
                "names no application",
            ),
            (
                vec![
                    ("id_token_hint", other_rp_token.as_str()),
                    ("client_id", rp.client_id.as_str()),
                ],
                "not the application",
            ),
            (vec![("client_id", "cl_nobody")], "not registered"),
        ] {
            let res = b.get(app.url(&logout_path(&pairs))).send().await.unwrap();
            assert_eq!(res.status(), 400, "{words}");
            let html = res.text().await.unwrap();
            assert!(html.contains(words), "{words}: {html}");
        }
        assert!(has_session(app, &b, &rp).await, "nothing ended");
    }
);

/// Opens the authorization request `params`, which must show the sign-in page, signs
/// `user` in there, and answers where the request then redirects.
async fn signed_in_from_the_sign_in_page(
    app: &TestApp,
    b: &reqwest::Client,
    params: &[(&str, &str)],
    user: &TestUser,
) -> String {
    let html = is_sign_in_page(app.get_authorize(b, params).await)
        .await
        .expect("the sign-in page");
    let res = app.sign_in(b, &html, user).await;
    assert_eq!(res.status(), 303);
    let res = b.get(app.url(&location(&res))).send().await.unwrap();
    assert_eq!(res.status(), 303);
    location(&res)
}

store_test!(
    async fn id_token_hint_names_the_user_the_client_expects(app: &TestApp) {
        let (rp, ada) = rp_and_user(app).await;
        let account = app.account("Other").await;
        let bob = app.user(&[&account]).await;
        let ada_browser = browser();
        let to = app
            .authorize_with(&ada_browser, &ada, &request(&rp, "openid books:read"))
            .await;
        let (_, tokens) = app.exchange(&rp, &param(&to, "code").unwrap()).await;
        let id_token = tokens["id_token"].as_str().unwrap().to_owned();
        let mut hinted = request(&rp, "openid books:read");
        hinted.push(("id_token_hint", &id_token));
        let mut silent = hinted.clone();
        silent.push(("prompt", "none"));

        // Ada is signed in: the hint changes nothing.
        let to = location(&app.get_authorize(&ada_browser, &silent).await);
        assert!(param(&to, "code").is_some(), "{to}");

        // Bob is signed in: with prompt=none that is login_required…
        let bob_browser = browser();
        app.authorize_with(&bob_browser, &bob, &request(&rp, "openid books:read"))
            .await;
        let to = location(&app.get_authorize(&bob_browser, &silent).await);
        assert_redirected_error(&to, "login_required");
        // …without it the sign-in page; Bob signing in again is login_required, not a loop.
        let to = signed_in_from_the_sign_in_page(app, &bob_browser, &hinted, &bob).await;
        assert_redirected_error(&to, "login_required");
        // Ada signing in there instead gets the code.
        let to = signed_in_from_the_sign_in_page(app, &bob_browser, &hinted, &ada).await;
        let code = param(&to, "code").unwrap_or_else(|| panic!("a code: {to}"));
        let (_, tokens) = app.exchange(&rp, &code).await;
        let claims = jwt::claims(tokens["id_token"].as_str().unwrap());
        assert_eq!(claims["sub"], jwt::claims(&id_token)["sub"]);

        // A hint issued to another application, or no ID token of this server:
        // invalid_request, before any page.
        let other = app.application(Some(CB), false, Some("books:read")).await;
        let mut foreign = request(&other, "openid books:read");
        foreign.push(("id_token_hint", &id_token));
        // The signature's first character changed: six of its bits differ.
        let cut = id_token.rfind('.').unwrap() + 1;
        let flipped = if id_token[cut..].starts_with('A') {
            "B"
        } else {
            "A"
        };
        let forged = format!("{}{flipped}{}", &id_token[..cut], &id_token[cut + 1..]);
        let mut tampered = request(&rp, "openid books:read");
        tampered.push(("id_token_hint", &forged));
        for params in [foreign, tampered] {
            let res = app.get_authorize(&browser(), &params).await;
            assert_eq!(res.status(), 303);
            let to = location(&res);
            assert_redirected_error(&to, "invalid_request");
        }
    }
);
