//! The request timeout: a request whose response head is not ready within
//! `request_timeout_ms` of its own head (a body that trickles in, a handler stuck behind a
//! slow store) is answered 408 and its connection closed. Tessera's own routes only: the
//! gateway has its own timeouts (`upstream_*_timeout_ms`), which let a long upload stream.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::HttpError;
use crate::state::AppState;

pub async fn limit(State(app): State<AppState>, req: Request, next: Next) -> Response {
    match tokio::time::timeout(app.http.request_timeout, next.run(req)).await {
        Ok(res) => res,
        Err(_) => {
            tracing::info!(
                timeout_ms = app.http.request_timeout.as_millis() as u64,
                "request timed out"
            );
            HttpError::RequestTimedOut.into_response()
        }
    }
}
