//! Idle timeouts of the bodies the gateway streams.
//!
//! A body's clock runs only while the gateway waits for that body's next bytes: a sender
//! that has had nothing for `upstream_idle_timeout_ms` ends the body with an error, which
//! drops the connection it was streaming to. A reader that is merely slow stops the clock
//! (the gateway is not asking for more), so backpressure is never taken for idleness. (An
//! upstream that stops reading is `connector.rs`'s to cut.)

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::HeaderValue;
use http_body::{Body, Frame, SizeHint};
use tokio::time::{sleep, Sleep};

pub type BoxError = Box<dyn Error + Send + Sync>;

/// Which side of the exchange went quiet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idle {
    /// The client stopped sending its request body.
    Client,
    /// The upstream stopped sending its response body.
    Upstream,
}

impl fmt::Display for Idle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Client => "the client sent nothing of its request body in time",
            Self::Upstream => "the upstream sent nothing of its response body in time",
        })
    }
}

impl Error for Idle {}

/// Whether `err`, or one of its causes, is an [`Idle`] cut.
pub fn idle_cause(err: &(dyn Error + 'static)) -> Option<Idle> {
    let mut source = Some(err);
    while let Some(e) = source {
        if let Some(idle) = e.downcast_ref::<Idle>() {
            return Some(*idle);
        }
        source = e.source();
    }
    None
}

/// A body streamed through the gateway, cut when its sender is idle too long.
pub struct IdleBody<B> {
    inner: B,
    timeout: Duration,
    /// Armed while the gateway waits for the sender.
    timer: Option<Pin<Box<Sleep>>>,
    side: Side,
}

enum Side {
    /// The client's request body.
    Request,
    /// The upstream's response body; a cut is logged with the request it belongs to.
    Response {
        request_id: HeaderValue,
        client: Option<IpAddr>,
    },
}

impl<B> IdleBody<B> {
    /// The client's request body, on its way to the upstream.
    pub fn request(inner: B, timeout: Duration) -> Self {
        Self {
            inner,
            timeout,
            timer: None,
            side: Side::Request,
        }
    }

    /// The upstream's response body, on its way to the client.
    pub fn response(
        inner: B,
        timeout: Duration,
        request_id: HeaderValue,
        client: Option<IpAddr>,
    ) -> Self {
        Self {
            inner,
            timeout,
            timer: None,
            side: Side::Response { request_id, client },
        }
    }

    /// True once the sender has had nothing for the whole timeout since the gateway began
    /// to wait (the timer then wakes this task).
    fn waited_too_long(&mut self, cx: &mut Context<'_>) -> bool {
        let timeout = self.timeout;
        self.timer
            .get_or_insert_with(|| Box::pin(sleep(timeout)))
            .as_mut()
            .poll(cx)
            .is_ready()
    }
}

impl<B> Body for IdleBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                this.timer = None;
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(None) => {
                this.timer = None;
                Poll::Ready(None)
            }
            Poll::Ready(Some(Err(err))) => {
                let err = err.into();
                if let Side::Response { request_id, client } = &this.side {
                    tracing::warn!(request_id = ?request_id, client = ?client, error = %err, "the upstream's response body failed; the client's connection is cut");
                }
                Poll::Ready(Some(Err(err)))
            }
            Poll::Pending => {
                if !this.waited_too_long(cx) {
                    return Poll::Pending;
                }
                let idle = match &this.side {
                    Side::Request => Idle::Client,
                    Side::Response { request_id, client } => {
                        // The status line is gone: all that is left is to cut the client off.
                        tracing::warn!(request_id = ?request_id, client = ?client, idle_ms = this.timeout.as_millis() as u64, "the upstream sent nothing of its response body in time; both connections are cut");
                        Idle::Upstream
                    }
                };
                Poll::Ready(Some(Err(Box::new(idle))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use http_body_util::BodyExt;
    use tokio::sync::mpsc;
    use tokio::time::Instant;

    fn fed() -> (mpsc::Sender<Bytes>, Fed) {
        let (tx, rx) = mpsc::channel(4);
        (tx, Fed(rx))
    }

    /// A body whose frames the test sends by hand; dropping the sender ends it.
    struct Fed(mpsc::Receiver<Bytes>);

    impl Body for Fed {
        type Data = Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            self.get_mut()
                .0
                .poll_recv(cx)
                .map(|chunk| chunk.map(|c| Ok(Frame::data(c))))
        }
    }

    const LIMIT: Duration = Duration::from_secs(10);

    #[tokio::test(start_paused = true)]
    async fn a_sender_idle_for_the_timeout_cuts_the_body() {
        let (tx, body) = fed();
        let mut body = IdleBody::request(body, LIMIT);
        tx.send(Bytes::from_static(b"a")).await.unwrap();
        assert!(body.frame().await.unwrap().is_ok());
        // Nine seconds of silence, then a frame: the clock starts again.
        let sender = tokio::spawn(async move {
            sleep(Duration::from_secs(9)).await;
            tx.send(Bytes::from_static(b"b")).await.unwrap();
            tx
        });
        assert!(body.frame().await.unwrap().is_ok());
        let _tx = sender.await.unwrap();
        let started = Instant::now();
        let err = body.frame().await.unwrap().unwrap_err();
        assert_eq!(idle_cause(err.as_ref()), Some(Idle::Client));
        assert_eq!(started.elapsed(), LIMIT);
    }

    #[tokio::test(start_paused = true)]
    async fn a_reader_that_stops_asking_is_not_an_idle_sender() {
        let (tx, body) = fed();
        let mut body = IdleBody::response(body, LIMIT, HeaderValue::from_static("req_1"), None);
        tx.send(Bytes::from_static(b"a")).await.unwrap();
        assert!(body.frame().await.unwrap().is_ok());
        // The reader takes a minute to ask again; the sender had the next frame ready.
        sleep(Duration::from_secs(60)).await;
        tx.send(Bytes::from_static(b"b")).await.unwrap();
        assert!(body.frame().await.unwrap().is_ok());
        drop(tx);
        assert!(body.frame().await.is_none());
    }
}
