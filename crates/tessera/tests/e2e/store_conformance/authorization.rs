//! Consents and token sets beyond single use: the consent upsert, revoking a token set,
//! de-authorizing an application, and what the user sees.

use tessera_core::store::{CodeConsumption, Consent, Rotation};

use super::*;

fn consent(user: &UserId, client: &ClientId, account: &AccountId, raw: &str, at: i64) -> Consent {
    Consent {
        user_id: user.clone(),
        client_id: client.clone(),
        account_id: account.clone(),
        scopes: scopes(raw),
        updated_at: at,
    }
}

conformance_test!(
    /// A consent is one row per (user, client, account): upserting it again replaces its
    /// scopes and time; other accounts and other users keep their own.
    async fn consent_upsert_replaces_the_row_of_its_user_client_and_account(s) {
        let (app, user, account) = s.parties().await;
        let other_account = s.account(T0).await;
        let other_user = s.user(&[&account]).await;
        s.upsert_consent(&consent(&user, &app.id, &account, "books:read", T0)).await.unwrap();
        let wider = consent(&user, &app.id, &account, "books:read account:read", T0 + 5);
        s.upsert_consent(&wider).await.unwrap();
        let elsewhere = consent(&user, &app.id, &other_account, "account:read", T0 + 6);
        s.upsert_consent(&elsewhere).await.unwrap();
        s.upsert_consent(&consent(&other_user, &app.id, &account, "books:read", T0 + 7))
            .await
            .unwrap();
        let mut mine = s.list_consents(&user, &app.id).await.unwrap();
        mine.sort_by_key(|c| c.updated_at);
        assert_eq!(mine, [wider, elsewhere]);
        let other_app = s.application(T0).await;
        assert_eq!(s.list_consents(&user, &other_app.id).await.unwrap(), []);
    }
);

conformance_test!(
    /// `revoke_token_set` answers `true` once, records one `TokenSet` change, and `false`
    /// for a set already revoked or unknown; a revoked set's refresh tokens do not rotate.
    async fn token_set_revocation_is_conditional_and_recorded_once(s) {
        let (app, user, account) = s.parties().await;
        let (set, refresh) = s.token_set(&app.id, &user, &account, T0).await;
        let before = s.seq().await;
        assert!(s.revoke_token_set(&set.id, T0 + 3).await.unwrap());
        assert!(!s.revoke_token_set(&set.id, T0 + 4).await.unwrap());
        let unknown = TokenSetId::generate().unwrap();
        assert!(!s.revoke_token_set(&unknown, T0 + 4).await.unwrap());
        assert_eq!(
            s.changed_after(before).await,
            [(ChangeKind::TokenSet, set.id.to_string(), T0 + 3)]
        );
        let (_, stored) = s.find_refresh_token(&refresh.token_hash).await.unwrap().unwrap();
        assert_eq!(stored.revoked_at, Some(T0 + 3));
        let new = refresh_token(&set.id, T0 + 5);
        assert_eq!(s.rotate_refresh_token(&refresh, &new, None, T0 + 5).await.unwrap(), Rotation::SetRevoked);
    }
);

conformance_test!(
    /// `list_revoked_token_sets(since)` lists the sets revoked strictly after `since`, and
    /// no live set.
    async fn revoked_token_sets_are_listed_after_an_instant(s) {
        let (app, user, account) = s.parties().await;
        let (early, _) = s.token_set(&app.id, &user, &account, T0).await;
        let (late, _) = s.token_set(&app.id, &user, &account, T0).await;
        let (_live, _) = s.token_set(&app.id, &user, &account, T0).await;
        s.revoke_token_set(&early.id, T0 + 10).await.unwrap();
        s.revoke_token_set(&late.id, T0 + 20).await.unwrap();
        let mut all = s.list_revoked_token_sets(T0).await.unwrap();
        all.sort();
        let mut expected = vec![early.id.clone(), late.id.clone()];
        expected.sort();
        assert_eq!(all, expected);
        assert_eq!(s.list_revoked_token_sets(T0 + 10).await.unwrap(), [late.id]);
        assert_eq!(s.list_revoked_token_sets(T0 + 20).await.unwrap(), []);
    }
);

conformance_test!(
    /// A user's authorizations come newest consent first, with the client's name and the
    /// creation of the newest refresh token of the pair as `last_used_at` (`None`: unused).
    async fn authorizations_list_newest_first_with_last_use(s) {
        let (used, user, account) = s.parties().await;
        let unused = s.application(T0).await;
        s.upsert_consent(&consent(&user, &used.id, &account, "books:read", T0 + 1)).await.unwrap();
        s.upsert_consent(&consent(&user, &unused.id, &account, "books:read", T0 + 2)).await.unwrap();
        let (set, first) = s.token_set(&used.id, &user, &account, T0 + 3).await;
        let next = refresh_token(&set.id, T0 + 40);
        s.rotate_refresh_token(&first, &next, None, T0 + 40).await.unwrap();
        // Another user's use of the same application is not this user's.
        let stranger = s.user(&[&account]).await;
        s.token_set(&used.id, &stranger, &account, T0 + 90).await;
        let list = s.list_authorizations(&user).await.unwrap();
        let seen: Vec<(&ClientId, &str, Option<i64>)> = list
            .iter()
            .map(|a| (&a.client_id, a.client_name.as_str(), a.last_used_at))
            .collect();
        assert_eq!(
            seen,
            [
                (&unused.id, unused.name.as_str(), None),
                (&used.id, used.name.as_str(), Some(T0 + 40))
            ]
        );
        assert_eq!(list[1].updated_at, T0 + 1);
        assert_eq!(list[1].scopes, scopes("books:read"));
    }
);

conformance_test!(
    /// De-authorizing forgets the user's consents for the client and revokes exactly the
    /// pair's live token sets (returned, one `TokenSet` change each); other users' and
    /// other clients' sets live on.
    async fn deauthorize_revokes_only_the_pairs_live_sets(s) {
        let (app, user, account) = s.parties().await;
        let other_app = s.application(T0).await;
        let other_user = s.user(&[&account]).await;
        s.upsert_consent(&consent(&user, &app.id, &account, "books:read", T0)).await.unwrap();
        s.upsert_consent(&consent(&user, &other_app.id, &account, "books:read", T0)).await.unwrap();
        let (a, _) = s.token_set(&app.id, &user, &account, T0).await;
        let (b, _) = s.token_set(&app.id, &user, &account, T0).await;
        let (dead, _) = s.token_set(&app.id, &user, &account, T0).await;
        s.revoke_token_set(&dead.id, T0 + 1).await.unwrap();
        let (theirs, theirs_refresh) = s.token_set(&app.id, &other_user, &account, T0).await;
        let (elsewhere, elsewhere_refresh) = s.token_set(&other_app.id, &user, &account, T0).await;
        let before = s.seq().await;
        let mut revoked = s.deauthorize(&user, &app.id, None, T0 + 9).await.unwrap();
        revoked.sort();
        let mut expected = vec![a.id.clone(), b.id.clone()];
        expected.sort();
        assert_eq!(revoked, expected);
        let mut changed: Vec<String> = s
            .changes_after(before)
            .await
            .into_iter()
            .map(|c| {
                assert_eq!((c.kind, c.created_at), (ChangeKind::TokenSet, T0 + 9));
                c.subject
            })
            .collect();
        changed.sort();
        assert_eq!(changed, expected.iter().map(|i| i.to_string()).collect::<Vec<_>>());
        assert_eq!(s.list_consents(&user, &app.id).await.unwrap(), []);
        assert_eq!(s.list_consents(&user, &other_app.id).await.unwrap().len(), 1);
        for (refresh, set) in [(theirs_refresh, theirs), (elsewhere_refresh, elsewhere)] {
            let (_, stored) = s.find_refresh_token(&refresh.token_hash).await.unwrap().unwrap();
            assert_eq!(stored.revoked_at, None, "{:?}", set.id);
        }
    }
);

conformance_test!(
    /// The same application authorized for two of the user's accounts is two rows, each
    /// with its own last use; de-authorizing one account's leaves the other's consent and
    /// token sets alive.
    async fn deauthorizing_one_account_keeps_the_others_authorization(s) {
        let (app, _, first) = s.parties().await;
        let second = s.account(T0).await;
        let user = s.user(&[&first, &second]).await;
        s.upsert_consent(&consent(&user, &app.id, &first, "books:read", T0)).await.unwrap();
        s.upsert_consent(&consent(&user, &app.id, &second, "books:read", T0 + 1)).await.unwrap();
        let (gone, _) = s.token_set(&app.id, &user, &first, T0 + 2).await;
        let (kept, kept_refresh) = s.token_set(&app.id, &user, &second, T0 + 5).await;
        let list = s.list_authorizations(&user).await.unwrap();
        let rows: Vec<(&AccountId, Option<i64>)> =
            list.iter().map(|a| (&a.account_id, a.last_used_at)).collect();
        assert_eq!(rows, [(&second, Some(T0 + 5)), (&first, Some(T0 + 2))]);
        let revoked = s.deauthorize(&user, &app.id, Some(&first), T0 + 9).await.unwrap();
        assert_eq!(revoked, [gone.id]);
        let left = s.list_consents(&user, &app.id).await.unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].account_id, second);
        let (_, stored) = s.find_refresh_token(&kept_refresh.token_hash).await.unwrap().unwrap();
        assert_eq!((stored.id, stored.revoked_at), (kept.id, None));
    }
);

conformance_test!(
    /// Pruning deletes the codes that expired before the instant, used or not, and keeps
    /// the rest usable.
    async fn pruning_codes_deletes_only_expired_ones(s) {
        let (app, user, account) = s.parties().await;
        let expired = s.code(&app.id, &user, &account, T0).await;
        let used = s.code(&app.id, &user, &account, T0).await;
        let consumed = s.consume_authorization_code(&used.code_hash, &app.id, T0 + 1).await.unwrap();
        assert!(matches!(consumed, CodeConsumption::Consumed(_)));
        let live = s.code(&app.id, &user, &account, T0 + 1).await;
        s.prune_authorization_codes(expired.expires_at + 1).await.unwrap();
        for gone in [&expired, &used] {
            let found = s.consume_authorization_code(&gone.code_hash, &app.id, T0 + 2).await.unwrap();
            assert_eq!(found, CodeConsumption::NotFound);
        }
        let found = s.consume_authorization_code(&live.code_hash, &app.id, T0 + 2).await.unwrap();
        assert!(matches!(found, CodeConsumption::Consumed(_)));
    }
);
