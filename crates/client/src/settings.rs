//! The client's knobs as users write them in `[client]`: pool, timeouts, retry and breaker settings, with the defaults of DESIGN.md.

use crate::units::{Dur, Ratio, Size};
use serde::{Deserialize, Serialize};

/// Everything that shapes how requests reach the upstream. One value = one "variant" of a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ClientSettings {
    /// Hard cap on open connections to one origin; never exceeded, not even by racing connects.
    pub max_connections: usize,
    /// How many idle keep-alive connections are kept for reuse; more are closed when returned.
    pub max_idle_connections: usize,
    /// How long an idle connection lives before the pool closes it.
    pub idle_timeout: Dur,
    /// HTTP version: `1`, `2` (h2c prior knowledge on plain HTTP), or `auto` (ALPN over TLS).
    pub http: HttpVersion,
    /// For HTTP/2: concurrent streams allowed per connection before another connection is opened.
    pub http2_max_streams: usize,
    /// Which implementation speaks HTTP/1.1: `relaybench` (its own connection, the fast
    /// default) or `hyper` (hyper's client connection, for a second opinion on an upstream).
    pub engine: Http1Engine,
    /// Responses larger than this end as `io_body_too_large` instead of growing memory.
    pub max_body: Size,
    /// Trust this extra PEM CA bundle besides the system roots.
    pub ca_file: Option<String>,
    /// Accept any TLS certificate (self-signed test servers only; warned about when on).
    pub insecure: bool,
    /// Per-phase timeouts.
    pub timeouts: Timeouts,
    /// Retry policy.
    pub retry: RetrySettings,
    /// Circuit breaker (off unless turned on).
    pub breaker: BreakerSettings,
}

impl Default for ClientSettings {
    fn default() -> Self {
        ClientSettings {
            max_connections: 100,
            max_idle_connections: 20,
            idle_timeout: Dur::secs(30),
            http: HttpVersion::Http1,
            http2_max_streams: 100,
            engine: Http1Engine::Relaybench,
            max_body: Size(16 << 20),
            ca_file: None,
            insecure: false,
            timeouts: Timeouts::default(),
            retry: RetrySettings::default(),
            breaker: BreakerSettings::default(),
        }
    }
}

/// Which HTTP version the pool speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum HttpVersion {
    /// HTTP/1.1 with keep-alive: one request per connection at a time.
    #[serde(rename = "1")]
    Http1,
    /// HTTP/2: many streams per connection.
    #[serde(rename = "2")]
    Http2,
    /// Negotiated by ALPN over TLS; HTTP/1.1 on plain connections.
    #[serde(rename = "auto")]
    Auto,
}

/// Which implementation speaks HTTP/1.1 (HTTP/2 always goes through hyper).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Http1Engine {
    /// relaybench's own connection: the request's future drives the socket, which costs far
    /// fewer instructions per request than hyper's (figures in README).
    Relaybench,
    /// hyper's client connection (`hyper::client::conn::http1`), with the same pool,
    /// timeouts and outcomes.
    Hyper,
}

impl std::str::FromStr for Http1Engine {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "relaybench" => Ok(Http1Engine::Relaybench),
            "hyper" => Ok(Http1Engine::Hyper),
            _ => Err(format!(
                "`{s}` is not an HTTP/1.1 engine; use \"relaybench\" or \"hyper\""
            )),
        }
    }
}

/// Timeouts, each reported as its own outcome when it fires.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Timeouts {
    /// TCP + TLS handshake.
    pub connect: Dur,
    /// Sending the request head and body.
    pub write: Dur,
    /// Longest wait for the next bytes of the response (headers, then between body chunks).
    pub read: Dur,
    /// Waiting for a connection slot.
    pub pool: Dur,
    /// Overall per-request limit across all attempts and backoffs; none when absent.
    pub deadline: Option<Dur>,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Dur::secs(5),
            write: Dur::secs(10),
            read: Dur::secs(120),
            pool: Dur::secs(10),
            deadline: None,
        }
    }
}

/// Backoff jitter, after AWS's "Exponential Backoff and Jitter".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Jitter {
    /// Exactly the exponential value.
    None,
    /// Uniform in 0..=exponential value.
    Full,
    /// Half the exponential value plus uniform in 0..=half.
    Equal,
    /// Uniform in base..=3 × previous sleep, capped.
    Decorrelated,
}

/// When and how failed attempts are tried again.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RetrySettings {
    /// Retries after the first attempt (0 disables retrying).
    pub max_retries: u32,
    /// HTTP statuses that are retried.
    pub on_status: Vec<u16>,
    /// Retry when the connection could not be made (refused, connect timeout).
    pub on_connect_error: bool,
    /// Retry after a write or read timeout.
    pub on_timeout: bool,
    /// Retry after a reset or truncated response.
    pub on_reset: bool,
    /// Backoff multiplier: attempt n sleeps `multiplier × 2^n`, clamped to `min..=max`.
    pub multiplier: Dur,
    /// Smallest backoff sleep.
    pub min_backoff: Dur,
    /// Largest backoff sleep (the cap).
    pub max_backoff: Dur,
    /// Jitter applied to the backoff.
    pub jitter: Jitter,
    /// Honour `Retry-After` / `retry-after-ms` hints from the server.
    pub respect_retry_after: bool,
    /// A hint above this means "do not retry".
    pub max_retry_after: Dur,
    /// Retry budget: retries may be at most this fraction of requests over `budget_window`; off when absent.
    pub budget_ratio: Option<Ratio>,
    /// Retries always allowed per second regardless of the ratio.
    pub budget_min_per_sec: u32,
    /// Sliding window of the retry budget.
    pub budget_window: Dur,
}

impl Default for RetrySettings {
    fn default() -> Self {
        RetrySettings {
            max_retries: 3,
            // 529 is Anthropic's "overloaded": a 503 by another number.
            on_status: vec![408, 429, 500, 502, 503, 504, 529],
            on_connect_error: true,
            on_timeout: true,
            on_reset: true,
            multiplier: Dur::ms(500),
            min_backoff: Dur::secs(1),
            max_backoff: Dur::secs(10),
            jitter: Jitter::None,
            respect_retry_after: true,
            max_retry_after: Dur::secs(60),
            budget_ratio: None,
            budget_min_per_sec: 10,
            budget_window: Dur::secs(10),
        }
    }
}

/// Circuit breaker: closed → open → half-open → closed. Off unless a scenario turns it on: a
/// benchmark's defaults describe the upstream, and a breaker would hide its failures as
/// `circuit_open`. When on, the other defaults are the values operators commonly run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct BreakerSettings {
    /// Whether the breaker is in the path at all (off by default; a setting to compare).
    pub enabled: bool,
    /// Consecutive failures that open the circuit.
    pub failure_threshold: u32,
    /// How long the circuit stays open before admitting probes; also how long a half-open
    /// period waits for its probes' verdict before their slots go to fresh probes.
    pub recovery_timeout: Dur,
    /// Probes in flight at once while half-open (a probe that ends without a verdict — a 429,
    /// a pool timeout, a cancellation — gives its slot back).
    pub half_open_max_calls: u32,
    /// Whether a 429 counts as a failure (off: rate limits are not outages).
    pub count_429: bool,
    /// Whether timeouts count as failures.
    pub count_timeouts: bool,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        BreakerSettings {
            enabled: false,
            failure_threshold: 5,
            recovery_timeout: Dur::secs(60),
            half_open_max_calls: 3,
            count_429: false,
            count_timeouts: true,
        }
    }
}
