//! The baseline server: the least a token endpoint can do on Tessera's stack (axum over
//! hyper, tokio) — read the body, parse the form, answer a token-sized JSON — and a
//! resource endpoint answering a fixed JSON. Every scenario's throughput is divided by
//! the baseline's, so the ratio shows what Tessera's own work costs.
//!
//! Shares nothing with the Tessera crates on purpose: it must not get slower when they do.

use std::net::SocketAddr;

use anyhow::{Context, Result};
use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use axum::Router;
use bytes::Bytes;
use tokio::net::TcpListener;

use crate::tessera::{ACCOUNT_PATH, TOKEN_PATH};

/// Length of a Tessera access token (an ES256-signed RFC 9068 JWT with its claims).
const ACCESS_TOKEN_LEN: usize = 560;
const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded";

#[derive(Clone)]
struct Answers {
    token: Bytes,
    account: Bytes,
}

/// Serves the baseline on `listen` until Ctrl-C (the bench harness kills it instead).
pub async fn serve(listen: SocketAddr) -> Result<()> {
    let answers = Answers {
        token: Bytes::from(token_response()),
        account: Bytes::from_static(
            br#"{"account_id":"acc_0000000000000000baseline","name":"baseline"}"#,
        ),
    };
    let app = Router::new()
        .route(TOKEN_PATH, post(post_token))
        .route(ACCOUNT_PATH, get(get_account))
        .with_state(answers);
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?
        .tap_io(|stream| {
            // A refused option only costs latency; the baseline still answers.
            let _ = stream.set_nodelay(true);
        });
    eprintln!("baseline listening on {listen}");
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .context("serving the baseline")
}

/// The parse a real token endpoint does before any grant logic, then a fixed answer.
async fn post_token(State(answers): State<Answers>, headers: HeaderMap, body: Bytes) -> Response {
    let form_typed = headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with(FORM_CONTENT_TYPE));
    if !form_typed {
        return invalid_request();
    }
    let mut params: Vec<(String, String)> = Vec::new();
    for (name, value) in form_urlencoded::parse(&body) {
        // RFC 6749 §3.2: parameters MUST NOT be included more than once.
        if params.iter().any(|(seen, _)| *seen == name) {
            return invalid_request();
        }
        params.push((name.into_owned(), value.into_owned()));
    }
    let grant_ok = params
        .iter()
        .any(|(name, value)| name == "grant_type" && value == "client_credentials");
    if !grant_ok {
        return invalid_request();
    }
    // RFC 6749 §5.1: token responses are not to be cached.
    (
        [
            (CACHE_CONTROL, "no-store"),
            (CONTENT_TYPE, "application/json"),
        ],
        answers.token,
    )
        .into_response()
}

async fn get_account(State(answers): State<Answers>) -> Response {
    ([(CONTENT_TYPE, "application/json")], answers.account).into_response()
}

fn invalid_request() -> Response {
    (
        StatusCode::BAD_REQUEST,
        [(CONTENT_TYPE, "application/json")],
        r#"{"error":"invalid_request"}"#,
    )
        .into_response()
}

/// `{"access_token":"…","token_type":"Bearer","expires_in":86400}` with a JWT-shaped
/// token of `ACCESS_TOKEN_LEN` characters, so the response is as large as Tessera's.
fn token_response() -> String {
    const HEADER: &str = "eyJhbGciOiJFUzI1NiIsImtpZCI6ImJlbmNoIiwidHlwIjoiYXQrand0In0";
    const SIGNATURE_LEN: usize = 86;
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let claims_len = ACCESS_TOKEN_LEN - HEADER.len() - SIGNATURE_LEN - 2;
    let filler = |len: usize, seed: usize| -> String {
        (0..len)
            .map(|i| char::from(ALPHABET[(i * 7 + seed) % ALPHABET.len()]))
            .collect()
    };
    let token = format!(
        "{HEADER}.{}.{}",
        filler(claims_len, 3),
        filler(SIGNATURE_LEN, 11)
    );
    format!(r#"{{"access_token":"{token}","token_type":"Bearer","expires_in":86400}}"#)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_response_has_a_token_of_the_stated_length() -> Result<()> {
        let parsed: serde_json::Value = serde_json::from_str(&token_response())?;
        let token = parsed["access_token"].as_str().context("no access_token")?;
        assert_eq!(token.len(), ACCESS_TOKEN_LEN);
        assert_eq!(parsed["token_type"], "Bearer");
        assert_eq!(parsed["expires_in"], 86400);
        Ok(())
    }
}
