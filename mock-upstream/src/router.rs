//! Routing: method and path to a handler, OpenAI-shaped 404/405, and what every response gets (`x-request-id`, status count, close-after-N).
//!
//! Hand-written instead of `axum::Router`: there are eight fixed paths, every miss must be an
//! OpenAI-shaped 404/405 (axum's defaults are empty bodies), handlers need the per-connection
//! state (handshake, reset, close) that axum would carry only through extensions, and the hot
//! path keeps our own body type with no boxing. A `match` on the path costs nothing and hides nothing.

use crate::api::{self, ApiKind};
use crate::body::MockBody;
use crate::connection::ConnState;
use crate::control;
use crate::openai::{errors::ApiError, models};
use crate::respond;
use crate::state::{rng_for, splitmix, Shared};
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
    let target = resolve(req.method(), req.uri().path(), surface);
    let route = route_of(&target);
    let _in_flight = shared.stats.request_started(route);
    let position = conn.count_request();
    let is_control = matches!(target, Target::Control(_));
    if !is_control {
        handshake(&shared, &conn, &active).await;
    }
    let http2 = req.version() == Version::HTTP_2;
    let (method, path) = (req.method().clone(), req.uri().path().to_string());
    let mut resp = match target {
        Target::Api(kind) => api::serve(kind, req, &shared, &conn, &active, seq).await,
        Target::Models => respond::json(
            StatusCode::OK,
            models::list_body(&active.config.models, shared.started_unix),
        ),
        Target::Model(id)
            if active.config.models.is_empty() || active.config.models.contains(&id) =>
        {
            respond::json(StatusCode::OK, models::model_body(&id, shared.started_unix))
        }
        Target::Model(id) => respond::error(&ApiError::unknown_model(&id)),
        Target::Healthz => respond::json(
            StatusCode::OK,
            bytes::Bytes::from_static(b"{\"status\":\"ok\"}"),
        ),
        Target::Control(action) => control::handle(action, req, &shared).await,
        Target::NotFound => respond::error(&ApiError::unknown_url(method.as_str(), &path)),
        Target::WrongMethod(_, allowed) => {
            let mut r = respond::error(&ApiError::wrong_method(method.as_str(), &path, allowed));
            respond::set_header(&mut r, "allow", allowed);
            r
        }
    };
    shared.stats.response(resp.status().as_u16());
    respond::set_header(
        &mut resp,
        "x-request-id",
        format_args!("req_{:016x}", splitmix(active.seed ^ splitmix(seq))),
    );
    let close_after = active
        .schedule
        .at(Instant::now())
        .faults
        .close_after_requests;
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

/// Waits out the connection's emulated handshake (fixed by its first request).
async fn handshake(shared: &Shared, conn: &ConnState, active: &crate::state::Active) {
    let (done_at, first) = conn.handshake_deadline(|| {
        let profile = active.schedule.at(Instant::now());
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
        tokio::time::sleep_until(done_at.into()).await;
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
            Target::Model(p["/v1/models/".len()..].to_string()),
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
        Target::Api(ApiKind::Embeddings) => Route::Embeddings,
        Target::Models | Target::Model(_) => Route::Models,
        Target::Healthz => Route::Healthz,
        Target::Control(a) => a.route(),
        Target::NotFound => Route::NotFound,
        Target::WrongMethod(r, _) => *r,
    }
}
