//! Bulk inserts for the benchmarks' fixtures (`tessera fixtures backfill`): multi-row
//! `INSERT … VALUES (…), (…)` statements, each row in index key order, inside one write
//! transaction per call. The same SQL on SQLite and PostgreSQL.
//!
//! Compiled only with the `bench-fixtures` feature: no server calls these, and they record
//! no change (nothing caches a client or token set that did not exist yet, so there is
//! nothing for other processes to invalidate).

use tessera_core::domain::{Account, Client};
use tessera_core::store::{RefreshToken, StoreResult, TokenSet};

use crate::clients::{bind_client, CLIENT_COLUMNS, CLIENT_COLUMN_COUNT};
use crate::multi_row::{insert_statement, rows_per_statement};
use crate::{db, SqlStore};

const TOKEN_SET_COLUMNS: &str =
    "token_set (id, client_id, user_id, account_id, scopes, created_at, revoked_at)";
const REFRESH_TOKEN_COLUMNS: &str =
    "refresh_token (token_hash, token_set_id, created_at, used_at, access_jti, access_expires_at)";
const CLIENT_SECRET_COLUMNS: &str =
    "client_secret (client_id, secret_hash, created_at, expires_at)";
const ACCOUNT_COLUMNS: &str = "account (id, name, created_at)";

impl SqlStore {
    /// Inserts token sets, each with its first refresh token, in one transaction: all or
    /// none. Callers keep each call to some thousands of sets; a load of many calls is
    /// fastest when each call's set ids and token hashes sort after the previous call's.
    pub async fn insert_token_sets(&self, sets: &[(TokenSet, RefreshToken)]) -> StoreResult<()> {
        // In key order: each index B-tree is then swept once, not hit at random pages.
        let mut token_sets: Vec<&TokenSet> = sets.iter().map(|(s, _)| s).collect();
        token_sets.sort_unstable_by(|a, b| a.id.cmp(&b.id));
        let mut tokens: Vec<&RefreshToken> = sets.iter().map(|(_, t)| t).collect();
        tokens.sort_unstable_by_key(|t| t.token_hash.0);
        let mut tx = self.begin().await?;
        // Every set before any refresh token: the refresh tokens reference their sets.
        for chunk in token_sets.chunks(rows_per_statement(7)) {
            let sql = insert_statement(TOKEN_SET_COLUMNS, 7, chunk.len());
            let mut query = sqlx::query(&sql);
            for s in chunk {
                query = query
                    .bind(s.id.as_str())
                    .bind(s.client_id.as_str())
                    .bind(s.user_id.as_str())
                    .bind(s.account_id.as_str())
                    .bind(s.scopes.to_string())
                    .bind(s.created_at)
                    .bind(s.revoked_at);
            }
            query.execute(&mut *tx).await.map_err(db)?;
        }
        for chunk in tokens.chunks(rows_per_statement(6)) {
            let sql = insert_statement(REFRESH_TOKEN_COLUMNS, 6, chunk.len());
            let mut query = sqlx::query(&sql);
            for t in chunk {
                query = query
                    .bind(t.token_hash.0.to_vec())
                    .bind(t.token_set_id.as_str())
                    .bind(t.created_at)
                    .bind(t.used_at)
                    .bind(t.access_jti.as_str())
                    .bind(t.access_expires_at);
            }
            query.execute(&mut *tx).await.map_err(db)?;
        }
        tx.commit().await.map_err(db)
    }

    /// Inserts new clients with their secrets, in one transaction: all or none. Unlike
    /// `ClientStore::insert_clients`, it records no `Client` change per client.
    pub async fn insert_new_clients(&self, clients: &[Client]) -> StoreResult<()> {
        let mut clients: Vec<&Client> = clients.iter().collect();
        clients.sort_unstable_by(|a, b| a.id.cmp(&b.id));
        let mut tx = self.begin().await?;
        let table_and_columns = format!("client ({CLIENT_COLUMNS})");
        for chunk in clients.chunks(rows_per_statement(CLIENT_COLUMN_COUNT)) {
            let sql = insert_statement(&table_and_columns, CLIENT_COLUMN_COUNT, chunk.len());
            let mut query = sqlx::query(&sql);
            for c in chunk {
                query = bind_client(query, c);
            }
            query.execute(&mut *tx).await.map_err(db)?;
        }
        let secrets: Vec<_> = clients
            .iter()
            .flat_map(|c| c.secrets.iter().map(move |s| (&c.id, s)))
            .collect();
        for chunk in secrets.chunks(rows_per_statement(4)) {
            let sql = insert_statement(CLIENT_SECRET_COLUMNS, 4, chunk.len());
            let mut query = sqlx::query(&sql);
            for (id, s) in chunk {
                query = query
                    .bind(id.as_str())
                    .bind(s.hash.0.to_vec())
                    .bind(s.created_at)
                    .bind(s.expires_at);
            }
            query.execute(&mut *tx).await.map_err(db)?;
        }
        tx.commit().await.map_err(db)
    }

    /// Inserts new accounts in one transaction: all or none.
    pub async fn insert_new_accounts(&self, accounts: &[Account]) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        for chunk in accounts.chunks(rows_per_statement(3)) {
            let sql = insert_statement(ACCOUNT_COLUMNS, 3, chunk.len());
            let mut query = sqlx::query(&sql);
            for a in chunk {
                query = query
                    .bind(a.id.as_str())
                    .bind(a.name.as_str())
                    .bind(a.created_at);
            }
            query.execute(&mut *tx).await.map_err(db)?;
        }
        tx.commit().await.map_err(db)
    }
}
