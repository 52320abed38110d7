//! Pushed authorization requests (RFC 9126, issue 18): pushing, using the `request_uri`
//! once, for its client only, within its lifetime, and requiring PAR per application or
//! server-wide.

use serde_json::Value;

use crate::support::flow::{
    browser, form_body, location, param, pushed_authorize_path, AppSpec, TestApplication,
};
use crate::support::{jwt, TestApp};

const CB: &str = "https://rp.example/callback";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// POST /oauth/par as `rp` (client_secret_post, or client_id alone for a public one).
async fn push(app: &TestApp, rp: &TestApplication, params: &[(&str, &str)]) -> (u16, Value) {
    let mut pairs = params.to_vec();
    pairs.push(("client_id", &rp.client_id));
    if let Some(secret) = &rp.client_secret {
        pairs.push(("client_secret", secret));
    }
    let res = app.post_form("/oauth/par", &form_body(&pairs)).await;
    let status = res.status().as_u16();
    if status == 201 {
        assert_eq!(res.headers()["cache-control"], "no-store");
    }
    (status, res.json().await.unwrap())
}

fn oidc_request() -> Vec<(&'static str, &'static str)> {
    vec![
        ("response_type", "code"),
        ("redirect_uri", CB),
        ("scope", "openid books:read"),
        ("state", "pushed-state"),
        ("nonce", "pushed-nonce"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ]
}

async fn registered(app: &TestApp, public: bool, require_par: bool) -> TestApplication {
    let spec = AppSpec {
        name: "Pushing RP",
        public,
        require_par,
        ..AppSpec::default()
    };
    app.application_spec(CB, spec).await
}

/// The error page's status and text for the browser at `path`.
async fn page(app: &TestApp, path: &str) -> (u16, String) {
    let res = browser().get(app.url(path)).send().await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

store_test!(
    async fn a_pushed_request_authorizes_once_and_the_pushed_parameters_win(app: &TestApp) {
        let rp = registered(app, false, false).await;
        let (status, pushed) = push(app, &rp, &oidc_request()).await;
        assert_eq!(status, 201, "{pushed}");
        let request_uri = pushed["request_uri"].as_str().unwrap();
        assert!(request_uri.starts_with("urn:ietf:params:oauth:request_uri:"));
        assert_eq!(pushed["expires_in"], 60);
        let account = app.account("Acme").await;
        let user = app.user(&[&account]).await;
        // Parameters outside the pushed request are ignored (§4): the state stays pushed.
        let path = format!(
            "{}&state=outside&scope=books:write",
            pushed_authorize_path(&rp, request_uri)
        );
        let to = app.authorize_path(&browser(), &user, &path).await;
        assert_eq!(param(&to, "state").as_deref(), Some("pushed-state"), "{to}");
        let code = param(&to, "code").unwrap();
        let (status, tokens) = app
            .app_token(
                &rp,
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", CB),
                    ("code_verifier", VERIFIER),
                ],
            )
            .await;
        assert_eq!(status, 200, "{tokens}");
        assert_eq!(tokens["scope"], "books:read openid");
        let claims = jwt::claims(tokens["id_token"].as_str().unwrap());
        assert_eq!(claims["nonce"], "pushed-nonce");
        // Once used, the request_uri stands for nothing.
        let (status, html) = page(app, &pushed_authorize_path(&rp, request_uri)).await;
        assert_eq!(status, 400);
        assert!(html.contains("already used"), "{html}");
    }
);

store_test!(
    async fn a_request_uri_is_its_clients_only_and_expires(app: &TestApp) {
        let rp = registered(app, false, false).await;
        let other = registered(app, false, false).await;
        let (_, pushed) = push(app, &rp, &oidc_request()).await;
        let request_uri = pushed["request_uri"].as_str().unwrap();
        let (status, html) = page(app, &pushed_authorize_path(&other, request_uri)).await;
        assert_eq!(status, 400);
        assert!(html.contains("another application"), "{html}");
        let unknown = "urn:ietf:params:oauth:request_uri:nothing-here";
        let (status, _) = page(app, &pushed_authorize_path(&rp, unknown)).await;
        assert_eq!(status, 400);
        app.advance(60);
        let (status, html) = page(app, &pushed_authorize_path(&rp, request_uri)).await;
        assert_eq!(status, 400);
        assert!(html.contains("expired"), "{html}");
    }
);

store_test!(
    async fn bad_pushes_are_json_errors_and_store_nothing(app: &TestApp) {
        let rp = registered(app, false, false).await;
        let wrong = TestApplication {
            client_secret: Some("wrong".into()),
            ..registered(app, false, false).await
        };
        let (status, body) = push(app, &wrong, &oidc_request()).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (401, Some("invalid_client"))
        );
        let mut elsewhere = oidc_request();
        elsewhere[1] = ("redirect_uri", "https://evil.example/cb");
        let mut with_uri = oidc_request();
        with_uri.push(("request_uri", "urn:ietf:params:oauth:request_uri:x"));
        let mut bad_prompt = oidc_request();
        bad_prompt.push(("prompt", "none login"));
        for (params, error) in [
            (elsewhere, "invalid_request"),
            (with_uri, "invalid_request"),
            (bad_prompt, "invalid_request"),
            (
                vec![("response_type", "token"), ("redirect_uri", CB)],
                "unsupported_response_type",
            ),
        ] {
            let (status, body) = push(app, &rp, &params).await;
            assert_eq!(
                (status, body["error"].as_str()),
                (400, Some(error)),
                "{body}"
            );
            assert!(body["error_description"].is_string());
        }
        let res = app.http.get(app.url("/oauth/par")).send().await.unwrap();
        assert_eq!(res.status(), 405);
        // A public client pushes with its client_id alone (and PKCE).
        let public = registered(app, true, false).await;
        let (status, body) = push(app, &public, &oidc_request()).await;
        assert_eq!(status, 201, "{body}");
    }
);

store_test!(
    async fn an_application_that_requires_par_refuses_direct_requests(app: &TestApp) {
        let rp = registered(app, false, true).await;
        let mut direct = oidc_request();
        direct.push(("client_id", &rp.client_id));
        let res = app.get_authorize(&browser(), &direct).await;
        assert_eq!(res.status(), 303);
        let to = location(&res);
        assert_eq!(
            param(&to, "error").as_deref(),
            Some("invalid_request"),
            "{to}"
        );
        assert!(param(&to, "error_description").unwrap().contains("PAR"));
        let (status, pushed) = push(app, &rp, &oidc_request()).await;
        assert_eq!(status, 201);
        let account = app.account("Acme").await;
        let user = app.user(&[&account]).await;
        let path = pushed_authorize_path(&rp, pushed["request_uri"].as_str().unwrap());
        let to = app.authorize_path(&browser(), &user, &path).await;
        assert!(param(&to, "code").is_some(), "{to}");
    }
);

store_test!(
    async fn the_server_can_require_par_of_every_application(app: &TestApp) with |c| {
        c.require_pushed_authorization_requests = true;
    } {
        let meta = app.get_json("/.well-known/openid-configuration").await;
        assert_eq!(meta["require_pushed_authorization_requests"], true);
        assert_eq!(meta["pushed_authorization_request_endpoint"], "http://tessera.test/oauth/par");
        let rp = registered(app, false, false).await;
        let mut direct = oidc_request();
        direct.push(("client_id", &rp.client_id));
        let to = location(&app.get_authorize(&browser(), &direct).await);
        assert_eq!(param(&to, "error").as_deref(), Some("invalid_request"), "{to}");
    }
);
