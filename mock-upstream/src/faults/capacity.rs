//! `CapacityGate`: at most K requests served at once, up to Q more queued, the rest refused.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Slots for K concurrent requests plus a bounded waiting room.
pub(crate) struct CapacityGate {
    slots: Arc<Semaphore>,
    waiting: AtomicU64,
    max_queue: u64,
}

/// How a request got through the gate.
pub(crate) enum Admission {
    /// A slot was free at once.
    Immediate(OwnedSemaphorePermit),
    /// The request waited in the queue first.
    Queued(OwnedSemaphorePermit),
    /// Every slot and queue place was taken.
    Rejected,
}

struct Waiting<'a>(&'a AtomicU64);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl CapacityGate {
    pub(crate) fn new(max_concurrent: u32, max_queue: u32) -> CapacityGate {
        CapacityGate {
            slots: Arc::new(Semaphore::new(max_concurrent as usize)),
            waiting: AtomicU64::new(0),
            max_queue: max_queue as u64,
        }
    }

    /// Waits for a slot if the queue has room; the permit is the slot.
    pub(crate) async fn enter(&self) -> Admission {
        if let Ok(p) = self.slots.clone().try_acquire_owned() {
            return Admission::Immediate(p);
        }
        if self.waiting.fetch_add(1, Ordering::Relaxed) >= self.max_queue {
            self.waiting.fetch_sub(1, Ordering::Relaxed);
            return Admission::Rejected;
        }
        let _place = Waiting(&self.waiting);
        match self.slots.clone().acquire_owned().await {
            Ok(p) => Admission::Queued(p),
            Err(_) => Admission::Rejected, // semaphore closed: never happens, we never close it
        }
    }
}
