//! The Settings Center as a customer uses it (issue 15): landing on `/settings`, notices
//! only of the server's wording, one authorization revoked per (application, account),
//! Add application offering the application's own scopes, blank names called blank, error
//! pages with a way back, the Remove confirmation's Basic traffic, the next steps after
//! Migrate, "tested" told apart from "used by an integration", and no `tessera` command in
//! anything a customer reads.

use serde_json::Value;
use tessera_core::domain::{hash_password, Password};
use tessera_core::legacy::provision::{create_legacy_credential, NewLegacyCredential};

use crate::support::flow::{browser, field, form_body, location, TestUser};
use crate::support::TestApp;

const CREDENTIALS: &str = "/settings/credentials";
const APPLICATIONS: &str = "/settings/applications";

async fn get(b: &reqwest::Client, app: &TestApp, path: &str) -> reqwest::Response {
    b.get(app.url(path)).send().await.unwrap()
}

async fn text(b: &reqwest::Client, app: &TestApp, path: &str) -> String {
    get(b, app, path).await.text().await.unwrap()
}

async fn post(
    b: &reqwest::Client,
    app: &TestApp,
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

/// A browser signed in as `user` from a sign-in page without a return path; the response
/// of the sign-in POST.
async fn sign_in(app: &TestApp, user: &TestUser) -> (reqwest::Client, reqwest::Response) {
    let b = browser();
    let html = text(&b, app, "/signin").await;
    let res = app.sign_in(&b, &html, user).await;
    (b, res)
}

/// The `name=value` of the cookie `name` that `res` sets.
fn set_cookie(res: &reqwest::Response, name: &str) -> Option<String> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .find(|c| c.starts_with(&format!("{name}=")))
        .and_then(|c| c.split(';').next())
        .map(str::to_owned)
}

/// The value of the element with `id="ID"`'s `value` attribute.
fn value_of(html: &str, id: &str) -> String {
    let at = html.find(&format!("id=\"{id}\"")).expect(id);
    let rest = &html[at..];
    let start = rest.find("value=\"").unwrap() + "value=\"".len();
    let end = rest[start..].find('"').unwrap() + start;
    rest[start..end].to_owned()
}

/// Nothing a customer reads tells them to run a `tessera` command.
fn no_cli_command(html: &str) {
    for cli in [
        "`tessera ",
        "tessera legacy",
        "tessera client",
        "tessera account",
    ] {
        assert!(!html.contains(cli), "{cli:?} in {html}");
    }
}

store_test!(
    async fn signing_in_without_a_return_path_lands_on_the_settings_center(app: &TestApp) {
        let account = app.account("Acme").await;
        let user = app.user(&[&account]).await;
        let (b, res) = sign_in(app, &user).await;
        assert_eq!(location(&res), "/settings");
        assert_eq!(location(&get(&b, app, "/settings").await), CREDENTIALS);
        // `/` is no API's without an upstream: a person there wants the pages.
        assert_eq!(location(&get(&b, app, "/").await), "/settings");
        // Signing out and in again ends in the same place, never a JSON 404.
        let html = text(&b, app, CREDENTIALS).await;
        let csrf = field(&html, "csrf").unwrap();
        let out = post(&b, app, "/signout", &[("csrf", &csrf)]).await;
        assert_eq!(location(&out), "/signin");
        let html = text(&b, app, "/signin").await;
        let again = app.sign_in(&b, &html, &user).await;
        assert_eq!(location(&again), "/settings");
    }
);

store_test!(
    async fn notices_are_the_servers_words_sealed_to_the_session_and_shown_once(app: &TestApp) {
        let account = app.account("Acme").await;
        let user = app.user(&[&account]).await;
        let (b, signed) = sign_in(app, &user).await;
        let session = set_cookie(&signed, "tessera_session").unwrap();
        let spoof = "Your account is suspended. Call +1 555 0100";
        let html = text(
            &b,
            app,
            &format!("{CREDENTIALS}?notice={}", spoof.replace(' ', "+")),
        )
        .await;
        assert!(!html.contains("suspended"), "{html}");
        assert!(!html.contains("class=\"notice\""), "{html}");

        // An action's notice: in a cookie, not in the URL.
        let created = post(
            &b,
            app,
            "/settings/credentials/create",
            &[
                ("csrf", &field(&html, "csrf").unwrap()),
                ("account", &account),
                ("name", "production"),
            ],
        )
        .await;
        let id = value_of(&created.text().await.unwrap(), "client-id");
        let html = text(
            &b,
            app,
            &format!("/settings/credentials/revoke?client_id={id}"),
        )
        .await;
        let revoked = post(
            &b,
            app,
            "/settings/credentials/revoke",
            &[("csrf", &field(&html, "csrf").unwrap()), ("client_id", &id)],
        )
        .await;
        let to = location(&revoked);
        assert_eq!(to, format!("{CREDENTIALS}?account={account}"));
        let notice = set_cookie(&revoked, "tessera_notice").expect("a notice cookie");
        let page = get(&b, app, &to).await;
        assert!(
            set_cookie(&page, "tessera_notice").is_some(),
            "shown once, then cleared"
        );
        assert!(page.text().await.unwrap().contains("Revoked production."));
        assert!(!text(&b, app, &to).await.contains("Revoked production."));

        // By hand: the sealed cookie shows with its own session only, and not altered.
        let by_hand = |cookies: String| {
            let to = to.clone();
            async move {
                let res = browser()
                    .get(app.url(&to))
                    .header("cookie", cookies)
                    .send()
                    .await
                    .unwrap();
                res.text().await.unwrap()
            }
        };
        assert!(by_hand(format!("{session}; {notice}"))
            .await
            .contains("Revoked production."));
        let (value_text, tag) = notice.split_once('=').unwrap().1.split_once('.').unwrap();
        let forged_text = base64_url(spoof.as_bytes());
        let forged = format!("tessera_notice={forged_text}.{tag}");
        assert_ne!(forged_text, value_text);
        assert!(!by_hand(format!("{session}; {forged}"))
            .await
            .contains("suspended"));
        let other = app.user(&[&account]).await;
        let (_, other_signed) = sign_in(app, &other).await;
        let other_session = set_cookie(&other_signed, "tessera_session").unwrap();
        let html = by_hand(format!("{other_session}; {notice}")).await;
        assert!(!html.contains("Revoked production."), "{html}");
    }
);

fn base64_url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// Generates a token set for `partner` on `account` from Add application; its refresh token.
async fn add_application(
    app: &TestApp,
    b: &reqwest::Client,
    partner: &str,
    account: &str,
) -> String {
    let html = text(b, app, &format!("/settings/applications/add?app={partner}")).await;
    let res = post(
        b,
        app,
        "/settings/applications/add",
        &[
            ("csrf", &field(&html, "csrf").unwrap()),
            ("app", partner),
            ("account", account),
            ("scope.books:read", "on"),
        ],
    )
    .await;
    assert_eq!(res.status(), 200);
    value_of(&res.text().await.unwrap(), "refresh-token")
}

store_test!(
    async fn revoking_an_authorization_revokes_only_that_accounts(app: &TestApp) {
        let first = app.account("First Books").await;
        let second = app.account("Second Books").await;
        let user = app.user(&[&first, &second]).await;
        let partner = app
            .application(None, false, Some("books:read books:write"))
            .await;
        let (b, _) = sign_in(app, &user).await;
        let first_refresh = add_application(app, &b, &partner.client_id, &first).await;
        let second_refresh = add_application(app, &b, &partner.client_id, &second).await;

        let html = text(&b, app, APPLICATIONS).await;
        assert!(
            html.contains("First Books") && html.contains("Second Books"),
            "{html}"
        );
        let link = format!(
            "/settings/applications/deauthorize?client_id={}&amp;account={first}",
            partner.client_id
        );
        assert!(html.contains(&link), "{html}");
        let confirm = text(&b, app, &link.replace("&amp;", "&")).await;
        assert!(confirm.contains("First Books"), "{confirm}");
        let res = post(
            &b,
            app,
            "/settings/applications/deauthorize",
            &[
                ("csrf", &field(&confirm, "csrf").unwrap()),
                ("client_id", &partner.client_id),
                ("account", &first),
            ],
        )
        .await;
        assert_eq!(location(&res), APPLICATIONS);
        let html = text(&b, app, APPLICATIONS).await;
        assert!(
            html.contains("Access revoked; 1 token set stopped working."),
            "{html}"
        );
        assert!(!html.contains("First Books</td>"), "{html}");
        assert!(html.contains("Second Books</td>"), "{html}");
        let (status, _) = app.refresh(&partner, &first_refresh).await;
        assert_eq!(status, 400);
        let (status, body) = app.refresh(&partner, &second_refresh).await;
        assert_eq!(status, 200, "{body}");

        // An account that is not the user's revokes nothing.
        let stranger = app.account("Stranger").await;
        let res = post(
            &b,
            app,
            "/settings/applications/deauthorize",
            &[
                ("csrf", &field(&html, "csrf").unwrap()),
                ("client_id", &partner.client_id),
                ("account", &stranger),
            ],
        )
        .await;
        assert_eq!(res.status(), 403);
    }
);

store_test!(
    async fn add_application_offers_only_the_applications_scopes_for_a_named_account(
        app: &TestApp,
    ) {
        let account = app.account("Reader Co").await;
        let user = app.user(&[&account]).await;
        let partner = app.application(None, false, Some("books:read")).await;
        let (b, _) = sign_in(app, &user).await;
        let html = text(
            &b,
            app,
            &format!("/settings/applications/add?app={}", partner.client_id),
        )
        .await;
        assert!(
            html.contains("name=\"scope.books:read\" value=\"on\" checked"),
            "{html}"
        );
        assert!(!html.contains("scope.books:write"), "{html}");
        assert!(
            html.contains("The token set is for the API account <strong>Reader Co</strong>"),
            "{html}"
        );
        // A scope the application may not use, sent anyway, is not granted.
        let res = post(
            &b,
            app,
            "/settings/applications/add",
            &[
                ("csrf", &field(&html, "csrf").unwrap()),
                ("app", &partner.client_id),
                ("account", &account),
                ("scope.books:read", "on"),
                ("scope.books:write", "on"),
            ],
        )
        .await;
        let html = res.text().await.unwrap();
        assert!(
            html.contains("<code>books:read</code>") && html.contains("Reader Co"),
            "{html}"
        );
        // An unapproved application cannot be added.
        let own = app
            .unapproved_application("https://own.example/cb", &account)
            .await;
        let res = get(
            &b,
            app,
            &format!("/settings/applications/add?app={}", own.client_id),
        )
        .await;
        assert_eq!(res.status(), 404);
        let html = res.text().await.unwrap();
        assert!(html.contains("href=\"/settings\""), "a way back: {html}");
    }
);

store_test!(
    async fn a_blank_name_is_called_blank_and_error_pages_lead_back(app: &TestApp) {
        let account = app.account("Acme").await;
        let user = app.user(&[&account]).await;
        let (b, _) = sign_in(app, &user).await;
        let html = text(&b, app, CREDENTIALS).await;
        let csrf = field(&html, "csrf").unwrap();
        let res = post(
            &b,
            app,
            "/settings/credentials/create",
            &[("csrf", &csrf), ("account", &account), ("name", "   ")],
        )
        .await;
        assert_eq!(res.status(), 400);
        let page = res.text().await.unwrap();
        assert!(page.contains("a client name cannot be blank"), "{page}");
        assert!(!page.contains("1 to 200"), "{page}");
        assert!(page.contains("href=\"/settings\""), "{page}");
        // A stale form: its page offers a fresh copy, not a re-post.
        let res = post(
            &b,
            app,
            "/settings/credentials/create",
            &[("csrf", "stale"), ("account", &account), ("name", "x")],
        )
        .await;
        assert_eq!(res.status(), 403);
        let page = res.text().await.unwrap();
        assert!(
            page.contains(&format!("href=\"{CREDENTIALS}\"")) && page.contains("Open a fresh form"),
            "{page}"
        );
        // Not found leads back too.
        let res = get(&b, app, "/settings/credentials/revoke?client_id=cl_nope").await;
        assert_eq!(res.status(), 404);
        assert!(res.text().await.unwrap().contains("href=\"/settings\""));
    }
);

store_test!(
    async fn after_a_wrong_password_the_cursor_is_on_password(app: &TestApp) {
        let account = app.account("Acme").await;
        let mut user = app.user(&[&account]).await;
        user.password = "wrong horse battery".into();
        let (_, res) = sign_in(app, &user).await;
        assert_eq!(res.status(), 401);
        let html = res.text().await.unwrap();
        assert!(
            html.contains("autocomplete=\"current-password\" required autofocus"),
            "{html}"
        );
        assert_eq!(
            html.matches("autofocus").count(),
            1,
            "only Password: {html}"
        );
        // A first visit starts on Email.
        let html = text(&browser(), app, "/signin").await;
        assert!(
            html.contains("autocomplete=\"username\" required value=\"\" autofocus"),
            "{html}"
        );
    }
);

/// A legacy credential on a new account with a user who may act on it.
async fn legacy_customer(app: &TestApp, email: &str) -> (String, TestUser) {
    let account = app.account("Legacy Co").await;
    let policy = app.config.password_policy().unwrap();
    let hash = hash_password(&policy, &Password::new("correct horse".into()).unwrap()).unwrap();
    let new = NewLegacyCredential {
        account_id: &account,
        email,
        password_hash: hash,
    };
    create_legacy_credential(
        app.store(),
        new,
        &tessera_core::audit::Actor::cli("test"),
        app.now(),
    )
    .await
    .unwrap();
    let user = app.user(&[&account]).await;
    (account, user)
}

fn report_row(app: &TestApp, email: &str) -> Value {
    let report = app.cli_json(&["report", "legacy"]);
    report
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["email"] == email)
        .unwrap()
        .clone()
}

store_test!(
    async fn remove_shows_basic_traffic_and_a_test_is_not_an_integration(app: &TestApp) {
        let email = "ops@legacy.example";
        let (account, user) = legacy_customer(app, email).await;
        for _ in 0..3 {
            let res = app
                .http
                .get(app.url("/v1/books"))
                .basic_auth(email, Some("correct horse"))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200);
        }
        app.flush_legacy_usage().await;
        let (b, _) = sign_in(app, &user).await;
        let html = text(&b, app, CREDENTIALS).await;
        no_cli_command(&html);
        // Remove is blocked before Migrate, in the customer's words.
        let blocked = post(
            &b,
            app,
            "/settings/legacy/remove",
            &[("csrf", &field(&html, "csrf").unwrap()), ("email", email)],
        )
        .await;
        assert_eq!(blocked.status(), 409);
        let page = blocked.text().await.unwrap();
        assert!(page.contains("Migrate first"), "{page}");
        no_cli_command(&page);

        // Migrate: the next steps, with the real client id and the secret as a variable.
        let migrated = post(
            &b,
            app,
            "/settings/legacy/migrate",
            &[
                ("csrf", &field(&html, "csrf").unwrap()),
                ("account", &account),
                ("email", email),
            ],
        )
        .await;
        let page = migrated.text().await.unwrap();
        let client_id = value_of(&page, "client-id");
        let secret = value_of(&page, "client-secret");
        assert!(page.contains(&format!("curl -s -u &quot;{client_id}:$CLIENT_SECRET&quot; -d grant_type=client_credentials")) || page.contains(&format!("curl -s -u \"{client_id}:$CLIENT_SECRET\"")), "{page}");
        assert!(
            page.contains("Authorization: Bearer $ACCESS_TOKEN"),
            "{page}"
        );
        assert!(
            !page.contains(&format!(":{secret}")),
            "the secret only in its field: {page}"
        );
        no_cli_command(&page);

        // Test in the Settings Center: times as dates; "tested", not "in use".
        let html = text(&b, app, CREDENTIALS).await;
        let tested = post(
            &b,
            app,
            "/settings/credentials/test",
            &[
                ("csrf", &field(&html, "csrf").unwrap()),
                ("client_id", &client_id),
                ("client_secret", &secret),
            ],
        )
        .await;
        let page = tested.text().await.unwrap();
        assert!(page.contains("The credential works"), "{page}");
        assert!(page.contains(" UTC</td>"), "exp as a date: {page}");
        let html = text(&b, app, CREDENTIALS).await;
        assert!(
            html.contains("Only tested in the Settings Center"),
            "{html}"
        );
        let row = report_row(app, email);
        assert_eq!(row["client_used"], true);
        assert!(row["client_first_test_at"].is_string(), "{row}");
        assert_eq!(row["client_first_integration_at"], Value::Null);
        let csv = app.cli(&["report", "legacy", "--format", "csv"]).unwrap();
        assert!(
            csv.lines()
                .next()
                .unwrap()
                .ends_with(",client_first_test_at,client_first_integration_at"),
            "{csv}"
        );

        // The Remove confirmation: Basic is still in use, plainly.
        let confirm = text(
            &b,
            app,
            &format!("/settings/legacy/remove?account={account}&email={email}"),
        )
        .await;
        assert!(
            confirm.contains("id=\"basic-24h\">3<") && confirm.contains("id=\"basic-7d\">3<"),
            "{confirm}"
        );
        assert!(confirm.contains("is still in use"), "{confirm}");
        assert!(
            confirm.contains(
                "No token has been requested with the new credentials outside the Settings Center"
            ),
            "{confirm}"
        );
        assert!(!confirm.contains("id=\"basic-last\">never"), "{confirm}");
        no_cli_command(&confirm);

        // An integration's token: told apart in the list, the report and the confirmation.
        let res = app
            .http
            .post(app.url("/oauth/token"))
            .basic_auth(&client_id, Some(&secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let html = text(&b, app, CREDENTIALS).await;
        assert!(html.contains("Used by an integration since"), "{html}");
        let row = report_row(app, email);
        assert!(row["client_first_integration_at"].is_string(), "{row}");
        // Eight days later nothing has used Basic: no warning, and removal goes through.
        app.advance(8 * 86_400);
        let (b, _) = sign_in(app, &user).await;
        let confirm = text(
            &b,
            app,
            &format!("/settings/legacy/remove?account={account}&email={email}"),
        )
        .await;
        assert!(!confirm.contains("is still in use"), "{confirm}");
        assert!(confirm.contains("id=\"basic-7d\">0<"), "{confirm}");
        let res = post(
            &b,
            app,
            "/settings/legacy/remove",
            &[
                ("csrf", &field(&confirm, "csrf").unwrap()),
                ("email", email),
            ],
        )
        .await;
        assert_eq!(location(&res), format!("{CREDENTIALS}?account={account}"));
        let html = text(&b, app, &location(&res)).await;
        assert!(
            html.contains(&format!("Removed the legacy credential {email}.")),
            "{html}"
        );
    }
);
