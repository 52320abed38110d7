//! A real third-party OAuth 2.0 client library (the `oauth2` crate) completes the flow:
//! authorization URL with PKCE, code exchange with HTTP Basic, refresh.

use oauth2::basic::BasicClient;
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, PkceCodeChallenge, RedirectUrl,
    Scope, TokenResponse, TokenUrl,
};

use crate::support::flow::{browser, param};

const CB: &str = "https://partner.example/callback";

store_test!(
    async fn the_oauth2_crate_completes_code_pkce_and_refresh(app: &TestApp) {
        let partner = app
            .application(Some(CB), false, Some("books:read books:write"))
            .await;
        let account = app.account("Acme").await;
        let user = app.user(&[&account]).await;
        let client = BasicClient::new(ClientId::new(partner.client_id.clone()))
            .set_client_secret(ClientSecret::new(partner.client_secret.clone().unwrap()))
            .set_auth_uri(AuthUrl::new(app.url("/oauth/authorize")).unwrap())
            .set_token_uri(TokenUrl::new(app.url("/oauth/token")).unwrap())
            .set_redirect_uri(RedirectUrl::new(CB.to_owned()).unwrap());
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, csrf) = client
            .authorize_url(CsrfToken::new_random)
            .add_scope(Scope::new("books:read".into()))
            .set_pkce_challenge(challenge)
            .url();
        let path = &url.as_str()[app.base.len()..];
        let to = app.authorize_path(&browser(), &user, path).await;
        assert_eq!(param(&to, "state").as_deref(), Some(csrf.secret().as_str()));
        let code = param(&to, "code").unwrap();

        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let token = client
            .exchange_code(AuthorizationCode::new(code))
            .set_pkce_verifier(verifier)
            .request_async(&http)
            .await
            .expect("code exchange through the oauth2 crate");
        let scopes: Vec<String> = token
            .scopes()
            .unwrap()
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(scopes, ["books:read"]);
        assert_eq!(
            app.get_bearer("/v1/books", token.access_token().secret())
                .await
                .status(),
            200
        );

        let refreshed = client
            .exchange_refresh_token(token.refresh_token().unwrap())
            .request_async(&http)
            .await
            .expect("refresh through the oauth2 crate");
        assert_ne!(
            refreshed.refresh_token().unwrap().secret(),
            token.refresh_token().unwrap().secret()
        );
        assert_eq!(
            app.get_bearer("/v1/books", refreshed.access_token().secret())
                .await
                .status(),
            200
        );
        // Within refresh_retry_window the same request is a retry and gets the same pair.
        let retry = client
            .exchange_refresh_token(token.refresh_token().unwrap())
            .request_async(&http)
            .await
            .expect("a retry within the window");
        assert_eq!(
            retry.refresh_token().unwrap().secret(),
            refreshed.refresh_token().unwrap().secret()
        );
        app.advance(10);
        let reuse = client
            .exchange_refresh_token(token.refresh_token().unwrap())
            .request_async(&http)
            .await;
        assert!(reuse.is_err(), "a rotated refresh token is refused");
    }
);
