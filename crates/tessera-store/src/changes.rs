//! The change feed: one row per mutation other processes must see.

use async_trait::async_trait;
use sqlx::{AnyConnection, Row};
use tessera_core::store::{Change, ChangeFeed, ChangeKind, StoreResult};
use tessera_core::UnixSeconds;

use crate::statement::{Param, Statement};
use crate::{db, SqlStore};

const INSERT_CHANGE: &str =
    "INSERT INTO change_event (kind, subject, created_at) VALUES ($1, $2, $3)";

/// Records a change; call inside the transaction that makes the change.
pub(crate) async fn record(
    conn: &mut AnyConnection,
    kind: ChangeKind,
    subject: &str,
    now: UnixSeconds,
) -> StoreResult<()> {
    sqlx::query(INSERT_CHANGE)
        .bind(kind.as_str())
        .bind(subject)
        .bind(now)
        .execute(conn)
        .await
        .map_err(db)?;
    Ok(())
}

/// The same, as a statement of a [`crate::write::GuardedWrite`].
pub(crate) fn change(kind: ChangeKind, subject: &str, now: UnixSeconds) -> Statement {
    Statement {
        sql: INSERT_CHANGE,
        params: vec![
            Param::Text(kind.as_str().to_owned()),
            Param::Text(subject.to_owned()),
            Param::Int(now),
        ],
    }
}

#[async_trait]
impl ChangeFeed for SqlStore {
    async fn list_changes_after(&self, after: i64, limit: i64) -> StoreResult<Vec<Change>> {
        let rows = sqlx::query(
            "SELECT seq, kind, subject, created_at FROM change_event WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter()
            .map(|r| {
                let kind: String = r.try_get("kind").map_err(db)?;
                Ok(Change {
                    seq: r.try_get("seq").map_err(db)?,
                    kind: ChangeKind::from_stored(&kind),
                    subject: r.try_get("subject").map_err(db)?,
                    created_at: r.try_get("created_at").map_err(db)?,
                })
            })
            .collect()
    }

    async fn latest_change_seq(&self) -> StoreResult<i64> {
        let row = sqlx::query("SELECT COALESCE(MAX(seq), 0) AS seq FROM change_event")
            .fetch_one(&self.pool)
            .await
            .map_err(db)?;
        row.try_get("seq").map_err(db)
    }

    async fn oldest_change_seq(&self) -> StoreResult<i64> {
        let row = sqlx::query("SELECT COALESCE(MIN(seq), 0) AS seq FROM change_event")
            .fetch_one(&self.pool)
            .await
            .map_err(db)?;
        row.try_get("seq").map_err(db)
    }

    async fn prune_changes(&self, before: UnixSeconds) -> StoreResult<()> {
        sqlx::query(
            "DELETE FROM change_event WHERE created_at < $1 \
             AND seq < (SELECT MAX(seq) FROM change_event)",
        )
        .bind(before)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }
}
