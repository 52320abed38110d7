//! Bodies through the gateway: large ones stream without growing the server's memory, and
//! one whose sender goes quiet is cut after `upstream_idle_timeout_ms` (300 ms here: the
//! only wait is the configured timeout itself).

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::gateway::spawn;
use crate::support::upstream::Upstream;
use crate::support::{eventually, Backend, TestApp};

const IDLE_MS: u64 = 300;
const MIB: u64 = 1024 * 1024;

/// Sends `head` (request line and headers, each ending in CRLF) declaring a body of
/// `declared` bytes of which only `sent` follow; returns everything the server answered
/// before it closed the connection.
async fn raw_request(base: &str, head: &str, declared: u64, sent: u64) -> String {
    let mut stream = TcpStream::connect(base.trim_start_matches("http://"))
        .await
        .unwrap();
    let head = format!("{head}content-length: {declared}\r\nconnection: close\r\n\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    let chunk = vec![b'x'; 64 * 1024];
    let mut left = sent;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        stream.write_all(&chunk[..n]).await.unwrap();
        left -= n as u64;
    }
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

fn post_head(base: &str, path: &str, token: &str) -> String {
    let host = base.trim_start_matches("http://");
    format!("POST {path} HTTP/1.1\r\nhost: {host}\r\nauthorization: Bearer {token}\r\n")
}

/// A connection on which the head of an upload to `/upload` has been sent, its body framed
/// by `framing` (one header line without its CRLF); the body is the caller's to send.
async fn open_upload(base: &str, token: &str, framing: &str) -> TcpStream {
    let mut stream = TcpStream::connect(base.trim_start_matches("http://"))
        .await
        .unwrap();
    let head = post_head(base, "/upload", token);
    let head = format!("{head}{framing}\r\nconnection: close\r\n\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
}

fn idle(c: &mut tessera::config::Config) {
    c.unmatched = "authenticated".into();
    c.upstream_idle_timeout_ms = IDLE_MS;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_request_body_is_408_and_drops_the_upstream_connection() {
    let (app, up) = spawn(Backend::Sqlite, idle).await;
    let c = app.client(None).await;
    let token = app.access_token(&c).await;
    let head = post_head(&app.base, "/upload", &token);
    // 64 KiB of a declared 1 MiB, then silence; reading ends when the gateway hangs up.
    let answer = raw_request(&app.base, &head, MIB, 64 * 1024).await;
    assert!(answer.starts_with("HTTP/1.1 408 "), "{answer}");
    assert!(
        answer
            .to_ascii_lowercase()
            .contains("\r\nconnection: close\r\n"),
        "{answer}"
    );
    assert!(answer.contains("\"error\":\"request_timeout\""), "{answer}");
    // The upstream had its request cut short: its connection was dropped mid-body.
    let cut = eventually(Duration::from_secs(5), || async {
        up.seen()
            .iter()
            .any(|s| s.target == "/upload" && !s.body_complete && s.body_len == 64 * 1024)
    })
    .await;
    assert!(cut.is_some(), "{:?}", up.seen());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_response_body_cuts_both_connections() {
    let (app, up) = spawn(Backend::Sqlite, idle).await;
    let c = app.client(None).await;
    let token = app.access_token(&c).await;
    let mut res = app.get_bearer("/stall-body/report", &token).await;
    // The status line is out before the upstream goes quiet: no 504 can follow it.
    assert_eq!(res.status(), 200);
    let request_id = res.headers().get("x-request-id").cloned();
    assert!(request_id.is_some());
    let mut received = Vec::new();
    let ended = loop {
        match res.chunk().await {
            Ok(Some(chunk)) => received.extend_from_slice(&chunk),
            Ok(None) => break Ok(()),
            Err(e) => break Err(e),
        }
    };
    assert_eq!(received, b"partial");
    assert!(
        ended.is_err(),
        "the body must end in an error, not look complete"
    );
    let cut = eventually(Duration::from_secs(5), || async { up.cut() == 1 }).await;
    assert!(cut.is_some(), "the upstream's connection was dropped");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_that_stops_reading_the_body_is_504_and_lets_go() {
    // It reads the request head, then nothing more, and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut head = [0u8; 1024];
            let _ = stream.read(&mut head).await;
            held.push(stream);
        }
    });
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.upstream = Some(format!("http://{addr}"));
        c.unmatched = "authenticated".into();
        c.upstream_timeout_ms = IDLE_MS;
    })
    .await;
    let c = app.client(None).await;
    let token = app.access_token(&c).await;
    let stream = TcpStream::connect(app.base.trim_start_matches("http://"))
        .await
        .unwrap();
    let (mut read, mut write) = stream.into_split();
    let head = post_head(&app.base, "/upload", &token);
    let head = format!("{head}content-length: {}\r\n\r\n", 256 * MIB);
    // Far more than every socket buffer on the way holds: the writes stall, then fail once
    // the gateway lets go of the connection.
    let writer = tokio::spawn(async move {
        write.write_all(head.as_bytes()).await.unwrap();
        let chunk = vec![b'x'; 64 * 1024];
        while write.write_all(&chunk).await.is_ok() {}
    });
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    // Until the gateway closes the connection (an error: it may reset it, with our unread
    // bytes in its buffers).
    while let Ok(n) = read.read(&mut buf).await {
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&buf[..n]);
    }
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 504 "), "{answer}");
    assert!(answer.contains("\"error\":\"gateway_timeout\""), "{answer}");
    writer.await.unwrap();
    holder.abort();
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunked_upload_reaches_the_upstream_whole() {
    let (app, up) = spawn(Backend::Sqlite, |c| c.unmatched = "authenticated".into()).await;
    let c = app.client(None).await;
    let token = app.access_token(&c).await;
    let mut stream = open_upload(&app.base, &token, "transfer-encoding: chunked").await;
    // Sizes whose size lines have one to five hex digits; the gateway sends each on as a
    // chunk of its own size line, which the upstream's parser must accept.
    let sizes = [1usize, 15, 16, 4095, 70_000, 1 << 20];
    for size in sizes {
        let chunk = format!("{size:X}\r\n");
        stream.write_all(chunk.as_bytes()).await.unwrap();
        stream.write_all(&vec![b'c'; size]).await.unwrap();
        stream.write_all(b"\r\n").await.unwrap();
    }
    stream.write_all(b"0\r\n\r\n").await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200 "), "{answer}");
    let total = sizes.iter().sum::<usize>() as u64;
    assert_eq!((up.last().body_len, up.last().body_complete), (total, true));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_upload_is_not_cut_by_the_response_timeout() {
    let (app, up) = spawn(Backend::Sqlite, |c| {
        c.unmatched = "authenticated".into();
        c.upstream_timeout_ms = IDLE_MS;
    })
    .await;
    let c = app.client(None).await;
    let token = app.access_token(&c).await;
    let mut stream = open_upload(&app.base, &token, "content-length: 8192").await;
    // Eight parts, 100 ms apart: the upload outlasts upstream_timeout_ms (300 ms) more than
    // twice, and the upstream takes each part as it comes.
    for _ in 0..8 {
        stream.write_all(&[b'x'; 1024]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200 "), "{answer}");
    assert_eq!((up.last().body_len, up.last().body_complete), (8192, true));
    app.stop().await;
}

/// A field of `/proc/PID/status`, in KiB.
fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with(&format!("{field}:")))
        .unwrap_or_else(|| panic!("{field} in /proc/{pid}/status"));
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_bodies_stream_both_ways_in_flat_memory() {
    const SIZE: u64 = 256 * MIB;
    const BOUND_KIB: u64 = 32 * 1024;
    let up = Upstream::start().await;
    // The server measured is a process of its own; this one shares its store and issues
    // the token.
    let app = TestApp::spawn(Backend::Sqlite).await;
    let server = app
        .spawn_process(&[
            ("TESSERA_UPSTREAM", up.url().as_str()),
            ("TESSERA_UNMATCHED", "authenticated"),
        ])
        .await;
    let c = app.client(None).await;
    let token = app.access_token(&c).await;
    let warm = app
        .http
        .get(format!("{}/warm-up", server.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(warm.status(), 200);

    // Peak RSS from here on (proc(5): writing 5 to clear_refs resets VmHWM to VmRSS).
    std::fs::write(format!("/proc/{}/clear_refs", server.pid), "5").unwrap();
    let before = status_kib(server.pid, "VmHWM");

    let head = post_head(&server.base, "/upload", &token);
    let answer = raw_request(&server.base, &head, SIZE, SIZE).await;
    assert!(answer.starts_with("HTTP/1.1 200 "), "{answer}");
    let seen = up.last();
    assert_eq!(seen.target, "/upload");
    assert_eq!((seen.body_len, seen.body_complete), (SIZE, true));
    let after_upload = status_kib(server.pid, "VmHWM");

    let mut res = app
        .http
        .get(format!("{}/bytes/{SIZE}", server.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let mut received = 0u64;
    while let Some(chunk) = res.chunk().await.unwrap() {
        received += chunk.len() as u64;
    }
    assert_eq!(received, SIZE);
    let after_download = status_kib(server.pid, "VmHWM");

    assert!(
        after_upload - before < BOUND_KIB,
        "a 256 MiB upload raised the peak RSS by {} KiB (from {before} KiB)",
        after_upload - before
    );
    assert!(
        after_download - before < BOUND_KIB,
        "a 256 MiB download raised the peak RSS by {} KiB (from {before} KiB)",
        after_download - before
    );
    app.stop().await;
}
