//! A `private_key_jwt` client's side, made here: an ES256 key pair, its public JWK Set,
//! signed client assertions (RFC 7523), and a server publishing the JWK Set by URL.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use serde_json::{json, Value};
use tokio::task::JoinHandle;

pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

pub struct ClientKey {
    pair: EcdsaKeyPair,
    pkcs8: Vec<u8>,
    pub kid: String,
}

impl ClientKey {
    pub fn generate(kid: &str) -> Self {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .unwrap()
            .as_ref()
            .to_vec();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &pkcs8).unwrap();
        Self {
            pair,
            pkcs8,
            kid: kid.to_owned(),
        }
    }

    /// The public key as a JWK.
    pub fn jwk(&self) -> Value {
        let point = self.pair.public_key().as_ref();
        json!({
            "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": self.kid,
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
        })
    }

    /// The private key, PKCS #8 DER in base64 (what WebCrypto's `importKey('pkcs8')` takes).
    pub fn pkcs8_base64(&self) -> String {
        STANDARD.encode(&self.pkcs8)
    }

    /// `claims` signed with this key (`alg` as given, normally ES256).
    pub fn sign_with_alg(&self, alg: &str, claims: &Value) -> String {
        self.signed(
            &json!({ "alg": alg, "typ": "JWT", "kid": self.kid }),
            claims,
        )
    }

    /// A compact JWS of `header` and `claims`, signed with this key.
    fn signed(&self, header: &Value, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let sig = self
            .pair
            .sign(&SystemRandom::new(), input.as_bytes())
            .unwrap();
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
    }

    pub fn sign(&self, claims: &Value) -> String {
        self.sign_with_alg("ES256", claims)
    }

    /// A DPoP proof (RFC 9449 §4.2) with `claims`, this key's public JWK in its header.
    pub fn dpop_proof_with(&self, claims: &Value) -> String {
        let header = json!({ "alg": "ES256", "typ": "dpop+jwt", "jwk": self.jwk() });
        self.signed(&header, claims)
    }

    /// A fresh proof for `method` `url` at `iat`; with `token`, its `ath`.
    pub fn dpop_proof(&self, method: &str, url: &str, iat: i64, token: Option<&str>) -> String {
        self.dpop_proof_with(&dpop_claims(method, url, iat, token))
    }

    /// The RFC 7638 thumbprint of the public key.
    pub fn jkt(&self) -> String {
        let jwk = self.jwk();
        let canonical = format!(
            r#"{{"crv":"P-256","kty":"EC","x":{},"y":{}}}"#,
            jwk["x"], jwk["y"]
        );
        URL_SAFE_NO_PAD.encode(sha256(canonical.as_bytes()))
    }
}

/// The claims of a fresh DPoP proof (a new `jti` each time).
pub fn dpop_claims(method: &str, url: &str, iat: i64, token: Option<&str>) -> Value {
    let mut claims = json!({
        "jti": super::random_suffix(), "htm": method, "htu": url, "iat": iat,
    });
    if let Some(token) = token {
        claims["ath"] = URL_SAFE_NO_PAD.encode(sha256(token.as_bytes())).into();
    }
    claims
}

/// A JWK Set document of `keys`.
pub fn jwks(keys: &[&ClientKey]) -> String {
    json!({ "keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>() }).to_string()
}

/// The claims of a good assertion of `client_id` for `aud`, at `now`, with a fresh `jti`.
pub fn claims(client_id: &str, aud: &str, now: i64) -> Value {
    json!({
        "iss": client_id, "sub": client_id, "aud": aud,
        "iat": now, "exp": now + 60, "jti": super::random_suffix(),
    })
}

/// Serves a JWK Set at `/jwks`, which the test may replace, counting the fetches.
pub struct JwksServer {
    pub url: String,
    set: Arc<Mutex<String>>,
    fetches: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl JwksServer {
    pub async fn start(set: String) -> Self {
        let set = Arc::new(Mutex::new(set));
        let fetches = Arc::new(AtomicUsize::new(0));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/jwks", listener.local_addr().unwrap());
        let (served, counted) = (set.clone(), fetches.clone());
        let app = axum::Router::new().route(
            "/jwks",
            axum::routing::get(move || {
                let served = served.clone();
                let counted = counted.clone();
                async move {
                    counted.fetch_add(1, Ordering::SeqCst);
                    let body = served.lock().unwrap().clone();
                    ([("content-type", "application/json")], body)
                }
            }),
        );
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            url,
            set,
            fetches,
            task,
        }
    }

    pub fn replace(&self, set: String) {
        *self.set.lock().unwrap() = set;
    }

    pub fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

impl Drop for JwksServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn sha256(bytes: &[u8]) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes)
        .as_ref()
        .to_vec()
}
