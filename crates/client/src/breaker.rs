//! The circuit breaker: closed → open after consecutive failures → half-open probes → closed or open again, with every transition timestamped for reports.
//!
//! The breaker is asked before every attempt (first tries and retries), so during an outage
//! the upstream sees at most `failure_threshold` failing attempts, then `half_open_max_calls`
//! probes per `recovery_timeout`. Results of attempts admitted in an earlier state (a
//! "generation") are ignored: a slow failure from before the circuit opened must not
//! re-open a circuit that has since recovered.
//!
//! The breaker cannot lock itself shut. An admitted attempt holds a [`Ticket`]; every ticket
//! settles, whatever its outcome: a success closes a half-open circuit, a failure re-opens
//! it, and a neutral outcome (a 429 when 429s do not count, a pool timeout, a timeout when
//! timeouts do not count, an unprocessed HTTP/2 stream, a cancelled request — its ticket is
//! dropped unsettled) gives its probe slot back. A half-open period is bounded too: probes
//! that gave no verdict within `recovery_timeout` (hung on a long read timeout) lose their
//! slots, and a fresh period admits new probes.

use super::settings::BreakerSettings;
use crate::outcome::{IoKind, Outcome, Phase};
use serde::Serialize;
use std::{
    sync::Mutex,
    time::{Duration, Instant},
};

/// At most this many transitions are kept (a flapping breaker must not grow memory without bound).
const MAX_EVENTS: usize = 10_000;

/// The breaker's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    /// Requests flow; consecutive failures are counted.
    Closed,
    /// Requests are rejected at once until the recovery timeout passes.
    Open,
    /// A few probes are admitted; their result decides the next state.
    HalfOpen,
}

impl BreakerState {
    /// The name used in results files and reports.
    pub fn name(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }
}

/// One state change, for reports and charts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BreakerEvent {
    /// When it happened.
    pub at: Instant,
    /// State before.
    pub from: BreakerState,
    /// State after.
    pub to: BreakerState,
}

/// How long a request rejected while half-open (every probe slot taken) is told to wait before
/// asking again: a probe settles in about one response time, so the verdict is near.
const HALF_OPEN_RECHECK: Duration = Duration::from_millis(100);

/// An attempt the breaker admitted. Settle it with the attempt's outcome; a ticket dropped
/// unsettled (the request was cancelled, or another policy refused the attempt after the
/// breaker admitted it) counts as neutral, so a probe always gives its slot back.
#[derive(Debug)]
pub struct Ticket<'a> {
    /// The breaker to report to; `None` when there is nothing to report (breaker off, or
    /// already settled).
    breaker: Option<&'a Breaker>,
    /// The state generation the attempt was admitted in.
    generation: u64,
    /// Whether it holds one of the half-open probe slots.
    probe: bool,
}

/// The breaker refused an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rejected {
    /// When asking again may be admitted (see [`HALF_OPEN_RECHECK`] for the half-open case).
    pub retry_at: Instant,
}

/// A circuit breaker shared by all requests of one client.
#[derive(Debug)]
pub struct Breaker {
    /// The user's settings.
    settings: BreakerSettings,
    /// Mutable state; held only for a few instructions.
    inner: Mutex<Inner>,
}

/// What the breaker says about an outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    /// The upstream answered as a working upstream does.
    Success,
    /// The upstream failed.
    Failure,
    /// Says nothing about the upstream's health (our own pool, a rate limit when 429s do not
    /// count, a request that was not processed, a cancellation).
    Neutral,
}

#[derive(Debug)]
struct Inner {
    /// The current state.
    state: BreakerState,
    /// Bumped on every transition and every renewed half-open period.
    generation: u64,
    /// Consecutive failures while closed.
    failures: u32,
    /// When the current open period, or half-open period, began.
    since: Instant,
    /// Probe slots held in the current half-open period.
    probes: u32,
    /// Transitions so far (bounded by `MAX_EVENTS`).
    events: Vec<BreakerEvent>,
}

impl Breaker {
    /// A closed breaker.
    pub fn new(settings: BreakerSettings) -> Breaker {
        Breaker {
            settings,
            inner: Mutex::new(Inner {
                state: BreakerState::Closed,
                generation: 0,
                failures: 0,
                since: Instant::now(),
                probes: 0,
                events: Vec::new(),
            }),
        }
    }

    /// What `outcome` says about the upstream.
    fn verdict(&self, outcome: &Outcome) -> Verdict {
        use Verdict::*;
        let counted = |yes: bool| if yes { Failure } else { Neutral };
        match outcome {
            Outcome::Ok => Success,
            Outcome::Status(429) => counted(self.settings.count_429),
            Outcome::Status(code) if *code >= 500 || *code == 408 => Failure,
            // Other 4xx are the caller's fault, and say the upstream is alive.
            Outcome::Status(_) => Success,
            // Our own pool or cancellation say nothing about the upstream.
            Outcome::Timeout(Phase::Pool) | Outcome::Cancelled => Neutral,
            Outcome::Timeout(_) => counted(self.settings.count_timeouts),
            // Not processed (a connection being drained, a stream limit): the server is alive.
            Outcome::Io(IoKind::GoAway | IoKind::RefusedStream) => Neutral,
            // A 2xx that is not a valid answer is a failing relay, whatever its status says.
            Outcome::ConnectError | Outcome::Io(_) | Outcome::BadResponse => Failure,
            Outcome::CircuitOpen | Outcome::BudgetExhausted | Outcome::InternalError => Neutral,
        }
    }

    /// Admits an attempt at `now`, or refuses it (the circuit is open, or half-open with every
    /// probe slot taken) and says when asking again may succeed.
    pub fn admit(&self, now: Instant) -> Result<Ticket<'_>, Rejected> {
        if !self.settings.enabled {
            return Ok(Ticket {
                breaker: None,
                generation: 0,
                probe: false,
            });
        }
        let period = self.settings.recovery_timeout.0;
        let mut s = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let elapsed = now.saturating_duration_since(s.since);
        match s.state {
            BreakerState::Open if elapsed >= period => s.transition(BreakerState::HalfOpen, now),
            // Probes that gave no verdict for a whole period (hung, or slower than the
            // period) lose their slots: a new half-open period starts with fresh ones, and
            // the late results of the old probes are ignored like any other stale result.
            BreakerState::HalfOpen if elapsed >= period => s.renew_half_open(now),
            _ => {}
        }
        let generation = s.generation;
        let admitted = |probe| Ticket {
            breaker: Some(self),
            generation,
            probe,
        };
        match s.state {
            BreakerState::Closed => Ok(admitted(false)),
            BreakerState::HalfOpen if s.probes < self.settings.half_open_max_calls.max(1) => {
                s.probes += 1;
                Ok(admitted(true))
            }
            BreakerState::HalfOpen => Err(Rejected {
                retry_at: (now + HALF_OPEN_RECHECK).min(s.since + period),
            }),
            BreakerState::Open => Err(Rejected {
                retry_at: s.since + period,
            }),
        }
    }

    /// Applies the success or failure of an attempt admitted in `generation`.
    fn record(&self, generation: u64, success: bool, now: Instant) {
        let mut s = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if generation != s.generation {
            // Admitted in an earlier state: its result says nothing about this one.
            return;
        }
        match (s.state, success) {
            (BreakerState::Closed, true) => s.failures = 0,
            (BreakerState::Closed, false) => {
                s.failures += 1;
                if s.failures >= self.settings.failure_threshold.max(1) {
                    s.transition(BreakerState::Open, now);
                }
            }
            (BreakerState::HalfOpen, true) => s.transition(BreakerState::Closed, now),
            (BreakerState::HalfOpen, false) => s.transition(BreakerState::Open, now),
            (BreakerState::Open, _) => {}
        }
    }

    /// Gives back the slot of a probe admitted in `generation` that ended without a verdict.
    fn release_probe(&self, generation: u64) {
        let mut s = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        // A slot of an earlier period was already reclaimed when that period ended.
        if generation == s.generation && s.state == BreakerState::HalfOpen {
            s.probes = s.probes.saturating_sub(1);
        }
    }

    /// The state right now (without moving open → half-open); read once per second by live displays.
    pub fn state(&self) -> BreakerState {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).state
    }

    /// Probe slots held right now.
    #[cfg(test)]
    fn probes(&self) -> u32 {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).probes
    }

    /// Every transition so far, oldest first.
    pub fn events(&self) -> Vec<BreakerEvent> {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .events
            .clone()
    }
}

impl Ticket<'_> {
    /// Reports the admitted attempt's outcome (it ended at `now`).
    pub fn settle(mut self, outcome: &Outcome, now: Instant) {
        let Some(breaker) = self.breaker.take() else {
            return;
        };
        match breaker.verdict(outcome) {
            Verdict::Success => breaker.record(self.generation, true, now),
            Verdict::Failure => breaker.record(self.generation, false, now),
            Verdict::Neutral if self.probe => breaker.release_probe(self.generation),
            Verdict::Neutral => {}
        }
    }
}

impl Drop for Ticket<'_> {
    /// Unsettled: the attempt never ran to an outcome, which is neutral.
    fn drop(&mut self) {
        if let Some(breaker) = self.breaker.take() {
            if self.probe {
                breaker.release_probe(self.generation);
            }
        }
    }
}

impl Inner {
    fn transition(&mut self, to: BreakerState, now: Instant) {
        let from = self.state;
        self.state = to;
        self.generation += 1;
        self.failures = 0;
        self.probes = 0;
        self.since = now;
        if self.events.len() < MAX_EVENTS {
            self.events.push(BreakerEvent { at: now, from, to });
        }
    }

    /// Starts a fresh half-open period (not a state change, so no event).
    fn renew_half_open(&mut self, now: Instant) {
        self.generation += 1;
        self.probes = 0;
        self.since = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::units::Dur;
    use BreakerState::*;

    fn breaker() -> Breaker {
        Breaker::new(BreakerSettings {
            enabled: true,
            failure_threshold: 3,
            recovery_timeout: Dur::secs(10),
            half_open_max_calls: 2,
            ..BreakerSettings::default()
        })
    }

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    fn fail(b: &Breaker, now: Instant) {
        b.admit(now)
            .expect("admitted")
            .settle(&Outcome::Status(503), now);
    }

    /// A breaker (threshold 3, 10 s recovery, `probes` slots) opened at `t0`.
    fn opened(probes: u32, t0: Instant) -> Breaker {
        let b = Breaker::new(BreakerSettings {
            half_open_max_calls: probes,
            ..breaker().settings
        });
        (0..3).for_each(|_| fail(&b, t0));
        assert_eq!(b.state(), Open);
        b
    }

    /// Every outcome the client can produce.
    fn every_outcome() -> Vec<Outcome> {
        Outcome::every(&[200, 204, 400, 404, 408, 429, 500, 502, 503, 504])
    }

    #[test]
    fn opens_after_consecutive_failures_only() {
        let b = breaker();
        let t0 = Instant::now();
        fail(&b, t0);
        fail(&b, t0);
        b.admit(t0).unwrap().settle(&Outcome::Ok, t0);
        fail(&b, t0);
        fail(&b, t0);
        assert_eq!(b.state(), Closed);
        fail(&b, t0);
        assert_eq!(b.state(), Open);
        assert_eq!(
            b.admit(t0 + secs(9)).unwrap_err(),
            Rejected {
                retry_at: t0 + secs(10)
            },
            "an open circuit says when it admits probes"
        );
    }

    #[test]
    fn half_open_admits_probes_then_closes_or_reopens() {
        let b = breaker();
        let t0 = Instant::now();
        (0..3).for_each(|_| fail(&b, t0));
        let t1 = t0 + secs(10);
        let p1 = b.admit(t1).expect("probe 1");
        let p2 = b.admit(t1).expect("probe 2");
        assert!(b.admit(t1).is_err(), "only two probes");
        assert_eq!(b.state(), HalfOpen);
        p1.settle(&Outcome::Timeout(Phase::Read), t1);
        assert_eq!(b.state(), Open);
        // The second probe's late success belongs to an old generation and changes nothing.
        p2.settle(&Outcome::Ok, t1);
        assert_eq!(b.state(), Open);
        let t2 = t1 + secs(10);
        b.admit(t2).unwrap().settle(&Outcome::Ok, t2);
        assert_eq!(b.state(), Closed);
        let path: Vec<_> = b.events().iter().map(|e| (e.from, e.to)).collect();
        assert_eq!(
            path,
            vec![
                (Closed, Open),
                (Open, HalfOpen),
                (HalfOpen, Open),
                (Open, HalfOpen),
                (HalfOpen, Closed)
            ]
        );
        assert_eq!(b.events()[1].at, t1);
    }

    #[test]
    fn every_outcome_has_a_verdict_that_follows_the_switches() {
        use Verdict::*;
        let b = breaker();
        let counting = Breaker::new(BreakerSettings {
            count_429: true,
            count_timeouts: false,
            ..breaker().settings
        });
        for outcome in every_outcome() {
            let expected = match outcome {
                Outcome::Ok => Success,
                Outcome::Status(429) => Neutral,
                Outcome::Status(s) if s >= 500 || s == 408 => Failure,
                Outcome::Status(_) => Success,
                Outcome::Timeout(Phase::Pool) => Neutral,
                Outcome::Timeout(_) => Failure,
                Outcome::Io(IoKind::GoAway | IoKind::RefusedStream) => Neutral,
                Outcome::Io(_) | Outcome::ConnectError | Outcome::BadResponse => Failure,
                Outcome::Cancelled
                | Outcome::CircuitOpen
                | Outcome::BudgetExhausted
                | Outcome::InternalError => Neutral,
            };
            assert_eq!(b.verdict(&outcome), expected, "{outcome}");
            let switched = match outcome {
                Outcome::Status(429) => Failure,
                Outcome::Timeout(Phase::Pool) => Neutral,
                Outcome::Timeout(_) => Neutral,
                _ => expected,
            };
            assert_eq!(counting.verdict(&outcome), switched, "{outcome} (switched)");
        }
    }

    #[test]
    fn every_neutral_probe_gives_its_slot_back() {
        // The defect: while half-open, a probe whose outcome was neutral kept its slot for
        // good, and with every slot gone the circuit stayed half-open, rejecting everything.
        let settings = BreakerSettings {
            count_timeouts: false,
            ..breaker().settings
        };
        let neutral: Vec<Outcome> = every_outcome()
            .into_iter()
            .filter(|o| Breaker::new(settings.clone()).verdict(o) == Verdict::Neutral)
            .collect();
        assert!(neutral.len() >= 10, "{neutral:?}");
        for outcome in neutral {
            let t0 = Instant::now();
            let b = Breaker::new(BreakerSettings {
                half_open_max_calls: 1,
                ..settings.clone()
            });
            (0..3).for_each(|_| fail(&b, t0));
            let t1 = t0 + secs(10);
            for round in 0..5 {
                let probe = b
                    .admit(t1)
                    .unwrap_or_else(|_| panic!("{outcome}: probe {round}"));
                assert!(b.admit(t1).is_err(), "{outcome}: one slot");
                probe.settle(&outcome, t1);
                assert_eq!((b.state(), b.probes()), (HalfOpen, 0), "{outcome}");
            }
            b.admit(t1).unwrap().settle(&Outcome::Ok, t1);
            assert_eq!(b.state(), Closed, "{outcome}: the healthy probe closes it");
        }
    }

    #[test]
    fn a_probe_dropped_unsettled_gives_its_slot_back() {
        let t0 = Instant::now();
        let b = opened(1, t0);
        let t1 = t0 + secs(10);
        let probe = b.admit(t1).expect("probe");
        assert!(b.admit(t1).is_err());
        // The request was cancelled, or a later policy (the spend guard) refused the attempt.
        drop(probe);
        assert_eq!(b.probes(), 0);
        b.admit(t1).expect("slot back").settle(&Outcome::Ok, t1);
        assert_eq!(b.state(), Closed);
        // A closed-state ticket dropped unsettled changes nothing.
        drop(b.admit(t1).unwrap());
        assert_eq!((b.state(), b.events().len()), (Closed, 3));
    }

    #[test]
    fn half_open_is_bounded_in_time() {
        let t0 = Instant::now();
        let b = opened(1, t0);
        let t1 = t0 + secs(10);
        let hung = b.admit(t1).expect("probe");
        // While the probe is out, a rejected request is told to ask again shortly ...
        assert_eq!(
            b.admit(t1 + secs(1)).unwrap_err().retry_at,
            t1 + secs(1) + HALF_OPEN_RECHECK
        );
        // ... never later than the end of the half-open period.
        let near_end = t1 + secs(10) - Duration::from_millis(30);
        assert_eq!(b.admit(near_end).unwrap_err().retry_at, t1 + secs(10));
        // The probe gave no verdict within the period: its slot is reclaimed.
        let t2 = t1 + secs(10);
        let fresh = b.admit(t2).expect("a fresh period admits a new probe");
        assert_eq!(b.state(), HalfOpen);
        // The hung probe's late answer belongs to the expired period: ignored.
        hung.settle(&Outcome::Ok, t2);
        assert_eq!((b.state(), b.probes()), (HalfOpen, 1));
        fresh.settle(&Outcome::Ok, t2);
        assert_eq!(b.state(), Closed);
        let path: Vec<_> = b.events().iter().map(|e| (e.from, e.to)).collect();
        assert_eq!(
            path,
            vec![(Closed, Open), (Open, HalfOpen), (HalfOpen, Closed)]
        );
    }

    #[test]
    fn rate_limits_and_pool_timeouts_do_not_count_by_default() {
        let b = breaker();
        let t0 = Instant::now();
        for outcome in [Outcome::Status(429), Outcome::Timeout(Phase::Pool)] {
            for _ in 0..5 {
                b.admit(t0).unwrap().settle(&outcome, t0);
            }
        }
        assert_eq!(b.state(), Closed);
        let counting = Breaker::new(BreakerSettings {
            count_429: true,
            failure_threshold: 2,
            ..breaker().settings
        });
        for _ in 0..2 {
            counting
                .admit(t0)
                .unwrap()
                .settle(&Outcome::Status(429), t0);
        }
        assert_eq!(counting.state(), Open);
    }

    #[test]
    fn off_by_default_and_a_disabled_breaker_never_rejects() {
        assert!(!BreakerSettings::default().enabled);
        let b = Breaker::new(BreakerSettings {
            enabled: false,
            failure_threshold: 1,
            ..BreakerSettings::default()
        });
        let t0 = Instant::now();
        for _ in 0..10 {
            b.admit(t0)
                .expect("always admitted")
                .settle(&Outcome::ConnectError, t0);
        }
        assert!(b.events().is_empty());
    }
}
