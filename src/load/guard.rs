//! Spend guards for paid APIs: a target's `max_requests` and `max_cost_usd`, enforced before each request is sent.
//!
//! Cost is known only after a response, so each request reserves its worst case first
//! (prompt bytes / 4 as input tokens, `max_tokens` — or 4,096 — as output) and settles to
//! the real cost when it ends: the run stops before its spend *could* exceed the limit.

use crate::scenario::Price;
use std::sync::{
    atomic::{AtomicU64, Ordering::Relaxed},
    Mutex,
};

/// Output tokens assumed for a request without `max_tokens`.
const DEFAULT_OUTPUT_ESTIMATE: u64 = 4096;

/// The limits of one target in one run.
#[derive(Debug, Default)]
pub struct SpendGuard {
    /// Never send more requests than this (warm-up included).
    max_requests: Option<u64>,
    /// Never let spent + reserved exceed this (USD).
    max_cost_usd: Option<f64>,
    /// Price of the target's model.
    price: Option<Price>,
    /// Requests admitted so far.
    sent: AtomicU64,
    /// (spent, reserved) in USD.
    money: Mutex<(f64, f64)>,
    /// Why the guard stopped the run, once it did.
    tripped: Mutex<Option<String>>,
}

/// A request's admission: what it reserved.
#[derive(Debug, Clone, Copy)]
pub struct Ticket {
    reserved: f64,
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
            ..SpendGuard::default()
        }
    }

    /// Admits one request whose body is `body_len` bytes and asks for up to `max_tokens`; `None` means stop.
    pub fn admit(&self, body_len: usize, max_tokens: Option<u32>) -> Option<Ticket> {
        if let Some(max) = self.max_requests {
            if self.sent.fetch_add(1, Relaxed) >= max {
                self.sent.fetch_sub(1, Relaxed);
                self.trip(format!("max_requests = {max} reached"));
                return None;
            }
        }
        let (Some(limit), Some(price)) = (self.max_cost_usd, self.price) else {
            return Some(Ticket { reserved: 0.0 });
        };
        let estimate = price.cost(
            body_len as u64 / 4 + 1,
            max_tokens.map(u64::from).unwrap_or(DEFAULT_OUTPUT_ESTIMATE),
        );
        let mut money = self.money.lock().unwrap_or_else(|e| e.into_inner());
        if money.0 + money.1 + estimate > limit {
            drop(money);
            if self.max_requests.is_some() {
                self.sent.fetch_sub(1, Relaxed);
            }
            self.trip(format!(
                "max_cost_usd = {limit} could be exceeded by the next request"
            ));
            return None;
        }
        money.1 += estimate;
        Some(Ticket { reserved: estimate })
    }

    /// Replaces a ticket's reservation with the real cost of its tokens.
    pub fn settle(&self, ticket: Ticket, input_tokens: u64, output_tokens: u64) {
        if ticket.reserved == 0.0 {
            return;
        }
        let actual = self
            .price
            .map(|p| p.cost(input_tokens, output_tokens))
            .unwrap_or(0.0);
        let mut money = self.money.lock().unwrap_or_else(|e| e.into_inner());
        money.1 -= ticket.reserved;
        money.0 += actual;
    }

    /// Why the guard stopped the run, if it did.
    pub fn tripped(&self) -> Option<String> {
        self.tripped
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn trip(&self, why: String) {
        let mut t = self.tripped.lock().unwrap_or_else(|e| e.into_inner());
        t.get_or_insert(why);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_cap_is_exact() {
        let g = SpendGuard::new(Some(3), None, None);
        assert!((0..3).all(|_| g.admit(10, None).is_some()));
        assert!(g.admit(10, None).is_none());
        assert!(g.tripped().unwrap().contains("max_requests"));
    }

    #[test]
    fn cost_cap_reserves_the_worst_case() {
        // $1 per million output tokens, 1,000 max tokens: each request reserves ~$0.001.
        let g = SpendGuard::new(
            None,
            Some(0.0025),
            Some(Price {
                input: 0.0,
                output: 1.0,
            }),
        );
        let a = g.admit(0, Some(1000)).unwrap();
        let _b = g.admit(0, Some(1000)).unwrap();
        assert!(
            g.admit(0, Some(1000)).is_none(),
            "a third reservation could exceed $0.0025"
        );
        g.settle(a, 0, 10);
        assert!(
            g.admit(0, Some(1000)).is_some(),
            "settling to the real cost frees the reservation"
        );
    }
}
