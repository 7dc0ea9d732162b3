//! Routing: method and path to a handler, OpenAI-shaped 404/405, and what every response gets (`x-request-id`, status count, close-after-N).
//!
//! Hand-written instead of `axum::Router`: there are ten fixed paths, every miss must be an
//! OpenAI-shaped (Anthropic-shaped under `/v1/messages`) 404/405 (axum's defaults are empty bodies), handlers need the per-connection
//! state (handshake, reset, close) that axum would carry only through extensions, and the hot
//! path keeps our own body type with no boxing. A `match` on the path costs nothing and hides nothing.

use crate::api::{self, ApiKind};
use crate::body::MockBody;
use crate::connection::ConnState;
use crate::control;
use crate::openai::errors::{ApiError, ErrorShape};
use crate::openai::models;
use crate::respond;
use crate::state::{request_hex, rng_for, Active, Shared};
use crate::stats::{FaultKind, Route};
use http::header::{HeaderValue, CONNECTION};
use http::{Method, Request, Response, StatusCode, Version};
use hyper::body::Incoming;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

/// Which routes a listener serves.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Surface {
    /// The API, with or without the control routes beside it.
    Api { control: bool },
    /// Only the control routes (their own address).
    ControlOnly,
}

/// What a request asked for.
enum Target {
    Api(ApiKind),
    Models,
    Model(String),
    Healthz,
    Control(control::Action),
    NotFound,
    WrongMethod(Route, &'static str),
}

/// Seeds stream ids (see `state::rng_for`).
pub(crate) const RNG_REQUEST: u64 = 1;
pub(crate) const RNG_CONNECTION: u64 = 2;

/// The service function of every connection.
pub(crate) async fn handle(
    req: Request<Incoming>,
    shared: Arc<Shared>,
    conn: Arc<ConnState>,
    surface: Surface,
) -> Result<Response<MockBody>, Infallible> {
    let seq = shared.next_request();
    let active = shared.active();
    // The request's id: `x-request-id` and, for completions, the body's `id`.
    let hex = request_hex(active.seed, seq);
    let target = resolve(req.method(), req.uri().path(), surface);
    let route = route_of(&target);
    let _in_flight = shared.stats.request_started(route);
    let position = conn.count_request();
    let is_control = matches!(target, Target::Control(_));
    if !is_control {
        handshake(&shared, &conn, &active).await;
    }
    let http2 = req.version() == Version::HTTP_2;
    let mut resp = match target {
        Target::Api(kind) => {
            // The rest of the head (its path is a slice of the read buffer too) goes at once.
            let (http::request::Parts { headers, .. }, body) = req.into_parts();
            api::serve(kind, headers, body, &shared, &conn, &active, seq, &hex).await
        }
        // Boxed: rare, and inline it would enlarge every request's future (see `api::drain`).
        Target::Control(action) => Box::pin(control::handle(action, req, &shared)).await,
        other => {
            // These routes take no body; read any that came so the reply is not lost to a reset.
            let (parts, body) = req.into_parts();
            api::drain(body).await;
            bodiless(other, &shared, &active, &parts.method, parts.uri.path())
        }
    };
    shared.stats.response(resp.status().as_u16());
    resp.headers_mut()
        .insert(X_REQUEST_ID.clone(), request_id(&hex));
    if !is_control {
        for (name, value) in &active.response_headers {
            resp.headers_mut().insert(name, value.clone());
        }
    }
    let close_after = active.schedule.now().faults.close_after_requests;
    if !is_control && close_after.is_some_and(|n| position >= n) {
        shared.stats.fault(FaultKind::CloseAfterRequests);
        tracing::debug!(
            conn = conn.index,
            position,
            "fault: closing connection after this response"
        );
        if !http2 {
            resp.headers_mut()
                .insert(CONNECTION, HeaderValue::from_static("close"));
        }
        conn.request_close();
    }
    Ok(resp)
}

static X_REQUEST_ID: http::header::HeaderName =
    http::header::HeaderName::from_static("x-request-id");

/// `req_` and the request's 16 hex digits, without allocating a String.
fn request_id(hex: &[u8; 16]) -> HeaderValue {
    let mut buf = *b"req_0000000000000000";
    buf[4..].copy_from_slice(hex);
    HeaderValue::from_bytes(&buf).unwrap_or_else(|_| HeaderValue::from_static("req_0"))
}

/// Routes that need nothing from the request but its method and path.
fn bodiless(
    target: Target,
    shared: &Shared,
    active: &Active,
    method: &Method,
    path: &str,
) -> Response<MockBody> {
    let models = &active.config.models;
    // A client of the Anthropic API reads Anthropic's error shape even for a wrong path or method.
    let shape = if path.starts_with("/v1/messages") {
        ErrorShape::Anthropic
    } else {
        ErrorShape::OpenAi
    };
    match target {
        Target::Models => respond::json(
            StatusCode::OK,
            models::list_body(models, shared.started_unix),
        ),
        Target::Model(id) if models.is_empty() || models.contains(&id) => {
            respond::json(StatusCode::OK, models::model_body(&id, shared.started_unix))
        }
        Target::Model(id) => respond::error(&ApiError::unknown_model(&id)),
        Target::Healthz => respond::json(
            StatusCode::OK,
            bytes::Bytes::from_static(b"{\"status\":\"ok\"}"),
        ),
        Target::WrongMethod(_, allowed) => {
            let e = ApiError::wrong_method(method.as_str(), path, allowed);
            let mut r = respond::error_in(shape, &e);
            respond::set_header(&mut r, "allow", allowed);
            r
        }
        Target::NotFound | Target::Api(_) | Target::Control(_) => {
            respond::error_in(shape, &ApiError::unknown_url(method.as_str(), path))
        }
    }
}

/// Waits out the connection's emulated handshake (fixed by its first request).
async fn handshake(shared: &Shared, conn: &ConnState, active: &Active) {
    let (done_at, first) = conn.handshake_deadline(|| {
        let profile = active.schedule.now();
        if profile.handshake_delay.is_zero() {
            return std::time::Duration::ZERO;
        }
        profile
            .handshake_delay
            .sample(&mut rng_for(active.seed, RNG_CONNECTION, conn.index))
    });
    let now = Instant::now();
    if done_at > now {
        if first {
            shared.stats.fault(FaultKind::HandshakeDelay);
            tracing::debug!(
                conn = conn.index,
                delay_ms = (done_at - now).as_millis() as u64,
                "fault: handshake delay"
            );
        }
        precise_sleep::sleep_until(done_at).await;
    }
}

fn resolve(method: &Method, path: &str, surface: Surface) -> Target {
    let api = matches!(surface, Surface::Api { .. });
    let control = matches!(
        surface,
        Surface::Api { control: true } | Surface::ControlOnly
    );
    let get = method == Method::GET || method == Method::HEAD;
    let post = method == Method::POST;
    let only = |ok: bool, target: Target, route: Route, allowed: &'static str| {
        if ok {
            target
        } else {
            Target::WrongMethod(route, allowed)
        }
    };
    match path {
        "/v1/chat/completions" if api => only(
            post,
            Target::Api(ApiKind::Chat),
            Route::ChatCompletions,
            "POST",
        ),
        "/v1/responses" if api => only(
            post,
            Target::Api(ApiKind::Responses),
            Route::Responses,
            "POST",
        ),
        "/v1/messages" if api => only(
            post,
            Target::Api(ApiKind::Messages),
            Route::Messages,
            "POST",
        ),
        "/v1/embeddings" if api => only(
            post,
            Target::Api(ApiKind::Embeddings),
            Route::Embeddings,
            "POST",
        ),
        "/v1/models" if api => only(get, Target::Models, Route::Models, "GET"),
        "/healthz" if api => only(get, Target::Healthz, Route::Healthz, "GET"),
        p if api && p.starts_with("/v1/models/") && p.len() > "/v1/models/".len() => only(
            get,
            Target::Model(p.strip_prefix("/v1/models/").unwrap_or(p).to_string()),
            Route::Models,
            "GET",
        ),
        "/_mock/faults" if control => match *method {
            Method::GET => Target::Control(control::Action::GetFaults),
            Method::PUT => Target::Control(control::Action::PutFaults),
            _ => Target::WrongMethod(Route::ControlFaults, "GET, PUT"),
        },
        "/_mock/stats" if control => only(
            get,
            Target::Control(control::Action::Stats),
            Route::ControlStats,
            "GET",
        ),
        "/_mock/metrics" if control => only(
            get,
            Target::Control(control::Action::Metrics),
            Route::ControlMetrics,
            "GET",
        ),
        "/_mock/reset" if control => only(
            post,
            Target::Control(control::Action::Reset),
            Route::ControlReset,
            "POST",
        ),
        _ => Target::NotFound,
    }
}

fn route_of(t: &Target) -> Route {
    match t {
        Target::Api(ApiKind::Chat) => Route::ChatCompletions,
        Target::Api(ApiKind::Responses) => Route::Responses,
        Target::Api(ApiKind::Messages) => Route::Messages,
        Target::Api(ApiKind::Embeddings) => Route::Embeddings,
        Target::Models | Target::Model(_) => Route::Models,
        Target::Healthz => Route::Healthz,
        Target::Control(a) => a.route(),
        Target::NotFound => Route::NotFound,
        Target::WrongMethod(r, _) => *r,
    }
}
