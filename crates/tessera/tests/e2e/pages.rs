//! Tessera's own pages against a hostile web: open redirects after sign-in, CSRF (tokens
//! bound to the session, cross-site POSTs), the code page's link, cookie prefixes, and the
//! methods each route allows.

use crate::support::flow::{browser, enc, field, form_body, location, TestUser};
use crate::support::TestApp;

const CREDENTIALS: &str = "/settings/credentials";

/// Posts the sign-in form of `html` for `user`, with `return_to` in place of the form's.
async fn sign_in_returning_to(
    app: &TestApp,
    b: &reqwest::Client,
    html: &str,
    user: &TestUser,
    return_to: &str,
) -> reqwest::Response {
    let body = form_body(&[
        ("csrf", &field(html, "csrf").expect("csrf field")),
        ("return_to", return_to),
        ("email", &user.email),
        ("password", &user.password),
    ]);
    b.post(app.url("/signin"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn page(b: &reqwest::Client, url: String) -> String {
    b.get(url).send().await.unwrap().text().await.unwrap()
}

/// A browser signed in as a new user of a new account, on the API Credentials page.
async fn signed_in(app: &TestApp) -> (reqwest::Client, TestUser, String) {
    let account = app.account("Acme").await;
    let user = app.user(&[&account]).await;
    let b = browser();
    let html = page(&b, app.url(&format!("/signin?return_to={CREDENTIALS}"))).await;
    let res = app.sign_in(&b, &html, &user).await;
    assert_eq!(location(&res), CREDENTIALS);
    let html = page(&b, app.url(CREDENTIALS)).await;
    (b, user, html)
}

/// Submits the "create a credential" form of `html` with `csrf` and extra `headers`.
async fn create_credential(
    app: &TestApp,
    b: &reqwest::Client,
    html: &str,
    csrf: &str,
    name: &str,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let account = field(html, "account").expect("account field");
    let body = form_body(&[("csrf", csrf), ("account", &account), ("name", name)]);
    let mut req = b
        .post(app.url("/settings/credentials/create"))
        .header("content-type", "application/x-www-form-urlencoded");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.body(body).send().await.unwrap()
}

store_test!(
    async fn signin_never_redirects_off_the_site(app: &TestApp) {
        let account = app.account("Acme").await;
        let user = app.user(&[&account]).await;
        for evil in [
            "/%09/evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "//evil.example",
            "/\\evil.example",
            "/%5Cevil.example",
            "/%2F/evil.example",
            "/%252F%252Fevil.example",
            "https://evil.example/",
        ] {
            let b = browser();
            let url = app.url(&format!("/signin?return_to={}", enc(evil)));
            let html = page(&b, url).await;
            assert_eq!(
                field(&html, "return_to").as_deref(),
                Some("/settings"),
                "{evil:?}"
            );
            let res = sign_in_returning_to(app, &b, &html, &user, evil).await;
            assert_eq!(res.status(), 303, "{evil:?}");
            assert_eq!(location(&res), "/settings", "{evil:?}");
        }
        let b = browser();
        let html = page(&b, app.url("/signin")).await;
        let res = sign_in_returning_to(app, &b, &html, &user, CREDENTIALS).await;
        assert_eq!(location(&res), CREDENTIALS, "a local path is kept");
    }
);

store_test!(
    async fn a_csrf_token_of_another_session_is_refused(app: &TestApp) {
        let (alice, _, alice_html) = signed_in(app).await;
        let (bob, _, bob_html) = signed_in(app).await;
        let alice_token = field(&alice_html, "csrf").unwrap();
        let bob_token = field(&bob_html, "csrf").unwrap();
        assert_ne!(alice_token, bob_token);

        let res = create_credential(app, &bob, &bob_html, &alice_token, "forged-cred", &[]).await;
        assert_eq!(res.status(), 403);
        assert!(res.text().await.unwrap().contains("This form has expired"));
        let res = create_credential(app, &alice, &alice_html, &bob_token, "forged-cred", &[]).await;
        assert_eq!(res.status(), 403);

        let res = create_credential(app, &bob, &bob_html, &bob_token, "bobs-own-cred", &[]).await;
        assert_eq!(res.status(), 200);
        let listed = page(&bob, app.url(CREDENTIALS)).await;
        assert!(listed.contains("bobs-own-cred") && !listed.contains("forged-cred"));

        // Before signing in, the sign-in form's token is bound to its own browser too.
        let account = app.account("Acme").await;
        let carol = app.user(&[&account]).await;
        let (b1, b2) = (browser(), browser());
        let html1 = page(&b1, app.url("/signin")).await;
        page(&b2, app.url("/signin")).await;
        let res = app.sign_in(&b2, &html1, &carol).await;
        assert_eq!(res.status(), 403, "another browser's sign-in token");
        assert!(res.headers().get("location").is_none());
    }
);

/// The `name=value` of the cookie `name` that `res` sets.
fn set_cookie(res: &reqwest::Response, name: &str) -> String {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .find(|c| c.starts_with(&format!("{name}=")))
        .and_then(|c| c.split(';').next())
        .unwrap_or_else(|| panic!("no {name} cookie"))
        .to_owned()
}

store_test!(
    async fn a_planted_csrf_cookie_does_not_make_a_token(app: &TestApp) {
        // Cookies by hand, as a sibling subdomain could plant one: `tessera_csrf=planted`.
        let account = app.account("Acme").await;
        let user = app.user(&[&account]).await;
        let res = app.http.get(app.url("/signin")).send().await.unwrap();
        let pre = set_cookie(&res, "tessera_csrf");
        let html = res.text().await.unwrap();
        let body = form_body(&[
            ("csrf", &field(&html, "csrf").unwrap()),
            ("email", &user.email),
            ("password", &user.password),
        ]);
        let res = app
            .http
            .post(app.url("/signin"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("cookie", &pre)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303);
        let session = set_cookie(&res, "tessera_session");
        let html = app
            .http
            .get(app.url(CREDENTIALS))
            .header("cookie", &session)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let account_field = field(&html, "account").unwrap();
        let create = |cookie: String, csrf: &str| {
            app.http
                .post(app.url("/settings/credentials/create"))
                .header("content-type", "application/x-www-form-urlencoded")
                .header("cookie", cookie)
                .body(form_body(&[
                    ("csrf", csrf),
                    ("account", &account_field),
                    ("name", "planted-cred"),
                ]))
                .send()
        };
        let planted = "p".repeat(43);
        let res = create(format!("tessera_csrf={planted}; {session}"), &planted)
            .await
            .unwrap();
        assert_eq!(res.status(), 403, "a token equal to a planted cookie");
        let res = create(session.clone(), &field(&html, "csrf").unwrap())
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "the session's own token");
    }
);

store_test!(
    async fn posts_the_browser_says_came_from_another_site_are_refused(app: &TestApp) {
        let (b, user, html) = signed_in(app).await;
        let csrf = field(&html, "csrf").unwrap();
        for headers in [
            &[("origin", "https://evil.example")][..],
            &[("sec-fetch-site", "cross-site")],
            &[("sec-fetch-site", "same-site")],
            &[("origin", "null"), ("sec-fetch-site", "cross-site")],
        ] {
            let res = create_credential(app, &b, &html, &csrf, "xsite-cred", headers).await;
            assert_eq!(res.status(), 403, "{headers:?}");
            let text = res.text().await.unwrap();
            assert!(
                text.contains("sent from another site"),
                "{headers:?}: {text}"
            );
        }
        // Our own pages: the issuer's origin, or `null` (they are no-referrer), same-origin.
        for (i, headers) in [
            &[
                ("origin", "http://tessera.test"),
                ("sec-fetch-site", "same-origin"),
            ][..],
            &[("origin", "null"), ("sec-fetch-site", "same-origin")],
        ]
        .into_iter()
        .enumerate()
        {
            let name = format!("ours-{i}");
            let res = create_credential(app, &b, &html, &csrf, &name, headers).await;
            assert_eq!(res.status(), 200, "{headers:?}");
        }
        let listed = page(&b, app.url(CREDENTIALS)).await;
        assert!(
            !listed.contains("xsite-cred"),
            "the refused forms created nothing"
        );

        // A cross-site sign-in (login CSRF) is refused before any password is checked.
        let b = browser();
        let html = page(&b, app.url("/signin")).await;
        let body = form_body(&[
            ("csrf", &field(&html, "csrf").unwrap()),
            ("email", &user.email),
            ("password", &user.password),
        ]);
        let res = b
            .post(app.url("/signin"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("origin", "https://evil.example")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403);
        assert!(res.headers().get("set-cookie").is_none(), "no session");
    }
);

store_test!(
    async fn the_code_page_renders_nothing_from_its_url(app: &TestApp) {
        let lure = "Your-account-is-locked-call-555-0100";
        for query in [
            format!("code={lure}&state={lure}"),
            format!("error=access_denied&error_description={lure}"),
            format!("page={lure}"),
            String::new(),
        ] {
            let res = app
                .http
                .get(app.url(&format!("/oauth/code?{query}")))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 400, "{query}");
            let html = res.text().await.unwrap();
            assert!(!html.contains(lure), "{query}: {html}");
            assert!(html.contains("does not hold a code"), "{html}");
        }

        // A link the server made shows its code until the code expires, and no edit of it opens.
        let partner = app.application(None, false, None).await;
        let account = app.account("Acme").await;
        let user = app.user(&[&account]).await;
        let params = [
            ("response_type", "code"),
            ("client_id", partner.client_id.as_str()),
            ("state", "s-123"),
        ];
        let to = app.authorize_with(&browser(), &user, &params).await;
        let path = to.trim_start_matches("http://tessera.test").to_owned();
        let html = page(&app.http, app.url(&path)).await;
        assert!(field(&html, "code").is_some_and(|c| c.starts_with("ac_")));
        assert!(html.contains("s-123"), "the state the server sealed");
        let mut tampered = path.clone().into_bytes();
        let last = tampered.len() - 2;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        let res = app
            .http
            .get(app.url(&String::from_utf8(tampered).unwrap()))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400, "a tampered link");
        app.advance(app.config.authorization_code_ttl);
        let res = app.http.get(app.url(&path)).send().await.unwrap();
        assert_eq!(res.status(), 400, "an expired link");

        // An error for such an application: the server's own description, sealed.
        let user = app.user(&[&account]).await;
        let b = browser();
        let res = app.get_authorize(&b, &params).await.text().await.unwrap();
        let res = app.sign_in(&b, &res, &user).await;
        let html = page(&b, app.url(&location(&res))).await;
        let res = app.consent(&b, &html, "deny", None).await;
        let to = location(&res);
        let res = b
            .get(app.url(to.trim_start_matches("http://tessera.test")))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400);
        assert!(res
            .text()
            .await
            .unwrap()
            .contains("the user denied the request"));
    }
);

store_test!(
    async fn cookies_take_the_host_prefix_when_the_issuer_is_https(app: &TestApp) with |c| {
        c.issuer = Some("https://tessera.test".into());
    } {
        let res = app.http.get(app.url("/signin")).send().await.unwrap();
        let set = res.headers()["set-cookie"].to_str().unwrap().to_owned();
        assert!(set.starts_with("__Host-tessera_csrf="), "{set}");
        assert!(set.contains("; Path=/") && set.contains("; Secure") && !set.contains("Domain"));
        let value = set
            .trim_start_matches("__Host-tessera_csrf=")
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let html = res.text().await.unwrap();
        let account = app.account("Acme").await;
        let user = app.user(&[&account]).await;
        let body = form_body(&[
            ("csrf", &field(&html, "csrf").unwrap()),
            ("email", &user.email),
            ("password", &user.password),
        ]);
        let post = |cookie: String| {
            app.http
                .post(app.url("/signin"))
                .header("content-type", "application/x-www-form-urlencoded")
                .header("cookie", cookie)
                .body(body.clone())
                .send()
        };
        // The same value under the bare name, as a sibling subdomain could plant it: no use.
        let res = post(format!("tessera_csrf={value}")).await.unwrap();
        assert_eq!(res.status(), 403);
        let res = post(format!("__Host-tessera_csrf={value}")).await.unwrap();
        assert_eq!(res.status(), 303);
        let cookies: Vec<_> = res
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        assert!(
            cookies.iter().any(|c| c.starts_with("__Host-tessera_session=")),
            "{cookies:?}"
        );
    }
);

store_test!(
    async fn rfc9110_15_5_6_post_only_pages_answer_405_with_allow(app: &TestApp) {
        for path in ["/signout", "/settings/credentials/create"] {
            let res = app.http.get(app.url(path)).send().await.unwrap();
            assert_eq!(res.status(), 405, "{path}");
            assert_eq!(res.headers()["allow"], "POST", "{path}");
        }
    }
);
