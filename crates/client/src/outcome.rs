//! The one way every logical request (and every attempt) can end: `Outcome` and its parts.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Which timeout fired. Each phase is reported on its own because each has a different cure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// TCP + TLS handshake took longer than `timeouts.connect`.
    Connect,
    /// Sending the request took longer than `timeouts.write`.
    Write,
    /// The longest wait for the next bytes of the response exceeded `timeouts.read`.
    Read,
    /// Waiting for a connection slot took longer than `timeouts.pool`.
    Pool,
    /// The overall per-request `deadline` (across all attempts) ran out.
    Deadline,
}

/// What went wrong on the wire after a connection existed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IoKind {
    /// The peer reset or closed the connection before the response was complete.
    Reset,
    /// The body ended before its declared length (or a stream ended without `[DONE]`).
    Truncated,
    /// The server-sent-event stream could not be parsed.
    BadSse,
    /// An HTTP protocol violation (malformed response, HTTP/2 error).
    Protocol,
    /// The body exceeded the configured size limit.
    BodyTooLarge,
    /// HTTP/2: the server sent `GOAWAY` and the stream was not processed (safe to retry).
    GoAway,
    /// HTTP/2: the server refused the stream with `REFUSED_STREAM` (safe to retry).
    RefusedStream,
    /// Any other I/O failure.
    Other,
}

/// How a request ended. Exactly one per logical request, so `scheduled = Σ outcomes`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "detail")]
pub enum Outcome {
    /// A 2xx response, read to the end.
    Ok,
    /// A non-2xx response (after retries, if any), by status code.
    Status(u16),
    /// A timeout, by phase.
    Timeout(Phase),
    /// The connection could not be established (refused, DNS, TLS failure).
    ConnectError,
    /// A protocol or I/O error once connected.
    Io(IoKind),
    /// Rejected at once by the open circuit breaker; never sent.
    CircuitOpen,
    /// A retry was needed but the retry budget refused it.
    BudgetExhausted,
    /// Still in flight when the run stopped and the grace period ran out.
    Cancelled,
    /// A 2xx whose body is not a valid answer of its protocol (not JSON, an `error` object,
    /// no choices, an SSE stream without one well-formed event, a contradicting content-type),
    /// or an `http` request that failed the user's `expect_*` check.
    BadResponse,
    /// relaybench itself failed (a panic while handling the request): counted, never lost.
    InternalError,
}

impl Outcome {
    /// The stable key used in results files and reports, e.g. `status_503`, `timeout_pool`.
    pub fn key(&self) -> String {
        match self {
            Outcome::Ok => "ok".into(),
            Outcome::Status(code) => format!("status_{code}"),
            Outcome::Timeout(phase) => format!("timeout_{}", phase.name()),
            Outcome::ConnectError => "connect_error".into(),
            Outcome::Io(kind) => format!("io_{}", kind.name()),
            Outcome::CircuitOpen => "circuit_open".into(),
            Outcome::BudgetExhausted => "budget_exhausted".into(),
            Outcome::Cancelled => "cancelled".into(),
            Outcome::BadResponse => "bad_response".into(),
            Outcome::InternalError => "internal_error".into(),
        }
    }

    /// Parses a key written by [`Outcome::key`].
    pub fn from_key(key: &str) -> Option<Outcome> {
        let simple = match key {
            "ok" => Some(Outcome::Ok),
            "connect_error" => Some(Outcome::ConnectError),
            "circuit_open" => Some(Outcome::CircuitOpen),
            "budget_exhausted" => Some(Outcome::BudgetExhausted),
            "cancelled" => Some(Outcome::Cancelled),
            "bad_response" => Some(Outcome::BadResponse),
            "internal_error" => Some(Outcome::InternalError),
            _ => None,
        };
        if simple.is_some() {
            return simple;
        }
        if let Some(code) = key.strip_prefix("status_") {
            return code.parse().ok().map(Outcome::Status);
        }
        if let Some(phase) = key.strip_prefix("timeout_") {
            return Phase::ALL
                .iter()
                .find(|p| p.name() == phase)
                .map(|p| Outcome::Timeout(*p));
        }
        let kind = key.strip_prefix("io_")?;
        IoKind::ALL
            .iter()
            .find(|k| k.name() == kind)
            .map(|k| Outcome::Io(*k))
    }

    /// Every kind of outcome, with `statuses` standing for `Status`: what a test that must
    /// cover every kind iterates, so a kind added later cannot be left out of it.
    #[cfg(test)]
    pub(crate) fn every(statuses: &[u16]) -> Vec<Outcome> {
        // A new variant fails to compile here until it is listed below.
        match Outcome::Ok {
            Outcome::Ok
            | Outcome::Status(_)
            | Outcome::Timeout(_)
            | Outcome::ConnectError
            | Outcome::Io(_)
            | Outcome::CircuitOpen
            | Outcome::BudgetExhausted
            | Outcome::Cancelled
            | Outcome::BadResponse
            | Outcome::InternalError => {}
        }
        let mut all = vec![
            Outcome::Ok,
            Outcome::ConnectError,
            Outcome::CircuitOpen,
            Outcome::BudgetExhausted,
            Outcome::Cancelled,
            Outcome::BadResponse,
            Outcome::InternalError,
        ];
        all.extend(statuses.iter().map(|code| Outcome::Status(*code)));
        all.extend(Phase::ALL.map(Outcome::Timeout));
        all.extend(IoKind::ALL.map(Outcome::Io));
        all
    }

    /// True for a timeout of any phase.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Outcome::Timeout(_))
    }

    /// True for everything but `Ok` and `Cancelled` (a cancelled request is the run's doing).
    pub fn is_error(&self) -> bool {
        !matches!(self, Outcome::Ok | Outcome::Cancelled)
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key())
    }
}

impl Phase {
    /// Every phase, in report order.
    pub const ALL: [Phase; 5] = [
        Phase::Connect,
        Phase::Write,
        Phase::Read,
        Phase::Pool,
        Phase::Deadline,
    ];

    /// The lower-case name used in keys and reports.
    pub fn name(&self) -> &'static str {
        match self {
            Phase::Connect => "connect",
            Phase::Write => "write",
            Phase::Read => "read",
            Phase::Pool => "pool",
            Phase::Deadline => "deadline",
        }
    }
}

impl IoKind {
    /// Every kind, in report order.
    pub const ALL: [IoKind; 8] = [
        IoKind::Reset,
        IoKind::Truncated,
        IoKind::BadSse,
        IoKind::Protocol,
        IoKind::BodyTooLarge,
        IoKind::GoAway,
        IoKind::RefusedStream,
        IoKind::Other,
    ];

    /// The lower-case name used in keys and reports.
    pub fn name(&self) -> &'static str {
        match self {
            IoKind::Reset => "reset",
            IoKind::Truncated => "truncated",
            IoKind::BadSse => "bad_sse",
            IoKind::Protocol => "protocol",
            IoKind::BodyTooLarge => "body_too_large",
            IoKind::GoAway => "goaway",
            IoKind::RefusedStream => "refused_stream",
            IoKind::Other => "other",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip() {
        let all = Outcome::every(&[200, 429, 503]);
        for outcome in all {
            assert_eq!(
                Outcome::from_key(&outcome.key()),
                Some(outcome),
                "{outcome}"
            );
        }
        assert_eq!(Outcome::from_key("status_x"), None);
        assert_eq!(Outcome::from_key("timeout_nap"), None);
    }
}
