//! The in-bench upstream: the provider's own API as the gateway rows see it. `GET` of any
//! path answers a fixed small JSON; `POST` reads the body as it arrives, keeping none of
//! it, and answers how many bytes came, so a large upload can be checked whole without
//! the upstream's memory growing.
//!
//! Runs in its own process (`tessera-bench upstream`), like the baseline, so that its CPU
//! and memory are its own and not the load generator's. On Tessera's stack (axum over
//! hyper, tokio) for the same reason the baseline is: it must not get slower when Tessera
//! does, and it costs what any small Rust service behind Tessera would.

use std::net::SocketAddr;

use anyhow::{Context, Result};
use axum::body::Body;
use axum::http::header::CONTENT_TYPE;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::serve::ListenerExt;
use axum::Router;
use http_body_util::BodyExt;
use tokio::net::TcpListener;

/// The path the gateway rows call: the same through Tessera, through nginx and directly.
pub const BOOK_PATH: &str = "/v1/books/b1";
/// The path a large upload is sent to.
pub const UPLOAD_PATH: &str = "/v1/uploads";
/// What `GET` answers: a small JSON, as a typical API's single-resource read.
pub const BOOK: &str =
    r#"{"id":"b1","title":"The fixed answer of the bench upstream","year":2026,"tags":["bench"]}"#;

/// Serves on `listen` until Ctrl-C (the bench harness kills it instead).
pub async fn serve(listen: SocketAddr) -> Result<()> {
    let app = Router::new()
        .route("/{*path}", get(book).post(upload))
        .route("/", get(book));
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?
        .tap_io(|stream| {
            // A refused option only costs latency; the upstream still answers.
            let _ = stream.set_nodelay(true);
        });
    eprintln!("upstream listening on {listen}");
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .context("serving the upstream")
}

async fn book() -> Response {
    ([(CONTENT_TYPE, "application/json")], BOOK).into_response()
}

/// Counts the body's bytes frame by frame, dropping each as it comes.
async fn upload(body: Body) -> Response {
    let mut body = body;
    let mut received: u64 = 0;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => {
                if let Some(data) = frame.data_ref() {
                    received += data.len() as u64;
                }
            }
            Err(error) => {
                return (
                    StatusCode::BAD_REQUEST,
                    format!("reading the body after {received} bytes: {error}"),
                )
                    .into_response()
            }
        }
    }
    (
        [(CONTENT_TYPE, "application/json")],
        format!(r#"{{"received":{received}}}"#),
    )
        .into_response()
}
