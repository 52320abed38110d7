//! Single use: authorization codes (consumed only by the client they were issued to) and
//! refresh-token rotation (which reports what it found and decides nothing), alone and under
//! concurrent calls from two processes.

use tessera_core::store::{CodeConsumption, RevocationStore, Rotation};

use super::*;

/// Consumers released at once in the concurrency tests.
const RACERS: usize = 16;

conformance_test!(
    /// A code is consumed once: the first call answers `Consumed` with the stored record,
    /// every later call `AlreadyUsed` with it, an unknown code `NotFound`.
    async fn authorization_code_is_consumed_once(s) {
        let (app, user, account) = s.parties().await;
        let code = s.code(&app.id, &user, &account, T0).await;
        let first = s.consume_authorization_code(&code.code_hash, &app.id, T0 + 1).await.unwrap();
        assert_eq!(first, CodeConsumption::Consumed(code.clone()));
        for later in [T0 + 2, T0 + 3] {
            let again = s.consume_authorization_code(&code.code_hash, &app.id, later).await.unwrap();
            assert_eq!(again, CodeConsumption::AlreadyUsed(code.clone()));
        }
        let unknown = SecretHash::of(b"never issued");
        assert_eq!(
            s.consume_authorization_code(&unknown, &app.id, T0).await.unwrap(),
            CodeConsumption::NotFound
        );
    }
);

conformance_test!(
    /// Another client's code is `NotFound` and left unspent, however often it is presented:
    /// the client is part of the consuming statement (issue 12 item 7).
    async fn another_clients_code_is_neither_consumed_nor_replayed(s) {
        let (app, user, account) = s.parties().await;
        let other = s.application(T0).await;
        let code = s.code(&app.id, &user, &account, T0).await;
        for at in [T0 + 1, T0 + 2] {
            assert_eq!(
                s.consume_authorization_code(&code.code_hash, &other.id, at)
                    .await
                    .unwrap(),
                CodeConsumption::NotFound
            );
        }
        assert_eq!(
            s.consume_authorization_code(&code.code_hash, &app.id, T0 + 3)
                .await
                .unwrap(),
            CodeConsumption::Consumed(code)
        );
    }
);

conformance_test!(
    /// Consuming one code does not spend another code of the same client and user.
    async fn consuming_a_code_spends_only_that_code(s) {
        let (app, user, account) = s.parties().await;
        let one = s.code(&app.id, &user, &account, T0).await;
        let two = s.code(&app.id, &user, &account, T0).await;
        assert!(matches!(
            s.consume_authorization_code(&one.code_hash, &app.id, T0).await.unwrap(),
            CodeConsumption::Consumed(_)
        ));
        assert_eq!(
            s.consume_authorization_code(&two.code_hash, &app.id, T0).await.unwrap(),
            CodeConsumption::Consumed(two)
        );
    }
);

conformance_test!(
    /// Of many concurrent consumptions of one code, from two processes, exactly one gets
    /// `Consumed`; all others get `AlreadyUsed`.
    async fn concurrent_code_consumption_has_exactly_one_winner(s) {
        let (app, user, account) = s.parties().await;
        let code = s.code(&app.id, &user, &account, T0).await;
        let stores = [s.store.clone(), s.other_process().await];
        let (hash, client) = (code.code_hash, app.id.clone());
        let outcomes = race(&stores, RACERS, |_, store| {
            let client = client.clone();
            async move {
                store
                    .consume_authorization_code(&hash, &client, T0 + 1)
                    .await
                    .unwrap()
            }
        })
        .await;
        let won = outcomes
            .iter()
            .filter(|o| matches!(o, CodeConsumption::Consumed(_)))
            .count();
        let lost = outcomes
            .iter()
            .filter(|o| matches!(o, CodeConsumption::AlreadyUsed(_)))
            .count();
        assert_eq!((won, lost), (1, RACERS - 1), "{outcomes:?}");
        stores[1].close().await;
    }
);

conformance_test!(
    /// A token set revoked for a replayed code before the first exchange stored it stays
    /// revoked: the exchange's `insert_token_set` answers `false` and stores nothing.
    async fn token_set_revoked_for_a_replayed_code_is_never_stored_live(s) {
        let (app, user, account) = s.parties().await;
        let code = s.code(&app.id, &user, &account, T0).await;
        let before = s.seq().await;
        s.revoke_token_set_of_code(&code, T0 + 1).await.unwrap();
        assert_eq!(
            s.changed_after(before).await,
            [(ChangeKind::TokenSet, code.token_set_id.to_string(), T0 + 1)]
        );
        let set = TokenSet {
            id: code.token_set_id.clone(),
            client_id: app.id.clone(),
            user_id: user,
            account_id: account,
            scopes: code.scopes.clone(),
            auth_time: code.auth_time,
            dpop_jkt: None,
            created_at: T0 + 2,
            revoked_at: None,
        };
        let first = refresh_token(&set.id, T0 + 2);
        assert!(!s.insert_token_set(&set, &first).await.unwrap());
        assert_eq!(s.find_refresh_token(&first.token_hash).await.unwrap(), None);
        assert!(s
            .list_revoked_token_sets(T0)
            .await
            .unwrap()
            .contains(&code.token_set_id));
    }
);

conformance_test!(
    /// Token sets started at the same moment are each decided alone: a set whose client
    /// does not exist fails without spoiling the others (on PostgreSQL they share one
    /// statement, which then fails as a whole and runs again set by set), and of two starts
    /// with one id exactly one stores its set and its first refresh token.
    async fn concurrent_set_starts_are_each_decided_alone(s) {
        let (app, user, account) = s.parties().await;
        let ghost = ClientId::generate().unwrap();
        let twin = TokenSetId::generate().unwrap();
        let start = |id: TokenSetId, client_id: ClientId| {
            let set = TokenSet {
                id,
                client_id,
                user_id: user.clone(),
                account_id: account.clone(),
                scopes: scopes("books:read"),
                auth_time: Some(T0),
                dpop_jkt: None,
                created_at: T0,
                revoked_at: None,
            };
            let first = refresh_token(&set.id, T0);
            (set, first)
        };
        let stores = [s.store.clone()];
        // First half good, second half naming a client that does not exist.
        let starts: Vec<(TokenSet, RefreshToken)> = (0..2 * RACERS)
            .map(|i| {
                let client = if i < RACERS { app.id.clone() } else { ghost.clone() };
                start(TokenSetId::generate().unwrap(), client)
            })
            .collect();
        let outcomes = race(&stores, starts.len(), |i, store| {
            let (set, first) = starts[i].clone();
            async move { store.insert_token_set(&set, &first).await.ok() }
        })
        .await;
        for (i, ((set, first), outcome)) in starts.iter().zip(&outcomes).enumerate() {
            let found = s.find_refresh_token(&first.token_hash).await.unwrap();
            if i < RACERS {
                assert_eq!(*outcome, Some(true), "start {i}");
                assert_eq!(found.map(|(_, stored)| stored), Some(set.clone()), "start {i}");
            } else {
                assert_eq!(*outcome, None, "start {i} names no stored client");
                assert_eq!(found, None, "start {i} left its first token");
            }
        }
        // All with one id: one stores its set and its first token, the others nothing. So
        // that they meet in one batch, the store's writes are held until they are all
        // queued: every set start waits on a lock of the set table (PostgreSQL) or of the
        // database (SQLite), and other starts keep the batches in flight busy meanwhile.
        // On PostgreSQL they are started one at a time, each once the former waits, so that
        // each of the two batches in flight holds one (started together, a batch gathers
        // them all and leaves the other lane free for the twins).
        let mut holder = s.raw_connection().await;
        let hold = match s.backend {
            Backend::Sqlite => "BEGIN IMMEDIATE",
            Backend::Postgres => "BEGIN; LOCK TABLE token_set IN SHARE ROW EXCLUSIVE MODE",
        };
        sqlx::raw_sql(hold).execute(&mut holder).await.unwrap();
        let mut held = tokio::task::JoinSet::new();
        for waiting in 1..=4 {
            let (set, first) = start(TokenSetId::generate().unwrap(), app.id.clone());
            let store = s.store.clone();
            held.spawn(async move { store.insert_token_set(&set, &first).await.unwrap() });
            if s.backend == Backend::Postgres && waiting <= 2 {
                assert!(
                    s.wait_for_lock_waiters(waiting).await,
                    "set start {waiting} never waited for the lock"
                );
            }
        }
        let twins: Vec<(TokenSet, RefreshToken)> =
            (0..RACERS).map(|_| start(twin.clone(), app.id.clone())).collect();
        let queued = {
            let (store, twins) = (s.store.clone(), twins.clone());
            tokio::spawn(async move {
                race(&[store], twins.len(), |i, store| {
                    let (set, first) = twins[i].clone();
                    async move { store.insert_token_set(&set, &first).await.unwrap() }
                })
                .await
            })
        };
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        sqlx::query("COMMIT").execute(&mut holder).await.unwrap();
        assert!(held.join_all().await.into_iter().all(|started| started));
        let outcomes = queued.await.unwrap();
        assert_eq!(outcomes.iter().filter(|started| **started).count(), 1, "{outcomes:?}");
        let mut stored = 0;
        for (_, first) in &twins {
            stored += usize::from(s.find_refresh_token(&first.token_hash).await.unwrap().is_some());
        }
        assert_eq!(stored, 1, "one first token for the one set");
    }
);

conformance_test!(
    /// Revoking the token set of a replayed code after the exchange stored it revokes that
    /// set, and records its change only the first time.
    async fn revoking_the_set_of_a_replayed_code_revokes_the_stored_set_once(s) {
        let (app, user, account) = s.parties().await;
        let code = s.code(&app.id, &user, &account, T0).await;
        let set = TokenSet {
            id: code.token_set_id.clone(),
            client_id: app.id.clone(),
            user_id: user,
            account_id: account,
            scopes: code.scopes.clone(),
            auth_time: code.auth_time,
            dpop_jkt: None,
            created_at: T0,
            revoked_at: None,
        };
        let first = refresh_token(&set.id, T0);
        assert!(s.insert_token_set(&set, &first).await.unwrap());
        let before = s.seq().await;
        s.revoke_token_set_of_code(&code, T0 + 5).await.unwrap();
        s.revoke_token_set_of_code(&code, T0 + 6).await.unwrap();
        let (_, stored) = s.find_refresh_token(&first.token_hash).await.unwrap().unwrap();
        assert_eq!(stored.revoked_at, Some(T0 + 5));
        assert_eq!(
            s.changed_after(before).await,
            [(ChangeKind::TokenSet, set.id.to_string(), T0 + 5)]
        );
    }
);

conformance_test!(
    /// A stored token set and its first refresh token are found by the token's hash, as
    /// stored.
    async fn token_set_and_first_refresh_token_round_trip(s) {
        let (app, user, account) = s.parties().await;
        let (set, first) = s.token_set(&app.id, &user, &account, T0).await;
        assert_eq!(
            s.find_refresh_token(&first.token_hash).await.unwrap(),
            Some((first, set))
        );
        assert_eq!(s.find_refresh_token(&SecretHash::of(b"nope")).await.unwrap(), None);
    }
);

conformance_test!(
    /// Point reads at the same moment each answer their own key: on PostgreSQL they share
    /// one statement per kind of read (a token's set and a spent token's sealed answer
    /// here), and a key without a row, among keys with one, is still `None`.
    async fn concurrent_reads_each_find_their_own_row(s) {
        let (app, user, account) = s.parties().await;
        let mut live = Vec::new();
        for _ in 0..RACERS {
            live.push(s.token_set(&app.id, &user, &account, T0).await);
        }
        // Every third set's first token is spent, its sealed answer a byte string naming it.
        for (i, (set, first)) in live.iter().enumerate().filter(|(i, _)| i.is_multiple_of(3)) {
            let sealed = format!("sealed {i}").into_bytes();
            let next = refresh_token(&set.id, T0 + 1);
            let rotated = s.rotate_refresh_token(first, &next, Some(&sealed), T0 + 1).await;
            assert_eq!(rotated.unwrap(), Rotation::Rotated);
        }
        let stores = [s.store.clone()];
        let found = race(&stores, 3 * RACERS, |i, store| {
            let (set, first) = live[i % RACERS].clone();
            async move {
                match i / RACERS {
                    0 => {
                        let found = store.find_refresh_token(&first.token_hash).await.unwrap();
                        found.map(|(token, set)| (token.token_hash, set.id)) == Some((first.token_hash, set.id))
                    }
                    1 => {
                        let unknown = SecretHash::of(format!("never issued {i}").as_bytes());
                        store.find_refresh_token(&unknown).await.unwrap().is_none()
                    }
                    _ => {
                        let retry = store.refresh_retry(&first.token_hash).await.unwrap();
                        let expected = (i % RACERS).is_multiple_of(3)
                            .then(|| format!("sealed {}", i % RACERS).into_bytes());
                        retry == expected
                    }
                }
            }
        })
        .await;
        let wrong: Vec<usize> = (0..found.len()).filter(|&i| !found[i]).collect();
        assert!(wrong.is_empty(), "reads answered wrongly: {wrong:?}");
    }
);

conformance_test!(
    /// Rotation spends the old token (`used_at`), stores the new one, revokes the old
    /// access token until it would have expired, and records that revocation's change.
    async fn rotation_spends_the_old_token_and_revokes_its_access_token(s) {
        let (app, user, account) = s.parties().await;
        let (set, old) = s.token_set(&app.id, &user, &account, T0).await;
        let new = refresh_token(&set.id, T0 + 10);
        let before = s.seq().await;
        assert_eq!(
            s.rotate_refresh_token(&old, &new, None, T0 + 10).await.unwrap(),
            Rotation::Rotated
        );
        let (spent, _) = s.find_refresh_token(&old.token_hash).await.unwrap().unwrap();
        assert_eq!(spent.used_at, Some(T0 + 10));
        let (stored, live) = s.find_refresh_token(&new.token_hash).await.unwrap().unwrap();
        assert_eq!((stored, live.revoked_at), (new, None));
        assert!(s
            .list_revoked_tokens(T0 + 10)
            .await
            .unwrap()
            .contains(&(old.access_jti.clone(), old.access_expires_at)));
        assert_eq!(
            s.changed_after(before).await,
            [(ChangeKind::RevokedToken, old.access_jti.clone(), T0 + 10)]
        );
    }
);

conformance_test!(
    /// A refresh token rotates once: rotating it again answers `Reused`, stores nothing and
    /// leaves the set alone (revoking it is the core's decision).
    async fn refresh_token_rotates_once(s) {
        let (app, user, account) = s.parties().await;
        let (set, old) = s.token_set(&app.id, &user, &account, T0).await;
        let first = refresh_token(&set.id, T0 + 1);
        let replay = refresh_token(&set.id, T0 + 2);
        assert_eq!(s.rotate_refresh_token(&old, &first, None, T0 + 1).await.unwrap(), Rotation::Rotated);
        assert_eq!(s.rotate_refresh_token(&old, &replay, None, T0 + 2).await.unwrap(), Rotation::Reused);
        assert_eq!(s.find_refresh_token(&replay.token_hash).await.unwrap(), None);
        let (_, after) = s.find_refresh_token(&first.token_hash).await.unwrap().unwrap();
        assert_eq!(after.revoked_at, None);
    }
);

conformance_test!(
    /// A rotation keeps its sealed retry answer with the spent token, only when it rotated;
    /// pruning clears answers of tokens spent before the cut and keeps the rest.
    async fn refresh_rotation_keeps_the_retry_answer_until_pruned(s) {
        let (app, user, account) = s.parties().await;
        let (set, old) = s.token_set(&app.id, &user, &account, T0).await;
        let first = refresh_token(&set.id, T0 + 1);
        let replay = refresh_token(&set.id, T0 + 2);
        assert_eq!(s.refresh_retry(&old.token_hash).await.unwrap(), None, "unspent");
        assert_eq!(
            s.rotate_refresh_token(&old, &first, Some(b"sealed-1"), T0 + 1).await.unwrap(),
            Rotation::Rotated
        );
        assert_eq!(
            s.rotate_refresh_token(&old, &replay, Some(b"sealed-2"), T0 + 2).await.unwrap(),
            Rotation::Reused
        );
        assert_eq!(s.refresh_retry(&old.token_hash).await.unwrap().as_deref(), Some(&b"sealed-1"[..]));
        let next = refresh_token(&set.id, T0 + 20);
        s.rotate_refresh_token(&first, &next, Some(b"sealed-3"), T0 + 20).await.unwrap();
        s.prune_refresh_retries(T0 + 10).await.unwrap();
        assert_eq!(s.refresh_retry(&old.token_hash).await.unwrap(), None, "spent before the cut");
        assert_eq!(s.refresh_retry(&first.token_hash).await.unwrap().as_deref(), Some(&b"sealed-3"[..]));
        let (spent, _) = s.find_refresh_token(&old.token_hash).await.unwrap().unwrap();
        assert_eq!(spent.used_at, Some(T0 + 1), "pruning the answer keeps the token spent");
    }
);

conformance_test!(
    /// Pruning deletes tokens spent before its cut and every token of a set revoked before
    /// the other cut, with the set; a live set's unspent token, tokens spent later and sets
    /// revoked later stay, and rotation goes on as before.
    async fn pruning_deletes_spent_tokens_and_long_revoked_sets(s) {
        let (app, user, account) = s.parties().await;
        let (live, first) = s.token_set(&app.id, &user, &account, T0).await;
        let second = refresh_token(&live.id, T0 + 10);
        let third = refresh_token(&live.id, T0 + 20);
        s.rotate_refresh_token(&first, &second, None, T0 + 10).await.unwrap();
        s.rotate_refresh_token(&second, &third, None, T0 + 20).await.unwrap();
        let (old, old_token) = s.token_set(&app.id, &user, &account, T0).await;
        assert!(s.revoke_token_set(&old.id, T0 + 5).await.unwrap());
        let (recent, recent_token) = s.token_set(&app.id, &user, &account, T0).await;
        assert!(s.revoke_token_set(&recent.id, T0 + 50).await.unwrap());

        // first spent at T0 + 10, before the cut of T0 + 15; the old set's one token.
        assert_eq!(s.prune_refresh_tokens(T0 + 15, T0 + 30).await.unwrap(), 2);
        let found = |t: RefreshToken| async move { s.find_refresh_token(&t.token_hash).await.unwrap() };
        assert_eq!(found(first.clone()).await, None);
        assert_eq!(found(old_token.clone()).await, None);
        assert_eq!(found(second.clone()).await.unwrap().0.used_at, Some(T0 + 20));
        assert_eq!(found(recent_token.clone()).await.unwrap().1.revoked_at, Some(T0 + 50));
        assert_eq!(s.list_revoked_token_sets(T0).await.unwrap(), std::slice::from_ref(&recent.id));
        assert_eq!(s.prune_refresh_tokens(T0 + 15, T0 + 30).await.unwrap(), 0, "nothing left to prune");

        let fourth = refresh_token(&live.id, T0 + 60);
        assert_eq!(s.rotate_refresh_token(&third, &fourth, None, T0 + 60).await.unwrap(), Rotation::Rotated);
        let replay = refresh_token(&live.id, T0 + 61);
        assert_eq!(s.rotate_refresh_token(&first, &replay, None, T0 + 61).await.unwrap(), Rotation::NotFound);
    }
);

conformance_test!(
    /// Pruning more rows than one batch holds (500) takes them all.
    async fn pruning_goes_on_past_one_batch(s) {
        const CHAINS: usize = 8;
        const ROTATIONS: i64 = 70;
        let (app, user, account) = s.parties().await;
        let mut chains = Vec::new();
        for _ in 0..CHAINS {
            chains.push(s.token_set(&app.id, &user, &account, T0).await.1);
        }
        let chains = std::sync::Arc::new(chains);
        let stores = [s.store.clone()];
        let lasts = race(&stores, CHAINS, |i, store| {
            let chains = chains.clone();
            async move {
                let mut current = chains[i].clone();
                for n in 1..=ROTATIONS {
                    let next = refresh_token(&current.token_set_id, T0 + n);
                    let rotated = store.rotate_refresh_token(&current, &next, None, T0 + n).await.unwrap();
                    assert_eq!(rotated, Rotation::Rotated);
                    current = next;
                }
                current
            }
        })
        .await;
        let spent = (CHAINS as u64) * (ROTATIONS as u64);
        assert!(spent > 500);
        assert_eq!(s.prune_refresh_tokens(T0 + ROTATIONS + 1, T0).await.unwrap(), spent);
        for last in lasts {
            assert!(s.find_refresh_token(&last.token_hash).await.unwrap().is_some(), "the live tokens stay");
        }
    }
);

conformance_test!(
    /// Pruning takes revoked sets past one batch (500) and past one statement's parameters
    /// (256), each with its tokens, and leaves live sets and sets revoked later alone.
    async fn pruning_takes_revoked_sets_past_one_batch(s) {
        const REVOKED: usize = 600;
        let (app, user, account) = s.parties().await;
        let (live, live_token) = s.token_set(&app.id, &user, &account, T0).await;
        let revoked: Vec<(TokenSet, RefreshToken)> = (0..REVOKED)
            .map(|_| {
                let id = TokenSetId::generate().unwrap();
                let set = TokenSet { id: id.clone(), revoked_at: Some(T0), ..live.clone() };
                (set, refresh_token(&id, T0))
            })
            .collect();
        let revoked = std::sync::Arc::new(revoked);
        let stores = [s.store.clone()];
        let stored = race(&stores, REVOKED, |i, store| {
            let revoked = revoked.clone();
            async move { store.insert_token_set(&revoked[i].0, &revoked[i].1).await.unwrap() }
        })
        .await;
        assert!(stored.iter().all(|created| *created));
        let (later, later_token) = s.token_set(&app.id, &user, &account, T0).await;
        assert!(s.revoke_token_set(&later.id, T0 + 10).await.unwrap());

        assert_eq!(s.prune_refresh_tokens(T0, T0 + 1).await.unwrap(), REVOKED as u64);
        for (set, token) in revoked.iter() {
            assert_eq!(s.find_refresh_token(&token.token_hash).await.unwrap(), None);
            let again = refresh_token(&set.id, T0 + 2);
            assert!(s.insert_token_set(set, &again).await.unwrap(), "set {} was deleted", set.id);
        }
        for token in [&live_token, &later_token] {
            assert!(s.find_refresh_token(&token.token_hash).await.unwrap().is_some());
        }
    }
);

conformance_test!(
    /// A refresh token of a revoked token set never rotates, even if it is unused: the
    /// rotation answers `SetRevoked`; an unknown token answers `NotFound`.
    async fn refresh_token_of_a_revoked_set_does_not_rotate(s) {
        let (app, user, account) = s.parties().await;
        let (set, old) = s.token_set(&app.id, &user, &account, T0).await;
        assert!(s.revoke_token_set(&set.id, T0 + 1).await.unwrap());
        let new = refresh_token(&set.id, T0 + 2);
        assert_eq!(s.rotate_refresh_token(&old, &new, None, T0 + 2).await.unwrap(), Rotation::SetRevoked);
        assert_eq!(s.find_refresh_token(&new.token_hash).await.unwrap(), None);
        let (unused, _) = s.find_refresh_token(&old.token_hash).await.unwrap().unwrap();
        assert_eq!(unused.used_at, None);
        let unknown = refresh_token(&set.id, T0);
        assert_eq!(
            s.rotate_refresh_token(&unknown, &new, None, T0 + 3).await.unwrap(),
            Rotation::NotFound
        );
    }
);

conformance_test!(
    /// Of many concurrent rotations of one refresh token, from two processes, exactly one
    /// answers `Rotated`, every other `Reused`, and only the winner's new token is stored.
    async fn concurrent_rotation_has_exactly_one_winner(s) {
        let (app, user, account) = s.parties().await;
        let (set, old) = s.token_set(&app.id, &user, &account, T0).await;
        let news: Vec<RefreshToken> = (0..RACERS).map(|_| refresh_token(&set.id, T0 + 1)).collect();
        let stores = [s.store.clone(), s.other_process().await];
        let outcomes = race(&stores, RACERS, |i, store| {
            let (old, new) = (old.clone(), news[i].clone());
            async move { store.rotate_refresh_token(&old, &new, None, T0 + 1).await.unwrap() }
        })
        .await;
        let winners: Vec<usize> = (0..RACERS).filter(|&i| outcomes[i] == Rotation::Rotated).collect();
        assert_eq!(winners.len(), 1, "{outcomes:?}");
        assert!(
            outcomes.iter().filter(|o| **o == Rotation::Reused).count() == RACERS - 1,
            "{outcomes:?}"
        );
        for (i, new) in news.iter().enumerate() {
            let stored = s.find_refresh_token(&new.token_hash).await.unwrap().is_some();
            assert_eq!(stored, winners == [i], "new token {i}");
        }
        stores[1].close().await;
    }
);

conformance_test!(
    /// A pushed authorization request is stored as pushed, found by its hash, and spent by
    /// exactly one of many concurrent authorizations from two processes; pruning forgets
    /// the expired ones only.
    async fn a_pushed_request_is_spent_once(s) {
        let (app, _, _) = s.parties().await;
        let pushed = tessera_core::store::PushedRequest {
            id_hash: SecretHash::of(random_suffix().as_bytes()),
            client_id: app.id.clone(),
            params: "response_type=code&state=%E2%82%AC".into(),
            created_at: T0,
            expires_at: T0 + 60,
            used_at: None,
        };
        s.insert_pushed_request(&pushed).await.unwrap();
        assert_eq!(s.find_pushed_request(&pushed.id_hash).await.unwrap(), Some(pushed.clone()));
        let stores = [s.store.clone(), s.other_process().await];
        let hash = pushed.id_hash;
        let outcomes = race(&stores, RACERS, |_, store| async move {
            store.spend_pushed_request(&hash, T0 + 1).await.unwrap()
        })
        .await;
        assert_eq!(outcomes.iter().filter(|won| **won).count(), 1, "{outcomes:?}");
        let spent = s.find_pushed_request(&hash).await.unwrap().unwrap();
        assert_eq!(spent.used_at, Some(T0 + 1));
        s.prune_pushed_requests(T0 + 60).await.unwrap();
        assert!(s.find_pushed_request(&hash).await.unwrap().is_some(), "not expired yet");
        s.prune_pushed_requests(T0 + 61).await.unwrap();
        assert_eq!(s.find_pushed_request(&hash).await.unwrap(), None);
        stores[1].close().await;
    }
);

conformance_test!(
    /// A client assertion's `jti` is recorded once per client: of concurrent recordings
    /// from two processes exactly one succeeds; another client may use the same `jti`;
    /// pruning forgets it after its expiry, never before.
    async fn a_client_assertion_jti_is_recorded_once(s) {
        let (app, _, _) = s.parties().await;
        let other = s.application(T0).await;
        let stores = [s.store.clone(), s.other_process().await];
        let client = app.id.clone();
        let outcomes = race(&stores, RACERS, |_, store| {
            let client = client.clone();
            async move {
                store
                    .record_client_assertion(&client, "jti-1", T0 + 60)
                    .await
                    .unwrap()
            }
        })
        .await;
        assert_eq!(outcomes.iter().filter(|won| **won).count(), 1, "{outcomes:?}");
        assert!(s.record_client_assertion(&other.id, "jti-1", T0 + 60).await.unwrap());
        s.prune_client_assertions(T0 + 60).await.unwrap();
        assert!(!s.record_client_assertion(&app.id, "jti-1", T0 + 60).await.unwrap());
        s.prune_client_assertions(T0 + 61).await.unwrap();
        assert!(s.record_client_assertion(&app.id, "jti-1", T0 + 120).await.unwrap());
        stores[1].close().await;
    }
);

conformance_test!(
    /// A device authorization round-trips by either code, a user code is taken once, the
    /// user's decision lands once, and an approval is spent by exactly one of many
    /// concurrent polls from two processes, only by its own client.
    async fn a_device_authorization_is_decided_once_and_spent_once(s) {
        use tessera_core::store::{DeviceApproval, DeviceAuthorization, DeviceStatus};
        let (app, user, account) = s.parties().await;
        let other = s.application(T0).await;
        let device = DeviceAuthorization {
            device_code_hash: SecretHash::of(random_suffix().as_bytes()),
            user_code_hash: SecretHash::of(random_suffix().as_bytes()),
            client_id: app.id.clone(),
            scopes: scopes("books:read"),
            status: DeviceStatus::Pending,
            token_set_id: TokenSetId::generate().unwrap(),
            interval: 5,
            last_polled_at: None,
            created_at: T0,
            expires_at: T0 + 600,
            used_at: None,
        };
        assert!(s.insert_device_authorization(&device).await.unwrap());
        let clash = DeviceAuthorization {
            device_code_hash: SecretHash::of(random_suffix().as_bytes()),
            ..device.clone()
        };
        assert!(!s.insert_device_authorization(&clash).await.unwrap(), "the user code is taken");
        let found = s.find_device_authorization(&device.device_code_hash).await.unwrap();
        assert_eq!(found, Some(device.clone()));
        let by_user = s.find_device_authorization_by_user_code(&device.user_code_hash).await;
        assert_eq!(by_user.unwrap(), Some(device.clone()));
        s.record_device_poll(&device.device_code_hash, T0 + 3, 10).await.unwrap();
        let polled = s.find_device_authorization(&device.device_code_hash).await.unwrap().unwrap();
        assert_eq!((polled.last_polled_at, polled.interval), (Some(T0 + 3), 10));
        // Not before a decision; after the expiry, no decision.
        let hash = device.device_code_hash;
        assert!(!s.spend_device_authorization(&hash, &app.id, T0 + 4).await.unwrap());
        assert!(!s.decide_device_authorization(&device.user_code_hash, None, T0 + 600).await.unwrap());
        let approval = DeviceApproval {
            user_id: user.clone(),
            account_id: account.clone(),
            scopes: scopes("books:read"),
            auth_time: T0 + 5,
        };
        assert!(s.decide_device_authorization(&device.user_code_hash, Some(&approval), T0 + 6).await.unwrap());
        assert!(!s.decide_device_authorization(&device.user_code_hash, None, T0 + 7).await.unwrap(), "decided once");
        let decided = s.find_device_authorization(&hash).await.unwrap().unwrap();
        assert_eq!(decided.status, DeviceStatus::Approved(approval));
        assert!(!s.spend_device_authorization(&hash, &other.id, T0 + 8).await.unwrap(), "another client's");
        let stores = [s.store.clone(), s.other_process().await];
        let client = app.id.clone();
        let outcomes = race(&stores, RACERS, |_, store| {
            let client = client.clone();
            async move { store.spend_device_authorization(&hash, &client, T0 + 9).await.unwrap() }
        })
        .await;
        assert_eq!(outcomes.iter().filter(|won| **won).count(), 1, "{outcomes:?}");
        s.prune_device_authorizations(T0 + 600).await.unwrap();
        assert!(s.find_device_authorization(&hash).await.unwrap().is_some(), "not expired yet");
        s.prune_device_authorizations(T0 + 601).await.unwrap();
        assert_eq!(s.find_device_authorization(&hash).await.unwrap(), None);
        stores[1].close().await;
    }
);

conformance_test!(
    /// A DPoP proof is recorded once: of concurrent recordings from two processes exactly
    /// one succeeds; pruning forgets it after its expiry, never before.
    async fn a_dpop_proof_is_recorded_once(s) {
        let stores = [s.store.clone(), s.other_process().await];
        let proof = SecretHash::of(random_suffix().as_bytes());
        let outcomes = race(&stores, RACERS, |_, store| async move {
            store.record_dpop_proof(&proof, T0 + 61).await.unwrap()
        })
        .await;
        assert_eq!(outcomes.iter().filter(|won| **won).count(), 1, "{outcomes:?}");
        s.prune_dpop_proofs(T0 + 61).await.unwrap();
        assert!(!s.record_dpop_proof(&proof, T0 + 61).await.unwrap(), "kept until its expiry");
        s.prune_dpop_proofs(T0 + 62).await.unwrap();
        assert!(s.record_dpop_proof(&proof, T0 + 61).await.unwrap(), "forgotten after");
        stores[1].close().await;
    }
);

conformance_test!(
    /// A write that fails part-way (a new token set whose first refresh token's key is
    /// already stored: its set row is written, then the token's insert fails) leaves nothing
    /// of itself, and the writes running at the same time (on SQLite, in the same group
    /// commit) all stand.
    async fn a_write_failing_part_way_leaves_nothing_and_spoils_no_other(s) {
        let (app, user, account) = s.parties().await;
        let mut live = Vec::new();
        for _ in 0..RACERS {
            live.push(s.token_set(&app.id, &user, &account, T0).await);
        }
        let news: Vec<RefreshToken> =
            live.iter().map(|(set, _)| refresh_token(&set.id, T0 + 1)).collect();
        let clashing: Vec<(TokenSet, RefreshToken)> = live
            .iter()
            .map(|(set, first)| {
                let id = TokenSetId::generate().unwrap();
                let token = RefreshToken { token_set_id: id.clone(), ..first.clone() };
                (TokenSet { id, ..set.clone() }, token)
            })
            .collect();
        let stores = [s.store.clone()];
        let outcomes = race(&stores, 2 * RACERS, |i, store| {
            let (old, new) = (live[i / 2].1.clone(), news[i / 2].clone());
            let (set, token) = clashing[i / 2].clone();
            async move {
                if i % 2 == 0 {
                    Some(store.rotate_refresh_token(&old, &new, None, T0 + 1).await.unwrap())
                } else {
                    assert!(store.insert_token_set(&set, &token).await.is_err(), "the key clashes");
                    None
                }
            }
        })
        .await;
        for (i, new) in news.iter().enumerate() {
            assert_eq!(outcomes[2 * i], Some(Rotation::Rotated), "rotation {i}");
            let (stored, _) = s.find_refresh_token(&new.token_hash).await.unwrap().expect("new token");
            assert_eq!(stored.token_set_id, live[i].0.id);
            let (old, _) = s.find_refresh_token(&live[i].1.token_hash).await.unwrap().unwrap();
            assert_eq!((old.used_at, old.token_set_id.clone()), (Some(T0 + 1), live[i].0.id.clone()));
        }
        for (set, _) in &clashing {
            // Not even the set row stayed: storing the set again creates it.
            let first = refresh_token(&set.id, T0 + 2);
            assert!(s.insert_token_set(set, &first).await.unwrap(), "set {} was left behind", set.id);
        }
    }
);

conformance_test!(
    /// A token spent by another transaction while its rotation waits for the row is not
    /// spent again: the rotation finds it used once that transaction commits, and reports
    /// `Reused`. On PostgreSQL the rotation's batch statement waits on the row lock (checked
    /// below) and then re-checks the row's new version; on SQLite the writer waits for the
    /// database's write lock.
    async fn a_token_spent_while_its_batch_waits_is_not_spent_again(s) {
        let (app, user, account) = s.parties().await;
        let (set, old) = s.token_set(&app.id, &user, &account, T0).await;
        let mut other = s.raw_connection().await;
        let begin = match s.backend {
            Backend::Sqlite => "BEGIN IMMEDIATE",
            Backend::Postgres => "BEGIN",
        };
        sqlx::query(begin).execute(&mut other).await.unwrap();
        sqlx::query("UPDATE refresh_token SET used_at = $1 WHERE token_hash = $2")
            .bind(T0 + 1)
            .bind(old.token_hash.0.to_vec())
            .execute(&mut other)
            .await
            .unwrap();
        let new = refresh_token(&set.id, T0 + 2);
        let rotation = {
            let (store, old, new) = (s.store.clone(), old.clone(), new.clone());
            tokio::spawn(async move { store.rotate_refresh_token(&old, &new, None, T0 + 2).await })
        };
        match s.backend {
            Backend::Postgres => {
                assert!(
                    s.wait_for_lock_waiters(1).await,
                    "the rotation never waited for the row"
                );
            }
            // The writer waits in SQLite's busy handler, which no query shows; it keeps
            // waiting for seconds, so it is there well before this commit.
            Backend::Sqlite => tokio::time::sleep(std::time::Duration::from_millis(200)).await,
        }
        sqlx::query("COMMIT").execute(&mut other).await.unwrap();
        assert_eq!(rotation.await.unwrap().unwrap(), Rotation::Reused);
        let (spent, _) = s.find_refresh_token(&old.token_hash).await.unwrap().unwrap();
        assert_eq!(spent.used_at, Some(T0 + 1), "the first spend stands");
        assert_eq!(s.find_refresh_token(&new.token_hash).await.unwrap(), None);
    }
);

conformance_test!(
    /// A rotation that fails part-way (its old token is spent, then its new token's key
    /// turns out stored already) leaves its old token unspent, and the rotations running at
    /// the same time all stand: on PostgreSQL they share batches with it (one statement for
    /// many rotations, which fails as a whole and is then run rotation by rotation), on
    /// SQLite a group commit.
    async fn a_rotation_failing_part_way_spoils_no_other_rotation(s) {
        let (app, user, account) = s.parties().await;
        let mut live = Vec::new();
        for _ in 0..2 * RACERS {
            live.push(s.token_set(&app.id, &user, &account, T0).await);
        }
        // Even: an ordinary rotation. Odd: the new token has the key of the previous set's
        // first token, which stays stored (spent or not).
        let news: Vec<RefreshToken> = live
            .iter()
            .enumerate()
            .map(|(i, (set, _))| {
                let new = refresh_token(&set.id, T0 + 1);
                match i % 2 {
                    0 => new,
                    _ => RefreshToken { token_hash: live[i - 1].1.token_hash, ..new },
                }
            })
            .collect();
        let stores = [s.store.clone()];
        let outcomes = race(&stores, 2 * RACERS, |i, store| {
            let (old, new) = (live[i].1.clone(), news[i].clone());
            async move { store.rotate_refresh_token(&old, &new, None, T0 + 1).await.ok() }
        })
        .await;
        for (i, ((set, first), outcome)) in live.iter().zip(&outcomes).enumerate() {
            let (old, _) = s.find_refresh_token(&first.token_hash).await.unwrap().unwrap();
            if i % 2 == 0 {
                assert_eq!(*outcome, Some(Rotation::Rotated), "rotation {i}");
                assert_eq!(old.used_at, Some(T0 + 1), "rotation {i}");
                let (new, _) = s.find_refresh_token(&news[i].token_hash).await.unwrap().unwrap();
                assert_eq!(new.token_set_id, set.id);
            } else {
                assert_eq!(*outcome, None, "rotation {i} cannot store its new token");
                assert_eq!(old.used_at, None, "rotation {i} left its old token spent");
            }
        }
    }
);
