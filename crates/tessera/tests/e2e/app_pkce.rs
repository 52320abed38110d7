//! Per-application settings: PKCE (RFC 9700 §2.1.1), where an application switched to
//! `require_pkce` is held to PKCE at the authorization and token endpoints while other
//! applications keep working without it, set from the CLI and the dashboard; and the
//! dashboard's registration of device-flow applications and DPoP-bound clients.

use std::time::Duration;

use tessera_core::manage::apps::set_require_pkce;

use crate::support::flow::{browser, field, form_body, location, param, TestApplication, TestUser};
use crate::support::{eventually, TestApp};

const CB: &str = "https://partner.example/callback";
/// RFC 7636 Appendix B.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const S256: [(&str, &str); 2] = [
    ("code_challenge", CHALLENGE),
    ("code_challenge_method", "S256"),
];

/// A confidential application that requires PKCE.
async fn strict_application(app: &TestApp) -> TestApplication {
    let strict = app.application(Some(CB), false, None).await;
    let client = set_require_pkce(
        app.store(),
        &tessera_core::audit::Actor::cli("test"),
        &strict.client_id,
        true,
        app.now(),
    )
    .await
    .unwrap();
    assert!(client.require_pkce);
    strict
}

/// Whether /oauth/authorize sends `partner` back with `invalid_request` for want of PKCE.
async fn refuses_without_pkce(app: &TestApp, partner: &TestApplication) -> bool {
    let res = app
        .get_authorize(
            &browser(),
            &[
                ("response_type", "code"),
                ("client_id", &partner.client_id),
                ("redirect_uri", CB),
            ],
        )
        .await;
    res.status() == 303 && param(&location(&res), "error").as_deref() == Some("invalid_request")
}

store_test!(
    async fn app_requiring_pkce_refuses_authorization_without_it_other_apps_still_work(
        app: &TestApp,
    ) {
        let strict = strict_application(app).await;
        let relaxed = app.application(Some(CB), false, None).await;
        let res = app
            .get_authorize(
                &browser(),
                &[
                    ("response_type", "code"),
                    ("client_id", &strict.client_id),
                    ("redirect_uri", CB),
                    ("state", "s1"),
                ],
            )
            .await;
        assert_eq!(res.status(), 303);
        let to = location(&res);
        assert!(to.starts_with(CB), "{to}");
        assert_eq!(param(&to, "error").as_deref(), Some("invalid_request"));
        assert_eq!(param(&to, "state").as_deref(), Some("s1"));
        assert!(param(&to, "error_description")
            .unwrap()
            .contains("PKCE is required"));

        // The server-wide switch is off: an application without the switch needs no PKCE.
        let (code, _) = app.code_for(&relaxed, &[]).await;
        let (status, body) = app.exchange(&relaxed, &code).await;
        assert_eq!(status, 200, "{body}");

        // With S256 the strict application gets its tokens.
        let (code, _) = app.code_for(&strict, &S256).await;
        let (status, body) = app
            .app_token(
                &strict,
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", CB),
                    ("code_verifier", VERIFIER),
                ],
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
);

store_test!(
    async fn code_issued_without_pkce_is_refused_once_the_app_requires_pkce(app: &TestApp) {
        let partner = app.application(Some(CB), false, None).await;
        let (code, _) = app.code_for(&partner, &[]).await;
        set_require_pkce(
            app.store(),
            &tessera_core::audit::Actor::cli("test"),
            &partner.client_id,
            true,
            app.now(),
        )
        .await
        .unwrap();
        // The server learns of the switch from the change feed, as of a revocation.
        let refused = eventually(Duration::from_secs(5), || async {
            refuses_without_pkce(app, &partner).await
        })
        .await;
        assert!(
            refused.is_some(),
            "the switch reaches the authorization endpoint"
        );
        let (status, body) = app.exchange(&partner, &code).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"], "invalid_grant");
        assert!(body["error_description"]
            .as_str()
            .unwrap()
            .contains("requires PKCE"));
    }
);

store_test!(
    async fn cli_require_pkce_round_trips_through_create_list_and_update(app: &TestApp) {
        let created = app.cli_json(&[
            "app",
            "create",
            "--name",
            "Strict",
            "--redirect-uri",
            CB,
            "--require-pkce",
        ]);
        assert_eq!(created["require_pkce"], true);
        let id = created["client_id"].as_str().unwrap().to_owned();
        let plain = app.cli_json(&["app", "create", "--name", "Plain"]);
        assert_eq!(plain["require_pkce"], false);
        let listed = |app: &TestApp| -> Vec<(String, bool)> {
            let list = app.cli_json(&["app", "list"]);
            list.as_array()
                .unwrap()
                .iter()
                .map(|a| {
                    (
                        a["name"].as_str().unwrap().to_owned(),
                        a["require_pkce"].as_bool().unwrap(),
                    )
                })
                .collect()
        };
        let mut apps = listed(app);
        apps.sort();
        assert_eq!(apps, [("Plain".into(), false), ("Strict".into(), true)]);

        let updated = app.cli_json(&["app", "update", &id, "--require-pkce", "false"]);
        assert_eq!(updated["require_pkce"], false);
        let mut apps = listed(app);
        apps.sort();
        assert_eq!(apps, [("Plain".into(), false), ("Strict".into(), false)]);
        let human = app
            .cli(&["app", "update", &id, "--require-pkce", "true"])
            .unwrap();
        assert!(human.contains("required"), "{human}");
        let stored = tessera_core::manage::clients::get_client(app.store(), &id)
            .await
            .unwrap();
        assert!(stored.require_pkce);

        // Only applications have the switch, and the command says what is missing.
        let c = app.client(None).await;
        let (code, stderr) = app
            .cli(&["app", "update", &c.client_id, "--require-pkce", "true"])
            .unwrap_err();
        assert_ne!(code, 0);
        assert!(stderr.contains("is not an application"), "{stderr}");
        let (_, stderr) = app.cli(&["app", "update", &id]).unwrap_err();
        assert!(stderr.contains("--require-pkce"), "{stderr}");
        let (_, stderr) = app
            .cli(&["app", "update", &id, "--require-pkce", "maybe"])
            .unwrap_err();
        assert!(stderr.contains("maybe"), "{stderr}");
    }
);

/// Signs `user` in to the dashboard in `b`; returns the applications page's HTML.
async fn applications_page(app: &TestApp, b: &reqwest::Client, user: &TestUser) -> String {
    let res = app.sign_in_for(b, user, "/settings/applications").await;
    assert_eq!(res.status(), 303);
    applications_html(app, b).await
}

async fn applications_html(app: &TestApp, b: &reqwest::Client) -> String {
    let res = b
        .get(app.url("/settings/applications"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.text().await.unwrap()
}

async fn post(
    app: &TestApp,
    b: &reqwest::Client,
    path: &str,
    pairs: &[(&str, &str)],
) -> reqwest::Response {
    b.post(app.url(path))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form_body(pairs))
        .send()
        .await
        .unwrap()
}

/// The PKCE cell of the organization's application `id` in the applications page.
fn pkce_cell(html: &str, id: &str) -> String {
    let row = &html[html.find(&format!("<code>{id}</code>")).expect("row")..];
    let marker = "data-label=\"PKCE\">";
    let start = row.find(marker).unwrap() + marker.len();
    row[start..start + row[start..].find('<').unwrap()].to_owned()
}

store_test!(
    async fn dashboard_registers_an_app_requiring_pkce_shows_it_and_switches_it(app: &TestApp) {
        let account = app.account("Acme").await;
        let user = app.user(&[&account]).await;
        let b = browser();
        let html = applications_page(app, &b, &user).await;
        assert!(html.contains("name=\"require_pkce\""));
        let csrf = field(&html, "csrf").unwrap();
        let register = |name: &'static str, require: bool| {
            let mut pairs = vec![
                ("csrf", csrf.as_str()),
                ("account", account.as_str()),
                ("name", name),
                ("redirect_uris", CB),
            ];
            if require {
                pairs.push(("require_pkce", "on"));
            }
            let b = b.clone();
            async move { post(app, &b, "/settings/applications/register", &pairs).await }
        };
        let res = register("Strict", true).await;
        assert_eq!(res.status(), 200);
        let res = register("Relaxed", false).await;
        assert_eq!(res.status(), 200);

        let clients = tessera_core::store::ClientStore::list_clients(app.store(), None)
            .await
            .unwrap();
        let id_of = |name: &str| {
            let c = clients.iter().find(|c| c.name == name).unwrap();
            (c.id.to_string(), c.require_pkce)
        };
        let (strict, strict_on) = id_of("Strict");
        let (relaxed, relaxed_on) = id_of("Relaxed");
        assert!(strict_on);
        assert!(!relaxed_on);
        let html = applications_html(app, &b).await;
        assert_eq!(pkce_cell(&html, &strict), "required");
        assert_eq!(pkce_cell(&html, &relaxed), "optional");

        let res = post(
            app,
            &b,
            "/settings/applications/pkce",
            &[
                ("csrf", &csrf),
                ("client_id", &relaxed),
                ("require_pkce", "true"),
            ],
        )
        .await;
        assert_eq!(res.status(), 303);
        let html = applications_html(app, &b).await;
        assert_eq!(pkce_cell(&html, &relaxed), "required");
        let res = post(
            app,
            &b,
            "/settings/applications/pkce",
            &[
                ("csrf", &csrf),
                ("client_id", &strict),
                ("require_pkce", "false"),
            ],
        )
        .await;
        assert_eq!(res.status(), 303);
        let html = applications_html(app, &b).await;
        assert_eq!(pkce_cell(&html, &strict), "optional");

        // Another organization's application cannot be switched.
        let other = app.application(Some(CB), false, None).await;
        let res = post(
            app,
            &b,
            "/settings/applications/pkce",
            &[
                ("csrf", &csrf),
                ("client_id", &other.client_id),
                ("require_pkce", "true"),
            ],
        )
        .await;
        assert_eq!(res.status(), 404);
        let stored = tessera_core::manage::clients::get_client(app.store(), &other.client_id)
            .await
            .unwrap();
        assert!(!stored.require_pkce);
    }
);

store_test!(
    async fn dashboard_registers_device_applications_and_dpop_bound_clients(app: &TestApp) {
        let account = app.account("Acme").await;
        let user = app.user(&[&account]).await;
        let b = browser();
        let html = applications_page(app, &b, &user).await;
        assert!(html.contains("name=\"grant.device_code\""), "{html}");
        let csrf = field(&html, "csrf").unwrap();
        let register = |name: &'static str, extra: &'static [(&'static str, &'static str)]| {
            let mut pairs = vec![
                ("csrf", csrf.as_str()),
                ("account", account.as_str()),
                ("name", name),
                ("redirect_uris", CB),
            ];
            pairs.extend_from_slice(extra);
            let b = b.clone();
            async move { post(app, &b, "/settings/applications/register", &pairs).await }
        };
        const BOTH: &[(&str, &str)] = &[
            ("grant.authorization_code", "on"),
            ("grant.device_code", "on"),
            ("dpop_bound", "on"),
        ];
        assert_eq!(register("Both ways", BOTH).await.status(), 200);
        const DEVICE_ONLY: &[(&str, &str)] = &[("grant.device_code", "on")];
        assert_eq!(register("Device only", DEVICE_ONLY).await.status(), 200);
        assert_eq!(register("Unchecked", &[]).await.status(), 200);
        const PUBLIC_CLI: &[(&str, &str)] = &[("grant.device_code", "on"), ("public", "on")];
        let res = register("CLI tool", PUBLIC_CLI).await;
        assert_eq!(res.status(), 200);
        let page = res.text().await.unwrap();
        assert!(page.contains("it has no secret"), "{page}");
        assert!(!page.contains("client-secret"), "{page}");
        let res = b
            .get(app.url(&format!("/settings/credentials?account={account}")))
            .send()
            .await
            .unwrap();
        let html = res.text().await.unwrap();
        let created = post(
            app,
            &b,
            "/settings/credentials/create",
            &[
                ("csrf", &field(&html, "csrf").unwrap()),
                ("account", &account),
                ("name", "bound"),
                ("dpop_bound", "on"),
            ],
        )
        .await;
        assert_eq!(created.status(), 200);

        let clients = tessera_core::store::ClientStore::list_clients(app.store(), None)
            .await
            .unwrap();
        let of = |name: &str| clients.iter().find(|c| c.name == name).unwrap();
        use tessera_core::domain::GrantType::{AuthorizationCode, DeviceCode, RefreshToken};
        let both = of("Both ways");
        assert_eq!(
            both.grant_types,
            [AuthorizationCode, DeviceCode, RefreshToken]
        );
        assert!(both.dpop_bound);
        let device_only = of("Device only");
        assert_eq!(device_only.grant_types, [DeviceCode, RefreshToken]);
        assert!(!device_only.dpop_bound);
        assert_eq!(
            of("Unchecked").grant_types,
            [AuthorizationCode, RefreshToken]
        );
        assert!(of("bound").dpop_bound);
        let cli = of("CLI tool");
        assert!(cli.public);
        assert_eq!(cli.grant_types, [DeviceCode, RefreshToken]);
        // Only applications with a secret offer to rotate it.
        let html = applications_html(app, &b).await;
        let row = |id: &str| {
            let start = html.find(&format!("<code>{id}</code>")).expect("row");
            html[start..start + html[start..].find("</tr>").unwrap()].to_owned()
        };
        assert!(!row(cli.id.as_str()).contains("Rotate secret"));
        assert!(row(both.id.as_str()).contains("Rotate secret"));
    }
);
