//! The pooled client: sends one logical request through breaker, attempt guard, pool, phase timeouts and retries, and reports an `Exchange`.
//!
//! Each policy is a module of its own with a small interface — `pool` (slots, reuse,
//! HTTP/2 sharing), `conn` (dialling, TLS via `tls`, the write timeout), `h1` (our HTTP/1.1
//! connection, or hyper's from `h1_hyper`, as `client.engine` says), `message` (request
//! and response across protocols), `body` and `sse` (reading under the read timeout and size limit), `validate` (whether a 2xx is a valid
//! answer of its protocol, or `bad_response`), `retry` (which outcomes, backoff, server
//! hints), `budget` (retries as a share of requests), `breaker` (admission with tickets that
//! always settle), `guard` (the caller's veto per attempt) — and `decide` turns them into
//! decisions, as functions of (what happened, their state, now) with no I/O. They are
//! composed in one place, [`Client::execute`] / [`Client::execute_guarded`], which only
//! carries the decisions out:
//!
//! ```text
//! deposit in budget
//! loop:
//!   decide::admit     breaker admits?   no → stop: circuit_open (a retry: the last outcome),
//!                                            retry_not_before = when it admits again
//!   guard admits?                       no → first attempt: Err(Refused), nothing sent;
//!                                            a retry: the last outcome (the ticket goes back)
//!   attempt: pool checkout (pool/connect timeouts) → send (write timeout) → head (read timeout)
//!            → body (read timeout per chunk, size limit, SSE timing)       — all under the deadline
//!            → verdict (a 2xx that is no valid answer is bad_response)
//!   ticket settles with the outcome; guard settles with what the attempt used
//!   decide::after_attempt → stop (final, retries used up, hint above max_retry_after,
//!                            deadline, budget refused → budget_exhausted)
//!                         | retry after the hint or the jittered backoff
//!   sleep
//! ```

mod answer_text;
mod body;
mod breaker;
mod budget;
mod conn;
mod decide;
mod exchange;
mod guard;
mod h1;
#[cfg(test)]
mod h1_differential;
mod h1_hyper;
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
mod validate;

pub use breaker::{BreakerEvent, BreakerState};
pub use exchange::{
    AnswerText, Api, BodyKind, Exchange, Expect, RequestSpec, RetriedAttempt, RetryReason,
    StreamTiming, Tokens,
};
pub use guard::{AttemptGuard, AttemptUse, Refused};
pub use origin::Origin;
pub use outcome::{IoKind, Outcome, Phase};
pub use settings::{
    BreakerSettings, ClientSettings, Http1Engine, HttpVersion, Jitter, RetrySettings, Timeouts,
};
pub use stats::PoolStats;
pub use tls::TlsError;

use breaker::Breaker;
use budget::RetryBudget;
use conn::{DialConfig, DialError};
use decide::{Ended, Next, Progress, Stop};
use guard::Unguarded;
use message::{Outgoing, Response};
use pool::CheckoutError;
use pool::Pool;
use retry::RetryPolicy;
use std::{
    sync::{Arc, Mutex},
    time::{Instant, SystemTime},
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
    /// The attempt's outcome and the server's retry hint.
    ended: Ended,
    /// When it ended, if it read the clock at its end (spares a second read).
    at: Option<Instant>,
}

impl Attempt {
    /// An attempt that failed without a response to read hints from.
    fn failed(outcome: Outcome) -> Attempt {
        Attempt {
            ended: Ended {
                outcome,
                server_wait: None,
            },
            at: None,
        }
    }
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
            engine: settings.engine,
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

    /// The circuit breaker's state now (for live displays, read once per second).
    pub fn breaker_state(&self) -> BreakerState {
        self.breaker.state()
    }

    /// Circuit-breaker state changes so far, oldest first (for reports).
    pub fn breaker_events(&self) -> Vec<BreakerEvent> {
        self.breaker.events()
    }

    /// Sends `spec` (retrying as configured) and reads the whole response. Never panics; every failure is an `Outcome`.
    pub async fn execute(&self, spec: &RequestSpec) -> Exchange {
        match self.run(spec, &mut Unguarded).await {
            Ok(ex) => ex,
            // `Unguarded` admits every attempt; should that ever change, this is our bug.
            Err(refused) => Exchange {
                detail: Some(refused.why),
                ..Exchange::unsent(Outcome::InternalError, Instant::now())
            },
        }
    }

    /// [`Client::execute`] with `guard` asked before every attempt that could reach the
    /// upstream (first tries and retries; after the breaker, so a rejected attempt costs no
    /// spend) and told what each one used. `Err` when the guard refused the first attempt:
    /// nothing was sent and the request has no outcome. A refused retry ends the request with
    /// its last attempt's outcome and a `detail` naming the guard's reason.
    pub fn execute_guarded<'a>(
        &'a self,
        spec: &'a RequestSpec,
        guard: &'a mut dyn AttemptGuard,
    ) -> impl std::future::Future<Output = Result<Exchange, Refused>> + 'a {
        // `run`'s future itself, not one wrapped around it: it is large, and a wrapper would
        // copy it on every request.
        self.run(spec, guard)
    }

    /// The one composition of the policies (see the module doc); generic so that `execute`'s
    /// guard compiles away.
    async fn run<G: AttemptGuard + ?Sized>(
        &self,
        spec: &RequestSpec,
        guard: &mut G,
    ) -> Result<Exchange, Refused> {
        let start = Instant::now();
        let mut progress = Progress::new(self.settings.timeouts.deadline.map(|d| start + d.0));
        let mut ex = Exchange::unsent(Outcome::CircuitOpen, start);
        if let Some(budget) = &self.budget {
            budget.deposit_at(start);
        }
        let mut now = start;
        // The reason for the retry about to be made: counted once it is actually sent.
        let mut retrying: Option<RetryReason> = None;
        loop {
            let last = (ex.attempts > 0).then_some(ex.outcome);
            let ticket = match decide::admit(&self.breaker, last, now) {
                Ok(ticket) => ticket,
                Err(stop) => {
                    conclude(&mut ex, stop, now);
                    return Ok(ex);
                }
            };
            if let Err(why) = guard.admit() {
                return match last {
                    None => Err(Refused { why }),
                    Some(last) => {
                        conclude(&mut ex, decide::guard_refused(last, why), now);
                        Ok(ex)
                    }
                };
            }
            ex.attempts += 1;
            if let Some(reason) = retrying.take() {
                ex.retries.push(reason);
            }
            // Awaited in place (not through a helper future): the attempt's future is large, and
            // each layer around it would copy it on every request.
            let attempt = match progress.deadline() {
                None => self.attempt(spec, &mut ex, guard).await,
                Some(at) => tokio::time::timeout_at(at.into(), self.attempt(spec, &mut ex, guard))
                    .await
                    .unwrap_or_else(|_| Attempt::failed(Outcome::Timeout(Phase::Deadline))),
            };
            let ended = attempt.at.unwrap_or_else(Instant::now);
            let outcome = attempt.ended.outcome;
            (ex.outcome, ex.finished, ex.last_attempt) = (outcome, ended, Some(outcome));
            ticket.settle(&outcome, ended);
            guard.settle(&AttemptUse {
                sent: ex.attempt_sent.is_some(),
                outcome,
                // Whatever the attempt left in `ex.tokens`: `usage`, else the tokens a stream
                // showed (see `attempt` for a stream that failed), else nothing.
                tokens: ex.tokens,
            });
            let budget = self.budget.as_deref();
            match decide::after_attempt(&self.retry, budget, &mut progress, &attempt.ended, ended) {
                Next::Stop(stop) => {
                    conclude(&mut ex, stop, ended);
                    return Ok(ex);
                }
                Next::Retry { wait, reason } => {
                    retrying = Some(reason);
                    ex.retried.push(RetriedAttempt {
                        outcome,
                        ended,
                        backoff: wait,
                    });
                    tokio::time::sleep(wait).await;
                    now = Instant::now();
                }
            }
        }
    }

    /// One attempt: a connection from the pool, the request, the response read to the end.
    async fn attempt<G: AttemptGuard + ?Sized>(
        &self,
        spec: &RequestSpec,
        ex: &mut Exchange,
        guard: &mut G,
    ) -> Attempt {
        // The previous attempt's response must not leak into this one's report.
        (ex.ttfb, ex.body_bytes, ex.tokens, ex.stream, ex.detail) = (None, 0, None, None, None);
        (ex.attempt_sent, ex.status) = (None, None);
        ex.recorded.clear();
        let mut checkout = match self.pool.checkout().await {
            Ok(c) => c,
            Err(e) => {
                ex.detail = Some(e.to_string());
                return Attempt::failed(match e {
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
                return Attempt::failed(Outcome::Io(IoKind::Other));
            }
        };
        let request = Outgoing {
            method: &spec.method,
            uri: &uri,
            host: &self.host,
            headers: &spec.headers,
            body: &spec.body,
            record: spec.record_headers.as_deref().unwrap_or(&[]),
        };
        guard.sending();
        let sent = Instant::now();
        ex.sent.get_or_insert(sent);
        ex.attempt_sent = Some(sent);
        let read_timeout = self.settings.timeouts.read.0;
        let response = match checkout.send(&request, read_timeout).await {
            Ok(r) => r,
            Err(outcome) => return Attempt::failed(outcome),
        };
        ex.ttfb = Some(sent.elapsed());
        let Response { head, body } = response;
        let status = head.status;
        ex.status = Some(status.as_u16());
        ex.recorded = head.recorded;
        let max_body = self.settings.max_body.0;
        // The tokens a stream delivers are kept on `ex` as they come: a failed answer's are
        // spent all the same, and the caller settles them.
        let seen = &mut ex.tokens;
        let mut read = match body::read_body(body, spec, status, read_timeout, max_body, seen).await
        {
            Ok(read) => read,
            Err(failure) => {
                ex.detail = failure.detail;
                return Attempt::failed(failure.outcome);
            }
        };
        let ended = Instant::now();
        self.pool.give_back(checkout, ended);
        ex.body_bytes = read.bytes;
        // A 2xx is `ok` only when it is a valid answer of its protocol (and passes `expect`).
        let answer = validate::answer(spec, status, &mut read);
        (ex.tokens, ex.stream, ex.detail) = (answer.tokens, answer.stream, answer.detail);
        ex.text = answer.text;
        // Only non-2xx heads keep their headers: the hint is read here, off the happy path.
        let server_wait = head
            .headers
            .as_ref()
            .and_then(|h| retry::parse_retry_after(h, SystemTime::now()));
        Attempt {
            ended: Ended {
                outcome: answer.outcome,
                server_wait,
            },
            at: Some(ended),
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

/// Ends `ex` as `stop` says; `at` is when the request gave up (the last attempt's end, or the
/// refusal).
#[inline]
fn conclude(ex: &mut Exchange, stop: Stop, at: Instant) {
    if let Some(detail) = stop.detail(ex.attempts > 0, ex.detail.as_deref()) {
        ex.detail = Some(detail);
    }
    ex.outcome = stop.outcome;
    ex.finished = at;
    ex.retry_not_before = stop.not_before;
}
