//! The device authorization grant (RFC 8628, issue 19): a device asks for codes, the user
//! approves on the verification page (sign-in, code, consent), concurrent pollers get one
//! token response between them; denial, expiry, slow_down and wrong codes.

use serde_json::Value;
use tessera_core::domain::GrantType;

use crate::support::flow::{
    browser, field, form_body, location, AppSpec, TestApplication, TestUser,
};
use crate::support::{join_all, TestApp};

/// The test servers' issuer.
const ISSUER: &str = "http://tessera.test";
const GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

async fn device_app(app: &TestApp, public: bool) -> TestApplication {
    let spec = AppSpec {
        name: "Device RP",
        public,
        grants: vec![GrantType::DeviceCode],
        ..AppSpec::default()
    };
    app.application_spec("https://rp.example/cb", spec).await
}

/// POST /oauth/device_authorization as `rp`.
async fn ask(app: &TestApp, rp: &TestApplication, scope: &str) -> (u16, Value) {
    let mut pairs = vec![("client_id", rp.client_id.as_str()), ("scope", scope)];
    if let Some(secret) = &rp.client_secret {
        pairs.push(("client_secret", secret));
    }
    let res = app
        .post_form("/oauth/device_authorization", &form_body(&pairs))
        .await;
    let status = res.status().as_u16();
    if status == 200 {
        assert_eq!(res.headers()["cache-control"], "no-store");
    }
    (status, res.json().await.unwrap())
}

async fn poll(app: &TestApp, rp: &TestApplication, device_code: &str) -> (u16, Value) {
    app.app_token(rp, &[("grant_type", GRANT), ("device_code", device_code)])
        .await
}

fn error(answer: &(u16, Value)) -> (u16, &str) {
    (answer.0, answer.1["error"].as_str().unwrap_or("(none)"))
}

/// The path of an absolute URL of the server.
fn path_of(url: &str) -> String {
    let rest = url.split_once("://").unwrap().1;
    rest[rest.find('/').unwrap()..].to_owned()
}

/// Signs `user` in from the verification page at `path` (which asks for it), and answers
/// the code form the sign-in leads back to.
pub(crate) async fn signed_in_code_form(
    app: &TestApp,
    b: &reqwest::Client,
    user: &TestUser,
    path: &str,
) -> String {
    let res = b.get(app.url(path)).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    if html.contains("name=\"user_code\"") {
        return html; // signed in already
    }
    assert!(
        html.contains("name=\"password\""),
        "the sign-in form first: {html}"
    );
    let res = app.sign_in(b, &html, user).await;
    assert_eq!(res.status(), 303);
    let back = location(&res);
    assert!(back.starts_with("/settings/device"), "{back}");
    let res = b.get(app.url(&back)).send().await.unwrap();
    assert_eq!(res.status(), 200);
    res.text().await.unwrap()
}

/// Submits the code form `html` with `typed`.
pub(crate) async fn enter_code(
    app: &TestApp,
    b: &reqwest::Client,
    html: &str,
    typed: &str,
) -> reqwest::Response {
    let csrf = field(html, "csrf").expect("csrf");
    app.browser_post(
        b,
        "/settings/device",
        &[("csrf", &csrf), ("user_code", typed)],
    )
    .await
}

store_test!(
    async fn a_device_is_approved_on_the_verification_page_and_one_of_its_pollers_wins(
        app: &TestApp,
    ) {
        let rp = device_app(app, true).await;
        let (status, asked) = ask(app, &rp, "books:read").await;
        assert_eq!(status, 200, "{asked}");
        let user_code = asked["user_code"].as_str().unwrap().to_owned();
        let (first, second) = user_code.split_once('-').expect("two groups");
        for group in [first, second] {
            assert_eq!(group.len(), 4, "{user_code}");
            assert!(group.bytes().all(|c| b"BCDFGHJKLMNPQRSTVWXZ".contains(&c)));
        }
        assert_eq!(
            asked["verification_uri"],
            format!("{ISSUER}/settings/device")
        );
        let complete = asked["verification_uri_complete"].as_str().unwrap();
        assert_eq!(
            complete,
            format!("{ISSUER}/settings/device?user_code={first}{second}")
        );
        assert_eq!(
            (asked["expires_in"].as_i64(), asked["interval"].as_i64()),
            (Some(600), Some(5))
        );
        let device_code = asked["device_code"].as_str().unwrap().to_owned();

        assert_eq!(
            error(&poll(app, &rp, &device_code).await),
            (400, "authorization_pending")
        );
        let fast = poll(app, &rp, &device_code).await;
        assert_eq!(error(&fast), (400, "slow_down"));
        assert!(fast.1["error_description"]
            .as_str()
            .unwrap()
            .contains("10 seconds"));

        // The user opens verification_uri_complete, signs in, confirms the code.
        let account = app.account("Acme").await;
        let user = app.user(&[&account]).await;
        let b = browser();
        let html = signed_in_code_form(app, &b, &user, &path_of(complete)).await;
        assert_eq!(
            field(&html, "user_code").as_deref(),
            Some(user_code.as_str())
        );
        // Case and the dash do not matter.
        let typed = format!("{}{}", first.to_lowercase(), second.to_lowercase());
        let res = enter_code(app, &b, &html, &typed).await;
        assert_eq!(res.status(), 200);
        let consent = res.text().await.unwrap();
        assert!(
            consent.contains("Device RP") && consent.contains("books:read"),
            "{consent}"
        );
        assert!(
            consent.contains(&user_code),
            "the page names the code: {consent}"
        );
        let res = app.consent(&b, &consent, "authorize", None).await;
        assert_eq!(res.status(), 200);
        let done = res.text().await.unwrap();
        assert!(done.contains("Device RP is connected"), "{done}");

        // Eight pollers at once: one token response between them.
        app.advance(10);
        let answers = join_all((0..8).map(|_| poll(app, &rp, &device_code))).await;
        let won: Vec<&(u16, Value)> = answers.iter().filter(|a| a.0 == 200).collect();
        assert_eq!(won.len(), 1, "{answers:?}");
        for lost in answers.iter().filter(|a| a.0 != 200) {
            assert_eq!(error(lost), (400, "invalid_grant"), "{lost:?}");
        }
        let tokens = &won[0].1;
        assert_eq!(tokens["token_type"], "Bearer");
        assert_eq!(tokens["scope"], "books:read");
        let access = tokens["access_token"].as_str().unwrap();
        assert_eq!(app.get_bearer("/v1/books", access).await.status(), 200);
        let (status, refreshed) = app
            .refresh(&rp, tokens["refresh_token"].as_str().unwrap())
            .await;
        assert_eq!(status, 200, "{refreshed}");

        // The user's Applications page shows the device-authorized application.
        let page = b
            .get(app.url("/settings/applications"))
            .send()
            .await
            .unwrap();
        assert!(page.text().await.unwrap().contains("Device RP"));
    }
);

store_test!(
    async fn denied_expired_and_mistyped_codes_and_applications_without_the_grant(app: &TestApp) {
        let rp = device_app(app, false).await;
        let account = app.account("Acme").await;
        let user = app.user(&[&account]).await;
        let b = browser();
        let html = signed_in_code_form(app, &b, &user, "/settings/device").await;

        // Denied.
        let (_, asked) = ask(app, &rp, "books:read").await;
        let res = enter_code(app, &b, &html, asked["user_code"].as_str().unwrap()).await;
        let consent = res.text().await.unwrap();
        let res = app.consent(&b, &consent, "deny", None).await;
        assert_eq!(res.status(), 200);
        assert!(res.text().await.unwrap().contains("was not connected"));
        let denied = poll(app, &rp, asked["device_code"].as_str().unwrap()).await;
        assert_eq!(error(&denied), (400, "access_denied"));

        // A user with no account to authorize it on: refused without a consent page, and
        // the device is told.
        let nobody = app.user(&[]).await;
        let nb = browser();
        let empty = signed_in_code_form(app, &nb, &nobody, "/settings/device").await;
        let (_, asked) = ask(app, &rp, "books:read").await;
        let res = enter_code(app, &nb, &empty, asked["user_code"].as_str().unwrap()).await;
        assert_eq!(res.status(), 200);
        let text = res.text().await.unwrap();
        assert!(text.contains("was not connected"), "{text}");
        assert!(text.contains("may not act on any API account"), "{text}");
        let refused = poll(app, &rp, asked["device_code"].as_str().unwrap()).await;
        assert_eq!(error(&refused), (400, "access_denied"));

        // Expired: the device is told, the page no longer knows the code.
        let (_, late) = ask(app, &rp, "books:read").await;
        app.advance(600);
        let expired = poll(app, &rp, late["device_code"].as_str().unwrap()).await;
        assert_eq!(error(&expired), (400, "expired_token"));
        let html = signed_in_code_form(app, &b, &user, "/settings/device").await;
        let res = enter_code(app, &b, &html, late["user_code"].as_str().unwrap()).await;
        assert_eq!(res.status(), 400);
        assert!(res.text().await.unwrap().contains("No device is waiting"));

        // Wrong codes: ten per session, then 429 with Retry-After.
        let page = b.get(app.url("/settings/device")).send().await.unwrap();
        let html = page.text().await.unwrap();
        for _ in 0..9 {
            let res = enter_code(app, &b, &html, "BBBB-BBBB").await;
            assert_eq!(res.status(), 400);
        }
        let res = enter_code(app, &b, &html, "BBBB-BBBB").await;
        assert_eq!(res.status(), 429);
        assert!(res.headers().contains_key("retry-after"));
        assert!(res.text().await.unwrap().contains("Too many wrong codes"));

        // Not registered for the grant; asking beyond its scopes.
        let plain = app
            .application(Some("https://rp.example/cb"), false, None)
            .await;
        let refused = ask(app, &plain, "books:read").await;
        assert_eq!(error(&refused), (400, "unauthorized_client"));
        assert_eq!(error(&ask(app, &rp, "admin").await), (400, "invalid_scope"));
        let code_grant = poll(app, &plain, "dc_x").await;
        assert_eq!(error(&code_grant), (400, "unauthorized_client"));
    }
);

store_test!(
    async fn the_cli_registers_device_applications_and_metadata_names_the_endpoint(app: &TestApp) {
        let created = app.cli_json(&[
            "app",
            "create",
            "--name",
            "Build agent",
            "--public",
            "--grant",
            "device_code",
            "--grant",
            "authorization_code",
            "--redirect-uri",
            "http://127.0.0.1/cb",
        ]);
        let grants = created["grant_types"].as_array().unwrap();
        for g in ["authorization_code", GRANT, "refresh_token"] {
            assert!(grants.iter().any(|x| x == g), "{created}");
        }
        let device_only =
            app.cli_json(&["app", "create", "--name", "TV", "--grant", "device_code"]);
        assert_eq!(
            device_only["grant_types"],
            serde_json::json!([GRANT, "refresh_token"])
        );
        let err = app
            .cli(&[
                "app",
                "create",
                "--name",
                "X",
                "--grant",
                "client_credentials",
            ])
            .unwrap_err();
        assert!(
            err.1.contains("authorization_code or device_code"),
            "{}",
            err.1
        );
        let meta = app
            .get_json("/.well-known/oauth-authorization-server")
            .await;
        assert_eq!(
            meta["device_authorization_endpoint"],
            format!("{ISSUER}/oauth/device_authorization")
        );
        assert!(meta["grant_types_supported"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g == GRANT));
    }
);

store_test!(
    async fn a_device_approved_by_a_user_disabled_before_it_polls_is_denied(app: &TestApp) {
        let rp = device_app(app, true).await;
        let (status, asked) = ask(app, &rp, "books:read").await;
        assert_eq!(status, 200, "{asked}");
        let device_code = asked["device_code"].as_str().unwrap().to_owned();
        let user_code = asked["user_code"].as_str().unwrap().to_owned();
        let account = app.account("Acme").await;
        let user = app.user(&[&account]).await;
        let b = browser();
        let html = signed_in_code_form(app, &b, &user, "/settings/device").await;
        let res = enter_code(app, &b, &html, &user_code).await;
        assert_eq!(res.status(), 200);
        let consent = res.text().await.unwrap();
        let res = app.consent(&b, &consent, "authorize", None).await;
        assert_eq!(res.status(), 200);

        app.cli_json(&["user", "disable", &user.email]);
        app.advance(10);
        let answer = poll(app, &rp, &device_code).await;
        assert_eq!(error(&answer), (400, "access_denied"), "{answer:?}");
    }
);
