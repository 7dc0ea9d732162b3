//! The retry policy: which outcomes are retried, exponential backoff with AWS-style jitter, and server hints (`Retry-After`, `retry-after-ms`).
//!
//! Backoff formulas follow AWS's "Exponential Backoff and Jitter" (Brooker, 2015), with
//! `exp(n) = clamp(multiplier × 2^n, min_backoff, max_backoff)` for retry number `n` (0-based):
//! - `none`: `exp(n)`
//! - `full`: uniform in `0..=exp(n)`
//! - `equal`: `exp(n)/2 + uniform(0..=exp(n)/2)`
//! - `decorrelated`: `min(max_backoff, uniform(min_backoff..=3 × previous sleep))`
//!
//! HTTP dates are parsed with the `httpdate` crate; seconds and milliseconds by hand (one integer).

use super::{
    exchange::RetryReason,
    settings::{Jitter, RetrySettings},
};
use crate::outcome::{IoKind, Outcome, Phase};
use http::HeaderMap;
use rand::Rng;
use std::time::{Duration, SystemTime};

/// The retry policy of one client, built from `[client.retry]`.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// The user's settings.
    settings: RetrySettings,
}

/// What a server's hint says about retrying.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hint {
    /// No usable hint: use the backoff.
    None,
    /// Wait this long before retrying.
    Wait(Duration),
    /// The server asked for a wait above `max_retry_after`: do not retry.
    TooLong(Duration),
}

impl RetryPolicy {
    /// A policy for `settings`.
    pub fn new(settings: RetrySettings) -> RetryPolicy {
        RetryPolicy { settings }
    }

    /// Retries allowed after the first attempt.
    pub fn max_retries(&self) -> u32 {
        self.settings.max_retries
    }

    /// Why `outcome` would be retried, or `None` when it is final.
    pub fn reason(&self, outcome: &Outcome) -> Option<RetryReason> {
        let s = &self.settings;
        match outcome {
            // The server says it did not process the request: retrying cannot run it twice.
            Outcome::Io(IoKind::GoAway | IoKind::RefusedStream) => Some(RetryReason::Unprocessed),
            Outcome::Status(code) if s.on_status.contains(code) => Some(RetryReason::Status(*code)),
            Outcome::ConnectError | Outcome::Timeout(Phase::Connect) if s.on_connect_error => {
                Some(RetryReason::Connect)
            }
            Outcome::Timeout(Phase::Write | Phase::Read) if s.on_timeout => {
                Some(RetryReason::Timeout)
            }
            Outcome::Io(IoKind::Reset | IoKind::Truncated) if s.on_reset => {
                Some(RetryReason::Reset)
            }
            _ => None,
        }
    }

    /// The backoff sleep before retry number `retry` (0 = first retry); `previous` is the last sleep (for decorrelated jitter).
    pub fn backoff<R: Rng>(&self, retry: u32, previous: Duration, rng: &mut R) -> Duration {
        backoff(&self.settings, retry, previous, rng)
    }

    /// What the server's requested wait (see [`parse_retry_after`]) means under these
    /// settings: ignored unless `respect_retry_after`, a refusal above `max_retry_after`.
    pub fn hint(&self, server_wait: Option<Duration>) -> Hint {
        if !self.settings.respect_retry_after {
            return Hint::None;
        }
        match server_wait {
            None => Hint::None,
            Some(wait) if wait > self.settings.max_retry_after.0 => Hint::TooLong(wait),
            Some(wait) => Hint::Wait(wait),
        }
    }
}

/// The exponential value for retry `n`, before jitter: `multiplier × 2^n` clamped to `min..=max`.
pub fn exponential(s: &RetrySettings, retry: u32) -> Duration {
    let factor = 2f64.powi(retry.min(62) as i32);
    let raw = s.multiplier.0.as_secs_f64() * factor;
    let max = s.max_backoff.0.max(s.min_backoff.0);
    // Float seconds may be huge for big `n`; clamp before converting so it cannot overflow.
    let clamped = raw.min(max.as_secs_f64());
    Duration::from_secs_f64(clamped).clamp(s.min_backoff.0.min(max), max)
}

/// The jittered backoff sleep; see the module doc for the formulas.
pub fn backoff<R: Rng>(s: &RetrySettings, retry: u32, previous: Duration, rng: &mut R) -> Duration {
    let exp = exponential(s, retry);
    match s.jitter {
        Jitter::None => exp,
        Jitter::Full => uniform(rng, Duration::ZERO, exp),
        Jitter::Equal => exp / 2 + uniform(rng, Duration::ZERO, exp / 2),
        Jitter::Decorrelated => {
            let base = s.min_backoff.0;
            let cap = s.max_backoff.0.max(base);
            let upper = (previous.max(base) * 3).min(cap);
            uniform(rng, base.min(upper), upper)
        }
    }
}

fn uniform<R: Rng>(rng: &mut R, low: Duration, high: Duration) -> Duration {
    if high <= low {
        return low;
    }
    let span = (high - low).as_nanos().min(u64::MAX as u128) as u64;
    low + Duration::from_nanos(rng.gen_range(0..=span))
}

/// Parses `retry-after-ms` (preferred, as OpenAI sends it) or `Retry-After` (seconds or HTTP date, relative to `now`).
pub fn parse_retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    if let Some(ms) = headers
        .get("retry-after-ms")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|ms| ms.is_finite() && *ms >= 0.0)
    {
        return Some(Duration::from_secs_f64((ms / 1000.0).min(1e9)));
    }
    let value = headers
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(1e9)));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    // A date in the past means "now".
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::units::Dur;
    use proptest::prelude::*;
    use rand::{rngs::SmallRng, SeedableRng};

    fn settings(jitter: Jitter, mult_ms: u64, min_ms: u64, max_ms: u64) -> RetrySettings {
        RetrySettings {
            jitter,
            multiplier: Dur::ms(mult_ms),
            min_backoff: Dur::ms(min_ms),
            max_backoff: Dur::ms(max_ms),
            ..RetrySettings::default()
        }
    }

    #[test]
    fn exponential_follows_the_design_defaults() {
        // multiplier 0.5 s, min 1 s, max 10 s: 1, 1, 2, 4, 8, 10, 10 ...
        let s = RetrySettings::default();
        let got: Vec<u64> = (0..7)
            .map(|n| exponential(&s, n).as_millis() as u64)
            .collect();
        assert_eq!(got, vec![1000, 1000, 2000, 4000, 8000, 10000, 10000]);
        assert_eq!(exponential(&s, 1000), Duration::from_secs(10));
    }

    proptest! {
        #[test]
        fn jitter_stays_within_its_formula(
            seed in any::<u64>(), retry in 0u32..40, mult in 1u64..2000,
            min in 0u64..3000, extra in 0u64..30000, prev in 0u64..60000,
        ) {
            let max = min + extra;
            let mut rng = SmallRng::seed_from_u64(seed);
            let previous = Duration::from_millis(prev);
            for jitter in [Jitter::None, Jitter::Full, Jitter::Equal] {
                let s = settings(jitter, mult, min, max);
                let exp = exponential(&s, retry);
                prop_assert!(exp >= Duration::from_millis(min) && exp <= Duration::from_millis(max));
                let d = backoff(&s, retry, previous, &mut rng);
                match jitter {
                    Jitter::None => prop_assert_eq!(d, exp),
                    Jitter::Full => prop_assert!(d <= exp),
                    _ => prop_assert!(d >= exp / 2 && d <= exp),
                }
            }
            let s = settings(Jitter::Decorrelated, mult, min, max);
            let d = backoff(&s, retry, previous, &mut rng);
            let base = Duration::from_millis(min);
            let upper = (previous.max(base) * 3).min(Duration::from_millis(max));
            prop_assert!(d >= base.min(upper) && d <= upper, "{d:?} not in {base:?}..={upper:?}");
        }
    }

    #[test]
    fn full_jitter_actually_spreads() {
        let s = settings(Jitter::Full, 1000, 0, 10_000);
        let mut rng = SmallRng::seed_from_u64(7);
        let draws: Vec<Duration> = (0..200)
            .map(|_| backoff(&s, 3, Duration::ZERO, &mut rng))
            .collect();
        let min = draws.iter().min().unwrap();
        let max = draws.iter().max().unwrap();
        assert!(*max - *min > Duration::from_secs(4), "{min:?}..{max:?}");
    }

    #[test]
    fn parses_retry_after_forms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut h = HeaderMap::new();
        assert_eq!(parse_retry_after(&h, now), None);
        h.insert("retry-after", "7".parse().unwrap());
        assert_eq!(parse_retry_after(&h, now), Some(Duration::from_secs(7)));
        h.insert("retry-after", "0.25".parse().unwrap());
        assert_eq!(parse_retry_after(&h, now), Some(Duration::from_millis(250)));
        let date = httpdate::fmt_http_date(now + Duration::from_secs(30));
        h.insert("retry-after", date.parse().unwrap());
        assert_eq!(parse_retry_after(&h, now), Some(Duration::from_secs(30)));
        let past = httpdate::fmt_http_date(now - Duration::from_secs(30));
        h.insert("retry-after", past.parse().unwrap());
        assert_eq!(parse_retry_after(&h, now), Some(Duration::ZERO));
        h.insert("retry-after", "soon".parse().unwrap());
        assert_eq!(parse_retry_after(&h, now), None);
        h.insert("retry-after", "-3".parse().unwrap());
        assert_eq!(parse_retry_after(&h, now), None);
        // retry-after-ms wins over Retry-After.
        h.insert("retry-after", "7".parse().unwrap());
        h.insert("retry-after-ms", "1500".parse().unwrap());
        assert_eq!(
            parse_retry_after(&h, now),
            Some(Duration::from_millis(1500))
        );
    }

    #[test]
    fn hints_above_the_bound_mean_do_not_retry() {
        let policy = RetryPolicy::new(RetrySettings {
            max_retry_after: Dur::secs(5),
            ..RetrySettings::default()
        });
        let secs = |n| Some(Duration::from_secs(n));
        assert_eq!(policy.hint(None), Hint::None);
        assert_eq!(policy.hint(secs(3)), Hint::Wait(Duration::from_secs(3)));
        assert_eq!(policy.hint(secs(5)), Hint::Wait(Duration::from_secs(5)));
        assert_eq!(policy.hint(secs(6)), Hint::TooLong(Duration::from_secs(6)));
        let ignoring = RetryPolicy::new(RetrySettings {
            respect_retry_after: false,
            ..RetrySettings::default()
        });
        assert_eq!(ignoring.hint(secs(6)), Hint::None);
    }

    #[test]
    fn retryable_outcomes_follow_the_switches() {
        let policy = RetryPolicy::new(RetrySettings::default());
        assert_eq!(
            policy.reason(&Outcome::Status(503)),
            Some(RetryReason::Status(503))
        );
        assert_eq!(policy.reason(&Outcome::Status(400)), None);
        assert_eq!(
            policy.reason(&Outcome::ConnectError),
            Some(RetryReason::Connect)
        );
        assert_eq!(
            policy.reason(&Outcome::Timeout(Phase::Read)),
            Some(RetryReason::Timeout)
        );
        assert_eq!(policy.reason(&Outcome::Timeout(Phase::Pool)), None);
        assert_eq!(policy.reason(&Outcome::Timeout(Phase::Deadline)), None);
        assert_eq!(
            policy.reason(&Outcome::Io(IoKind::Reset)),
            Some(RetryReason::Reset)
        );
        assert_eq!(policy.reason(&Outcome::Io(IoKind::BadSse)), None);
        for unprocessed in [IoKind::GoAway, IoKind::RefusedStream] {
            assert_eq!(
                policy.reason(&Outcome::Io(unprocessed)),
                Some(RetryReason::Unprocessed)
            );
        }
        let strict = RetryPolicy::new(RetrySettings {
            on_timeout: false,
            on_reset: false,
            on_connect_error: false,
            ..RetrySettings::default()
        });
        assert_eq!(strict.reason(&Outcome::Timeout(Phase::Read)), None);
        assert_eq!(strict.reason(&Outcome::Io(IoKind::Reset)), None);
        assert_eq!(strict.reason(&Outcome::ConnectError), None);
        assert_eq!(
            strict.reason(&Outcome::Io(IoKind::GoAway)),
            Some(RetryReason::Unprocessed),
            "an unprocessed request is retried whatever on_reset says"
        );
    }
}
