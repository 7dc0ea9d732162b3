//! Spend guards for paid APIs: a target's `max_requests` and `max_cost_usd`, enforced before every attempt that could reach the upstream — first tries, retries and warm-up alike — and the run's spend, priced attempt by attempt.
//!
//! The client asks a request's [`RequestSpend`] before each attempt (after the circuit
//! breaker, so a rejected attempt costs nothing), so the guards count what the upstream can
//! bill: `max_requests` caps attempts sent, not logical requests.
//!
//! Cost is known only after an attempt, so each attempt reserves its worst case first (prompt
//! bytes / 4 + 1 input tokens, `max_tokens` — or 4,096 — output tokens) and settles when it
//! ends, so the run stops before its spend *could* exceed the limit. An attempt is settled at:
//! - its `usage` when the response carried it, else the tokens it was seen to produce (a cut
//!   stream is billed for what it streamed), plus the input estimate when `usage` is absent;
//! - nothing when it never went out (no connection) or the upstream answered with an error
//!   status (providers do not bill refused requests);
//! - its reserved worst case when it went out and what it used is unknown (a timeout while the
//!   answer was generating, a reset, a request cancelled at the end of the run): counted as an
//!   *estimated* attempt, so the run's cost is never under-stated.

use crate::{
    client::{AttemptGuard, AttemptUse, Outcome},
    metrics::ledger::Spend,
    scenario::Price,
};
use std::sync::{
    atomic::{AtomicBool, Ordering::Relaxed},
    Mutex,
};

/// Output tokens assumed for a request without `max_tokens`.
const DEFAULT_OUTPUT_ESTIMATE: u64 = 4096;

/// The limits of one target in one run, and what the run spent.
#[derive(Debug, Default)]
pub struct SpendGuard {
    /// Never send more attempts than this (retries and warm-up included).
    max_requests: Option<u64>,
    /// Never let spent + reserved exceed this (USD).
    max_cost_usd: Option<f64>,
    /// Price of the target's model.
    price: Option<Price>,
    /// Mutable state; held only for a few instructions, and never when the guard has nothing
    /// to count (no limit, no price): the request path then takes no lock.
    state: Mutex<Ledger>,
    /// Set once the guard refused an attempt, read on the request path without the lock.
    tripped: AtomicBool,
}

/// What the guard has counted so far.
#[derive(Debug, Default)]
struct Ledger {
    /// Attempts admitted and not refunded (an admitted attempt that never went out is refunded).
    attempts: u64,
    /// USD reserved by attempts in flight.
    reserved: f64,
    /// The run's spend so far.
    spend: Spend,
    /// Why the guard stopped the run, once it did.
    tripped: Option<String>,
}

/// The worst case one attempt can cost, and what it is known to have cost.
struct Pricing {
    /// Input tokens assumed when the response does not say.
    input_estimate: u64,
    /// Output tokens at most.
    output_limit: u64,
}

impl SpendGuard {
    /// A guard; `price` is needed for `max_cost_usd` (without it the cost limit cannot be enforced and is refused by preflight).
    pub fn new(
        max_requests: Option<u64>,
        max_cost_usd: Option<f64>,
        price: Option<Price>,
    ) -> SpendGuard {
        SpendGuard {
            max_requests,
            max_cost_usd,
            price,
            state: Mutex::default(),
            tripped: AtomicBool::new(false),
        }
    }

    /// Whether there is anything to count: a limit, or a price to total the spend with.
    fn is_active(&self) -> bool {
        self.max_requests.is_some() || self.max_cost_usd.is_some() || self.price.is_some()
    }

    /// Whether the guard has refused an attempt (cheap: no lock).
    pub fn has_tripped(&self) -> bool {
        self.tripped.load(Relaxed)
    }

    /// The guard for one logical request whose body is `body_len` bytes and asks for up to
    /// `max_tokens`; `warmup` says which side of the spend its attempts go to.
    pub fn request(
        &self,
        body_len: usize,
        max_tokens: Option<u32>,
        warmup: bool,
    ) -> RequestSpend<'_> {
        RequestSpend {
            guard: self,
            pricing: Pricing {
                input_estimate: body_len as u64 / 4 + 1,
                output_limit: max_tokens.map_or(DEFAULT_OUTPUT_ESTIMATE, u64::from),
            },
            warmup,
            open: None,
            sent: 0,
        }
    }

    /// Why the guard stopped the run, if it did.
    pub fn tripped(&self) -> Option<String> {
        self.lock().tripped.clone()
    }

    /// What the run spent so far.
    pub fn spend(&self) -> Spend {
        self.lock().spend
    }

    /// Whether spend is priced at all (the target's model has a price).
    pub fn is_priced(&self) -> bool {
        self.price.is_some()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Ledger> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reserves one attempt's worst case, or refuses it (and trips).
    fn admit(&self, pricing: &Pricing) -> Result<f64, String> {
        let worst = self.cost(pricing.input_estimate, pricing.output_limit);
        let mut s = self.lock();
        let refusal = if self.max_requests.is_some_and(|max| s.attempts >= max) {
            self.max_requests
                .map(|max| format!("max_requests = {max} reached ({max} attempts sent, retries and warm-up included)"))
        } else if self.max_cost_usd.is_some_and(|limit| {
            s.spend.cost_usd + s.spend.warmup_cost_usd + s.reserved + worst > limit
        }) {
            self.max_cost_usd.map(|limit| {
                format!(
                    "max_cost_usd = {limit} could be exceeded by the next attempt (spent ${:.4}, ${:.4} reserved by attempts in flight, ${worst:.4} at most for the next)",
                    s.spend.cost_usd + s.spend.warmup_cost_usd,
                    s.reserved
                )
            })
        } else {
            None
        };
        if let Some(why) = refusal {
            s.tripped.get_or_insert_with(|| why.clone());
            self.tripped.store(true, Relaxed);
            return Err(why);
        }
        s.attempts += 1;
        s.reserved += worst;
        Ok(worst)
    }

    /// Replaces an attempt's reservation with what it cost; `sent` is false for an attempt
    /// that never went out (refunded).
    fn settle(&self, reserved: f64, sent: bool, cost: f64, estimated: bool, warmup: bool) {
        let mut s = self.lock();
        s.reserved -= reserved;
        if !sent {
            s.attempts -= 1;
            return;
        }
        s.spend.attempts += 1;
        s.spend.estimated_attempts += u64::from(estimated);
        if warmup {
            s.spend.warmup_cost_usd += cost;
        } else {
            s.spend.cost_usd += cost;
        }
    }

    fn cost(&self, input: u64, output: u64) -> f64 {
        self.price.map_or(0.0, |p| p.cost(input, output))
    }
}

/// One logical request's side of the spend guard: asked by the client before each attempt.
pub struct RequestSpend<'a> {
    /// The run's guard.
    guard: &'a SpendGuard,
    /// The request's worst case.
    pricing: Pricing,
    /// Whether the request is part of the warm-up.
    warmup: bool,
    /// The attempt in flight: its reservation, and whether it has begun going out.
    open: Option<(f64, bool)>,
    /// Attempts of this request that went out (settled or in flight).
    sent: u32,
}

impl RequestSpend<'_> {
    /// Attempts of this request that went out to the upstream, the one in flight included:
    /// what a request cut short (cancelled at the end of a run) reports as its attempts.
    pub fn attempts_sent(&self) -> u32 {
        self.sent
    }
}

impl AttemptGuard for RequestSpend<'_> {
    fn admit(&mut self) -> Result<(), String> {
        let reserved = if self.guard.is_active() {
            self.guard.admit(&self.pricing)?
        } else {
            0.0
        };
        self.open = Some((reserved, false));
        Ok(())
    }

    fn sending(&mut self) {
        if let Some((_, sending)) = &mut self.open {
            *sending = true;
            self.sent += 1;
        }
    }

    fn settle(&mut self, used: &AttemptUse) {
        let Some((reserved, _)) = self.open.take() else {
            return;
        };
        if !self.guard.is_active() {
            return;
        }
        let p = &self.pricing;
        let (cost, estimated) = match (used.tokens, used.outcome) {
            _ if !used.sent => (0.0, false),
            (Some(t), _) if t.from_usage => (self.guard.cost(t.input, t.output), false),
            (Some(t), _) => (self.guard.cost(p.input_estimate, t.output), false),
            // An error status is answered before any generation is billed.
            (None, Outcome::Status(_)) => (0.0, false),
            (None, _) => (reserved, true),
        };
        self.guard
            .settle(reserved, used.sent, cost, estimated, self.warmup);
    }
}

impl Drop for RequestSpend<'_> {
    /// An attempt whose request was dropped mid-way (cancelled at the end of a run) is settled
    /// at its worst case if it had gone out, refunded if it had not.
    fn drop(&mut self) {
        if let Some((reserved, sending)) = self.open.take().filter(|_| self.guard.is_active()) {
            self.guard
                .settle(reserved, sending, reserved, sending, self.warmup);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::{Outcome, Tokens};

    fn sent(outcome: Outcome, tokens: Option<Tokens>) -> AttemptUse {
        AttemptUse {
            sent: true,
            outcome,
            tokens,
        }
    }

    fn priced(max_requests: Option<u64>, max_cost: Option<f64>) -> SpendGuard {
        // $1 per million input and output tokens.
        SpendGuard::new(
            max_requests,
            max_cost,
            Some(Price {
                input: 1.0,
                output: 1.0,
            }),
        )
    }

    #[test]
    fn max_requests_caps_attempts_retries_included() {
        let g = priced(Some(3), None);
        let mut first = g.request(40, Some(10), false);
        for _ in 0..3 {
            first.admit().unwrap();
            first.sending();
            first.settle(&sent(Outcome::Status(503), None));
        }
        let mut second = g.request(40, Some(10), false);
        let refused = second.admit().unwrap_err();
        assert!(refused.contains("max_requests = 3"), "{refused}");
        assert_eq!(g.tripped(), Some(refused));
        assert_eq!(g.spend().attempts, 3);
    }

    #[test]
    fn an_attempt_that_never_went_out_is_refunded() {
        let g = priced(Some(1), None);
        let mut r = g.request(40, Some(10), false);
        r.admit().unwrap();
        r.settle(&AttemptUse {
            sent: false,
            outcome: Outcome::Timeout(relaybench_client::Phase::Pool),
            tokens: None,
        });
        r.admit().expect("the pool timeout did not use up the cap");
        assert_eq!(g.spend().attempts, 0);
    }

    #[test]
    fn cost_cap_reserves_the_worst_case_and_settles_to_what_was_used() {
        // Worst case per attempt: 1 + 1,000 tokens = $0.001001.
        let g = priced(None, Some(0.0025));
        let mut a = g.request(0, Some(1000), false);
        let mut b = g.request(0, Some(1000), false);
        let mut c = g.request(0, Some(1000), false);
        a.admit().unwrap();
        b.admit().unwrap();
        assert!(
            c.admit().is_err(),
            "a third reservation could exceed $0.0025"
        );
        a.sending();
        a.settle(&sent(
            Outcome::Ok,
            Some(Tokens {
                input: 5,
                output: 5,
                from_usage: true,
                reasoning: 0,
            }),
        ));
        c.admit()
            .expect("settling to the real cost freed the reservation");
        assert!((g.spend().cost_usd - 10e-6).abs() < 1e-12);
    }

    #[test]
    fn cut_streams_are_billed_for_what_they_streamed_and_unknowns_at_the_worst_case() {
        let g = priced(None, None);
        let mut cut = g.request(400, Some(100), false);
        cut.admit().unwrap();
        cut.sending();
        cut.settle(&sent(
            Outcome::Io(relaybench_client::IoKind::Truncated),
            Some(Tokens {
                input: 0,
                output: 40,
                from_usage: false,
                reasoning: 0,
            }),
        ));
        // 101 input tokens estimated from the body, 40 streamed.
        assert!((g.spend().cost_usd - 141e-6).abs() < 1e-12);
        let mut status = g.request(400, Some(100), false);
        status.admit().unwrap();
        status.sending();
        status.settle(&sent(Outcome::Status(429), None));
        assert!(
            (g.spend().cost_usd - 141e-6).abs() < 1e-12,
            "an error status is free"
        );
        let mut hung = g.request(400, Some(100), true);
        hung.admit().unwrap();
        hung.sending();
        drop(hung);
        let spend = g.spend();
        assert!((spend.warmup_cost_usd - 201e-6).abs() < 1e-12, "{spend:?}");
        assert_eq!(spend.estimated_attempts, 1);
        assert_eq!(spend.attempts, 3);
    }
}
