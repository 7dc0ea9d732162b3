//! The circuit breaker: closed → open after consecutive failures → half-open probes → closed or open again, with every transition timestamped for reports.
//!
//! The breaker is asked before every attempt (first tries and retries), so during an outage
//! the upstream sees at most `failure_threshold` failing attempts, then `half_open_max_calls`
//! probes per `recovery_timeout`. Results of attempts admitted in an earlier state (a
//! "generation") are ignored: a slow failure from before the circuit opened must not
//! re-open a circuit that has since recovered.

use super::settings::BreakerSettings;
use crate::outcome::{Outcome, Phase};
use serde::Serialize;
use std::{sync::Mutex, time::Instant};

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

/// Proof of admission; hand it back with the attempt's outcome.
#[derive(Clone, Copy, Debug)]
pub struct Ticket {
    /// The state generation the attempt was admitted in.
    generation: u64,
}

/// A circuit breaker shared by all requests of one client.
#[derive(Debug)]
pub struct Breaker {
    /// The user's settings.
    settings: BreakerSettings,
    /// Mutable state; held only for a few instructions.
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    state: BreakerState,
    /// Bumped on every transition.
    generation: u64,
    /// Consecutive failures while closed.
    failures: u32,
    /// When the circuit last opened.
    opened_at: Instant,
    /// Probes admitted in the current half-open period.
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
                opened_at: Instant::now(),
                probes: 0,
                events: Vec::new(),
            }),
        }
    }

    /// Whether `outcome` counts as a failure of the upstream (`None` = neutral, neither success nor failure).
    fn classify(&self, outcome: &Outcome) -> Option<bool> {
        match outcome {
            Outcome::Ok => Some(true),
            Outcome::Status(429) => self.settings.count_429.then_some(false),
            Outcome::Status(code) if *code >= 500 || *code == 408 => Some(false),
            // Other 4xx are the caller's fault, and say the upstream is alive.
            Outcome::Status(_) => Some(true),
            // Our own pool or cancellation say nothing about the upstream.
            Outcome::Timeout(Phase::Pool) | Outcome::Cancelled => None,
            Outcome::Timeout(_) => self.settings.count_timeouts.then_some(false),
            Outcome::ConnectError | Outcome::Io(_) | Outcome::BadResponse => Some(false),
            Outcome::CircuitOpen | Outcome::BudgetExhausted | Outcome::InternalError => None,
        }
    }

    /// Admits an attempt at `now`, or refuses it (the circuit is open or the probes are used up).
    pub fn admit(&self, now: Instant) -> Option<Ticket> {
        if !self.settings.enabled {
            return Some(Ticket { generation: 0 });
        }
        let mut s = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if s.state == BreakerState::Open
            && now.saturating_duration_since(s.opened_at) >= self.settings.recovery_timeout.0
        {
            s.transition(BreakerState::HalfOpen, now);
        }
        match s.state {
            BreakerState::Closed => Some(Ticket {
                generation: s.generation,
            }),
            BreakerState::Open => None,
            BreakerState::HalfOpen if s.probes < self.settings.half_open_max_calls.max(1) => {
                s.probes += 1;
                Some(Ticket {
                    generation: s.generation,
                })
            }
            BreakerState::HalfOpen => None,
        }
    }

    /// Records the outcome of an admitted attempt.
    pub fn record(&self, ticket: Ticket, outcome: &Outcome, now: Instant) {
        if !self.settings.enabled {
            return;
        }
        let Some(success) = self.classify(outcome) else {
            return;
        };
        let mut s = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if ticket.generation != s.generation {
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

    /// The state right now (without moving open → half-open).
    #[cfg(test)]
    pub fn state(&self) -> BreakerState {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).state
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

impl Inner {
    fn transition(&mut self, to: BreakerState, now: Instant) {
        let from = self.state;
        self.state = to;
        self.generation += 1;
        self.failures = 0;
        self.probes = 0;
        if to == BreakerState::Open {
            self.opened_at = now;
        }
        if self.events.len() < MAX_EVENTS {
            self.events.push(BreakerEvent { at: now, from, to });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::units::Dur;
    use std::time::Duration;
    use BreakerState::*;

    fn breaker() -> Breaker {
        Breaker::new(BreakerSettings {
            failure_threshold: 3,
            recovery_timeout: Dur::secs(10),
            half_open_max_calls: 2,
            ..BreakerSettings::default()
        })
    }

    fn fail(b: &Breaker, now: Instant) {
        let t = b.admit(now).expect("admitted");
        b.record(t, &Outcome::Status(503), now);
    }

    #[test]
    fn opens_after_consecutive_failures_only() {
        let b = breaker();
        let t0 = Instant::now();
        fail(&b, t0);
        fail(&b, t0);
        let t = b.admit(t0).unwrap();
        b.record(t, &Outcome::Ok, t0);
        fail(&b, t0);
        fail(&b, t0);
        assert_eq!(b.state(), Closed);
        fail(&b, t0);
        assert_eq!(b.state(), Open);
        assert!(b.admit(t0 + Duration::from_secs(9)).is_none());
    }

    #[test]
    fn half_open_admits_probes_then_closes_or_reopens() {
        let b = breaker();
        let t0 = Instant::now();
        (0..3).for_each(|_| fail(&b, t0));
        let t1 = t0 + Duration::from_secs(10);
        let p1 = b.admit(t1).expect("probe 1");
        let p2 = b.admit(t1).expect("probe 2");
        assert!(b.admit(t1).is_none(), "only two probes");
        assert_eq!(b.state(), HalfOpen);
        b.record(p1, &Outcome::Timeout(Phase::Read), t1);
        assert_eq!(b.state(), Open);
        // The second probe's late success belongs to an old generation and changes nothing.
        b.record(p2, &Outcome::Ok, t1);
        assert_eq!(b.state(), Open);
        let t2 = t1 + Duration::from_secs(10);
        let p = b.admit(t2).unwrap();
        b.record(p, &Outcome::Ok, t2);
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
    fn rate_limits_and_pool_timeouts_do_not_count_by_default() {
        let b = breaker();
        let t0 = Instant::now();
        for outcome in [Outcome::Status(429), Outcome::Timeout(Phase::Pool)] {
            for _ in 0..5 {
                let t = b.admit(t0).unwrap();
                b.record(t, &outcome, t0);
            }
        }
        assert_eq!(b.state(), Closed);
        let counting = Breaker::new(BreakerSettings {
            count_429: true,
            failure_threshold: 2,
            ..BreakerSettings::default()
        });
        for _ in 0..2 {
            let t = counting.admit(t0).unwrap();
            counting.record(t, &Outcome::Status(429), t0);
        }
        assert_eq!(counting.state(), Open);
    }

    #[test]
    fn disabled_breaker_never_rejects() {
        let b = Breaker::new(BreakerSettings {
            enabled: false,
            failure_threshold: 1,
            ..BreakerSettings::default()
        });
        let t0 = Instant::now();
        for _ in 0..10 {
            let t = b.admit(t0).expect("always admitted");
            b.record(t, &Outcome::ConnectError, t0);
        }
        assert!(b.events().is_empty());
    }
}
