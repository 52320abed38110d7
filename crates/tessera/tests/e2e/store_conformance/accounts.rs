//! Accounts, users, sessions, the sample API's books and the scope catalog.

use tessera_core::store::{Book, BookStore, ScopeEntry, ScopeStore, Session, SessionStore};

use super::*;

conformance_test!(
    /// Accounts read back as stored and list oldest first; an unknown id is `None`.
    async fn accounts_round_trip_and_list_oldest_first(s) {
        let late = Account { id: AccountId::generate().unwrap(), name: "Late".into(), created_at: T0 + 9 };
        let early = Account { id: AccountId::generate().unwrap(), name: "Early".into(), created_at: T0 };
        s.insert_account(&late).await.unwrap();
        s.insert_account(&early).await.unwrap();
        assert_eq!(s.find_account(&late.id).await.unwrap(), Some(late.clone()));
        assert_eq!(s.find_account(&AccountId::generate().unwrap()).await.unwrap(), None);
        assert_eq!(s.list_accounts().await.unwrap(), [early, late]);
    }
);

conformance_test!(
    /// A user is inserted with its account memberships and found by id and by email; a
    /// second user with a taken email answers `false` and stores nothing.
    async fn user_email_is_unique(s) {
        let acme = s.account(T0).await;
        let globex = s.account(T0).await;
        let mut accounts = vec![acme.clone(), globex.clone()];
        accounts.sort();
        let user = User {
            id: UserId::generate().unwrap(),
            email: "ada@example.com".into(),
            password_hash: "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaA".into(),
            accounts,
            operator: true,
            created_at: T0,
        };
        assert!(s.insert_user(&user).await.unwrap());
        assert_eq!(s.find_user(&user.id).await.unwrap(), Some(user.clone()));
        assert_eq!(s.find_user_by_email("ada@example.com").await.unwrap(), Some(user.clone()));
        let twin = User { id: UserId::generate().unwrap(), accounts: vec![acme], ..user.clone() };
        assert!(!s.insert_user(&twin).await.unwrap());
        assert_eq!(s.find_user(&twin.id).await.unwrap(), None);
        assert_eq!(s.find_user_by_email("ada@example.com").await.unwrap(), Some(user));
    }
);

conformance_test!(
    /// A session is found by its id's hash until deleted; touching it moves only its
    /// last-seen time.
    async fn sessions_are_found_touched_and_deleted(s) {
        let account = s.account(T0).await;
        let user = s.user(&[&account]).await;
        let session = Session {
            id_hash: SecretHash::of(b"session"),
            user_id: user,
            created_at: T0,
            last_seen_at: T0,
        };
        s.insert_session(&session).await.unwrap();
        assert_eq!(s.find_session(&session.id_hash).await.unwrap(), Some(session.clone()));
        s.touch_session(&session.id_hash, T0 + 30).await.unwrap();
        let touched = Session { last_seen_at: T0 + 30, ..session.clone() };
        assert_eq!(s.find_session(&session.id_hash).await.unwrap(), Some(touched));
        s.delete_session(&session.id_hash).await.unwrap();
        assert_eq!(s.find_session(&session.id_hash).await.unwrap(), None);
        assert_eq!(s.find_session(&SecretHash::of(b"other")).await.unwrap(), None);
    }
);

conformance_test!(
    /// Pruning deletes the sessions last seen at or before one instant or created at or
    /// before another (idle or past their absolute lifetime), and keeps every other.
    async fn pruning_sessions_deletes_only_idle_and_too_old_ones(s) {
        let account = s.account(T0).await;
        let user = s.user(&[&account]).await;
        let session = |tag: &str, created_at, last_seen_at| Session {
            id_hash: SecretHash::of(tag.as_bytes()),
            user_id: user.clone(),
            created_at,
            last_seen_at,
        };
        for one in [
            session("idle", T0, T0 + 10),
            session("too old", T0 - 100, T0 + 50),
            session("live", T0 - 99, T0 + 11),
        ] {
            s.insert_session(&one).await.unwrap();
        }
        s.prune_sessions(T0 + 10, T0 - 100).await.unwrap();
        for (tag, kept) in [("idle", false), ("too old", false), ("live", true)] {
            let found = s.find_session(&SecretHash::of(tag.as_bytes())).await.unwrap();
            assert_eq!(found.is_some(), kept, "{tag}");
        }
    }
);

conformance_test!(
    /// A book is found only through the account that owns it; an account's books list
    /// oldest first.
    async fn books_belong_to_their_account(s) {
        let owner = s.account(T0).await;
        let stranger = s.account(T0).await;
        let book = |id: &str, at| Book {
            id: id.into(),
            account_id: owner.clone(),
            name: format!("Book {id}"),
            documents: "[]".into(),
            created_at: at,
        };
        let (second, first) = (book("bk_2", T0 + 5), book("bk_1", T0 + 1));
        s.insert_book(&second).await.unwrap();
        s.insert_book(&first).await.unwrap();
        assert_eq!(s.find_book(&owner, "bk_2").await.unwrap(), Some(second.clone()));
        assert_eq!(s.find_book(&stranger, "bk_2").await.unwrap(), None);
        assert_eq!(s.list_books(&owner).await.unwrap(), [first, second]);
        assert_eq!(s.list_books(&stranger).await.unwrap(), []);
    }
);

conformance_test!(
    /// `upsert_scope` adds a new catalog entry or replaces an existing entry's description;
    /// the catalog lists by name.
    async fn scope_upsert_adds_or_replaces(s) {
        let entry = |name: &str, description: &str| ScopeEntry {
            name: name.into(),
            description: description.into(),
        };
        s.upsert_scope(&entry("archive:read", "Read your archive")).await.unwrap();
        s.upsert_scope(&entry("books:read", "Read books")).await.unwrap();
        let catalog = s.list_scopes().await.unwrap();
        let names: Vec<&str> = catalog.iter().map(|e| e.name.as_str()).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
        assert!(catalog.contains(&entry("archive:read", "Read your archive")));
        assert!(catalog.contains(&entry("books:read", "Read books")));
        assert_eq!(catalog.iter().filter(|e| e.name == "books:read").count(), 1);
    }
);
