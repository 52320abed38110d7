//! Limits: rate limits of the token, revocation and introspection endpoints (429 with
//! `Retry-After` and the `RateLimit` fields, refilled by moving the injected clock), RFC
//! 6750 §3.1's one-way-only rule for access tokens, the request timeout (408), and the
//! connection limits (header size and count, body size per route, a slow-loris client
//! dropped, the connection cap), over HTTP and raw TCP against a real server.

use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{Backend, TestApp, TestClient};

fn header(res: &reqwest::Response, name: &str) -> String {
    res.headers()
        .get_all(name)
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect::<Vec<_>>()
        .join(", ")
}

fn wrong_secret(c: &TestClient) -> TestClient {
    TestClient {
        client_secret: "not-the-secret".into(),
        ..c.clone()
    }
}

async fn scrape(app: &TestApp) -> String {
    app.http
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

store_test!(
    async fn token_endpoint_limits_each_client_with_429_retry_after_and_ratelimit_fields(
        app: &TestApp,
    ) with |c| {
        c.rate_limit_token_client = "2/60".into();
        c.rate_limit_token_address = "100/60".into();
    } {
        let a = app.client(None).await;
        let b = app.client(None).await;
        let body = "grant_type=client_credentials";

        let res = app.token_basic(&a, body).await;
        assert_eq!(res.status(), 200);
        let policy = header(&res, "ratelimit-policy");
        assert!(policy.contains("\"token-address\";q=100;w=60"), "{policy}");
        assert!(policy.contains("\"token-client\";q=2;w=60"), "{policy}");
        let state = header(&res, "ratelimit");
        assert!(state.contains("\"token-client\";r=1;t=30"), "{state}");
        assert!(state.contains("\"token-address\";r=99;"), "{state}");
        assert_eq!(app.token_basic(&a, body).await.status(), 200);

        let res = app.token_basic(&a, body).await;
        assert_eq!(res.status(), 429);
        assert_eq!(header(&res, "retry-after"), "30");
        assert_eq!(header(&res, "cache-control"), "no-store");
        let state = header(&res, "ratelimit");
        assert!(state.contains("\"token-client\";r=0;t=30"), "{state}");
        let err: Value = res.json().await.unwrap();
        assert_eq!(err["error"], "slow_down");
        assert!(
            err["error_description"].as_str().unwrap().contains("30 seconds"),
            "{err}"
        );

        // Naming the spent client without its secret is a failed authentication, which
        // neither spends nor meets the client's budget.
        assert_eq!(app.token_basic(&wrong_secret(&a), body).await.status(), 401);
        // Another client, same address: its own budget.
        assert_eq!(app.token_basic(&b, body).await.status(), 200);

        app.advance(29);
        assert_eq!(app.token_basic(&a, body).await.status(), 429);
        app.advance(1);
        assert_eq!(app.token_basic(&a, body).await.status(), 200, "refilled");
        assert_eq!(app.token_basic(&a, body).await.status(), 429);

        let scrape = scrape(app).await;
        assert!(
            scrape.contains(
                "tessera_rate_limited_requests_total{endpoint=\"token\",partition=\"client\"} 3"
            ),
            "{scrape}"
        );
        assert!(!scrape.contains(&a.client_id), "no client id in a label");
    }
);

store_test!(
    async fn the_address_budget_is_spent_before_authentication_and_kept_per_address(
        app: &TestApp,
    ) with |c| {
        c.rate_limit_token_address = "3/60".into();
        c.trusted_proxies = vec!["127.0.0.1/32".into()];
    } {
        let a = app.client(None).await;
        let from = |ip: &'static str| {
            let a = a.clone();
            async move {
                app.http
                    .post(app.url("/oauth/token"))
                    .basic_auth(&a.client_id, Some("guess"))
                    .header("content-type", "application/x-www-form-urlencoded")
                    .header("x-forwarded-for", ip)
                    .body("grant_type=client_credentials")
                    .send()
                    .await
                    .unwrap()
            }
        };
        for _ in 0..3 {
            assert_eq!(from("198.51.100.7").await.status(), 401);
        }
        let res = from("198.51.100.7").await;
        assert_eq!(res.status(), 429);
        assert_eq!(header(&res, "retry-after"), "20");
        assert!(header(&res, "ratelimit").contains("\"token-address\";r=0;t=20"));
        let err: Value = res.json().await.unwrap();
        assert_eq!(err["error"], "slow_down");
        assert!(err["error_description"].as_str().unwrap().contains("this address"));
        // Another address (a proxy we trust forwarded for it): its own budget.
        assert_eq!(from("198.51.100.8").await.status(), 401);
        // The spent address stays refused even with the right secret.
        let res = app
            .http
            .post(app.url("/oauth/token"))
            .basic_auth(&a.client_id, Some(&a.client_secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-forwarded-for", "198.51.100.7")
            .body("grant_type=client_credentials")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 429);
        assert!(scrape(app).await.contains(
            "tessera_rate_limited_requests_total{endpoint=\"token\",partition=\"address\"} 2"
        ));
    }
);

store_test!(
    async fn revocation_and_introspection_have_their_own_limits(app: &TestApp) with |c| {
        c.rate_limit_introspection_client = "1/60".into();
        c.rate_limit_revocation_client = "1/60".into();
    } {
        let a = app.client(None).await;
        let token = app.access_token(&a).await;
        let form = format!("token={token}");
        let introspect = || async {
            app.http
                .post(app.url("/oauth/introspect"))
                .basic_auth(&a.client_id, Some(&a.client_secret))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form.clone())
                .send()
                .await
                .unwrap()
        };
        let res = introspect().await;
        assert_eq!(res.status(), 200);
        assert!(header(&res, "ratelimit-policy").contains("\"introspection-client\";q=1;w=60"));
        let res = introspect().await;
        assert_eq!(res.status(), 429);
        assert_eq!(header(&res, "retry-after"), "60");

        let revoke = || async {
            app.http
                .post(app.url("/oauth/revoke"))
                .basic_auth(&a.client_id, Some(&a.client_secret))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form.clone())
                .send()
                .await
                .unwrap()
        };
        assert_eq!(revoke().await.status(), 200);
        let res = revoke().await;
        assert_eq!(res.status(), 429);
        assert!(header(&res, "ratelimit").contains("\"revocation-client\";r=0;t=60"));
        // The token endpoint's budget is apart.
        assert_eq!(app.token_basic(&a, "grant_type=client_credentials").await.status(), 200);
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exempt_clients_and_the_off_switch_are_never_limited() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.rate_limits = false;
        c.rate_limit_token_client = "1/60".into();
    })
    .await;
    let a = app.client(None).await;
    for _ in 0..5 {
        let res = app.token_basic(&a, "grant_type=client_credentials").await;
        assert_eq!(res.status(), 200);
        assert!(res.headers().get("ratelimit").is_none());
    }

    // The real binary on the same store, configured through its environment.
    let exempt = app.client(None).await;
    let server = app
        .spawn_process(&[
            ("TESSERA_RATE_LIMIT_TOKEN_CLIENT", "1/60"),
            ("TESSERA_RATE_LIMIT_TOKEN_ADDRESS", "3/60"),
            ("TESSERA_RATE_LIMIT_EXEMPT_CLIENTS", &exempt.client_id),
        ])
        .await;
    let token = |c: &TestClient| {
        let c = c.clone();
        let http = app.http.clone();
        let url = format!("{}/oauth/token", server.base);
        async move {
            http.post(url)
                .basic_auth(&c.client_id, Some(&c.client_secret))
                .header("content-type", "application/x-www-form-urlencoded")
                .body("grant_type=client_credentials")
                .send()
                .await
                .unwrap()
        }
    };
    for _ in 0..6 {
        let res = token(&exempt).await;
        assert_eq!(res.status(), 200, "exempt: neither budget is spent");
        assert!(res.headers().get("ratelimit").is_none());
    }
    assert_eq!(token(&a).await.status(), 200);
    assert_eq!(token(&a).await.status(), 429, "not exempt: limited");
    app.stop().await;
}

store_test!(
    async fn rfc6750_3_1_a_token_sent_in_two_ways_is_invalid_request(app: &TestApp) {
        let a = app.client(None).await;
        let token = app.access_token(&a).await;
        let res = app.get_bearer("/v1/account", &token).await;
        assert_eq!(res.status(), 200);
        let both = format!("/v1/account?access_token={token}");
        let res = app.get_bearer(&both, &token).await;
        assert_eq!(res.status(), 400);
        let err: Value = res.json().await.unwrap();
        assert_eq!(err["error"], "invalid_request");
        assert!(err["error_description"]
            .as_str()
            .unwrap()
            .contains("more than one way"));
        // The query alone is not a way Tessera accepts (RFC 6750 §2.3 is a SHOULD NOT).
        let res = app.http.get(app.url(&both)).send().await.unwrap();
        assert_eq!(res.status(), 401);
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc6750_3_1_the_gateway_refuses_a_token_sent_in_two_ways() {
    let (app, up) = crate::gateway::spawn(Backend::Sqlite, crate::gateway::book_routes).await;
    let reader = app.client(Some("books:read")).await;
    let token = app.access_token(&reader).await;
    assert_eq!(app.get_bearer("/v1/books/b1", &token).await.status(), 200);
    let seen = up.seen().len();
    let res = app
        .get_bearer(&format!("/v1/books/b1?access%5Ftoken={token}"), &token)
        .await;
    assert_eq!(res.status(), 400);
    assert_eq!(up.seen().len(), seen, "never forwarded");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_over_the_size_or_count_limit_are_431() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.max_header_bytes = 16 * 1024;
        c.max_headers = 20;
    })
    .await;
    let res = app
        .http
        .get(app.url("/health"))
        .header("x-big", "a".repeat(20 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 431);
    let mut many = app.http.get(app.url("/health"));
    for i in 0..25 {
        many = many.header(format!("x-h{i}"), "1");
    }
    assert_eq!(many.send().await.unwrap().status(), 431);
    let res = app
        .http
        .get(app.url("/health"))
        .header("x-small", "a".repeat(1024))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "within the limits");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_over_the_limit_of_their_route_are_413() {
    let (app, up) = crate::gateway::spawn(Backend::Sqlite, |c| {
        crate::gateway::book_routes(c);
        c.form_limit = 1024;
        c.gateway_body_limit = 64 * 1024;
    })
    .await;
    let a = app.client(None).await;
    let res = app
        .token_basic(
            &a,
            &format!("grant_type=client_credentials&x={}", "a".repeat(2000)),
        )
        .await;
    assert_eq!(res.status(), 413);
    let err: Value = res.json().await.unwrap();
    assert_eq!(err["error"], "invalid_request");

    let writer = app.client(Some("books:read books:write")).await;
    let token = app.access_token(&writer).await;
    let post = |body: Vec<u8>| {
        app.http
            .post(app.url("/v1/books/b1/pages"))
            .bearer_auth(&token)
            .body(body)
            .send()
    };
    // 2 KiB passes the gateway, whose limit is larger than the token endpoint's.
    assert_eq!(post(vec![b'x'; 2048]).await.unwrap().status(), 200);
    let seen = up.seen().len();
    let res = post(vec![b'x'; 65 * 1024]).await.unwrap();
    assert_eq!(res.status(), 413);
    assert_eq!(
        up.seen().len(),
        seen,
        "a declared oversize body is never forwarded"
    );
    // A chunked body is cut where it passes the limit.
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut raw = TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /v1/books/b1/pages HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {token}\r\n\
         Transfer-Encoding: chunked\r\n\r\n"
    );
    raw.write_all(head.as_bytes()).await.unwrap();
    let chunk = format!("2000\r\n{}\r\n", "x".repeat(8 * 1024));
    // 72 KiB, past the limit; the body never ends, the answer comes anyway.
    for _ in 0..9 {
        raw.write_all(chunk.as_bytes()).await.unwrap();
    }
    let mut answer = Vec::new();
    let _ = raw.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    app.stop().await;
}

/// Writes `request` on `stream` and reads one response: its head, then a body of its
/// `content-length`.
async fn exchange(stream: &mut TcpStream, request: &str) -> String {
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(
            n > 0,
            "closed before a whole response: {}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().unwrap())
                })
                .unwrap_or(0);
            if got.len() >= end + 4 + length {
                return text;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_loris_client_is_dropped_after_the_header_timeout() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.header_read_timeout_ms = 300;
    })
    .await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut slow = TcpStream::connect(&addr).await.unwrap();
    slow.write_all(b"GET /health HTTP/1.1\r\nHost: t\r\nX-Slow: ")
        .await
        .unwrap();
    // One byte every 50 ms, for at most 30 s: the server must close first.
    let mut closed = false;
    for _ in 0..600 {
        if slow.write_all(b"a").await.is_err() {
            closed = true;
            break;
        }
        let mut buf = [0u8; 512];
        match tokio::time::timeout(Duration::from_millis(50), slow.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                closed = true;
                break;
            }
            // An answer (a 408) before the close is allowed; keep reading.
            Ok(Ok(_)) | Err(_) => {}
        }
    }
    assert!(closed, "the slow client's connection is closed");
    // Others are served as before.
    let mut quick = TcpStream::connect(&addr).await.unwrap();
    let res = exchange(&mut quick, "GET /health HTTP/1.1\r\nHost: t\r\n\r\n").await;
    assert!(res.starts_with("HTTP/1.1 200"), "{res}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_cap_wait_until_one_closes() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.max_connections = 2;
        c.header_read_timeout_ms = 120_000;
    })
    .await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let get = |path: &str| format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n");
    let mut a = TcpStream::connect(&addr).await.unwrap();
    let mut b = TcpStream::connect(&addr).await.unwrap();
    assert!(exchange(&mut a, &get("/health"))
        .await
        .starts_with("HTTP/1.1 200"));
    assert!(exchange(&mut b, &get("/health"))
        .await
        .starts_with("HTTP/1.1 200"));

    // A third connects (the kernel completes the handshake) but is not accepted.
    let mut c = TcpStream::connect(&addr).await.unwrap();
    c.write_all(get("/health").as_bytes()).await.unwrap();
    // A round trip on a served connection; by then an accepted third would have its
    // answer, or would at least be counted as open.
    let metrics = exchange(&mut a, &get("/metrics")).await;
    assert!(
        metrics.contains("\ntessera_http_connections_open 2\n"),
        "{metrics}"
    );
    let mut buf = [0u8; 64];
    match c.try_read(&mut buf) {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("the connection over the cap was answered: {other:?}"),
    }

    drop(a);
    let res = tokio::time::timeout(Duration::from_secs(30), async {
        let mut got = Vec::new();
        while !String::from_utf8_lossy(&got).contains("\r\n\r\n") {
            let n = c.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed unanswered");
            got.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&got).into_owned()
    })
    .await
    .expect("served once a connection closed");
    assert!(res.starts_with("HTTP/1.1 200"), "{res}");
    drop(b);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_whose_body_stops_arriving_is_408_after_the_request_timeout() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.request_timeout_ms = 300;
    })
    .await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    // Half of a declared body, then nothing.
    stream
        .write_all(
            b"POST /oauth/token HTTP/1.1\r\nHost: t\r\n\
              Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 60\r\n\r\n\
              grant_type=client_credentials",
        )
        .await
        .unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut answer))
        .await
        .expect("answered and closed")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"error\":\"request_timeout\""), "{answer}");
    app.stop().await;
}
