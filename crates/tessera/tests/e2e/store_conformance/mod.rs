//! The store conformance suite: the contract of every storage trait in
//! `tessera_core::store` (single use, conditional updates, ordering, the change feed), proven
//! against `tessera_store::SqlStore` on SQLite and on PostgreSQL by calling the store API
//! directly, without a server. Each test runs once per backend over a fresh database; its
//! doc line states the contract it proves.
//!
//! The fixtures below build domain values by hand and insert them through the traits, so a
//! test depends on nothing but the store.

/// One contract, every backend: `conformance_test!(/// the contract… async fn name(s) { … })`
/// runs the body against SQLite and PostgreSQL, each over a fresh database. The doc line is
/// required: it says what the test proves.
macro_rules! conformance_test {
    ($(#[doc = $doc:expr])+ async fn $name:ident($s:ident) $body:block) => {
        $(#[doc = $doc])+
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn body($s: &$crate::store_conformance::StoreUnderTest) $body

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let s = $crate::store_conformance::StoreUnderTest::open(
                    $crate::support::Backend::Sqlite,
                )
                .await;
                body(&s).await;
                s.stop().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let s = $crate::store_conformance::StoreUnderTest::open(
                    $crate::support::Backend::Postgres,
                )
                .await;
                body(&s).await;
                s.stop().await;
            }
        }
    };
}

mod accounts;
mod audit;
mod authorization;
mod changes;
mod clients;
mod connections;
mod keys;
mod leases;
mod legacy;
mod legacy_console;
mod scopes;
mod single_use;

use std::ops::Deref;
use std::path::PathBuf;

use sqlx::Connection;
use tessera_core::audit::{Actor, AuditAction, AuditEvent, AuditQuery, Target};
use tessera_core::domain::{
    Account, AccountId, Client, ClientId, ClientKind, ClientStatus, GrantType, Kid, LegacyId,
    ScopeSet, SecretHash, StoredSecret, TokenSetId, User, UserId,
};
use tessera_core::legacy::{Email, LegacyCredential, LegacyState, PasswordHash};
use tessera_core::store::{
    AccountStore, AuthorizationCode, AuthorizationStore, Change, ChangeFeed, ChangeKind,
    ClientStore, LegacyStore, RefreshToken, TokenSet, UserStore,
};
use tessera_core::token::keys::{Algorithm, StoredSigningKey};
use tessera_store::SqlStore;

use crate::support::{random_suffix, Backend, TestDatabase};

/// An instant the fixtures start from (Unix seconds); tests pass time explicitly.
pub const T0: i64 = 1_800_000_000;

/// A store over a fresh database of one backend.
pub struct StoreUnderTest {
    pub store: SqlStore,
    pub backend: Backend,
    db: TestDatabase,
    dir: PathBuf,
}

impl Deref for StoreUnderTest {
    type Target = SqlStore;

    fn deref(&self) -> &SqlStore {
        &self.store
    }
}

impl StoreUnderTest {
    pub async fn open(backend: Backend) -> Self {
        let dir = std::env::temp_dir().join(format!("tessera-store-{}", random_suffix()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let db = TestDatabase::create(backend, &dir).await;
        let store = SqlStore::connect(&db.url).await.expect("store connects");
        Self {
            store,
            backend,
            db,
            dir,
        }
    }

    /// A second, independent store on the same database, as another process (a replica, the
    /// CLI) holds one: its own pool and, on SQLite, its own writer thread and write lock.
    pub async fn other_process(&self) -> SqlStore {
        SqlStore::connect(&self.db.url)
            .await
            .expect("second store connects")
    }

    /// Runs raw SQL on its own connection, beside the store: for breaking the schema on
    /// purpose (see `changes::a_mutation_whose_change_cannot_be_recorded_does_not_happen`).
    pub async fn raw_sql(&self, sql: &str) {
        let mut conn = self.raw_connection().await;
        sqlx::query(sql)
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        conn.close().await.expect("close");
    }

    /// A connection of its own to the store's database, beside the store.
    pub async fn raw_connection(&self) -> sqlx::AnyConnection {
        sqlx::AnyConnection::connect(&self.db.url)
            .await
            .expect("raw connection")
    }

    /// PostgreSQL only: waits (up to five seconds) until at least `n` of the database's
    /// backends wait for a lock; answers whether they came to.
    pub async fn wait_for_lock_waiters(&self, n: i64) -> bool {
        let mut watcher = self.raw_connection().await;
        for _ in 0..200 {
            let waiting: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_stat_activity \
                 WHERE datname = current_database() AND wait_event_type = 'Lock'",
            )
            .fetch_one(&mut watcher)
            .await
            .expect("pg_stat_activity");
            if waiting >= n {
                return true;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        false
    }

    pub async fn stop(mut self) {
        self.store.close().await;
        self.db.drop_now().await;
        let _ = std::fs::remove_dir_all(&self.dir);
    }

    // ----- fixtures -----

    pub async fn account(&self, at: i64) -> AccountId {
        let account = Account {
            id: AccountId::generate().expect("id"),
            name: "Acme".into(),
            external_id: None,
            created_at: at,
        };
        assert!(self.insert_account(&account).await.expect("account"));
        account.id
    }

    /// A credential client of `account` with one secret, inserted.
    pub async fn credential_client(&self, account: &AccountId, at: i64) -> Client {
        let client = new_client(ClientKind::Credential, Some(account), at);
        self.insert_clients(std::slice::from_ref(&client))
            .await
            .expect("client");
        client
    }

    /// An application (authorization code + refresh token grants), inserted.
    pub async fn application(&self, at: i64) -> Client {
        let client = new_client(ClientKind::Application, None, at);
        self.insert_clients(std::slice::from_ref(&client))
            .await
            .expect("application");
        client
    }

    /// An application, an account and a user of that account: who a code or token set is for.
    pub async fn parties(&self) -> (Client, UserId, AccountId) {
        let account = self.account(T0).await;
        let user = self.user(&[&account]).await;
        (self.application(T0).await, user, account)
    }

    pub async fn user(&self, accounts: &[&AccountId]) -> UserId {
        let id = UserId::generate().expect("id");
        let user = User {
            id: id.clone(),
            email: format!("{}@example.com", random_suffix()),
            name: None,
            email_verified: false,
            password_hash: "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaA".into(),
            accounts: accounts.iter().map(|a| (*a).clone()).collect(),
            operator: false,
            created_at: T0,
            disabled_at: None,
        };
        assert!(self.insert_user(&user).await.expect("user"));
        id
    }

    /// A code for `client`, issued at `at`, stored.
    pub async fn code(
        &self,
        client: &ClientId,
        user: &UserId,
        account: &AccountId,
        at: i64,
    ) -> AuthorizationCode {
        let code = AuthorizationCode {
            code_hash: SecretHash::of(random_suffix().as_bytes()),
            client_id: client.clone(),
            redirect_uri: "https://partner.example/cb".into(),
            redirect_uri_sent: true,
            user_id: user.clone(),
            account_id: account.clone(),
            scopes: scopes("books:read"),
            code_challenge: None,
            nonce: Some("n-0S6_WzA2Mj".into()),
            auth_time: Some(at - 5),
            token_set_id: TokenSetId::generate().expect("id"),
            created_at: at,
            expires_at: at + 60,
            // RFC 7638 §3.1's example thumbprint: the binding must come back as stored.
            dpop_jkt: Some("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs".into()),
        };
        self.insert_authorization_code(&code).await.expect("code");
        code
    }

    /// A live token set of the triple with its first refresh token, stored.
    pub async fn token_set(
        &self,
        client: &ClientId,
        user: &UserId,
        account: &AccountId,
        at: i64,
    ) -> (TokenSet, RefreshToken) {
        let set = TokenSet {
            id: TokenSetId::generate().expect("id"),
            client_id: client.clone(),
            user_id: user.clone(),
            account_id: account.clone(),
            scopes: scopes("books:read"),
            auth_time: Some(at - 5),
            dpop_jkt: None,
            created_at: at,
            revoked_at: None,
        };
        let first = refresh_token(&set.id, at);
        assert!(self.insert_token_set(&set, &first).await.expect("set"));
        (set, first)
    }

    pub async fn legacy(&self, account: &AccountId, email: &str, at: i64) -> LegacyCredential {
        let credential = LegacyCredential {
            id: LegacyId::generate().expect("id"),
            account_id: account.clone(),
            email: Email::parse(email).expect("email"),
            password_hash: Some(password_hash()),
            state: LegacyState::Active,
            migrated_client_id: None,
            created_at: at,
            updated_at: at,
            migrated_at: None,
            removed_at: None,
            last_used_at: None,
        };
        self.insert_legacy_credential(
            &credential,
            &audit(AuditAction::LegacyCreated, &credential.id, at),
        )
        .await
        .expect("legacy credential");
        credential
    }

    /// The changes recorded after `seq`, in feed order.
    pub async fn changes_after(&self, seq: i64) -> Vec<Change> {
        self.list_changes_after(seq, 1000).await.expect("changes")
    }

    /// The changes recorded after `seq`, as (kind, subject, created_at).
    pub async fn changed_after(&self, seq: i64) -> Vec<(ChangeKind, String, i64)> {
        self.changes_after(seq)
            .await
            .into_iter()
            .map(|c| (c.kind, c.subject, c.created_at))
            .collect()
    }

    pub async fn seq(&self) -> i64 {
        self.latest_change_seq().await.expect("latest seq")
    }
}

pub fn scopes(raw: &str) -> ScopeSet {
    ScopeSet::parse(raw).expect("scopes")
}

pub fn secret(seed: &str, at: i64, expires_at: Option<i64>) -> StoredSecret {
    StoredSecret {
        hash: SecretHash::of(seed.as_bytes()),
        created_at: at,
        expires_at,
    }
}

/// A client of `kind`, not stored, with one secret that never ends.
pub fn new_client(kind: ClientKind, account: Option<&AccountId>, at: i64) -> Client {
    let grant_types = match kind {
        ClientKind::Application => vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        _ => vec![GrantType::ClientCredentials],
    };
    Client {
        id: ClientId::generate().expect("id"),
        name: format!("client {}", random_suffix()),
        kind,
        account_id: account.cloned(),
        grant_types,
        scopes: scopes("books:read account:read"),
        redirect_uris: match kind {
            ClientKind::Application => vec!["https://partner.example/cb".into()],
            _ => Vec::new(),
        },
        status: ClientStatus::Active,
        public: false,
        approved: false,
        require_pkce: false,
        post_logout_redirect_uris: Vec::new(),
        require_par: false,
        jwks: None,
        dpop_bound: false,
        secrets: vec![secret(&random_suffix(), at, None)],
        created_at: at,
    }
}

/// A refresh token of `set`, not stored.
pub fn refresh_token(set: &TokenSetId, at: i64) -> RefreshToken {
    RefreshToken {
        token_hash: SecretHash::of(random_suffix().as_bytes()),
        token_set_id: set.clone(),
        created_at: at,
        used_at: None,
        access_jti: format!("at_{}", random_suffix()),
        access_expires_at: at + 3600,
    }
}

pub fn signing_key(created_at: i64, activates_at: i64) -> StoredSigningKey {
    StoredSigningKey {
        kid: Kid::generate().expect("kid"),
        alg: Algorithm::Es256,
        public_key: vec![4; 65],
        public_jwk: "{}".into(),
        private_key_sealed: vec![1, 2, 3],
        created_at,
        activates_at,
    }
}

pub fn password_hash() -> PasswordHash {
    PasswordHash::parse("$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA")
        .expect("PHC string")
}

pub fn audit(action: AuditAction, credential: &LegacyId, at: i64) -> AuditEvent {
    AuditEvent::new(
        at,
        &Actor::cli("test"),
        action,
        Target::new("legacy", credential.as_str()),
    )
    .credential(credential)
}

/// The newest `limit` events, only `credential`'s when given (what `tessera legacy audit`
/// asks for).
pub fn audit_query(credential: Option<&LegacyId>, limit: i64) -> AuditQuery {
    AuditQuery {
        target: credential.map(|c| format!("legacy:{c}")),
        limit,
        ..AuditQuery::default()
    }
}

/// Runs `n` calls of `call` at once, spread over `stores` (one per process), released
/// together by a barrier; returns their results, the `i`-th call's at index `i`.
pub async fn race<T, F, Fut>(stores: &[SqlStore], n: usize, call: F) -> Vec<T>
where
    F: Fn(usize, SqlStore) -> Fut,
    Fut: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(n));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let call = call(i, stores[i % stores.len()].clone());
        let barrier = barrier.clone();
        tasks.spawn(async move {
            barrier.wait().await;
            (i, call.await)
        });
    }
    // The tasks finish in any order; answer in the order of `i`.
    let mut done = tasks.join_all().await;
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, result)| result).collect()
}
