//! Driving the authorization code flow like a browser: sign-in form, consent form, redirect.

use serde_json::Value;

use super::TestApp;

pub struct TestUser {
    pub email: String,
    pub password: String,
    pub user_id: String,
    pub accounts: Vec<String>,
}

/// What an application registered by [`TestApp::application_spec`] has besides the defaults
/// (scope `books:read`, operator-approved, confidential with a secret).
pub struct AppSpec {
    pub name: &'static str,
    pub public: bool,
    pub post_logout_redirect_uris: Vec<String>,
    pub require_par: bool,
    pub jwks: Option<tessera_core::domain::ClientKeys>,
    /// `authorization_code` and/or `device_code`; empty: `authorization_code`.
    pub grants: Vec<tessera_core::domain::GrantType>,
    pub dpop_bound: bool,
}

impl Default for AppSpec {
    fn default() -> Self {
        Self {
            name: "Relying Party",
            public: false,
            post_logout_redirect_uris: Vec::new(),
            require_par: false,
            jwks: None,
            grants: Vec::new(),
            dpop_bound: false,
        }
    }
}

pub struct TestApplication {
    pub client_id: String,
    pub client_secret: Option<String>,
    pub redirect_uri: Option<String>,
}

/// A browser: its own cookie jar, no automatic redirects.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let end = tail.find(';').unwrap();
        let entity = &tail[1..end];
        let c = match entity {
            "amp" => '&',
            "quot" => '"',
            "lt" => '<',
            "gt" => '>',
            "apos" => '\'',
            e if e.starts_with("#x") => {
                char::from_u32(u32::from_str_radix(&e[2..], 16).unwrap()).unwrap()
            }
            e if e.starts_with('#') => char::from_u32(e[1..].parse().unwrap()).unwrap(),
            e => panic!("unknown entity {e}"),
        };
        out.push(c);
        rest = &tail[end + 1..];
    }
    out.push_str(rest);
    out
}

/// The value of the first `<input … name="NAME" value="…">` in `html`.
pub fn field(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(unescape(&html[start..end]))
}

pub fn location(res: &reqwest::Response) -> String {
    res.headers()["location"].to_str().unwrap().to_owned()
}

/// The query parameters of a URL, decoded.
pub fn query_of(url: &str) -> Vec<(String, String)> {
    let q = url.split_once('?').map(|(_, q)| q).unwrap_or("");
    q.split('&')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.to_owned(), percent_decode(v)))
        .collect()
}

pub fn param(url: &str, name: &str) -> Option<String> {
    query_of(url)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

fn percent_decode(v: &str) -> String {
    let bytes = v.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() + 1 {
            if let Ok(b) = u8::from_str_radix(&v[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

pub fn form_body(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

pub fn enc(v: &str) -> String {
    v.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

impl TestApp {
    pub async fn user(&self, accounts: &[&str]) -> TestUser {
        self.user_named(accounts, None, false).await
    }

    /// A user with a display name and, if `email_verified`, a vouched-for email address.
    pub async fn user_named(
        &self,
        accounts: &[&str],
        name: Option<&str>,
        email_verified: bool,
    ) -> TestUser {
        self.new_user(accounts, name, email_verified, false).await
    }

    /// An operator of no API account.
    pub async fn operator(&self) -> TestUser {
        self.new_user(&[], None, false, true).await
    }

    async fn new_user(
        &self,
        accounts: &[&str],
        name: Option<&str>,
        email_verified: bool,
        operator: bool,
    ) -> TestUser {
        let email = format!("user-{}@example.com", super::random_suffix());
        let password = "correct horse battery".to_owned();
        let policy = self.config.password_policy().unwrap();
        let pw = tessera_core::domain::Password::new(password.clone()).unwrap();
        let hash = tessera_core::domain::hash_password(&policy, &pw)
            .unwrap()
            .as_str()
            .to_owned();
        let owned: Vec<String> = accounts.iter().map(|a| a.to_string()).collect();
        let new = tessera_core::manage::users::NewUser {
            email: &email,
            name,
            email_verified,
            accounts: &owned,
            operator,
            password_hash: hash,
        };
        let user = tessera_core::manage::users::create_user(
            self.store(),
            &tessera_core::audit::Actor::cli("test"),
            new,
            self.now(),
        )
        .await
        .unwrap();
        TestUser {
            email,
            password,
            user_id: user.id.to_string(),
            accounts: owned,
        }
    }

    pub async fn application(
        &self,
        redirect_uri: Option<&str>,
        public: bool,
        scope: Option<&str>,
    ) -> TestApplication {
        self.register(redirect_uri, public, scope, None).await
    }

    /// A confidential application registered by the account `owner` from the dashboard,
    /// not approved by the operator.
    pub async fn unapproved_application(&self, redirect_uri: &str, owner: &str) -> TestApplication {
        self.register(Some(redirect_uri), false, None, Some(owner))
            .await
    }

    /// An application; operator-approved unless `owner` registered it.
    async fn register(
        &self,
        redirect_uri: Option<&str>,
        public: bool,
        scope: Option<&str>,
        owner: Option<&str>,
    ) -> TestApplication {
        let uris: Vec<String> = redirect_uri.iter().map(|u| u.to_string()).collect();
        let new = tessera_core::manage::apps::NewApplication {
            name: "Partner App",
            redirect_uris: &uris,
            scope,
            public,
            approved: owner.is_none(),
            require_pkce: false,
            post_logout_redirect_uris: &[],
            require_par: false,
            jwks: None,
            owner,
            grants: &[],
            dpop_bound: false,
        };
        self.register_app(&new).await
    }

    /// An operator-approved confidential application redirecting to `redirect_uri`, with
    /// the OpenID Connect settings of `spec`.
    pub async fn application_spec(&self, redirect_uri: &str, spec: AppSpec) -> TestApplication {
        let uris = [redirect_uri.to_owned()];
        let new = tessera_core::manage::apps::NewApplication {
            name: spec.name,
            redirect_uris: &uris,
            scope: Some("books:read"),
            public: spec.public,
            approved: true,
            require_pkce: false,
            post_logout_redirect_uris: &spec.post_logout_redirect_uris,
            require_par: spec.require_par,
            jwks: spec.jwks,
            owner: None,
            grants: &spec.grants,
            dpop_bound: spec.dpop_bound,
        };
        self.register_app(&new).await
    }

    async fn register_app(
        &self,
        new: &tessera_core::manage::apps::NewApplication<'_>,
    ) -> TestApplication {
        let (client, secret) = tessera_core::manage::apps::create_application(
            self.store(),
            &tessera_core::audit::Actor::cli("test"),
            new,
            self.now(),
        )
        .await
        .unwrap();
        TestApplication {
            client_id: client.id.to_string(),
            client_secret: secret.map(|s| s.expose().to_owned()),
            redirect_uri: new.redirect_uris.first().cloned(),
        }
    }

    /// POSTs the form `pairs` to `path` as the browser `b` (its cookies, no redirects).
    pub async fn browser_post(
        &self,
        b: &reqwest::Client,
        path: &str,
        pairs: &[(&str, &str)],
    ) -> reqwest::Response {
        b.post(self.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form_body(pairs))
            .send()
            .await
            .unwrap()
    }

    /// GET /oauth/authorize with `params`.
    pub async fn get_authorize(
        &self,
        browser: &reqwest::Client,
        params: &[(&str, &str)],
    ) -> reqwest::Response {
        browser
            .get(self.url(&format!("/oauth/authorize?{}", form_body(params))))
            .send()
            .await
            .unwrap()
    }

    /// Signs in from the sign-in page `html`; returns the redirect's target path.
    pub async fn sign_in(
        &self,
        browser: &reqwest::Client,
        html: &str,
        user: &TestUser,
    ) -> reqwest::Response {
        let body = form_body(&[
            (
                "csrf",
                &field(html, "csrf").unwrap_or_else(|| panic!("csrf field in {html}")),
            ),
            ("return_to", &field(html, "return_to").unwrap_or_default()),
            ("email", &user.email),
            ("password", &user.password),
        ]);
        browser
            .post(self.url("/signin"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap()
    }

    /// Opens the sign-in page for `return_to` in `browser` and signs `user` in from it;
    /// the answer to the form.
    pub async fn sign_in_for(
        &self,
        browser: &reqwest::Client,
        user: &TestUser,
        return_to: &str,
    ) -> reqwest::Response {
        let html = browser
            .get(self.url(&format!("/signin?return_to={return_to}")))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        self.sign_in(browser, &html, user).await
    }

    /// A new browser signed in as `user`, having landed on `page`.
    pub async fn signed_in_to(&self, user: &TestUser, page: &str) -> reqwest::Client {
        let b = browser();
        let res = self.sign_in_for(&b, user, page).await;
        assert_eq!(location(&res), page);
        b
    }

    /// Submits the consent page `html` to its form's action (the authorization endpoint, or
    /// the device verification page), keeping `keep` scopes checked (None: all).
    pub async fn consent(
        &self,
        browser: &reqwest::Client,
        html: &str,
        decision: &str,
        keep: Option<&[&str]>,
    ) -> reqwest::Response {
        let csrf = field(html, "csrf").expect("csrf");
        let request = field(html, "request").expect("request");
        let account = field(html, "account").unwrap_or_else(|| {
            let start = html.find("<option value=\"").unwrap() + 15;
            html[start..start + html[start..].find('"').unwrap()].to_owned()
        });
        let mut pairs: Vec<(String, String)> = vec![
            ("csrf".into(), csrf),
            ("request".into(), request),
            ("decision".into(), decision.into()),
            ("account".into(), account),
        ];
        let mut rest = html;
        while let Some(i) = rest.find("name=\"scope.") {
            let start = i + "name=\"scope.".len();
            let end = rest[start..].find('"').unwrap() + start;
            let scope = unescape(&rest[start..end]);
            if keep.is_none_or(|k| k.contains(&scope.as_str())) {
                pairs.push((format!("scope.{scope}"), "on".into()));
            }
            rest = &rest[end..];
        }
        let refs: Vec<(&str, &str)> = pairs
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        let action = {
            let marker = "<form method=\"post\" action=\"";
            let start = html.find(marker).expect("a form") + marker.len();
            &html[start..start + html[start..].find('"').unwrap()]
        };
        browser
            .post(self.url(action))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form_body(&refs))
            .send()
            .await
            .unwrap()
    }

    /// The whole browser part: authorize → sign in → consent → the redirect's URL.
    pub async fn authorize_with(
        &self,
        browser: &reqwest::Client,
        user: &TestUser,
        params: &[(&str, &str)],
    ) -> String {
        let path = format!("/oauth/authorize?{}", form_body(params));
        self.authorize_path(browser, user, &path).await
    }

    /// Like [`TestApp::authorize_with`], from an authorization URL's path and query.
    pub async fn authorize_path(
        &self,
        browser: &reqwest::Client,
        user: &TestUser,
        path: &str,
    ) -> String {
        let res = browser.get(self.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 200, "sign-in page");
        let html = res.text().await.unwrap();
        let res = self.sign_in(browser, &html, user).await;
        assert_eq!(res.status(), 303, "signed in");
        let res = browser.get(self.url(&location(&res))).send().await.unwrap();
        if res.status() == 303 {
            return location(&res);
        }
        if res.status() != 200 {
            panic!(
                "consent page: {} {}",
                res.status(),
                res.text().await.unwrap()
            );
        }
        let html = res.text().await.unwrap();
        let res = self.consent(browser, &html, "authorize", None).await;
        assert_eq!(res.status(), 303);
        location(&res)
    }

    /// Signs `user` in from GET /oauth/authorize with `params`; answers the response that
    /// follows the sign-in (the consent page, or a redirect).
    pub async fn signed_in_authorize(
        &self,
        browser: &reqwest::Client,
        user: &TestUser,
        params: &[(&str, &str)],
    ) -> reqwest::Response {
        let html = self
            .get_authorize(browser, params)
            .await
            .text()
            .await
            .unwrap();
        let res = self.sign_in(browser, &html, user).await;
        assert_eq!(res.status(), 303, "signed in");
        browser.get(self.url(&location(&res))).send().await.unwrap()
    }

    /// Signs `user` in to authorize with `params` and expects the refusal sent back to the
    /// client (RFC 6749 §4.1.2.1 `access_denied`); answers where the browser was sent.
    pub async fn refused_authorize(&self, user: &TestUser, params: &[(&str, &str)]) -> String {
        let res = self.signed_in_authorize(&browser(), user, params).await;
        assert_eq!(res.status(), 303);
        let to = location(&res);
        assert_eq!(
            param(&to, "error").as_deref(),
            Some("access_denied"),
            "{to}"
        );
        to
    }

    /// A code for `app` approved by a new user of a new account.
    pub async fn code_for(
        &self,
        app: &TestApplication,
        extra: &[(&str, &str)],
    ) -> (String, TestUser) {
        let account = self.account("Acme").await;
        let user = self.user(&[&account]).await;
        let mut params = vec![
            ("response_type", "code"),
            ("client_id", app.client_id.as_str()),
            ("state", "xyz"),
        ];
        if let Some(uri) = &app.redirect_uri {
            params.push(("redirect_uri", uri));
        }
        params.extend_from_slice(extra);
        let to = self.authorize_with(&browser(), &user, &params).await;
        assert_eq!(param(&to, "state").as_deref(), Some("xyz"), "{to}");
        assert!(
            param(&to, "iss").is_some(),
            "RFC 9207: the issuer comes along: {to}"
        );
        (
            param(&to, "code").unwrap_or_else(|| panic!("no code in {to}")),
            user,
        )
    }

    /// POST /oauth/token for an application (client_secret_post, or `none` for public ones).
    pub async fn app_token(&self, app: &TestApplication, params: &[(&str, &str)]) -> (u16, Value) {
        let mut pairs = params.to_vec();
        pairs.push(("client_id", &app.client_id));
        if let Some(s) = &app.client_secret {
            pairs.push(("client_secret", s));
        }
        let res = self.post_form("/oauth/token", &form_body(&pairs)).await;
        (res.status().as_u16(), res.json().await.unwrap())
    }

    pub async fn exchange(&self, app: &TestApplication, code: &str) -> (u16, Value) {
        let mut params = vec![("grant_type", "authorization_code"), ("code", code)];
        if let Some(uri) = &app.redirect_uri {
            params.push(("redirect_uri", uri));
        }
        self.app_token(app, &params).await
    }

    pub async fn refresh(&self, app: &TestApplication, refresh_token: &str) -> (u16, Value) {
        self.app_token(
            app,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
            ],
        )
        .await
    }
}

/// The authorization URL's path for the request `rp` pushed as `request_uri` (RFC 9126 §4).
pub fn pushed_authorize_path(rp: &TestApplication, request_uri: &str) -> String {
    format!(
        "/oauth/authorize?{}",
        form_body(&[("client_id", &rp.client_id), ("request_uri", request_uri)])
    )
}

/// Asserts that the redirect `to` carries the OAuth `error` code `expected`.
pub fn assert_redirected_error(to: &str, expected: &str) {
    assert_eq!(param(to, "error").as_deref(), Some(expected), "{to}");
}
