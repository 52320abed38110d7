//! WebSocket upgrades through the gateway, with a real client (tokio-tungstenite) and an
//! echo upstream that records its handshakes (`support/upstream.rs`); open tunnels at a
//! server's stop.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tessera::config::Config;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::gateway::{header, route, spawn};
use crate::support::upstream::{EchoUpstream, ECHO_PATH};
use crate::support::{eventually, Backend, TestApp};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Live streams need books:read.
fn live_routes(c: &mut Config) {
    c.route = vec![route(&["GET"], "/v1/live/{*rest}", &["books:read"])];
}

async fn spawn_echo(backend: Backend, tune: impl FnOnce(&mut Config)) -> (TestApp, EchoUpstream) {
    let upstream = EchoUpstream::start().await;
    let url = upstream.url();
    let app = TestApp::spawn_with(backend, |c| {
        c.upstream = Some(url);
        live_routes(c);
        tune(c);
    })
    .await;
    (app, upstream)
}

/// Opens a WebSocket to `path` through the gateway, with `token` as a Bearer credential.
async fn connect(
    app: &TestApp,
    path: &str,
    token: Option<&str>,
) -> Result<
    (
        Socket,
        tokio_tungstenite::tungstenite::handshake::client::Response,
    ),
    WsError,
> {
    let url = app.url(path).replacen("http://", "ws://", 1);
    let mut request = url.into_client_request().unwrap();
    if let Some(token) = token {
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
    }
    request
        .headers_mut()
        .insert("tessera-account", "acct_spoofed".parse().unwrap());
    tokio_tungstenite::connect_async(request).await
}

/// The status of a handshake the gateway or the upstream refused.
fn refused_status(result: Result<(Socket, impl std::fmt::Debug), WsError>) -> u16 {
    match result {
        Err(WsError::Http(res)) => res.status().as_u16(),
        Err(other) => panic!("expected an HTTP refusal, got {other}"),
        Ok((_, res)) => panic!("expected a refusal, got {res:?}"),
    }
}

async fn next_text(ws: &mut Socket) -> String {
    match ws.next().await {
        Some(Ok(Message::Text(text))) => text.to_string(),
        other => panic!("expected a text message, got {other:?}"),
    }
}

macro_rules! websocket_test {
    ($name:ident, $body:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let (app, up) = super::spawn_echo(crate::support::Backend::Sqlite, |_| {}).await;
                super::$body(&app, &up).await;
                app.stop().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let (app, up) = super::spawn_echo(crate::support::Backend::Postgres, |_| {}).await;
                super::$body(&app, &up).await;
                app.stop().await;
            }
        }
    };
}

websocket_test!(
    websocket_messages_echo_both_ways_after_authentication,
    echo_both_ways
);
async fn echo_both_ways(app: &TestApp, up: &EchoUpstream) {
    let c = app.client(Some("books:read")).await;
    let token = app.access_token(&c).await;
    let (mut ws, res) = connect(app, ECHO_PATH, Some(&token)).await.unwrap();
    assert_eq!(res.status(), 101);
    assert!(res.headers().get("x-request-id").is_some());
    assert_eq!(res.headers()["via"], "1.1 tessera");

    // The upstream speaks first, then echoes text and binary messages.
    assert_eq!(next_text(&mut ws).await, "welcome");
    ws.send(Message::text("hello through the gateway"))
        .await
        .unwrap();
    assert_eq!(next_text(&mut ws).await, "hello through the gateway");
    let blob: Vec<u8> = (0..=255u8).cycle().take(200_000).collect();
    ws.send(Message::binary(blob.clone())).await.unwrap();
    match ws.next().await {
        Some(Ok(Message::Binary(back))) => assert_eq!(back.as_ref(), blob.as_slice()),
        other => panic!("expected the binary echo, got {other:?}"),
    }
    ws.close(None).await.unwrap();
    assert!(
        eventually(Duration::from_secs(5), || async { up.closed() == 1 })
            .await
            .is_some()
    );

    // The handshake reached the upstream with the caller's identity, not the credential.
    let handshakes = up.handshakes();
    assert_eq!(handshakes.len(), 1);
    let h = &handshakes[0];
    let get = |name: &str| h.get(name).map(|v| v.to_str().unwrap());
    assert_eq!(get("tessera-account"), Some(c.account_id.as_str()));
    assert_eq!(get("tessera-client"), Some(c.client_id.as_str()));
    assert_eq!(get("tessera-scope"), Some("books:read"));
    assert_eq!(get("tessera-auth"), Some("bearer"));
    assert_eq!(h.get_all("tessera-account").iter().count(), 1);
    assert_eq!(get("authorization"), None);
    assert_eq!(get("upgrade"), Some("websocket"));
    assert_eq!(get("connection"), Some("upgrade"));
    assert!(get("sec-websocket-key").is_some());
    assert_eq!(
        get("x-request-id"),
        res.headers()["x-request-id"].to_str().ok()
    );

    // A handshake the upstream refuses gets the upstream's answer.
    let refused = connect(app, "/v1/live/nowhere", Some(&token)).await;
    assert_eq!(refused_status(refused), 404);
}

websocket_test!(
    websocket_with_a_refused_credential_never_reaches_the_upstream,
    refused_credentials
);
async fn refused_credentials(app: &TestApp, up: &EchoUpstream) {
    assert_eq!(refused_status(connect(app, ECHO_PATH, None).await), 401);
    assert_eq!(
        refused_status(connect(app, ECHO_PATH, Some("not-a-token")).await),
        401
    );
    let writer = app.client(Some("books:write")).await;
    let token = app.access_token(&writer).await;
    assert_eq!(
        refused_status(connect(app, ECHO_PATH, Some(&token)).await),
        403
    );
    assert_eq!(
        up.connections(),
        0,
        "no connection ever reached the upstream"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_websocket_tunnel_is_closed() {
    let (app, up) = spawn_echo(Backend::Sqlite, |c| c.upstream_idle_timeout_ms = 300).await;
    let c = app.client(Some("books:read")).await;
    let token = app.access_token(&c).await;
    let (mut ws, _) = connect(&app, ECHO_PATH, Some(&token)).await.unwrap();
    assert_eq!(next_text(&mut ws).await, "welcome");
    ws.send(Message::text("still here")).await.unwrap();
    assert_eq!(next_text(&mut ws).await, "still here");
    // Then nothing either way: the gateway closes both connections (no closing handshake).
    match ws.next().await {
        None | Some(Err(_)) => {}
        Some(Ok(other)) => panic!("expected the connection to end, got {other:?}"),
    }
    assert!(
        eventually(Duration::from_secs(5), || async { up.closed() == 1 })
            .await
            .is_some()
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_upgrades_are_forwarded_as_plain_http() {
    let (app, up) = spawn(Backend::Sqlite, |c| {
        c.route = vec![crate::gateway::public("/v1/status")];
    })
    .await;
    let res = app
        .http
        .get(app.url("/v1/status"))
        .header("connection", "Upgrade, HTTP2-Settings")
        .header("upgrade", "h2c")
        .header("http2-settings", "AAMAAABkAAQAAP__")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "x-upstream").as_deref(), Some("yes"));
    let seen = up.last();
    for gone in ["upgrade", "connection", "http2-settings"] {
        assert_eq!(seen.header(gone), None, "{gone} reached the upstream");
    }
    app.stop().await;
}

/// An open tunnel and its client, echoing, on a server with `grace_ms` to stop.
async fn open_tunnel(grace_ms: u64) -> (TestApp, EchoUpstream, Socket) {
    let (app, up) = spawn_echo(Backend::Sqlite, |c| c.shutdown_grace_ms = grace_ms).await;
    let c = app.client(Some("books:read")).await;
    let token = app.access_token(&c).await;
    let (mut ws, _) = connect(&app, ECHO_PATH, Some(&token)).await.unwrap();
    assert_eq!(next_text(&mut ws).await, "welcome");
    (app, up, ws)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopping_server_lets_an_open_websocket_finish() {
    let (app, up, mut ws) = open_tunnel(60_000).await;
    let mut stopping = tokio::spawn(app.stop());
    // Without the tunnel the whole stop takes milliseconds; with it, the stop waits (the
    // grace is a minute) and the tunnel still carries messages.
    let waited = tokio::time::timeout(Duration::from_secs(1), &mut stopping).await;
    assert!(waited.is_err(), "the stop waits for the open tunnel");
    for message in ["one", "two"] {
        ws.send(Message::text(message)).await.unwrap();
        assert_eq!(next_text(&mut ws).await, message);
    }
    // The closing handshake, then the client's connection closes.
    ws.close(None).await.unwrap();
    while ws.next().await.is_some() {}
    drop(ws);
    tokio::time::timeout(Duration::from_secs(30), stopping)
        .await
        .expect("the stop ends once the tunnel has closed, long before the grace")
        .unwrap();
    assert_eq!(up.closed(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_still_open_when_the_grace_ends_is_cut() {
    let (app, up, mut ws) = open_tunnel(200).await;
    app.stop().await;
    // Both connections closed by the gateway, without a closing handshake.
    let ended = tokio::time::timeout(Duration::from_secs(10), ws.next()).await;
    match ended.expect("the stop closed the client's connection") {
        None | Some(Err(_)) => {}
        Some(Ok(other)) => panic!("expected the connection to end, got {other:?}"),
    }
    let upstream_closed = eventually(Duration::from_secs(5), || async { up.closed() == 1 }).await;
    assert!(
        upstream_closed.is_some(),
        "the upstream's side is closed too"
    );
}
