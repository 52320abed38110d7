//! WebSocket upgrades through the gateway (RFC 6455 §4). A handshake is forwarded only
//! after the caller is authenticated and the route's checks pass, like any request; it keeps
//! the two headers hop-by-hop stripping would remove, and once the upstream answers
//! `101 Switching Protocols` both connections are spliced into one tunnel.
//!
//! Other protocols named in `Upgrade` (h2c, TLS) are ignored, as RFC 9110 §7.8 lets a
//! server do: the request is forwarded as plain HTTP/1.1 and the client carries on with it.

use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::http::header::{self, HeaderMap};
use axum::http::{HeaderValue, Method};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{sleep_until, Instant};

use super::connection::Switched;

const WEBSOCKET: &str = "websocket";

/// Whether the request opens a WebSocket (RFC 6455 §4.1): a GET with `Connection: upgrade`
/// and `websocket` among the protocols in `Upgrade`.
pub fn wants_websocket(method: &Method, headers: &HeaderMap) -> bool {
    method == Method::GET
        && has_token(headers, header::CONNECTION, "upgrade")
        && has_token(headers, header::UPGRADE, WEBSOCKET)
}

/// Whether the upstream's `101` switches to WebSocket, the one protocol it was offered.
pub fn switched_to_websocket(headers: &HeaderMap) -> bool {
    has_token(headers, header::UPGRADE, WEBSOCKET)
}

/// Puts back, after hop-by-hop stripping, the two headers that ask the next hop to switch:
/// the one exception to stripping, and only for a WebSocket handshake.
pub fn keep_upgrade_headers(headers: &mut HeaderMap) {
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(header::UPGRADE, HeaderValue::from_static(WEBSOCKET));
}

/// A comma-separated header holds `token`, compared without regard to case.
fn has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// Both ends of a switched connection, and what the tunnel between them logs.
pub struct Tunnel {
    pub client: OnUpgrade,
    /// Already switched: the upstream's `101` has been read from it.
    pub upstream: Switched,
    /// The tunnel closes after this long with no byte either way.
    pub idle_timeout: Duration,
    pub request_id: HeaderValue,
    pub client_addr: Option<IpAddr>,
}

impl Tunnel {
    /// Waits for the client's connection to switch (once its `101` is written), then
    /// copies bytes both ways until one side closes, either fails, or nothing moves for
    /// the idle timeout. Dropping both ends closes both connections.
    pub async fn run(self) {
        let client = match self.client.await {
            Ok(client) => client,
            Err(err) => {
                tracing::warn!(request_id = ?self.request_id, client = ?self.client_addr, error = %err, "a WebSocket upgrade did not complete");
                return;
            }
        };
        let activity = Arc::new(Activity::new());
        let mut client = Stamped::new(TokioIo::new(client), activity.clone());
        let mut upstream = Stamped::new(self.upstream, activity.clone());
        tokio::select! {
            copied = tokio::io::copy_bidirectional(&mut client, &mut upstream) => match copied {
                Ok((up, down)) => tracing::debug!(request_id = ?self.request_id, up, down, "WebSocket tunnel closed"),
                Err(err) => tracing::debug!(request_id = ?self.request_id, error = %err, "WebSocket tunnel failed"),
            },
            () = activity.idle_for(self.idle_timeout) => {
                tracing::info!(request_id = ?self.request_id, client = ?self.client_addr, idle_ms = self.idle_timeout.as_millis() as u64, "WebSocket tunnel idle; both connections closed");
            }
        }
    }
}

/// When a byte last moved through the tunnel, either way.
struct Activity {
    start: Instant,
    /// Milliseconds from `start`.
    last_ms: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Self {
            start: Instant::now(),
            last_ms: AtomicU64::new(0),
        }
    }

    fn stamp(&self) {
        let ms = self.start.elapsed().as_millis() as u64;
        self.last_ms.fetch_max(ms, Ordering::Relaxed);
    }

    /// Resolves once nothing has moved for `limit`.
    async fn idle_for(&self, limit: Duration) {
        loop {
            let last = self.start + Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
            let deadline = last + limit;
            if Instant::now() >= deadline {
                return;
            }
            sleep_until(deadline).await;
        }
    }
}

/// One end of the tunnel, stamping the activity whenever bytes arrive from it.
struct Stamped<T> {
    io: T,
    activity: Arc<Activity>,
}

impl<T> Stamped<T> {
    fn new(io: T, activity: Arc<Activity>) -> Self {
        Self { io, activity }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Stamped<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let read = Pin::new(&mut this.io).poll_read(cx, buf);
        if matches!(read, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.activity.stamp();
        }
        read
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Stamped<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::gateway::test_headers as headers;

    #[test]
    fn only_a_get_asking_for_websocket_is_an_upgrade() {
        let firefox = headers(&[
            ("connection", "keep-alive, Upgrade"),
            ("upgrade", "websocket"),
        ]);
        assert!(wants_websocket(&Method::GET, &firefox));
        let listed = headers(&[("connection", "upgrade"), ("upgrade", "foo/2, WebSocket")]);
        assert!(wants_websocket(&Method::GET, &listed));
        assert!(!wants_websocket(&Method::POST, &firefox));
        let h2c = headers(&[
            ("connection", "Upgrade, HTTP2-Settings"),
            ("upgrade", "h2c"),
        ]);
        assert!(!wants_websocket(&Method::GET, &h2c));
        let no_connection = headers(&[("upgrade", "websocket")]);
        assert!(!wants_websocket(&Method::GET, &no_connection));
    }

    #[tokio::test(start_paused = true)]
    async fn a_tunnel_is_idle_a_limit_after_its_last_byte() {
        let activity = Activity::new();
        tokio::time::sleep(Duration::from_secs(5)).await;
        activity.stamp();
        let started = Instant::now();
        activity.idle_for(Duration::from_secs(30)).await;
        assert_eq!(started.elapsed(), Duration::from_secs(30));
    }
}
