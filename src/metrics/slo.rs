//! Per-request service-level objectives (`[slo]`): the limits, and whether one finished request met them (it is then *good*, and counts toward goodput).
//!
//! Classification runs in the recorder for every measured request, so it is a handful of
//! comparisons on figures the client already measured and allocates nothing. The one
//! per-request percentile, `itl_p99`, needs no sort: with the nearest-rank definition, the
//! p99 of `n` gaps is above the limit exactly when more than `n − ⌈0.99·n⌉` gaps are, so
//! counting the gaps above the limit decides it.

use crate::{
    client::{Exchange, Outcome},
    units::Dur,
};
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

/// The `[slo]` table: per-request limits. A request is *good* when it ended `ok` and met every
/// limit that applies to it; a limit that does not apply (TTFT, TPOT or ITL of a request that
/// streamed no tokens) is not held against it.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct Slo {
    /// Longest end-to-end latency, from the request's intended start to its last byte (queueing, pool wait and retries included). Applies to every request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<Dur>,
    /// Longest time to first token, from the answering attempt's send. Applies to streamed answers that delivered a token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft: Option<Dur>,
    /// Longest time per output token after the first: (last token − first token) ÷ (output tokens − 1). Applies to streamed answers with at least two output tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tpot: Option<Dur>,
    /// Longest 99th percentile (nearest rank) of the request's own gaps between tokens. Applies to streamed answers with at least one gap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub itl_p99: Option<Dur>,
}

impl Slo {
    /// True when no limit is set: every `ok` request is good.
    pub fn is_unset(&self) -> bool {
        *self == Slo::default()
    }

    /// The limits as one line for reports, e.g. `latency ≤ 800ms, ttft ≤ 200ms`.
    pub fn describe(&self) -> String {
        let parts: Vec<String> = [
            ("latency", self.latency),
            ("ttft", self.ttft),
            ("tpot", self.tpot),
            ("itl_p99", self.itl_p99),
        ]
        .into_iter()
        .filter_map(|(name, limit)| limit.map(|d| format!("{name} ≤ {d}")))
        .collect();
        parts.join(", ")
    }

    /// Whether a finished request is good: `ok`, and within every limit that applies to it.
    /// `latency` is its end-to-end latency, from its intended start (see `Recorder::record`).
    pub fn is_good(&self, latency: Duration, ex: &Exchange) -> bool {
        // Each figure is computed only when its limit is set; a limit that does not apply to
        // this request (no such figure) holds.
        ex.outcome == Outcome::Ok
            && self.latency.is_none_or(|l| latency <= l.0)
            && self.ttft.is_none_or(|l| ttft(ex).is_none_or(|v| v <= l.0))
            && self.tpot.is_none_or(|l| tpot(ex).is_none_or(|v| v <= l.0))
            && self.itl_p99.is_none_or(|l| itl_p99_within(ex, l.0))
    }

    /// [`Slo::is_good`] for a request intended to start at `intended`.
    pub fn is_good_since(&self, intended: Instant, ex: &Exchange) -> bool {
        self.is_good(ex.finished.saturating_duration_since(intended), ex)
    }
}

/// Time to first token from the answering attempt's send, when the answer streamed a token.
fn ttft(ex: &Exchange) -> Option<Duration> {
    let first = ex.stream.as_ref()?.first_token?;
    Some(first.saturating_duration_since(ex.attempt_sent.unwrap_or(first)))
}

/// Time per output token after the first, when the answer streamed at least two tokens (the
/// recorder's `tpot` histogram holds the same figure).
fn tpot(ex: &Exchange) -> Option<Duration> {
    let stream = ex.stream.as_ref()?;
    let (first, last) = (stream.first_token?, stream.last_token?);
    let output = ex.tokens?.output;
    if output < 2 {
        return None;
    }
    let gaps = u32::try_from(output - 1).unwrap_or(u32::MAX);
    Some(last.saturating_duration_since(first) / gaps)
}

/// Whether the nearest-rank p99 of the request's inter-token gaps is within `limit` (true when
/// it has no gaps: the limit does not apply).
fn itl_p99_within(ex: &Exchange, limit: Duration) -> bool {
    let Some(stream) = &ex.stream else {
        return true;
    };
    let n = stream.inter_token.len();
    // p99 is the gap of rank ⌈0.99·n⌉; it is above the limit iff more than n − rank gaps are.
    let allowed_above = n - (99 * n).div_ceil(100);
    stream.inter_token.iter().filter(|g| **g > limit).count() <= allowed_above
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::{StreamTiming, Tokens};

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn limit(n: u64) -> Option<Dur> {
        Some(Dur::ms(n))
    }

    /// A streamed answer: sent at 0, first token at `ttft`, then `gaps`, finished 10 ms after the last token.
    fn streamed(t0: Instant, ttft: u64, gaps: &[u64]) -> Exchange {
        let first = t0 + ms(ttft);
        let last = first + gaps.iter().map(|g| ms(*g)).sum::<Duration>();
        Exchange {
            sent: Some(t0),
            attempt_sent: Some(t0),
            attempts: 1,
            tokens: Some(Tokens {
                input: 3,
                output: gaps.len() as u64 + 1,
                from_usage: true,
                reasoning: 0,
            }),
            stream: Some(StreamTiming {
                first_token: Some(first),
                inter_token: gaps.iter().map(|g| ms(*g)).collect(),
                last_token: Some(last),
                content_chunks: gaps.len() as u64 + 1,
                ..StreamTiming::default()
            }),
            ..Exchange::unsent(Outcome::Ok, last + ms(10))
        }
    }

    #[test]
    fn no_limits_means_every_ok_request_is_good_and_no_failure_is() {
        let t0 = Instant::now();
        let slo = Slo::default();
        assert!(slo.is_unset());
        assert!(slo.is_good_since(t0, &Exchange::unsent(Outcome::Ok, t0 + ms(5))));
        for failed in [
            Outcome::Status(503),
            Outcome::Cancelled,
            Outcome::BadResponse,
            Outcome::InternalError,
        ] {
            assert!(!slo.is_good_since(t0, &Exchange::unsent(failed, t0 + ms(1))));
        }
    }

    #[test]
    fn latency_counts_from_the_intended_start_and_the_limit_is_inclusive() {
        let t0 = Instant::now();
        let slo = Slo {
            latency: limit(100),
            ..Slo::default()
        };
        assert!(slo.is_good_since(t0, &Exchange::unsent(Outcome::Ok, t0 + ms(100))));
        assert!(!slo.is_good_since(t0, &Exchange::unsent(Outcome::Ok, t0 + ms(101))));
        // Sent at once but intended 50 ms earlier (queued): 120 ms of latency.
        let late = t0 + ms(50);
        assert!(!slo.is_good_since(t0, &Exchange::unsent(Outcome::Ok, late + ms(70))));
        // A fast failure is never good.
        assert!(!slo.is_good_since(t0, &Exchange::unsent(Outcome::Status(500), t0 + ms(1))));
    }

    #[test]
    fn stream_limits_do_not_apply_to_answers_without_tokens() {
        let t0 = Instant::now();
        let slo = Slo {
            ttft: limit(1),
            tpot: limit(1),
            itl_p99: limit(1),
            ..Slo::default()
        };
        assert!(slo.is_good_since(t0, &Exchange::unsent(Outcome::Ok, t0 + ms(500))));
        // One token: TTFT applies, TPOT and ITL do not.
        let one = streamed(t0, 1, &[]);
        assert!(slo.is_good_since(t0, &one));
        let slow_first = streamed(t0, 2, &[]);
        assert!(!slo.is_good_since(t0, &slow_first));
    }

    #[test]
    fn ttft_comes_from_the_answering_attempt_and_tpot_from_first_to_last_token() {
        let t0 = Instant::now();
        let mut ex = streamed(t0, 300, &[10, 10, 40]);
        // A failed attempt before: the answering one was sent at 250 ms, so TTFT is 50 ms.
        ex.attempt_sent = Some(t0 + ms(250));
        let ttft = |n| Slo {
            ttft: limit(n),
            ..Slo::default()
        };
        assert!(ttft(50).is_good_since(t0, &ex));
        assert!(!ttft(49).is_good_since(t0, &ex));
        // TPOT = 60 ms / 3 = 20 ms.
        let tpot = |n| Slo {
            tpot: limit(n),
            ..Slo::default()
        };
        assert!(tpot(20).is_good_since(t0, &ex));
        assert!(!tpot(19).is_good_since(t0, &ex));
    }

    #[test]
    fn itl_p99_is_the_nearest_rank_percentile_of_the_requests_own_gaps() {
        let t0 = Instant::now();
        let itl = |n| Slo {
            itl_p99: limit(n),
            ..Slo::default()
        };
        // 100 gaps: rank 99, so one gap may be above the limit, two may not.
        let mut gaps = vec![10; 100];
        gaps[7] = 500;
        assert!(itl(10).is_good_since(t0, &streamed(t0, 5, &gaps)));
        gaps[50] = 500;
        assert!(!itl(10).is_good_since(t0, &streamed(t0, 5, &gaps)));
        assert!(itl(500).is_good_since(t0, &streamed(t0, 5, &gaps)));
        // 200 gaps: rank 198, so two may be above.
        let mut gaps = vec![10; 200];
        gaps[1] = 90;
        gaps[2] = 90;
        assert!(itl(10).is_good_since(t0, &streamed(t0, 5, &gaps)));
        gaps[3] = 90;
        assert!(!itl(10).is_good_since(t0, &streamed(t0, 5, &gaps)));
        // Fewer than 100 gaps: p99 is the largest.
        assert!(!itl(10).is_good_since(t0, &streamed(t0, 5, &[10, 10, 11])));
        assert!(itl(11).is_good_since(t0, &streamed(t0, 5, &[10, 10, 11])));
    }

    #[test]
    fn every_limit_must_hold() {
        let t0 = Instant::now();
        let ex = streamed(t0, 20, &[10, 10]);
        let slo = Slo {
            latency: limit(100),
            ttft: limit(20),
            tpot: limit(10),
            itl_p99: limit(10),
        };
        assert!(slo.is_good_since(t0, &ex));
        assert_eq!(
            slo.describe(),
            "latency ≤ 100ms, ttft ≤ 20ms, tpot ≤ 10ms, itl_p99 ≤ 10ms"
        );
        for broken in [
            Slo {
                latency: limit(49),
                ..slo
            },
            Slo {
                ttft: limit(19),
                ..slo
            },
            Slo {
                tpot: limit(9),
                ..slo
            },
            Slo {
                itl_p99: limit(9),
                ..slo
            },
        ] {
            assert!(!broken.is_good_since(t0, &ex), "{broken:?}");
        }
    }
}
