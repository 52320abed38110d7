//! The audit log's table: one row per administrative action (see `tessera_core::audit`).

use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use tessera_core::audit::{Actor, AuditAction, AuditEvent, AuditQuery, Outcome, Target};
use tessera_core::domain::{AccountId, ClientId, LegacyId};
use tessera_core::error::StoreError;
use tessera_core::store::{AuditStore, StoreResult};

use crate::{corrupt, db, SqlStore};

/// The table and columns of an insert, in the order [`bind_event`] binds them.
pub(crate) const AUDIT_COLUMNS: &str = "audit_event (at, actor, action, target_kind, target_id, \
     outcome, credential_id, account_id, client_id, detail)";
pub(crate) const AUDIT_COLUMN_COUNT: usize = 10;

/// Binds `e`'s values in [`AUDIT_COLUMNS`] order.
pub(crate) fn bind_event<'q>(
    query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    e: &AuditEvent,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    query
        .bind(e.at)
        .bind(e.actor.as_str().to_owned())
        .bind(e.action.as_str())
        .bind(e.target.kind)
        .bind(e.target.id.clone())
        .bind(e.outcome.as_str())
        .bind(e.credential_id.as_ref().map(|c| c.as_str().to_owned()))
        .bind(e.account_id.as_ref().map(|a| a.as_str().to_owned()))
        .bind(e.client_id.as_ref().map(|c| c.as_str().to_owned()))
        .bind(e.detail.clone())
}

/// Inserts one event on `conn` (inside the caller's transaction, when it has one).
pub(crate) async fn insert_audit(conn: &mut AnyConnection, e: &AuditEvent) -> StoreResult<()> {
    let sql = crate::multi_row::insert_statement(AUDIT_COLUMNS, AUDIT_COLUMN_COUNT, 1);
    bind_event(sqlx::query(&sql), e)
        .execute(conn)
        .await
        .map_err(db)?;
    Ok(())
}

fn event(r: &AnyRow) -> Result<AuditEvent, StoreError> {
    let text = |col: &str| -> Result<String, StoreError> { r.try_get(col).map_err(db) };
    let optional = |col: &str| -> Result<Option<String>, StoreError> { r.try_get(col).map_err(db) };
    let action = text("action")?;
    let kind = text("target_kind")?;
    let outcome = text("outcome")?;
    let actor = text("actor")?;
    Ok(AuditEvent {
        at: r.try_get("at").map_err(db)?,
        actor: Actor::stored(actor),
        action: AuditAction::parse(&action).ok_or_else(|| corrupt("audit action", &action))?,
        target: Target::new(
            Target::kind_from_str(&kind).ok_or_else(|| corrupt("audit target kind", &kind))?,
            &text("target_id")?,
        ),
        outcome: Outcome::parse(&outcome).ok_or_else(|| corrupt("audit outcome", &outcome))?,
        credential_id: optional("credential_id")?
            .map(|c| LegacyId::parse(&c).ok_or_else(|| corrupt("legacy credential id", &c)))
            .transpose()?,
        account_id: optional("account_id")?
            .map(|a| AccountId::parse(&a).ok_or_else(|| corrupt("account id", &a)))
            .transpose()?,
        client_id: optional("client_id")?
            .map(|c| ClientId::parse(&c).ok_or_else(|| corrupt("client id", &c)))
            .transpose()?,
        detail: text("detail")?,
    })
}

#[async_trait]
impl AuditStore for SqlStore {
    async fn insert_audit_event(&self, event: &AuditEvent) -> StoreResult<()> {
        let mut conn = self.pool.acquire().await.map_err(db)?;
        insert_audit(&mut conn, event).await
    }

    async fn list_audit_events(&self, query: &AuditQuery) -> StoreResult<Vec<AuditEvent>> {
        // Every filter value is bound; only the fixed condition texts are formatted in.
        let mut conditions: Vec<String> = Vec::new();
        let mut texts: Vec<String> = Vec::new();
        let mut next = 2; // $1 is the limit
        let mut param = || {
            let p = format!("${next}");
            next += 1;
            p
        };
        let since = query.since;
        if since.is_some() {
            conditions.push(format!("at >= {}", param()));
        }
        if let Some((exact, prefix)) = query.actor_parts() {
            let (a, b) = (param(), param());
            conditions.push(format!(
                "(actor = {a} OR substr(actor, 1, {}) = {b})",
                prefix.chars().count()
            ));
            texts.push(exact);
            texts.push(prefix);
        }
        match query.target_parts() {
            Some((Some(kind), id)) => {
                let (k, i) = (param(), param());
                conditions.push(format!("(target_kind = {k} AND target_id = {i})"));
                texts.push(kind.to_owned());
                texts.push(id.to_owned());
            }
            Some((None, id)) => {
                let (t, a, c, l) = (param(), param(), param(), param());
                conditions.push(format!(
                    "(target_id = {t} OR account_id = {a} OR client_id = {c} OR credential_id = {l})"
                ));
                texts.extend(std::iter::repeat_n(id.to_owned(), 4));
            }
            None => {}
        }
        let filter = if conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conditions.join(" AND "))
        };
        let sql = format!(
            "SELECT at, actor, action, target_kind, target_id, outcome, credential_id, \
             account_id, client_id, detail FROM audit_event {filter} ORDER BY id DESC LIMIT $1 \
             OFFSET {}",
            param()
        );
        let mut q = sqlx::query(&sql).bind(query.limit.clamp(1, 10_000));
        if let Some(s) = since {
            q = q.bind(s);
        }
        for t in texts {
            q = q.bind(t);
        }
        q = q.bind(query.skip.max(0));
        let rows = q.fetch_all(&self.pool).await.map_err(db)?;
        rows.iter().map(event).collect()
    }
}
