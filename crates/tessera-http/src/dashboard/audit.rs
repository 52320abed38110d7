//! The operator's audit log page: the newest administrative changes, filtered like
//! `tessera audit` (same query, same store call).

use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;
use tessera_core::audit::{parse_since, AuditQuery};
use tessera_core::error::ManageError;
use tessera_core::rfc3339::format_rfc3339;

use super::visit::{AuditPage, Signed};
use crate::authorize::encode;
use crate::error::{HttpError, PageError};
use crate::state::AppState;
use crate::views::{AuditRow, AuditView};

/// Rows one page shows; **Older** and **Newer** links page through the rest.
const PAGE_ROWS: i64 = 50;

#[derive(Deserialize)]
pub struct AuditFilter {
    actor: Option<String>,
    target: Option<String>,
    since: Option<String>,
    page: Option<String>,
}

/// The page number of `?page=`: 1 when absent, a 400 naming it when not a number from 1.
fn page_number(raw: Option<&str>) -> Result<i64, HttpError> {
    match raw {
        None | Some("") => Ok(1),
        Some(p) => p
            .parse::<u32>()
            .ok()
            .filter(|p| *p >= 1)
            .map(i64::from)
            .ok_or_else(|| {
                PageError::Manage(ManageError::Invalid(
                    "the page must be a whole number from 1".into(),
                ))
                .into()
            }),
    }
}

/// The page's link to page `page` with the same filters.
fn page_link(actor: &str, target: &str, since: &str, page: i64) -> String {
    let mut parts = Vec::new();
    for (key, value) in [("actor", actor), ("target", target), ("since", since)] {
        if !value.is_empty() {
            parts.push(format!("{key}={}", encode(value)));
        }
    }
    parts.push(format!("page={page}"));
    format!("/settings/operator/audit?{}", parts.join("&"))
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
    let page = page_number(f.page.as_deref())?;
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
        // One more than a page: whether an older page exists.
        limit: PAGE_ROWS + 1,
        skip: (page - 1) * PAGE_ROWS,
    };
    let mut events = app
        .store
        .list_audit_events(&query)
        .await
        .map_err(HttpError::internal)?;
    let has_older = events.len() as i64 > PAGE_ROWS;
    events.truncate(PAGE_ROWS as usize);
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
    let (actor, target, since) = (
        actor.unwrap_or_default(),
        target.unwrap_or_default(),
        since_text.unwrap_or_default(),
    );
    let newer = (page > 1).then(|| page_link(&actor, &target, &since, page - 1));
    let older = has_older.then(|| page_link(&actor, &target, &since, page + 1));
    Ok(v.render(|nav| AuditView {
        nav,
        tab: "audit",
        rows,
        actor,
        target,
        since,
        problem,
        limit: PAGE_ROWS,
        page,
        newer,
        older,
    }))
}
