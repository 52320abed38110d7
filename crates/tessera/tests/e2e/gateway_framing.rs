//! The gateway's own HTTP/1.1 client against answers framed every way RFC 9112 allows
//! (a body ended by the close, chunked with trailers, interim `1xx`, `HEAD`), against
//! framings a proxy must refuse, against pooled connections the upstream has closed, and
//! against an answer that comes before the upload it refuses.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::gateway::header;
use crate::support::upstream::{RawAnswer, RawUpstream};
use crate::support::{Backend, TestApp};

async fn spawn(answers: Vec<RawAnswer>) -> (TestApp, RawUpstream, String) {
    let up = RawUpstream::start(answers).await;
    let url = up.url.clone();
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.upstream = Some(url);
        c.unmatched = "authenticated".into();
    })
    .await;
    let c = app.client(None).await;
    let token = app.access_token(&c).await;
    (app, up, token)
}

fn answer(bytes: &'static [u8]) -> RawAnswer {
    RawAnswer {
        bytes,
        close: false,
        hold_ms: 0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_framing_of_an_answer_reaches_the_client_whole() {
    let (app, up, token) = spawn(vec![
        RawAnswer {
            bytes: b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nread until the close",
            close: true,
            hold_ms: 0,
        },
        answer(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nx-kind: chunked\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nx-trailer: 1\r\n\r\n"),
        answer(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n"),
        answer(b"HTTP/1.1 204 No Content\r\nx-kind: empty\r\n\r\n"),
        answer(b"HTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\nok"),
    ])
    .await;

    let res = app.get_bearer("/v1/close", &token).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "read until the close");
    let host = up.heads()[0].clone();
    let authority = up.url.trim_start_matches("http://");
    assert!(
        host.starts_with("GET /v1/close HTTP/1.1\r\nhost: ") && host.contains(authority),
        "{host}"
    );

    let res = app.get_bearer("/v1/chunked", &token).await;
    assert_eq!(res.status(), 200, "the interim 100 is not the answer");
    assert_eq!(header(&res, "x-kind").as_deref(), Some("chunked"));
    assert_eq!(res.text().await.unwrap(), "hello world");

    // HEAD: a length, and no body after it; the connection carries the next request.
    let res = app
        .http
        .head(app.url("/v1/head"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "content-length").as_deref(), Some("10"));

    let res = app.get_bearer("/v1/empty", &token).await;
    assert_eq!(res.status(), 204);
    assert_eq!(header(&res, "x-kind").as_deref(), Some("empty"));
    let res = app.get_bearer("/v1/last", &token).await;
    assert_eq!(res.status(), 201);
    assert_eq!(res.text().await.unwrap(), "ok");

    // The first connection ended with its body; the other four answers shared one.
    assert_eq!(up.heads().len(), 5);
    assert_eq!(up.connections(), 2);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_a_proxy_cannot_frame_is_502() {
    let (app, up, token) = spawn(vec![
        answer(b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\ncontent-length: 4\r\n\r\nabcd"),
        answer(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"),
        answer(b"HTTP/1.1 2000 Odd\r\n\r\n"),
        answer(b"SSH-2.0-OpenSSH\r\n\r\n"),
    ])
    .await;
    for path in ["/v1/lengths", "/v1/fine", "/v1/status", "/v1/garbage"] {
        let res = app.get_bearer(path, &token).await;
        let status = res.status().as_u16();
        let body = res.text().await.unwrap();
        if path == "/v1/fine" {
            assert_eq!((status, body.as_str()), (200, "ok"));
        } else {
            assert_eq!(status, 502, "{path}: {body}");
            assert!(body.contains("bad_gateway"), "{path}: {body}");
        }
    }
    // A connection that sent something unframeable is never used again.
    assert_eq!(up.connections(), 3);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pooled_connection_the_upstream_closed_is_not_used_again() {
    let (app, up, token) = spawn(vec![
        // Kept alive by its framing, then closed by the upstream while idle.
        RawAnswer {
            bytes: b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nfirst",
            close: true,
            hold_ms: 0,
        },
        answer(b"HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\nsecond"),
    ])
    .await;
    let res = app.get_bearer("/v1/a", &token).await;
    assert_eq!(res.text().await.unwrap(), "first");
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let res = app.get_bearer("/v1/b", &token).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "second");
    assert_eq!(up.connections(), 2);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_sent_before_the_whole_body_is_passed_on() {
    // The upstream refuses the upload as soon as it has the head, then reads nothing more.
    let up = RawUpstream::start(vec![RawAnswer {
        bytes: b"HTTP/1.1 413 Content Too Large\r\ncontent-length: 9\r\n\r\ntoo large",
        close: true,
        hold_ms: 30_000,
    }])
    .await;
    let url = up.url.clone();
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.upstream = Some(url);
        c.unmatched = "authenticated".into();
        // Without the early answer, the stalled upload would end in a 504 after this.
        c.upstream_timeout_ms = 2_000;
    })
    .await;
    let c = app.client(None).await;
    let token = app.access_token(&c).await;

    // 64 MiB: far more than the sockets between here and the upstream can hold.
    let body_len = 64 * 1024 * 1024;
    let stream = TcpStream::connect(app.base.trim_start_matches("http://"))
        .await
        .unwrap();
    let (mut from_gateway, mut to_gateway) = stream.into_split();
    let head = format!(
        "POST /v1/uploads HTTP/1.1\r\nhost: api\r\nauthorization: Bearer {token}\r\ncontent-length: {body_len}\r\n\r\n"
    );
    let uploader = tokio::spawn(async move {
        let chunk = vec![b'x'; 64 * 1024];
        if to_gateway.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        for _ in 0..body_len / chunk.len() {
            if to_gateway.write_all(&chunk).await.is_err() {
                return;
            }
        }
    });
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while !answer.ends_with(b"too large") {
        let read = tokio::time::timeout(Duration::from_secs(30), from_gateway.read(&mut buf));
        match read.await.unwrap() {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
        }
    }
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.ends_with("\r\n\r\ntoo large"), "{answer}");
    uploader.abort();
    app.stop().await;
}
