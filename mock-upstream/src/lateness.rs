//! The mock's own lateness: how far behind its schedule each timed send went out, in sharded HDR histograms (`Lateness`) and their serializable summary (`LatenessSummary`).
//!
//! A timed send is a whole non-streamed reply (due when its injected latency ends), the first
//! token of a stream (due at the reply's due time plus the sampled TTFT) and every later token
//! (due one sampled inter-token gap after the previous token was due, so lateness does not
//! accumulate into the schedule: a mock that falls behind shows it here, instead of quietly
//! stretching its streams). Tokens already due when a stream is polled go out in one frame,
//! each recorded against its own due time. Lateness is the time
//! the body frame was handed to hyper for writing minus that due time. On a healthy machine it
//! is tens of microseconds; when the mock is short of CPU (one worker, thousands of streams) it
//! grows, and a client would otherwise report the mock's delay as the upstream's TTFT and ITL.
//!
//! Recording must be cheap at thousands of streams × tokens per second: each thread records
//! into one of a few shards (picked once per thread), each a `Mutex` over preallocated
//! histograms, so a record is an uncontended lock and an array increment — no allocation, and
//! threads rarely meet on one lock. A summary merges the shards. The shards also count the
//! stream tokens they timed (`tokens_streamed`): the lock is held anyway, where a counter of
//! its own would be one more write every core contends for on every token.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

/// Which kind of send was timed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Timed {
    /// A whole non-streamed reply (in the `first` histogram, not a streamed token).
    Whole,
    /// The first token of a stream.
    First,
    /// A stream's token after the first.
    Later,
}

/// Shards of the histograms; more than the usual worker count, so threads seldom share one.
const SHARDS: usize = 8;
/// Highest lateness tracked, in microseconds (60 s); larger values are recorded as 60 s.
const HIGHEST_US: u64 = 60_000_000;
/// Significant figures: 1% resolution is plenty for lateness, and keeps a histogram at ~20 KiB.
const SIGFIG: u8 = 2;

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HIGHEST_US, SIGFIG).expect("static histogram bounds are valid")
}

/// One shard: lateness in microseconds, by kind, and the stream tokens recorded.
struct Shard {
    first: Histogram<u64>,
    later: Histogram<u64>,
    /// Stream tokens (first and later) recorded.
    streamed: u64,
}

/// Live lateness histograms of one server, shared by every connection and stream task.
pub(crate) struct Lateness {
    shards: Box<[Mutex<Shard>]>,
}

impl Default for Lateness {
    fn default() -> Self {
        Lateness {
            shards: (0..SHARDS)
                .map(|_| {
                    Mutex::new(Shard {
                        first: histogram(),
                        later: histogram(),
                        streamed: 0,
                    })
                })
                .collect(),
        }
    }
}

/// The shard of the calling thread, fixed at its first record.
fn shard_index() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static INDEX: usize = NEXT.fetch_add(1, Relaxed) % SHARDS;
    }
    INDEX.with(|i| *i)
}

fn lock(m: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Lateness {
    /// Records a send that was due at `due` and went out at `sent` (early counts as 0).
    pub(crate) fn record(&self, kind: Timed, due: Instant, sent: Instant) {
        let us = u64::try_from(sent.saturating_duration_since(due).as_micros()).unwrap_or(u64::MAX);
        let shard = &mut *lock(&self.shards[shard_index()]);
        let h = match kind {
            Timed::Whole => &mut shard.first,
            Timed::First => {
                shard.streamed += 1;
                &mut shard.first
            }
            Timed::Later => {
                shard.streamed += 1;
                &mut shard.later
            }
        };
        h.saturating_record(us);
    }

    /// Stream tokens recorded (handed to hyper for writing): served as `tokens_streamed`.
    pub(crate) fn tokens_streamed(&self) -> u64 {
        self.shards.iter().map(|s| lock(s).streamed).sum()
    }

    /// Forgets everything recorded (`POST /_mock/reset`).
    pub(crate) fn reset(&self) {
        for s in self.shards.iter() {
            let mut s = lock(s);
            s.first.reset();
            s.later.reset();
            s.streamed = 0;
        }
    }

    /// The shards merged: first sends, later tokens (µs).
    pub(crate) fn merged(&self) -> [Histogram<u64>; 2] {
        let (mut first, mut later) = (histogram(), histogram());
        for s in self.shards.iter() {
            let s = lock(s);
            // Same bounds on both sides: adding cannot fail.
            let _ = first.add(&s.first);
            let _ = later.add(&s.later);
        }
        [first, later]
    }

    /// The shards merged into one summary per kind.
    pub(crate) fn summary(&self) -> LatenessSummary {
        let [first, later] = self.merged();
        LatenessSummary {
            first: LatenessStats::of(&first),
            later: LatenessStats::of(&later),
        }
    }
}

/// How late the mock's timed sends went out, by kind: served in `GET /_mock/stats` as
/// `lateness`, returned by `MockHandle::lateness`, carried into relaybench's results as `mock_lateness`.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct LatenessSummary {
    /// First tokens of streams and whole non-streamed replies (what a client's TTFT and latency include).
    pub first: LatenessStats,
    /// Stream tokens after the first (what a client's inter-token latency includes).
    pub later: LatenessStats,
}

/// Count and percentiles of one kind of send's lateness, in milliseconds (1% resolution).
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct LatenessStats {
    /// Timed sends recorded.
    pub count: u64,
    /// Median lateness.
    pub p50_ms: f64,
    /// 99th percentile of lateness.
    pub p99_ms: f64,
    /// Largest lateness (capped at 60 s).
    pub max_ms: f64,
}

impl LatenessStats {
    fn of(h: &Histogram<u64>) -> LatenessStats {
        let ms = |us: u64| us as f64 / 1000.0;
        LatenessStats {
            count: h.len(),
            p50_ms: ms(h.value_at_quantile(0.5)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            max_ms: ms(h.max()),
        }
    }
}

impl LatenessSummary {
    /// The larger p99 of the two kinds, and the kind's name ("first tokens and whole replies" or "later tokens").
    pub fn worst_p99(&self) -> (f64, &'static str) {
        if self.later.p99_ms > self.first.p99_ms {
            (self.later.p99_ms, "later tokens")
        } else {
            (self.first.p99_ms, "first tokens and whole replies")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn records_by_kind_and_resets() {
        let l = Lateness::default();
        let due = Instant::now();
        for ms in 1..=100u64 {
            l.record(Timed::Later, due, due + Duration::from_millis(ms));
        }
        l.record(Timed::First, due + Duration::from_secs(1), due); // early: 0
        l.record(Timed::Whole, due, due);
        let s = l.summary();
        assert_eq!((s.first.count, s.first.max_ms), (2, 0.0));
        assert_eq!(
            l.tokens_streamed(),
            101,
            "whole replies are not streamed tokens"
        );
        assert_eq!(s.later.count, 100);
        assert!((s.later.p50_ms - 50.0).abs() <= 0.5, "{s:?}");
        assert!((s.later.p99_ms - 99.0).abs() <= 1.0, "{s:?}");
        assert!((s.later.max_ms - 100.0).abs() <= 1.0, "{s:?}");
        assert_eq!(s.worst_p99().1, "later tokens");
        l.reset();
        assert_eq!(l.summary(), LatenessSummary::default());
        assert_eq!(l.tokens_streamed(), 0);
    }
}
