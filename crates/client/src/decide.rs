//! What follows an attempt — send the next one, retry after a wait, or stop with the request's final outcome — as functions of (what happened, the policies' state, now), apart from all I/O.
//!
//! `Client::execute` only carries these out. The rules, in the order they apply:
//!
//! - before every attempt, the breaker admits it or not ([`admit`]): a first attempt refused
//!   is `circuit_open`; a refused retry leaves the request with its last attempt's outcome;
//! - after an attempt ([`after_attempt`]): an outcome the retry settings do not retry is
//!   final; so is one past `max_retries`; a server hint (`Retry-After`, `retry-after-ms`)
//!   above `max_retry_after` means "do not retry", a hint within it is the wait, otherwise the
//!   jittered backoff is; no attempt may start at or after the deadline; the retry budget is
//!   asked last (so a retry that would not happen anyway does not spend it), and its refusal
//!   is `budget_exhausted`.
//!
//! A request that stops because nothing could usefully be sent says when sending again makes
//! sense ([`Stop::not_before`], documented on `Exchange::retry_not_before`).

use crate::{
    breaker::{Breaker, Ticket},
    budget::RetryBudget,
    exchange::RetryReason,
    outcome::{Outcome, Phase},
    retry::{Hint, RetryPolicy},
};
use rand::{rngs::SmallRng, SeedableRng};
use std::time::{Duration, Instant};

/// How an attempt ended, as far as the decision is concerned.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ended {
    /// The attempt's outcome.
    pub outcome: Outcome,
    /// The wait the server asked for (`retry-after-ms` or `Retry-After`), if it asked.
    pub server_wait: Option<Duration>,
}

/// One logical request's way through its attempts: the per-request part of the policy state.
#[derive(Debug)]
pub(crate) struct Progress {
    /// Retries granted so far.
    retries: u32,
    /// The last wait before a retry (decorrelated jitter grows from it).
    last_wait: Duration,
    /// No attempt may start at or after this instant.
    deadline: Option<Instant>,
    /// Jitter's randomness, seeded on first use (most requests never retry).
    rng: Option<SmallRng>,
}

impl Progress {
    /// A request that has made no attempt yet.
    pub(crate) fn new(deadline: Option<Instant>) -> Progress {
        Progress {
            retries: 0,
            last_wait: Duration::ZERO,
            deadline,
            rng: None,
        }
    }

    /// The request's deadline.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    fn backoff(&mut self, retry: &RetryPolicy) -> Duration {
        let rng = self.rng.get_or_insert_with(SmallRng::from_entropy);
        retry.backoff(self.retries, self.last_wait, rng)
    }
}

/// What to do after an attempt.
#[derive(Debug, PartialEq)]
pub(crate) enum Next {
    /// Wait, then send again (a retry, counted under `reason`).
    Retry {
        /// How long to wait first.
        wait: Duration,
        /// Why the attempt is retried.
        reason: RetryReason,
    },
    /// The request ends.
    Stop(Stop),
}

/// How a request ends.
#[derive(Debug, PartialEq)]
pub(crate) struct Stop {
    /// Its outcome.
    pub outcome: Outcome,
    /// Why it ends here.
    pub why: Why,
    /// When sending again makes sense, for a request that ended without anything useful
    /// being sent (see `Exchange::retry_not_before`).
    pub not_before: Option<Instant>,
}

/// Why a request ends where it does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Why {
    /// The outcome is final: a success, or a failure the retry settings do not retry.
    Final,
    /// `max_retries` retries were made.
    RetriesExhausted,
    /// The server asked for a wait above `max_retry_after`.
    HintTooLong(Duration),
    /// The next attempt would start at or after the deadline.
    Deadline,
    /// The retry budget refused the retry of an attempt that ended with this outcome.
    Budget(Outcome),
    /// The circuit breaker refused the attempt.
    Breaker,
    /// The attempt guard refused a retry, for this reason.
    Guard(String),
}

impl Stop {
    /// The request's detail line, given whether any attempt was made and the last one's
    /// detail: `None` keeps the attempt's own.
    pub(crate) fn detail(&self, attempted: bool, last: Option<&str>) -> Option<String> {
        let refused = |what: &str| match last {
            Some(last) => format!("{last} — retry refused by {what}"),
            None => format!("retry refused by {what}"),
        };
        match &self.why {
            Why::Final | Why::RetriesExhausted | Why::Deadline => None,
            Why::HintTooLong(wait) => Some(format!(
                "not retried: server asked to wait {wait:?}, above max_retry_after"
            )),
            Why::Budget(refused) => {
                Some(format!("retry after {refused} refused by the retry budget"))
            }
            Why::Breaker if !attempted => Some("circuit breaker is open".into()),
            Why::Breaker => Some(refused("the circuit breaker (open)")),
            Why::Guard(why) => Some(refused(&format!("the attempt guard: {why}"))),
        }
    }
}

/// Asks the breaker whether the next attempt may be sent at `now`; `last` is the previous
/// attempt's outcome (`None` before the first attempt).
pub(crate) fn admit(
    breaker: &Breaker,
    last: Option<Outcome>,
    now: Instant,
) -> Result<Ticket<'_>, Stop> {
    breaker.admit(now).map_err(|rejected| Stop {
        outcome: last.unwrap_or(Outcome::CircuitOpen),
        why: Why::Breaker,
        not_before: Some(rejected.retry_at),
    })
}

/// The attempt guard refused a retry: the request keeps its last attempt's outcome. (A
/// refused first attempt is no outcome at all: the caller reports it apart.)
pub(crate) fn guard_refused(last: Outcome, why: String) -> Stop {
    Stop {
        outcome: last,
        why: Why::Guard(why),
        not_before: None,
    }
}

/// Decides what follows an attempt that ended at `now` as `ended` says. Withdraws from the
/// budget (its only side effect besides `progress`) when, and only when, it decides to retry.
pub(crate) fn after_attempt(
    retry: &RetryPolicy,
    budget: Option<&RetryBudget>,
    progress: &mut Progress,
    ended: &Ended,
    now: Instant,
) -> Next {
    let outcome = ended.outcome;
    let Some(reason) = retry.reason(&outcome) else {
        return stop(retry, progress, outcome, Why::Final, now);
    };
    if progress.retries >= retry.max_retries() {
        return stop(retry, progress, outcome, Why::RetriesExhausted, now);
    }
    let wait = match retry.hint(ended.server_wait) {
        Hint::TooLong(asked) => {
            return stop(retry, progress, outcome, Why::HintTooLong(asked), now)
        }
        Hint::Wait(wait) => wait,
        Hint::None => progress.backoff(retry),
    };
    if progress.deadline.is_some_and(|at| now + wait >= at) {
        // No attempt may start after the deadline: give up now rather than sleep into it.
        return stop(retry, progress, outcome, Why::Deadline, now);
    }
    if budget.is_some_and(|b| !b.withdraw_at(now)) {
        return Next::Stop(Stop {
            outcome: Outcome::BudgetExhausted,
            why: Why::Budget(outcome),
            not_before: Some(now + wait),
        });
    }
    progress.retries += 1;
    progress.last_wait = wait;
    Next::Retry { wait, reason }
}

/// Ends the request with its attempt's `outcome`. When no connection could be made (nothing
/// reached the upstream), it says to wait the backoff the next retry would have slept.
fn stop(
    retry: &RetryPolicy,
    progress: &mut Progress,
    outcome: Outcome,
    why: Why,
    now: Instant,
) -> Next {
    let unreached = matches!(
        outcome,
        Outcome::ConnectError | Outcome::Timeout(Phase::Connect)
    );
    Next::Stop(Stop {
        outcome,
        why,
        not_before: unreached.then(|| now + progress.backoff(retry)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::IoKind;
    use crate::settings::{BreakerSettings, Jitter, RetrySettings};
    use crate::units::Dur;
    use http::HeaderMap;
    use std::time::SystemTime;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// The defaults (3 retries, backoff 1 s, 1 s, 2 s, 4 s ... capped at 10 s, no jitter).
    fn policy() -> RetryPolicy {
        RetryPolicy::new(RetrySettings::default())
    }

    fn ended(outcome: Outcome) -> Ended {
        Ended {
            outcome,
            server_wait: None,
        }
    }

    fn hinted(outcome: Outcome, wait: Duration) -> Ended {
        Ended {
            outcome,
            server_wait: Some(wait),
        }
    }

    fn retry(wait: Duration, reason: RetryReason) -> Next {
        Next::Retry { wait, reason }
    }

    fn stopped(outcome: Outcome, why: Why, not_before: Option<Instant>) -> Next {
        Next::Stop(Stop {
            outcome,
            why,
            not_before,
        })
    }

    /// Every outcome an attempt can end with.
    fn every_outcome() -> Vec<Outcome> {
        Outcome::every(&[400, 401, 404, 408, 409, 429, 500, 501, 502, 503, 504])
    }

    #[test]
    fn every_outcome_kind_is_retried_or_final_as_the_settings_say() {
        let t0 = Instant::now();
        let first = ms(1000);
        for outcome in every_outcome() {
            let expected = match outcome {
                Outcome::Status(code @ (408 | 429 | 500 | 502 | 503 | 504)) => {
                    retry(first, RetryReason::Status(code))
                }
                Outcome::ConnectError | Outcome::Timeout(Phase::Connect) => {
                    retry(first, RetryReason::Connect)
                }
                Outcome::Timeout(Phase::Write | Phase::Read) => retry(first, RetryReason::Timeout),
                Outcome::Io(IoKind::Reset | IoKind::Truncated) => retry(first, RetryReason::Reset),
                Outcome::Io(IoKind::GoAway | IoKind::RefusedStream) => {
                    retry(first, RetryReason::Unprocessed)
                }
                Outcome::Ok
                | Outcome::Status(_)
                | Outcome::Timeout(Phase::Pool | Phase::Deadline)
                | Outcome::Io(
                    IoKind::BadSse | IoKind::Protocol | IoKind::BodyTooLarge | IoKind::Other,
                )
                | Outcome::CircuitOpen
                | Outcome::BudgetExhausted
                | Outcome::Cancelled
                | Outcome::BadResponse
                | Outcome::InternalError => stopped(outcome, Why::Final, None),
            };
            let mut progress = Progress::new(None);
            let got = after_attempt(&policy(), None, &mut progress, &ended(outcome), t0);
            assert_eq!(got, expected, "{outcome}");
        }
    }

    #[test]
    fn with_every_switch_off_only_unprocessed_requests_are_retried() {
        let strict = RetryPolicy::new(RetrySettings {
            on_status: vec![],
            on_connect_error: false,
            on_timeout: false,
            on_reset: false,
            ..RetrySettings::default()
        });
        let t0 = Instant::now();
        for outcome in every_outcome() {
            let got = after_attempt(&strict, None, &mut Progress::new(None), &ended(outcome), t0);
            match outcome {
                Outcome::Io(IoKind::GoAway | IoKind::RefusedStream) => {
                    assert_eq!(got, retry(ms(1000), RetryReason::Unprocessed))
                }
                _ => assert!(
                    matches!(&got, Next::Stop(s) if s.outcome == outcome && s.why == Why::Final),
                    "{outcome}: {got:?}"
                ),
            }
        }
    }

    #[test]
    fn max_retries_bounds_the_attempts_and_the_backoff_grows() {
        let t0 = Instant::now();
        let mut progress = Progress::new(None);
        let e503 = ended(Outcome::Status(503));
        let mut waits = Vec::new();
        loop {
            match after_attempt(&policy(), None, &mut progress, &e503, t0) {
                Next::Retry { wait, .. } => waits.push(wait),
                Next::Stop(stop) => {
                    assert_eq!(
                        stop,
                        Stop {
                            outcome: Outcome::Status(503),
                            why: Why::RetriesExhausted,
                            not_before: None
                        }
                    );
                    break;
                }
            }
        }
        assert_eq!(waits, vec![ms(1000), ms(1000), ms(2000)]);
        let none = RetryPolicy::new(RetrySettings {
            max_retries: 0,
            ..RetrySettings::default()
        });
        let got = after_attempt(&none, None, &mut Progress::new(None), &e503, t0);
        assert_eq!(
            got,
            stopped(Outcome::Status(503), Why::RetriesExhausted, None)
        );
    }

    #[test]
    fn server_hints_set_the_wait_within_max_retry_after_and_stop_beyond_it() {
        let t0 = Instant::now();
        let policy = RetryPolicy::new(RetrySettings {
            max_retry_after: Dur::secs(5),
            ..RetrySettings::default()
        });
        let e429 = |wait| hinted(Outcome::Status(429), wait);
        let decide = |e: &Ended| after_attempt(&policy, None, &mut Progress::new(None), e, t0);
        let r429 = RetryReason::Status(429);
        // None: the backoff. Wait: that wait, even below the backoff's minimum, up to the bound.
        assert_eq!(decide(&ended(Outcome::Status(429))), retry(ms(1000), r429));
        assert_eq!(decide(&e429(ms(200))), retry(ms(200), r429));
        assert_eq!(decide(&e429(ms(5000))), retry(ms(5000), r429));
        // TooLong: not retried, and the request says why.
        let too_long = decide(&e429(ms(5001)));
        assert_eq!(
            too_long,
            stopped(Outcome::Status(429), Why::HintTooLong(ms(5001)), None)
        );
        // An HTTP date is a wait relative to the wall clock when the response came.
        let wall = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut headers = HeaderMap::new();
        let date = httpdate::fmt_http_date(wall + Duration::from_secs(3));
        headers.insert("retry-after", date.parse().unwrap());
        let from_date = crate::retry::parse_retry_after(&headers, wall);
        assert_eq!(
            decide(&Ended {
                server_wait: from_date,
                ..e429(ms(0))
            }),
            retry(ms(3000), r429)
        );
        let past = httpdate::fmt_http_date(wall - Duration::from_secs(3));
        headers.insert("retry-after", past.parse().unwrap());
        let from_past = crate::retry::parse_retry_after(&headers, wall);
        assert_eq!(
            decide(&Ended {
                server_wait: from_past,
                ..e429(ms(0))
            }),
            retry(ms(0), r429)
        );
        // Hints ignored when asked to: the backoff.
        let ignoring = RetryPolicy::new(RetrySettings {
            respect_retry_after: false,
            max_retry_after: Dur::secs(5),
            ..RetrySettings::default()
        });
        let got = after_attempt(
            &ignoring,
            None,
            &mut Progress::new(None),
            &e429(ms(9000)),
            t0,
        );
        assert_eq!(got, retry(ms(1000), r429));
    }

    #[test]
    fn no_attempt_starts_at_or_after_the_deadline() {
        let t0 = Instant::now();
        let e500 = ended(Outcome::Status(500));
        let decide = |deadline: Instant, e: &Ended| {
            after_attempt(&policy(), None, &mut Progress::new(Some(deadline)), e, t0)
        };
        // The 1 s backoff would end exactly at the deadline: stop now, with the attempt's outcome.
        assert_eq!(
            decide(t0 + ms(1000), &e500),
            stopped(Outcome::Status(500), Why::Deadline, None)
        );
        assert_eq!(
            decide(t0 + ms(1001), &e500),
            retry(ms(1000), RetryReason::Status(500))
        );
        // A hint counts the same way.
        let hint = hinted(Outcome::Status(503), ms(200));
        assert_eq!(
            decide(t0 + ms(150), &hint),
            stopped(Outcome::Status(503), Why::Deadline, None)
        );
        // A deadline already passed stops whatever the wait.
        assert_eq!(
            decide(t0, &hinted(Outcome::Status(503), ms(0))),
            stopped(Outcome::Status(503), Why::Deadline, None)
        );
    }

    #[test]
    fn the_budget_is_asked_last_and_its_refusal_is_budget_exhausted() {
        let t0 = Instant::now();
        // One retry allowed in the window, whatever the traffic.
        let budget = RetryBudget::new(0.0, 1, Duration::from_secs(1));
        let decide =
            |e: &Ended| after_attempt(&policy(), Some(&budget), &mut Progress::new(None), e, t0);
        // Outcomes that are not retried, and a hint above the bound, spend nothing.
        assert_eq!(
            decide(&ended(Outcome::Ok)),
            stopped(Outcome::Ok, Why::Final, None)
        );
        assert!(matches!(
            decide(&ended(Outcome::Status(404))),
            Next::Stop(_)
        ));
        assert!(matches!(
            decide(&hinted(Outcome::Status(429), Duration::from_secs(120))),
            Next::Stop(Stop {
                why: Why::HintTooLong(_),
                ..
            })
        ));
        let e503 = ended(Outcome::Status(503));
        assert_eq!(decide(&e503), retry(ms(1000), RetryReason::Status(503)));
        // Empty now: the retry it would have made (after 1 s) is refused.
        assert_eq!(
            decide(&e503),
            stopped(
                Outcome::BudgetExhausted,
                Why::Budget(Outcome::Status(503)),
                Some(t0 + ms(1000))
            )
        );
        // A past deadline is decided before the budget: nothing withdrawn, the 503 stays.
        let empty = RetryBudget::new(0.0, 0, Duration::from_secs(1));
        let mut progress = Progress::new(Some(t0));
        let got = after_attempt(&policy(), Some(&empty), &mut progress, &e503, t0);
        assert_eq!(got, stopped(Outcome::Status(503), Why::Deadline, None));
    }

    #[test]
    fn a_request_that_reached_nothing_says_when_to_send_again() {
        let t0 = Instant::now();
        let no_retries = RetryPolicy::new(RetrySettings {
            max_retries: 0,
            ..RetrySettings::default()
        });
        for outcome in [Outcome::ConnectError, Outcome::Timeout(Phase::Connect)] {
            // Retries used up: the backoff the next retry would have slept.
            let got = after_attempt(
                &no_retries,
                None,
                &mut Progress::new(None),
                &ended(outcome),
                t0,
            );
            assert_eq!(
                got,
                stopped(outcome, Why::RetriesExhausted, Some(t0 + ms(1000)))
            );
            // Not retried at all: the same wait.
            let off = RetryPolicy::new(RetrySettings {
                on_connect_error: false,
                ..RetrySettings::default()
            });
            let got = after_attempt(&off, None, &mut Progress::new(None), &ended(outcome), t0);
            assert_eq!(got, stopped(outcome, Why::Final, Some(t0 + ms(1000))));
        }
        // After three retries, the fourth backoff (4 s).
        let mut progress = Progress::new(None);
        let refused = ended(Outcome::ConnectError);
        for _ in 0..3 {
            assert!(matches!(
                after_attempt(&policy(), None, &mut progress, &refused, t0),
                Next::Retry { .. }
            ));
        }
        let got = after_attempt(&policy(), None, &mut progress, &refused, t0);
        assert_eq!(
            got,
            stopped(
                Outcome::ConnectError,
                Why::RetriesExhausted,
                Some(t0 + ms(4000))
            )
        );
        // Answered requests leave it to the load model, whatever they were.
        for outcome in every_outcome() {
            if let Next::Stop(stop) = after_attempt(
                &no_retries,
                None,
                &mut Progress::new(None),
                &ended(outcome),
                t0,
            ) {
                let unreached = matches!(
                    outcome,
                    Outcome::ConnectError | Outcome::Timeout(Phase::Connect)
                );
                assert_eq!(stop.not_before.is_some(), unreached, "{outcome}");
            }
        }
    }

    #[test]
    fn decorrelated_jitter_grows_from_the_last_wait() {
        let policy = RetryPolicy::new(RetrySettings {
            jitter: Jitter::Decorrelated,
            min_backoff: Dur::ms(100),
            max_backoff: Dur::secs(60),
            max_retries: 10,
            ..RetrySettings::default()
        });
        let t0 = Instant::now();
        let mut progress = Progress::new(None);
        let mut previous = ms(100);
        for _ in 0..10 {
            let Next::Retry { wait, .. } = after_attempt(
                &policy,
                None,
                &mut progress,
                &ended(Outcome::Status(502)),
                t0,
            ) else {
                panic!("retried");
            };
            assert!(
                wait >= ms(100) && wait <= previous * 3,
                "{wait:?} after {previous:?}"
            );
            previous = wait.max(ms(100));
        }
    }

    #[test]
    fn the_breaker_is_asked_before_every_attempt() {
        let breaker = Breaker::new(BreakerSettings {
            enabled: true,
            failure_threshold: 1,
            recovery_timeout: Dur::secs(10),
            ..BreakerSettings::default()
        });
        let t0 = Instant::now();
        admit(&breaker, None, t0)
            .expect("closed")
            .settle(&Outcome::Status(503), t0);
        let reopens = Some(t0 + Duration::from_secs(10));
        // A first attempt refused is circuit_open; a refused retry keeps the last outcome.
        let first = admit(&breaker, None, t0 + ms(5)).unwrap_err();
        assert_eq!(
            first,
            Stop {
                outcome: Outcome::CircuitOpen,
                why: Why::Breaker,
                not_before: reopens
            }
        );
        let retry = admit(&breaker, Some(Outcome::Status(503)), t0 + ms(5)).unwrap_err();
        assert_eq!(
            (retry.outcome, retry.not_before),
            (Outcome::Status(503), reopens)
        );
        assert!(admit(&breaker, None, t0 + Duration::from_secs(10)).is_ok());
    }

    #[test]
    fn every_ending_has_its_detail() {
        let stop = |why| Stop {
            outcome: Outcome::Status(503),
            why,
            not_before: None,
        };
        let body = Some("{\"error\":\"down\"}");
        for why in [Why::Final, Why::RetriesExhausted, Why::Deadline] {
            assert_eq!(
                stop(why).detail(true, body),
                None,
                "keeps the attempt's own"
            );
        }
        assert_eq!(
            stop(Why::HintTooLong(Duration::from_secs(90)))
                .detail(true, body)
                .unwrap(),
            "not retried: server asked to wait 90s, above max_retry_after"
        );
        assert_eq!(
            stop(Why::Budget(Outcome::Status(503)))
                .detail(true, body)
                .unwrap(),
            "retry after status_503 refused by the retry budget"
        );
        assert_eq!(
            stop(Why::Breaker).detail(false, None).unwrap(),
            "circuit breaker is open"
        );
        assert_eq!(
            stop(Why::Breaker).detail(true, body).unwrap(),
            "{\"error\":\"down\"} — retry refused by the circuit breaker (open)"
        );
        assert_eq!(
            stop(Why::Breaker).detail(true, None).unwrap(),
            "retry refused by the circuit breaker (open)",
            "a retry of an attempt without a detail (a read timeout)"
        );
        assert_eq!(
            guard_refused(Outcome::Status(503), "max_requests = 50 reached".into())
                .detail(true, body)
                .unwrap(),
            "{\"error\":\"down\"} — retry refused by the attempt guard: max_requests = 50 reached"
        );
    }
}
