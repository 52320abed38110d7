//! One large upload, streamed: a request body of any size made from one 64 KiB chunk sent
//! again and again, so the sender holds 64 KiB however large the upload, and the
//! receiving side's memory is what is measured.
//!
//! Knows hyper and sockets; which server, path and credential are the caller's.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, SizeHint};
use hyper::client::conn::http1;
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HOST};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::client::body_excerpt;

const CHUNK: usize = 64 << 10;
/// Longer than any upload the bench makes should take on loopback.
const UPLOAD_TIMEOUT: Duration = Duration::from_secs(300);

/// `len` bytes, as `len / CHUNK` frames of the same chunk and one shorter one.
struct RepeatBody {
    chunk: Bytes,
    remaining: u64,
}

impl Body for RepeatBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        let take = usize::try_from(self.remaining).map_or(CHUNK, |left| left.min(CHUNK));
        self.remaining -= take as u64;
        Poll::Ready(Some(Ok(Frame::data(self.chunk.slice(..take)))))
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

#[derive(Deserialize)]
struct Received {
    received: u64,
}

/// `POST path` with a body of `len` bytes (and `authorization`, if given) to `addr`;
/// fails unless the answer is 2xx and says `{"received": len}`. Returns how long it took.
pub async fn post(
    addr: SocketAddr,
    path: &str,
    authorization: Option<&HeaderValue>,
    len: u64,
) -> Result<Duration> {
    let started = Instant::now();
    let send = async {
        let stream = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connecting to {addr}"))?;
        stream.set_nodelay(true)?;
        let (mut sender, driver) = http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = driver.await;
        });
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(HOST, addr.to_string())
            .header(CONTENT_TYPE, "application/octet-stream")
            .header(CONTENT_LENGTH, len)
            .body(RepeatBody {
                chunk: Bytes::from(vec![b'x'; CHUNK]),
                remaining: len,
            })?;
        if let Some(value) = authorization {
            request.headers_mut().insert(AUTHORIZATION, value.clone());
        }
        let response = sender.send_request(request).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        anyhow::Ok((status, body))
    };
    let (status, body) = tokio::time::timeout(UPLOAD_TIMEOUT, send)
        .await
        .with_context(|| format!("the upload did not finish within {UPLOAD_TIMEOUT:?}"))??;
    let elapsed = started.elapsed();
    if !status.is_success() {
        bail!("upload: status {status}: {}", body_excerpt(&body));
    }
    let received: Received = serde_json::from_slice(&body)
        .with_context(|| format!("upload: unexpected answer {}", body_excerpt(&body)))?;
    if received.received != len {
        bail!(
            "upload: the upstream received {} of {len} bytes",
            received.received
        );
    }
    Ok(elapsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn repeat_body_yields_exactly_its_length() -> Result<()> {
        for len in [0, 1, CHUNK as u64, CHUNK as u64 * 3 + 17] {
            let body = RepeatBody {
                chunk: Bytes::from(vec![b'x'; CHUNK]),
                remaining: len,
            };
            assert_eq!(body.size_hint().exact(), Some(len));
            let bytes = body.collect().await?.to_bytes();
            assert_eq!(bytes.len() as u64, len);
        }
        Ok(())
    }
}
