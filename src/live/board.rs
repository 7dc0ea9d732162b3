//! What the dashboard shows and `/metrics` exports: one entry per run of the plan, refreshed once per second from the generator's progress and set exactly from each run's merged result.

use crate::{
    load::Progress,
    metrics::{
        ledger::Spend,
        live::{LiveTotals, Quantiles},
        series::new_series_histogram,
        RunResult,
    },
    scenario::PlannedRun,
};
use hdrhistogram::Histogram;
use serde::Serialize;
use std::collections::BTreeMap;

/// Everything the server shows, for the whole plan.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Board {
    /// Scenario name.
    pub scenario: String,
    /// Runs planned (the dashboard shows `run i of n`).
    pub planned_runs: usize,
    /// Runs in the order they started.
    pub runs: Vec<RunBoard>,
    /// `relaybench search`: probes as they completed.
    pub probes: Vec<ProbeView>,
    /// True once every run ended and the report is written; `/` then serves the report.
    pub finished: bool,
}

/// One run (target × variant) as shown live.
#[derive(Clone, Debug, Serialize)]
pub struct RunBoard {
    /// `target/variant`.
    pub name: String,
    /// Target name.
    pub target: String,
    /// Variant name.
    pub variant: String,
    /// Seconds since load started.
    pub elapsed: f64,
    /// Planned seconds (warm-up + duration), when bounded by time.
    pub total: Option<f64>,
    /// Open model: the scheduled rate (req/s).
    pub target_rps: Option<f64>,
    /// Requests finished in the last complete second.
    pub rps: u64,
    /// Measured outcomes so far by key (`ok`, `status_503`, ...).
    pub outcomes: BTreeMap<String, u64>,
    /// Measured requests ended so far (Σ outcomes).
    pub requests: u64,
    /// Attempts (first tries + retries).
    pub attempts: u64,
    /// Of which retries.
    pub retries: u64,
    /// Latency over the last few seconds.
    pub latency_recent: Quantiles,
    /// Latency over the run so far.
    pub latency_run: Quantiles,
    /// TTFT over the last few seconds (streams only).
    pub ttft_recent: Quantiles,
    /// TTFT over the run so far.
    pub ttft_run: Quantiles,
    /// Requests relaybench has in flight.
    pub in_flight: u64,
    /// Connections open in relaybench's own pool (not the upstream's).
    pub open_connections: u64,
    /// Requests waiting for a slot in relaybench's pool.
    pub waiting_for_pool: u64,
    /// relaybench's circuit breaker state; `None` when it is off.
    pub breaker: Option<String>,
    /// Spend so far, when the model has a price.
    pub spend: Option<Spend>,
    /// The run ended; its figures are the exact ones of results.json.
    pub finished: bool,
    /// Latency of every timed request so far (µs), for `/metrics`.
    #[serde(skip)]
    pub latency: Histogram<u64>,
    /// TTFT so far (µs), for `/metrics`.
    #[serde(skip)]
    pub ttft: Histogram<u64>,
}

/// One completed probe of a search.
#[derive(Clone, Debug, Serialize)]
pub struct ProbeView {
    /// Target searched.
    pub target: String,
    /// The knob's value with its unit, as the terminal shows it.
    pub value: String,
    /// Every check of the objective held.
    pub passed: bool,
    /// Requests per second measured.
    pub rps: f64,
    /// p99 latency (ms).
    pub p99_ms: f64,
    /// Share of requests that were not `ok`.
    pub error_rate: f64,
}

impl RunBoard {
    fn new(run: &PlannedRun) -> RunBoard {
        RunBoard {
            name: format!("{}/{}", run.target.name, run.variant),
            target: run.target.name.clone(),
            variant: run.variant.clone(),
            elapsed: 0.0,
            total: None,
            target_rps: None,
            rps: 0,
            outcomes: BTreeMap::new(),
            requests: 0,
            attempts: 0,
            retries: 0,
            latency_recent: Quantiles::default(),
            latency_run: Quantiles::default(),
            ttft_recent: Quantiles::default(),
            ttft_run: Quantiles::default(),
            in_flight: 0,
            open_connections: 0,
            waiting_for_pool: 0,
            breaker: None,
            spend: None,
            finished: false,
            latency: new_series_histogram(),
            ttft: new_series_histogram(),
        }
    }

    fn set_totals(&mut self, t: &LiveTotals) {
        self.outcomes = t.outcomes.iter().map(|(o, n)| (o.key(), *n)).collect();
        self.requests = t.outcomes.values().sum();
        self.attempts = t.attempts;
        self.retries = t.retries;
        let (latency, ttft) = t.recent();
        self.latency_recent = latency;
        self.ttft_recent = ttft;
        self.latency_run = Quantiles::of(&t.latency);
        self.ttft_run = Quantiles::of(&t.ttft);
        self.latency.clone_from(&t.latency);
        self.ttft.clone_from(&t.ttft);
    }
}

impl Board {
    /// An empty board for a plan of `planned_runs` runs.
    pub fn new(scenario: &str, planned_runs: usize) -> Board {
        Board {
            scenario: scenario.to_string(),
            planned_runs,
            ..Board::default()
        }
    }

    /// The entry of `run`, created when the run first reports.
    fn entry(&mut self, run: &PlannedRun, target_rps: Option<f64>) -> &mut RunBoard {
        let name = format!("{}/{}", run.target.name, run.variant);
        // A search probes the same target/variant many times: a new entry once the last one ended.
        let reuse = self
            .runs
            .last()
            .is_some_and(|r| r.name == name && !r.finished);
        if !reuse {
            let mut b = RunBoard::new(run);
            b.target_rps = target_rps;
            self.runs.push(b);
        }
        self.runs.last_mut().expect("just ensured")
    }

    /// One second of `run`'s progress.
    pub fn progress(&mut self, run: &PlannedRun, p: &Progress, target_rps: Option<f64>) {
        let b = self.entry(run, target_rps);
        b.elapsed = p.elapsed;
        b.total = p.total;
        b.rps = p.last.as_ref().map_or(0, |s| s.completed);
        b.in_flight = p.in_flight;
        b.open_connections = p.open_connections;
        b.waiting_for_pool = p.waiting_for_pool;
        b.breaker = p.breaker.map(str::to_string);
        b.spend = p.spend;
        b.set_totals(&p.totals);
    }

    /// `run` ended: its figures become the merged result's, the ones results.json holds.
    pub fn finished(&mut self, run: &PlannedRun, r: &RunResult) {
        let b = self.entry(run, r.target_rps);
        b.outcomes.clone_from(&r.outcomes);
        b.requests = r.outcomes.values().sum();
        b.attempts = r.attempts;
        b.retries = r.retries.values().sum();
        if let Some(h) = r.histograms.get("latency").and_then(|h| h.histogram().ok()) {
            b.latency_run = Quantiles::of(&h);
            b.latency = h;
        }
        if let Some(h) = r.histograms.get("ttft").and_then(|h| h.histogram().ok()) {
            b.ttft_run = Quantiles::of(&h);
            b.ttft = h;
        }
        b.in_flight = 0;
        b.waiting_for_pool = 0;
        b.open_connections = r.pool.open;
        b.spend = r.spend;
        b.finished = true;
    }
}
