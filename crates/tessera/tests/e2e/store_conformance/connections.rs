//! The store's pooled connections: ones the server ended are noticed and replaced, so the
//! store recovers by itself (PostgreSQL; a SQLite file cannot end a connection).

use super::*;

/// Reads tried after the server ended every connection, at most. The pools check a
/// connection before handing it out, so none should fail; a pool that did not would fail
/// once per connection it holds.
const ATTEMPTS: usize = 40;

conformance_test!(
    /// After the server ends every connection of the store (a restart, a failover, an
    /// administrator), the store answers again without a restart: the connections are
    /// replaced, and a read that meets an ended one fails as unavailable (503), never as
    /// another error. Both the main pool's reads (a client) and the batched reads (a refresh
    /// token) are tried.
    async fn connections_the_server_ended_are_replaced(s) {
        let (app, user, account) = s.parties().await;
        let (_, first) = s.token_set(&app.id, &user, &account, T0).await;
        if s.backend == Backend::Postgres {
            let mut admin = s.raw_connection().await;
            let ended: Vec<bool> = sqlx::query_scalar(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = current_database() AND pid <> pg_backend_pid()",
            )
            .fetch_all(&mut admin)
            .await
            .unwrap();
            assert!(ended.len() >= 2, "the store's connections were open: {ended:?}");
        }
        let mut failed = 0;
        let mut answered = 0;
        for _ in 0..ATTEMPTS {
            let client = s.find_client(&app.id).await;
            let token = s.find_refresh_token(&first.token_hash).await;
            for err in [client.as_ref().err(), token.as_ref().err()].into_iter().flatten() {
                assert!(err.is_unavailable(), "a dropped connection is unavailable: {err}");
                failed += 1;
            }
            if let (Ok(Some(client)), Ok(Some((token, _)))) = (client, token) {
                assert_eq!((client.id, token.token_hash), (app.id.clone(), first.token_hash));
                answered += 1;
                if answered == 3 {
                    break;
                }
            }
        }
        assert_eq!(answered, 3, "the store answers again ({failed} reads failed first)");
    }
);
