//! Token buckets for requests and tokens per minute, as GCRA over one atomic each (no lock per request).
//!
//! GCRA keeps a "theoretical arrival time" (TAT): admitting a request of cost `c` pushes the TAT
//! by `c` emission intervals; a request is refused when the TAT would run more than a full
//! bucket ahead of now. It is exactly a token bucket refilled continuously.

use crate::config::RateLimit;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The answer of one bucket for one request.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BucketState {
    /// Configured limit per minute (for `x-ratelimit-limit-*`).
    pub limit: u64,
    /// Units left in the bucket after this request.
    pub remaining: u64,
    /// Time until the bucket is full again.
    pub reset: Duration,
    /// When refused: how long until this request would be admitted.
    pub retry_after: Option<Duration>,
}

/// One GCRA bucket.
pub(crate) struct Bucket {
    origin: Instant,
    tat_ns: AtomicU64,
    interval_ns: u64,
    burst: u64,
    limit: u64,
}

impl Bucket {
    fn new(per_minute: u64, burst: u64, origin: Instant) -> Bucket {
        Bucket {
            origin,
            tat_ns: AtomicU64::new(0),
            interval_ns: (60_000_000_000 / per_minute.max(1)).max(1),
            burst: burst.max(1),
            limit: per_minute,
        }
    }

    /// Takes `cost` units if the bucket holds them.
    pub(crate) fn take(&self, now: Instant, cost: u64) -> BucketState {
        let now_ns = now.saturating_duration_since(self.origin).as_nanos() as u64;
        let tolerance = self.burst.saturating_mul(self.interval_ns);
        let increment = cost.saturating_mul(self.interval_ns);
        let mut tat = self.tat_ns.load(Ordering::Relaxed);
        loop {
            let base = tat.max(now_ns);
            let new_tat = base.saturating_add(increment);
            if new_tat - now_ns > tolerance {
                let behind = base - now_ns;
                return BucketState {
                    limit: self.limit,
                    remaining: tolerance.saturating_sub(behind) / self.interval_ns,
                    reset: Duration::from_nanos(behind),
                    retry_after: Some(Duration::from_nanos(new_tat - now_ns - tolerance)),
                };
            }
            match self.tat_ns.compare_exchange_weak(
                tat,
                new_tat,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    return BucketState {
                        limit: self.limit,
                        remaining: (tolerance - (new_tat - now_ns)) / self.interval_ns,
                        reset: Duration::from_nanos(new_tat - now_ns),
                        retry_after: None,
                    }
                }
                Err(actual) => tat = actual,
            }
        }
    }
}

/// The request and token buckets of one config.
pub(crate) struct RateLimiter {
    pub requests: Option<Bucket>,
    pub tokens: Option<Bucket>,
}

/// Both buckets' answers for one request; a refused request takes nothing from either.
pub(crate) struct RateDecision {
    pub requests: Option<BucketState>,
    pub tokens: Option<BucketState>,
}

impl RateDecision {
    /// Which limit refused the request, if any (requests first).
    pub(crate) fn refused_by(&self) -> Option<(&'static str, BucketState)> {
        if let Some(s) = self.requests.filter(|s| s.retry_after.is_some()) {
            return Some(("requests", s));
        }
        self.tokens
            .filter(|s| s.retry_after.is_some())
            .map(|s| ("tokens", s))
    }
}

impl RateLimiter {
    /// None when no limit is configured.
    pub(crate) fn new(cfg: &RateLimit) -> Option<RateLimiter> {
        let origin = Instant::now();
        let requests = cfg
            .requests_per_minute
            .map(|l| Bucket::new(l, cfg.request_burst.unwrap_or(l), origin));
        let tokens = cfg
            .tokens_per_minute
            .map(|l| Bucket::new(l, cfg.token_burst.unwrap_or(l), origin));
        (requests.is_some() || tokens.is_some()).then_some(RateLimiter { requests, tokens })
    }

    /// Admits one request costing `tokens` tokens, or refuses it.
    pub(crate) fn check(&self, now: Instant, tokens: u64) -> RateDecision {
        let requests = self.requests.as_ref().map(|b| b.take(now, 1));
        if requests.is_some_and(|s| s.retry_after.is_some()) {
            let tokens = self.tokens.as_ref().map(|b| b.take(now, 0));
            return RateDecision { requests, tokens };
        }
        let token_state = self.tokens.as_ref().map(|b| b.take(now, tokens));
        if token_state.is_some_and(|s| s.retry_after.is_some()) {
            // Give the request slot back: a refused request must not count against the limit.
            if let Some(b) = &self.requests {
                b.tat_ns.fetch_sub(b.interval_ns, Ordering::Relaxed);
            }
        }
        RateDecision {
            requests,
            tokens: token_state,
        }
    }
}

/// Formats a reset time the way OpenAI does ("20ms", "1.5s", "6m0s").
pub(crate) fn format_reset(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        let s = format!("{:.3}", d.as_secs_f64());
        format!("{}s", s.trim_end_matches('0').trim_end_matches('.'))
    } else {
        format!("{}m{}s", ms / 60_000, (ms % 60_000) / 1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_admits_burst_then_the_refill_rate() {
        let t0 = Instant::now();
        let b = Bucket::new(60, 5, t0); // one per second, burst 5
        for i in 0..5 {
            let s = b.take(t0, 1);
            assert!(s.retry_after.is_none(), "burst request {i}");
            assert_eq!(s.remaining, 4 - i);
        }
        let refused = b.take(t0, 1);
        assert!(refused.retry_after.unwrap() <= Duration::from_secs(1));
        assert_eq!(refused.remaining, 0);
        assert!(b
            .take(t0 + Duration::from_millis(999), 1)
            .retry_after
            .is_some());
        assert!(b.take(t0 + Duration::from_secs(1), 1).retry_after.is_none());
        let admitted = (1..=100)
            .filter(|i| {
                b.take(t0 + Duration::from_millis(1000 + 100 * i), 1)
                    .retry_after
                    .is_none()
            })
            .count();
        assert_eq!(admitted, 10, "10 s at 1/s admits 10");
    }

    #[test]
    fn refused_token_request_does_not_spend_a_request_slot() {
        let cfg = RateLimit {
            requests_per_minute: Some(60),
            tokens_per_minute: Some(100),
            request_burst: Some(2),
            token_burst: Some(100),
        };
        let l = RateLimiter::new(&cfg).unwrap();
        let t = Instant::now();
        assert!(l
            .check(t, 500)
            .refused_by()
            .is_some_and(|(k, _)| k == "tokens"));
        assert!(l.check(t, 10).refused_by().is_none());
        assert!(l.check(t, 10).refused_by().is_none());
        assert!(l
            .check(t, 10)
            .refused_by()
            .is_some_and(|(k, _)| k == "requests"));
    }

    #[test]
    fn reset_format_matches_openai_style() {
        assert_eq!(format_reset(Duration::from_millis(20)), "20ms");
        assert_eq!(format_reset(Duration::from_millis(1500)), "1.5s");
        assert_eq!(format_reset(Duration::from_secs(360)), "6m0s");
    }
}
