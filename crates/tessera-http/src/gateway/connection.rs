//! Connections to the upstream: plain TCP with `TCP_NODELAY`, a read buffer each, and a
//! pool of idle ones kept alive between requests.
//!
//! Every write fails once the upstream has taken nothing for `upstream_timeout_ms`
//! ([`StallGuard`]): an upstream that stops reading a request body (or the frames of a
//! WebSocket tunnel) would otherwise hold the connection, and the client's body with it,
//! for ever; the failed write ends the request in a `504`.

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{sleep, Sleep};

/// Room made in a connection's buffer before each read.
const READ_CHUNK: usize = 16 * 1024;

/// One connection to the upstream and what has been read from it but not yet used.
pub struct Conn {
    pub io: StallGuard<TcpStream>,
    pub buf: BytesMut,
    /// Taken from the pool rather than opened for this request.
    pub reused: bool,
    idle_since: Instant,
}

impl Conn {
    /// Connects within `timeout`; a refusal or a timeout is the error.
    pub async fn open(
        authority: &str,
        timeout: Duration,
        write_stall: Duration,
    ) -> io::Result<Self> {
        let stream = match tokio::time::timeout(timeout, TcpStream::connect(authority)).await {
            Ok(stream) => stream?,
            Err(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "connecting to the upstream timed out",
                ))
            }
        };
        stream.set_nodelay(true)?;
        Ok(Self {
            io: StallGuard::new(stream, write_stall),
            buf: BytesMut::with_capacity(READ_CHUNK),
            reused: false,
            idle_since: Instant::now(),
        })
    }

    /// Reads what the upstream has sent into the buffer; `Ok(0)` is the end of the stream.
    pub fn poll_read_more(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        read_into(Pin::new(&mut self.io), &mut self.buf, cx)
    }

    /// Whether the upstream may still be listening: nothing arrived while the connection
    /// sat idle (an idle connection's only news is its close, or garbage).
    fn still_open(&self) -> bool {
        self.buf.is_empty()
            && matches!(self.io.io.try_read(&mut [0u8; 1]), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
    }
}

/// Reads what `io` has into `buf`, making room first; `Ok(0)` is the end of the stream.
pub fn read_into<R: AsyncRead>(
    io: Pin<&mut R>,
    buf: &mut BytesMut,
    cx: &mut Context<'_>,
) -> Poll<io::Result<usize>> {
    if buf.capacity() - buf.len() < READ_CHUNK / 4 {
        buf.reserve(READ_CHUNK);
    }
    tokio_util::io::poll_read_buf(io, cx, buf)
}

/// Idle connections, the most recently used first out; the oldest, at the front, are
/// closed once idle longer than the timeout (looked at whenever a connection comes back,
/// and every few seconds by the pool's reaper, so that connections the upstream closed
/// are not held half-closed after the traffic stops).
pub struct Pool {
    idle: Mutex<VecDeque<Conn>>,
    max_idle: usize,
    idle_timeout: Duration,
}

impl Pool {
    pub fn new(max_idle: usize, idle_timeout: Duration) -> Self {
        Self {
            idle: Mutex::new(VecDeque::new()),
            max_idle,
            idle_timeout,
        }
    }

    /// A pool with a reaper: a task that closes, every `reap_every`, the connections idle
    /// since the last round that are past the timeout or closed by the upstream
    /// ([`Pool::reap`]), and ends with the pool.
    /// Outside a runtime (a configuration check) there is no reaper.
    pub fn reaped(max_idle: usize, idle_timeout: Duration, reap_every: Duration) -> Arc<Self> {
        let pool = Arc::new(Self::new(max_idle, idle_timeout));
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(reap_every_while_used(Arc::downgrade(&pool), reap_every));
        }
        pool
    }

    /// Closes, of the connections idle at least `quiet`, those past the timeout and those
    /// the upstream has closed (or sent something unasked on). They are looked at outside
    /// the lock (a system call each), so that requests taking and returning connections
    /// meanwhile do not wait, and the recently used ones, which requests take first, are
    /// not taken out at all; the survivors go back to the front, where they were.
    pub fn reap(&self, quiet: Duration) {
        let mut looked_at: Vec<Conn> = {
            let mut idle = self.idle.lock();
            // Oldest first: `put` pushes to the back with the time it came back.
            let oldest = idle
                .iter()
                .take_while(|conn| conn.idle_since.elapsed() >= quiet)
                .count();
            idle.drain(..oldest).collect()
        };
        looked_at.retain(|conn| self.usable(conn));
        let mut idle = self.idle.lock();
        for conn in looked_at.into_iter().rev() {
            idle.push_front(conn);
        }
        while idle.len() > self.max_idle {
            idle.pop_front();
        }
    }

    /// An idle connection that still looks open, if there is one; the stale are closed.
    pub fn take(&self) -> Option<Conn> {
        loop {
            let mut conn = self.idle.lock().pop_back()?;
            if self.usable(&conn) {
                conn.reused = true;
                return Some(conn);
            }
        }
    }

    /// Whether an idle connection may carry a request: not idle past the timeout, and not
    /// closed by the upstream.
    fn usable(&self, conn: &Conn) -> bool {
        conn.idle_since.elapsed() < self.idle_timeout && conn.still_open()
    }

    /// Keeps `conn` for the next request; beyond `max_idle` it is closed instead. Idle
    /// connections past the timeout go first: after a burst the upstream would otherwise
    /// be left holding many connections (closed at its end, half-open at ours) that no
    /// request reaches again.
    pub fn put(&self, mut conn: Conn) {
        conn.idle_since = Instant::now();
        let mut idle = self.idle.lock();
        while idle
            .front()
            .is_some_and(|old| old.idle_since.elapsed() >= self.idle_timeout)
        {
            idle.pop_front();
        }
        if idle.len() < self.max_idle {
            idle.push_back(conn);
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.idle.lock().len()
    }
}

async fn reap_every_while_used(pool: Weak<Pool>, period: Duration) {
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match pool.upgrade() {
            Some(pool) => pool.reap(period),
            None => return,
        }
    }
}

/// A connection whose writes and flushes fail after `limit` without progress.
pub struct StallGuard<T> {
    pub io: T,
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

    /// How long a write may wait for the peer.
    pub fn limit(&self) -> Duration {
        self.limit
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

impl<T: AsyncRead + Unpin> AsyncRead for StallGuard<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for StallGuard<T> {
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

/// A switched connection as one end of a WebSocket tunnel: the bytes the upstream sent
/// after its `101` (already in the buffer) come first.
pub struct Switched(pub Conn);

impl AsyncRead for Switched {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let conn = &mut self.get_mut().0;
        if conn.buf.is_empty() {
            return Pin::new(&mut conn.io).poll_read(cx, out);
        }
        let n = conn.buf.len().min(out.remaining());
        out.put_slice(&conn.buf[..n]);
        conn.buf.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Switched {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0.io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0.io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::time::Instant;

    const LIMIT: Duration = Duration::from_secs(30);

    #[tokio::test(start_paused = true)]
    async fn a_write_the_peer_never_takes_fails_after_the_limit() {
        let (ours, _theirs) = tokio::io::duplex(1024);
        let mut io = StallGuard::new(ours, LIMIT);
        let started = Instant::now();
        let err = io.write_all(&[7u8; 4096]).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed(), LIMIT);
    }

    #[tokio::test(start_paused = true)]
    async fn a_peer_that_reads_slowly_keeps_the_connection() {
        let (ours, mut theirs) = tokio::io::duplex(1024);
        let mut io = StallGuard::new(ours, LIMIT);
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
        io.write_all(&[7u8; 4096]).await.unwrap();
        assert_eq!(reader.await.unwrap(), 4096);
    }

    #[tokio::test]
    async fn the_pool_hands_out_live_connections_only() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let pool = Pool::new(8, Duration::from_secs(60));
        let first = Conn::open(&addr, LIMIT, LIMIT).await.unwrap();
        let (peer_of_first, _) = listener.accept().await.unwrap();
        let second = Conn::open(&addr, LIMIT, LIMIT).await.unwrap();
        let (_peer_of_second, _) = listener.accept().await.unwrap();
        let second_port = second.io.io.local_addr().unwrap().port();
        pool.put(second);
        pool.put(first);
        // The upstream closes the connection that would come out first.
        drop(peer_of_first);
        tokio::time::sleep(Duration::from_millis(50)).await;
        let taken = pool.take().unwrap();
        assert!(taken.reused);
        assert_eq!(taken.io.io.local_addr().unwrap().port(), second_port);
        assert!(pool.take().is_none());
    }

    #[tokio::test]
    async fn connections_idle_past_the_timeout_are_closed_when_another_comes_back() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let pool = Pool::new(8, Duration::from_millis(100));
        let mut peers = Vec::new();
        for _ in 0..3 {
            pool.put(Conn::open(&addr, LIMIT, LIMIT).await.unwrap());
            peers.push(listener.accept().await.unwrap().0);
        }
        assert_eq!(pool.len(), 3);
        std::thread::sleep(Duration::from_millis(150));
        pool.put(Conn::open(&addr, LIMIT, LIMIT).await.unwrap());
        assert_eq!(pool.len(), 1, "the three old ones are closed");
        // Closed at our end: the upstream reads the end of each of them.
        for mut peer in peers {
            let mut buf = [0u8; 1];
            assert_eq!(peer.read(&mut buf).await.unwrap(), 0);
        }
        let over = Pool::new(1, Duration::from_secs(60));
        over.put(Conn::open(&addr, LIMIT, LIMIT).await.unwrap());
        over.put(Conn::open(&addr, LIMIT, LIMIT).await.unwrap());
        assert_eq!(over.len(), 1, "no more than max_idle are kept");
    }

    #[tokio::test]
    async fn the_reaper_closes_what_the_upstream_closed_once_traffic_stops() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let pool = Pool::reaped(8, Duration::from_secs(60), Duration::from_millis(20));
        let mut peers = Vec::new();
        for _ in 0..3 {
            pool.put(Conn::open(&addr, LIMIT, LIMIT).await.unwrap());
            peers.push(listener.accept().await.unwrap().0);
        }
        // The upstream closes two of them; no request comes to take them.
        let kept = peers.pop().unwrap();
        drop(peers);
        let deadline = Instant::now() + Duration::from_secs(5);
        while pool.len() > 1 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(
            pool.len(),
            1,
            "the two closed ones are gone, the open one kept"
        );
        // Past the idle timeout, `reap` closes the last one too.
        let pool = Pool::new(8, Duration::from_millis(50));
        pool.put(Conn::open(&addr, LIMIT, LIMIT).await.unwrap());
        let (mut peer, _) = listener.accept().await.unwrap();
        pool.reap(Duration::ZERO);
        assert_eq!(pool.len(), 1);
        std::thread::sleep(Duration::from_millis(60));
        pool.reap(Duration::ZERO);
        assert_eq!(pool.len(), 0);
        let mut buf = [0u8; 1];
        assert_eq!(peer.read(&mut buf).await.unwrap(), 0, "closed at our end");
        drop(kept);
        // Connections idle less than `quiet` are not looked at; the older are, in order.
        let pool = Pool::new(8, Duration::from_secs(60));
        pool.put(Conn::open(&addr, LIMIT, LIMIT).await.unwrap());
        drop(listener.accept().await.unwrap().0);
        std::thread::sleep(Duration::from_millis(60));
        let recent = Conn::open(&addr, LIMIT, LIMIT).await.unwrap();
        let recent_port = recent.io.io.local_addr().unwrap().port();
        pool.put(recent);
        drop(listener.accept().await.unwrap().0);
        tokio::time::sleep(Duration::from_millis(20)).await;
        pool.reap(Duration::from_millis(50));
        assert_eq!(pool.len(), 1, "the older closed one is gone");
        let left = pool.idle.lock().pop_back().unwrap();
        assert_eq!(left.io.io.local_addr().unwrap().port(), recent_port);
    }
}
