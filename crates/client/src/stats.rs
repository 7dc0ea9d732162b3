//! Pool counters kept with atomics (no lock on the hot path) and their snapshot for results.

use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Live counters shared by the pool and its connections.
#[derive(Debug, Default)]
pub struct PoolCounters {
    opened: AtomicU64,
    closed: AtomicU64,
    reused: AtomicU64,
    open: AtomicU64,
    peak_open: AtomicU64,
    waiting: AtomicU64,
    peak_waiting: AtomicU64,
    connect_failures: AtomicU64,
}

/// What the pool did over a run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PoolStats {
    /// Connections opened (successful handshakes).
    pub opened: u64,
    /// Connections closed (by us or the peer) so far.
    pub closed: u64,
    /// Checkouts served by an idle connection instead of a new one.
    pub reused: u64,
    /// Connections open right now.
    pub open: u64,
    /// Most connections open at once.
    pub peak_open: u64,
    /// Requests waiting for a slot right now.
    pub waiting: u64,
    /// Most requests waiting for a slot at once.
    pub peak_waiting: u64,
    /// Dial attempts that failed or timed out.
    pub connect_failures: u64,
}

impl PoolCounters {
    /// A connection finished its handshake; returns its id.
    pub fn on_open(&self) -> u64 {
        let now = self.open.fetch_add(1, Relaxed) + 1;
        self.peak_open.fetch_max(now, Relaxed);
        self.opened.fetch_add(1, Relaxed) + 1
    }

    /// A connection was dropped.
    pub fn on_close(&self) {
        self.open.fetch_sub(1, Relaxed);
        self.closed.fetch_add(1, Relaxed);
    }

    /// A checkout reused an idle connection.
    pub fn on_reuse(&self) {
        self.reused.fetch_add(1, Relaxed);
    }

    /// A dial failed.
    pub fn on_connect_failure(&self) {
        self.connect_failures.fetch_add(1, Relaxed);
    }

    /// A request started waiting for a slot.
    pub fn wait_begin(&self) {
        let now = self.waiting.fetch_add(1, Relaxed) + 1;
        self.peak_waiting.fetch_max(now, Relaxed);
    }

    /// A request stopped waiting (got a slot, timed out or was cancelled).
    pub fn wait_end(&self) {
        self.waiting.fetch_sub(1, Relaxed);
    }

    /// Connections open right now.
    pub fn open_now(&self) -> u64 {
        self.open.load(Relaxed)
    }

    /// A consistent-enough copy for reports.
    pub fn snapshot(&self) -> PoolStats {
        PoolStats {
            opened: self.opened.load(Relaxed),
            closed: self.closed.load(Relaxed),
            reused: self.reused.load(Relaxed),
            open: self.open.load(Relaxed),
            peak_open: self.peak_open.load(Relaxed),
            waiting: self.waiting.load(Relaxed),
            peak_waiting: self.peak_waiting.load(Relaxed),
            connect_failures: self.connect_failures.load(Relaxed),
        }
    }
}
