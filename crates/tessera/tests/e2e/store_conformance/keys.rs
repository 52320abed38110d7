//! Signing keys and revoked access tokens.

use tessera_core::store::{KeyStore, RevocationStore};

use super::*;

conformance_test!(
    /// Signing keys list oldest activation first (then oldest creation), each as stored;
    /// every insert records a `SigningKey` change.
    async fn signing_keys_list_by_activation(s) {
        let later = signing_key(T0, T0 + 200);
        let first = signing_key(T0, T0 + 100);
        let same_time_newer = signing_key(T0 + 1, T0 + 100);
        let before = s.seq().await;
        for key in [&later, &same_time_newer, &first] {
            s.insert_signing_key(key, T0 + 2).await.unwrap();
        }
        assert_eq!(
            s.list_signing_keys().await.unwrap(),
            [first.clone(), same_time_newer.clone(), later.clone()]
        );
        let kinds: Vec<(ChangeKind, String)> = s
            .changed_after(before)
            .await
            .into_iter()
            .map(|(kind, subject, _)| (kind, subject))
            .collect();
        assert_eq!(
            kinds,
            [later, same_time_newer, first].map(|k| (ChangeKind::SigningKey, k.kid.to_string()))
        );
    }
);

conformance_test!(
    /// Deleting keys removes exactly those keys and records a `SigningKey` change for each;
    /// a kid that does not exist is no error.
    async fn signing_key_delete_removes_only_the_given_keys(s) {
        let keep = signing_key(T0, T0);
        let drop_one = signing_key(T0, T0 + 1);
        let drop_two = signing_key(T0, T0 + 2);
        for key in [&keep, &drop_one, &drop_two] {
            s.insert_signing_key(key, T0).await.unwrap();
        }
        let before = s.seq().await;
        s.delete_signing_keys(&[drop_one.kid.clone(), drop_two.kid.clone()], T0 + 9)
            .await
            .unwrap();
        assert_eq!(s.list_signing_keys().await.unwrap(), [keep]);
        assert_eq!(
            s.changed_after(before).await,
            [
                (ChangeKind::SigningKey, drop_one.kid.to_string(), T0 + 9),
                (ChangeKind::SigningKey, drop_two.kid.to_string(), T0 + 9)
            ]
        );
        s.delete_signing_keys(&[Kid::generate().unwrap()], T0 + 10).await.unwrap();
    }
);

conformance_test!(
    /// A revoked access token is listed until it expires (revoking it twice is no error),
    /// every revocation records a `RevokedToken` change, and pruning forgets exactly the
    /// expired ones.
    async fn revoked_tokens_are_listed_until_they_expire(s) {
        let before = s.seq().await;
        s.insert_revoked_token("at_short", T0 + 10, T0).await.unwrap();
        s.insert_revoked_token("at_long", T0 + 100, T0).await.unwrap();
        s.insert_revoked_token("at_long", T0 + 100, T0 + 1).await.unwrap();
        let listed = |now| async move {
            let mut l = s.list_revoked_tokens(now).await.unwrap();
            l.sort();
            l
        };
        assert_eq!(
            listed(T0 + 9).await,
            [("at_long".to_owned(), T0 + 100), ("at_short".to_owned(), T0 + 10)]
        );
        assert_eq!(listed(T0 + 10).await, [("at_long".to_owned(), T0 + 100)]);
        assert_eq!(
            s.changed_after(before).await,
            [
                (ChangeKind::RevokedToken, "at_short".to_owned(), T0),
                (ChangeKind::RevokedToken, "at_long".to_owned(), T0),
                (ChangeKind::RevokedToken, "at_long".to_owned(), T0 + 1)
            ]
        );
        s.prune_revoked_tokens(T0 + 10).await.unwrap();
        assert_eq!(listed(T0).await, [("at_long".to_owned(), T0 + 100)]);
    }
);

conformance_test!(
    /// The expiries of revoked jtis are read by id, in one query for many; a jti never
    /// revoked, or whose revocation was pruned, is absent.
    async fn revoked_token_expiries_are_read_by_jti(s) {
        s.insert_revoked_token("at_short", T0 + 10, T0).await.unwrap();
        s.insert_revoked_token("at_long", T0 + 100, T0).await.unwrap();
        let asked = ["at_long", "at_short", "at_never"].map(str::to_owned);
        let mut found = s.revoked_token_expiries(&asked).await.unwrap();
        found.sort();
        assert_eq!(found, [("at_long".to_owned(), T0 + 100), ("at_short".to_owned(), T0 + 10)]);
        s.prune_revoked_tokens(T0 + 10).await.unwrap();
        assert_eq!(s.revoked_token_expiries(&asked).await.unwrap(), [("at_long".to_owned(), T0 + 100)]);
        assert_eq!(s.revoked_token_expiries(&[]).await.unwrap(), []);
    }
);
