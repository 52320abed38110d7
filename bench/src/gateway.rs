//! The gateway rows: the in-bench upstream called directly (`upstream direct`), through a
//! Tessera gateway that verifies a Bearer JWT and checks the route's scope (`gateway bearer
//! call`), and through nginx proxying without any authentication (`nginx proxy (no
//! auth)`), all to the same upstream process in the same run; and a large upload through
//! the gateway, for how much its memory grows while a body streams through.
//!
//! The gateway is a Tessera server of its own (like the EdDSA row's), on a fresh store,
//! configured with `upstream` and two `[[route]]`s in a TOML file; it is stopped after its
//! row, as nginx is after its own.

use std::net::SocketAddr;
use std::sync::MutexGuard;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderMap, HeaderValue, AUTHORIZATION};
use hyper::{Method, Request};

use crate::client::{body_excerpt, send_once};
use crate::fixtures;
use crate::nginx;
use crate::procfs;
use crate::report::Row;
use crate::scenarios::{fetch_token, Bench, RoundRobin};
use crate::server::ServerProcess;
use crate::upload;
use crate::upstream::{BOOK, BOOK_PATH, UPLOAD_PATH};

pub const UPSTREAM_DIRECT: &str = "upstream direct";
pub const GATEWAY_BEARER_CALL: &str = "gateway bearer call";
pub const NGINX_PROXY: &str = "nginx proxy (no auth)";
/// The rows that need the upstream.
pub const ROWS: [&str; 3] = [UPSTREAM_DIRECT, GATEWAY_BEARER_CALL, NGINX_PROXY];
/// The scopes of the two routes: a read for the measured call, a write for the upload.
const READ_SCOPE: &str = "books:read";
const WRITE_SCOPE: &str = "books:write";

/// What the gateway rows leave for the report besides their table rows.
#[derive(Default)]
pub struct GatewayNotes {
    pub upload: Option<UploadFigure>,
    /// Why the nginx row did not run.
    pub nginx_skipped: Option<String>,
}

/// One upload of `bytes` through the gateway, and the same straight to the upstream.
#[derive(Clone, Copy, Debug)]
pub struct UploadFigure {
    pub bytes: u64,
    /// The gateway's VmRSS just before the upload.
    pub idle_kib: u64,
    /// Its VmHWM after it (reset just before).
    pub peak_kib: u64,
    pub through_gateway: Duration,
    pub direct: Duration,
}

impl UploadFigure {
    /// How much the upload raised the gateway's resident memory, KiB.
    pub fn raise_kib(&self) -> u64 {
        self.peak_kib.saturating_sub(self.idle_kib)
    }
}

/// The same `GET` of the book, without credentials or with one `Authorization` value.
fn book_calls(authorization: Option<HeaderValue>) -> Result<RoundRobin> {
    RoundRobin::new(
        Method::GET,
        BOOK_PATH,
        HeaderMap::new(),
        Bytes::new(),
        authorization.into_iter().collect(),
    )
}

/// One call before the load, checking that the answer is the upstream's own.
async fn check_reaches_upstream(
    server: &ServerProcess,
    authorization: Option<&HeaderValue>,
) -> Result<()> {
    let mut request = Request::get(BOOK_PATH).body(Full::new(Bytes::new()))?;
    if let Some(value) = authorization {
        request.headers_mut().insert(AUTHORIZATION, value.clone());
    }
    let (status, body) = send_once(server.addr, request).await?;
    if !status.is_success() || body != BOOK.as_bytes() {
        bail!(
            "GET {BOOK_PATH} through {}: status {status}, not the upstream's answer: {}",
            server.addr,
            body_excerpt(&body)
        );
    }
    Ok(())
}

/// The upstream alone: what the machine gives a small service with nothing in front.
pub async fn upstream_direct(bench: &Bench) -> Result<Row> {
    let upstream = bench.upstream()?;
    check_reaches_upstream(upstream, None).await?;
    bench
        .measure(UPSTREAM_DIRECT, upstream, book_calls(None)?)
        .await
}

/// The gateway's configuration: the upstream and a route per scope.
fn gateway_config(upstream: SocketAddr) -> String {
    format!(
        r#"upstream = "http://{addr}"
unmatched = "deny"

[[route]]
methods = ["GET"]
path = "/v1/books/{{id}}"
scopes = ["{READ_SCOPE}"]

[[route]]
methods = ["POST"]
path = "{UPLOAD_PATH}"
scopes = ["{WRITE_SCOPE}"]
"#,
        addr = upstream
    )
}

/// A Tessera gateway in front of the upstream, called with one client credentials JWT on
/// a route requiring `books:read`; before the load, the upload through it.
pub async fn gateway_bearer_call(bench: &Bench) -> Result<Row> {
    let upstream = bench.upstream()?;
    let config = bench.launcher.dir().join("gateway.toml");
    std::fs::write(&config, gateway_config(upstream.addr))
        .with_context(|| format!("writing {}", config.display()))?;
    let config_setting = config.display().to_string();
    let gateway = bench
        .launcher
        .start("gateway", &[("TESSERA_CONFIG", config_setting.as_str())])
        .await?;
    let (_, client) = fixtures::account_and_client(&gateway.cli).await?;
    let token = fetch_token(&gateway.server, &client).await?;
    let bearer = HeaderValue::from_str(&format!("Bearer {token}"))?;
    check_reaches_upstream(&gateway.server, Some(&bearer)).await?;
    // Refused without the credential: the row measures an authenticated proxy.
    let (status, _) = send_once(
        gateway.server.addr,
        Request::get(BOOK_PATH).body(Full::new(Bytes::new()))?,
    )
    .await?;
    if status.as_u16() != 401 {
        bail!("the gateway answered GET {BOOK_PATH} without a token with {status}, not 401");
    }
    // First the upload, on a server that has not yet served the load, so the memory its
    // allocator kept from the load cannot hide what the upload takes.
    let figure = measure_upload(bench, &gateway.server, upstream, &bearer).await?;
    bench.notes()?.upload = Some(figure);
    bench
        .measure(
            GATEWAY_BEARER_CALL,
            &gateway.server,
            book_calls(Some(bearer))?,
        )
        .await
}

/// `bench.upload_bytes` straight to the upstream, then through the gateway with the
/// gateway's resident memory read before and its peak after.
async fn measure_upload(
    bench: &Bench,
    gateway: &ServerProcess,
    upstream: &ServerProcess,
    bearer: &HeaderValue,
) -> Result<UploadFigure> {
    let bytes = bench.upload_bytes;
    eprintln!(
        "uploading {} MiB, directly and through the gateway …",
        bytes >> 20
    );
    let direct = upload::post(upstream.addr, UPLOAD_PATH, None, bytes).await?;
    let pid = gateway.pid();
    procfs::reset_peak(pid)?;
    let idle_kib = procfs::memory(pid)?.resident_kib;
    let through_gateway = upload::post(gateway.addr, UPLOAD_PATH, Some(bearer), bytes)
        .await
        .context("through the gateway")?;
    let peak_kib = procfs::memory(pid)?.peak_kib;
    Ok(UploadFigure {
        bytes,
        idle_kib,
        peak_kib,
        through_gateway,
        direct,
    })
}

/// nginx in front of the same upstream, no authentication; skipped (with the reason in
/// the report) when nginx is neither installed nor installable.
pub async fn nginx_proxy(bench: &Bench) -> Result<Option<Row>> {
    let upstream = bench.upstream()?;
    let binary = match nginx::find_or_install().await {
        Ok(binary) => binary,
        Err(error) => {
            let reason = format!("{error:#}");
            eprintln!("skipping {NGINX_PROXY}: {reason}");
            bench.notes()?.nginx_skipped = Some(reason);
            return Ok(None);
        }
    };
    let nginx = nginx::start(&binary, bench.launcher.dir(), upstream.addr).await?;
    check_reaches_upstream(&nginx.server, None).await?;
    let row = bench
        .measure(NGINX_PROXY, &nginx.server, book_calls(None)?)
        .await?;
    drop(nginx);
    Ok(Some(row))
}

impl Bench {
    /// The upstream process, started by the run when a gateway row is selected.
    fn upstream(&self) -> Result<&ServerProcess> {
        self.upstream
            .as_ref()
            .context("the gateway rows need the upstream, which the run did not start")
    }

    fn notes(&self) -> Result<MutexGuard<'_, GatewayNotes>> {
        self.gateway_notes
            .lock()
            .map_err(|_| anyhow::anyhow!("a gateway row panicked"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gateway_config_routes_both_paths_to_the_upstream() -> Result<()> {
        let text = gateway_config("127.0.0.1:9000".parse()?);
        assert!(text.starts_with("upstream = \"http://127.0.0.1:9000\"\n"));
        assert!(text
            .contains("methods = [\"GET\"]\npath = \"/v1/books/{id}\"\nscopes = [\"books:read\"]"));
        assert!(text
            .contains("methods = [\"POST\"]\npath = \"/v1/uploads\"\nscopes = [\"books:write\"]"));
        Ok(())
    }
}
