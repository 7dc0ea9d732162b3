//! The pooled client: sends one logical request through breaker, pool, phase timeouts and retries, and reports an `Exchange`.
//!
//! Each policy is a module of its own with a small interface — `pool` (slots, reuse,
//! HTTP/2 sharing), `conn` (dialling, TLS via `tls`, the write timeout), `h1` (our HTTP/1.1
//! connection), `message` (request and response across protocols), `body` and `sse`
//! (reading under the read timeout and size limit), `retry` (which outcomes, backoff,
//! server hints), `budget` (retries as a share of requests), `breaker` — and they are
//! composed in one place, [`Client::execute`]:
//!
//! ```text
//! deposit in budget
//! loop:
//!   breaker admits?  no → circuit_open (or, on a retry, the last attempt's outcome)
//!   attempt: pool checkout (pool/connect timeouts) → send (write timeout) → head (read timeout)
//!            → body (read timeout per chunk, size limit, SSE timing)       — all under the deadline
//!   breaker records the attempt's outcome
//!   final unless: retryable ∧ retries left ∧ hint ≤ max_retry_after ∧ sleep ends before deadline
//!   budget refuses → budget_exhausted
//!   sleep (Retry-After hint, else jittered backoff)
//! ```

mod body;
mod breaker;
mod budget;
mod conn;
mod exchange;
mod h1;
mod h2;
mod message;
mod origin;
pub mod outcome;
mod pool;
mod retry;
mod settings;
mod slots;
mod sse;
mod stats;
mod timed_io;
mod tls;
pub mod units;

pub use breaker::{BreakerEvent, BreakerState};
pub use exchange::{BodyKind, Exchange, RequestSpec, RetryReason, StreamTiming, Tokens};
pub use origin::Origin;
pub use outcome::{IoKind, Outcome, Phase};
pub use settings::{BreakerSettings, ClientSettings, HttpVersion, Jitter, RetrySettings, Timeouts};
pub use stats::PoolStats;
pub use tls::TlsError;

use breaker::Breaker;
use budget::RetryBudget;
use conn::{DialConfig, DialError};
use http::HeaderMap;
use message::{Outgoing, Response};
use pool::CheckoutError;
use pool::Pool;
use rand::{rngs::SmallRng, SeedableRng};
use retry::{Hint, RetryPolicy};
use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant, SystemTime},
};

/// Why a client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The TLS settings are unusable.
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    /// The origin's host cannot be sent as a `Host` header.
    #[error("`{0}` is not a valid Host header value")]
    Host(String),
}

/// A client for one origin with one set of settings. Clones share pool, breaker and budget.
#[derive(Clone)]
pub struct Client {
    /// Where requests go.
    origin: Origin,
    /// The `Host` header, built once rather than per request.
    host: http::HeaderValue,
    /// The settings this client runs with.
    settings: Arc<ClientSettings>,
    /// Connections.
    pool: Pool,
    /// Which outcomes are retried and how long to wait.
    retry: RetryPolicy,
    /// Caps retries as a share of requests (when configured).
    budget: Option<Arc<RetryBudget>>,
    /// Stops sending to a failing upstream.
    breaker: Arc<Breaker>,
    /// Request URIs already resolved against the origin, by relative path. A mix has a
    /// handful of paths, and parsing one per request cost more than the rest of `build`.
    uris: Arc<Mutex<Vec<(String, http::Uri)>>>,
}

/// Paths whose URIs a client remembers; further ones are parsed per request.
const URI_CACHE: usize = 32;

/// How one attempt ended, with what the retry decision needs.
struct Attempt {
    /// The attempt's outcome.
    outcome: Outcome,
    /// Response headers of a non-2xx response (for `Retry-After`).
    headers: Option<HeaderMap>,
    /// When it ended, if it read the clock at its end (spares a second read).
    ended: Option<Instant>,
}

impl Client {
    /// Builds a client (and its pool) for `origin`. Must be called inside a tokio runtime;
    /// connections are dialled and driven on that runtime.
    pub fn new(origin: Origin, settings: ClientSettings) -> Result<Client, ClientError> {
        let tls = if origin.tls {
            Some(tls::client_config(&settings)?)
        } else {
            None
        };
        let dial = DialConfig {
            connect_timeout: settings.timeouts.connect.0,
            write_timeout: settings.timeouts.write.0,
            http: settings.http,
            tls,
        };
        let pool = Pool::new(origin.clone(), &settings, dial);
        let r = &settings.retry;
        let budget = r.budget_ratio.map(|ratio| {
            Arc::new(RetryBudget::new(
                ratio.0,
                r.budget_min_per_sec,
                r.budget_window.0,
            ))
        });
        let host = http::HeaderValue::from_str(&origin.authority())
            .map_err(|_| ClientError::Host(origin.authority()))?;
        Ok(Client {
            origin,
            host,
            retry: RetryPolicy::new(settings.retry.clone()),
            budget,
            breaker: Arc::new(Breaker::new(settings.breaker.clone())),
            settings: Arc::new(settings),
            pool,
            uris: Arc::default(),
        })
    }

    /// A client for one generator worker: its own pool, built on the calling thread's
    /// runtime so a request never crosses threads, holding `max_connections` of the
    /// connection cap (the caller splits the cap so the shares add up to it exactly).
    /// Pool counters, the circuit breaker and the retry budget stay shared with `self`, so
    /// they see the whole run, as one client would.
    pub fn for_worker(&self, max_connections: usize, max_idle_connections: usize) -> Client {
        let mut settings = (*self.settings).clone();
        settings.max_connections = max_connections.max(1);
        settings.max_idle_connections = max_idle_connections;
        let pool = Pool::with_counters(
            self.origin.clone(),
            &settings,
            self.pool.dial_config(),
            self.pool.counters(),
        );
        Client {
            origin: self.origin.clone(),
            host: self.host.clone(),
            retry: self.retry.clone(),
            budget: self.budget.clone(),
            breaker: self.breaker.clone(),
            settings: Arc::new(settings),
            pool,
            // Each worker's own, so looking up a path never contends with another thread.
            uris: Arc::default(),
        }
    }

    /// What the pool (and its siblings of other workers) did so far.
    pub fn pool_stats(&self) -> PoolStats {
        self.pool.stats()
    }

    /// Connections open right now, across every worker's pool (for the live series).
    pub fn open_connections(&self) -> u64 {
        self.pool.open_now()
    }

    /// Closes every idle connection (at the end of a run), so the upstream sees them go.
    pub fn close_idle(&self) {
        self.pool.close_idle();
    }

    /// The settings this client runs with.
    pub fn settings(&self) -> &ClientSettings {
        &self.settings
    }

    /// Circuit-breaker state changes so far, oldest first (for reports).
    pub fn breaker_events(&self) -> Vec<BreakerEvent> {
        self.breaker.events()
    }

    /// Sends `spec` (retrying as configured) and reads the whole response. Never panics; every failure is an `Outcome`.
    pub async fn execute(&self, spec: &RequestSpec) -> Exchange {
        let start = Instant::now();
        let deadline = self.settings.timeouts.deadline.map(|d| start + d.0);
        let mut ex = Exchange::unsent(Outcome::CircuitOpen, start);
        if let Some(budget) = &self.budget {
            budget.deposit();
        }
        let mut rng: Option<SmallRng> = None;
        let mut slept = Duration::ZERO;
        loop {
            let now = if ex.attempts == 0 {
                start
            } else {
                Instant::now()
            };
            let Some(ticket) = self.breaker.admit(now) else {
                // A first attempt refused is `circuit_open`; a refused retry leaves the
                // request with the outcome its last attempt had.
                if ex.attempts == 0 {
                    ex.detail = Some("circuit breaker is open".into());
                }
                ex.finished = now;
                break;
            };
            ex.attempts += 1;
            let attempt = match deadline {
                None => self.attempt(spec, &mut ex).await,
                Some(at) => {
                    match tokio::time::timeout_at(at.into(), self.attempt(spec, &mut ex)).await {
                        Ok(attempt) => attempt,
                        Err(_) => Attempt {
                            outcome: Outcome::Timeout(Phase::Deadline),
                            headers: None,
                            ended: None,
                        },
                    }
                }
            };
            ex.outcome = attempt.outcome;
            let ended = attempt.ended.unwrap_or_else(Instant::now);
            ex.finished = ended;
            self.breaker.record(ticket, &attempt.outcome, ended);
            let Some(reason) = self.retry.reason(&attempt.outcome) else {
                return ex;
            };
            if ex.retries.len() as u32 >= self.retry.max_retries() {
                break;
            }
            let wait = match attempt
                .headers
                .as_ref()
                .map(|h| self.retry.hint(h, SystemTime::now()))
            {
                Some(Hint::TooLong(wait)) => {
                    ex.detail = Some(format!(
                        "not retried: server asked to wait {wait:?}, above max_retry_after"
                    ));
                    break;
                }
                Some(Hint::Wait(wait)) => wait,
                _ => {
                    let rng = rng.get_or_insert_with(SmallRng::from_entropy);
                    self.retry.backoff(ex.retries.len() as u32, slept, rng)
                }
            };
            if deadline.is_some_and(|at| Instant::now() + wait >= at) {
                // No attempt may start after the deadline: give up now rather than sleep into it.
                break;
            }
            if self.budget.as_ref().is_some_and(|b| !b.withdraw()) {
                ex.outcome = Outcome::BudgetExhausted;
                ex.detail = Some(format!(
                    "retry after {} refused by the retry budget",
                    attempt.outcome
                ));
                break;
            }
            ex.retries.push(reason);
            slept = wait;
            tokio::time::sleep(wait).await;
        }
        // `finished` was set where the loop ended: the last attempt's end, or the refusal.
        ex
    }

    /// One attempt: a connection from the pool, the request, the response read to the end.
    async fn attempt(&self, spec: &RequestSpec, ex: &mut Exchange) -> Attempt {
        let fail = |outcome| Attempt {
            outcome,
            headers: None,
            ended: None,
        };
        // The previous attempt's response must not leak into this one's report.
        (ex.ttfb, ex.body_bytes, ex.tokens, ex.stream, ex.detail) = (None, 0, None, None, None);
        let mut checkout = match self.pool.checkout().await {
            Ok(c) => c,
            Err(e) => {
                ex.detail = Some(e.to_string());
                return fail(match e {
                    CheckoutError::PoolTimeout(_) => Outcome::Timeout(Phase::Pool),
                    CheckoutError::Dial(DialError::Timeout(_)) => Outcome::Timeout(Phase::Connect),
                    CheckoutError::Dial(DialError::Failed(_)) => Outcome::ConnectError,
                });
            }
        };
        ex.pool_wait += checkout.pool_wait;
        if checkout.connect.is_some() {
            ex.connect = checkout.connect;
        }
        ex.reused = checkout.connect.is_none();
        ex.conn_id = Some(checkout.conn_id);
        let uri = match self.uri(&spec.path) {
            Ok(uri) => uri,
            Err(e) => {
                ex.detail = Some(e);
                return fail(Outcome::Io(IoKind::Other));
            }
        };
        let request = Outgoing {
            method: &spec.method,
            uri: &uri,
            host: &self.host,
            headers: &spec.headers,
            body: &spec.body,
        };
        let sent = Instant::now();
        ex.sent.get_or_insert(sent);
        let read_timeout = self.settings.timeouts.read.0;
        let response = match checkout.send(&request, read_timeout).await {
            Ok(r) => r,
            Err(outcome) => return fail(outcome),
        };
        ex.ttfb = Some(sent.elapsed());
        let Response { head, body } = response;
        let status = head.status;
        // Error bodies are kept (bounded) whatever the kind, so reports can show what the upstream said.
        let kind = if status.is_success() {
            spec.body_kind
        } else {
            BodyKind::Json
        };
        let max_body = self.settings.max_body.0;
        let read = match body::read_body(body, kind, read_timeout, max_body).await {
            Ok(read) => read,
            Err(outcome) => return fail(outcome),
        };
        let ended = Instant::now();
        self.pool.give_back(checkout, ended);
        ex.body_bytes = read.bytes;
        if !status.is_success() {
            ex.detail = Some(body::excerpt(&read.kept));
            return Attempt {
                outcome: Outcome::Status(status.as_u16()),
                headers: head.headers,
                ended: Some(ended),
            };
        }
        match read.stream {
            Some(stream) => {
                ex.tokens = Some(stream.tokens());
                ex.stream = Some(stream.timing);
            }
            None if spec.body_kind == BodyKind::Json => {
                ex.tokens = body::usage_from_json(&read.kept);
            }
            None => {}
        }
        Attempt {
            outcome: Outcome::Ok,
            headers: None,
            ended: Some(ended),
        }
    }

    /// The request URI for `path`, resolved against the origin (remembered for the next time).
    fn uri(&self, path: &str) -> Result<http::Uri, String> {
        let mut uris = self.uris.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, uri)) = uris.iter().find(|(p, _)| p == path) {
            return Ok(uri.clone());
        }
        let uri: http::Uri = self
            .origin
            .path(path)
            .parse()
            .map_err(|e| format!("invalid request path `{path}`: {e}"))?;
        if uris.len() < URI_CACHE {
            uris.push((path.to_string(), uri.clone()));
        }
        Ok(uri)
    }
}
