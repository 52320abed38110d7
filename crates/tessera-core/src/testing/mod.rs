//! Support for core's unit tests: an in-memory store, and a world of clients, users and
//! policies to run grants, endpoints and consent rules in, with no server and no clock.

pub mod memory_store;

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use crate::domain::{
    AccountId, Client, ClientId, ClientKind, ClientStatus, GrantType, ScopeSet, SecretHash,
    StoredSecret, TokenSetId, User, UserId,
};
use crate::legacy::cache::VerificationCache;
use crate::oauth::client_auth::ClientRequest;
use crate::oauth::refresh_token::RefreshPolicy;
use crate::oauth::request::Form;
use crate::oauth::token::EndpointContext;
use crate::oauth::token_set::new_refresh_token;
use crate::runtime::Caches;
use crate::store::{AuthorizationStore, ClientStore, TokenSet};
use crate::token::issue::TokenPolicy;
use crate::token::keys::{self, Algorithm, Keyring};
use crate::token::master_key::MasterKey;
use crate::UnixSeconds;
pub use memory_store::MemoryStore;

/// The instant every test starts at.
pub const NOW: UnixSeconds = 1_700_000_000;
/// Every confidential test client's secret.
pub const SECRET: &str = "correct-secret";
pub const HTTPS_CB: &str = "https://partner.example/cb";

pub fn scopes(raw: &str) -> ScopeSet {
    ScopeSet::parse(raw).unwrap()
}

pub fn account(raw: &str) -> AccountId {
    AccountId::parse(raw).unwrap()
}

pub fn form(body: &str) -> Form {
    Form::parse(body.as_bytes()).unwrap()
}

/// A store, caches with one signing key, and the policies of a default server.
pub struct World {
    pub store: MemoryStore,
    pub caches: Caches,
    pub tokens: TokenPolicy,
    pub refresh: RefreshPolicy,
    pub master: MasterKey,
}

impl World {
    pub fn new() -> Self {
        Self::with_refresh(RefreshPolicy::default())
    }

    pub fn with_refresh(refresh: RefreshPolicy) -> Self {
        let master = MasterKey::from_base64(&MasterKey::generate_base64().unwrap()).unwrap();
        let key = keys::generate(Algorithm::Es256, &master, 0, 0).unwrap();
        let keyring = Keyring::from_stored(&[key], &master, 3600).unwrap();
        Self {
            store: MemoryStore::default(),
            caches: Caches::new(keyring, 16, VerificationCache::new([0; 32], 16, 1000)),
            tokens: TokenPolicy {
                issuer: "http://tessera.test".into(),
                audience: "http://tessera.test".into(),
                client_credentials_ttl: 3600,
                user_token_ttl: 600,
            },
            refresh,
            master,
        }
    }

    pub fn endpoint(&self) -> EndpointContext<'_> {
        EndpointContext {
            store: &self.store,
            caches: &self.caches,
            master: &self.master,
            tokens: &self.tokens,
            refresh: &self.refresh,
            dpop: &crate::oauth::dpop::DpopPolicy {
                max_age: 60,
                require_nonce: false,
            },
            passage: None,
        }
    }

    pub async fn add(&self, client: Client) -> Arc<Client> {
        self.store
            .insert_clients(std::slice::from_ref(&client))
            .await
            .unwrap();
        Arc::new(client)
    }

    /// A live token set of `client` for `user` on `account`, with its first refresh token;
    /// answers the set and the refresh token.
    pub async fn token_set(
        &self,
        client: &Client,
        user: &User,
        created_at: UnixSeconds,
    ) -> (TokenSet, String) {
        let set = TokenSet {
            id: TokenSetId::generate().unwrap(),
            client_id: client.id.clone(),
            user_id: user.id.clone(),
            account_id: user.accounts[0].clone(),
            scopes: client.scopes.clone(),
            auth_time: None,
            dpop_jkt: None,
            created_at,
            revoked_at: None,
        };
        let (token, first) =
            new_refresh_token(&set.id, "jti-first", created_at + 600, created_at).unwrap();
        assert!(self.store.insert_token_set(&set, &first).await.unwrap());
        (set, token)
    }
}

/// A confidential client of account `acct_a` for the client credentials grant.
pub fn credential_client(scope: &str) -> Client {
    Client {
        kind: ClientKind::Credential,
        account_id: Some(account("acct_a")),
        grant_types: vec![GrantType::ClientCredentials],
        ..application(false, true, None)
    }
    .with_scopes(scope)
}

/// An application (authorization code and refresh token grants) redirecting to
/// [`HTTPS_CB`]; `owner` is the account that registered it.
pub fn application(public: bool, approved: bool, owner: Option<&str>) -> Client {
    Client {
        id: ClientId::generate().unwrap(),
        name: "Partner".into(),
        kind: ClientKind::Application,
        account_id: owner.map(account),
        grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        scopes: scopes("books:read books:write"),
        redirect_uris: vec![HTTPS_CB.into()],
        status: ClientStatus::Active,
        public,
        approved,
        require_pkce: false,
        post_logout_redirect_uris: Vec::new(),
        require_par: false,
        jwks: None,
        dpop_bound: false,
        secrets: if public {
            Vec::new()
        } else {
            vec![StoredSecret {
                hash: SecretHash::of(SECRET.as_bytes()),
                created_at: 0,
                expires_at: None,
            }]
        },
        created_at: 0,
    }
}

impl Client {
    fn with_scopes(mut self, raw: &str) -> Self {
        self.scopes = scopes(raw);
        self
    }
}

pub fn user(accounts: &[&str]) -> User {
    User {
        id: UserId::generate().unwrap(),
        email: "user@example.com".into(),
        name: None,
        email_verified: false,
        password_hash: String::new(),
        accounts: accounts.iter().map(|a| account(a)).collect(),
        operator: false,
        created_at: 0,
        disabled_at: None,
    }
}

/// A request body authenticating `client` with `client_secret_post` (or `none` when
/// public), followed by `rest`.
pub fn authenticated(client: &Client, rest: &str) -> Form {
    let mut body = format!("client_id={}", client.id);
    if !client.public {
        body.push_str(&format!("&client_secret={SECRET}"));
    }
    if !rest.is_empty() {
        body.push('&');
        body.push_str(rest);
    }
    form(&body)
}

/// A request with no `Authorization` header.
pub fn request(form: &Form) -> ClientRequest<'_> {
    ClientRequest {
        authorization: None,
        form,
        dpop: None,
    }
}

/// A validated authorization request of `client` for `scope`, delivered to `redirect`
/// (`None`: Tessera's code page), with an optional PKCE challenge.
pub fn authorization_request(
    client: &Client,
    redirect: Option<&str>,
    scope: &str,
    code_challenge: Option<&str>,
) -> crate::oauth::authorize::AuthorizationRequest {
    use crate::oauth::authorize::{AuthorizationRequest, Delivery};
    AuthorizationRequest {
        client_id: client.id.clone(),
        delivery: match redirect {
            Some(uri) => Delivery::Redirect(uri.to_owned()),
            None => Delivery::CodePage,
        },
        redirect_uri_sent: redirect.is_some(),
        scope: scopes(scope),
        state: None,
        code_challenge: code_challenge.map(str::to_owned),
        login_hint: None,
        nonce: None,
        prompt: Default::default(),
        max_age: None,
        signed_in_after: None,
        pushed: None,
        dpop_jkt: None,
        hinted_user: None,
    }
}

/// Runs a future over fakes that never wait: polling once finishes it (a test with a real
/// wait in it fails here instead of hanging).
pub fn block_on<T>(f: impl Future<Output = T>) -> T {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("a fake future waited"),
    }
}
