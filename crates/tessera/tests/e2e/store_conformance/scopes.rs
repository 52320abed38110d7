//! The scope catalog: its entries, the changes they record, and who uses a scope.

use tessera_core::manage::scopes::SAMPLE_SCOPES;
use tessera_core::store::{Consent, ScopeEntry, ScopeStore};

use super::*;

fn entry(name: &str, description: &str) -> ScopeEntry {
    ScopeEntry {
        name: name.into(),
        description: description.into(),
    }
}

conformance_test!(
    /// A fresh store's catalog is exactly the sample scopes the core knows as samples.
    async fn a_fresh_store_holds_the_sample_scopes(s) {
        let expected: Vec<ScopeEntry> =
            SAMPLE_SCOPES.iter().map(|(n, d)| entry(n, d)).collect();
        assert_eq!(s.list_scopes().await.unwrap(), expected);
    }
);

conformance_test!(
    /// `insert_scope` adds a new name only; `update_scope` replaces an existing entry's
    /// description only; `delete_scope` deletes an existing entry only. Each records one
    /// `Scope` change naming the scope when it changed something, and none otherwise; the
    /// catalog lists by name.
    async fn scope_entries_change_once_and_record_it(s) {
        let seq = s.seq().await;
        assert!(s.insert_scope(&entry("archive:read", "Read your archive"), T0).await.unwrap());
        assert!(!s.insert_scope(&entry("archive:read", "Other words"), T0 + 1).await.unwrap());
        assert!(s.update_scope(&entry("books:read", "Read books"), T0 + 2).await.unwrap());
        assert!(!s.update_scope(&entry("nope", "Nothing"), T0 + 3).await.unwrap());
        assert!(s.delete_scope("account:write", T0 + 4).await.unwrap());
        assert!(!s.delete_scope("account:write", T0 + 5).await.unwrap());
        assert_eq!(
            s.changed_after(seq).await,
            [
                (ChangeKind::Scope, "archive:read".to_owned(), T0),
                (ChangeKind::Scope, "books:read".to_owned(), T0 + 2),
                (ChangeKind::Scope, "account:write".to_owned(), T0 + 4),
            ]
        );
        assert_eq!(
            s.list_scopes().await.unwrap(),
            [
                entry("account:read", "See your account details"),
                entry("archive:read", "Read your archive"),
                entry("books:read", "Read books"),
                entry("books:write", "Upload new books"),
            ]
        );
    }
);

conformance_test!(
    /// `find_scope_usage` names the credential clients and applications that are not
    /// revoked and whose scopes include the name — exactly: not a prefix, not another case,
    /// `_` and `%` being plain characters — oldest first, and counts the consents that
    /// include it (of clients not revoked) and their users.
    async fn scope_usage_matches_names_exactly(s) {
        let account = s.account(T0).await;
        let other_account = s.account(T0).await;
        let with = |kind: ClientKind, raw: &str, at: i64, status: ClientStatus| {
            let mut c = new_client(kind, Some(&account), at);
            c.scopes = scopes(raw);
            c.status = status;
            c
        };
        let active = ClientStatus::Active;
        let newer = with(ClientKind::Credential, "x:read", T0 + 2, active);
        let older = with(ClientKind::Credential, "a x:read z", T0 + 1, active);
        let app = with(ClientKind::Application, "x:read y", T0, active);
        let revoked = with(ClientKind::Credential, "x:read", T0, ClientStatus::Revoked);
        let revoked_app = with(ClientKind::Application, "x:read", T0, ClientStatus::Revoked);
        let near = [
            with(ClientKind::Credential, "x:reader", T0, active),
            with(ClientKind::Credential, "X:READ", T0, active),
            with(ClientKind::Credential, "xx:read", T0, active),
            with(ClientKind::Credential, "a%b axb", T0, active),
        ];
        let mut all = vec![newer.clone(), older.clone(), app.clone(), revoked, revoked_app.clone()];
        all.extend(near.iter().cloned());
        s.insert_clients(&all).await.unwrap();

        let alice = s.user(&[&account, &other_account]).await;
        let bob = s.user(&[&account]).await;
        let consent = |user: &UserId, client: &ClientId, on: &AccountId, raw: &str| Consent {
            user_id: user.clone(),
            client_id: client.clone(),
            account_id: on.clone(),
            scopes: scopes(raw),
            updated_at: T0,
        };
        for c in [
            consent(&alice, &app.id, &account, "x:read"),
            consent(&alice, &app.id, &other_account, "y x:read"),
            consent(&bob, &app.id, &account, "x:read"),
            consent(&bob, &revoked_app.id, &account, "x:read"),
            consent(&alice, &revoked_app.id, &account, "x:read"),
        ] {
            s.upsert_consent(&c).await.unwrap();
        }
        let bob_narrow = consent(&bob, &app.id, &other_account, "y");
        s.upsert_consent(&bob_narrow).await.unwrap();

        let usage = s.find_scope_usage("x:read").await.unwrap();
        assert_eq!(usage.clients, [older.id, newer.id]);
        assert_eq!(usage.applications, [app.id]);
        assert_eq!((usage.consents, usage.consent_users), (3, 2));

        let upper = s.find_scope_usage("X:READ").await.unwrap();
        assert_eq!(upper.clients, [near[1].id.clone()]);
        assert_eq!(upper.consents, 0);
        assert_eq!(s.find_scope_usage("x:rea").await.unwrap(), Default::default());
        assert_eq!(s.find_scope_usage("a_b").await.unwrap(), Default::default());
        let percent = s.find_scope_usage("a%b").await.unwrap();
        assert_eq!(percent.clients, [near[3].id.clone()]);
        let y = s.find_scope_usage("y").await.unwrap();
        assert_eq!((y.consents, y.consent_users), (2, 2));
    }
);
