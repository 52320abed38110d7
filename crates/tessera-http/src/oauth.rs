//! The client-authenticated OAuth endpoints: token (RFC 6749 §3.2), revocation (RFC 7009),
//! introspection (RFC 7662) and pushed authorization requests (RFC 9126).

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use tessera_core::error::{ErrorCode, OAuthError};
use tessera_core::oauth::client_auth::ClientRequest;
use tessera_core::oauth::device::request_device_authorization;
use tessera_core::oauth::introspection::introspect_request;
use tessera_core::oauth::par::push;
use tessera_core::oauth::request::Form;
use tessera_core::oauth::response::TokenResponse;
use tessera_core::oauth::revocation::{revoke_request, Revoked};
use tessera_core::oauth::routes;
use tessera_core::oauth::token::{token, EndpointContext};
use tessera_core::runtime::endpoint_limits::{EndpointGroup, Passage};
use tessera_core::token::dpop::new_nonce;

use crate::body::read_form;
use crate::client_addr::ClientAddr;
use crate::error::{created, Challenge, HttpError};
use crate::metrics::{grant_type_label, Metrics};
use crate::rate_limit;
use crate::state::AppState;

/// The parts every client-authenticated endpoint reads: the `Authorization` header, which
/// challenge a failure gets, and the strictly parsed form body.
struct Incoming<'h> {
    authorization: Option<&'h str>,
    dpop: Option<&'h str>,
    challenge: Challenge,
    form: Form,
}

impl Incoming<'_> {
    fn request(&self) -> ClientRequest<'_> {
        ClientRequest {
            authorization: self.authorization,
            form: &self.form,
            dpop: self.dpop,
        }
    }
}

async fn incoming<'h>(
    app: &AppState,
    headers: &'h HeaderMap,
    body: Body,
) -> Result<Incoming<'h>, HttpError> {
    let authorization = match headers.get(header::AUTHORIZATION) {
        Some(v) => Some(v.to_str().map_err(|_| {
            HttpError::OAuth(
                OAuthError::invalid_request("the Authorization header is not valid ASCII"),
                Challenge::None,
            )
        })?),
        None => None,
    };
    let challenge = match authorization {
        Some(a) if a.len() >= 6 && a[..6].eq_ignore_ascii_case("basic ") => Challenge::Basic,
        _ => Challenge::None,
    };
    let dpop = dpop_header(headers).map_err(|e| HttpError::OAuth(e, challenge))?;
    let form = read_form(headers, body, app.http.form_limit, challenge).await?;
    Ok(Incoming {
        authorization,
        dpop,
        challenge,
        form,
    })
}

/// RFC 9449 §4.3 item 1: at most one `DPoP` header, and it is ASCII.
pub(crate) fn dpop_header(headers: &HeaderMap) -> Result<Option<&str>, OAuthError> {
    let mut all = headers.get_all("dpop").iter();
    let (Some(first), None) = (all.next(), all.next()) else {
        return match headers.contains_key("dpop") {
            true => Err(OAuthError::new(
                ErrorCode::InvalidDpopProof,
                "send one DPoP header, not several",
            )),
            false => Ok(None),
        };
    };
    first.to_str().map(Some).map_err(|_| {
        OAuthError::new(
            ErrorCode::InvalidDpopProof,
            "the DPoP header is not a compact JWS",
        )
    })
}

/// RFC 9449 §8: with `require_dpop_nonce`, every answer of the endpoints that take proofs
/// (token and PAR) carries the nonce the next proof must use.
fn with_dpop_nonce(app: &AppState, mut res: Response) -> Response {
    if app.dpop.require_nonce {
        if let Some(nonce) = new_nonce(&app.master, app.clock.now()) {
            if let Ok(v) = HeaderValue::from_str(&nonce) {
                res.headers_mut().insert("dpop-nonce", v);
            }
        }
    }
    res
}

pub async fn post_token(
    State(app): State<AppState>,
    ClientAddr(address): ClientAddr,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let passage = match rate_limit::enter(&app, EndpointGroup::Token, address) {
        Ok(passage) => passage,
        Err(e) => {
            app.metrics
                .token_request("other", Some(ErrorCode::SlowDown));
            return e.into_response();
        }
    };
    let outcome = token_request(&app, &passage, &headers, body).await;
    with_dpop_nonce(&app, answer(outcome, &passage))
}

async fn token_request(
    app: &AppState,
    passage: &Passage<'_>,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, HttpError> {
    let req = match incoming(app, headers, body).await {
        Ok(req) => req,
        Err(e) => {
            let code = match &e {
                HttpError::OAuth(err, _) => err.code,
                _ => ErrorCode::InvalidRequest,
            };
            app.metrics.token_request("other", Some(code));
            return Err(e);
        }
    };
    let grant_type = grant_type_label(req.form.get("grant_type"));
    let cx = EndpointContext {
        passage: Some(passage),
        ..app.endpoint()
    };
    let result = token(&req.request(), &cx, app.clock.now()).await;
    app.metrics
        .token_request(grant_type, result.as_ref().err().map(|e| e.code));
    let response = result.map_err(|e| refused(app, passage, e, req.challenge))?;
    Ok(token_response(response))
}

/// What a client-authenticated endpoint does with a parsed request: its core call and the
/// response it makes of the result. Boxed because the future borrows the request the
/// shared plumbing ([`client_endpoint`]) owns.
type Handled<'a> = Pin<Box<dyn Future<Output = Result<Response, OAuthError>> + Send + 'a>>;

/// The plumbing every client-authenticated endpoint but the token endpoint (which counts
/// refusals of its own in the metrics) shares: the rate limits of `group`, the parsed
/// request, `handle`, the refusal as the error it is, `Cache-Control: no-store` on what is
/// answered, and the rate limits' state on every response.
async fn client_endpoint(
    app: &AppState,
    group: EndpointGroup,
    address: Option<IpAddr>,
    (headers, body): (&HeaderMap, Body),
    handle: impl for<'a> FnOnce(&'a AppState, &'a Incoming<'a>, EndpointContext<'a>) -> Handled<'a>,
) -> Response {
    let passage = match rate_limit::enter(app, group, address) {
        Ok(passage) => passage,
        Err(e) => return e.into_response(),
    };
    let outcome = async {
        let req = incoming(app, headers, body).await?;
        let cx = EndpointContext {
            passage: Some(&passage),
            ..app.endpoint()
        };
        let mut res = handle(app, &req, cx)
            .await
            .map_err(|e| refused(app, &passage, e, req.challenge))?;
        res.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        Ok(res)
    };
    answer(outcome.await, &passage)
}

/// RFC 9126 §2: a pushed authorization request, answered `201` with its `request_uri`.
/// Counted against the token endpoint's rate limits: it authenticates the client the same
/// way.
pub async fn post_par(
    State(app): State<AppState>,
    ClientAddr(address): ClientAddr,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let res = client_endpoint(
        &app,
        EndpointGroup::Token,
        address,
        (&headers, body),
        |app, req, cx| {
            Box::pin(async move {
                let pushed = push(&req.request(), &cx, &app.authorize, app.clock.now()).await?;
                Ok(created(Json(pushed)))
            })
        },
    )
    .await;
    with_dpop_nonce(&app, res)
}

/// RFC 8628 §3.1–3.2: a device authorization request, answered with the device code and
/// the user code. Counted against the token endpoint's rate limits: it authenticates the
/// client the same way.
pub async fn post_device_authorization(
    State(app): State<AppState>,
    ClientAddr(address): ClientAddr,
    headers: HeaderMap,
    body: Body,
) -> Response {
    client_endpoint(
        &app,
        EndpointGroup::Token,
        address,
        (&headers, body),
        |app, req, cx| {
            Box::pin(async move {
                let verification_uri = format!(
                    "{}{}",
                    app.tokens.issuer.trim_end_matches('/'),
                    routes::DEVICE_VERIFICATION
                );
                let now = app.clock.now();
                let asked = request_device_authorization(
                    &req.request(),
                    &cx,
                    &app.device,
                    &verification_uri,
                    now,
                )
                .await?;
                Ok(Json(asked).into_response())
            })
        },
    )
    .await
}

/// RFC 7009 §2.1: 200 with an empty body whether or not the token was known.
pub async fn post_revoke(
    State(app): State<AppState>,
    ClientAddr(address): ClientAddr,
    headers: HeaderMap,
    body: Body,
) -> Response {
    client_endpoint(
        &app,
        EndpointGroup::Revocation,
        address,
        (&headers, body),
        |app, req, cx| {
            Box::pin(async move {
                let result = revoke_request(&req.request(), &cx, app.clock.now()).await;
                let counted = match &result {
                    Ok(Revoked::AccessToken { .. }) => "access_token",
                    Ok(Revoked::TokenSet { .. }) => "token_set",
                    Ok(Revoked::Nothing) => "nothing",
                    Err(_) => "refused",
                };
                Metrics::count(&app.metrics.revocations, counted);
                let revoked = result?;
                tracing::info!(?revoked, "revocation request");
                Ok(().into_response())
            })
        },
    )
    .await
}

/// RFC 7662 §2.2: the token's state as JSON.
pub async fn post_introspect(
    State(app): State<AppState>,
    ClientAddr(address): ClientAddr,
    headers: HeaderMap,
    body: Body,
) -> Response {
    client_endpoint(
        &app,
        EndpointGroup::Introspection,
        address,
        (&headers, body),
        |app, req, cx| {
            Box::pin(async move {
                let result = introspect_request(&req.request(), &cx, app.clock.now()).await;
                let counted = match &result {
                    Ok(v) if v["active"] == true => "active",
                    Ok(_) => "inactive",
                    Err(_) => "refused",
                };
                Metrics::count(&app.metrics.introspections, counted);
                Ok(Json(result?).into_response())
            })
        },
    )
    .await
}

/// The error a client-authenticated endpoint answers: the 429 of a spent client budget, or
/// the OAuth error as it is.
fn refused(
    app: &AppState,
    passage: &Passage<'_>,
    err: OAuthError,
    challenge: Challenge,
) -> HttpError {
    match passage.refusal() {
        Some(limited) if err.code == ErrorCode::SlowDown => rate_limit::refused(app, limited),
        _ => HttpError::OAuth(err, challenge),
    }
}

/// The response, error or not, with the state of the rate limits it was counted against.
fn answer(outcome: Result<Response, HttpError>, passage: &Passage<'_>) -> Response {
    rate_limit::annotate(outcome.unwrap_or_else(IntoResponse::into_response), passage)
}

/// §5.1: JSON, never cached.
fn token_response(body: TokenResponse) -> Response {
    let mut res = Json(body).into_response();
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    res
}

/// Any method but POST (RFC 6749 §3.2, RFC 7009 §2.1, RFC 7662 §2.1 all require POST).
pub async fn wrong_method() -> HttpError {
    HttpError::PostOnly
}
