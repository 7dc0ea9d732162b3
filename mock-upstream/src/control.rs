//! The control routes: `GET/PUT /_mock/faults` (the config as JSON), `GET /_mock/stats`, `GET /_mock/metrics` (OpenMetrics), `POST /_mock/reset`.

use crate::body::MockBody;
use crate::config::MockConfig;
use crate::openai::errors::ApiError;
use crate::respond;
use crate::state::Shared;
use crate::stats::Route;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;

/// A control request.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Action {
    GetFaults,
    PutFaults,
    Stats,
    Metrics,
    Reset,
}

impl Action {
    pub(crate) fn route(self) -> Route {
        match self {
            Action::GetFaults | Action::PutFaults => Route::ControlFaults,
            Action::Stats => Route::ControlStats,
            Action::Metrics => Route::ControlMetrics,
            Action::Reset => Route::ControlReset,
        }
    }
}

const CONTROL_BODY_LIMIT: usize = 1024 * 1024;

pub(crate) async fn handle(
    action: Action,
    req: Request<Incoming>,
    shared: &Shared,
) -> Response<MockBody> {
    match action {
        Action::GetFaults => config_response(shared),
        Action::Stats => to_json(&shared.snapshot()),
        Action::Metrics => {
            let [first, later] = shared.lateness.merged();
            let text = crate::openmetrics::render(&shared.counters(), &first, &later);
            respond::with_type(
                StatusCode::OK,
                Bytes::from(text),
                crate::openmetrics::CONTENT_TYPE,
            )
        }
        Action::Reset => {
            shared.reset();
            respond::json(StatusCode::OK, Bytes::from_static(b"{\"reset\":true}"))
        }
        Action::PutFaults => {
            let body = match Limited::new(req.into_body(), CONTROL_BODY_LIMIT)
                .collect()
                .await
            {
                Ok(b) => b.to_bytes(),
                Err(e) => {
                    return respond::error(&ApiError::invalid(format!(
                        "Could not read the body: {e}"
                    )))
                }
            };
            let config: MockConfig = match serde_json::from_slice(&body) {
                Ok(c) => c,
                Err(e) => {
                    return respond::error(&ApiError::invalid(format!("Invalid mock config: {e}")))
                }
            };
            match shared.set_config(config) {
                Ok(()) => config_response(shared),
                Err(e) => respond::error(&ApiError::invalid(e.to_string())),
            }
        }
    }
}

/// The config in force, with the seed actually used filled in so a run can be repeated.
fn config_response(shared: &Shared) -> Response<MockBody> {
    let active = shared.active();
    let mut config = active.config.clone();
    config.seed = Some(active.seed);
    to_json(&config)
}

fn to_json<T: serde::Serialize>(value: &T) -> Response<MockBody> {
    match serde_json::to_vec(value) {
        Ok(v) => respond::json(StatusCode::OK, Bytes::from(v)),
        Err(e) => respond::error(&ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            e.to_string(),
        )),
    }
}
