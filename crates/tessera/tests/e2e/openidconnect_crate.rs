//! The Rust `openidconnect` crate, unmodified, signs a user in through Tessera (issue 18):
//! discovery (with the JWKS), the code flow with PKCE and a nonce, ID token verification
//! (signature, issuer, audience, expiry, nonce) and its `at_hash`, UserInfo, and a refresh
//! whose ID token verifies too.

use openidconnect::core::{
    CoreClient, CoreGenderClaim, CoreIdTokenVerifier, CoreProviderMetadata, CoreResponseType,
    CoreUserInfoClaims,
};
use openidconnect::{
    AccessTokenHash, AuthenticationFlow, AuthorizationCode, ClientId, ClientSecret, CsrfToken,
    EmptyAdditionalClaims, IdTokenClaims, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge,
    RedirectUrl, Scope, TokenResponse,
};

use crate::support::flow::{browser, param};

const CB: &str = "https://rp.example/callback";

fn own_issuer(config: &mut tessera::config::Config) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    config.listen = format!("127.0.0.1:{port}");
    config.issuer = Some(format!("http://127.0.0.1:{port}"));
}

store_test!(
    async fn the_openidconnect_crate_signs_a_user_in(app: &TestApp) with |c| { own_issuer(c); } {
        let partner = app.application(Some(CB), false, Some("books:read")).await;
        let account = app.account("Acme").await;
        let user = app
            .user_named(&[&account], Some("Ada Lovelace"), true)
            .await;
        let issuer = app.config.issuer.clone().unwrap();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let metadata = CoreProviderMetadata::discover_async(IssuerUrl::new(issuer.clone()).unwrap(), &http)
            .await
            .expect("discovery through the openidconnect crate");
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(partner.client_id.clone()),
            Some(ClientSecret::new(partner.client_secret.clone().unwrap())),
        )
        .set_redirect_uri(RedirectUrl::new(CB.to_owned()).unwrap());
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, csrf, nonce) = client
            .authorize_url(
                AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("profile".into()))
            .add_scope(Scope::new("email".into()))
            .add_scope(Scope::new("books:read".into()))
            .set_pkce_challenge(challenge)
            .url();
        let path = &url.as_str()[issuer.len()..];
        let to = app.authorize_path(&browser(), &user, path).await;
        assert_eq!(param(&to, "state").as_deref(), Some(csrf.secret().as_str()));
        let code = param(&to, "code").unwrap();
        let tokens = client
            .exchange_code(AuthorizationCode::new(code))
            .unwrap()
            .set_pkce_verifier(verifier)
            .request_async(&http)
            .await
            .expect("code exchange through the openidconnect crate");
        let id_token = tokens.id_token().expect("an ID token");
        let id_verifier: CoreIdTokenVerifier = client.id_token_verifier();
        let claims: &IdTokenClaims<EmptyAdditionalClaims, CoreGenderClaim> =
            id_token.claims(&id_verifier, &nonce).expect("the ID token verifies");
        assert_eq!(claims.subject().as_str(), user.user_id);
        assert_eq!(claims.issuer().as_str(), issuer);
        assert_eq!(claims.email().map(|e| e.as_str()), Some(user.email.as_str()));
        assert_eq!(claims.email_verified(), Some(true));
        let signing_alg = id_token.signing_alg().unwrap();
        let key = id_token.signing_key(&id_verifier).unwrap();
        let expected = AccessTokenHash::from_token(tokens.access_token(), signing_alg, key).unwrap();
        assert_eq!(claims.access_token_hash(), Some(&expected), "at_hash");

        let info: CoreUserInfoClaims = client
            .user_info(tokens.access_token().clone(), None)
            .unwrap()
            .request_async(&http)
            .await
            .expect("UserInfo through the openidconnect crate");
        assert_eq!(info.subject().as_str(), user.user_id);
        let name = info.name().and_then(|n| n.get(None)).map(|n| n.as_str().to_owned());
        assert_eq!(name.as_deref(), Some("Ada Lovelace"));

        let refreshed = client
            .exchange_refresh_token(tokens.refresh_token().unwrap())
            .unwrap()
            .request_async(&http)
            .await
            .expect("refresh through the openidconnect crate");
        let again = refreshed.id_token().expect("a refresh returns an ID token");
        // A refresh's ID token carries no nonce (Core §12.2): verify without one.
        let again = again
            .claims(&id_verifier, |_: Option<&Nonce>| Ok(()))
            .expect("the refreshed ID token verifies");
        assert_eq!(again.auth_time(), claims.auth_time());
    }
);
