//! One trace line: a [`Record`]'s instants turned into offsets from its run's start, in milliseconds with microsecond resolution.

use super::{Record, RunLabels};
use serde::Serialize;
use std::time::{Duration, Instant};

/// Milliseconds with three decimals (µs resolution): what a plot of a run wants, and exact
/// enough to reproduce the histograms (which keep µs).
fn ms(d: Duration) -> f64 {
    d.as_micros().min(u64::MAX as u128) as f64 / 1000.0
}

/// An offset from the run's start (0 for an instant before it, as a warm-up can never have).
fn at(origin: Instant, t: Instant) -> f64 {
    ms(t.saturating_duration_since(origin))
}

/// One attempt of a request.
#[derive(Serialize)]
pub(super) struct AttemptLine {
    /// How it ended (outcome key).
    outcome: String,
    /// When it ended (ms from run start).
    end_ms: f64,
    /// The wait slept before the next attempt (absent on the last one).
    #[serde(skip_serializing_if = "Option::is_none")]
    backoff_ms: Option<f64>,
}

/// Token counts of the answer.
#[derive(Serialize)]
pub(super) struct TokensLine {
    input: u64,
    output: u64,
    from_usage: bool,
}

/// One line of the trace file (see docs/trace-and-metrics.md for each field).
#[derive(Serialize)]
pub(super) struct Line<'a> {
    run: u32,
    target: &'a str,
    variant: &'a str,
    warmup: bool,
    outcome: String,
    status: Option<u16>,
    intended_ms: f64,
    send_ms: Option<f64>,
    last_send_ms: Option<f64>,
    first_byte_ms: Option<f64>,
    first_token_ms: Option<f64>,
    end_ms: f64,
    latency_ms: f64,
    pool_wait_ms: f64,
    connect_ms: Option<f64>,
    attempt_count: u32,
    attempts: Vec<AttemptLine>,
    tokens: Option<TokensLine>,
    conn_id: Option<u64>,
    reused: Option<bool>,
}

impl<'a> Line<'a> {
    /// The line of `r`, in a run labelled `labels` that started at `origin`.
    pub(super) fn of(r: &Record, labels: &'a RunLabels, origin: Instant) -> Line<'a> {
        let mut attempts: Vec<AttemptLine> = r
            .retried
            .iter()
            .map(|a| AttemptLine {
                outcome: a.outcome.key(),
                end_ms: at(origin, a.ended),
                backoff_ms: Some(ms(a.backoff)),
            })
            .collect();
        if let Some(last) = r.last_attempt {
            attempts.push(AttemptLine {
                outcome: last.key(),
                end_ms: at(origin, r.finished),
                backoff_ms: None,
            });
        }
        let first_byte = r.attempt_sent.zip(r.ttfb).map(|(s, t)| at(origin, s + t));
        Line {
            run: r.run,
            target: &labels.target,
            variant: &labels.variant,
            warmup: r.warmup,
            outcome: r.outcome.key(),
            status: r.status,
            intended_ms: at(origin, r.intended),
            send_ms: r.sent.map(|t| at(origin, t)),
            last_send_ms: r.attempt_sent.map(|t| at(origin, t)),
            first_byte_ms: first_byte,
            first_token_ms: r.first_token.map(|t| at(origin, t)),
            end_ms: at(origin, r.finished),
            // From the durations themselves, as the recorder measures it (not a difference
            // of two rounded offsets).
            latency_ms: ms(r.finished.saturating_duration_since(r.intended)),
            pool_wait_ms: ms(r.pool_wait),
            connect_ms: r.connect.map(ms),
            // Can exceed `attempts`' length: a request cancelled at the stop had attempts in
            // flight that never ended.
            attempt_count: r.attempts,
            attempts,
            tokens: r.tokens.map(|t| TokensLine {
                input: t.input,
                output: t.output,
                from_usage: t.from_usage,
            }),
            conn_id: r.conn_id,
            reused: r.conn_id.map(|_| r.reused),
        }
    }
}
