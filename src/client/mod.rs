//! The pooled client: sends one logical request through the pool under the phase timeouts and reports an `Exchange`.
//!
//! Policies live in their own modules (`pool`, `body`, ...) and are composed here, in one place.

pub mod body;
pub mod conn;
pub mod exchange;
pub mod origin;
pub mod pool;
pub mod settings;
pub mod stats;

pub use exchange::{BodyKind, Exchange, RequestSpec, RetryReason, StreamTiming, Tokens};
pub use origin::Origin;
pub use pool::Pool;
pub use settings::{BreakerSettings, ClientSettings, HttpVersion, Jitter, RetrySettings, Timeouts};
pub use stats::PoolStats;

use crate::metrics::{Outcome, Phase};
use bytes::Bytes;
use http_body_util::Full;
use pool::CheckoutError;
use std::time::Instant;

/// A client for one origin with one set of settings.
#[derive(Clone)]
pub struct Client {
    origin: Origin,
    settings: ClientSettings,
    pool: Pool,
}

impl Client {
    /// Builds a client (and its pool) for `origin`. Must be called inside a tokio runtime.
    pub fn new(origin: Origin, settings: ClientSettings) -> Client {
        let pool = Pool::new(origin.clone(), &settings);
        Client {
            origin,
            settings,
            pool,
        }
    }

    /// The pool, for live statistics.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// The settings this client runs with.
    pub fn settings(&self) -> &ClientSettings {
        &self.settings
    }

    /// Sends `spec` and reads the whole response. Never panics; every failure is an `Outcome`.
    pub async fn execute(&self, spec: &RequestSpec) -> Exchange {
        let mut exchange = Exchange::unsent(Outcome::Ok, Instant::now());
        let mut checkout = match self.pool.checkout().await {
            Ok(c) => c,
            Err(e) => {
                exchange.outcome = match e {
                    CheckoutError::PoolTimeout(_) => Outcome::Timeout(Phase::Pool),
                    CheckoutError::Dial(conn::DialError::Timeout(_)) => {
                        Outcome::Timeout(Phase::Connect)
                    }
                    CheckoutError::Dial(conn::DialError::Failed(_)) => Outcome::ConnectError,
                };
                exchange.detail = Some(e.to_string());
                exchange.attempts = 1;
                exchange.finished = Instant::now();
                return exchange;
            }
        };
        exchange.pool_wait = checkout.pool_wait;
        exchange.connect = checkout.connect;
        exchange.reused = checkout.reused;
        exchange.attempts = 1;
        let sent = Instant::now();
        exchange.sent = Some(sent);
        let request = match self.build(spec) {
            Ok(r) => r,
            Err(e) => {
                exchange.outcome = Outcome::Io(crate::metrics::IoKind::Other);
                exchange.detail = Some(e);
                exchange.finished = Instant::now();
                return exchange;
            }
        };
        let conn = checkout.conn();
        conn.uses += 1;
        let read_timeout = self.settings.timeouts.read.0;
        // hyper's HTTP/1 sender accepts a request only once the previous exchange on the
        // connection has been fully wound down; sending earlier fails spuriously.
        if let Err(e) = conn.sender.ready().await {
            exchange.outcome = body::classify_hyper_error(&e);
            exchange.detail = Some(e.to_string());
            exchange.finished = Instant::now();
            return exchange;
        }
        let response =
            match tokio::time::timeout(read_timeout, conn.sender.send_request(request)).await {
                Err(_) => Err(Outcome::Timeout(Phase::Read)),
                Ok(Err(e)) => Err(body::classify_hyper_error(&e)),
                Ok(Ok(r)) => Ok(r),
            };
        let response = match response {
            Ok(r) => r,
            Err(outcome) => {
                exchange.outcome = outcome;
                exchange.finished = Instant::now();
                return exchange;
            }
        };
        exchange.ttfb = Some(sent.elapsed());
        let status = response.status();
        // Error bodies are kept (bounded) whatever the kind, so reports can show what the upstream said.
        let kind = if status.is_success() {
            spec.body_kind
        } else {
            BodyKind::Json
        };
        let body = body::read_body(
            response.into_body(),
            kind,
            read_timeout,
            self.settings.max_body.0,
        )
        .await;
        exchange.finished = Instant::now();
        match body {
            Err(outcome) => exchange.outcome = outcome,
            Ok(read) => {
                exchange.body_bytes = read.bytes;
                if status.is_success() {
                    if spec.body_kind == BodyKind::Json {
                        exchange.tokens = body::usage_from_json(&read.kept);
                    }
                } else {
                    exchange.outcome = Outcome::Status(status.as_u16());
                    exchange.detail = Some(body::excerpt(&read.kept));
                }
                self.pool.give_back(checkout);
            }
        }
        exchange
    }

    fn build(&self, spec: &RequestSpec) -> Result<http::Request<Full<Bytes>>, String> {
        let mut builder = http::Request::builder()
            .method(spec.method.clone())
            .uri(self.origin.path(&spec.path))
            .header(http::header::HOST, self.origin.authority());
        for (name, value) in &spec.headers {
            builder = builder.header(name, value);
        }
        builder
            .body(Full::new(spec.body.clone()))
            .map_err(|e| format!("invalid request: {e}"))
    }
}
