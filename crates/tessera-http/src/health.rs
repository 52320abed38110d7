//! Health checks for a process supervisor and a load balancer: `GET /healthz` (the process
//! answers) and `GET /readyz` (it can serve correctly: the store answers, a signing key is
//! loaded, the change feed is being followed). `GET /health` stays as it was (`ok`).

use std::time::Duration;

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::error::HttpError;
use crate::state::AppState;

/// How long the store may take to answer the readiness query before it counts as down.
const STORE_CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// What the server decides about being ready.
#[derive(Debug, Clone, Copy)]
pub struct ReadinessPolicy {
    /// Not ready when the change feed was last read successfully longer ago than this:
    /// revocations made elsewhere may not have reached this process.
    pub feed_max_lag_ms: i64,
}

/// `GET /healthz`: the process is alive and answering.
pub async fn get_healthz() -> Response {
    no_store(Json(json!({ "status": "ok" })).into_response())
}

/// `GET /readyz`: 200 when every check passes, else 503 naming the failing ones.
pub async fn get_readyz(State(app): State<AppState>) -> Result<Response, HttpError> {
    let store = match tokio::time::timeout(STORE_CHECK_TIMEOUT, app.store.latest_change_seq()).await
    {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(err)) => {
            // The cause may name hosts and databases: the log has it, the body does not.
            tracing::warn!(error = %err, "readiness: the store query failed");
            Err("the store query failed".to_owned())
        }
        Err(_) => Err(format!(
            "the store did not answer within {} ms",
            STORE_CHECK_TIMEOUT.as_millis()
        )),
    };
    let now_ms = app.clock.now_ms();
    let signing_key = match app.caches.keyring().current(now_ms.div_euclid(1000)) {
        Some(_) => Ok(()),
        None => Err("no signing key is active".to_owned()),
    };
    let lag = app.feed.lag_ms(now_ms);
    let bound = app.readiness.feed_max_lag_ms;
    let change_feed = if app.feed.lagging(now_ms, bound) {
        Err(format!(
            "the change feed was last read {lag} ms ago (the bound is {bound} ms)"
        ))
    } else {
        Ok(())
    };
    let checks = [
        ("store", store),
        ("signing_key", signing_key),
        ("change_feed", change_feed),
    ];
    let failing: Vec<&str> = checks
        .iter()
        .filter(|(_, r)| r.is_err())
        .map(|(name, _)| *name)
        .collect();
    let mut report = serde_json::Map::new();
    for (name, result) in &checks {
        let value = match result {
            Ok(()) => json!({ "status": "ok" }),
            Err(why) => {
                tracing::warn!(check = name, reason = %why, "not ready");
                json!({ "status": "failing", "reason": why })
            }
        };
        report.insert((*name).to_owned(), value);
    }
    if failing.is_empty() {
        let body = json!({ "status": "ok", "checks": Value::Object(report) });
        return Ok(no_store(Json(body).into_response()));
    }
    Err(HttpError::NotReady(json!({
        "status": "unavailable",
        "failing": failing,
        "checks": Value::Object(report),
    })))
}

fn no_store(mut res: Response) -> Response {
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}
