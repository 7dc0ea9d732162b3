//! What the server saw: lock-free counters (`Stats`) and their serializable copy (`StatsSnapshot`).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Routes the stats count requests by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Route {
    ChatCompletions,
    Responses,
    Messages,
    Embeddings,
    Models,
    Healthz,
    ControlFaults,
    ControlStats,
    ControlReset,
    ControlMetrics,
    NotFound,
}

impl Route {
    pub(crate) const ALL: [Route; 11] = [
        Route::ChatCompletions,
        Route::Responses,
        Route::Messages,
        Route::Embeddings,
        Route::Models,
        Route::Healthz,
        Route::ControlFaults,
        Route::ControlStats,
        Route::ControlReset,
        Route::ControlMetrics,
        Route::NotFound,
    ];

    /// The key in `requests_by_route`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Route::ChatCompletions => "/v1/chat/completions",
            Route::Responses => "/v1/responses",
            Route::Messages => "/v1/messages",
            Route::Embeddings => "/v1/embeddings",
            Route::Models => "/v1/models",
            Route::Healthz => "/healthz",
            Route::ControlFaults => "/_mock/faults",
            Route::ControlStats => "/_mock/stats",
            Route::ControlReset => "/_mock/reset",
            Route::ControlMetrics => "/_mock/metrics",
            Route::NotFound => "other",
        }
    }
}

/// Kinds of injected faults, the keys of `faults_injected`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FaultKind {
    RateLimitRequests,
    RateLimitTokens,
    CapacityRejected,
    CapacityQueued,
    HandshakeDelay,
    Reset,
    Hang,
    Truncate,
    SlowBody,
    StreamCut,
    StreamError,
    CloseAfterRequests,
}

impl FaultKind {
    pub(crate) const ALL: [FaultKind; 12] = [
        FaultKind::RateLimitRequests,
        FaultKind::RateLimitTokens,
        FaultKind::CapacityRejected,
        FaultKind::CapacityQueued,
        FaultKind::HandshakeDelay,
        FaultKind::Reset,
        FaultKind::Hang,
        FaultKind::Truncate,
        FaultKind::SlowBody,
        FaultKind::StreamCut,
        FaultKind::StreamError,
        FaultKind::CloseAfterRequests,
    ];

    /// The key in `faults_injected`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            FaultKind::RateLimitRequests => "rate_limit_requests",
            FaultKind::RateLimitTokens => "rate_limit_tokens",
            FaultKind::CapacityRejected => "capacity_rejected",
            FaultKind::CapacityQueued => "capacity_queued",
            FaultKind::HandshakeDelay => "handshake_delay",
            FaultKind::Reset => "reset",
            FaultKind::Hang => "hang",
            FaultKind::Truncate => "truncate",
            FaultKind::SlowBody => "slow_body",
            FaultKind::StreamCut => "stream_cut",
            FaultKind::StreamError => "stream_error",
            FaultKind::CloseAfterRequests => "close_after_requests",
        }
    }
}

/// A copy of the counters at one moment, as served by `GET /_mock/stats`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct StatsSnapshot {
    /// TCP connections accepted since start (or reset).
    pub connections_accepted: u64,
    /// TCP connections open now (exact: decremented when a connection's task ends).
    pub connections_open: u64,
    /// Most connections open at once.
    pub connections_peak: u64,
    /// Requests that reached a handler, completed or not.
    pub requests_total: u64,
    /// Requests being handled now.
    pub requests_in_flight: u64,
    /// Requests by route path ("other" for unknown paths).
    pub requests_by_route: BTreeMap<String, u64>,
    /// Responses by status code (counted when the head is produced, before any body fault).
    pub responses_by_status: BTreeMap<u16, u64>,
    /// Most requests in flight at once.
    pub concurrent_requests_peak: u64,
    /// Faults injected, by kind ("error_429" for an injected status, "reset", "handshake_delay", ...).
    pub faults_injected: BTreeMap<String, u64>,
    /// Stream tokens (reasoning and answer) handed to hyper for writing.
    pub tokens_streamed: u64,
    /// How far behind its own schedule the mock sent replies and tokens (see `lateness`).
    pub lateness: crate::lateness::LatenessSummary,
}

const STATUS_SLOTS: usize = 600;

/// Live counters, shared by every connection; all updates are relaxed atomics.
pub(crate) struct Stats {
    connections_accepted: AtomicU64,
    connections_open: AtomicU64,
    connections_peak: AtomicU64,
    requests_total: AtomicU64,
    requests_in_flight: AtomicU64,
    concurrent_peak: AtomicU64,
    by_route: [AtomicU64; Route::ALL.len()],
    by_status: Box<[AtomicU64]>,
    faults: [AtomicU64; FaultKind::ALL.len()],
    /// Injected errors by status, from [`INJECTED_FIRST`].
    injected: Box<[AtomicU64]>,
}

/// The lowest injectable status: `injected[i]` counts status `INJECTED_FIRST + i`.
const INJECTED_FIRST: u16 = *crate::config::INJECTABLE_STATUSES.start();

impl Default for Stats {
    fn default() -> Self {
        Stats {
            connections_accepted: AtomicU64::new(0),
            connections_open: AtomicU64::new(0),
            connections_peak: AtomicU64::new(0),
            requests_total: AtomicU64::new(0),
            requests_in_flight: AtomicU64::new(0),
            concurrent_peak: AtomicU64::new(0),
            by_route: Default::default(),
            by_status: (0..STATUS_SLOTS).map(|_| AtomicU64::new(0)).collect(),
            faults: Default::default(),
            injected: crate::config::INJECTABLE_STATUSES
                .map(|_| AtomicU64::new(0))
                .collect(),
        }
    }
}

/// Decrements `connections_open` when the connection task ends, however it ends.
pub(crate) struct ConnectionGuard<'a>(&'a Stats);

impl Drop for ConnectionGuard<'_> {
    fn drop(&mut self) {
        self.0.connections_open.fetch_sub(1, Relaxed);
    }
}

/// Decrements `requests_in_flight` when the request's handler finishes or is dropped.
pub(crate) struct RequestGuard<'a>(&'a Stats);

impl Drop for RequestGuard<'_> {
    fn drop(&mut self) {
        self.0.requests_in_flight.fetch_sub(1, Relaxed);
    }
}

impl Stats {
    pub(crate) fn connection_opened(&self) -> ConnectionGuard<'_> {
        self.connections_accepted.fetch_add(1, Relaxed);
        let open = self.connections_open.fetch_add(1, Relaxed) + 1;
        self.connections_peak.fetch_max(open, Relaxed);
        ConnectionGuard(self)
    }

    pub(crate) fn request_started(&self, route: Route) -> RequestGuard<'_> {
        self.requests_total.fetch_add(1, Relaxed);
        self.by_route[route as usize].fetch_add(1, Relaxed);
        let now = self.requests_in_flight.fetch_add(1, Relaxed) + 1;
        self.concurrent_peak.fetch_max(now, Relaxed);
        RequestGuard(self)
    }

    pub(crate) fn response(&self, status: u16) {
        if let Some(slot) = self.by_status.get(status as usize) {
            slot.fetch_add(1, Relaxed);
        }
    }

    pub(crate) fn fault(&self, kind: FaultKind) {
        self.faults[kind as usize].fetch_add(1, Relaxed);
    }

    /// Counts an injected error (key `error_<status>`).
    pub(crate) fn injected_error(&self, status: u16) {
        if let Some(slot) = status
            .checked_sub(INJECTED_FIRST)
            .and_then(|i| self.injected.get(i as usize))
        {
            slot.fetch_add(1, Relaxed);
        }
    }

    /// Zeroes the counters; live gauges (open connections, in-flight requests) keep their value
    /// and become the new peaks.
    pub(crate) fn reset(&self) {
        for c in [&self.connections_accepted, &self.requests_total] {
            c.store(0, Relaxed);
        }
        self.connections_peak
            .store(self.connections_open.load(Relaxed), Relaxed);
        self.concurrent_peak
            .store(self.requests_in_flight.load(Relaxed), Relaxed);
        self.by_route
            .iter()
            .chain(self.by_status.iter())
            .chain(self.faults.iter())
            .chain(self.injected.iter())
            .for_each(|c| c.store(0, Relaxed));
    }

    pub(crate) fn snapshot(&self) -> StatsSnapshot {
        let nonzero = |c: &AtomicU64| Some(c.load(Relaxed)).filter(|v| *v > 0);
        StatsSnapshot {
            connections_accepted: self.connections_accepted.load(Relaxed),
            connections_open: self.connections_open.load(Relaxed),
            connections_peak: self.connections_peak.load(Relaxed),
            requests_total: self.requests_total.load(Relaxed),
            requests_in_flight: self.requests_in_flight.load(Relaxed),
            requests_by_route: Route::ALL
                .iter()
                .filter_map(|r| {
                    nonzero(&self.by_route[*r as usize]).map(|v| (r.name().to_string(), v))
                })
                .collect(),
            responses_by_status: self
                .by_status
                .iter()
                .enumerate()
                .filter_map(|(s, c)| nonzero(c).map(|v| (s as u16, v)))
                .collect(),
            concurrent_requests_peak: self.concurrent_peak.load(Relaxed),
            faults_injected: FaultKind::ALL
                .iter()
                .filter_map(|k| {
                    nonzero(&self.faults[*k as usize]).map(|v| (k.name().to_string(), v))
                })
                .chain(self.injected.iter().enumerate().filter_map(|(i, c)| {
                    nonzero(c).map(|v| (format!("error_{}", INJECTED_FIRST as usize + i), v))
                }))
                .collect(),
            // Both counted by `Lateness`, which `Shared::counters` and `Shared::snapshot` read.
            tokens_streamed: 0,
            lateness: Default::default(),
        }
    }
}
