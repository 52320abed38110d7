//! Scenarios whose credentials work once: refresh-token chains, where each answer carries
//! the next request's token, and authorization codes, each exchanged a single time.
//!
//! Knows the token endpoint's form and answer; timing and statistics stay in load.rs.

use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{anyhow, bail, Result};
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use hyper::{Method, Request, StatusCode, Uri};
use serde::Deserialize;

use crate::client::{body_excerpt, BenchRequest};
use crate::load::{expect_success, Scenario};

const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded";

/// `POST /oauth/token` with a form body, authenticated with `authorization`.
fn token_request(uri: &Uri, authorization: &HeaderValue, body: Bytes) -> BenchRequest {
    let mut request = Request::new(Full::new(body));
    *request.method_mut() = Method::POST;
    *request.uri_mut() = uri.clone();
    let headers = request.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(FORM_CONTENT_TYPE));
    headers.insert(AUTHORIZATION, authorization.clone());
    request
}

fn form(pairs: &[(&str, &str)]) -> Bytes {
    let mut serializer = form_urlencoded::Serializer::new(String::new());
    serializer.extend_pairs(pairs);
    Bytes::from(serializer.finish())
}

/// RFC 6749 §6 with rotation (RFC 9700 §4.14.2): every connection refreshes its own slice
/// of token sets in turn, and each answer's refresh token replaces the one just spent.
pub struct RefreshChains {
    uri: Uri,
    authorization: HeaderValue,
    tokens: Vec<String>,
    connections: usize,
}

/// One connection's chains: the live refresh token of each, `None` once a chain broke.
pub struct Chains {
    tokens: Vec<Option<String>>,
    next: usize,
    in_flight: Option<usize>,
}

#[derive(Deserialize)]
struct Refreshed {
    refresh_token: String,
}

impl RefreshChains {
    /// Connection `i` owns the tokens at `i`, `i + connections`, …; each token is spent
    /// by this one run, so the scenario cannot be run twice.
    pub fn new(
        path: &str,
        authorization: HeaderValue,
        tokens: Vec<String>,
        connections: usize,
    ) -> Result<Self> {
        if tokens.len() < connections {
            bail!(
                "{} refresh tokens for {connections} connections: each needs one",
                tokens.len()
            );
        }
        Ok(Self {
            uri: path.parse()?,
            authorization,
            tokens,
            connections,
        })
    }
}

impl Scenario for RefreshChains {
    type State = Chains;

    fn open(&self, index: usize) -> Chains {
        let tokens = self
            .tokens
            .iter()
            .skip(index)
            .step_by(self.connections)
            .cloned()
            .map(Some)
            .collect();
        Chains {
            tokens,
            next: 0,
            in_flight: None,
        }
    }

    fn request(&self, state: &mut Chains) -> BenchRequest {
        let count = state.tokens.len();
        let live = (0..count)
            .map(|step| (state.next + step) % count)
            .find(|&i| matches!(state.tokens.get(i), Some(Some(_))));
        state.in_flight = live;
        let token = live.and_then(|i| state.tokens.get(i).cloned().flatten());
        state.next = live.map_or(0, |i| i + 1);
        let body = match &token {
            Some(token) => form(&[("grant_type", "refresh_token"), ("refresh_token", token)]),
            // Every chain broke (each break was already counted): the server's 400 to
            // this request keeps the error count honest rather than stalling the loop.
            None => form(&[("grant_type", "refresh_token")]),
        };
        token_request(&self.uri, &self.authorization, body)
    }

    fn response(&self, state: &mut Chains, status: StatusCode, body: &Bytes) -> Result<()> {
        let Some(slot) = state.in_flight.take().and_then(|i| state.tokens.get_mut(i)) else {
            bail!("every refresh chain of this connection is broken");
        };
        let next = expect_success(status, body).and_then(|()| {
            serde_json::from_slice::<Refreshed>(body)
                .map_err(|e| anyhow!("no refresh_token in {}: {e}", body_excerpt(body)))
        });
        match next {
            Ok(refreshed) => {
                *slot = Some(refreshed.refresh_token);
                Ok(())
            }
            Err(error) => {
                // Its token may be spent: sending it again would revoke the set.
                *slot = None;
                Err(error)
            }
        }
    }

    fn transport_error(&self, state: &mut Chains) {
        // The server may have rotated the token before the connection failed, so the
        // chain cannot go on without risking a reuse.
        if let Some(slot) = state.in_flight.take().and_then(|i| state.tokens.get_mut(i)) {
            *slot = None;
        }
    }
}

/// RFC 6749 §4.1.3: each request exchanges the next unused code, across all connections.
pub struct CodeExchanges {
    uri: Uri,
    authorization: HeaderValue,
    bodies: Vec<Bytes>,
    next: AtomicUsize,
}

impl CodeExchanges {
    pub fn new(
        path: &str,
        authorization: HeaderValue,
        redirect_uri: &str,
        codes: &[String],
    ) -> Result<Self> {
        // Built up front so the load generator spends no time encoding during the run.
        let bodies = codes
            .iter()
            .map(|code| {
                form(&[
                    ("grant_type", "authorization_code"),
                    ("code", code),
                    ("redirect_uri", redirect_uri),
                ])
            })
            .collect();
        Ok(Self {
            uri: path.parse()?,
            authorization,
            bodies,
            next: AtomicUsize::new(0),
        })
    }

    /// Whether some request found no code left.
    pub fn exhausted(&self) -> bool {
        self.next.load(Ordering::Relaxed) > self.bodies.len()
    }
}

/// Whether the connection's request in flight had no code left to send.
pub struct Exhausted(bool);

impl Scenario for CodeExchanges {
    type State = Exhausted;

    fn open(&self, _index: usize) -> Exhausted {
        Exhausted(false)
    }

    fn request(&self, state: &mut Exhausted) -> BenchRequest {
        let turn = self.next.fetch_add(1, Ordering::Relaxed);
        let (body, exhausted) = match self.bodies.get(turn) {
            Some(body) => (body.clone(), false),
            None => (form(&[("grant_type", "authorization_code")]), true),
        };
        state.0 = exhausted;
        token_request(&self.uri, &self.authorization, body)
    }

    fn response(&self, state: &mut Exhausted, status: StatusCode, body: &Bytes) -> Result<()> {
        if state.0 {
            bail!(
                "ran out of the {} pre-minted authorization codes",
                self.bodies.len()
            );
        }
        expect_success(status, body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chains(tokens: &[&str], connections: usize) -> RefreshChains {
        let tokens = tokens.iter().map(|t| (*t).to_owned()).collect();
        RefreshChains::new(
            "/oauth/token",
            HeaderValue::from_static("Basic eA=="),
            tokens,
            connections,
        )
        .unwrap()
    }

    async fn body_of(request: BenchRequest) -> String {
        use http_body_util::BodyExt;
        let bytes = request.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn each_answer_replaces_the_spent_refresh_token() {
        let scenario = chains(&["a", "b", "c", "d"], 2);
        let mut state = scenario.open(1);
        let first = body_of(scenario.request(&mut state)).await;
        assert_eq!(first, "grant_type=refresh_token&refresh_token=b");
        let answer = Bytes::from_static(br#"{"refresh_token":"b2","access_token":"x"}"#);
        scenario
            .response(&mut state, StatusCode::OK, &answer)
            .unwrap();
        assert!(body_of(scenario.request(&mut state))
            .await
            .ends_with("refresh_token=d"));
        scenario
            .response(&mut state, StatusCode::OK, &answer)
            .unwrap();
        assert!(body_of(scenario.request(&mut state))
            .await
            .ends_with("refresh_token=b2"));
    }

    #[tokio::test]
    async fn a_failed_refresh_drops_its_chain_for_good() {
        let scenario = chains(&["a", "b"], 1);
        let mut state = scenario.open(0);
        let _ = scenario.request(&mut state);
        let refused = Bytes::from_static(br#"{"error":"invalid_grant"}"#);
        assert!(scenario
            .response(&mut state, StatusCode::BAD_REQUEST, &refused)
            .is_err());
        assert!(body_of(scenario.request(&mut state))
            .await
            .ends_with("refresh_token=b"));
        scenario.transport_error(&mut state);
        // Both chains are gone: the request still goes, and counts as an error.
        let last = body_of(scenario.request(&mut state)).await;
        assert_eq!(last, "grant_type=refresh_token");
        assert!(scenario
            .response(&mut state, StatusCode::OK, &Bytes::new())
            .is_err());
    }

    #[tokio::test]
    async fn codes_are_sent_once_then_running_out_is_an_error() {
        let codes = ["ac_1".to_owned()];
        let scenario = CodeExchanges::new(
            "/oauth/token",
            HeaderValue::from_static("Basic eA=="),
            "http://127.0.0.1/callback",
            &codes,
        )
        .unwrap();
        let mut state = scenario.open(0);
        assert_eq!(
            body_of(scenario.request(&mut state)).await,
            "grant_type=authorization_code&code=ac_1&redirect_uri=http%3A%2F%2F127.0.0.1%2Fcallback"
        );
        assert!(scenario
            .response(&mut state, StatusCode::OK, &Bytes::new())
            .is_ok());
        assert!(!scenario.exhausted());
        let _ = scenario.request(&mut state);
        assert!(scenario.exhausted());
        let error = scenario
            .response(&mut state, StatusCode::BAD_REQUEST, &Bytes::new())
            .unwrap_err();
        assert!(error.to_string().contains("ran out"), "{error}");
    }
}
