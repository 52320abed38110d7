//! Fetching the JWK Sets that `private_key_jwt` clients register by URL: `GET` over https
//! (the system's root certificates) or plain http (only loopback URLs are accepted at
//! registration), within [`FETCH_TIMEOUT`], at most [`MAX_JWKS_BYTES`] of body, `200` only.
//! The cache and the rules of when to fetch are the core's (`runtime/client_keys.rs`).

use std::time::Duration;

use async_trait::async_trait;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tessera_core::runtime::JwksFetcher;
use tessera_core::token::jwk::MAX_JWKS_BYTES;

/// Connecting, the answer and its body together; a client's slow server holds up only its
/// own authentication, and not for long.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

pub struct HttpsJwksFetcher {
    client: Client<HttpsConnector<HttpConnector>, Empty<Bytes>>,
}

impl HttpsJwksFetcher {
    /// Reads the system's root certificates; without any, https URLs fail to fetch (and
    /// say so), while loopback http ones still work.
    pub fn new() -> Self {
        let builder = hyper_rustls::HttpsConnectorBuilder::new();
        let connector = match builder.with_native_roots() {
            Ok(roots) => roots.https_or_http().enable_http1().build(),
            Err(err) => {
                tracing::warn!(error = %err, "no root certificates: JWK Sets cannot be fetched over https");
                let no_roots = rustls::ClientConfig::builder()
                    .with_root_certificates(rustls::RootCertStore::empty())
                    .with_no_client_auth();
                hyper_rustls::HttpsConnectorBuilder::new()
                    .with_tls_config(no_roots)
                    .https_or_http()
                    .enable_http1()
                    .build()
            }
        };
        Self {
            client: Client::builder(TokioExecutor::new()).build(connector),
        }
    }

    async fn get(&self, url: &str) -> Result<String, String> {
        let uri: hyper::Uri = url.parse().map_err(|_| format!("{url:?} is not a URL"))?;
        let res = self
            .client
            .get(uri)
            .await
            .map_err(|e| format!("fetching {url} failed: {e}"))?;
        if res.status() != hyper::StatusCode::OK {
            return Err(format!("fetching {url} answered {}", res.status()));
        }
        let body = Limited::new(res.into_body(), MAX_JWKS_BYTES)
            .collect()
            .await
            .map_err(|e| format!("reading the JWK Set at {url} failed: {e}"))?
            .to_bytes();
        String::from_utf8(body.to_vec()).map_err(|_| format!("the JWK Set at {url} is not UTF-8"))
    }
}

impl Default for HttpsJwksFetcher {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl JwksFetcher for HttpsJwksFetcher {
    async fn fetch(&self, url: &str) -> Result<String, String> {
        tokio::time::timeout(FETCH_TIMEOUT, self.get(url))
            .await
            .map_err(|_| format!("fetching {url} took longer than {FETCH_TIMEOUT:?}"))?
    }
}
