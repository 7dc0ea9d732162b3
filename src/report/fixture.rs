//! Synthetic, deterministic `ResultsFile`s for report tests, benchmarks and demos — no load is run.
//!
//! Values are recorded into real HDR histograms through [`crate::metrics::histogram`], so
//! everything downstream (decoding, spectra, `.hlog`) is exercised exactly as with measured data.

use crate::{
    client::{ClientSettings, PoolStats},
    metrics::{
        histogram::{new_histogram, record_clamped, StoredHistogram},
        results::{BreakerEvent, HostInfo, ScenarioInfo, ToolInfo, SCHEMA_VERSION},
        Outcome, Phase, ResultsFile, RunResult, SecondBucket, SeriesCollector, TokenTotals,
    },
};
use rand::{rngs::SmallRng, Rng, SeedableRng};
use rand_distr::{Distribution, LogNormal};
use std::collections::BTreeMap;

/// What one synthetic run looks like.
#[derive(Clone, Debug)]
pub struct RunSpec {
    /// Variant name; the run is `mock/<variant>`.
    pub variant: String,
    /// Pool size written into the run's settings.
    pub max_connections: usize,
    /// Median latency in milliseconds.
    pub median_ms: f64,
    /// Fraction of requests that end `timeout_pool`.
    pub pool_timeout_rate: f64,
    /// Fraction of requests that end `status_503`.
    pub status_503_rate: f64,
    /// Streaming: records TTFT, ITL and tokens/s.
    pub streaming: bool,
    /// Adds a breaker open period from second 10 to 15.
    pub breaker: bool,
    /// Cost of the run in USD, if priced.
    pub cost_usd: Option<f64>,
    /// Requests in the run.
    pub requests: u64,
}

impl RunSpec {
    /// A healthy streaming run with `requests` requests.
    pub fn new(variant: &str, requests: u64) -> RunSpec {
        RunSpec {
            variant: variant.into(),
            max_connections: 100,
            median_ms: 20.0,
            pool_timeout_rate: 0.0,
            status_503_rate: 0.0,
            streaming: true,
            breaker: false,
            cost_usd: Some(requests as f64 * 0.0004),
            requests,
        }
    }
}

/// The four-run comparison most tests use: a starved pool, a healthy one, a flaky upstream with a breaker, and a non-streaming run.
pub fn comparison() -> ResultsFile {
    let specs = vec![
        RunSpec {
            max_connections: 10,
            median_ms: 180.0,
            pool_timeout_rate: 0.23,
            ..RunSpec::new("pool-10", 4000)
        },
        RunSpec {
            max_connections: 100,
            ..RunSpec::new("pool-100", 4000)
        },
        RunSpec {
            max_connections: 50,
            median_ms: 35.0,
            status_503_rate: 0.05,
            breaker: true,
            ..RunSpec::new("pool-50-flaky", 4000)
        },
        RunSpec {
            max_connections: 20,
            median_ms: 25.0,
            streaming: false,
            cost_usd: None,
            ..RunSpec::new("pool-20-plain", 4000)
        },
    ];
    results(&specs, 7)
}

/// `n` runs of varied shape (for the render benchmark).
pub fn many(n: usize, requests: u64) -> ResultsFile {
    let specs: Vec<RunSpec> = (0..n)
        .map(|i| RunSpec {
            max_connections: 10 + 10 * i,
            median_ms: 15.0 + (i % 5) as f64 * 12.0,
            pool_timeout_rate: if i % 4 == 0 { 0.1 } else { 0.0 },
            status_503_rate: if i % 3 == 0 { 0.02 } else { 0.0 },
            streaming: i % 2 == 0,
            breaker: i % 3 == 0,
            ..RunSpec::new(&format!("variant-{i:02}"), requests)
        })
        .collect();
    results(&specs, 11)
}

/// A results file with one run per spec; the same seed gives the same file.
pub fn results(specs: &[RunSpec], seed: u64) -> ResultsFile {
    let mut rng = SmallRng::seed_from_u64(seed);
    ResultsFile {
        schema_version: SCHEMA_VERSION,
        tool: ToolInfo::current(),
        host: HostInfo {
            cpus: 8,
            os: "linux".into(),
            arch: "x86_64".into(),
        },
        scenario: ScenarioInfo {
            name: "pool-matrix".into(),
            file: "scenarios/pool-matrix.toml".into(),
            resolved: serde_json::json!({"name": "pool-matrix"}),
        },
        started_at: "2024-05-01T12:00:00Z".into(),
        interrupted: false,
        runs: specs.iter().map(|s| run(s, &mut rng)).collect(),
        thresholds: Vec::new(),
        search: Vec::new(),
        shard: None,
        relay_overhead: None,
    }
}

const SECONDS: u64 = 30;

fn run(spec: &RunSpec, rng: &mut SmallRng) -> RunResult {
    let latency_dist = LogNormal::new(spec.median_ms.ln(), 0.5).expect("valid lognormal");
    let mut hists: BTreeMap<&str, hdrhistogram::Histogram<u64>> = BTreeMap::new();
    let mut outcomes: BTreeMap<String, u64> = BTreeMap::new();
    // Through the same collector a run uses, so points carry their histograms as measured ones do.
    let mut buckets: Vec<SecondBucket> = (0..SECONDS).map(SecondBucket::new).collect();
    for i in 0..spec.requests {
        let second = (i * SECONDS / spec.requests.max(1)) as usize;
        let roll: f64 = rng.gen();
        let (key, ms) = if roll < spec.pool_timeout_rate {
            ("timeout_pool", 10_000.0 + rng.gen::<f64>() * 50.0)
        } else if roll < spec.pool_timeout_rate + spec.status_503_rate {
            ("status_503", latency_dist.sample(rng) * 0.5)
        } else {
            ("ok", latency_dist.sample(rng))
        };
        *outcomes.entry(key.to_string()).or_default() += 1;
        let us = (ms * 1000.0) as u64;
        record(&mut hists, "latency", us);
        record(&mut hists, "service", us * 9 / 10);
        record(&mut hists, "pool_wait", us / 10);
        if spec.streaming && key == "ok" {
            record(&mut hists, "ttft", us / 4);
            record(&mut hists, "itl", (rng.gen::<f64>() * 8_000.0) as u64 + 500);
            record(
                &mut hists,
                crate::metrics::recorder::TOKENS_PER_S,
                40_000 + rng.gen_range(0..60_000),
            );
        }
        let outcome = match key {
            "ok" => Outcome::Ok,
            "timeout_pool" => Outcome::Timeout(Phase::Pool),
            _ => Outcome::Status(503),
        };
        buckets[second].add(outcome, us, key == "ok");
    }
    let mut collector = SeriesCollector::default();
    for (second, bucket) in buckets.into_iter().enumerate() {
        collector.add(bucket);
        let in_flight = (spec.max_connections as u64 * 3).min(150);
        collector.sample(second as u64, in_flight, spec.max_connections as u64);
    }
    let series = collector.finish();
    let histograms = hists
        .iter()
        .map(|(name, h)| (name.to_string(), StoredHistogram::named(name, h)))
        .collect();
    let errors = outcomes.iter().filter(|(k, _)| *k != "ok").count() as u64;
    let mut error_samples = BTreeMap::new();
    if outcomes.contains_key("status_503") {
        error_samples.insert(
            "status_503".to_string(),
            r#"{"error":{"message":"upstream overloaded","type":"server_error"}}"#.to_string(),
        );
    }
    if outcomes.contains_key("timeout_pool") {
        error_samples.insert(
            "timeout_pool".to_string(),
            "no connection slot within 10s".to_string(),
        );
    }
    let retries: u64 = outcomes.get("status_503").copied().unwrap_or(0) / 2;
    let settings = ClientSettings {
        max_connections: spec.max_connections,
        ..ClientSettings::default()
    };
    let outputs = if spec.streaming {
        spec.requests * 32
    } else {
        0
    };
    RunResult {
        name: format!("mock/{}", spec.variant),
        target: "mock".into(),
        variant: spec.variant.clone(),
        settings,
        load: "closed, 100 users".into(),
        late: 0,
        dropped: 0,
        ledger: crate::metrics::ledger::Ledger {
            measured: crate::metrics::ledger::Tally {
                arrivals: spec.requests,
                ..Default::default()
            },
            ..Default::default()
        },
        ledger_error: None,
        spend: None,
        measured_seconds: SECONDS as f64,
        arrivals: spec.requests,
        scheduled: spec.requests,
        outcomes,
        warmup_outcomes: BTreeMap::new(),
        attempts: spec.requests + retries,
        warmup_attempts: 0,
        retries: if retries > 0 {
            BTreeMap::from([("status_503".to_string(), retries)])
        } else {
            BTreeMap::new()
        },
        rps: spec.requests as f64 / SECONDS as f64,
        target_rps: None,
        histograms,
        series,
        pool: PoolStats {
            opened: spec.max_connections as u64 + errors * 3,
            closed: errors * 3,
            reused: spec.requests - spec.max_connections as u64,
            open: spec.max_connections as u64,
            peak_open: spec.max_connections as u64,
            waiting: 0,
            peak_waiting: (100u64).saturating_sub(spec.max_connections as u64),
            connect_failures: 0,
        },
        tokens: TokenTotals {
            input: spec.requests * 12,
            output: outputs,
            from_usage: if spec.streaming { spec.requests } else { 0 },
            counted: 0,
            reasoning: 0,
            tokenizer: 0,
        },
        api: None,
        token_source: spec.streaming.then(|| "usage".into()),
        usage_audit: None,
        token_lengths: None,
        ttft_by_prefix_group: Vec::new(),
        by_turn: Vec::new(),
        sessions: None,
        error_samples,
        headers: BTreeMap::new(),
        breaker_events: if spec.breaker {
            vec![
                BreakerEvent {
                    t_ms: 10_000,
                    state: "open".into(),
                },
                BreakerEvent {
                    t_ms: 15_000,
                    state: "half_open".into(),
                },
                BreakerEvent {
                    t_ms: 15_400,
                    state: "closed".into(),
                },
            ]
        } else {
            Vec::new()
        },
        cost_usd: spec.cost_usd,
        stopped_early: None,
        load_started_unix_ms: None,
        slo: None,
        good: None,
        goodput: 0.0,
        goodput_ratio: 0.0,
        saturated: None,
        mock_lateness: None,
        trace: None,
        target_metrics: None,
    }
    .with_goodput()
}

fn record(hists: &mut BTreeMap<&str, hdrhistogram::Histogram<u64>>, name: &'static str, v: u64) {
    let _ = record_clamped(hists.entry(name).or_insert_with(new_histogram), v);
}
