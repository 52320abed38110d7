//! Upstreams for the gateway tests, each a real server on port 0: one that records every
//! HTTP request it receives and can be told to stall, stream or count; one that drops
//! connections; and a WebSocket echo server that records its handshakes.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use tokio::io::AsyncReadExt;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request as WsRequest};
use tokio_tungstenite::tungstenite::Message;

/// A request as the upstream saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    /// Path and query.
    pub target: String,
    pub headers: HeaderMap,
    /// Bytes of the body received (counted as they stream, never buffered).
    pub body_len: u64,
    /// The body ended as its framing said; false when the connection was cut mid-body.
    pub body_complete: bool,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }
}

#[derive(Default)]
struct Recorded {
    seen: Mutex<Vec<Seen>>,
    /// Stalled response bodies the gateway let go of (its connection to us was dropped).
    cut: AtomicUsize,
}

/// The recording upstream. Targets it understands:
/// - `/stall…`: the body is read, then no answer ever comes;
/// - `/stall-body…`: `200` and the first bytes of a body that never ends;
/// - `/bytes/N`: `200` with a body of N zero bytes, streamed;
/// - anything else: a small JSON answer naming the target, with hop-by-hop headers.
pub struct Upstream {
    pub addr: SocketAddr,
    recorded: Arc<Recorded>,
    task: JoinHandle<()>,
}

impl Upstream {
    pub async fn start() -> Self {
        let recorded = Arc::new(Recorded::default());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new()
            .fallback(record)
            .with_state(recorded.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            addr,
            recorded,
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.recorded.seen.lock().unwrap().clone()
    }

    /// The last request received.
    pub fn last(&self) -> Seen {
        self.seen().pop().expect("the upstream received a request")
    }

    /// How many stalled response bodies were dropped by the gateway.
    pub fn cut(&self) -> usize {
        self.recorded.cut.load(Ordering::SeqCst)
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Chunks of a streamed answer.
static ZEROS: [u8; 64 * 1024] = [0; 64 * 1024];

async fn record(State(recorded): State<Arc<Recorded>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let target = parts
        .uri
        .path_and_query()
        .map(|pq| pq.as_str().to_owned())
        .unwrap_or_default();
    let mut body_len = 0u64;
    let mut body_complete = true;
    let mut chunks = body.into_data_stream();
    while let Some(chunk) = chunks.next().await {
        match chunk {
            Ok(bytes) => body_len += bytes.len() as u64,
            Err(_) => {
                body_complete = false;
                break;
            }
        }
    }
    recorded.seen.lock().unwrap().push(Seen {
        method: parts.method.to_string(),
        target: target.clone(),
        headers: parts.headers,
        body_len,
        body_complete,
    });
    if target.starts_with("/stall-body") {
        return stalled_body(recorded);
    }
    if target.starts_with("/stall") {
        std::future::pending::<()>().await;
    }
    if let Some(n) = target.strip_prefix("/bytes/") {
        return zeros(n.parse().unwrap());
    }
    let mut res = Body::from(format!("{{\"upstream\":\"{target}\"}}")).into_response();
    let h = res.headers_mut();
    h.insert("content-type", HeaderValue::from_static("application/json"));
    // Hop-by-hop headers the gateway must not pass back to the client.
    h.insert("connection", HeaderValue::from_static("x-upstream-hop"));
    h.insert("x-upstream-hop", HeaderValue::from_static("secret"));
    h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
    h.insert("x-upstream", HeaderValue::from_static("yes"));
    res
}

/// Counts one cut when the body it is part of is dropped.
struct CountsCut(Arc<Recorded>);

impl Drop for CountsCut {
    fn drop(&mut self) {
        self.0.cut.fetch_add(1, Ordering::SeqCst);
    }
}

fn stalled_body(recorded: Arc<Recorded>) -> Response {
    let guard = CountsCut(recorded);
    let first = futures_util::stream::once(async { Ok::<_, Infallible>(Bytes::from("partial")) });
    let stream = first
        .chain(futures_util::stream::pending())
        .map(move |chunk| {
            let _ = &guard;
            chunk
        });
    Body::from_stream(stream).into_response()
}

fn zeros(n: u64) -> Response {
    let full = n / ZEROS.len() as u64;
    let rest = (n % ZEROS.len() as u64) as usize;
    let chunks = (0..full)
        .map(|_| Bytes::from_static(&ZEROS))
        .chain((rest > 0).then(|| Bytes::from_static(&ZEROS[..rest])))
        .map(Ok::<_, Infallible>);
    let mut res = Body::from_stream(futures_util::stream::iter(chunks)).into_response();
    res.headers_mut()
        .insert("content-length", HeaderValue::from(n));
    res
}

/// An upstream that reads the request and drops the connection without answering.
pub async fn resetting_upstream() -> (String, JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut buf = [0u8; 1024];
            let _ = stream.read(&mut buf).await;
            drop(stream);
        }
    });
    (format!("http://{addr}"), task)
}

/// The path the echo upstream accepts handshakes on; any other is refused with 404.
pub const ECHO_PATH: &str = "/v1/live/echo";

#[derive(Default)]
struct Echoes {
    /// TCP connections accepted, handshake or not.
    connections: AtomicUsize,
    /// The headers of every WebSocket handshake accepted.
    handshakes: Mutex<Vec<HeaderMap>>,
    /// Accepted WebSocket connections that have ended.
    closed: AtomicUsize,
}

/// A WebSocket upstream: greets each connection with `welcome`, then echoes every text and
/// binary message until the connection ends.
pub struct EchoUpstream {
    pub addr: SocketAddr,
    echoes: Arc<Echoes>,
    task: JoinHandle<()>,
}

impl EchoUpstream {
    pub async fn start() -> Self {
        let echoes = Arc::new(Echoes::default());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn({
            let echoes = echoes.clone();
            async move {
                while let Ok((stream, _)) = listener.accept().await {
                    echoes.connections.fetch_add(1, Ordering::SeqCst);
                    tokio::spawn(echo(stream, echoes.clone()));
                }
            }
        });
        Self { addr, echoes, task }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn connections(&self) -> usize {
        self.echoes.connections.load(Ordering::SeqCst)
    }

    pub fn handshakes(&self) -> Vec<HeaderMap> {
        self.echoes.handshakes.lock().unwrap().clone()
    }

    pub fn closed(&self) -> usize {
        self.echoes.closed.load(Ordering::SeqCst)
    }
}

impl Drop for EchoUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

// tungstenite's handshake callback returns its error response by value.
#[allow(clippy::result_large_err)]
async fn echo(stream: tokio::net::TcpStream, echoes: Arc<Echoes>) {
    let record = |req: &WsRequest, res| {
        if req.uri().path() != ECHO_PATH {
            let mut refusal = ErrorResponse::new(Some("no such stream".into()));
            *refusal.status_mut() = StatusCode::NOT_FOUND;
            return Err(refusal);
        }
        echoes
            .handshakes
            .lock()
            .unwrap()
            .push(req.headers().clone());
        Ok(res)
    };
    let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(stream, record).await else {
        return;
    };
    if ws.send(Message::text("welcome")).await.is_ok() {
        while let Some(Ok(message)) = ws.next().await {
            let echoed = match message {
                Message::Text(_) | Message::Binary(_) => ws.send(message).await,
                Message::Close(_) => break,
                _ => Ok(()),
            };
            if echoed.is_err() {
                break;
            }
        }
    }
    echoes.closed.fetch_add(1, Ordering::SeqCst);
}

/// One answer of a [`RawUpstream`]: bytes written as they are as soon as a request's head
/// has arrived, then the connection is closed or kept for the next request.
pub struct RawAnswer {
    pub bytes: &'static [u8],
    pub close: bool,
    /// Milliseconds to wait after the answer, reading nothing, before going on.
    pub hold_ms: u64,
}

/// An upstream that speaks HTTP/1.1 by hand, to send framings an ordinary server never
/// would (a body ended by the close, interim answers, trailers, conflicting lengths).
/// It answers the requests it receives, on any connection, with `answers` in turn, and
/// records each request head.
pub struct RawUpstream {
    pub url: String,
    heads: Arc<Mutex<Vec<String>>>,
    connections: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl RawUpstream {
    pub async fn start(answers: Vec<RawAnswer>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let heads = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(AtomicUsize::new(0));
        let answers = Arc::new(Mutex::new(std::collections::VecDeque::from(answers)));
        let (seen, opened) = (heads.clone(), connections.clone());
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                opened.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(raw_connection(stream, answers.clone(), seen.clone()));
            }
        });
        Self {
            url,
            heads,
            connections,
            task,
        }
    }

    /// The request heads received, in order.
    pub fn heads(&self) -> Vec<String> {
        self.heads.lock().unwrap().clone()
    }

    /// TCP connections accepted.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

impl Drop for RawUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn raw_connection(
    mut stream: tokio::net::TcpStream,
    answers: Arc<Mutex<std::collections::VecDeque<RawAnswer>>>,
    heads: Arc<Mutex<Vec<String>>>,
) {
    use tokio::io::AsyncWriteExt;
    let mut buf = Vec::new();
    loop {
        // A request is its head: the tests send no bodies, or bodies never read.
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let end = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        let head: Vec<u8> = buf.drain(..end).collect();
        heads
            .lock()
            .unwrap()
            .push(String::from_utf8_lossy(&head).into_owned());
        let Some(answer) = answers.lock().unwrap().pop_front() else {
            return;
        };
        if stream.write_all(answer.bytes).await.is_err() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(answer.hold_ms)).await;
        if answer.close {
            return;
        }
    }
}
