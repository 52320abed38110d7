//! The gateway's HTTP/1.1 client to the upstream, written here rather than taken from
//! hyper-util: its pooled client hands every request to the connection's own task through
//! a channel and back, two cross-task wake-ups per request that cost more than the rest of
//! the proxy's own work together (BENCHMARKS.md, "Gateway rows"). Here the request's task
//! writes the head and body itself and reads the answer itself: one buffer for the head,
//! the answer's head parsed by `httparse` (hyper's own parser), and the connection back
//! in the pool as soon as its body has been read.
//!
//! Only the upstream's side is written here; the client's side stays hyper's server, the
//! part that parses what the Internet sends.

use std::future::poll_fn;
use std::io::{self, Write as _};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::http::header::{HeaderMap, HeaderName, HeaderValue};
use axum::http::{Method, Response, StatusCode};
use bytes::{Buf, Bytes, BytesMut};
use http_body::{Frame, SizeHint};
use http_body_util::BodyExt;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::ReadHalf;

use super::connection::{read_into, Conn, Pool, StallGuard};
use super::framing::{response_framing, Chunked, Framing, Step};
use super::idle::BoxError;

/// Largest response head accepted from the upstream, bytes.
const MAX_HEAD: usize = 64 * 1024;
/// Most header fields accepted in a response head.
const MAX_HEADERS: usize = 128;
/// Idle connections kept for the next requests.
const MAX_IDLE: usize = 512;
/// An idle connection older than this is closed rather than used.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// How often idle connections are looked at when no request comes to use them.
const REAP_EVERY: Duration = Duration::from_secs(5);

/// The request body, and how its length is told to the upstream.
pub enum OutBody {
    None,
    /// `Content-Length` was sent to us: the same length goes up.
    Length(u64, Body),
    /// The client sent it chunked: it goes up chunked.
    Chunked(Body),
}

/// A request ready for the upstream.
pub struct Outgoing<'a> {
    pub method: &'a Method,
    /// The head so far: begun by [`Client::head`] (request line and `Host`), then the
    /// header fields to send, `name: value` lines with CRLF, hop-by-hop fields already
    /// removed; the body's framing and the blank line are written here.
    pub head: Vec<u8>,
    pub body: OutBody,
}

/// What the upstream answered.
pub enum Answer {
    Response(Response<Body>),
    /// `101 Switching Protocols`: the head, and the connection, now one end of a tunnel.
    Switched(Response<()>, Conn),
}

/// Why no answer came.
#[derive(Debug)]
pub enum Failure {
    /// Refused, reset, closed early, or an answer that is not HTTP/1.1: `502`.
    Unreachable(String),
    /// No connection, no answer, or no progress writing, in time: `504`.
    TimedOut(String),
    /// The client's request body failed (its limit, its idle timeout, its connection).
    Body(BoxError),
}

impl Failure {
    fn io(context: &str, err: &io::Error) -> Self {
        let text = format!("{context}: {err}");
        if err.kind() == io::ErrorKind::TimedOut {
            Self::TimedOut(text)
        } else {
            Self::Unreachable(text)
        }
    }
}

/// Why one attempt on one connection failed.
enum Attempt {
    Failed(Failure),
    /// A pooled connection the upstream had closed: nothing of an answer came.
    Stale(Failure),
}

pub struct Client {
    /// `host:port`, to connect to.
    address: String,
    /// As configured, for `Host`.
    authority: String,
    connect_timeout: Duration,
    response_timeout: Duration,
    pool: Arc<Pool>,
}

impl Client {
    /// `authority` is `host[:port]`; `response_timeout` bounds the wait for an answer's
    /// head once the request has been sent, and any write the upstream takes nothing of.
    pub fn new(authority: &str, connect_timeout: Duration, response_timeout: Duration) -> Self {
        let has_port = authority.contains(':') && !authority.ends_with(']');
        let address = if has_port {
            authority.to_owned()
        } else {
            format!("{authority}:80")
        };
        Self {
            address,
            authority: authority.to_owned(),
            connect_timeout,
            response_timeout,
            pool: Pool::reaped(MAX_IDLE, IDLE_TIMEOUT, REAP_EVERY),
        }
    }

    /// A request head for `method` on `target` (path and query) begun in one buffer with
    /// `room` to spare for the header fields the caller writes next.
    pub fn head(&self, method: &Method, target: &str, room: usize) -> Vec<u8> {
        let mut head = Vec::with_capacity(64 + target.len() + room);
        head.extend_from_slice(method.as_str().as_bytes());
        head.push(b' ');
        head.extend_from_slice(target.as_bytes());
        head.extend_from_slice(b" HTTP/1.1\r\nhost: ");
        head.extend_from_slice(self.authority.as_bytes());
        head.extend_from_slice(b"\r\n");
        head
    }

    /// Sends `req` and reads the head of the answer; the answer's body streams from the
    /// connection as the caller reads it.
    pub async fn send(&self, req: Outgoing<'_>) -> Result<Answer, Failure> {
        let mut head = req.head;
        end_head(&mut head, &req.body);
        let head_method = req.method == Method::HEAD;
        // RFC 9110 §9.2.2: only an idempotent request without a body is sent again, and
        // only when the pooled connection it went out on was already closed.
        let retryable = req.method.is_idempotent() && matches!(req.body, OutBody::None);
        let mut body = req.body;
        let mut conn = match self.pool.take() {
            Some(conn) => conn,
            None => self.connect().await?,
        };
        loop {
            match self
                .exchange(&mut conn, &head, &mut body, head_method)
                .await
            {
                Ok(answer) => return Ok(self.answer(conn, answer)),
                Err(Attempt::Stale(_)) if retryable => conn = self.connect().await?,
                Err(Attempt::Stale(failure) | Attempt::Failed(failure)) => return Err(failure),
            }
        }
    }

    async fn connect(&self) -> Result<Conn, Failure> {
        Conn::open(&self.address, self.connect_timeout, self.response_timeout)
            .await
            .map_err(|e| Failure::io("connecting to the upstream failed", &e))
    }

    /// Writes the request on `conn` and reads the answer's head.
    async fn exchange(
        &self,
        conn: &mut Conn,
        head: &[u8],
        body: &mut OutBody,
        head_method: bool,
    ) -> Result<Head, Attempt> {
        let reused = conn.reused;
        let stale = |failure| {
            if reused {
                Attempt::Stale(failure)
            } else {
                Attempt::Failed(failure)
            }
        };
        let sent = match write_request(conn, head, body).await {
            Ok(sent) => sent,
            Err(failure @ Failure::Body(_)) => return Err(Attempt::Failed(failure)),
            Err(failure) => return Err(stale(failure)),
        };
        let read = tokio::time::timeout(self.response_timeout, read_head(conn, head_method)).await;
        match read {
            Ok(Ok(mut head)) => {
                head.keep_alive &= sent == Sent::Whole;
                Ok(head)
            }
            Ok(Err(HeadError::ClosedBeforeAnswer(failure))) => Err(stale(failure)),
            Ok(Err(HeadError::Failed(failure))) => Err(Attempt::Failed(failure)),
            Err(_) => Err(Attempt::Failed(Failure::TimedOut(
                "the upstream sent no response headers in time".into(),
            ))),
        }
    }

    fn answer(&self, mut conn: Conn, head: Head) -> Answer {
        if head.response.status() == StatusCode::SWITCHING_PROTOCOLS {
            return Answer::Switched(head.response, conn);
        }
        let (parts, ()) = head.response.into_parts();
        let pool = self.pool.clone();
        let body = match head.framing {
            Framing::None => {
                release(&pool, conn, head.keep_alive);
                Body::empty()
            }
            Framing::Length(n) if conn.buf.len() as u64 >= n => {
                // The whole body came with the head: the connection is free at once.
                let data = conn.buf.split_to(n as usize).freeze();
                release(&pool, conn, head.keep_alive);
                Body::from(data)
            }
            framing => Body::new(UpstreamBody {
                conn: Some(conn),
                pool,
                decode: match framing {
                    Framing::Length(n) => Decode::Length(n),
                    Framing::Chunked => Decode::Chunked(Chunked::default()),
                    _ => Decode::UntilClose,
                },
                keep_alive: head.keep_alive,
            }),
        };
        Answer::Response(Response::from_parts(parts, body))
    }
}

/// Ends a request head with the body's framing and the blank line.
fn end_head(head: &mut Vec<u8>, body: &OutBody) {
    match body {
        OutBody::None => {}
        OutBody::Length(n, _) => {
            // Formatted straight into the head: writing to a `Vec` cannot fail.
            let _ = write!(head, "content-length: {n}\r\n");
        }
        OutBody::Chunked(_) => head.extend_from_slice(b"transfer-encoding: chunked\r\n"),
    }
    head.extend_from_slice(b"\r\n");
}

/// How sending a request ended.
#[derive(Debug, PartialEq, Eq)]
enum Sent {
    Whole,
    /// The upstream began its answer before it had taken the whole body (a `413` or a
    /// `401` to an upload): the rest is not sent, and the connection is not reused.
    AnsweredEarly,
}

/// Writes the head, then the body as the client sends it. While the body goes up, what
/// the upstream sends is the start of its answer, and sending stops.
async fn write_request(conn: &mut Conn, head: &[u8], body: &mut OutBody) -> Result<Sent, Failure> {
    let sent = |r: io::Result<()>| r.map_err(|e| Failure::io("sending to the upstream failed", &e));
    sent(conn.io.write_all(head).await)?;
    let (body, chunked) = match body {
        OutBody::None => return Ok(Sent::Whole),
        OutBody::Length(_, body) => (body, false),
        OutBody::Chunked(body) => (body, true),
    };
    let limit = conn.io.limit();
    let Conn { io, buf, .. } = conn;
    let (mut from_upstream, to_upstream) = io.io.split();
    let mut to_upstream = StallGuard::new(to_upstream, limit);
    loop {
        let frame = tokio::select! {
            biased;
            read = spoke(&mut from_upstream, buf) => return early(read),
            frame = body.frame() => frame,
        };
        let Some(frame) = frame else {
            break;
        };
        let frame = frame.map_err(|e| Failure::Body(e.into()))?;
        let Ok(data) = frame.into_data() else {
            continue; // trailers are not forwarded
        };
        if data.is_empty() {
            continue;
        }
        // A chunk's size line, on the stack: 16 hex digits and CRLF at most.
        let mut line = [0u8; 18];
        let size_line = if chunked {
            let mut rest = &mut line[..];
            let _ = write!(rest, "{:x}\r\n", data.len());
            let written = 18 - rest.len();
            &line[..written]
        } else {
            &line[..0]
        };
        let end: &[u8] = if chunked { b"\r\n" } else { b"" };
        let write = async {
            to_upstream.write_all(size_line).await?;
            to_upstream.write_all(&data).await?;
            to_upstream.write_all(end).await
        };
        tokio::select! {
            biased;
            read = spoke(&mut from_upstream, buf) => return early(read),
            wrote = write => sent(wrote)?,
        }
    }
    if chunked {
        tokio::select! {
            biased;
            read = spoke(&mut from_upstream, buf) => return early(read),
            wrote = to_upstream.write_all(b"0\r\n\r\n") => sent(wrote)?,
        }
    }
    Ok(Sent::Whole)
}

/// Resolves once the upstream has sent something (or closed, or failed), reading it into
/// `buf`.
async fn spoke(from: &mut ReadHalf<'_>, buf: &mut BytesMut) -> io::Result<usize> {
    poll_fn(|cx| read_into(Pin::new(&mut *from), buf, cx)).await
}

/// What the upstream did while the request body was still going up.
fn early(read: io::Result<usize>) -> Result<Sent, Failure> {
    match read {
        Ok(0) => Err(Failure::Unreachable(
            "the upstream closed the connection while the request body was sent".into(),
        )),
        Ok(_) => Ok(Sent::AnsweredEarly),
        Err(e) => Err(Failure::io(
            "the upstream failed while the request body was sent",
            &e,
        )),
    }
}

/// An answer's head, and how its body is framed.
struct Head {
    response: Response<()>,
    framing: Framing,
    /// The connection may carry another request once this body has been read.
    keep_alive: bool,
}

enum HeadError {
    /// The connection ended (or was reset) before a byte of the answer.
    ClosedBeforeAnswer(Failure),
    Failed(Failure),
}

/// Reads until a final (non-`1xx`, or `101`) response head has arrived; interim answers
/// such as `100 Continue` are read and dropped.
async fn read_head(conn: &mut Conn, head_method: bool) -> Result<Head, HeadError> {
    let mut got_any = !conn.buf.is_empty();
    loop {
        if !conn.buf.is_empty() {
            if let Some(head) = parse_head(conn, head_method).map_err(HeadError::Failed)? {
                return Ok(head);
            }
            if conn.buf.len() > MAX_HEAD {
                return Err(HeadError::Failed(Failure::Unreachable(
                    "the upstream's response head is too large".into(),
                )));
            }
        }
        match poll_fn(|cx| conn.poll_read_more(cx)).await {
            Ok(0) | Err(_) if !got_any => {
                return Err(HeadError::ClosedBeforeAnswer(Failure::Unreachable(
                    "the upstream closed the connection before answering".into(),
                )))
            }
            Ok(0) => {
                return Err(HeadError::Failed(Failure::Unreachable(
                    "the upstream closed the connection in the middle of its answer".into(),
                )))
            }
            Ok(_) => got_any = true,
            Err(e) => {
                return Err(HeadError::Failed(Failure::io(
                    "reading the upstream's answer failed",
                    &e,
                )))
            }
        }
    }
}

/// The head at the front of the buffer, once it is whole (`None`: read more).
fn parse_head(conn: &mut Conn, head_method: bool) -> Result<Option<Head>, Failure> {
    loop {
        let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut parsed = httparse::Response::new(&mut fields);
        let len = match parsed.parse(&conn.buf) {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(e) => {
                return Err(Failure::Unreachable(format!(
                    "the upstream's answer is not HTTP/1.1: {e}"
                )))
            }
        };
        let bad = |what: &str| Failure::Unreachable(format!("the upstream's answer has {what}"));
        let code = parsed.code.unwrap_or_default();
        let status = StatusCode::from_u16(code).map_err(|_| bad("an invalid status"))?;
        if status.is_informational() && status != StatusCode::SWITCHING_PROTOCOLS {
            conn.buf.advance(len);
            if conn.buf.is_empty() {
                return Ok(None);
            }
            continue;
        }
        let mut headers = HeaderMap::with_capacity(parsed.headers.len());
        let mut close = parsed.version != Some(1);
        for field in parsed.headers.iter() {
            let name = HeaderName::from_bytes(field.name.as_bytes())
                .map_err(|_| bad("an invalid header name"))?;
            let value =
                HeaderValue::from_bytes(field.value).map_err(|_| bad("an invalid header value"))?;
            if name == axum::http::header::CONNECTION {
                close |= value
                    .as_bytes()
                    .split(|b| *b == b',')
                    .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"close"));
            }
            headers.append(name, value);
        }
        let framing =
            response_framing(head_method, code, &headers).map_err(Failure::Unreachable)?;
        conn.buf.advance(len);
        let mut response = Response::new(());
        *response.status_mut() = status;
        *response.headers_mut() = headers;
        return Ok(Some(Head {
            response,
            framing,
            keep_alive: !close && framing != Framing::UntilClose,
        }));
    }
}

/// Back to the pool when the connection may carry another request and nothing of this
/// answer is left unread; closed otherwise.
fn release(pool: &Pool, conn: Conn, keep_alive: bool) {
    if keep_alive && conn.buf.is_empty() {
        pool.put(conn);
    }
}

enum Decode {
    Length(u64),
    Chunked(Chunked),
    UntilClose,
}

/// An answer's body, read from its connection as the client's side asks for it.
struct UpstreamBody {
    /// `None` once the body has ended.
    conn: Option<Conn>,
    pool: Arc<Pool>,
    decode: Decode,
    keep_alive: bool,
}

impl UpstreamBody {
    fn end(&mut self) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if let Some(conn) = self.conn.take() {
            // `keep_alive` is already false for a body delimited by the close.
            release(&self.pool, conn, self.keep_alive);
        }
        Poll::Ready(None)
    }
}

impl http_body::Body for UpstreamBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        loop {
            let Some(conn) = this.conn.as_mut() else {
                return Poll::Ready(None);
            };
            let data = match &mut this.decode {
                Decode::Length(0) => return this.end(),
                Decode::Length(left) if !conn.buf.is_empty() => {
                    let take = conn
                        .buf
                        .len()
                        .min(usize::try_from(*left).unwrap_or(usize::MAX));
                    *left -= take as u64;
                    Some(conn.buf.split_to(take).freeze())
                }
                Decode::Chunked(chunked) => match chunked.step(&mut conn.buf) {
                    Ok(Step::Data(data)) => Some(data),
                    Ok(Step::End) => return this.end(),
                    Ok(Step::NeedMore) => None,
                    Err(e) => {
                        this.conn = None;
                        return Poll::Ready(Some(Err(format!("the upstream's body: {e}").into())));
                    }
                },
                Decode::UntilClose if !conn.buf.is_empty() => Some(conn.buf.split().freeze()),
                Decode::Length(_) | Decode::UntilClose => None,
            };
            if let Some(data) = data {
                return Poll::Ready(Some(Ok(Frame::data(data))));
            }
            match conn.poll_read_more(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(0)) if matches!(this.decode, Decode::UntilClose) => {
                    return this.end()
                }
                Poll::Ready(Ok(0)) => {
                    this.conn = None;
                    return Poll::Ready(Some(Err(
                        "the upstream closed the connection in the middle of its body".into(),
                    )));
                }
                Poll::Ready(Ok(_)) => {}
                Poll::Ready(Err(e)) => {
                    this.conn = None;
                    return Poll::Ready(Some(Err(Box::new(e))));
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.conn.is_none() || matches!(self.decode, Decode::Length(0))
    }

    fn size_hint(&self) -> SizeHint {
        match self.decode {
            Decode::Length(left) => SizeHint::with_exact(left),
            _ => SizeHint::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_head_is_one_buffer_with_our_framing() {
        let wait = Duration::from_secs(1);
        let client = Client::new("127.0.0.1:9000", wait, wait);
        let mut head = client.head(&Method::POST, "/v1/books?x=1", 0);
        head.extend_from_slice(b"x-a: 1\r\nx-a: 2\r\n");
        end_head(&mut head, &OutBody::Length(5, Body::from("hello")));
        assert_eq!(
            String::from_utf8(head).unwrap(),
            "POST /v1/books?x=1 HTTP/1.1\r\nhost: 127.0.0.1:9000\r\nx-a: 1\r\nx-a: 2\r\ncontent-length: 5\r\n\r\n"
        );
        let mut head = client.head(&Method::GET, "/", 0);
        end_head(&mut head, &OutBody::Chunked(Body::empty()));
        assert_eq!(
            String::from_utf8(head).unwrap(),
            "GET / HTTP/1.1\r\nhost: 127.0.0.1:9000\r\ntransfer-encoding: chunked\r\n\r\n"
        );
    }
}
