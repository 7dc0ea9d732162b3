//! What the client is asked to send (`RequestSpec`) and what it reports back about one logical request (`Exchange`).

use crate::outcome::Outcome;
use bytes::Bytes;
use http::{HeaderMap, Method};
use std::time::{Duration, Instant};

/// How the response body should be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyKind {
    /// Count bytes only.
    Opaque,
    /// An OpenAI JSON response: keep it (bounded) to read `usage`.
    Json,
    /// A server-sent-event stream of OpenAI chunks: time every content token.
    Sse,
}

/// One request as the generator wants it sent (the client adds Host and content-length).
#[derive(Clone, Debug)]
pub struct RequestSpec {
    /// HTTP method.
    pub method: Method,
    /// Path (and query) relative to the target's base URL.
    pub path: String,
    /// Extra headers (authorization, content-type, user headers).
    pub headers: HeaderMap,
    /// Request body.
    pub body: Bytes,
    /// How to read the response.
    pub body_kind: BodyKind,
}

/// Token counts of one response.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tokens {
    /// Prompt tokens from `usage` (0 when unknown).
    pub input: u64,
    /// Output tokens: from `usage` when present, else counted content chunks.
    pub output: u64,
    /// Whether `output` came from `usage` (true) or from counting chunks (false).
    pub from_usage: bool,
}

/// Arrival times of a streamed response's content tokens.
#[derive(Clone, Debug, Default)]
pub struct StreamTiming {
    /// When the first non-empty content delta arrived.
    pub first_token: Option<Instant>,
    /// Gaps between consecutive content deltas after the first.
    pub inter_token: Vec<Duration>,
    /// When the last content delta arrived.
    pub last_token: Option<Instant>,
    /// Content deltas seen.
    pub content_chunks: u64,
}

/// Why an attempt was retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RetryReason {
    /// A retryable HTTP status.
    Status(u16),
    /// A connect error or connect timeout.
    Connect,
    /// A write/read timeout.
    Timeout,
    /// A reset or truncated response.
    Reset,
    /// A stream the server did not process (HTTP/2 `REFUSED_STREAM`, or above a `GOAWAY`'s
    /// last-stream-id): always safe to retry.
    Unprocessed,
}

impl RetryReason {
    /// Stable key for results files.
    pub fn key(&self) -> String {
        match self {
            RetryReason::Status(code) => format!("status_{code}"),
            RetryReason::Connect => "connect".into(),
            RetryReason::Timeout => "timeout".into(),
            RetryReason::Reset => "reset".into(),
            RetryReason::Unprocessed => "unprocessed".into(),
        }
    }
}

/// Everything measured about one logical request, across its attempts.
#[derive(Clone, Debug)]
pub struct Exchange {
    /// How it ended.
    pub outcome: Outcome,
    /// When the first attempt had its connection and began sending (None if never sent).
    pub sent: Option<Instant>,
    /// When the last byte arrived or the request gave up.
    pub finished: Instant,
    /// Time waiting for connection slots, summed over attempts.
    pub pool_wait: Duration,
    /// Dial time of the last new connection used (None if all attempts reused connections).
    pub connect: Option<Duration>,
    /// From sending the last attempt to its response head.
    pub ttfb: Option<Duration>,
    /// Attempts made (1 = no retries; 0 = never sent, e.g. circuit open).
    pub attempts: u32,
    /// Why each retry happened, in order.
    pub retries: Vec<RetryReason>,
    /// Whether the last attempt reused a pooled connection.
    pub reused: bool,
    /// The pool's id of the connection the last attempt used (None if it got none).
    pub conn_id: Option<u64>,
    /// Response body bytes of the last attempt.
    pub body_bytes: u64,
    /// Token counts, for OpenAI responses.
    pub tokens: Option<Tokens>,
    /// Stream token timing, for SSE responses.
    pub stream: Option<StreamTiming>,
    /// A short excerpt of an error body or error message, for reports (never contains request secrets).
    pub detail: Option<String>,
}

impl Exchange {
    /// An exchange that ended before anything was sent.
    pub fn unsent(outcome: Outcome, finished: Instant) -> Exchange {
        Exchange {
            outcome,
            sent: None,
            finished,
            pool_wait: Duration::ZERO,
            connect: None,
            ttfb: None,
            attempts: 0,
            retries: Vec::new(),
            reused: false,
            conn_id: None,
            body_bytes: 0,
            tokens: None,
            stream: None,
            detail: None,
        }
    }
}
