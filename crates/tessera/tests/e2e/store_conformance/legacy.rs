//! Legacy Basic credentials: uniqueness of live emails, the conditional state machine
//! (active → migrated → removed), audit events in the mutation's transaction, usage counts
//! and the first-token mark.

use tessera_core::legacy::console::{ReportFilter, ReportSort};
use tessera_core::legacy::report::ReportWindows;
use tessera_core::legacy::usage::{LegacyReportRow, UsageDelta};
use tessera_core::store::{AuditStore, TokenSource, TokenUse};

use super::*;

/// Every credential, oldest first, counting buckets from `day_from` and `week_from`.
async fn full_report(
    s: &SqlStore,
    day_from: i64,
    week_from: i64,
) -> tessera_core::store::StoreResult<Vec<LegacyReportRow>> {
    let windows = ReportWindows {
        day_from,
        week_from,
    };
    s.find_legacy_report(&ReportFilter::default(), ReportSort::Created, None, windows)
        .await
}

fn migrate(id: &LegacyId, at: i64) -> AuditEvent {
    audit(AuditAction::LegacyMigrated, id, at)
}

conformance_test!(
    /// At most one credential per email is not removed: a second live one is refused; once
    /// the first is removed, the email may be used again and lookups find the new one.
    async fn legacy_email_is_unique_among_live_credentials(s) {
        let account = s.account(T0).await;
        let first = s.legacy(&account, "ops@acme.example", T0).await;
        let twin = LegacyCredential {
            id: LegacyId::generate().unwrap(),
            email: Email::parse("OPS@Acme.Example").unwrap(),
            created_at: T0 + 1,
            ..first.clone()
        };
        let created = audit(AuditAction::LegacyCreated, &twin.id, T0 + 1);
        assert!(s.insert_legacy_credential(&twin, &created).await.is_err());
        assert_eq!(s.find_legacy_credential(&first.email).await.unwrap(), Some(first.clone()));
        let client = s.credential_client(&account, T0).await;
        assert!(s.mark_legacy_migrated(&first.id, &client.id, None, &migrate(&first.id, T0 + 2)).await.unwrap());
        let removal = audit(AuditAction::LegacyRemoved, &first.id, T0 + 3);
        assert!(s.mark_legacy_removed(&first.id, &removal).await.unwrap());
        assert_eq!(s.find_legacy_credential(&first.email).await.unwrap(), None);
        let again = s.legacy(&account, "ops@acme.example", T0 + 4).await;
        assert_eq!(s.find_legacy_credential(&first.email).await.unwrap(), Some(again.clone()));
        let all = s.list_legacy_credentials(None).await.unwrap();
        let ids: Vec<&LegacyId> = all.iter().map(|c| &c.id).collect();
        assert_eq!(ids, [&first.id, &again.id]);
    }
);

conformance_test!(
    /// Legacy credentials list oldest first, removed ones too, and only the account's when
    /// an account is given.
    async fn legacy_credentials_list_oldest_first_by_account(s) {
        let acme = s.account(T0).await;
        let globex = s.account(T0).await;
        let late = s.legacy(&acme, "late@acme.example", T0 + 20).await;
        let early = s.legacy(&acme, "early@acme.example", T0 + 10).await;
        let theirs = s.legacy(&globex, "ops@globex.example", T0 + 15).await;
        assert_eq!(
            s.list_legacy_credentials(None).await.unwrap(),
            [early.clone(), theirs, late.clone()]
        );
        assert_eq!(s.list_legacy_credentials(Some(&acme)).await.unwrap(), [early, late]);
    }
);

conformance_test!(
    /// A password is replaced only on a credential that is not removed (`false`
    /// otherwise); a replacement writes its audit event and `LegacyCredential` change, a
    /// refusal neither.
    async fn legacy_password_update_is_conditional(s) {
        let account = s.account(T0).await;
        let credential = s.legacy(&account, "ops@acme.example", T0).await;
        let before = s.seq().await;
        let hash = PasswordHash::parse("$argon2id$v=19$m=64,t=1,p=1$YW5vdGhlcnNhbHQ$bmV3aGFzaG5ld2hhc2g")
            .unwrap();
        let changed = audit(AuditAction::PasswordChanged, &credential.id, T0 + 5);
        assert!(s.update_legacy_password(&credential.id, &hash, &changed).await.unwrap());
        let found = s.find_legacy_credential(&credential.email).await.unwrap().unwrap();
        assert_eq!((found.password_hash, found.updated_at), (Some(hash.clone()), T0 + 5));
        assert_eq!(
            s.changed_after(before).await,
            [(ChangeKind::LegacyCredential, credential.id.to_string(), T0 + 5)]
        );
        assert_eq!(s.list_audit_events(&audit_query(Some(&credential.id), 1)).await.unwrap(), [changed]);
        let unknown = LegacyId::generate().unwrap();
        let refused = audit(AuditAction::PasswordChanged, &unknown, T0 + 6);
        assert!(!s.update_legacy_password(&unknown, &hash, &refused).await.unwrap());
        let client = s.credential_client(&account, T0).await;
        s.mark_legacy_migrated(&credential.id, &client.id, None, &migrate(&credential.id, T0 + 7))
            .await
            .unwrap();
        s.mark_legacy_removed(&credential.id, &audit(AuditAction::LegacyRemoved, &credential.id, T0 + 8))
            .await
            .unwrap();
        let seq = s.seq().await;
        let late = audit(AuditAction::PasswordChanged, &credential.id, T0 + 9);
        assert!(!s.update_legacy_password(&credential.id, &hash, &late).await.unwrap());
        assert_eq!(s.seq().await, seq);
        assert!(s.list_audit_events(&audit_query(None, 100)).await.unwrap().iter().all(|e| e.at != T0 + 6 && e.at != T0 + 9));
    }
);

conformance_test!(
    /// Migration is conditional: `active` → `migrated` once; again from `active` answers
    /// `false`; moving a migrated credential to a new client needs the right previous
    /// client. Each success records its change and audit event.
    async fn legacy_migration_moves_only_from_the_expected_state(s) {
        let account = s.account(T0).await;
        let credential = s.legacy(&account, "ops@acme.example", T0).await;
        let first = s.credential_client(&account, T0).await;
        let second = s.credential_client(&account, T0).await;
        let before = s.seq().await;
        let id = &credential.id;
        assert!(s.mark_legacy_migrated(id, &first.id, None, &migrate(id, T0 + 1)).await.unwrap());
        assert!(!s.mark_legacy_migrated(id, &second.id, None, &migrate(id, T0 + 2)).await.unwrap());
        assert!(!s.mark_legacy_migrated(id, &second.id, Some(&second.id), &migrate(id, T0 + 3)).await.unwrap());
        assert!(s.mark_legacy_migrated(id, &second.id, Some(&first.id), &migrate(id, T0 + 4)).await.unwrap());
        let found = s.find_legacy_credential(&credential.email).await.unwrap().unwrap();
        assert_eq!(found.state, LegacyState::Migrated);
        assert_eq!(found.migrated_client_id, Some(second.id));
        assert_eq!(found.migrated_at, Some(T0 + 4));
        let times: Vec<i64> = s.changed_after(before).await.into_iter().map(|c| c.2).collect();
        assert_eq!(times, [T0 + 1, T0 + 4]);
        let audited: Vec<i64> = s.list_audit_events(&audit_query(Some(id), 10)).await.unwrap().iter().map(|e| e.at).collect();
        assert_eq!(audited, [T0 + 4, T0 + 1, T0], "newest first");
    }
);

conformance_test!(
    /// Of concurrent migrations of one active credential, from two processes, exactly one
    /// succeeds, and the credential names that one's client.
    async fn concurrent_legacy_migration_has_exactly_one_winner(s) {
        const N: usize = 8;
        let account = s.account(T0).await;
        let credential = s.legacy(&account, "ops@acme.example", T0).await;
        let mut clients = Vec::new();
        for _ in 0..N {
            clients.push(s.credential_client(&account, T0).await.id);
        }
        let stores = [s.store.clone(), s.other_process().await];
        let won = race(&stores, N, |i, store| {
            let (id, client) = (credential.id.clone(), clients[i].clone());
            async move {
                store.mark_legacy_migrated(&id, &client, None, &migrate(&id, T0 + 1)).await.unwrap()
            }
        })
        .await;
        let winners: Vec<usize> = (0..N).filter(|&i| won[i]).collect();
        assert_eq!(winners.len(), 1, "{won:?}");
        let found = s.find_legacy_credential(&credential.email).await.unwrap().unwrap();
        assert_eq!(found.migrated_client_id.as_ref(), Some(&clients[winners[0]]));
        stores[1].close().await;
    }
);

conformance_test!(
    /// Removal moves only `migrated` → `removed` and erases the password hash; an active or
    /// already removed credential answers `false`.
    async fn legacy_removal_only_from_migrated_and_erases_the_hash(s) {
        let account = s.account(T0).await;
        let credential = s.legacy(&account, "ops@acme.example", T0).await;
        let id = &credential.id;
        let removal = |at| audit(AuditAction::LegacyRemoved, id, at);
        assert!(!s.mark_legacy_removed(id, &removal(T0 + 1)).await.unwrap());
        let client = s.credential_client(&account, T0).await;
        s.mark_legacy_migrated(id, &client.id, None, &migrate(id, T0 + 2)).await.unwrap();
        assert!(s.mark_legacy_removed(id, &removal(T0 + 3)).await.unwrap());
        assert!(!s.mark_legacy_removed(id, &removal(T0 + 4)).await.unwrap());
        let all = s.list_legacy_credentials(Some(&account)).await.unwrap();
        assert_eq!(all[0].state, LegacyState::Removed);
        assert_eq!(all[0].password_hash, None);
        assert_eq!(all[0].removed_at, Some(T0 + 3));
    }
);

conformance_test!(
    /// `record_token_use` sets a client's first-token instant once and its last-token
    /// instant every time; a client never used, or unknown, has neither.
    async fn token_use_marks_first_once_and_last_always(s) {
        let account = s.account(T0).await;
        let client = s.credential_client(&account, T0).await;
        assert_eq!(s.find_first_token_at(&client.id).await.unwrap(), None);
        assert_eq!(s.find_last_token_at(&client.id).await.unwrap(), None);
        s.record_token_use(&client.id, TokenSource::SettingsTest, T0 + 10).await.unwrap();
        s.record_token_use(&client.id, TokenSource::SettingsTest, T0 + 40).await.unwrap();
        s.record_token_use(&client.id, TokenSource::Integration, T0 + 70).await.unwrap();
        s.record_token_use(&client.id, TokenSource::Integration, T0 + 90).await.unwrap();
        assert_eq!(s.find_first_token_at(&client.id).await.unwrap(), Some(T0 + 10));
        assert_eq!(s.find_last_token_at(&client.id).await.unwrap(), Some(T0 + 90));
        // Issue 15: a Settings Center test and an integration's first token, apart.
        assert_eq!(
            s.find_token_use(&client.id).await.unwrap(),
            Some(TokenUse {
                first_token_at: Some(T0 + 10),
                last_token_at: Some(T0 + 90),
                first_tested_at: Some(T0 + 10),
                first_integration_at: Some(T0 + 70),
            })
        );
        let unknown = ClientId::generate().unwrap();
        assert_eq!(s.find_token_use(&unknown).await.unwrap(), None);
        s.record_token_use(&unknown, TokenSource::Integration, T0).await.unwrap();
        assert_eq!(s.find_first_token_at(&unknown).await.unwrap(), None);
        assert_eq!(s.find_last_token_at(&unknown).await.unwrap(), None);
    }
);

conformance_test!(
    /// Usage counts add up per credential and hour bucket, `last_used_at` only moves
    /// forward, the report sums the buckets in its day and week windows, and pruning drops
    /// the buckets that started before the instant.
    async fn legacy_usage_counts_add_up_per_bucket(s) {
        const HOUR: i64 = 3600;
        let account = s.account(T0).await;
        let ops = s.legacy(&account, "ops@acme.example", T0).await;
        let dev = s.legacy(&account, "dev@acme.example", T0 + 1).await;
        let now = T0 + 10 * 24 * HOUR;
        let delta = |c: &LegacyCredential, hour_start, count, last| UsageDelta {
            credential_id: c.id.clone(),
            hour_start,
            count,
            last_used_at: last,
        };
        s.add_legacy_usage(&[]).await.unwrap();
        s.add_legacy_usage(&[
            delta(&ops, now - HOUR, 3, now - 10),
            delta(&ops, now - 3 * 24 * HOUR, 5, now - 3 * 24 * HOUR),
            delta(&dev, now - 9 * 24 * HOUR, 7, now - 9 * 24 * HOUR),
        ])
        .await
        .unwrap();
        // A late flush of an older instant adds its count but does not move last use back.
        s.add_legacy_usage(&[delta(&ops, now - HOUR, 2, now - 3000)]).await.unwrap();
        let report = full_report(s, now - 24 * HOUR, now - 7 * 24 * HOUR).await.unwrap();
        let rows: Vec<(&LegacyId, i64, i64, Option<i64>)> = report
            .iter()
            .map(|r| (&r.credential_id, r.requests_24h, r.requests_7d, r.last_used_at))
            .collect();
        assert_eq!(
            rows,
            [
                (&ops.id, 5, 10, Some(now - 10)),
                (&dev.id, 0, 0, Some(now - 9 * 24 * HOUR))
            ]
        );
        s.prune_legacy_usage(now - 2 * HOUR).await.unwrap();
        let report = full_report(s, 0, 0).await.unwrap();
        let totals: Vec<i64> = report.iter().map(|r| r.requests_7d).collect();
        assert_eq!(totals, [5, 0]);
    }
);

conformance_test!(
    /// The report names the migrated client and its first-token instant, which is what
    /// allows removal.
    async fn legacy_report_shows_the_migrated_clients_first_token(s) {
        let account = s.account(T0).await;
        let credential = s.legacy(&account, "ops@acme.example", T0).await;
        let client = s.credential_client(&account, T0).await;
        s.mark_legacy_migrated(&credential.id, &client.id, None, &migrate(&credential.id, T0 + 1))
            .await
            .unwrap();
        s.record_token_use(&client.id, TokenSource::SettingsTest, T0 + 2).await.unwrap();
        let report = full_report(s, T0, T0).await.unwrap();
        assert_eq!(report.len(), 1);
        assert_eq!(report[0].state, LegacyState::Migrated);
        assert_eq!(report[0].client_id.as_ref(), Some(&client.id));
        assert_eq!(report[0].client_first_token_at, Some(T0 + 2));
        assert_eq!(report[0].client_first_tested_at, Some(T0 + 2));
        assert_eq!(report[0].client_first_integration_at, None);
    }
);

conformance_test!(
    /// Audit events list newest first, at most `limit`, only the credential's when one is
    /// given; an event without a mutation is stored as well.
    async fn audit_events_list_newest_first(s) {
        let account = s.account(T0).await;
        let ops = s.legacy(&account, "ops@acme.example", T0).await;
        let dev = s.legacy(&account, "dev@acme.example", T0 + 1).await;
        let refused = AuditEvent {
            detail: "not migrated yet".into(),
            ..audit(AuditAction::LegacyRemovalRefused, &ops.id, T0 + 2)
        };
        s.insert_audit_event(&refused).await.unwrap();
        let all: Vec<(i64, AuditAction)> = s
            .list_audit_events(&audit_query(None, 10))
            .await
            .unwrap()
            .into_iter()
            .map(|e| (e.at, e.action))
            .collect();
        assert_eq!(
            all,
            [
                (T0 + 2, AuditAction::LegacyRemovalRefused),
                (T0 + 1, AuditAction::LegacyCreated),
                (T0, AuditAction::LegacyCreated)
            ]
        );
        assert_eq!(
            s.list_audit_events(&audit_query(None, 1)).await.unwrap(),
            std::slice::from_ref(&refused)
        );
        let mine = s.list_audit_events(&audit_query(Some(&ops.id), 10)).await.unwrap();
        assert_eq!(mine.len(), 2);
        assert_eq!(mine[0], refused);
        assert_eq!(s.list_audit_events(&audit_query(Some(&dev.id), 10)).await.unwrap().len(), 1);
    }
);

conformance_test!(
    /// An import is one transaction: new credentials and replaced hashes are written with
    /// their changes and audit events together, and one failing row (here a live email
    /// taken) keeps none of them.
    async fn legacy_import_writes_all_or_nothing(s) {
        let account = s.account(T0).await;
        let existing = s.legacy(&account, "ops@acme.example", T0).await;
        let bcrypt = PasswordHash::parse("$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW").unwrap();
        let fresh = |email: &str| LegacyCredential {
            id: LegacyId::generate().unwrap(),
            email: Email::parse(email).unwrap(),
            password_hash: Some(bcrypt.clone()),
            created_at: T0 - 1000,
            ..existing.clone()
        };
        let new_one = fresh("new@acme.example");
        let taken = fresh("OPS@acme.example");
        let imported = |c: &LegacyCredential| audit(AuditAction::LegacyImported, &c.id, T0 + 5);
        let rehash = (existing.id.clone(), bcrypt.clone(), imported(&existing));
        let before = s.seq().await;
        let batch = [(new_one.clone(), imported(&new_one)), (taken.clone(), imported(&taken))];
        assert!(s.import_legacy_credentials(&batch, std::slice::from_ref(&rehash), &|_| {}).await.is_err());
        assert_eq!(s.seq().await, before, "no change recorded");
        assert_eq!(s.find_legacy_credential(&new_one.email).await.unwrap(), None);
        assert_eq!(s.find_legacy_credential(&existing.email).await.unwrap(), Some(existing.clone()));
        assert!(s.list_audit_events(&audit_query(None, 100)).await.unwrap().iter().all(|e| e.at != T0 + 5));

        let batch = [(new_one.clone(), imported(&new_one))];
        s.import_legacy_credentials(&batch, std::slice::from_ref(&rehash), &|_| {}).await.unwrap();
        assert_eq!(s.find_legacy_credential(&new_one.email).await.unwrap(), Some(new_one.clone()));
        let updated = s.find_legacy_credential(&existing.email).await.unwrap().unwrap();
        assert_eq!((updated.password_hash, updated.updated_at), (Some(bcrypt.clone()), T0 + 5));
        assert_eq!(
            s.changed_after(before).await,
            [
                (ChangeKind::LegacyCredential, new_one.id.to_string(), T0 + 5),
                (ChangeKind::LegacyCredential, existing.id.to_string(), T0 + 5)
            ]
        );
        assert_eq!(s.list_audit_events(&audit_query(Some(&new_one.id), 10)).await.unwrap(), [imported(&new_one)]);
    }
);

conformance_test!(
    /// A large import (more rows than one statement or one progress batch holds) writes
    /// every credential with one change and one audit event each, and reports its progress
    /// up to the total; the batched lookup by email then finds every live one, and no
    /// removed one.
    async fn large_import_is_written_whole_and_found_in_bulk(s) {
        let account = s.account(T0).await;
        let hash = PasswordHash::parse("$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW").unwrap();
        let batch: Vec<(LegacyCredential, AuditEvent)> = (0..2_345)
            .map(|i| {
                let c = LegacyCredential {
                    id: LegacyId::generate().unwrap(),
                    account_id: account.clone(),
                    email: Email::parse(&format!("user{i}@bulk.example")).unwrap(),
                    password_hash: Some(hash.clone()),
                    state: LegacyState::Active,
                    migrated_client_id: None,
                    created_at: T0 - 1000,
                    updated_at: T0,
                    migrated_at: None,
                    removed_at: None,
                    last_used_at: None,
                };
                let e = audit(AuditAction::LegacyImported, &c.id, T0 + 1);
                (c, e)
            })
            .collect();
        let before = s.seq().await;
        let reports = std::sync::Mutex::new(Vec::new());
        s.import_legacy_credentials(&batch, &[], &|n| reports.lock().unwrap().push(n))
            .await
            .unwrap();
        let reports = reports.into_inner().unwrap();
        assert!(reports.len() >= 3, "{reports:?}");
        assert!(reports.windows(2).all(|w| w[0] <= w[1]), "{reports:?}");
        assert_eq!(reports.last(), Some(&batch.len()));
        let changes = s.list_changes_after(before, 10_000).await.unwrap();
        assert_eq!(changes.len(), batch.len());
        assert!(changes.iter().all(|c| c.kind == ChangeKind::LegacyCredential && c.created_at == T0 + 1));
        let subjects: std::collections::HashSet<&str> = changes.iter().map(|c| c.subject.as_str()).collect();
        assert!(batch.iter().all(|(c, _)| subjects.contains(c.id.as_str())));
        assert_eq!(s.list_audit_events(&audit_query(None, 10_000)).await.unwrap().len(), batch.len());
        let last = &batch[batch.len() - 1];
        assert_eq!(s.list_audit_events(&audit_query(Some(&last.0.id), 10)).await.unwrap(), std::slice::from_ref(&last.1));

        // One of them migrated and removed: the bulk lookup skips it, as the single one does.
        let gone = &batch[7].0;
        let client = s.credential_client(&account, T0).await;
        assert!(s.mark_legacy_migrated(&gone.id, &client.id, None, &migrate(&gone.id, T0 + 2)).await.unwrap());
        assert!(s.mark_legacy_removed(&gone.id, &audit(AuditAction::LegacyRemoved, &gone.id, T0 + 3)).await.unwrap());
        let mut emails: Vec<Email> = batch.iter().map(|(c, _)| c.email.clone()).collect();
        emails.push(Email::parse("nobody@bulk.example").unwrap());
        let found = s.find_legacy_credentials(&emails).await.unwrap();
        assert_eq!(found.len(), batch.len() - 1);
        assert!(found.iter().all(|c| c.id != gone.id));
        let sample = found.iter().find(|c| c.id == last.0.id).unwrap();
        assert_eq!(sample, &last.0);
        assert_eq!(s.find_legacy_credentials(&[]).await.unwrap(), []);
    }
);
