//! The open model's in-flight cap: an arrival starts when a slot is free, and otherwise waits in a bounded queue (the default) or is dropped (`on_overload = "drop"`).
//!
//! The cap is counted before a request task is spawned, so a catch-up burst after a stall
//! cannot pass it: a slot is taken when the dispatcher decides to start an arrival and is
//! handed straight to the next queued arrival when a request ends. Queued arrivals keep their
//! intended start, so the time they waited is in their latency (as wrk2 and oha do) and in the
//! `queue_wait` histogram; nothing is lost to the cap unless the user asked for drops or the
//! queue is full, and then every drop is counted.
//!
//! Memory: a queued arrival is one [`Arrival`] (32 bytes), so the default bound of
//! [`DEFAULT_MAX_QUEUE`] arrivals holds at most 32 MB.

use crate::scenario::OnOverload;
use std::{
    cell::{Cell, RefCell},
    collections::VecDeque,
    time::Instant,
};

/// Arrivals a worker holds at most when the in-flight cap is reached (≈ 32 MB).
pub const DEFAULT_MAX_QUEUE: usize = 1_000_000;

/// One arrival of the schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arrival {
    /// Its scheduled time: latency is measured from here.
    pub due: Instant,
    /// When the dispatcher reached it (its start lag is `born − due`).
    pub born: Instant,
    /// Whether it falls in the warm-up.
    pub warmup: bool,
    /// Seed of the request's own random choices (mix entry, template values).
    pub seed: u64,
}

/// What to do with an arrival the dispatcher has just reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admit {
    /// A slot was free and is now taken: start it.
    Start,
    /// All slots are taken: it waits for one.
    Queued,
    /// All slots are taken and it cannot wait (drops asked for, or the queue is full).
    Dropped,
}

/// One worker's share of the in-flight cap, with its queue.
pub struct InFlightSlots {
    /// Requests this worker may have in flight (`None`: no cap).
    cap: Option<usize>,
    /// What happens to an arrival beyond the cap.
    policy: OnOverload,
    /// Most arrivals held in `queue`.
    max_queue: usize,
    /// Slots taken right now.
    taken: Cell<usize>,
    /// Arrivals waiting for a slot, oldest first.
    queue: RefCell<VecDeque<Arrival>>,
}

impl InFlightSlots {
    /// Slots for a worker holding `cap` of the run's in-flight cap.
    pub fn new(cap: Option<usize>, policy: OnOverload, max_queue: usize) -> InFlightSlots {
        InFlightSlots {
            // A worker with no slot at all could never send: every worker gets at least one.
            cap: cap.map(|c| c.max(1)),
            policy,
            max_queue,
            taken: Cell::new(0),
            queue: RefCell::new(VecDeque::new()),
        }
    }

    /// Takes a slot for `arrival`, or queues or drops it.
    pub fn offer(&self, arrival: Arrival) -> Admit {
        let free = self.cap.is_none_or(|cap| self.taken.get() < cap);
        if free {
            self.taken.set(self.taken.get() + 1);
            return Admit::Start;
        }
        let mut queue = self.queue.borrow_mut();
        if self.policy == OnOverload::Drop || queue.len() >= self.max_queue {
            return Admit::Dropped;
        }
        queue.push_back(arrival);
        Admit::Queued
    }

    /// A request ended: its slot goes to the oldest queued arrival (returned, to be started
    /// by the caller), or is freed.
    pub fn finished(&self) -> Option<Arrival> {
        let next = self.queue.borrow_mut().pop_front();
        if next.is_none() {
            self.taken.set(self.taken.get().saturating_sub(1));
        }
        next
    }

    /// Slots taken right now.
    pub fn taken(&self) -> usize {
        self.taken.get()
    }

    /// Arrivals waiting right now.
    pub fn queued(&self) -> usize {
        self.queue.borrow().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arrival(n: u64) -> Arrival {
        let t = Instant::now();
        Arrival {
            due: t,
            born: t,
            warmup: false,
            seed: n,
        }
    }

    #[test]
    fn the_cap_is_exact_and_queued_arrivals_take_freed_slots_in_order() {
        let slots = InFlightSlots::new(Some(2), OnOverload::Queue, 10);
        assert_eq!(slots.offer(arrival(0)), Admit::Start);
        assert_eq!(slots.offer(arrival(1)), Admit::Start);
        // A burst after a stall: none of it passes the cap.
        for n in 2..6 {
            assert_eq!(slots.offer(arrival(n)), Admit::Queued);
        }
        assert_eq!(slots.taken(), 2);
        let order: Vec<u64> = std::iter::from_fn(|| slots.finished())
            .map(|a| a.seed)
            .collect();
        assert_eq!(
            order,
            vec![2, 3, 4, 5],
            "oldest first, each in a freed slot"
        );
        assert_eq!(slots.taken(), 1, "the last finish freed a slot");
        assert_eq!(slots.finished(), None);
        assert_eq!(slots.taken(), 0);
    }

    #[test]
    fn drops_only_when_asked_or_when_the_queue_is_full() {
        let dropping = InFlightSlots::new(Some(1), OnOverload::Drop, 10);
        assert_eq!(dropping.offer(arrival(0)), Admit::Start);
        assert_eq!(dropping.offer(arrival(1)), Admit::Dropped);
        let bounded = InFlightSlots::new(Some(1), OnOverload::Queue, 2);
        assert_eq!(bounded.offer(arrival(0)), Admit::Start);
        assert_eq!(bounded.offer(arrival(1)), Admit::Queued);
        assert_eq!(bounded.offer(arrival(2)), Admit::Queued);
        assert_eq!(bounded.offer(arrival(3)), Admit::Dropped);
        assert_eq!(bounded.queued(), 2);
    }

    #[test]
    fn without_a_cap_everything_starts() {
        let slots = InFlightSlots::new(None, OnOverload::Drop, 0);
        assert!((0..1000).all(|n| slots.offer(arrival(n)) == Admit::Start));
    }
}
