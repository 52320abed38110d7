//! Bulk inserts for the benchmarks' fixtures (`tessera fixtures backfill`): multi-row
//! `INSERT … VALUES (…), (…)` statements, each row in index key order, inside one write
//! transaction per call. The same SQL on SQLite and PostgreSQL.
//!
//! Compiled only with the `bench-fixtures` feature: no server calls these, and they record
//! no change (nothing caches a client or token set that did not exist yet, so there is
//! nothing for other processes to invalidate).

use tessera_core::domain::Client;
use tessera_core::store::{RefreshToken, StoreResult, TokenSet};

use crate::clients::{bind_client, CLIENT_COLUMNS, CLIENT_COLUMN_COUNT};
use crate::{db, SqlStore};

/// Parameters per statement, well under SQLite's limit of 32 766 (PostgreSQL's is 65 535).
/// Not more: sqlx's SQLite driver asks SQLite for each parameter's name, which SQLite finds
/// by walking the statement's list of names, so binding costs the square of the parameters
/// per statement. At 5 500 that was half of a bulk load's time; from about 100 to 600 the
/// load takes the same time.
const PARAMETERS_PER_STATEMENT: usize = 256;

/// Rows per statement for a table of `columns` columns.
fn rows_per_statement(columns: usize) -> usize {
    (PARAMETERS_PER_STATEMENT / columns).max(1)
}

const TOKEN_SET_COLUMNS: &str =
    "token_set (id, client_id, user_id, account_id, scopes, created_at, revoked_at)";
const REFRESH_TOKEN_COLUMNS: &str =
    "refresh_token (token_hash, token_set_id, created_at, used_at, access_jti, access_expires_at)";
const CLIENT_SECRET_COLUMNS: &str =
    "client_secret (client_id, secret_hash, created_at, expires_at)";

/// `INSERT INTO <table (columns)> VALUES ($1, …, $c), ($c+1, …), …` for `rows` rows.
fn insert_statement(table_and_columns: &str, columns: usize, rows: usize) -> String {
    let mut sql = format!("INSERT INTO {table_and_columns} VALUES ");
    for row in 0..rows {
        sql.push_str(if row == 0 { "(" } else { ", (" });
        for column in 0..columns {
            if column > 0 {
                sql.push_str(", ");
            }
            sql.push('$');
            sql.push_str(&(row * columns + column + 1).to_string());
        }
        sql.push(')');
    }
    sql
}

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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_statement_numbers_parameters_row_by_row() {
        assert_eq!(
            insert_statement("t (a, b)", 2, 2),
            "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4)"
        );
        assert_eq!(
            insert_statement("t (a)", 1, 1),
            "INSERT INTO t (a) VALUES ($1)"
        );
    }
}
