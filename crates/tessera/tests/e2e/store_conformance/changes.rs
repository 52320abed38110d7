//! The change feed: every mutation other processes must see records a change in its own
//! transaction; the feed reads in `seq` order from a cursor, and pruning never lets a `seq`
//! come back.

use tessera_core::store::{AuditStore, KeyStore, RevocationStore, ScopeEntry, ScopeStore};

use super::*;

conformance_test!(
    /// A fresh store has no changes: the latest `seq` is 0 and the feed after 0 is empty.
    async fn fresh_store_has_an_empty_feed(s) {
        assert_eq!(s.seq().await, 0);
        assert_eq!(s.oldest_change_seq().await.unwrap(), 0);
        assert_eq!(s.changes_after(0).await, []);
    }
);

conformance_test!(
    /// The feed answers the changes after a cursor in strictly increasing `seq` order, at
    /// most `limit` of them; paging by the last `seq` seen visits every change once, and
    /// the latest `seq` is the last change's.
    async fn feed_reads_in_seq_order_from_a_cursor(s) {
        let account = s.account(T0).await;
        let client = s.credential_client(&account, T0).await;
        s.update_client_status(&client.id, ClientStatus::Revoked, T0 + 1).await.unwrap();
        s.insert_revoked_token("at_x", T0 + 60, T0 + 2).await.unwrap();
        s.insert_signing_key(&signing_key(T0, T0), T0 + 3).await.unwrap();
        s.update_client_approved(&client.id, true, T0 + 4).await.unwrap();
        let all = s.changes_after(0).await;
        assert_eq!(all.len(), 5);
        assert!(all.windows(2).all(|w| w[0].seq < w[1].seq), "{all:?}");
        let times: Vec<i64> = all.iter().map(|c| c.created_at).collect();
        assert_eq!(times, [T0, T0 + 1, T0 + 2, T0 + 3, T0 + 4]);
        assert_eq!(s.seq().await, all[4].seq);
        let mut paged = Vec::new();
        let mut cursor = 0;
        loop {
            let page = s.list_changes_after(cursor, 2).await.unwrap();
            assert!(page.len() <= 2);
            let Some(last) = page.last() else { break };
            cursor = last.seq;
            paged.extend(page);
        }
        assert_eq!(paged, all);
        assert_eq!(s.changes_after(all[2].seq).await, all[3..]);
    }
);

conformance_test!(
    /// A change of a kind this version does not know (a newer replica's, during a rolling
    /// upgrade) is read as `Unrecognized`, not as corruption, so the cursor moves past it
    /// and the changes after it are still delivered.
    async fn unknown_change_kinds_do_not_stall_the_feed(s) {
        s.raw_sql(&format!(
            "INSERT INTO change_event (kind, subject, created_at) VALUES ('device_code', 'dc_1', {T0})"
        ))
        .await;
        let account = s.account(T0 + 1).await;
        let client = s.credential_client(&account, T0 + 1).await;
        assert_eq!(
            s.changed_after(0).await,
            [
                (ChangeKind::Unrecognized, "dc_1".to_owned(), T0),
                (ChangeKind::Client, client.id.to_string(), T0 + 1),
            ]
        );
    }
);

conformance_test!(
    /// Pruning deletes the changes created before the instant and keeps the rest with their
    /// `seq`, and always the newest (the oldest `seq` left tells a cursor whether it missed
    /// pruned changes); a change recorded after pruning gets a `seq` above every earlier
    /// one, so a cursor never misses it.
    async fn pruning_keeps_later_changes_and_never_reuses_a_seq(s) {
        s.insert_revoked_token("at_old", T0 + 60, T0).await.unwrap();
        s.insert_revoked_token("at_mid", T0 + 60, T0 + 10).await.unwrap();
        s.insert_revoked_token("at_new", T0 + 60, T0 + 20).await.unwrap();
        let all = s.changes_after(0).await;
        s.prune_changes(T0 + 10).await.unwrap();
        assert_eq!(s.changes_after(0).await, all[1..]);
        assert_eq!(s.oldest_change_seq().await.unwrap(), all[1].seq);
        s.prune_changes(T0 + 21).await.unwrap();
        assert_eq!(s.changes_after(0).await, all[2..], "the newest stays");
        assert_eq!(s.oldest_change_seq().await.unwrap(), all[2].seq);
        s.insert_revoked_token("at_after", T0 + 60, T0 + 30).await.unwrap();
        let after = s.changes_after(all[2].seq).await;
        assert_eq!(after.len(), 1);
        assert!(after[0].seq > all[2].seq, "{after:?} after {all:?}");
        s.prune_changes(T0 + 31).await.unwrap();
        assert_eq!(s.changes_after(0).await, after);
    }
);

conformance_test!(
    /// Concurrent mutations from two processes each record exactly one change, with
    /// distinct `seq`s: the feed misses none and repeats none.
    async fn concurrent_writers_each_record_one_change(s) {
        const N: usize = 12;
        let account = s.account(T0).await;
        let mut ids = Vec::new();
        for _ in 0..N {
            ids.push(s.credential_client(&account, T0).await.id);
        }
        let before = s.seq().await;
        let stores = [s.store.clone(), s.other_process().await];
        let done = race(&stores, N, |i, store| {
            let id = ids[i].clone();
            async move { store.update_client_status(&id, ClientStatus::Revoked, T0 + 1).await.unwrap() }
        })
        .await;
        assert!(done.iter().all(|d| *d));
        let changes = s.changes_after(before).await;
        let mut seqs: Vec<i64> = changes.iter().map(|c| c.seq).collect();
        seqs.dedup();
        assert_eq!(seqs.len(), N);
        let mut subjects: Vec<String> = changes.into_iter().map(|c| c.subject).collect();
        subjects.sort();
        let mut expected: Vec<String> = ids.iter().map(|i| i.to_string()).collect();
        expected.sort();
        assert_eq!(subjects, expected);
        stores[1].close().await;
    }
);

/// Makes every insert into the change feed fail, as a full disk or a lost connection would
/// in the middle of a mutation's transaction.
async fn break_the_feed(s: &StoreUnderTest) {
    match s.backend {
        Backend::Sqlite => {
            s.raw_sql(
                "CREATE TRIGGER change_feed_off BEFORE INSERT ON change_event \
                 BEGIN SELECT RAISE(ABORT, 'change feed off'); END",
            )
            .await
        }
        Backend::Postgres => {
            s.raw_sql(
                "CREATE FUNCTION change_feed_off() RETURNS trigger LANGUAGE plpgsql \
                 AS $$ BEGIN RAISE EXCEPTION 'change feed off'; END $$",
            )
            .await;
            s.raw_sql(
                "CREATE TRIGGER change_feed_off BEFORE INSERT ON change_event \
                 FOR EACH ROW EXECUTE FUNCTION change_feed_off()",
            )
            .await
        }
    }
}

conformance_test!(
    /// A mutation and its change commit together: when the change cannot be recorded, the
    /// mutation fails as a whole and nothing of it is visible (clients, secrets, keys,
    /// revocations, token sets, rotation, de-authorization, legacy credentials).
    async fn a_mutation_whose_change_cannot_be_recorded_does_not_happen(s) {
        let (app, user, account) = s.parties().await;
        let client = s.credential_client(&account, T0).await;
        let key = signing_key(T0, T0);
        s.insert_signing_key(&key, T0).await.unwrap();
        let (set, refresh) = s.token_set(&app.id, &user, &account, T0).await;
        let (other_set, other_refresh) = s.token_set(&app.id, &user, &account, T0).await;
        let code = s.code(&app.id, &user, &account, T0).await;
        let consent = tessera_core::store::Consent {
            user_id: user.clone(),
            client_id: app.id.clone(),
            account_id: account.clone(),
            scopes: scopes("books:read"),
            updated_at: T0,
        };
        s.upsert_consent(&consent).await.unwrap();
        let credential = s.legacy(&account, "ops@acme.example", T0).await;
        let migrated = s.legacy(&account, "dev@acme.example", T0 + 1).await;
        let to = s.credential_client(&account, T0).await;
        let ok = audit(AuditAction::LegacyMigrated, &migrated.id, T0 + 2);
        assert!(s.mark_legacy_migrated(&migrated.id, &to.id, None, &ok).await.unwrap());
        let seq = s.seq().await;
        break_the_feed(s).await;

        let now = T0 + 50;
        let fresh = new_client(ClientKind::Credential, Some(&account), now);
        assert!(s.insert_clients(std::slice::from_ref(&fresh)).await.is_err());
        assert!(s.update_client_status(&client.id, ClientStatus::Revoked, now).await.is_err());
        assert!(s.update_client_approved(&client.id, true, now).await.is_err());
        assert!(s.update_client_require_pkce(&client.id, true, now).await.is_err());
        let extra = secret("extra", now, None);
        assert!(s.insert_client_secret(&client.id, &extra, Some(now), now).await.is_err());
        assert!(s.expire_older_client_secrets(&client.id, now).await.is_err());
        assert_eq!(s.find_client(&client.id).await.unwrap(), Some(client));
        assert_eq!(s.find_client(&fresh.id).await.unwrap(), None);

        let new_key = signing_key(now, now);
        assert!(s.insert_signing_key(&new_key, now).await.is_err());
        assert!(s.delete_signing_keys(std::slice::from_ref(&key.kid), now).await.is_err());
        assert_eq!(s.list_signing_keys().await.unwrap(), [key]);

        assert!(s.insert_revoked_token("at_gone", now + 60, now).await.is_err());
        assert_eq!(s.list_revoked_tokens(now).await.unwrap(), []);

        let next = refresh_token(&set.id, now);
        assert!(s.rotate_refresh_token(&refresh, &next, None, now).await.is_err());
        assert!(s.revoke_token_set(&set.id, now).await.is_err());
        assert!(s.revoke_token_set_of_code(&code, now).await.is_err());
        assert!(s.deauthorize(&user, &app.id, None, now).await.is_err());
        assert_eq!(s.find_refresh_token(&next.token_hash).await.unwrap(), None);
        assert_eq!(
            s.find_refresh_token(&refresh.token_hash).await.unwrap(),
            Some((refresh.clone(), set))
        );
        assert_eq!(
            s.find_refresh_token(&other_refresh.token_hash).await.unwrap(),
            Some((other_refresh, other_set))
        );
        assert_eq!(s.list_revoked_token_sets(T0 - 1).await.unwrap(), []);
        assert_eq!(s.list_consents(&user, &app.id).await.unwrap(), [consent]);

        let hash = password_hash();
        let changed = audit(AuditAction::PasswordChanged, &credential.id, now);
        assert!(s.update_legacy_password(&credential.id, &hash, &changed).await.is_err());
        let migrate = audit(AuditAction::LegacyMigrated, &credential.id, now);
        assert!(s.mark_legacy_migrated(&credential.id, &to.id, None, &migrate).await.is_err());
        let remove = audit(AuditAction::LegacyRemoved, &migrated.id, now);
        assert!(s.mark_legacy_removed(&migrated.id, &remove).await.is_err());
        let another = LegacyCredential {
            id: LegacyId::generate().unwrap(),
            email: Email::parse("new@acme.example").unwrap(),
            ..credential.clone()
        };
        let created = audit(AuditAction::LegacyCreated, &another.id, now);
        assert!(s.insert_legacy_credential(&another, &created).await.is_err());
        let legacy = s.list_legacy_credentials(Some(&account)).await.unwrap();
        let states: Vec<(&str, LegacyState, i64)> = legacy
            .iter()
            .map(|c| (c.email.as_str(), c.state, c.updated_at))
            .collect();
        assert_eq!(
            states,
            [
                ("ops@acme.example", LegacyState::Active, T0),
                ("dev@acme.example", LegacyState::Migrated, T0 + 2)
            ]
        );
        assert_eq!(legacy[0].password_hash, credential.password_hash);

        let catalog = s.list_scopes().await.unwrap();
        let entry = |name: &str| ScopeEntry { name: name.into(), description: "Words".into() };
        assert!(s.insert_scope(&entry("new:scope"), now).await.is_err());
        assert!(s.update_scope(&entry("books:read"), now).await.is_err());
        assert!(s.delete_scope("books:write", now).await.is_err());
        assert_eq!(s.list_scopes().await.unwrap(), catalog);
        // Their audit events were not written either.
        let events = s.list_audit_events(&audit_query(None, 100)).await.unwrap();
        assert!(events.iter().all(|e| e.at < now), "{events:?}");

        let stored = s.find_account(&account).await.unwrap().unwrap();
        let renamed = Account {
            name: "Renamed".into(),
            ..stored.clone()
        };
        assert!(s.update_account(&renamed, now).await.is_err());
        assert!(s.import_accounts(&[], std::slice::from_ref(&renamed), now).await.is_err());
        assert_eq!(s.find_account(&account).await.unwrap(), Some(stored));
        assert_eq!(s.seq().await, seq);
    }
);
