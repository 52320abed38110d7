//! One HTTP/1.1 keep-alive connection to a server on this machine, shared by the load
//! generator and by scenario set-up (fetching a token before a run).
//!
//! Knows hyper and sockets; knows nothing of scenarios, timing or statistics.

use std::net::SocketAddr;

use anyhow::{Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{HeaderValue, HOST};
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// A request as the scenarios build it: the body is always in memory.
pub type BenchRequest = Request<Full<Bytes>>;

/// An open keep-alive connection; requests on it are sent one at a time.
pub struct Connection {
    sender: SendRequest<Full<Bytes>>,
    host: HeaderValue,
}

impl Connection {
    pub async fn open(addr: SocketAddr) -> Result<Self> {
        let stream = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connecting to {addr}"))?;
        // Without it a request written as head then body can wait on a delayed ACK.
        stream.set_nodelay(true)?;
        let (sender, driver) = http1::handshake(TokioIo::new(stream)).await?;
        // The driver ends when the sender is dropped or the peer closes; failures surface
        // through `send`, so its own result carries nothing more.
        tokio::spawn(async move {
            let _ = driver.await;
        });
        let host = HeaderValue::from_str(&addr.to_string())?;
        Ok(Self { sender, host })
    }

    /// Sends one request and reads the whole response body.
    pub async fn send(&mut self, mut request: BenchRequest) -> Result<(StatusCode, Bytes)> {
        request
            .headers_mut()
            .entry(HOST)
            .or_insert_with(|| self.host.clone());
        self.sender.ready().await?;
        let response = self.sender.send_request(request).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        Ok((status, body))
    }
}

/// Sends a single request on a fresh connection (set-up and readiness checks).
pub async fn send_once(addr: SocketAddr, request: BenchRequest) -> Result<(StatusCode, Bytes)> {
    Connection::open(addr).await?.send(request).await
}

/// The first bytes of a body, for error messages.
pub fn body_excerpt(body: &[u8]) -> String {
    const LIMIT: usize = 200;
    let text = String::from_utf8_lossy(body);
    match text.char_indices().nth(LIMIT) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.into_owned(),
    }
}
