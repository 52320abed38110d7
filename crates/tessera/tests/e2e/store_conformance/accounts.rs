//! Accounts, users, sessions and the sample API's books.

use tessera_core::domain::ExternalId;
use tessera_core::store::{AccountUpdate, Book, BookStore, Session, SessionStore};

use super::*;

/// An account not stored yet, with the external id `ext` if given.
fn account(name: &str, ext: Option<&str>, at: i64) -> Account {
    Account {
        id: AccountId::generate().unwrap(),
        name: name.into(),
        external_id: ext.map(|e| ExternalId::parse(e).unwrap()),
        created_at: at,
    }
}

fn ext(raw: &str) -> ExternalId {
    ExternalId::parse(raw).unwrap()
}

conformance_test!(
    /// Accounts read back as stored (with or without an external id) and list oldest
    /// first; an unknown id is `None`.
    async fn accounts_round_trip_and_list_oldest_first(s) {
        let late = account("Late", Some("cus 9"), T0 + 9);
        let early = account("Early", None, T0);
        assert!(s.insert_account(&late).await.unwrap());
        assert!(s.insert_account(&early).await.unwrap());
        assert_eq!(s.find_account(&late.id).await.unwrap(), Some(late.clone()));
        assert_eq!(s.find_account(&AccountId::generate().unwrap()).await.unwrap(), None);
        assert_eq!(s.list_accounts().await.unwrap(), [early, late]);
    }
);

conformance_test!(
    /// An external id belongs to at most one account: inserting a second account with it
    /// answers `false` and stores nothing. Accounts without one never conflict. Lookup by
    /// external id is exact (case matters) and records no change.
    async fn an_external_id_belongs_to_one_account(s) {
        let seq = s.seq().await;
        let first = account("First", Some("cus_1"), T0);
        assert!(s.insert_account(&first).await.unwrap());
        let twin = account("Twin", Some("cus_1"), T0);
        assert!(!s.insert_account(&twin).await.unwrap());
        assert_eq!(s.find_account(&twin.id).await.unwrap(), None);
        for _ in 0..2 {
            assert!(s.insert_account(&account("No ext", None, T0)).await.unwrap());
        }
        assert_eq!(s.find_account_by_external_id(&ext("cus_1")).await.unwrap(), Some(first));
        assert_eq!(s.find_account_by_external_id(&ext("CUS_1")).await.unwrap(), None);
        assert_eq!(s.find_account_by_external_id(&ext("cus_2")).await.unwrap(), None);
        assert_eq!(s.list_accounts().await.unwrap().len(), 3);
        assert_eq!(s.changed_after(seq).await, [], "new accounts record no change");
    }
);

conformance_test!(
    /// `update_account` replaces the name and external id (never `created_at`) and records
    /// an `Account` change; an unknown id is `NotFound` and a taken external id
    /// `ExternalIdTaken`, both changing and recording nothing. A removed external id is free
    /// for another account.
    async fn updating_an_account_records_its_change(s) {
        let acme = account("Acme", None, T0);
        let globex = account("Globex", Some("cus_2"), T0);
        assert!(s.insert_account(&acme).await.unwrap());
        assert!(s.insert_account(&globex).await.unwrap());
        let seq = s.seq().await;

        let renamed = Account {
            name: "Acme Inc".into(),
            external_id: Some(ext("cus_1")),
            created_at: T0 + 500,
            ..acme.clone()
        };
        assert_eq!(s.update_account(&renamed, T0 + 5).await.unwrap(), AccountUpdate::Updated);
        let stored = Account { created_at: T0, ..renamed.clone() };
        assert_eq!(s.find_account(&acme.id).await.unwrap(), Some(stored.clone()));
        assert_eq!(
            s.find_account_by_external_id(&ext("cus_1")).await.unwrap(),
            Some(stored.clone())
        );
        assert_eq!(
            s.changed_after(seq).await,
            [(ChangeKind::Account, acme.id.to_string(), T0 + 5)]
        );

        let seq = s.seq().await;
        let unknown = account("Nobody", None, T0);
        assert_eq!(s.update_account(&unknown, T0 + 6).await.unwrap(), AccountUpdate::NotFound);
        let grab = Account { external_id: Some(ext("cus_2")), ..stored.clone() };
        assert_eq!(
            s.update_account(&grab, T0 + 6).await.unwrap(),
            AccountUpdate::ExternalIdTaken
        );
        assert_eq!(s.find_account(&acme.id).await.unwrap(), Some(stored.clone()));
        assert_eq!(s.changed_after(seq).await, [], "refusals record nothing");

        let released = Account { external_id: None, ..globex.clone() };
        assert_eq!(s.update_account(&released, T0 + 7).await.unwrap(), AccountUpdate::Updated);
        assert_eq!(s.update_account(&grab, T0 + 8).await.unwrap(), AccountUpdate::Updated);
        assert_eq!(
            s.find_account_by_external_id(&ext("cus_2")).await.unwrap().map(|a| a.id),
            Some(acme.id)
        );
    }
);

conformance_test!(
    /// `import_accounts` writes every new and updated account in one transaction, recording
    /// an `Account` change for each updated one only; when one new account's external id is
    /// taken, or one updated account does not exist, it answers `false` and nothing of the
    /// call is kept.
    async fn importing_accounts_is_all_or_nothing(s) {
        let old = account("Old name", Some("cus_1"), T0);
        assert!(s.insert_account(&old).await.unwrap());
        let seq = s.seq().await;
        let new = [account("Two", Some("cus_2"), T0 + 1), account("Three", Some("cus_3"), T0 + 2)];
        let renamed = Account { name: "New name".into(), ..old.clone() };
        assert!(s.import_accounts(&new, std::slice::from_ref(&renamed), T0 + 1).await.unwrap());
        assert_eq!(s.list_accounts().await.unwrap(), [renamed.clone(), new[0].clone(), new[1].clone()]);
        assert_eq!(
            s.changed_after(seq).await,
            [(ChangeKind::Account, old.id.to_string(), T0 + 1)]
        );

        let seq = s.seq().await;
        let clash = [account("Four", Some("cus_4"), T0 + 2), account("Again", Some("cus_2"), T0 + 2)];
        let rename = Account { name: "Renamed again".into(), ..renamed.clone() };
        assert!(!s.import_accounts(&clash, std::slice::from_ref(&rename), T0 + 2).await.unwrap());
        let ghost = account("Ghost", None, T0);
        let fresh = [account("Five", Some("cus_5"), T0 + 2)];
        assert!(!s.import_accounts(&fresh, &[rename, ghost], T0 + 2).await.unwrap());
        assert_eq!(s.list_accounts().await.unwrap().len(), 3, "nothing kept");
        assert_eq!(s.find_account_by_external_id(&ext("cus_4")).await.unwrap(), None);
        assert_eq!(s.find_account(&old.id).await.unwrap(), Some(renamed));
        assert_eq!(s.changed_after(seq).await, []);
    }
);

conformance_test!(
    /// The batched lookups find those of many ids, or many external ids, that exist (more
    /// than one statement holds), and none of those that do not.
    async fn accounts_are_found_in_bulk(s) {
        let mut ids = Vec::new();
        let mut externals = Vec::new();
        let mut existing = Vec::new();
        for i in 0..300 {
            let mut one = account(&format!("Acme {i}"), Some(&format!("cus_{i}")), T0 + i);
            if i % 3 == 0 {
                if i % 2 == 0 {
                    one.external_id = None;
                }
                assert!(s.insert_account(&one).await.unwrap());
                existing.push(one.clone());
            }
            ids.push(one.id.clone());
            externals.push(ext(&format!("cus_{i}")));
        }
        let mut found = s.find_accounts(&ids).await.unwrap();
        found.sort_by_key(|a| a.created_at);
        assert_eq!(found, existing);
        let mut found = s.find_accounts_by_external_ids(&externals).await.unwrap();
        found.sort_by_key(|a| a.created_at);
        let with_external: Vec<Account> =
            existing.iter().filter(|a| a.external_id.is_some()).cloned().collect();
        assert_eq!(found, with_external);
        assert_eq!(s.find_accounts(&[]).await.unwrap(), []);
        assert_eq!(s.find_accounts_by_external_ids(&[]).await.unwrap(), []);
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
            name: Some("Ada Lovelace".into()),
            email_verified: true,
            password_hash: "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaA".into(),
            accounts,
            operator: true,
            created_at: T0,
            disabled_at: None,
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
