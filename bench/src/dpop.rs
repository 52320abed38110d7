//! The DPoP rows (RFC 9449): the client credentials grant and the bearer call again, each
//! request with a fresh proof of an ES256 key, so the server verifies one more signature
//! per request (and, at the token endpoint, records the proof's `jti` in the store).
//!
//! A proof can be used once, so each request needs its own. Signing them inside the
//! measured window would charge the load generator's signatures to the server under test
//! on this shared machine; they are made before the window instead (on every core), and
//! handed out once each. Should the pool run dry, the next proofs are signed on the spot,
//! which only lowers the row.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Context, Result};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use hyper::{Method, Request, Uri};

use crate::client::{body_excerpt, send_once, BenchRequest};
use crate::fixtures::basic_authorizations;
use crate::load::Scenario;
use crate::report::Row;
use crate::scenarios::Bench;
use crate::tessera::{ACCOUNT_PATH, TOKEN_PATH};

pub const CLIENT_CREDENTIALS_DPOP: &str = "client credentials (DPoP)";
pub const BEARER_CALL_DPOP: &str = "bearer call (DPoP)";

/// Proofs made per second of the run (warm-up and window): more than either row reaches on
/// this machine, so the pool does not run dry.
const PROOFS_PER_SECOND: f64 = 25_000.0;
/// At most this many proofs are made up front (about 250 MB).
const MAX_PROOFS: usize = 600_000;

/// The client's DPoP key pair.
struct ProofKey {
    pair: EcdsaKeyPair,
    /// The header, without its `jwk`'s variable part: the same for every proof.
    header: String,
}

impl ProofKey {
    fn generate() -> Result<Self> {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(|_| anyhow::anyhow!("generating a P-256 key"))?;
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())
            .map_err(|_| anyhow::anyhow!("reading the P-256 key"))?;
        let point = pair.public_key().as_ref();
        let header = serde_json::json!({
            "typ": "dpop+jwt",
            "alg": "ES256",
            "jwk": {
                "kty": "EC", "crv": "P-256",
                "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
                "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
            },
        });
        Ok(Self {
            pair,
            header: URL_SAFE_NO_PAD.encode(header.to_string()),
        })
    }

    /// Proof number `n` for `method` `htu` (with `ath` when a token comes along).
    fn proof(&self, method: &str, htu: &str, ath: Option<&str>, n: usize) -> Result<HeaderValue> {
        let iat = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs();
        let mut claims = serde_json::json!({
            "jti": format!("bench-{n}-{}", URL_SAFE_NO_PAD.encode(aws_lc_rs::rand::generate::<[u8; 12]>(&SystemRandom::new()).map_err(|_| anyhow::anyhow!("random"))?.expose())),
            "htm": method, "htu": htu, "iat": iat,
        });
        if let Some(ath) = ath {
            claims["ath"] = ath.into();
        }
        let input = format!(
            "{}.{}",
            self.header,
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let sig = self
            .pair
            .sign(&SystemRandom::new(), input.as_bytes())
            .map_err(|_| anyhow::anyhow!("signing a proof"))?;
        let proof = format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()));
        Ok(HeaderValue::from_str(&proof)?)
    }
}

/// One request shape with a fresh proof each time.
struct DpopRequests {
    method: Method,
    uri: Uri,
    /// `htu`: the server's address and the path.
    htu: String,
    ath: Option<String>,
    headers: HeaderMap,
    body: Bytes,
    key: ProofKey,
    proofs: Vec<HeaderValue>,
    next: AtomicUsize,
}

impl DpopRequests {
    /// Makes `count` proofs of `key` up front, on every core.
    #[allow(clippy::too_many_arguments)]
    fn new(
        key: ProofKey,
        method: Method,
        addr: SocketAddr,
        path: &str,
        access_token: Option<&str>,
        headers: HeaderMap,
        body: Bytes,
        count: usize,
    ) -> Result<Self> {
        let htu = format!("http://{addr}{path}");
        let ath = access_token.map(|t| {
            URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(
                &aws_lc_rs::digest::SHA256,
                t.as_bytes(),
            ))
        });
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        let per = count.div_ceil(threads);
        let proofs = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let (key, htu, ath, method) = (&key, &htu, &ath, method.as_str());
                    scope.spawn(move || {
                        (t * per..((t + 1) * per).min(count))
                            .map(|n| key.proof(method, htu, ath.as_deref(), n))
                            .collect::<Result<Vec<_>>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .map_err(|_| anyhow::anyhow!("a proof thread panicked"))?
                })
                .collect::<Result<Vec<Vec<_>>>>()
        })?
        .concat();
        Ok(Self {
            uri: path
                .parse()
                .with_context(|| format!("request path {path:?}"))?,
            method,
            htu,
            ath,
            headers,
            body,
            key,
            proofs,
            next: AtomicUsize::new(0),
        })
    }
}

impl Scenario for DpopRequests {
    type State = ();

    fn open(&self, _index: usize) -> Self::State {}

    fn request(&self, _state: &mut Self::State) -> BenchRequest {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let proof = match self.proofs.get(n) {
            Some(made) => made.clone(),
            None => self
                .key
                .proof(self.method.as_str(), &self.htu, self.ath.as_deref(), n)
                .unwrap_or_else(|_| HeaderValue::from_static("unsigned")),
        };
        let mut request = Request::new(Full::new(self.body.clone()));
        *request.method_mut() = self.method.clone();
        *request.uri_mut() = self.uri.clone();
        *request.headers_mut() = self.headers.clone();
        request.headers_mut().insert("dpop", proof);
        request
    }
}

fn proof_count(bench: &Bench) -> usize {
    let seconds = (bench.config.warmup + bench.config.duration).as_secs_f64();
    ((seconds * PROOFS_PER_SECOND) as usize).min(MAX_PROOFS)
}

/// The headers of the bench client's client credentials request (HTTP Basic, a form).
fn token_request_headers(bench: &Bench) -> Result<HeaderMap> {
    let mut headers = HeaderMap::new();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/x-www-form-urlencoded"),
    );
    let basic = basic_authorizations(std::slice::from_ref(&bench.fixtures.client))?;
    headers.insert(AUTHORIZATION, basic[0].clone());
    Ok(headers)
}

/// RFC 6749 §4.4 with a DPoP proof: a `token_type: DPoP` token bound to the key.
pub async fn client_credentials_dpop(bench: &Bench) -> Result<Row> {
    let addr = bench.tessera_addr();
    let headers = token_request_headers(bench)?;
    let body = Bytes::from_static(b"grant_type=client_credentials");
    let scenario = DpopRequests::new(
        ProofKey::generate()?,
        Method::POST,
        addr,
        TOKEN_PATH,
        None,
        headers,
        body,
        proof_count(bench),
    )?;
    bench
        .measure_tessera(CLIENT_CREDENTIALS_DPOP, scenario)
        .await
}

/// A resource call with a DPoP-bound token and a proof for it (RFC 9449 §7).
pub async fn bearer_call_dpop(bench: &Bench) -> Result<Row> {
    let addr = bench.tessera_addr();
    let key = ProofKey::generate()?;
    let token = bound_token(bench, addr, &key).await?;
    let mut headers = HeaderMap::new();
    headers.insert(
        AUTHORIZATION,
        HeaderValue::from_str(&format!("DPoP {token}"))?,
    );
    let scenario = DpopRequests::new(
        key,
        Method::GET,
        addr,
        ACCOUNT_PATH,
        Some(&token),
        headers,
        Bytes::new(),
        proof_count(bench),
    )?;
    bench.measure_tessera(BEARER_CALL_DPOP, scenario).await
}

/// A token of the bench client bound to `key`, fetched outside the measurement.
async fn bound_token(bench: &Bench, addr: SocketAddr, key: &ProofKey) -> Result<String> {
    let headers = token_request_headers(bench)?;
    let proof = key.proof("POST", &format!("http://{addr}{TOKEN_PATH}"), None, 0)?;
    let mut request = Request::new(Full::new(Bytes::from_static(
        b"grant_type=client_credentials",
    )));
    *request.method_mut() = Method::POST;
    *request.uri_mut() = TOKEN_PATH.parse()?;
    *request.headers_mut() = headers;
    request.headers_mut().insert("dpop", proof);
    let (status, body) = send_once(addr, request).await?;
    if !status.is_success() {
        anyhow::bail!(
            "fetching a DPoP-bound token: status {status}: {}",
            body_excerpt(&body)
        );
    }
    let answer: serde_json::Value = serde_json::from_slice(&body)?;
    answer["access_token"]
        .as_str()
        .map(str::to_owned)
        .context("no access_token in the DPoP token response")
}
