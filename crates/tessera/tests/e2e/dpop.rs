//! DPoP (RFC 9449, issue 19): proofs made here with a client key, at the token endpoint
//! (binding, replay once across the store, every §4.3 rule, nonces) and at the sample API
//! (the DPoP scheme, `ath`, the key, replay), introspection's `cnf`, public clients'
//! bound refresh tokens and clients registered `--dpop-bound`.

use serde_json::Value;

use crate::support::client_key::{dpop_claims, ClientKey};
use crate::support::flow::{
    assert_redirected_error, browser, form_body, location, param, pushed_authorize_path, AppSpec,
    TestApplication,
};
use crate::support::{join_all, jwt, TestApp, TestClient};

const TOKEN_URL: &str = "http://tessera.test/oauth/token";
const BOOKS_URL: &str = "http://tessera.test/v1/books";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// POST /oauth/token with `body`, HTTP Basic as `client` if given, and the DPoP headers.
async fn token(
    app: &TestApp,
    client: Option<&TestClient>,
    body: &str,
    proofs: &[&str],
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut req = reqwest::Client::new()
        .post(app.url("/oauth/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_owned());
    if let Some(c) = client {
        req = req.basic_auth(&c.client_id, Some(&c.client_secret));
    }
    for proof in proofs {
        req = req.header("dpop", *proof);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    (status, headers, res.json().await.unwrap())
}

/// GET /v1/books with `authorization` and the DPoP headers.
async fn books(app: &TestApp, authorization: &str, proofs: &[&str]) -> reqwest::Response {
    let mut req = reqwest::Client::new()
        .get(app.url("/v1/books"))
        .header("authorization", authorization);
    for proof in proofs {
        req = req.header("dpop", *proof);
    }
    req.send().await.unwrap()
}

fn error(answer: &(u16, reqwest::header::HeaderMap, Value)) -> (u16, &str) {
    (answer.0, answer.2["error"].as_str().unwrap_or("(none)"))
}

async fn refused(res: reqwest::Response) -> (u16, String, String) {
    let status = res.status().as_u16();
    let challenge = res.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    let body: Value = res.json().await.unwrap();
    (
        status,
        body["error"].as_str().unwrap().to_owned(),
        challenge,
    )
}

store_test!(
    async fn a_client_credentials_token_is_bound_to_the_proofs_key_and_the_api_demands_it(
        app: &TestApp,
    ) {
        let client = app.client(Some("books:read")).await;
        let key = ClientKey::generate("dpop");
        let now = app.now();
        let grant = "grant_type=client_credentials";
        let proof = key.dpop_proof("POST", TOKEN_URL, now, None);
        let issued = token(app, Some(&client), grant, &[&proof]).await;
        assert_eq!(issued.0, 200, "{}", issued.2);
        assert_eq!(issued.2["token_type"], "DPoP");
        let access = issued.2["access_token"].as_str().unwrap().to_owned();
        assert_eq!(jwt::claims(&access)["cnf"]["jkt"], key.jkt());

        // The token endpoint: each proof once (through the store), and every §4.3 rule.
        let replayed = token(app, Some(&client), grant, &[&proof]).await;
        assert_eq!(error(&replayed), (400, "invalid_dpop_proof"));
        let other = key.dpop_proof("POST", TOKEN_URL, now, None);
        let bad = [
            key.dpop_proof("GET", TOKEN_URL, now, None),
            key.dpop_proof("POST", "http://tessera.test/oauth/revoke", now, None),
            key.dpop_proof("POST", TOKEN_URL, now - 61, None),
            key.dpop_proof("POST", TOKEN_URL, now + 61, None),
            "not.a.jws".to_owned(),
        ];
        for proof in &bad {
            let answer = token(app, Some(&client), grant, &[proof]).await;
            assert_eq!(error(&answer), (400, "invalid_dpop_proof"), "{}", answer.2);
        }
        let two = token(app, Some(&client), grant, &[&other, &other]).await;
        assert_eq!(error(&two), (400, "invalid_dpop_proof"));
        // The same fresh proof twice at once: one token between them.
        let once = key.dpop_proof("POST", TOKEN_URL, now, None);
        let proofs = [once.as_str()];
        let both = join_all((0..2).map(|_| token(app, Some(&client), grant, &proofs))).await;
        let statuses: Vec<u16> = both.iter().map(|a| a.0).collect();
        assert_eq!(
            statuses.iter().filter(|s| **s == 200).count(),
            1,
            "{statuses:?}"
        );

        // The API: DPoP scheme, a proof for this request with the token's hash, once.
        let dpop = format!("DPoP {access}");
        let good = key.dpop_proof("GET", BOOKS_URL, now, Some(&access));
        assert_eq!(books(app, &dpop, &[&good]).await.status(), 200);
        let (status, code, challenge) = refused(books(app, &dpop, &[&good]).await).await;
        assert_eq!(
            (status, code.as_str()),
            (401, "invalid_dpop_proof"),
            "replayed"
        );
        assert!(
            challenge.starts_with("DPoP algs=\"ES256 EdDSA RS256\""),
            "{challenge}"
        );
        let another_key = ClientKey::generate("thief");
        for (proof, why) in [
            (
                key.dpop_proof("GET", BOOKS_URL, now, Some("another token")),
                "ath",
            ),
            (key.dpop_proof("GET", BOOKS_URL, now, None), "no ath"),
            (key.dpop_proof("POST", BOOKS_URL, now, Some(&access)), "htm"),
            (
                key.dpop_proof("GET", "http://tessera.test/v1/account", now, Some(&access)),
                "htu",
            ),
            (
                another_key.dpop_proof("GET", BOOKS_URL, now, Some(&access)),
                "another key",
            ),
        ] {
            let (status, code, _) = refused(books(app, &dpop, &[&proof]).await).await;
            assert_eq!(
                (status, code.as_str()),
                (401, "invalid_dpop_proof"),
                "{why}"
            );
        }
        let (status, code, _) = refused(books(app, &dpop, &[]).await).await;
        assert_eq!(
            (status, code.as_str()),
            (401, "invalid_dpop_proof"),
            "no proof"
        );
        // A stolen DPoP-bound token is no Bearer token.
        let (status, code, challenge) =
            refused(books(app, &format!("Bearer {access}"), &[]).await).await;
        assert_eq!((status, code.as_str()), (401, "invalid_token"));
        assert!(challenge.starts_with("DPoP"), "{challenge}");
        // And an unbound token is no DPoP token.
        let plain = app.access_token(&client).await;
        let proof = key.dpop_proof("GET", BOOKS_URL, now, Some(&plain));
        let (status, code, _) =
            refused(books(app, &format!("DPoP {plain}"), &[&proof]).await).await;
        assert_eq!((status, code.as_str()), (401, "invalid_token"));
        assert_eq!(app.get_bearer("/v1/books", &plain).await.status(), 200);

        // Introspection tells a resource server the binding (RFC 9449 §6.2).
        let res = reqwest::Client::new()
            .post(app.url("/oauth/introspect"))
            .basic_auth(&client.client_id, Some(&client.client_secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form_body(&[("token", &access)]))
            .send()
            .await
            .unwrap();
        let introspected: Value = res.json().await.unwrap();
        assert_eq!(introspected["active"], true, "{introspected}");
        assert_eq!(introspected["token_type"], "DPoP");
        assert_eq!(introspected["cnf"]["jkt"], key.jkt());
        let meta = app.get_json("/.well-known/openid-configuration").await;
        assert_eq!(
            meta["dpop_signing_alg_values_supported"],
            serde_json::json!(["ES256", "EdDSA", "RS256"])
        );
    }
);

async fn public_app(app: &TestApp) -> TestApplication {
    let spec = AppSpec {
        name: "Native DPoP app",
        public: true,
        ..AppSpec::default()
    };
    app.application_spec("https://rp.example/cb", spec).await
}

store_test!(
    async fn a_public_clients_refresh_tokens_need_its_key_and_dpop_bound_clients_a_proof(
        app: &TestApp,
    ) {
        let rp = public_app(app).await;
        let (code, _) = app
            .code_for(
                &rp,
                &[
                    ("code_challenge", CHALLENGE),
                    ("code_challenge_method", "S256"),
                    ("scope", "openid books:read"),
                ],
            )
            .await;
        let key = ClientKey::generate("native");
        let now = app.now();
        let body = form_body(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "https://rp.example/cb"),
            ("code_verifier", VERIFIER),
            ("client_id", &rp.client_id),
        ]);
        let proof = key.dpop_proof("POST", TOKEN_URL, now, None);
        let issued = token(app, None, &body, &[&proof]).await;
        assert_eq!(issued.0, 200, "{}", issued.2);
        assert_eq!(issued.2["token_type"], "DPoP");
        // UserInfo is a protected resource like the API: the proof, or nothing.
        let bound = issued.2["access_token"].as_str().unwrap().to_owned();
        let userinfo = |scheme: &'static str, proof: Option<String>| {
            let mut req = reqwest::Client::new()
                .get(app.url("/oauth/userinfo"))
                .header("authorization", format!("{scheme} {bound}"));
            if let Some(p) = proof {
                req = req.header("dpop", p);
            }
            req.send()
        };
        let (status, code, _) = refused(userinfo("Bearer", None).await.unwrap()).await;
        assert_eq!((status, code.as_str()), (401, "invalid_token"));
        let url = "http://tessera.test/oauth/userinfo";
        let proof = key.dpop_proof("GET", url, now, Some(&bound));
        let res = userinfo("DPoP", Some(proof)).await.unwrap();
        assert_eq!(res.status(), 200);
        let refresh = issued.2["refresh_token"].as_str().unwrap().to_owned();
        let refresh_body = form_body(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("client_id", &rp.client_id),
        ]);
        // Without a proof, or with another key's: refused, and the token is not spent.
        let bare = token(app, None, &refresh_body, &[]).await;
        assert_eq!(error(&bare), (400, "invalid_dpop_proof"));
        let thief = ClientKey::generate("thief");
        let stolen = thief.dpop_proof("POST", TOKEN_URL, now, None);
        assert_eq!(
            error(&token(app, None, &refresh_body, &[&stolen]).await),
            (400, "invalid_dpop_proof")
        );
        let own = key.dpop_proof("POST", TOKEN_URL, now, None);
        let refreshed = token(app, None, &refresh_body, &[&own]).await;
        assert_eq!(refreshed.0, 200, "{}", refreshed.2);
        assert_eq!(refreshed.2["token_type"], "DPoP");
        let access = refreshed.2["access_token"].as_str().unwrap();
        assert_eq!(jwt::claims(access)["cnf"]["jkt"], key.jkt());

        // A client registered --dpop-bound gets nothing without a proof.
        let account = app.account("Acme").await;
        let created = app.cli_json(&[
            "client",
            "create",
            "--account",
            &account,
            "--name",
            "bound",
            "--dpop-bound",
        ]);
        assert_eq!(created["dpop_bound_access_tokens"], true);
        let bound = TestClient {
            account_id: account.clone(),
            client_id: created["client_id"].as_str().unwrap().to_owned(),
            client_secret: created["client_secret"].as_str().unwrap().to_owned(),
        };
        let grant = "grant_type=client_credentials";
        assert_eq!(
            error(&token(app, Some(&bound), grant, &[]).await),
            (400, "invalid_dpop_proof")
        );
        let proof = key.dpop_proof("POST", TOKEN_URL, app.now(), None);
        let answer = token(app, Some(&bound), grant, &[&proof]).await;
        assert_eq!(answer.0, 200, "{}", answer.2);
        assert_eq!(answer.2["token_type"], "DPoP");
    }
);

store_test!(
    async fn server_nonces_are_demanded_handed_out_and_accepted(app: &TestApp) with |c| {
        c.require_dpop_nonce = true;
    } {
        let client = app.client(Some("books:read")).await;
        let key = ClientKey::generate("dpop");
        let now = app.now();
        let grant = "grant_type=client_credentials";
        let first = token(app, Some(&client), grant, &[&key.dpop_proof("POST", TOKEN_URL, now, None)]).await;
        assert_eq!(error(&first), (400, "use_dpop_nonce"));
        let nonce = first.1["dpop-nonce"].to_str().unwrap().to_owned();
        let mut claims = dpop_claims("POST", TOKEN_URL, now, None);
        claims["nonce"] = nonce.clone().into();
        let issued = token(app, Some(&client), grant, &[&key.dpop_proof_with(&claims)]).await;
        assert_eq!(issued.0, 200, "{}", issued.2);
        assert!(issued.1.contains_key("dpop-nonce"), "the next nonce comes along");
        let access = issued.2["access_token"].as_str().unwrap();

        let dpop = format!("DPoP {access}");
        let without = key.dpop_proof("GET", BOOKS_URL, now, Some(access));
        let res = books(app, &dpop, &[&without]).await;
        let api_nonce = res.headers()["dpop-nonce"].to_str().unwrap().to_owned();
        let (status, code, _) = refused(res).await;
        assert_eq!((status, code.as_str()), (401, "use_dpop_nonce"));
        let mut claims = dpop_claims("GET", BOOKS_URL, now, Some(access));
        claims["nonce"] = api_nonce.into();
        assert_eq!(books(app, &dpop, &[&key.dpop_proof_with(&claims)]).await.status(), 200);
        // A nonce lives for the proof window.
        app.advance(61);
        let mut claims = dpop_claims("POST", TOKEN_URL, app.now(), None);
        claims["nonce"] = nonce.into();
        let stale = token(app, Some(&client), grant, &[&key.dpop_proof_with(&claims)]).await;
        assert_eq!(error(&stale), (400, "use_dpop_nonce"));
    }
);

/// The code flow's token request for `rp`'s `code` with PKCE, with the DPoP `proofs`.
async fn exchange_code(
    app: &TestApp,
    rp: &TestApplication,
    code: &str,
    proofs: &[&str],
) -> (u16, reqwest::header::HeaderMap, Value) {
    let body = form_body(&[
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", "https://rp.example/cb"),
        ("code_verifier", VERIFIER),
        ("client_id", &rp.client_id),
    ]);
    token(app, None, &body, proofs).await
}

store_test!(
    async fn a_code_bound_by_dpop_jkt_is_exchanged_only_with_a_proof_of_that_key(app: &TestApp) {
        let rp = public_app(app).await;
        let key = ClientKey::generate("native");
        let jkt = key.jkt();
        let bound = [
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
            ("scope", "books:read"),
            ("dpop_jkt", jkt.as_str()),
        ];
        let now = app.now();
        // RFC 9449 §10: no proof, or another key's, and the exchange is refused.
        let (code, _) = app.code_for(&rp, &bound).await;
        let bare = exchange_code(app, &rp, &code, &[]).await;
        assert_eq!(error(&bare), (400, "invalid_grant"));
        assert!(bare.2["error_description"]
            .as_str()
            .unwrap()
            .contains("dpop_jkt"));
        let (code, _) = app.code_for(&rp, &bound).await;
        let thief = ClientKey::generate("thief");
        let stolen = thief.dpop_proof("POST", TOKEN_URL, now, None);
        let refused = exchange_code(app, &rp, &code, &[&stolen]).await;
        assert_eq!(error(&refused), (400, "invalid_grant"));
        // The key's own proof: a DPoP-bound token.
        let (code, _) = app.code_for(&rp, &bound).await;
        let own = key.dpop_proof("POST", TOKEN_URL, now, None);
        let issued = exchange_code(app, &rp, &code, &[&own]).await;
        assert_eq!(issued.0, 200, "{}", issued.2);
        assert_eq!(issued.2["token_type"], "DPoP");
        let access = issued.2["access_token"].as_str().unwrap();
        assert_eq!(jwt::claims(access)["cnf"]["jkt"], jkt);
        // A malformed thumbprint goes back to the client as invalid_request, before any
        // sign-in.
        let params = [
            ("response_type", "code"),
            ("client_id", rp.client_id.as_str()),
            ("redirect_uri", "https://rp.example/cb"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
            ("dpop_jkt", "not-a-thumbprint"),
        ];
        let path = format!("/oauth/authorize?{}", form_body(&params));
        let res = browser().get(app.url(&path)).send().await.unwrap();
        assert_eq!(res.status(), 303);
        let to = location(&res);
        assert_redirected_error(&to, "invalid_request");
    }
);

store_test!(
    async fn a_proof_sent_with_a_pushed_request_binds_its_code(app: &TestApp) {
        let rp = public_app(app).await;
        let key = ClientKey::generate("native");
        let now = app.now();
        let par_url = "http://tessera.test/oauth/par";
        let push = |params: Vec<(&'static str, String)>, proof: Option<String>| {
            let mut pairs: Vec<(&str, &str)> = vec![
                ("response_type", "code"),
                ("client_id", &rp.client_id),
                ("redirect_uri", "https://rp.example/cb"),
                ("scope", "books:read"),
                ("code_challenge", CHALLENGE),
                ("code_challenge_method", "S256"),
            ];
            pairs.extend(params.iter().map(|(k, v)| (*k, v.as_str())));
            let mut req = reqwest::Client::new()
                .post(app.url("/oauth/par"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form_body(&pairs));
            if let Some(p) = proof {
                req = req.header("dpop", p);
            }
            async move {
                let res = req.send().await.unwrap();
                let status = res.status().as_u16();
                (status, res.json::<Value>().await.unwrap())
            }
        };
        // §10.1: dpop_jkt and the proof's key must agree.
        let other = ClientKey::generate("other").jkt();
        let proof = key.dpop_proof("POST", par_url, now, None);
        let (status, body) = push(vec![("dpop_jkt", other)], Some(proof)).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_dpop_proof"))
        );
        // A proof for another endpoint is refused like at the token endpoint.
        let misdirected = key.dpop_proof("POST", TOKEN_URL, now, None);
        let (status, body) = push(Vec::new(), Some(misdirected)).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_dpop_proof"))
        );
        let proof = key.dpop_proof("POST", par_url, now, None);
        let (status, pushed) = push(Vec::new(), Some(proof)).await;
        assert_eq!(status, 201, "{pushed}");
        let account = app.account("Acme").await;
        let user = app.user(&[&account]).await;
        let path = pushed_authorize_path(&rp, pushed["request_uri"].as_str().unwrap());
        let to = app.authorize_path(&browser(), &user, &path).await;
        let code = param(&to, "code").unwrap_or_else(|| panic!("no code in {to}"));
        let thief = ClientKey::generate("thief");
        let stolen = thief.dpop_proof("POST", TOKEN_URL, now, None);
        let refused = exchange_code(app, &rp, &code, &[&stolen]).await;
        assert_eq!(error(&refused), (400, "invalid_grant"));
        // Refused after it was spent: the code is gone for the key's owner too, as a
        // code exchanged with a wrong PKCE verifier is.
        let own = key.dpop_proof("POST", TOKEN_URL, now, None);
        assert_eq!(
            error(&exchange_code(app, &rp, &code, &[&own]).await),
            (400, "invalid_grant")
        );
        // A fresh push with the right key, exchanged with its proof.
        let proof = key.dpop_proof("POST", par_url, now, None);
        let (_, pushed) = push(Vec::new(), Some(proof)).await;
        let path = pushed_authorize_path(&rp, pushed["request_uri"].as_str().unwrap());
        let to = app.authorize_path(&browser(), &user, &path).await;
        let code = param(&to, "code").unwrap();
        let own = key.dpop_proof("POST", TOKEN_URL, now, None);
        let issued = exchange_code(app, &rp, &code, &[&own]).await;
        assert_eq!(issued.0, 200, "{}", issued.2);
        assert_eq!(issued.2["token_type"], "DPoP");
    }
);
