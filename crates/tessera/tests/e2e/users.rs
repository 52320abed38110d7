//! Users from the CLI: `user list`; `user set-password`, which ends the user's browser
//! sessions; `user disable` and `user enable`, also from the Settings Center's Users page.
//! All audited.

use std::time::Duration;

use crate::audit::actions;
use crate::support::eventually;
use crate::support::flow::browser;

const NEW_PASSWORD: &str = "a brand new passphrase";

store_test!(
    async fn user_list_shows_every_user_without_their_password(app: &TestApp) {
        let account = app.account("Acme").await;
        let first = app.user(&[&account]).await;
        let second = app.user(&[]).await;
        let list = app.cli_json(&["user", "list"]);
        let listed = list.as_array().unwrap();
        let of = |email: &str| {
            listed
                .iter()
                .find(|u| u["email"] == email)
                .unwrap_or_else(|| panic!("{email} in {list}"))
                .clone()
        };
        assert_eq!(of(&first.email)["user_id"], first.user_id.as_str());
        assert_eq!(of(&first.email)["accounts"], serde_json::json!([account]));
        assert_eq!(of(&second.email)["accounts"], serde_json::json!([]));
        assert_eq!(of(&second.email)["operator"], false);
        assert!(
            !list.to_string().contains("argon2"),
            "no hash shown: {list}"
        );
        let text = app.cli(&["user", "list"]).unwrap();
        assert!(
            text.contains(&first.email) && text.contains(&account),
            "{text}"
        );
    }
);

store_test!(
    async fn set_password_replaces_it_and_ends_the_users_sessions(app: &TestApp) {
        let account = app.account("Acme").await;
        let user = app.user(&[&account]).await;
        let other = app.user(&[&account]).await;
        let b = app.signed_in_to(&user, "/settings/credentials").await;
        let bystander = app.signed_in_to(&other, "/settings/credentials").await;
        let page = |b: reqwest::Client| async move {
            let res = b
                .get(app.url("/settings/credentials"))
                .send()
                .await
                .unwrap();
            let to = res
                .headers()
                .get("location")
                .map(|v| v.to_str().unwrap().to_owned());
            (res.status().as_u16(), to.unwrap_or_default())
        };
        assert_eq!(page(b.clone()).await.0, 200);

        // A weak password and an unknown user change nothing.
        let (code, err) = app
            .cli_with_stdin(
                &["user", "set-password", &user.email, "--password-stdin"],
                "short\n",
            )
            .unwrap_err();
        assert_ne!(code, 0);
        assert!(err.contains("at least 10 characters"), "{err}");
        let (_, err) = app
            .cli_with_stdin(
                &[
                    "user",
                    "set-password",
                    "nobody@example.com",
                    "--password-stdin",
                ],
                &format!("{NEW_PASSWORD}\n"),
            )
            .unwrap_err();
        assert!(err.contains("no user with email"), "{err}");
        assert_eq!(page(b.clone()).await.0, 200, "still signed in");

        let out = app
            .cli_with_stdin(
                &[
                    "user",
                    "set-password",
                    &user.email,
                    "--password-stdin",
                    "--json",
                ],
                &format!("{NEW_PASSWORD}\n"),
            )
            .unwrap();
        let out: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(out["user_id"], user.user_id.as_str());
        assert_eq!(out["sessions_ended"], true);

        // Their session is gone; another user's is not.
        let (status, to) = page(b).await;
        assert_eq!(status, 303);
        assert!(to.starts_with("/signin"), "{to}");
        assert_eq!(page(bystander).await.0, 200);

        // The old password no longer signs in; the new one does.
        let refused = app
            .sign_in_for(&browser(), &user, "/settings/credentials")
            .await;
        assert_eq!(refused.status(), 401);
        assert!(refused
            .text()
            .await
            .unwrap()
            .contains("The email or password is wrong."));
        let renewed = crate::support::flow::TestUser {
            email: user.email.clone(),
            password: NEW_PASSWORD.to_owned(),
            user_id: user.user_id.clone(),
            accounts: user.accounts.clone(),
        };
        app.signed_in_to(&renewed, "/settings/credentials").await;

        let audit = app.cli_json(&["audit", "--target", &user.user_id]);
        let all = actions(&audit);
        assert!(
            all.iter().any(|(a, t, o)| a == "user.password_set"
                && *t == format!("user:{}", user.user_id)
                && o == "ok"),
            "{all:?}"
        );
    }
);

const CALLBACK: &str = "https://rp.example/callback";

store_test!(
    async fn a_disabled_user_loses_sessions_tokens_codes_and_sign_in_until_enabled(app: &TestApp) {
        let rp = app.application(Some(CALLBACK), false, None).await;
        let (code, user) = app.code_for(&rp, &[]).await;
        let (status, tokens) = app.exchange(&rp, &code).await;
        assert_eq!(status, 200, "{tokens}");
        let access = tokens["access_token"].as_str().unwrap().to_owned();
        let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
        // A second code of the same user, not exchanged yet.
        let to = app
            .authorize_with(
                &browser(),
                &user,
                &[
                    ("response_type", "code"),
                    ("client_id", &rp.client_id),
                    ("redirect_uri", CALLBACK),
                    ("state", "s"),
                ],
            )
            .await;
        let pending = crate::support::flow::param(&to, "code").unwrap();
        let b = app.signed_in_to(&user, "/settings/credentials").await;
        assert_eq!(app.get_bearer("/v1/account", &access).await.status(), 200);

        let out = app.cli_json(&["user", "disable", &user.email]);
        assert_eq!(out["user_id"], user.user_id.as_str());
        assert!(out["disabled_at"].is_i64(), "{out}");
        assert_eq!(out["revoked_token_sets"], 1);

        let res = b
            .get(app.url("/settings/credentials"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303, "the session has ended");
        let (status, body) = app.refresh(&rp, &refresh).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant"))
        );
        let (status, body) = app.exchange(&rp, &pending).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant"))
        );
        let refused = eventually(Duration::from_secs(1), || async {
            app.get_bearer("/v1/account", &access).await.status() == 401
        })
        .await;
        assert!(
            refused.is_some(),
            "the access token dies on the running server"
        );

        // The right password is told the user is disabled; a wrong one learns nothing.
        let res = app
            .sign_in_for(&browser(), &user, "/settings/credentials")
            .await;
        assert_eq!(res.status(), 403);
        assert!(res.text().await.unwrap().contains("This user is disabled"));
        let listed = app.cli_json(&["user", "list"]);
        let me = listed
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["email"] == user.email.as_str())
            .unwrap()
            .clone();
        assert!(me["disabled_at"].is_i64(), "{me}");

        // By id as well as by email.
        let out = app.cli_json(&["user", "enable", &user.user_id]);
        assert!(out["disabled_at"].is_null(), "{out}");
        app.signed_in_to(&user, "/settings/credentials").await;
        let (status, _) = app.refresh(&rp, &refresh).await;
        assert_eq!(status, 400, "revoked tokens stay revoked");

        let audit = actions(&app.cli_json(&["audit", "--target", &user.user_id]));
        for action in ["user.disabled", "user.enabled"] {
            assert!(
                audit.iter().any(|(a, _, o)| a == action && o == "ok"),
                "{action} in {audit:?}"
            );
        }
        let (_, err) = app
            .cli(&["user", "disable", "nobody@example.com"])
            .unwrap_err();
        assert!(err.contains("no user with email"), "{err}");
        let (_, err) = app.cli(&["user", "disable", "usr_nobody"]).unwrap_err();
        assert!(err.contains("no user usr_nobody"), "{err}");
    }
);

store_test!(
    async fn an_operator_disables_and_enables_a_user_in_the_settings_center(app: &TestApp) {
        use crate::support::flow::{field, form_body, location};

        let rp = app.application(Some(CALLBACK), false, None).await;
        let (code, user) = app.code_for(&rp, &[]).await;
        let (_, tokens) = app.exchange(&rp, &code).await;
        let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
        let op = app.operator().await;
        let b = app.signed_in_to(&op, "/settings/operator/users").await;
        let get = |path: String| {
            let b = b.clone();
            async move {
                let res = b.get(app.url(&path)).send().await.unwrap();
                (res.status().as_u16(), res.text().await.unwrap())
            }
        };
        let post = |html: String| {
            let b = b.clone();
            async move {
                let body = form_body(&[
                    ("csrf", &field(&html, "csrf").unwrap()),
                    ("user_id", &field(&html, "user_id").unwrap()),
                    ("disabled", &field(&html, "disabled").unwrap()),
                ]);
                b.post(app.url("/settings/operator/user-access"))
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(body)
                    .send()
                    .await
                    .unwrap()
            }
        };
        let access = |id: &str, disabled: bool| {
            format!("/settings/operator/user-access?user_id={id}&disabled={disabled}")
        };

        let (status, users) = get("/settings/operator/users".into()).await;
        assert_eq!(status, 200);
        assert!(
            users.contains(&user.email) && users.contains("(you)"),
            "{users}"
        );
        let link = |id: &str, d: bool| {
            format!("/settings/operator/user-access?user_id={id}&amp;disabled={d}")
        };
        assert!(users.contains(&link(&user.user_id, true)), "{users}");
        assert!(
            !users.contains(&link(&op.user_id, true)),
            "no way to disable yourself"
        );

        let (status, ask) = get(access(&user.user_id, true)).await;
        assert_eq!(status, 200);
        assert!(ask.contains(&format!("Disable {}?", user.email)), "{ask}");
        let res = post(ask).await;
        assert_eq!(location(&res), "/settings/operator/users");
        let (_, users) = get("/settings/operator/users".into()).await;
        let told = format!(
            "{} is disabled: signed out, and 1 token set revoked.",
            user.email
        );
        assert!(users.contains(&told), "{users}");
        assert!(users.contains("disabled since"), "{users}");
        assert_eq!(app.refresh(&rp, &refresh).await.1["error"], "invalid_grant");
        let res = app
            .sign_in_for(&browser(), &user, "/settings/credentials")
            .await;
        assert_eq!(res.status(), 403);

        // Not yourself, neither from the page nor by a hand-made form.
        let (status, _) = get(access(&op.user_id, true)).await;
        assert_eq!(status, 409);
        let (_, ask) = get(access(&user.user_id, false)).await;
        for me in [&op.user_id, &op.email] {
            let forged = ask
                .replace(&user.user_id, me)
                .replace("value=\"false\"", "value=\"true\"");
            assert_eq!(post(forged).await.status(), 409, "by {me}");
        }
        assert_eq!(get(access("usr_nobody", true)).await.0, 404);

        assert!(ask.contains(&format!("Enable {}?", user.email)), "{ask}");
        assert_eq!(location(&post(ask).await), "/settings/operator/users");
        let (_, users) = get("/settings/operator/users".into()).await;
        assert!(
            users.contains(&format!("{} can sign in again.", user.email)),
            "{users}"
        );
        let customer = app.signed_in_to(&user, "/settings/credentials").await;
        let res = customer
            .get(app.url("/settings/operator/users"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403, "operators only");

        let audit = app.cli_json(&["audit", "--target", &user.user_id]);
        for action in ["user.disabled", "user.enabled"] {
            let by_op = audit.as_array().unwrap().iter().any(|e| {
                e["action"] == action
                    && e["outcome"] == "ok"
                    && e["actor"].as_str().unwrap_or("").contains(&op.user_id)
            });
            assert!(by_op, "{action} by the operator in {audit}");
        }
    }
);
