//! Accepting connections and serving HTTP/1.1 on them, within limits that hold before any
//! handler runs: header size and count (431, hyper's answer), the time to send a request's
//! headers (a slow-loris client is dropped), and how many connections are open at once.
//!
//! hyper starts the header clock whenever it waits for a request head, so the same timeout
//! also closes a kept-alive connection that sends nothing more: there is no separate idle
//! timeout to configure.
//!
//! Connections over the cap are not accepted: they wait in the kernel's listen backlog
//! until a connection closes, then are served in turn. Waiting there costs this process
//! nothing; a client that gives up just closes its socket.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use prometheus_client::metrics::gauge::Gauge;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tower::ServiceExt;

/// hyper's default read buffer; raised only for a larger header limit.
const DEFAULT_BUF: usize = 400 * 1024;

/// What every connection is held to.
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    /// Largest request head (request line and headers), bytes: 431 beyond.
    pub max_header_bytes: usize,
    /// Most header fields in one request: 431 beyond.
    pub max_headers: usize,
    /// Longest wait for a whole request head, from the first wait for it (a new connection,
    /// or a kept-alive one after its last response); the connection is closed after it.
    pub header_read_timeout: Duration,
    /// Connections served at once.
    pub max_connections: usize,
}

/// Serves `app` on `listener` until `stop` turns true; then stops accepting, lets each
/// connection finish the request it is answering, and returns when all have closed.
/// `open` counts the connections being served.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    open: Gauge,
    mut stop: watch::Receiver<bool>,
) -> io::Result<()> {
    let cap = u32::try_from(limits.max_connections.max(1)).unwrap_or(u32::MAX);
    let permits = Arc::new(Semaphore::new(cap as usize));
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_headers(limits.max_headers)
        .max_header_size(limits.max_header_bytes)
        .max_buf_size(limits.max_header_bytes.max(DEFAULT_BUF));
    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = stopped(&mut stop) => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors, or a connection reset before it was
                    // accepted: keep serving the others.
                    tracing::warn!(error = %err, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = stopped(&mut stop) => break,
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            app.clone().oneshot(req)
        });
        let conn = builder
            .serve_connection(TokioIo::new(stream), service)
            .with_upgrades();
        let mut stop = stop.clone();
        let open = open.clone();
        tokio::spawn(async move {
            let _permit = permit;
            open.inc();
            tokio::pin!(conn);
            let ended = tokio::select! {
                ended = conn.as_mut() => ended,
                () = stopped(&mut stop) => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            open.dec();
            if let Err(err) = ended {
                tracing::debug!(%peer, error = %err, "connection ended with an error");
            }
        });
    }
    // New connections are refused from here on, not left waiting in the backlog.
    drop(listener);
    // Every permit back: every connection has closed.
    let _ = permits.acquire_many(cap).await;
    Ok(())
}

/// Resolves once `stop` is true (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}
