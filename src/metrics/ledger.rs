//! The run's ledger: what a run spent at the upstream (`Spend`), and arrivals counted where requests are born (the open-model dispatcher, each closed-model user), apart from the recorder, and the check that every arrival ended exactly once.
//!
//! The recorder counts outcomes as requests end; the ledger counts arrivals as they are born
//! and what happened to those that never reached the client (dropped at the in-flight cap,
//! refused by a spend guard). Two independent counts that must agree:
//!
//! ```text
//! arrivals = Σ outcomes + dropped + refused_by_guard
//! ```
//!
//! separately for the measured part of the run and for the warm-up. A request lost on the way
//! (a task that vanished, a double count) breaks the equality; it is reported as a relaybench
//! bug, never adjusted.

use serde::{Deserialize, Serialize};

/// One side of the ledger (the measured run, or its warm-up), as counted by the generator.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    /// Requests born: scheduled arrivals the dispatcher reached, requests a user decided to send.
    pub arrivals: u64,
    /// Open model: arrivals not sent because the in-flight cap was reached (`on_overload = "drop"`, or the queue was full).
    pub dropped: u64,
    /// Open model: arrivals that waited in the queue for an in-flight slot before being sent.
    pub queued: u64,
    /// Arrivals not sent because a spend guard (`max_requests`, `max_cost_usd`) refused their first attempt.
    pub refused_by_guard: u64,
}

impl Tally {
    /// Adds another worker's counts.
    pub fn add(&mut self, other: &Tally) {
        self.arrivals += other.arrivals;
        self.dropped += other.dropped;
        self.queued += other.queued;
        self.refused_by_guard += other.refused_by_guard;
    }

    /// The arrivals the recorder must have an outcome for.
    pub fn expected_outcomes(&self) -> Option<u64> {
        self.arrivals
            .checked_sub(self.dropped)?
            .checked_sub(self.refused_by_guard)
    }

    /// `None` when `outcomes` balances this side of the ledger, else what is wrong, in words.
    pub fn imbalance(&self, side: &str, outcomes: u64) -> Option<String> {
        if self.expected_outcomes() == Some(outcomes) {
            return None;
        }
        Some(format!(
            "{side}: {} arrivals ≠ {outcomes} outcomes + {} dropped + {} refused by a spend guard",
            self.arrivals, self.dropped, self.refused_by_guard
        ))
    }
}

/// The whole run's ledger and its verdict.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ledger {
    /// After warm-up.
    pub measured: Tally,
    /// During warm-up.
    pub warmup: Tally,
    /// Requests in flight when the grace period ended (each then ended `cancelled`).
    pub in_flight_at_stop: u64,
    /// Of those, how many were still waiting for a connection slot.
    pub waiting_for_pool_at_stop: u64,
}

impl Ledger {
    /// Checks both sides against the recorder's outcome counts; `None` when they balance.
    pub fn check(&self, outcomes: u64, warmup_outcomes: u64) -> Option<String> {
        let problems: Vec<String> = [
            self.measured.imbalance("measured", outcomes),
            self.warmup.imbalance("warm-up", warmup_outcomes),
        ]
        .into_iter()
        .flatten()
        .collect();
        (!problems.is_empty()).then(|| problems.join("; "))
    }
}

/// What a run spent at the upstream, priced attempt by attempt.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Spend {
    /// Attempts that went out to the upstream (retries and warm-up included): what `max_requests` counts.
    pub attempts: u64,
    /// USD of the measured requests' attempts (retries included).
    pub cost_usd: f64,
    /// USD of the warm-up's attempts.
    pub warmup_cost_usd: f64,
    /// Attempts priced at their reserved worst case because what they used is unknown.
    pub estimated_attempts: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn balances_only_when_every_arrival_ended_once() {
        let t = Tally {
            arrivals: 100,
            dropped: 7,
            queued: 20,
            refused_by_guard: 3,
        };
        assert_eq!(t.imbalance("measured", 90), None);
        let lost = t.imbalance("measured", 89).unwrap();
        assert!(
            lost.contains("100 arrivals ≠ 89 outcomes + 7 dropped + 3 refused"),
            "{lost}"
        );
        assert!(t.imbalance("measured", 91).is_some(), "double counted");
        let impossible = Tally {
            arrivals: 1,
            dropped: 2,
            ..Tally::default()
        };
        assert!(impossible.imbalance("x", 0).is_some());
        let ledger = Ledger {
            measured: t,
            ..Ledger::default()
        };
        assert_eq!(ledger.check(90, 0), None);
        assert!(ledger.check(90, 1).unwrap().starts_with("warm-up"));
    }
}
