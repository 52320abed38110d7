//! The connections of the pooled client to the upstream: plain TCP, whose writes fail once
//! the upstream has taken nothing for `upstream_timeout_ms`.
//!
//! An upstream that stops reading a request body would otherwise hold the connection, and
//! the client's body with it, for ever: hyper flushes what it has buffered before it closes
//! a connection, even one whose request was given up. A stalled write that fails lets the
//! connection go, and the request ends in a `504` (the error is an I/O time-out). Inside a
//! WebSocket tunnel the same rule holds: an upstream that takes none of the frames sent to
//! it for that long ends the tunnel.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::http::Uri;
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::time::{sleep, Sleep};
use tower::Service;

use super::idle::BoxError;

/// Connects like hyper-util's `HttpConnector`, and guards every write.
#[derive(Clone)]
pub struct Connector {
    http: HttpConnector,
    write_stall: Duration,
}

impl Connector {
    pub fn new(http: HttpConnector, write_stall: Duration) -> Self {
        Self { http, write_stall }
    }
}

impl Service<Uri> for Connector {
    type Response = StallGuard<TokioIo<TcpStream>>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.http.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, upstream: Uri) -> Self::Future {
        let connecting = self.http.call(upstream);
        let limit = self.write_stall;
        Box::pin(async move { Ok(StallGuard::new(connecting.await?, limit)) })
    }
}

/// A connection whose writes and flushes fail after `limit` without progress.
pub struct StallGuard<T> {
    io: T,
    limit: Duration,
    /// Armed while a write waits for the peer.
    timer: Option<Pin<Box<Sleep>>>,
}

impl<T> StallGuard<T> {
    pub fn new(io: T, limit: Duration) -> Self {
        Self {
            io,
            limit,
            timer: None,
        }
    }

    /// A write that made progress (or failed) disarms the timer; one still waiting fails
    /// once it has waited `limit`.
    fn guard<R>(
        &mut self,
        write: Poll<io::Result<R>>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<R>> {
        if write.is_ready() {
            self.timer = None;
            return write;
        }
        let limit = self.limit;
        let timer = self.timer.get_or_insert_with(|| Box::pin(sleep(limit)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the upstream took nothing of what was sent in time",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: Read + Unpin> Read for StallGuard<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl<T: Write + Unpin> Write for StallGuard<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let write = Pin::new(&mut this.io).poll_write(cx, buf);
        this.guard(write, cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let write = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        this.guard(write, cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let flush = Pin::new(&mut this.io).poll_flush(cx);
        this.guard(flush, cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let shutdown = Pin::new(&mut this.io).poll_shutdown(cx);
        this.guard(shutdown, cx)
    }
}

impl<T: Connection> Connection for StallGuard<T> {
    fn connected(&self) -> Connected {
        self.io.connected()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use tokio::io::AsyncReadExt;
    use tokio::time::Instant;

    const LIMIT: Duration = Duration::from_secs(30);

    async fn write_all(
        io: &mut StallGuard<TokioIo<tokio::io::DuplexStream>>,
        buf: &[u8],
    ) -> io::Result<()> {
        let mut sent = 0;
        while sent < buf.len() {
            sent +=
                std::future::poll_fn(|cx| Pin::new(&mut *io).poll_write(cx, &buf[sent..])).await?;
        }
        Ok(())
    }

    #[tokio::test(start_paused = true)]
    async fn a_write_the_peer_never_takes_fails_after_the_limit() {
        let (ours, _theirs) = tokio::io::duplex(1024);
        let mut io = StallGuard::new(TokioIo::new(ours), LIMIT);
        let started = Instant::now();
        let err = write_all(&mut io, &[7u8; 4096]).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed(), LIMIT);
    }

    #[tokio::test(start_paused = true)]
    async fn a_peer_that_reads_slowly_keeps_the_connection() {
        let (ours, mut theirs) = tokio::io::duplex(1024);
        let mut io = StallGuard::new(TokioIo::new(ours), LIMIT);
        // The peer takes 1 KiB every 20 s: slower than the writes, never stalled for LIMIT.
        let reader = tokio::spawn(async move {
            let mut buf = [0u8; 1024];
            let mut total = 0;
            while total < 4096 {
                sleep(Duration::from_secs(20)).await;
                total += theirs.read(&mut buf).await.unwrap();
            }
            total
        });
        write_all(&mut io, &[7u8; 4096]).await.unwrap();
        assert_eq!(reader.await.unwrap(), 4096);
    }
}
