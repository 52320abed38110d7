//! Clients and their secrets: all-or-none inserts, listing order, conditional updates and
//! secret rotation.

use super::*;

conformance_test!(
    /// A stored client reads back exactly as inserted, secrets in insertion order; an
    /// unknown id is `None`.
    async fn client_round_trips(s) {
        let account = s.account(T0).await;
        let mut client = new_client(ClientKind::Application, Some(&account), T0);
        client.public = true;
        client.approved = true;
        client.require_pkce = true;
        client.redirect_uris = vec!["https://a.example/cb".into(), "http://127.0.0.1/cb".into()];
        client.secrets = vec![secret("old", T0 - 10, Some(T0 + 10)), secret("new", T0, None)];
        s.insert_clients(std::slice::from_ref(&client)).await.unwrap();
        assert_eq!(s.find_client(&client.id).await.unwrap(), Some(client));
        let unknown = ClientId::generate().unwrap();
        assert_eq!(s.find_client(&unknown).await.unwrap(), None);
    }
);

conformance_test!(
    /// `insert_clients` is all or none: a batch with one bad client stores none of them and
    /// records no change; a good batch records one `Client` change per client.
    async fn client_batch_insert_is_all_or_none(s) {
        let account = s.account(T0).await;
        let taken = s.credential_client(&account, T0).await;
        let fresh = new_client(ClientKind::Credential, Some(&account), T0 + 1);
        let mut duplicate = new_client(ClientKind::Credential, Some(&account), T0 + 1);
        duplicate.id = taken.id.clone();
        let before = s.seq().await;
        assert!(s.insert_clients(&[fresh.clone(), duplicate]).await.is_err());
        assert_eq!(s.find_client(&fresh.id).await.unwrap(), None);
        assert_eq!(s.changed_after(before).await, []);
        let other = new_client(ClientKind::Credential, Some(&account), T0 + 2);
        s.insert_clients(&[fresh.clone(), other.clone()]).await.unwrap();
        assert_eq!(
            s.changed_after(before).await,
            [
                (ChangeKind::Client, fresh.id.to_string(), T0 + 1),
                (ChangeKind::Client, other.id.to_string(), T0 + 2)
            ]
        );
    }
);

conformance_test!(
    /// `list_clients` lists oldest first, each client with its own secrets, and only the
    /// account's clients when an account is given.
    async fn clients_list_oldest_first_and_filter_by_account(s) {
        let acme = s.account(T0).await;
        let globex = s.account(T0).await;
        let late = s.credential_client(&acme, T0 + 20).await;
        let early = s.credential_client(&acme, T0 + 10).await;
        let middle = s.credential_client(&globex, T0 + 15).await;
        let app = s.application(T0 + 30).await;
        let all = s.list_clients(None).await.unwrap();
        assert_eq!(all, [early.clone(), middle, late.clone(), app]);
        assert_eq!(s.list_clients(Some(&acme)).await.unwrap(), [early, late]);
        let nobody = AccountId::generate().unwrap();
        assert_eq!(s.list_clients(Some(&nobody)).await.unwrap(), []);
    }
);

conformance_test!(
    /// `update_client_status` sets the status and records a `Client` change; for an
    /// unknown client it answers `false` and records nothing.
    async fn client_status_update_is_conditional(s) {
        let account = s.account(T0).await;
        let client = s.credential_client(&account, T0).await;
        let before = s.seq().await;
        assert!(s.update_client_status(&client.id, ClientStatus::Revoked, T0 + 5).await.unwrap());
        let found = s.find_client(&client.id).await.unwrap().unwrap();
        assert_eq!(found.status, ClientStatus::Revoked);
        let unknown = ClientId::generate().unwrap();
        assert!(!s.update_client_status(&unknown, ClientStatus::Revoked, T0 + 6).await.unwrap());
        assert_eq!(
            s.changed_after(before).await,
            [(ChangeKind::Client, client.id.to_string(), T0 + 5)]
        );
    }
);

conformance_test!(
    /// `update_client_approved` sets the mark and records a `Client` change; for an unknown
    /// client it answers `false` and records nothing.
    async fn client_approval_update_is_conditional(s) {
        let app = s.application(T0).await;
        let before = s.seq().await;
        assert!(s.update_client_approved(&app.id, true, T0 + 1).await.unwrap());
        assert!(s.find_client(&app.id).await.unwrap().unwrap().approved);
        assert!(s.update_client_approved(&app.id, false, T0 + 2).await.unwrap());
        assert!(!s.find_client(&app.id).await.unwrap().unwrap().approved);
        let unknown = ClientId::generate().unwrap();
        assert!(!s.update_client_approved(&unknown, true, T0 + 3).await.unwrap());
        assert_eq!(
            s.changed_after(before).await,
            [
                (ChangeKind::Client, app.id.to_string(), T0 + 1),
                (ChangeKind::Client, app.id.to_string(), T0 + 2)
            ]
        );
    }
);

conformance_test!(
    /// `update_client_require_pkce` sets the application's PKCE switch and records a
    /// `Client` change (so every server's client cache forgets the old setting); for an
    /// unknown client it answers `false` and records nothing.
    async fn client_require_pkce_update_is_conditional(s) {
        let app = s.application(T0).await;
        assert!(!app.require_pkce, "off unless asked for");
        let before = s.seq().await;
        assert!(s.update_client_require_pkce(&app.id, true, T0 + 1).await.unwrap());
        assert!(s.find_client(&app.id).await.unwrap().unwrap().require_pkce);
        assert!(s.update_client_require_pkce(&app.id, false, T0 + 2).await.unwrap());
        assert!(!s.find_client(&app.id).await.unwrap().unwrap().require_pkce);
        let unknown = ClientId::generate().unwrap();
        assert!(!s.update_client_require_pkce(&unknown, true, T0 + 3).await.unwrap());
        assert_eq!(
            s.changed_after(before).await,
            [
                (ChangeKind::Client, app.id.to_string(), T0 + 1),
                (ChangeKind::Client, app.id.to_string(), T0 + 2)
            ]
        );
    }
);

conformance_test!(
    /// Secret rotation adds the new secret and ends every other live secret at
    /// `others_expire_at` (a secret that already ended earlier keeps its end); the old one
    /// authenticates until that instant and not at it; one `Client` change.
    async fn client_secret_rotation_ends_the_others_at_the_overlap(s) {
        let account = s.account(T0).await;
        let mut client = new_client(ClientKind::Credential, Some(&account), T0);
        client.secrets = vec![secret("ended", T0 - 50, Some(T0 + 10)), secret("live", T0, None)];
        s.insert_clients(std::slice::from_ref(&client)).await.unwrap();
        let before = s.seq().await;
        let rotated = secret("rotated", T0 + 50, None);
        assert!(s.insert_client_secret(&client.id, &rotated, Some(T0 + 100), T0 + 50).await.unwrap());
        let found = s.find_client(&client.id).await.unwrap().unwrap();
        assert_eq!(
            found.secrets,
            [
                secret("ended", T0 - 50, Some(T0 + 10)),
                secret("live", T0, Some(T0 + 100)),
                rotated
            ]
        );
        let live = SecretHash::of(b"live");
        assert!(found.secret_matches(&live, T0 + 99));
        assert!(!found.secret_matches(&live, T0 + 100));
        assert!(found.secret_matches(&SecretHash::of(b"rotated"), T0 + 100_000));
        assert_eq!(
            s.changed_after(before).await,
            [(ChangeKind::Client, client.id.to_string(), T0 + 50)]
        );
    }
);

conformance_test!(
    /// A secret added with no end for the others leaves them as they were; adding a secret
    /// to an unknown client answers `false`, stores nothing and records nothing.
    async fn client_secret_insert_without_overlap_and_for_unknown_clients(s) {
        let account = s.account(T0).await;
        let client = s.credential_client(&account, T0).await;
        let extra = secret("extra", T0 + 1, Some(T0 + 500));
        assert!(s.insert_client_secret(&client.id, &extra, None, T0 + 1).await.unwrap());
        let found = s.find_client(&client.id).await.unwrap().unwrap();
        assert_eq!(found.secrets, [client.secrets[0].clone(), extra]);
        let before = s.seq().await;
        let unknown = ClientId::generate().unwrap();
        let stray = secret("stray", T0 + 2, None);
        assert!(!s.insert_client_secret(&unknown, &stray, Some(T0 + 2), T0 + 2).await.unwrap());
        assert_eq!(s.changed_after(before).await, []);
    }
);

conformance_test!(
    /// Ending a rotation's overlap ends every secret but the newest at `now` and records a
    /// `Client` change; the newest keeps working; an unknown client answers `false`.
    async fn expiring_older_secrets_keeps_only_the_newest(s) {
        let account = s.account(T0).await;
        let mut client = new_client(ClientKind::Credential, Some(&account), T0);
        client.secrets = vec![
            secret("first", T0, Some(T0 + 1000)),
            secret("second", T0 + 1, None),
            secret("newest", T0 + 2, None),
        ];
        s.insert_clients(std::slice::from_ref(&client)).await.unwrap();
        let before = s.seq().await;
        assert!(s.expire_older_client_secrets(&client.id, T0 + 30).await.unwrap());
        let found = s.find_client(&client.id).await.unwrap().unwrap();
        let ends: Vec<Option<i64>> = found.secrets.iter().map(|x| x.expires_at).collect();
        assert_eq!(ends, [Some(T0 + 30), Some(T0 + 30), None]);
        assert!(found.secret_matches(&SecretHash::of(b"newest"), T0 + 30));
        assert!(!found.secret_matches(&SecretHash::of(b"second"), T0 + 30));
        assert_eq!(
            s.changed_after(before).await,
            [(ChangeKind::Client, client.id.to_string(), T0 + 30)]
        );
        let unknown = ClientId::generate().unwrap();
        assert!(!s.expire_older_client_secrets(&unknown, T0 + 31).await.unwrap());
    }
);
