//! The operator's audit log page: the newest administrative changes, filtered like
//! `tessera audit` (same query, same store call).

use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;
use tessera_core::audit::{parse_since, AuditQuery};
use tessera_core::rfc3339::format_rfc3339;

use super::visit::{AuditPage, Signed};
use crate::error::{HttpError, PageError};
use crate::state::AppState;
use crate::views::{AuditRow, AuditView};

/// Rows one page shows; narrower filters find older events.
const PAGE_ROWS: i64 = 200;

#[derive(Deserialize)]
pub struct AuditFilter {
    actor: Option<String>,
    target: Option<String>,
    since: Option<String>,
}

fn given(raw: Option<String>) -> Option<String> {
    raw.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

pub async fn get_audit(
    State(app): State<AppState>,
    Query(f): Query<AuditFilter>,
    Signed { visit: v, .. }: Signed<AuditPage>,
) -> Result<Response, HttpError> {
    if !v.user.operator {
        return Err(PageError::OperatorsOnly.into());
    }
    let (actor, target, since_text) = (given(f.actor), given(f.target), given(f.since));
    let (since, problem) = match since_text
        .as_deref()
        .map(|s| parse_since(s, app.clock.now()))
    {
        Some(Ok(t)) => (Some(t), None),
        Some(Err(why)) => (None, Some(why)),
        None => (None, None),
    };
    let query = AuditQuery {
        since,
        actor: actor.clone(),
        target: target.clone(),
        limit: PAGE_ROWS,
    };
    let events = app
        .store
        .list_audit_events(&query)
        .await
        .map_err(HttpError::internal)?;
    let rows = events
        .into_iter()
        .map(|e| AuditRow {
            at: format_rfc3339(e.at),
            actor: e.actor.to_string(),
            action: e.action.as_str().into(),
            target: e.target.to_string(),
            outcome: e.outcome.as_str().into(),
            detail: e.detail,
        })
        .collect();
    Ok(v.render(|nav| AuditView {
        nav,
        tab: "audit",
        rows,
        actor: actor.unwrap_or_default(),
        target: target.unwrap_or_default(),
        since: since_text.unwrap_or_default(),
        problem,
        limit: PAGE_ROWS,
    }))
}
